use super::*;
use std::os::unix::ffi::OsStrExt;

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// `read_source(PluginSource::path(path))` on a thread: a read that hangs fails the test.
fn read_path(path: PathBuf) -> Result<SourceInfo, PluginError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read_source(PluginSource::path(path)));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("reading the plugin hung")
}

#[test]
fn a_plugin_path_that_is_not_a_regular_file_is_refused_without_waiting() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("plugin.wasm");
    mkfifo(&fifo);
    let e = read_path(fifo).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PluginError::Read { .. }), "{msg}");
    assert!(
        msg.starts_with("plugin plugin.wasm: cannot read the component: it is a FIFO (named pipe), not a regular file"),
        "{msg}"
    );
    assert!(
        !msg.contains(&d.path().display().to_string()),
        "no host path in plugin errors: {msg}"
    );
    let e = read_path(PathBuf::from("/dev/zero")).unwrap_err();
    assert!(
        e.to_string().contains("it is a character device"),
        "{e}"
    );
    let e = read_path(d.path().join("missing.wasm")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin missing.wasm: cannot read the component: entity not found"
    );
}

#[test]
fn a_sidecar_manifest_that_is_a_fifo_is_an_error_not_a_hang() {
    let d = tempfile::tempdir().unwrap();
    let wasm = d.path().join("x.wasm");
    // An empty component: no embedded manifest, so the sidecar files are looked for.
    std::fs::write(&wasm, b"\0asm\x0d\x00\x01\x00").unwrap();
    mkfifo(&d.path().join("x.kiln-plugin.toml"));
    let e = read_path(wasm).unwrap_err();
    assert!(matches!(e, PluginError::ManifestInvalid { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("x.kiln-plugin.toml: it is a FIFO (named pipe), not a regular file"),
        "{e}"
    );
}

#[test]
fn a_project_plugin_or_sidecar_linked_out_of_the_project_is_refused_unread() {
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("app");
    std::fs::create_dir(&project).unwrap();
    let host_file = d.path().join("shadow");
    std::fs::write(&host_file, "name = \"CANARY-line\"\n").unwrap();
    let wasm = project.join("x.wasm");
    std::fs::write(&wasm, b"\0asm\x0d\x00\x01\x00").unwrap();
    std::os::unix::fs::symlink(&host_file, project.join("x.kiln-plugin.toml")).unwrap();
    let e = read_source(PluginSource::path(&wasm).within(&project)).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PluginError::ManifestInvalid { .. }), "{msg}");
    assert!(msg.contains("outside the project directory") && !msg.contains("CANARY"), "{msg}");
    // Without a project root (a plugin the operator names), the same sidecar is read.
    let e = read_source(PluginSource::path(&wasm)).unwrap_err();
    assert!(!e.to_string().contains("outside the project"), "{e}");
    // The component itself linked out.
    std::os::unix::fs::symlink(&host_file, project.join("y.wasm")).unwrap();
    let e = read_source(PluginSource::path(project.join("y.wasm")).within(&project)).unwrap_err();
    assert!(e.to_string().contains("outside the project directory"), "{e}");
}
