//! A bounded list that prefers important items: what a report keeps of its test cases and
//! findings once there are more than it may hold.

use crate::model::{Finding, Severity, TestCase};

/// Roughly how many bytes an item holds (its strings plus a fixed overhead).
pub(crate) trait Weigh {
    fn weight(&self) -> usize;
}

impl Weigh for TestCase {
    fn weight(&self) -> usize {
        160 + self.test_raw_data_path.len() + self.prefix.len() + self.name.len()
            + self.message.as_ref().map_or(0, String::len)
            + self.test_suite_name.as_ref().map_or(0, String::len)
            + self.source_file.as_ref().map_or(0, String::len)
    }
}

impl Weigh for Finding {
    fn weight(&self) -> usize {
        160 + self.raw_data_path.len() + self.tool.len() + self.rule_id.len() + self.message.len()
            + self.file_path.as_ref().map_or(0, String::len)
            + self.fingerprint.as_ref().map_or(0, String::len)
    }
}

/// Whether an item is one the record keeps first.
pub(crate) fn test_case_first(c: &TestCase) -> bool {
    c.status.is_failure()
}

/// Findings kept first: `error` level or high/critical severity.
pub(crate) fn finding_first(f: &Finding) -> bool {
    f.level == "error" || f.severity >= Severity::High
}

/// At most `max` items and `max_bytes` of weight; once full, a preferred item evicts the most
/// recent non-preferred one, anything else is dropped (and counted).
#[derive(Debug, Clone)]
pub(crate) struct Kept<T> {
    first: Vec<(u64, T)>,
    rest: Vec<(u64, T)>,
    max: usize,
    max_bytes: usize,
    bytes: usize,
    seq: u64,
    pub dropped: u64,
}

impl<T: Weigh> Kept<T> {
    pub(crate) fn new(max: usize, max_bytes: usize) -> Kept<T> {
        Kept { first: Vec::new(), rest: Vec::new(), max, max_bytes, bytes: 0, seq: 0, dropped: 0 }
    }

    fn len(&self) -> usize {
        self.first.len() + self.rest.len()
    }

    fn fits(&self, weight: usize) -> bool {
        self.len() < self.max && self.bytes + weight <= self.max_bytes
    }

    /// Whether `push` would keep an item of this kind and weight (lets callers skip building it).
    pub(crate) fn accepts(&self, first: bool, weight: usize) -> bool {
        self.fits(weight) || (first && !self.rest.is_empty())
    }

    pub(crate) fn push(&mut self, item: T, first: bool) {
        self.seq += 1;
        let weight = item.weight();
        if !self.fits(weight) && first {
            while !self.fits(weight) {
                let Some((_, old)) = self.rest.pop() else { break };
                self.bytes -= old.weight();
                self.dropped += 1;
            }
        }
        if !self.fits(weight) {
            self.dropped += 1;
            return;
        }
        self.bytes += weight;
        if first {
            self.first.push((self.seq, item));
        } else {
            self.rest.push((self.seq, item));
        }
    }

    /// Everything kept, in the order it was pushed.
    pub(crate) fn into_vec(self) -> Vec<T> {
        let mut all: Vec<(u64, T)> = self.first.into_iter().chain(self.rest).collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, t)| t).collect()
    }
}

/// CodeBuild's record rule: at most `max` cases, FAILED and ERROR first, each group in input order.
pub(crate) fn record_selection(cases: &[TestCase], max: usize) -> Vec<&TestCase> {
    let first = cases.iter().filter(|c| test_case_first(c));
    let rest = cases.iter().filter(|c| !test_case_first(c));
    first.chain(rest).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TestStatus;

    fn case(name: &str, status: TestStatus) -> TestCase {
        TestCase { report_arn: None, test_raw_data_path: String::new(), prefix: String::new(), name: name.into(), status, duration_in_nano_seconds: 0, message: None, test_suite_name: None, source_file: None, source_line: None }
    }

    #[test]
    fn failures_evict_successes_once_full() {
        let mut k = Kept::new(3, usize::MAX);
        for (n, s) in [("a", TestStatus::Succeeded), ("b", TestStatus::Succeeded), ("c", TestStatus::Skipped), ("d", TestStatus::Failed), ("e", TestStatus::Succeeded), ("f", TestStatus::Error), ("g", TestStatus::Failed), ("h", TestStatus::Failed)] {
            let c = case(n, s);
            let first = test_case_first(&c);
            k.push(c, first);
        }
        assert_eq!(k.dropped, 5);
        let names: Vec<String> = k.into_vec().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["d", "f", "g"]);
    }

    #[test]
    fn byte_budget_is_honoured() {
        let mut k = Kept::new(usize::MAX, 1000);
        for i in 0..100 {
            k.push(case(&"x".repeat(100), if i % 10 == 0 { TestStatus::Failed } else { TestStatus::Succeeded }), i % 10 == 0);
        }
        assert!(k.bytes <= 1000);
        assert_eq!(k.len() as u64 + k.dropped, 100);
    }

    #[test]
    fn record_keeps_failures_first_in_order() {
        let cases = vec![case("a", TestStatus::Succeeded), case("b", TestStatus::Failed), case("c", TestStatus::Skipped), case("d", TestStatus::Error)];
        let names: Vec<&str> = record_selection(&cases, 3).iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "d", "a"]);
    }
}
