//! One test per dialect quirk real producers have (see the crate doc's format notes).

use kiln_reports::{CodeCoverage, Format, ReportBuilder, ReportOutput, ReportStatus, TestCase, TestStatus};

fn parse(format: Format, text: impl AsRef<[u8]>) -> ReportOutput {
    let mut b = ReportBuilder::new("g", format);
    b.add_file("r", text.as_ref());
    b.finish()
}

fn cases(out: &ReportOutput) -> Vec<(&str, &str, TestStatus)> {
    out.test_cases.iter().map(|c| (c.prefix.as_str(), c.name.as_str(), c.status)).collect()
}

fn case<'a>(out: &'a ReportOutput, name: &str) -> &'a TestCase {
    out.test_cases.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no case {name}: {:?}", out.test_cases))
}

fn row<'a>(out: &'a ReportOutput, path: &str) -> &'a CodeCoverage {
    out.coverages.iter().find(|c| c.file_path == path).unwrap_or_else(|| panic!("no row {path}: {:?}", out.coverages))
}

fn counts(c: &CodeCoverage) -> (u64, u64, u64, u64) {
    (c.lines_covered, c.lines_missed, c.branches_covered, c.branches_missed)
}

fn no_warnings(out: &ReportOutput) {
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}

#[test]
fn junit_nested_suites_and_roots() {
    let nested = r#"<testsuites><testsuite name="outer"><testsuite name="inner"><testcase classname="A" name="t1" time="1"/></testsuite><testcase classname="A" name="t2"/></testsuite><testcase name="loose"/></testsuites>"#;
    let out = parse(Format::JunitXml, nested);
    no_warnings(&out);
    assert_eq!(case(&out, "t1").test_suite_name.as_deref(), Some("inner"));
    assert_eq!(case(&out, "t2").test_suite_name.as_deref(), Some("outer"));
    assert_eq!(case(&out, "loose").test_suite_name, None);
    assert_eq!(case(&out, "loose").prefix, "");
    // A single <testsuite> root; an empty <testsuites/>.
    let single = parse(Format::JunitXml, r#"<testsuite name="s"><testcase name="x" classname="C"/></testsuite>"#);
    assert_eq!(cases(&single), [("C", "x", TestStatus::Succeeded)]);
    let empty = parse(Format::JunitXml, "<testsuites/>");
    assert_eq!(empty.report.status, ReportStatus::Succeeded);
    assert_eq!(empty.report.test_summary.unwrap().total, 0);
}

#[test]
fn junit_missing_attributes_and_many_outcome_children() {
    let xml = r#"<testsuite>
      <testcase/>
      <testcase name="twice"><failure message="first">one</failure><failure message="second">two</failure><error message="third"/></testcase>
      <testcase name="err-then-fail"><error type="E"/><failure/></testcase>
      <testcase name="skip-then-fail"><skipped/><failure message="real"/></testcase>
      <testcase name="skipped"><skipped message="not today"/></testcase>
      <testcase name="php" class="App\Test" file="tests/AppTest.php" line="21" assertions="1"/>
    </testsuite>"#;
    let out = parse(Format::JunitXml, xml);
    no_warnings(&out);
    assert_eq!(cases(&out)[0], ("", "", TestStatus::Succeeded));
    let twice = case(&out, "twice");
    assert_eq!((twice.status, twice.message.as_deref()), (TestStatus::Failed, Some("first\none")));
    assert_eq!(case(&out, "err-then-fail").status, TestStatus::Error);
    let sf = case(&out, "skip-then-fail");
    assert_eq!((sf.status, sf.message.as_deref()), (TestStatus::Failed, Some("real")));
    assert_eq!(case(&out, "skipped").message.as_deref(), Some("not today"));
    let php = case(&out, "php");
    assert_eq!((php.prefix.as_str(), php.source_file.as_deref(), php.source_line), ("App\\Test", Some("tests/AppTest.php"), Some(21)));
}

#[test]
fn junit_flaky_and_rerun_elements_pass_system_out_is_skipped() {
    let xml = r#"<testsuite name="s">
      <testcase name="flaky"><flakyFailure message="m" type="T"><stackTrace>trace</stackTrace><system-err>e</system-err></flakyFailure><flakyError/></testcase>
      <testcase name="rerun"><rerunFailure message="once"/><rerunError/></testcase>
      <testcase name="failed-after-reruns"><failure message="final"/><rerunFailure message="once"/></testcase>
      <testcase name="out"><system-out><![CDATA[<failure> in a log is not a failure]]></system-out><system-err>x</system-err></testcase>
    </testsuite>"#;
    let out = parse(Format::JunitXml, xml);
    no_warnings(&out);
    assert_eq!(case(&out, "flaky").status, TestStatus::Succeeded);
    assert_eq!(case(&out, "rerun").status, TestStatus::Succeeded);
    assert_eq!(case(&out, "failed-after-reruns").message.as_deref(), Some("final"));
    assert_eq!(case(&out, "out").status, TestStatus::Succeeded);
    assert_eq!(case(&out, "out").message, None);
}

#[test]
fn junit_cdata_entities_bom_and_thousands_commas() {
    let xml = "\u{feff}<?xml version=\"1.0\"?>\n<testsuite><testcase name=\"a &amp; b &lt;c&gt; &#x1F600; &#233;\" time=\"1,234.5\"><failure message=\"x &quot;y&quot;\"><![CDATA[at <init>(A.java:1) & more]]> tail &amp; end</failure></testcase></testsuite>";
    let out = parse(Format::JunitXml, xml);
    no_warnings(&out);
    let c = &out.test_cases[0];
    assert_eq!(c.name, "a & b <c> 😀 é");
    assert_eq!(c.duration_in_nano_seconds, 1_234_500_000_000);
    assert_eq!(c.message.as_deref(), Some("x \"y\"\nat <init>(A.java:1) & more tail & end"));
}

#[test]
fn junit_bad_time_is_a_located_warning_not_a_failure() {
    let out = parse(Format::JunitXml, "<testsuite>\n  <testcase name=\"t\" time=\"soon\"/>\n</testsuite>");
    assert_eq!(out.report.status, ReportStatus::Succeeded);
    assert_eq!(out.test_cases[0].duration_in_nano_seconds, 0);
    let w = &out.warnings[0];
    assert_eq!((w.line, w.column, w.incomplete), (Some(2), Some(3), false));
    assert!(w.message.contains("soon"), "{w}");
}

#[test]
fn declared_encodings_and_invalid_utf8() {
    let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite><testcase classname=\"Caf\xe9\" name=\"na\xefve\"/></testsuite>";
    let out = parse(Format::JunitXml, latin1);
    no_warnings(&out);
    assert_eq!(cases(&out), [("Café", "naïve", TestStatus::Succeeded)]);
    let utf16: Vec<u8> = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-16\"?><testsuite><testcase name=\"Ω\"/></testsuite>".encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(cases(&parse(Format::JunitXml, utf16)), [("", "Ω", TestStatus::Succeeded)]);
    let broken = b"<testsuite>\n<testcase name=\"bad\xff\xfebytes\"/></testsuite>";
    let out = parse(Format::JunitXml, broken);
    assert_eq!(out.test_cases[0].name, "bad\u{FFFD}\u{FFFD}bytes");
    assert_eq!(out.report.status, ReportStatus::Succeeded);
    let w = &out.warnings[0];
    assert!(!w.incomplete && w.line == Some(2) && w.message.contains("U+FFFD"), "{w:?}");
}

#[test]
fn trx_outcomes_inner_results_and_class_names() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<TestRun xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010">
  <Results>
    <UnitTestResult testId="1" testName="Adds" outcome="Passed" duration="00:00:01.5000000"/>
    <UnitTestResult testId="2" testName="Breaks" outcome="Failed" duration="00:00:00.0010000"><Output><StdOut>noise</StdOut><ErrorInfo><Message>boom</Message><StackTrace>at X</StackTrace></ErrorInfo></Output></UnitTestResult>
    <UnitTestResult testId="3" testName="Later" outcome="NotExecuted"><Output><ErrorInfo><Message>skipped because</Message></ErrorInfo></Output></UnitTestResult>
    <UnitTestResult testId="4" testName="Rows" outcome="Failed"><InnerResults>
      <UnitTestResult testId="4" testName="Rows (1)" outcome="Passed"/>
      <UnitTestResult testId="4" testName="Rows (2)" outcome="Failed"/>
    </InnerResults></UnitTestResult>
    <UnitTestResult testId="5" testName="Ns.Cls.NoDefinition" outcome="Timeout"/>
    <UnitTestResult testId="6" testName="E" outcome="Error"/><UnitTestResult testId="7" testName="N" outcome="NotRunnable"/>
    <UnitTestResult testId="8" testName="I" outcome="Inconclusive"/><UnitTestResult testId="9" testName="P" outcome="PassedButRunAborted"/>
  </Results>
  <TestDefinitions>
    <UnitTest id="1"><TestMethod className="Calc.Tests, Calc.Tests, Version=1.0.0.0" name="Adds"/></UnitTest>
    <UnitTest id="2"><TestMethod className="Calc.Tests" name="Breaks"/></UnitTest>
    <UnitTest id="4"><TestMethod className="Calc.Rows" name="Rows"/></UnitTest>
  </TestDefinitions>
</TestRun>"#;
    let out = parse(Format::VisualStudioTrx, xml);
    no_warnings(&out);
    use TestStatus::*;
    assert_eq!(
        cases(&out),
        [("Calc.Tests", "Adds", Succeeded), ("Calc.Tests", "Breaks", Failed), ("", "Later", Skipped), ("Calc.Rows", "Rows (1)", Succeeded), ("Calc.Rows", "Rows (2)", Failed), ("Ns.Cls", "Ns.Cls.NoDefinition", Failed), ("", "E", Error), ("", "N", Error), ("", "I", Unknown), ("", "P", Succeeded)]
    );
    assert_eq!(case(&out, "Adds").duration_in_nano_seconds, 1_500_000_000);
    assert_eq!(case(&out, "Breaks").message.as_deref(), Some("boom\nat X"));
    assert_eq!(case(&out, "Later").message.as_deref(), Some("skipped because"));
    // Definitions before the results work the same.
    let first = r#"<TestRun><TestDefinitions><UnitTest id="1"><TestMethod className="K" name="m"/></UnitTest></TestDefinitions><Results><UnitTestResult testId="1" testName="m" outcome="Passed"/></Results></TestRun>"#;
    assert_eq!(cases(&parse(Format::VisualStudioTrx, first)), [("K", "m", Succeeded)]);
}

#[test]
fn nunit2_and_nunit3() {
    let v2 = r#"<test-results name="x" total="5"><test-suite type="Assembly" name="a.dll"><results><test-suite type="TestFixture" name="Fix"><results>
      <test-case name="N.Fix.Ok" executed="True" result="Success" success="True" time="0.5"/>
      <test-case name="N.Fix.Bad" executed="True" result="Failure" success="False"><failure><message><![CDATA[expected 1]]></message><stack-trace><![CDATA[at N.Fix.Bad()]]></stack-trace></failure></test-case>
      <test-case name="N.Fix.Ign" executed="False" result="Ignored"><reason><message><![CDATA[later]]></message></reason></test-case>
      <test-case name="N.Fix.Old" executed="False"/>
      <test-case name="N.Fix.Param(1.5,&quot;a.b&quot;)" executed="True" success="True"/>
    </results></test-suite></results></test-suite></test-results>"#;
    let out = parse(Format::NunitXml, v2);
    no_warnings(&out);
    use TestStatus::*;
    assert_eq!(cases(&out), [("N.Fix", "N.Fix.Ok", Succeeded), ("N.Fix", "N.Fix.Bad", Failed), ("N.Fix", "N.Fix.Ign", Skipped), ("N.Fix", "N.Fix.Old", Skipped), ("N.Fix", "N.Fix.Param(1.5,\"a.b\")", Succeeded)]);
    assert_eq!(case(&out, "N.Fix.Bad").message.as_deref(), Some("expected 1\nat N.Fix.Bad()"));
    assert_eq!(case(&out, "N.Fix.Ign").message.as_deref(), Some("later"));
    assert_eq!(case(&out, "N.Fix.Ok").test_suite_name.as_deref(), Some("Fix"));
    let v3 = r#"<test-run total="4"><test-suite type="TestFixture" name="Fix" fullname="N.Fix"><test-suite type="ParameterizedMethod" name="P">
      <test-case name="P(1)" fullname="N.Fix.P(1)" classname="N.Fix" result="Failed" label="Error" duration="0.25"><failure><message>NullReferenceException</message></failure></test-case>
      <test-case name="P(2)" fullname="N.Fix.P(2)" classname="N.Fix" result="Failed" label="Invalid"/>
      <test-case fullname="N.Fix.Q" classname="N.Fix" result="Failed" site="SetUp"/>
      <test-case fullname="N.Fix.W" classname="N.Fix" result="Warning"/>
    </test-suite></test-suite></test-run>"#;
    let out = parse(Format::Nunit3Xml, v3);
    no_warnings(&out);
    assert_eq!(cases(&out), [("N.Fix", "N.Fix.P(1)", Error), ("N.Fix", "N.Fix.P(2)", Error), ("N.Fix", "N.Fix.Q", Failed), ("N.Fix", "N.Fix.W", Unknown)]);
    assert_eq!(case(&out, "N.Fix.P(1)").duration_in_nano_seconds, 250_000_000);
    // The fixture, not the parameterized-method suite, names the suite.
    assert_eq!(case(&out, "N.Fix.P(1)").test_suite_name.as_deref(), Some("Fix"));
}

#[test]
fn testng_data_providers_config_methods_and_retries() {
    let xml = r#"<testng-results total="4"><suite name="S"><test name="T"><class name="pkg.C">
      <test-method status="FAIL" is-config="true" name="setUp" duration-ms="3"><exception class="java.lang.IllegalStateException"><message><![CDATA[db down]]></message><full-stacktrace><![CDATA[java.lang.IllegalStateException: db down
	at pkg.C.setUp]]></full-stacktrace></exception></test-method>
      <test-method status="PASS" is-config="true" name="tearDown"/>
      <test-method status="PASS" name="dp" duration-ms="15" data-provider="rows"><params><param index="0"><value><![CDATA[1]]></value></param><param index="1"><value is-null="true"><![CDATA[null]]></value></param></params></test-method>
      <test-method status="FAIL" name="dp" data-provider="rows"><params><param index="0"><value><![CDATA[2]]></value></param></params></test-method>
      <test-method status="SKIP" name="flaky" retried="true"/>
      <test-method status="PASS" name="flaky"/>
      <test-method status="SKIP" name="after"/>
    </class></test></suite></testng-results>"#;
    let out = parse(Format::TestngXml, xml);
    no_warnings(&out);
    use TestStatus::*;
    assert_eq!(cases(&out), [("pkg.C", "setUp", Failed), ("pkg.C", "dp(1, null)", Succeeded), ("pkg.C", "dp(2)", Failed), ("pkg.C", "flaky", Succeeded), ("pkg.C", "after", Skipped)]);
    assert_eq!(case(&out, "setUp").message.as_deref(), Some("db down\njava.lang.IllegalStateException: db down\n\tat pkg.C.setUp"));
    assert_eq!(case(&out, "dp(1, null)").duration_in_nano_seconds, 15_000_000);
    assert_eq!(case(&out, "dp(1, null)").test_suite_name.as_deref(), Some("T"));
}

#[test]
fn cucumber_outlines_backgrounds_and_hooks_in_both_dialects() {
    // cucumber-jvm: backgrounds are elements of their own, hooks are before/after arrays.
    let jvm = r#"[{"uri":"features/a.feature","name":"Feature A","elements":[
      {"type":"background","keyword":"Background","steps":[{"keyword":"Given ","name":"a user","result":{"status":"passed","duration":5}}]},
      {"type":"scenario","keyword":"Scenario Outline","name":"adds","line":10,"id":"a;adds;;2","steps":[{"keyword":"When ","name":"1+1","result":{"status":"passed","duration":10}}]},
      {"type":"background","keyword":"Background","steps":[{"keyword":"Given ","name":"a user","result":{"status":"failed","error_message":"no user","duration":1}}]},
      {"type":"scenario","keyword":"Scenario Outline","name":"adds","line":11,"id":"a;adds;;3","steps":[{"keyword":"When ","name":"1+2","result":{"status":"skipped"}}]},
      {"type":"scenario","keyword":"Scenario","name":"hooked","line":20,"before":[{"result":{"status":"failed","error_message":"hook broke"}}],"steps":[{"keyword":"Then ","name":"x","result":{"status":"skipped"}}]},
      {"type":"scenario","keyword":"Scenario","name":"undefined","line":30,"steps":[{"keyword":"Then ","name":"y","result":{"status":"undefined"}}]},
      {"type":"scenario","keyword":"Scenario","name":"pending","line":40,"steps":[{"keyword":"Then ","name":"z","result":{"status":"passed"}},{"keyword":"And ","name":"w","result":{"status":"pending"}}]},
      {"type":"scenario","keyword":"Scenario","name":"","line":50,"steps":[]}
    ]}]"#;
    let out = parse(Format::CucumberJson, jvm);
    no_warnings(&out);
    use TestStatus::*;
    assert_eq!(cases(&out), [("Feature A", "adds", Succeeded), ("Feature A", "adds", Failed), ("Feature A", "hooked", Failed), ("Feature A", "undefined", Error), ("Feature A", "pending", Skipped), ("Feature A", "Scenario (line 50)", Succeeded)]);
    assert_eq!(out.test_cases[0].duration_in_nano_seconds, 15);
    assert_eq!(out.test_cases[1].message.as_deref(), Some("no user"));
    assert_eq!(out.test_cases[1].source_line, Some(11));
    assert_eq!(out.test_cases[1].source_file.as_deref(), Some("features/a.feature"));
    assert_eq!(out.test_cases[2].message.as_deref(), Some("hook broke"));
    assert_eq!(out.test_cases[3].message.as_deref(), Some("undefined step: Then y"));
    // cucumber-js: hooks are hidden steps, background steps inline.
    let js = r#"[{"uri":"b.feature","name":"B","elements":[{"type":"scenario","keyword":"Scenario","name":"js","line":3,"steps":[
      {"keyword":"Before","hidden":true,"result":{"status":"passed","duration":1000000}},
      {"keyword":"Given ","name":"bg","isBackground":true,"line":2,"result":{"status":"passed","duration":2}},
      {"keyword":"After","hidden":true,"result":{"status":"failed","error_message":"after hook failed"}}]}]}]"#;
    let out = parse(Format::CucumberJson, js);
    assert_eq!(cases(&out), [("B", "js", Failed)]);
    assert_eq!(out.test_cases[0].message.as_deref(), Some("after hook failed"));
    assert_eq!(out.test_cases[0].duration_in_nano_seconds, 1_000_002);
}

#[test]
fn jacoco_counters_groups_and_no_dtd_fetch() {
    let xml = r#"<?xml version="1.0"?><!DOCTYPE report PUBLIC "-//JACOCO//DTD Report 1.1//EN" "http://127.0.0.1:1/report.dtd"><report name="multi">
      <sessioninfo id="a" start="1" dump="2"/><sessioninfo id="b" start="3" dump="4"/>
      <group name="module-a"><group name="nested"><package name="com/x">
        <class name="com/x/A" sourcefilename="A.java"><method name="m" desc="()V" line="3"><counter type="LINE" missed="9" covered="9"/></method><counter type="LINE" missed="1" covered="3"/></class>
        <sourcefile name="A.java"><line nr="3" mi="0" ci="3" mb="0" cb="0"/><counter type="INSTRUCTION" missed="1" covered="5"/><counter type="BRANCH" missed="1" covered="3"/><counter type="LINE" missed="1" covered="3"/></sourcefile>
        <counter type="LINE" missed="1" covered="3"/>
      </package></group></group>
      <group name="module-b"><package name="com/y"><class name="com/y/B" sourcefilename="B.java"><counter type="LINE" missed="2" covered="2"/><counter type="BRANCH" missed="0" covered="2"/></class><class name="com/y/B$1" sourcefilename="B.java"><counter type="LINE" missed="1" covered="0"/></class></package></group>
      <package name=""><sourcefile name="Default.java"><counter type="LINE" missed="0" covered="1"/></sourcefile></package>
      <counter type="LINE" missed="4" covered="6"/></report>"#;
    let out = parse(Format::JacocoXml, xml);
    no_warnings(&out);
    assert_eq!(counts(row(&out, "com/x/A.java")), (3, 1, 3, 1));
    // No <sourcefile> in the package: its classes' counters, summed per source file.
    assert_eq!(counts(row(&out, "com/y/B.java")), (2, 3, 2, 0));
    assert_eq!(counts(row(&out, "Default.java")), (1, 0, 0, 0));
    assert_eq!(row(&out, "Default.java").branch_coverage_percentage, None);
    assert_eq!(out.coverages.len(), 3);
}

#[test]
fn cobertura_counted_lines_beat_line_rate_and_classes_share_files() {
    let xml = r#"<coverage line-rate="0.99" lines-covered="100" lines-valid="101"><packages><package name="p"><classes>
      <class name="Outer" filename="src/Outer.java" line-rate="1.0"><methods><method name="m"><lines><line number="1" hits="1"/></lines></method></methods><lines><line number="1" hits="1"/><line number="2" hits="0" branch="true" condition-coverage="50% (1/2)"/></lines></class>
      <class name="Outer$Inner" filename="src/Outer.java"><lines><line number="2" hits="3" branch="true" condition-coverage="100% (2/2)"/><line number="9" hits="0"/></lines></class>
      <class name="Other" filename="src/Other.java"><lines><line number="1" hits="2.0"/></lines></class>
    </classes></package></packages></coverage>"#;
    let out = parse(Format::CoberturaXml, xml);
    no_warnings(&out);
    // Line 1 in the method and the class counts once; line 2 is in two classes: covered, 2/2.
    assert_eq!(counts(row(&out, "src/Outer.java")), (2, 1, 2, 0));
    assert_eq!(counts(row(&out, "src/Other.java")), (1, 0, 0, 0));
    let s = out.report.code_coverage_summary.unwrap();
    assert_eq!((s.lines_covered, s.lines_missed, s.line_coverage_percentage), (3, 1, Some(75.0)));
}

#[test]
fn clover_with_and_without_packages() {
    let with = r#"<coverage generated="1" clover="3.2.0"><project name="All files"><metrics statements="4"/>
      <package name="src"><file name="a.js" path="/repo/src/a.js"><metrics statements="3" coveredstatements="2" conditionals="4" coveredconditionals="3"/>
        <line num="1" count="1" type="stmt"/><line num="2" count="0" type="cond" truecount="3" falsecount="1"/><line num="2" count="0" type="stmt"/><line num="3" count="5" type="stmt"/><line num="4" count="1" type="method"/>
      </file></package></project></coverage>"#;
    let out = parse(Format::CloverXml, with);
    no_warnings(&out);
    // Istanbul's file metrics give the branches (3 of 4), lines come from stmt/cond lines.
    assert_eq!(counts(row(&out, "/repo/src/a.js")), (2, 1, 3, 1));
    let without = r#"<coverage generated="1"><project timestamp="1"><file name="/abs/Plain.php">
        <class name="Plain"><metrics statements="2" coveredstatements="1"/></class>
        <line num="5" type="stmt" count="0"/><line num="6" type="stmt" count="2"/><line num="7" type="cond" truecount="1" falsecount="0" count="1"/>
      </file></project></coverage>"#;
    let out = parse(Format::CloverXml, without);
    no_warnings(&out);
    // No file metrics: a cond line is two branches (OpenClover), one evaluated true.
    assert_eq!(counts(row(&out, "/abs/Plain.php")), (2, 1, 1, 1));
}

#[test]
fn simplecov_every_shape() {
    let legacy = r#"{"RSpec":{"coverage":{"/app/a.rb":[1,0,null,2]},"timestamp":1},"Cucumber":{"coverage":{"/app/a.rb":[0,3,null,0]},"timestamp":2}}"#;
    let out = parse(Format::SimpleCov, legacy);
    no_warnings(&out);
    assert_eq!(counts(row(&out, "/app/a.rb")), (3, 0, 0, 0));
    let resultset = r#"{"RSpec":{"coverage":{"/app/b.rb":{"lines":[1,0,null],"branches":{"[:if, 0, 3, 0, 5, 12]":{"[:then, 1, 3, 0, 3, 12]":2,"[:else, 2, 5, 0, 5, 12]":0}}}},"timestamp":1}}"#;
    assert_eq!(counts(row(&parse(Format::SimpleCov, resultset), "/app/b.rb")), (1, 1, 1, 1));
    let formatter = r#"{"meta":{"simplecov_version":"0.22.0"},"coverage":{"lib/c.rb":{"lines":[1,"ignored",0,null],"branches":[{"type":"then","start_line":1,"end_line":1,"coverage":1},{"type":"else","start_line":2,"end_line":2,"coverage":"ignored"},{"type":"else","start_line":3,"end_line":3,"coverage":0}]}},"groups":{}}"#;
    assert_eq!(counts(row(&parse(Format::SimpleCov, formatter), "lib/c.rb")), (1, 1, 1, 1));
    // simplecov-json's shape is not this format.
    let other = parse(Format::SimpleCov, r#"{"timestamp":1,"command_name":"RSpec","files":[]}"#);
    assert_eq!(other.report.status, ReportStatus::Incomplete);
    assert!(other.warnings[0].line.is_some(), "{:?}", other.warnings);
}

#[test]
fn lcov_taken_dash_versus_zero_and_merged_records() {
    let info = "TN:unit\nSF:src/a.rs\nFN:1,main\nFNDA:1,main\nDA:1,1\nDA:2,0\nBRDA:2,0,0,-\nBRDA:2,0,1,0\nBRDA:3,e0,0,4\nLF:2\nLH:1\nBRF:3\nBRH:1\nend_of_record\nTN:integration\nSF:src/a.rs\nDA:2,5,abcdef\nBRDA:2,0,0,1\nend_of_record\nSF:summary-only.c\nLF:10\nLH:7\nend_of_record\n";
    let out = parse(Format::Lcov, info);
    no_warnings(&out);
    // Line 2 was hit by the second test; branch (2,0,0) too; (2,0,1) stays missed.
    assert_eq!(counts(row(&out, "src/a.rs")), (2, 0, 2, 1));
    assert_eq!(counts(row(&out, "summary-only.c")), (7, 3, 0, 0));
    let alone = parse(Format::Lcov, "SF:x\nBRDA:1,0,0,-\nBRDA:1,0,1,0\nend_of_record\n");
    assert_eq!(counts(row(&alone, "x")), (0, 0, 0, 2));
    let bad = parse(Format::Lcov, "SF:x\nDA:one,1\nDA:2,1\nend_of_record\n");
    assert_eq!(counts(row(&bad, "x")), (1, 0, 0, 0));
    assert_eq!((bad.warnings[0].line, bad.warnings[0].incomplete), (Some(2), false));
}

#[test]
fn sarif_levels_severities_suppressions_and_message_strings() {
    let log = r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"scan","rules":[
        {"id":"R1","defaultConfiguration":{"level":"error"},"properties":{"security-severity":"9.8"},"messageStrings":{"m":{"text":"{0} is bad in {1}"}}},
        {"id":"R2","shortDescription":{"text":"short"}}]}},
      "artifacts":[{"location":{"uri":"src/by-index.py"}}],
      "results":[
        {"ruleId":"R1","message":{"id":"m","arguments":["eval","main"]},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"src/a.py"},"region":{"startLine":3,"startColumn":5,"endLine":3,"endColumn":9}}}],"partialFingerprints":{"primaryLocationLineHash":"abc"}},
        {"ruleIndex":1,"message":{},"locations":[{"physicalLocation":{"artifactLocation":{"index":0}}}]},
        {"ruleId":"R2","level":"note","message":{"text":"fine"},"kind":"pass"},
        {"ruleId":"R2","message":{"text":"hidden"},"suppressions":[{"kind":"inSource"}]},
        {"ruleId":"R2","message":{"text":"shown"},"suppressions":[{"kind":"external","status":"rejected"}]},
        {"ruleId":"R2","message":{"text":"review"},"kind":"review"}
      ]}]}"#;
    let out = parse(Format::Sarif, log);
    no_warnings(&out);
    let f = &out.findings;
    assert_eq!(f.len(), 4);
    assert_eq!((f[0].rule_id.as_str(), f[0].level.as_str(), f[0].severity), ("R1", "error", kiln_reports::Severity::Critical));
    assert_eq!(f[0].message, "eval is bad in main");
    assert_eq!((f[0].file_path.as_deref(), f[0].start_line, f[0].start_column), (Some("src/a.py"), Some(3), Some(5)));
    assert_eq!(f[0].fingerprint.as_deref(), Some("abc"));
    assert_eq!((f[1].rule_id.as_str(), f[1].message.as_str(), f[1].file_path.as_deref()), ("R2", "short", Some("src/by-index.py")));
    assert_eq!((f[1].level.as_str(), f[1].severity), ("warning", kiln_reports::Severity::Medium));
    assert_eq!(f[2].message, "shown");
    assert_eq!((f[3].level.as_str(), f[3].severity), ("none", kiln_reports::Severity::Note));
    let s = out.report.security_summary.unwrap();
    assert_eq!((s.total, s.suppressed, s.severity_counts.critical), (4, 1, 1));
    assert_eq!(out.report.status, ReportStatus::Failed, "an error-level finding fails a security report");
    assert_eq!(out.report.report_type, kiln_reports::ReportType::Security);
}
