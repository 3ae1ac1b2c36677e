//! A synthetic JUnit XML file for the benchmark: Surefire-like suites with passing, failing
//! (CDATA stack traces, escaped messages), erroring and skipped cases, and suite logs.

/// About `target` bytes of JUnit XML; returns the text and the number of test cases in it.
pub fn generate(target: usize) -> (Vec<u8>, u64) {
    use std::io::Write;
    let mut out = Vec::with_capacity(target + (1 << 20));
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bench\">");
    let mut cases = 0u64;
    let mut suite = 0u64;
    while out.len() < target {
        suite += 1;
        let _ = writeln!(out, "  <testsuite name=\"com.example.pkg{}.Suite{suite}Test\" tests=\"200\" time=\"1,234.5\">", suite % 97);
        for i in 0..200u64 {
            cases += 1;
            let _ = write!(out, "    <testcase classname=\"com.example.pkg{}.Suite{suite}Test\" name=\"test_{i}_does_the_thing[{}]\" time=\"0.{:03}\"", suite % 97, i % 7, i % 1000);
            match i % 50 {
                7 | 21 | 35 => {
                    let _ = write!(out, ">\n      <failure message=\"expected: &lt;{i}&gt; but was: &lt;{}&gt;\" type=\"org.opentest4j.AssertionFailedError\"><![CDATA[org.opentest4j.AssertionFailedError: expected: <{i}> but was: <{}>\n", i + 1, i + 1);
                    for f in 0..12 {
                        let _ = writeln!(out, "\tat com.example.pkg{}.Suite{suite}Test.test_{i}(Suite{suite}Test.java:{})", suite % 97, 40 + f);
                    }
                    let _ = write!(out, "]]></failure>\n    </testcase>\n");
                }
                13 => {
                    let _ = write!(out, ">\n      <error message=\"boom &amp; bust\" type=\"java.lang.IllegalStateException\">java.lang.IllegalStateException: boom\n\tat x.y.Z.run(Z.java:1)</error>\n    </testcase>\n");
                }
                29 => {
                    let _ = write!(out, ">\n      <skipped message=\"disabled\"/>\n    </testcase>\n");
                }
                _ => {
                    let _ = writeln!(out, "/>");
                }
            }
        }
        let _ = writeln!(out, "    <system-out><![CDATA[suite {suite} started\nINFO connecting to localhost:5432\nINFO done]]></system-out>\n  </testsuite>");
    }
    let _ = writeln!(out, "</testsuites>");
    (out, cases)
}
