//! Every real third-party AppSpec file in `tests/corpus/appspecs/` parses: the valid ones with no
//! error and the compute platform `SOURCES.tsv` records for them, the genuinely wrong ones with a
//! located error at a known line and column. Reads the corpus at test time.

use std::path::PathBuf;

use kiln_spec::appspec::ComputePlatform;

/// An error kiln must report: code, line, column.
type Located = (&'static str, u32, u32);

/// The files that are wrong, checked against the CodeDeploy user guide (not against kiln), with
/// every error kiln must report and why.
const WRONG: &[(&str, &[Located], &str)] = &[
    (
        "0x-x0__code_deploy_example__appspec.yml",
        &[("E1021", 19, 1)],
        // A stray backslash before `AfterInstall` ends the `hooks` mapping: the key becomes the
        // top-level `\   AfterInstall`, which is not an AppSpec key, so the script never runs.
        "the AfterInstall hook is outside hooks",
    ),
    (
        "3rd-stone__AWS-url-shorten-serverless-application-pipeline__appspec.yaml",
        &[("E0001", 3, 25)],
        // A SAM template (not an AppSpec) whose first line is a `//` comment, which YAML reads as
        // text; the next key makes it invalid YAML.
        "not YAML: a SAM template with a // comment",
    ),
    (
        "Abdelali12-codes__aws_codedeploy_ecs_lambda_ec2__ecs_appspec.yml",
        &[("E1010", 1, 1), ("E1408", 8, 26), ("E1410", 15, 29), ("E1411", 17, 19), ("E1411", 19, 21), ("E1411", 20, 19), ("E1411", 22, 21)],
        // The user guide's structure template copied unedited: no `version` (required), and its
        // placeholders left in: `ContainerPort: port-used-by-your-ECS-application` ("ContainerPort,
        // which is a number"), `AssignPublicIp: "ENABLED-or-DISABLED"` ("The valid values are
        // ENABLED and DISABLED"), `Base: Integer`, `Weight: Integer`.
        "the ECS structure template, unedited",
    ),
    (
        "Abdelali12-codes__aws_codedeploy_ecs_lambda_ec2__lambda_appspec.yml",
        &[("E1010", 1, 1), ("E1412", 7, 25), ("E1412", 8, 24)],
        // The Lambda structure template (lowercase keys, which the guide itself uses, are fine):
        // no `version`, and `currentversion`/`targetversion` placeholders where "The value must be
        // a valid positive integer".
        "the Lambda structure template, unedited",
    ),
    (
        "AlphaPL__aws-lambda-helloworld__appspec.yaml",
        &[("E1301", 23, 7), ("E1316", 23, 23)],
        // The console's template: the hook is still named `LifeCycleEvent` (Lambda hooks are
        // BeforeAllowTraffic and AfterAllowTraffic) and names the function "".
        "placeholder hook LifeCycleEvent with an empty function",
    ),
    (
        "AmeyDatir__ecs-blue-green-deployment__appspec.yaml",
        &[("E1011", 1, 10)],
        // `version: 1.0`; 0.0 is the only AppSpec version.
        "version 1.0",
    ),
    (
        "chrispsheehan__aws-serverless-github-deploy__appspec-lambda.yml",
        &[("E1412", 8, 25), ("E1412", 9, 24)],
        // Placeholders (`CURRENT_VERSION`, `TARGET_VERSION`) a script replaces with sed before
        // deploying; as committed, the versions are not positive integers.
        "version placeholders meant for sed",
    ),
    (
        "egepakten__student-enrollment-api__appspec-ecs.yaml",
        &[("E1000", 1, 1)],
        // Only a comment: no version, no Resources.
        "an empty file",
    ),
];

/// Warnings kiln must give on valid files (code, line, column): CodeDeploy accepts these files
/// but ignores or misreads the flagged value.
const WARNED: &[(&str, &str, u32, u32)] = &[
    // `overwrite: true` inside a files entry: not a key (file_exists_behavior: OVERWRITE is set too).
    ("AlexsLemonade__OpenScPCA-nf__appspec.yml", "W1105", 7, 5),
    // `mode: 777` inside a files entry: mode belongs to permissions.
    ("openspy__openspy-core__aws_appspec.yml", "W1105", 6, 7),
    // CurrentVersion and TargetVersion are both "1".
    ("AlphaPL__aws-lambda-helloworld__appspec.yaml", "W1413", 18, 24),
];

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/corpus/appspecs")
}

/// The compute platform SOURCES.tsv records for each file (`kind:EC2…`, `kind:ECS`, `kind:Lambda`),
/// or None for files that are not AppSpecs (`kind:unparseable`, `kind:empty`).
fn recorded_kinds() -> Vec<(String, Option<ComputePlatform>)> {
    let tsv = std::fs::read_to_string(corpus_dir().join("SOURCES.tsv")).expect("SOURCES.tsv");
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let file = line.split('\t').next().unwrap_or_default().to_string();
            let kind = line.split("kind:").nth(1).unwrap_or_default();
            let platform = if kind.starts_with("EC2") {
                Some(ComputePlatform::Server)
            } else if kind.starts_with("ECS") {
                Some(ComputePlatform::Ecs)
            } else if kind.starts_with("Lambda") {
                Some(ComputePlatform::Lambda)
            } else {
                None
            };
            (file, platform)
        })
        .collect()
}

#[test]
fn corpus_appspecs_parse_or_fail_with_located_errors() {
    let dir = corpus_dir();
    assert!(dir.is_dir(), "the corpus is missing: expected tests/corpus/appspecs in the repository");
    let kinds = recorded_kinds();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml" | "json")))
        .collect();
    files.sort();
    assert_eq!(files.len(), 31, "expected the whole corpus");
    assert_eq!(kinds.len(), files.len(), "one SOURCES.tsv row per file");
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let src = std::fs::read_to_string(path).unwrap();
        let parsed = kiln_spec::parse_appspec(&src);
        for d in &parsed.diagnostics {
            assert!(d.span.line >= 1 && d.span.col >= 1 && d.span.offset <= src.len(), "{name}: unlocated diagnostic {d:?}");
        }
        let errors: Vec<_> = parsed.diagnostics.iter().filter(|d| d.is_error()).collect();
        let recorded = kinds.iter().find(|(f, _)| f == name).unwrap_or_else(|| panic!("{name} has no SOURCES.tsv row")).1;
        if let (Some(want), Some(got)) = (recorded, parsed.platform)
            && want != got
        {
            failures.push(format!("{name}: read as {got:?}, SOURCES.tsv says {want:?}"));
        }
        match WRONG.iter().find(|(f, _, _)| *f == name) {
            Some((_, expected, why)) => {
                assert!(parsed.spec.is_none(), "{name}");
                let got: Vec<(&str, u32, u32)> = errors.iter().map(|d| (d.code, d.span.line, d.span.col)).collect();
                if got != *expected {
                    failures.push(format!("{name} ({why}): expected {expected:?}, got {got:?}: {errors:#?}"));
                }
                // The first error says which shape kiln read (when it could tell).
                if parsed.platform.is_some() && !errors[0].notes.iter().any(|n| n.starts_with("kiln read this as")) {
                    failures.push(format!("{name}: the first error does not say which shape was read"));
                }
            }
            None => {
                if !errors.is_empty() || parsed.spec.is_none() {
                    failures.push(format!("{name}: {}", errors.iter().map(|d| d.to_plain(name)).collect::<Vec<_>>().join("; ")));
                }
                if recorded.is_none() || parsed.platform != recorded {
                    failures.push(format!("{name}: platform {:?}, recorded {recorded:?}", parsed.platform));
                }
            }
        }
        let warnings: Vec<(&str, u32, u32)> = parsed.diagnostics.iter().filter(|d| !d.is_error()).map(|d| (d.code, d.span.line, d.span.col)).collect();
        let expected: Vec<(&str, u32, u32)> = WARNED.iter().filter(|(f, ..)| *f == name).map(|(_, c, l, col)| (*c, *l, *col)).collect();
        if warnings != expected {
            failures.push(format!("{name}: warnings {warnings:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_hook_of_the_valid_corpus_is_a_known_event_in_order_of_the_file() {
    // The all-five-hooks ECS file: the model keeps them in file order, with the function names.
    let src = std::fs::read_to_string(corpus_dir().join("lopatin__Snaketron__deploy_appspec.yml")).unwrap();
    let spec = kiln_spec::parse_appspec(&src).spec.expect("valid");
    let kiln_spec::appspec::Platform::Ecs(ecs) = &spec.platform else { panic!("not ECS") };
    let hooks: Vec<(&str, &str)> = ecs.hooks.iter().map(|h| (h.event.value.name(), h.function.value.as_str())).collect();
    assert_eq!(
        hooks,
        [
            ("BeforeInstall", "BeforeInstallHook"),
            ("AfterInstall", "AfterInstallHook"),
            ("AfterAllowTestTraffic", "AfterAllowTestTrafficHook"),
            ("BeforeAllowTraffic", "BeforeAllowTrafficHook"),
            ("AfterAllowTraffic", "AfterAllowTrafficHook"),
        ]
    );
    // CRLF files keep exact positions (the script's line, column 17 after `    - location: `).
    let src = std::fs::read_to_string(corpus_dir().join("aws-samples__aws-reinvent-2019-builders-session-opn215__codedeploy_appspec.yml")).unwrap();
    assert!(src.contains("\r\n"));
    let spec = kiln_spec::parse_appspec(&src).spec.expect("valid");
    let kiln_spec::appspec::Platform::Server(s) = &spec.platform else { panic!("not EC2") };
    let stop = &s.scripts(kiln_spec::appspec::Event::ApplicationStop)[0];
    assert_eq!((stop.location.value.as_str(), stop.location.span.line, stop.location.span.col), ("scripts/stop_server.sh", 22, 17));
    assert_eq!(&src[stop.location.span.offset..][..22], "scripts/stop_server.sh");
}
