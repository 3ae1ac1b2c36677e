//! A deterministic stand-in for the fuzzer that runs in every test run: thousands of mutations of
//! the real corpus buildspecs (batch ones included) and AppSpec files (byte flips, truncation, splices of YAML syntax)
//! must never panic, and every diagnostic must point inside its input. The libFuzzer targets are
//! in `fuzz/`.

use std::path::PathBuf;

const SPLICES: &[&str] = &[
    ":", "- ", "\n  ", "\t", "&a ", "*a", "<<: *a\n", "!!binary ", "{", "}", "[", "]", "'", "\"", "|\n", ">-\n", "? ", "%YAML 1.2\n---\n",
    "\u{feff}", "é", "\u{0}", "version: 0.3\n", "on-failure: RETRY-5-(\n", "---\n", "...\n", "#", "~", "null", "\r\n",
];

/// AppSpec syntax spliced in on top of [`SPLICES`].
const APPSPEC_SPLICES: &[&str] = &[
    "hooks:\n", "Hooks:\n  - ", "Resources:\n", "  - location: ", "timeout: 99999999999999999999\n", "mode: 0789\n", "acls: [u::r]\n",
    "range: s9-s1:c2000\n", "Type: AWS::Lambda::Function\n", "Type: AWS::ECS::Service\n", "ContainerPort: -1\n", "os: windows\n",
    "AWSTemplateFormatVersion: x\n", "{\"version\": 0.0, ", "[{\"", "\\   Install:\n", "CurrentVersion: $LATEST\n", "../",
];

/// JSON AppSpec seeds (the corpus has none): the user guide's layout, tabs included.
const JSON_SEEDS: &[&str] = &[
    "{\n\t\"version\": 0.0,\n\t\"Resources\": [{\"TargetService\": {\"Type\": \"AWS::ECS::Service\", \"Properties\": {\"TaskDefinition\": \"arn:aws:ecs:us-east-1:1:task-definition/web:3\", \"LoadBalancerInfo\": {\"ContainerName\": \"web\", \"ContainerPort\": 80}, \"NetworkConfiguration\": {\"AwsvpcConfiguration\": {\"Subnets\": [\"s\"], \"SecurityGroups\": [\"g\"], \"AssignPublicIp\": \"ENABLED\"}}}}}],\n\t\"Hooks\": [{\"BeforeInstall\": \"pre\"}, {\"AfterAllowTraffic\": \"post\"}]\n}\n",
    "{\"version\": 0.0, \"os\": \"linux\", \"files\": [{\"source\": \"/\", \"destination\": \"/srv\"}], \"permissions\": [{\"object\": \"/srv\", \"mode\": \"0644\", \"acls\": [\"u:bob:rw\"], \"context\": {\"type\": \"t\", \"range\": \"s0\"}, \"type\": [\"file\"]}],\n \"hooks\": {\"AfterInstall\": [{\"location\": \"a.sh\", \"timeout\": 30, \"runas\": \"app\"}]}}",
    "{\"version\": 0.0, \"Resources\": [{\"fn\": {\"Type\": \"AWS::Lambda::Function\", \"Properties\": {\"Name\": \"f\", \"Alias\": \"live\", \"CurrentVersion\": \"1\", \"TargetVersion\": \"2\"}}}], \"Hooks\": [{\"BeforeAllowTraffic\": \"check\"}]}",
];

/// xorshift64*: a small deterministic PRNG, so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(src: &str, rng: &mut Rng, splices: &[&str]) -> String {
    let mut s = src.to_string();
    for _ in 0..1 + rng.below(4) {
        let mut at = rng.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match rng.below(4) {
            0 => s.insert_str(at, splices[rng.below(splices.len())]),
            1 => s.truncate(at),
            2 => {
                let end = (at + rng.below(40)).min(s.len());
                let end = (end..=s.len()).find(|e| s.is_char_boundary(*e)).unwrap_or(s.len());
                s.replace_range(at..end, "");
            }
            _ => {
                let mut bytes = s.into_bytes();
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] ^= 1 << rng.below(7);
                }
                s = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
    }
    s
}

/// The `.yml`/`.yaml` files of `tests/corpus/<kind>`, sorted.
fn corpus(kind: &str) -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus").join(kind);
    let mut sources: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("tests/corpus/{kind} in the repository: {e}"))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    sources.sort();
    sources
}

/// Parse `per_source` mutations of each source with `parse` (which gives the diagnostics and
/// whether a spec came back): no panic, every diagnostic inside its input, a spec exactly when
/// there is no error. Returns how many inputs were checked.
fn check_mutations(sources: &[String], splices: &[&str], seed: u64, per_source: usize, parse: impl Fn(&str) -> (Vec<kiln_spec::Diagnostic>, bool)) -> usize {
    let mut rng = Rng(seed);
    let mut checked = 0;
    for src in sources {
        for _ in 0..per_source {
            let m = mutate(src, &mut rng, splices);
            let (diagnostics, has_spec) = parse(&m);
            for d in &diagnostics {
                assert!(d.span.offset <= m.len() && m.is_char_boundary(d.span.offset), "bad span {d:?} in:\n{m}");
                assert!(d.span.line >= 1 && d.span.col >= 1, "unlocated {d:?} in:\n{m}");
            }
            assert_eq!(has_spec, !diagnostics.iter().any(|d| d.is_error()), "{diagnostics:?} in:\n{m}");
            checked += 1;
        }
    }
    checked
}

#[test]
fn mutated_corpus_never_panics() {
    let mut sources = corpus("buildspecs");
    sources.extend(corpus("batch-buildspecs"));
    let checked = check_mutations(&sources, SPLICES, 0x6b69_6c6e, 60, |m| {
        let parsed = kiln_spec::parse_buildspec(m);
        (parsed.diagnostics, parsed.spec.is_some())
    });
    assert!(checked > 2000, "only {checked} inputs");
}

#[test]
fn mutated_appspec_corpus_never_panics() {
    let mut sources = corpus("appspecs");
    sources.extend(JSON_SEEDS.iter().map(|s| s.to_string()));
    let splices: Vec<&str> = SPLICES.iter().chain(APPSPEC_SPLICES).copied().collect();
    let checked = check_mutations(&sources, &splices, 0x6170_7073, 100, |m| {
        let parsed = kiln_spec::parse_appspec(m);
        (parsed.diagnostics, parsed.spec.is_some())
    });
    assert!(checked >= 3000, "only {checked} inputs");
}

#[test]
fn pathological_inputs_are_rejected_not_crashed() {
    let deep = format!("{}x{}", "[".repeat(10_000), "]".repeat(10_000));
    let wide = format!("version: 0.2\nphases:\n  build:\n    commands:\n{}", "      - echo hi\n".repeat(50_000));
    let hooks = format!("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n{}", "    - location: a.sh\n      timeout: 3600\n".repeat(50_000));
    let resources = format!("version: 0.0\nResources:\n{}", "  - fn:\n      Type: AWS::Lambda::Function\n".repeat(20_000));
    for input in [deep.as_str(), wide.as_str(), hooks.as_str(), resources.as_str(), "\u{0}", "version: !!binary AAAA", "? [a]\n: b", "- - - -", "{\"version\": 0.0, \"Resources\": [[[]]]}", "version: 0.0\nos: linux\nhooks: {? [a]: b}\n"] {
        let _ = kiln_spec::parse_buildspec(input);
        let parsed = kiln_spec::parse_appspec(input);
        assert!(parsed.has_errors() || input.starts_with("version: 0.0\nos"), "{:?}", parsed.diagnostics.first());
    }
}
