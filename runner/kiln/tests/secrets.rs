//! parameter-store / secrets-manager values: where they come from (KILN_PARAM_* / KILN_SECRET_*
//! variables, a 0600 secrets file), that they reach the build, and that they never show up raw
//! (or in an easily decoded form) in live output, logs, build.json or anything else under .kiln/.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

/// A parameter-store value with characters that URL encoding changes.
const PARAM: &str = "pa55 W0rd/with+special&chars=ok@end";
/// A secrets-manager value, selected by json-key from a JSON secret.
const TOKEN: &str = "tok-9f8e7d6c5b4a39281706";

const SPEC: &str = r#"version: 0.2
env:
  parameter-store:
    DB_PASS: /app/db-password
  secrets-manager:
    API_TOKEN: prod/api:token
phases:
  build:
    commands:
      - echo "param-sha=$(printf %s "$DB_PASS" | sha256sum | cut -c1-64)"
      - echo "token-sha=$(printf %s "$API_TOKEN" | sha256sum | cut -c1-64)"
      - echo "kiln-vars=$(env | grep -c '^KILN_')"
"#;

fn sha256_str(s: &str) -> String {
    let t = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(t.path(), s).unwrap();
    sha256sum(t.path())
}

fn base64_str(s: &str) -> String {
    let mut child = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("base64");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

/// RFC 3986 percent-encoding (everything but unreserved characters), upper-case hex, `%20`.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn assert_values_reached(b: &Build) {
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    let out = b.output_lines();
    let get = |k: &str| out.iter().find_map(|(_, l)| l.strip_prefix(&format!("{k}=")).map(str::to_string));
    assert_eq!(get("param-sha"), Some(sha256_str(PARAM)), "the parameter's value reached the build\n{}", b.describe());
    assert_eq!(get("token-sha"), Some(sha256_str(TOKEN)), "the secret's json-key value reached the build\n{}", b.describe());
    assert_eq!(get("kiln-vars").as_deref(), Some("0"), "kiln's KILN_* inputs are not passed to the build");
    let names: Vec<&str> = b.record["kiln"]["secretVariables"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(names, ["DB_PASS", "API_TOKEN"], "the record names the secret variables");
}

#[test]
fn values_come_from_kiln_param_and_kiln_secret_variables() {
    let p = Project::new(SPEC);
    let b = p.build_with(&[], |c| {
        c.env("KILN_PARAM__APP_DB_PASSWORD", PARAM).env("KILN_SECRET_PROD_API", format!(r#"{{"token": "{TOKEN}", "other": "x"}}"#));
    });
    assert_values_reached(&b);
}

fn secrets_file(p: &Project, mode: u32) -> std::path::PathBuf {
    let path = p.side_dir("conf").join("secrets.yml");
    std::fs::write(&path, format!("parameters:\n  /app/db-password: \"{PARAM}\"\nsecrets:\n  prod/api:\n    token: \"{TOKEN}\"\n    user: admin\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn values_come_from_a_0600_secrets_file() {
    let p = Project::new(SPEC);
    let file = secrets_file(&p, 0o600);
    let b = p.build(&["--secrets-file", file.to_str().unwrap()]);
    assert_values_reached(&b);
}

#[test]
fn the_default_secrets_file_is_read_from_the_config_dir() {
    let p = Project::new(SPEC);
    let file = secrets_file(&p, 0o600);
    let dir = p.root().join("config/kiln");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::rename(&file, dir.join("secrets.yml")).unwrap();
    assert_values_reached(&p.build(&[]));
}

#[test]
fn a_group_readable_secrets_file_is_refused() {
    let p = Project::new(SPEC);
    let file = secrets_file(&p, 0o644);
    let b = p.build(&["--secrets-file", file.to_str().unwrap()]);
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert_eq!(b.phase_status("PROVISIONING"), Some("FAILED"), "{}", b.describe());
    let (_, msg) = b.context("PROVISIONING").expect("a context explains the failure");
    assert!(msg.contains(file.to_str().unwrap()) && msg.contains("0644") && msg.contains("chmod 600"), "message: {msg}");
    assert!(b.phase("BUILD").is_none() && b.phase("INSTALL").is_none(), "nothing ran: {:?}", b.phase_types());
    assert!(b.log().contains("chmod 600"), "the reason is in the log too\n{}", b.log());
    for text in [&b.stdout, &b.stderr, &b.log()] {
        assert!(!text.contains(PARAM) && !text.contains(TOKEN), "no value is printed");
    }
}

#[test]
fn a_missing_secret_fails_provisioning_naming_the_variable() {
    let p = Project::new(
        "version: 0.2\nenv:\n  parameter-store:\n    MISSING_VAR_X: /does/not/exist\nphases:\n  build:\n    commands:\n      - echo build-ran\n",
    );
    let b = p.build(&[]);
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert_eq!(b.phase_status("PROVISIONING"), Some("FAILED"), "{}", b.describe());
    let (_, msg) = b.context("PROVISIONING").expect("context");
    assert!(msg.contains("MISSING_VAR_X") && msg.contains("/does/not/exist"), "message names the variable and the parameter: {msg}");
    assert!(msg.contains("KILN_PARAM__DOES_NOT_EXIST"), "message says how to supply it: {msg}");
    assert_eq!(b.phase_types(), ["SUBMITTED", "QUEUED", "PROVISIONING", "FINALIZING", "COMPLETED"], "{}", b.describe());
    assert_eq!(b.count_output("build-ran"), 0);
}

#[test]
fn an_unknown_key_in_the_secrets_file_is_located_with_a_suggestion_and_nothing_runs() {
    // The buildspec's section name copied into the secrets file. The file's `parameters` are
    // fine and KILN_SECRET_PROD_API would supply the secret: a reader that skipped the unknown
    // key would run the build with half the file.
    let p = Project::new(SPEC);
    let path = p.side_dir("conf").join("secrets.yml");
    std::fs::write(&path, format!("parameters:\n  /app/db-password: \"{PARAM}\"\n# from the buildspec\nsecrets-manager:\n  prod/api:\n    token: \"{TOKEN}\"\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let b = p.build_with(&["--secrets-file", path.to_str().unwrap()], |c| {
        c.env("KILN_SECRET_PROD_API", format!(r#"{{"token": "{TOKEN}"}}"#));
    });
    assert_eq!((b.code, b.status()), (1, "FAILED"), "{}", b.describe());
    assert_eq!(b.phase_status("PROVISIONING"), Some("FAILED"), "{}", b.describe());
    assert_eq!(b.phase_types(), ["SUBMITTED", "QUEUED", "PROVISIONING", "FINALIZING", "COMPLETED"], "nothing ran\n{}", b.describe());
    assert!(b.output_lines().is_empty(), "no command ran\n{}", b.describe());
    let (_, msg) = b.context("PROVISIONING").expect("a context explains the failure");
    let at = format!("{}:4:1: unknown top-level key \"secrets-manager\"", path.display());
    assert!(msg.contains(&at), "the message names the file, line:col and key: {msg}");
    assert!(msg.contains("did you mean `secrets`?"), "and suggests the right one: {msg}");
    assert!(b.log().contains(&at) && b.log().contains("did you mean `secrets`?"), "the reason is in the log too\n{}", b.log());
    for text in [&b.stdout, &b.stderr, &b.log(), &b.disk_record().to_string()] {
        assert!(!text.contains(PARAM) && !text.contains(TOKEN), "no value is printed:\n{text}");
    }
}

const LEAKY: &str = r#"version: 0.2
env:
  parameter-store:
    S: /app/db-password
  exported-variables: [LEAK]
phases:
  build:
    commands:
      - echo "plain $S end"
      - echo "stderr $S" >&2
      - printf 'split %s' "$(printf %s "$S" | cut -c1-9)"; sleep 0.3; printf '%s end\n' "$(printf %s "$S" | cut -c10-)"
      - printf %s "$S" | base64
      - printf %s "$S" | base64 | tr -d '\n'; echo
      - printf %s "$S" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's|/|%2F|g' -e 's/+/%2B/g' -e 's/&/%26/g' -e 's/=/%3D/g' -e 's/@/%40/g'
      - printf %s "$S" | sed -e 's/%/%25/g' -e 's/+/%2b/g' -e 's/ /+/g' -e 's|/|%2f|g' -e 's/&/%26/g' -e 's/=/%3d/g' -e 's/@/%40/g'; echo
      - printf '{"password":"%s"}\n' "$S"
      - export LEAK="$S"
      - echo "$S" > in-workdir.txt
    finally:
      - printf 'no newline at the end %s' "$S"
  post_build:
    commands:
      - echo "post_build sees $LEAK"
"#;

/// Every form of the secret that must never be written anywhere.
fn forbidden() -> Vec<String> {
    let upper = url_encode(PARAM);
    let lower_plus = upper.replace("%20", "+").replace("%2F", "%2f").replace("%2B", "%2b").replace("%3D", "%3d");
    let mut f = vec![PARAM.to_string(), base64_str(PARAM), upper.clone(), upper.replace("%20", "+"), lower_plus];
    // a recognisable part, in case a masker masked only a prefix
    f.push(PARAM[4..20].to_string());
    f
}

fn assert_clean(what: &str, text: &str) {
    for f in forbidden() {
        assert!(!text.contains(&f), "{what} contains the secret (as `{f}`):\n{text}");
    }
}

#[test]
fn secrets_are_masked_in_live_output_logs_and_the_record() {
    let p = Project::new(LEAKY);
    let b = p.build_with(&[], |c| {
        c.env("KILN_PARAM__APP_DB_PASSWORD", PARAM);
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    // It was printed, as *** (so masking happened, rather than nothing being printed).
    for line in ["plain *** end", "stderr ***", "split *** end", "***", "{\"password\":\"***\"}", "no newline at the end ***", "post_build sees ***"] {
        assert!(b.count_output(line) >= 1, "`{line}` in the log\n{}", b.log());
    }
    assert!(b.count_output("***") >= 2, "both base64 forms are masked\n{}", b.log());
    // The first URL encoding has no newline, so it joins the second one's line: both masked.
    assert!(b.count_output("******") >= 1, "both URL encodings are masked\n{}", b.log());
    assert!(b.stderr.contains("[BUILD] split *** end"), "live output (stderr with --json) is masked:\n{}", b.stderr);
    assert_clean("live output (stderr)", &b.stderr);
    assert_clean("the --json record on stdout", &b.stdout);
    assert_eq!(b.exported("LEAK").as_deref(), Some("***"), "exported values are masked");
    assert_eq!(b.disk_record()["exportedEnvironmentVariables"][0]["value"], "***");

    // Every file kiln wrote, whatever it is.
    let files = files_under(&p.src.join(".kiln"));
    assert!(files.len() >= 5, "build.json, build-number and the logs: {files:?}");
    for f in &files {
        assert_clean(&f.display().to_string(), &String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    // The scratch dir held the shell state (which has the value): it is gone.
    assert_eq!(p.scratch_leftovers(), Vec::<std::path::PathBuf>::new(), "scratch removed");

    // Without --json, live output goes to stdout, masked the same way.
    let plain = p.kiln().arg("build").arg(&p.src).env("KILN_PARAM__APP_DB_PASSWORD", PARAM).output().unwrap();
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert_eq!(plain.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("split *** end") && stdout.contains("plain *** end"), "{stdout}");
    assert_clean("live output (stdout)", &stdout);
    assert_clean("stderr", &String::from_utf8_lossy(&plain.stderr));
}

#[test]
fn a_secret_straddling_the_long_line_split_is_masked() {
    // kiln splits lines longer than 64 KiB; a secret across that cut must still be masked. The
    // sleep before the newline makes kiln see the line's first 64 KiB + the secret without a
    // newline, so it has to cut the line then, right through the secret (at 65530).
    let p = Project::new(
        r#"version: 0.2
env:
  parameter-store:
    S: /app/db-password
phases:
  build:
    commands:
      - for off in 65530 65536 131060; do head -c $off /dev/zero | tr '\0' a; printf %s "$S"; sleep 0.2; echo; done
"#,
    );
    let b = p.build_with(&[], |c| {
        c.env("KILN_PARAM__APP_DB_PASSWORD", PARAM);
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    assert!(b.log().matches("***").count() >= 3, "the three values are masked");
    // Glued back together, the pieces of the split line must not spell the secret either.
    assert!(!b.log().replace("\n[BUILD] ", "").contains(PARAM), "the secret can be read across the pieces of the long line");
    assert!(!b.stderr.replace("\n[BUILD] ", "").contains(PARAM), "live output: the secret can be read across the pieces");
    for f in files_under(&p.src.join(".kiln")) {
        assert_clean(&f.display().to_string(), &String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
    }
    assert_clean("live output", &b.stderr);
}

#[test]
fn a_secret_in_an_artifact_name_does_not_reach_the_record() {
    let p = Project::new(
        r#"version: 0.2
env:
  secrets-manager:
    TOKEN: prod/api:token
phases:
  build:
    commands:
      - echo out > out.txt
artifacts:
  files: [out.txt]
  name: art-$TOKEN
"#,
    );
    let b = p.build_with(&[], |c| {
        c.env("KILN_SECRET_PROD_API", format!(r#"{{"token": "{TOKEN}"}}"#));
    });
    assert_eq!(b.status(), "SUCCEEDED", "{}", b.describe());
    for (what, text) in [("stdout record", &b.stdout), ("live output", &b.stderr), ("build.log", &b.log())] {
        assert!(!text.contains(TOKEN), "{what} contains the secret:\n{text}");
    }
    assert!(!std::fs::read_to_string(b.record_dir().join("build.json")).unwrap().contains(TOKEN));
    // Nor a file name on disk: the artifact is named with the mask.
    let names: Vec<String> = std::fs::read_dir(b.record_dir().join("artifacts")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, vec!["art-***".to_string()]);
}
