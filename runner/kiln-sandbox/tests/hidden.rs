//! `Policy::hidden`: a confined process cannot read a hidden file by any path (it sees an empty,
//! read-only file there), can still read
//! its siblings and list its directory, and cannot reach the parent's memory or environment
//! through /proc.

mod common;

use common::*;
use kiln_sandbox::{Policy, Sandbox};

const KEY: &str = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";

#[test]
fn a_hidden_file_cannot_be_read_by_any_path() {
    let _g = serial();
    // Not in /tmp: every build gets a fresh empty /tmp, which would hide the key anyway.
    let keys = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let key = keys.path().join("cosign.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::write(keys.path().join("cosign.pub"), "public").unwrap();
    std::os::unix::fs::symlink(&key, work.path().join("link")).unwrap();
    let mut pol = policy(&[work.path()], false, None);
    pol.hidden = vec![key.clone()];
    let sb = Sandbox::prepare(&pol).expect("prepare");
    let script = r#"
        grep -q SIGSTORE "$K" && echo LEAK-direct
        grep -q SIGSTORE "$W/link" && echo LEAK-symlink
        grep -q SIGSTORE "/proc/self/root$K" && echo LEAK-proc-root
        grep -q SIGSTORE "$(dirname "$K")/../$(basename "$(dirname "$K")")/cosign.key" && echo LEAK-dotdot
        cp "$K" "$W/copy" && grep -q SIGSTORE "$W/copy" && echo LEAK-copy
        echo overwritten > "$K" && echo LEAK-written
        ln "$K" "$W/hard" && echo LEAK-hardlink
        cat "/proc/$PPID_KILN/environ" | tr '\0' '\n' | grep -q PASSWORD && echo LEAK-environ
        head -c 16 "/proc/$PPID_KILN/mem" && echo LEAK-mem
        ls -l "/proc/$PPID_KILN/fd/" >/dev/null 2>&1 && for f in /proc/$PPID_KILN/fd/*; do cat "$f" 2>/dev/null | grep -q SIGSTORE && echo LEAK-fd; done
        cat "$(dirname "$K")/cosign.pub" > /dev/null && echo sibling-ok
        ls "$(dirname "$K")" | grep -q cosign.key && echo list-ok
        cat /etc/hostname /etc/passwd > /dev/null && echo read-ok
        true"#;
    // Keep the key open in this process too: /proc/<pid>/fd must not be a way in.
    let _open = std::fs::File::open(&key).unwrap();
    // SAFETY: single-threaded test setup under the serial lock.
    unsafe { std::env::set_var("COSIGN_PASSWORD", "hunter2-parent-only") };
    let env = [("K", p(&key)), ("W", p(work.path())), ("PPID_KILN", std::process::id().to_string())];
    let out = run(&sb, script, &env);
    assert!(!out.stdout.contains("LEAK"), "stdout {:?} stderr {:?}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("SIGSTORE") && !out.stdout.contains("c2VjcmV0"), "{}", out.stdout);
    for ok in ["sibling-ok", "list-ok", "read-ok"] {
        assert!(out.stdout.contains(ok), "{ok} missing: stdout {:?} stderr {:?}", out.stdout, out.stderr);
    }
    assert!(!work.path().join("copy").exists() || std::fs::read(work.path().join("copy")).unwrap().is_empty());

    // Control: without `hidden` the same sandbox reads the key, so the test above can fail.
    let open = Sandbox::prepare(&policy(&[work.path()], false, None)).expect("prepare");
    let out = run(&open, "grep -q SIGSTORE \"$K\" && echo LEAK-direct", &env);
    assert!(out.stdout.contains("LEAK-direct"), "{out:?}", out = out.stderr);
}

#[test]
fn a_hidden_path_inside_a_writable_one_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let key = work.path().join("cosign.key");
    std::fs::write(&key, KEY).unwrap();
    let pol = Policy { hidden: vec![key], ..policy(&[work.path()], false, None) };
    let e = Sandbox::prepare(&pol).expect_err("refused");
    assert!(e.to_string().contains("overlaps the writable path"), "{e}");
    let pol = Policy { hidden: vec![work.path().join("missing")], ..policy(&[work.path()], false, None) };
    assert!(Sandbox::prepare(&pol).is_err());
}

/// `Policy::visible`: a directory under a covered place (`/tmp`) stays readable, read-only, and a
/// hidden file inside it stays hidden (the copy is taken after the hidden paths are covered).
#[test]
fn a_visible_directory_under_tmp_is_read_only_and_keeps_hidden_files_hidden() {
    let _g = serial();
    let repo = tempfile::Builder::new().prefix("kiln-visible").tempdir_in("/tmp").unwrap();
    let work = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let key = repo.path().join("cosign.key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::write(repo.path().join("README"), "readable\n").unwrap();
    let script = r#"
        cat "$R/README"
        grep -q SIGSTORE "$R/cosign.key" && echo LEAK-hidden
        echo x > "$R/new" && echo LEAK-written
        touch "$R/README" && echo LEAK-touched
        true"#;
    let env = [("R", p(repo.path()))];
    // Without `visible`, the build's fresh /tmp covers the directory.
    let covered = Sandbox::prepare(&policy(&[work.path()], false, None)).expect("prepare");
    let out = run(&covered, script, &env);
    assert!(!out.stdout.contains("readable"), "covered by the fresh /tmp: {}", out.stdout);

    let pol = Policy { visible: vec![repo.path().to_path_buf()], hidden: vec![key.clone()], ..policy(&[work.path()], false, None) };
    let sb = Sandbox::prepare(&pol).expect("prepare");
    let out = run(&sb, script, &env);
    assert!(out.stdout.contains("readable"), "stdout {:?} stderr {:?}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("LEAK"), "stdout {:?} stderr {:?}", out.stdout, out.stderr);
    assert!(!repo.path().join("new").exists());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), KEY);
}
