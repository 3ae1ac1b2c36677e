//! Shared fixtures for kiln-host's integration tests.
#![allow(dead_code)]

use kiln_host::builtin::test_components;
use kiln_host::{
    Grants, Host, HostConfig, LoadedPlugin, PluginError, PluginSource, Policy, StepInvocation,
    StepOutcome,
};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A secret the host process holds; no plugin may ever see it.
pub const SECRET_VAR: &str = "KILN_HOST_TEST_SECRET";
pub const SECRET_VALUE: &str = "hunter2-do-not-leak";

/// One host per test binary (the epoch ticker and engine are shared, as in kiln).
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        // SAFETY: set once, before any plugin runs, from the first test that needs the host.
        unsafe { std::env::set_var(SECRET_VAR, SECRET_VALUE) };
        Host::new(HostConfig::default()).expect("host")
    })
}

/// The hostile test plugin, compiled once per test binary.
pub fn hostile() -> &'static LoadedPlugin {
    static P: OnceLock<LoadedPlugin> = OnceLock::new();
    P.get_or_init(|| {
        host()
            .load(PluginSource::bytes(
                "test-hostile",
                test_components::TEST_HOSTILE,
            ))
            .expect("load hostile")
    })
}

/// A scratch area: `src/` with a couple of files, an empty `out/`, and a secret beside them.
pub struct Dirs {
    pub tmp: tempfile::TempDir,
    pub src: PathBuf,
    pub out: PathBuf,
    pub secret_file: PathBuf,
}

pub fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let out = tmp.path().join("out");
    std::fs::create_dir_all(src.join("lib")).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        src.join("main.rs"),
        "fn main() {\n    // TODO: greet\n    println!(\"hi\");\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("lib/util.rs"),
        "// TODO one\n// nothing\n// TODO two\n",
    )
    .unwrap();
    let secret_file = tmp.path().join("secret.txt");
    std::fs::write(&secret_file, "TOPSECRET host file").unwrap();
    Dirs {
        tmp,
        src,
        out,
        secret_file,
    }
}

/// The policy tests use unless they say otherwise: default, with short limits.
pub fn policy() -> Policy {
    Policy {
        max_timeout: std::time::Duration::from_secs(5),
        max_memory: 64 << 20,
        ..Policy::default()
    }
}

/// An invocation of the hostile plugin with `attack` and extra config keys.
pub fn attack_invocation(
    d: &Dirs,
    attack: &str,
    extra: serde_json::Value,
    policy: &Policy,
) -> StepInvocation {
    let mut inv = StepInvocation::new(
        &d.src,
        &d.out,
        Grants::intersect(&hostile().manifest.capabilities, policy),
    );
    let mut config = serde_json::json!({ "attack": attack });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    inv.config = config;
    inv.env = std::env::vars().collect();
    inv
}

/// Run one attack with the default test policy.
pub async fn attack(
    d: &Dirs,
    name: &str,
    extra: serde_json::Value,
) -> Result<StepOutcome, PluginError> {
    hostile()
        .run_step(&attack_invocation(d, name, extra, &policy()))
        .await
}

/// Asserts the attempt was denied inside the guest, and that nothing secret came back.
pub fn assert_blocked(r: Result<StepOutcome, PluginError>, d: &Dirs) -> StepOutcome {
    let o = r.unwrap_or_else(|e| panic!("expected the guest to be denied and go on, got {e}"));
    assert!(
        o.summary.starts_with("blocked"),
        "not blocked: {}",
        o.summary
    );
    assert_clean(&o.summary, d);
    o
}

/// No host path and no secret in a text shown to users.
pub fn assert_clean(text: &str, d: &Dirs) {
    assert!(!text.contains(SECRET_VALUE), "secret leaked: {text}");
    assert!(!text.contains("TOPSECRET"), "secret file leaked: {text}");
    let tmp = d.tmp.path().to_string_lossy();
    assert!(!text.contains(tmp.as_ref()), "host path leaked: {text}");
}

/// Unwraps the error and checks it names the plugin and leaks nothing.
pub fn expect_err(r: Result<StepOutcome, PluginError>, d: &Dirs) -> PluginError {
    let e = match r {
        Ok(o) => panic!("expected an error, got summary {:?}", o.summary),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(
        text.starts_with("plugin test-hostile"),
        "error does not name the plugin: {text}"
    );
    assert_clean(&text, d);
    e
}
