//! Rules that need more structure than a regex: Dockerfile build stages, Go import aliases and
//! GitHub Actions `run:` blocks.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

use crate::rules::RuleInfo;
use crate::scope::Source;
use crate::{Language, Severity};

fn info(
    id: &str,
    family: &str,
    sev: Severity,
    cwe: &str,
    lang: Language,
    message: &str,
    fix: &str,
) -> RuleInfo {
    RuleInfo {
        id: id.into(),
        family: family.into(),
        severity: sev,
        cwe: vec![cwe.into()],
        message: message.into(),
        fix: fix.into(),
        languages: vec![lang],
    }
}

/// Metadata of the code rules.
pub fn infos() -> Vec<RuleInfo> {
    vec![
        info(
            "dockerfile.unpinned-image",
            "unpinned-image",
            Severity::Medium,
            "CWE-1357",
            Language::Dockerfile,
            "Base image without a version tag or with `latest`: the build is not reproducible and can pull a compromised image",
            "Pin the image to a version tag and, better, a digest: `FROM node:20.11.1@sha256:...`",
        ),
        info(
            "go.insecure-random",
            "insecure-random",
            Severity::High,
            "CWE-338",
            Language::Go,
            "math/rand used for a security-sensitive value (token, key, session, password): it is predictable",
            "Use crypto/rand (`rand.Read`, `rand.Int`) for secrets and identifiers",
        ),
        info(
            "github-actions.script-injection",
            "gha-script-injection",
            Severity::High,
            "CWE-78",
            Language::Yaml,
            "Untrusted GitHub context (issue/PR title or body, branch name, commit message) expanded inside a `run:` script: shell injection",
            "Pass the value through `env:` (`TITLE: ${{ github.event.pull_request.title }}`) and use \"$TITLE\" in the script",
        ),
        info(
            "github-actions.checkout-untrusted-code",
            "gha-checkout-untrusted-code",
            Severity::Critical,
            "CWE-829",
            Language::Yaml,
            "A pull_request_target/workflow_run workflow checks out the pull request's head: untrusted code runs with the base repository's secrets and write token",
            "Use the `pull_request` trigger for building PR code, or do not check out the head ref in privileged workflows",
        ),
    ]
}

fn find(id: &str) -> RuleInfo {
    infos()
        .into_iter()
        .find(|i| i.id == id)
        .expect("code rule ids are fixed")
}

/// Run the code rules that apply to `src`; `emit(rule, start, end)` reports a match.
pub fn scan(src: &Source, path: &str, emit: &mut dyn FnMut(RuleInfo, usize, usize)) {
    match src.lang {
        Language::Dockerfile => dockerfile_from(src, emit),
        Language::Go => go_math_rand(src, emit),
        Language::Yaml if is_workflow(path) => gha(src, emit),
        _ => {}
    }
}

fn is_workflow(path: &str) -> bool {
    path.contains(".github/workflows/")
        || path.ends_with("action.yml")
        || path.ends_with("action.yaml")
}

fn re(cell: &'static OnceLock<Regex>, p: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(p).expect("built-in regex"))
}

fn dockerfile_from(src: &Source, emit: &mut dyn FnMut(RuleInfo, usize, usize)) {
    static FROM: OnceLock<Regex> = OnceLock::new();
    let from = re(
        &FROM,
        r"(?im)^[ \t]*FROM[ \t]+(?:--platform=\S+[ \t]+)?(\S+)(?:[ \t]+AS[ \t]+(\S+))?[ \t]*$",
    );
    let mut stages: HashSet<String> = HashSet::new();
    for c in from.captures_iter(src.text()) {
        let image = &c[1];
        let m = c.get(1).expect("group 1");
        let lower = image.to_ascii_lowercase();
        let unpinned = if lower == "scratch"
            || stages.contains(&lower)
            || image.contains('$')
            || image.contains('@')
        {
            false
        } else {
            // a tag is a ':' after the last '/' (a registry port comes before it)
            let last = image.rsplit('/').next().unwrap_or(image);
            match last.split_once(':') {
                None => true,
                Some((_, tag)) => tag.eq_ignore_ascii_case("latest"),
            }
        };
        if unpinned {
            emit(find("dockerfile.unpinned-image"), m.start(), m.end());
        }
        if let Some(alias) = c.get(2) {
            stages.insert(alias.as_str().to_ascii_lowercase());
        }
    }
}

fn go_math_rand(src: &Source, emit: &mut dyn FnMut(RuleInfo, usize, usize)) {
    static IMPORT: OnceLock<Regex> = OnceLock::new();
    let import = re(
        &IMPORT,
        r#"(?m)^\s*(?:import\s+)?(\w+\s+)?"math/rand(?:/v2)?""#,
    );
    let mut aliases = Vec::new();
    for c in import.captures_iter(src.text()) {
        aliases.push(
            c.get(1)
                .map_or("rand".to_string(), |a| a.as_str().trim().to_string()),
        );
    }
    if aliases.is_empty() {
        return;
    }
    static SENSITIVE: OnceLock<Regex> = OnceLock::new();
    let sensitive = re(
        &SENSITIVE,
        r"(?i)(token|secret|passw|session|nonce|salt|otp|csrf|apikey|api_key|reset|credential|auth|key\b)",
    );
    for alias in aliases {
        let Ok(call) = Regex::new(&format!(
            r"\b{}\.(Int\w*|Uint\w*|Float\w*|Read|Perm|Shuffle|N|ExpFloat64|NormFloat64)\s*\(",
            regex::escape(&alias)
        )) else {
            continue;
        };
        for m in call.find_iter(src.text()) {
            if !src.lx.is_code(m.start()) {
                continue;
            }
            let (hdr, _) = src.function(m.start());
            let stmt = src.statement(m.start());
            if sensitive.is_match(&src.text()[hdr]) || sensitive.is_match(&src.text()[stmt]) {
                emit(find("go.insecure-random"), m.start(), m.end());
            }
        }
    }
}

const UNTRUSTED: &str = r"\$\{\{\s*(?:github\.event\.(?:issue\.(?:title|body)|pull_request\.(?:title|body|head\.ref|head\.label|head\.repo\.default_branch)|comment\.body|review\.body|review_comment\.body|pages\.[^}]*\.page_name|commits\.[^}]*\.(?:message|author\.(?:email|name))|head_commit\.(?:message|author\.(?:email|name))|discussion\.(?:title|body)|workflow_run\.(?:head_branch|head_commit\.message|display_title))|github\.head_ref)\b[^}]*\}\}";

fn gha(src: &Source, emit: &mut dyn FnMut(RuleInfo, usize, usize)) {
    static RUN: OnceLock<Regex> = OnceLock::new();
    static BAD: OnceLock<Regex> = OnceLock::new();
    static PRT: OnceLock<Regex> = OnceLock::new();
    static REF: OnceLock<Regex> = OnceLock::new();
    let run = re(&RUN, r"^(\s*)(-\s+)?(run|script):\s*(.*)$");
    let bad = re(&BAD, UNTRUSTED);
    let text = src.text();
    // run: / script: values, single-line or block scalars
    let mut block_indent: Option<usize> = None;
    for l in 0..src.lines() {
        let lr = src.line_range(l);
        let line = &text[lr.clone()];
        let indent = line.len() - line.trim_start().len();
        if let Some(bi) = block_indent {
            if line.trim().is_empty() || indent > bi {
                for m in bad.find_iter(line) {
                    emit(
                        find("github-actions.script-injection"),
                        lr.start + m.start(),
                        lr.start + m.end(),
                    );
                }
                continue;
            }
            block_indent = None;
        }
        if let Some(c) = run.captures(line) {
            let key_indent = c[1].len() + c.get(2).map_or(0, |d| d.as_str().len());
            let rest = c[4].trim();
            if rest.starts_with('|') || rest.starts_with('>') || rest.is_empty() {
                block_indent = Some(key_indent);
            } else {
                for m in bad.find_iter(line) {
                    emit(
                        find("github-actions.script-injection"),
                        lr.start + m.start(),
                        lr.start + m.end(),
                    );
                }
            }
        }
    }
    // privileged triggers that check out the PR head
    let prt = re(
        &PRT,
        r"(?m)^\s*(?:on:.*\b)?(pull_request_target|workflow_run)\b",
    );
    if prt.is_match(text) {
        let head = re(
            &REF,
            r"(?m)^\s*(?:-\s+)?ref:\s*.*\$\{\{\s*(?:github\.event\.pull_request\.head\.(?:sha|ref)|github\.head_ref|github\.event\.workflow_run\.head_(?:sha|branch)|format\([^)]*refs/pull)",
        );
        for m in head.find_iter(text) {
            emit(
                find("github-actions.checkout-untrusted-code"),
                m.start(),
                m.end(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexer::lex;

    fn run(lang: Language, path: &str, t: &str) -> Vec<(String, usize)> {
        let lx = lex(lang, t);
        let src = Source::new(lang, &lx);
        let mut out = Vec::new();
        scan(&src, path, &mut |i, s, _| {
            out.push((i.id, src.line_of(s) + 1))
        });
        out
    }

    #[test]
    fn dockerfile_stages_tags_digests() {
        let t = "FROM node:latest AS build\nFROM build\nFROM ubuntu\nFROM node:20\nFROM reg:5000/app\nFROM a@sha256:00\nFROM scratch\nFROM ${BASE}\n";
        let got: Vec<usize> = run(Language::Dockerfile, "Dockerfile", t)
            .iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(got, vec![1, 3, 5]);
    }

    #[test]
    fn go_math_rand_only_in_sensitive_context_and_not_crypto_rand() {
        let t = "import (\n\t\"crypto/rand\"\n\tmrand \"math/rand\"\n)\nfunc Token() string {\n\tx := mrand.Intn(9)\n\trand.Read(b)\n}\nfunc Jitter() int {\n\treturn mrand.Intn(100)\n}\n";
        let got = run(Language::Go, "a.go", t);
        assert_eq!(got, vec![("go.insecure-random".into(), 6)]);
    }

    #[test]
    fn gha_script_injection_in_run_not_env() {
        let t = "on: issues\njobs:\n  a:\n    steps:\n      - run: echo \"${{ github.event.issue.title }}\"\n      - env:\n          T: ${{ github.event.issue.title }}\n        run: echo \"$T\"\n      - run: |\n          echo hi\n          echo \"${{ github.event.comment.body }}\"\n      - run: echo ${{ github.sha }}\n";
        let got: Vec<usize> = run(Language::Yaml, ".github/workflows/a.yml", t)
            .iter()
            .map(|x| x.1)
            .collect();
        assert_eq!(got, vec![5, 11]);
        assert!(run(Language::Yaml, "deploy/compose.yml", t).is_empty());
    }

    #[test]
    fn gha_checkout_head_only_with_privileged_trigger() {
        let t = "on:\n  pull_request_target:\njobs:\n  a:\n    steps:\n      - uses: actions/checkout@v4\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n";
        let got = run(Language::Yaml, ".github/workflows/a.yml", t);
        assert_eq!(
            got,
            vec![("github-actions.checkout-untrusted-code".into(), 8)]
        );
        let safe = t.replace("pull_request_target", "pull_request");
        assert!(run(Language::Yaml, ".github/workflows/a.yml", &safe).is_empty());
    }
}
