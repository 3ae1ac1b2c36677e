//! The step world end to end: the built-in hello-step, manifests, config, grants, pinning,
//! sidecars, the compile cache, events and concurrency.

mod common;

use common::*;
use kiln_host::builtin::{self, test_components};
use kiln_host::{
    CacheOutcome, Grants, Host, HostConfig, LogLevel, Manifest, PluginError, PluginEvent,
    PluginSource, Policy, Severity, StepInvocation, sha256_hex,
};
use serde_json::json;
use std::sync::{Arc, Mutex};

fn hello() -> kiln_host::LoadedPlugin {
    host().load(builtin::get("hello-step").unwrap()).unwrap()
}

fn inv(d: &Dirs, plugin: &kiln_host::LoadedPlugin, policy: &Policy) -> StepInvocation {
    StepInvocation::new(
        &d.src,
        &d.out,
        Grants::intersect(&plugin.manifest.capabilities, policy),
    )
}

#[tokio::test]
async fn hello_step_counts_and_reports_todos() {
    let d = dirs();
    let p = hello();
    assert_eq!(p.manifest.name, "hello-step");
    let o = p.run_step(&inv(&d, &p, &Policy::default())).await.unwrap();
    assert_eq!(o.summary, "2 files, 7 lines, 3 TODO markers");
    let locs: Vec<(String, u32, u32)> = o
        .findings
        .iter()
        .map(|f| {
            let l = f.location.as_ref().unwrap();
            (l.path.clone(), l.start_line, l.start_col)
        })
        .collect();
    assert_eq!(
        locs,
        vec![
            ("lib/util.rs".into(), 1, 4),
            ("lib/util.rs".into(), 3, 4),
            ("main.rs".into(), 2, 8)
        ]
    );
    assert!(o.findings.iter().all(|f| f.rule_id == "hello/todo"
        && f.severity == Severity::Low
        && f.fingerprint.len() == 32));
    assert_eq!(o.findings[2].message, "TODO: // TODO: greet");
    assert_eq!(o.outputs.len(), 1);
    let out = &o.outputs[0];
    assert_eq!(
        (out.path.as_str(), out.media_type.as_str()),
        ("summary.json", "application/json")
    );
    let written = std::fs::read(d.out.join("summary.json")).unwrap();
    assert_eq!(out.sha256, sha256_hex(&written));
    assert_eq!(
        String::from_utf8(written).unwrap(),
        "{\"files\":2,\"lines\":7,\"findings\":3}\n"
    );
    assert_eq!(o.logs.len(), 1);
    assert_eq!(o.logs[0].level, LogLevel::Info);
    assert!(o.peak_memory > 0 && o.peak_memory <= 64 << 20);
}

#[tokio::test]
async fn config_is_typed_and_checked_against_the_schema() {
    let d = dirs();
    let p = hello();
    let mut i = inv(&d, &p, &Policy::default());
    i.config = json!({ "pattern": "fn ", "severity": "high" });
    let o = p.run_step(&i).await.unwrap();
    assert_eq!(o.findings.len(), 1);
    assert_eq!(o.findings[0].severity, Severity::High);

    i.config = json!({ "severity": "urgent", "colour": "red" });
    match p.run_step(&i).await.unwrap_err() {
        PluginError::InvalidConfig { plugin, errors } => {
            assert_eq!(plugin, "hello-step");
            assert!(
                errors
                    .iter()
                    .any(|e| e.starts_with("with.severity: \"urgent\" is not one of")),
                "{errors:?}"
            );
            assert!(
                errors.iter().any(|e| e.contains("unknown key `colour`")),
                "{errors:?}"
            );
        }
        e => panic!("{e}"),
    }
    // The plugin's own check (the schema allows an empty pattern).
    i.config = json!({ "pattern": "" });
    let e = p.run_step(&i).await.unwrap_err();
    assert!(
        matches!(&e, PluginError::RejectedConfig { message, .. } if message.contains("pattern")),
        "{e}"
    );
}

#[tokio::test]
async fn denied_capabilities_are_absent_in_the_guest() {
    let d = dirs();
    let p = hello();
    let no_out = Policy {
        write_output: false,
        ..Policy::default()
    };
    let i = inv(&d, &p, &no_out);
    assert!(
        i.grants
            .explain()
            .contains("denied: write-output: not allowed by the build")
    );
    let o = p.run_step(&i).await.unwrap();
    assert!(o.outputs.is_empty() && std::fs::read_dir(&d.out).unwrap().next().is_none());

    let no_src = Policy {
        read_source: false,
        ..Policy::default()
    };
    let e = p.run_step(&inv(&d, &p, &no_src)).await.unwrap_err();
    assert!(
        matches!(&e, PluginError::Failed { message, .. } if message == "read-source was not granted"),
        "{e}"
    );
}

#[tokio::test]
async fn pinned_digests_are_enforced() {
    let right = sha256_hex(test_components::TEST_HOSTILE);
    let src = PluginSource::bytes("test-hostile", test_components::TEST_HOSTILE);
    assert_eq!(
        host()
            .load(
                src.clone()
                    .pinned(&format!("sha256:{}", right.to_uppercase()))
            )
            .unwrap()
            .sha256,
        right
    );
    let wrong = "0".repeat(64);
    match host().load(src.pinned(&wrong)).unwrap_err() {
        PluginError::DigestMismatch {
            plugin,
            expected,
            actual,
        } => {
            assert_eq!(
                (plugin.as_str(), expected.as_str(), actual.as_str()),
                ("test-hostile", wrong.as_str(), right.as_str())
            );
        }
        e => panic!("{e}"),
    }
    // From a path too, and the refusal says so.
    let d = dirs();
    let path = d.tmp.path().join("p.wasm");
    std::fs::write(&path, test_components::TEST_HOSTILE).unwrap();
    let e = host()
        .load(PluginSource::path(&path).pinned(&wrong))
        .unwrap_err();
    assert!(e.to_string().contains("refusing to run it"), "{e}");
}

#[tokio::test]
async fn manifests_come_from_the_component_a_sidecar_or_the_caller() {
    let d = dirs();
    let path = d.tmp.path().join("noop.wasm");
    std::fs::write(&path, test_components::NOOP_STEP).unwrap();
    let e = host().load(PluginSource::path(&path)).unwrap_err();
    assert!(matches!(e, PluginError::ManifestMissing { .. }), "{e}");

    std::fs::write(
        d.tmp.path().join("kiln-plugin.toml"),
        "name = \"noop\"\nversion = \"0.0.1\"\nworld = \"step\"\n",
    )
    .unwrap();
    let p = host().load(PluginSource::path(&path)).unwrap();
    assert_eq!(
        (
            p.manifest.name.as_str(),
            p.manifest.capabilities.read_source
        ),
        ("noop", false)
    );
    let o = p
        .run_step(&StepInvocation::new(&d.src, &d.out, Grants::none()))
        .await
        .unwrap();
    assert!(o.findings.is_empty());

    std::fs::write(
        d.tmp.path().join("noop.kiln-plugin.toml"),
        "name = \"Bad Name\"\nversion = \"1\"\nworld = \"step\"\n",
    )
    .unwrap();
    let e = host().load(PluginSource::path(&path)).unwrap_err();
    assert!(
        e.to_string()
            .contains("noop.kiln-plugin.toml: name \"Bad Name\""),
        "{e}"
    );

    let m = Manifest::parse("name = \"signer-x\"\nversion = \"1\"\nworld = \"signer\"").unwrap();
    let e = host()
        .load(PluginSource::bytes("x", test_components::NOOP_STEP).with_manifest(m))
        .unwrap_err();
    assert!(matches!(e, PluginError::UnsupportedWorld { .. }), "{e}");

    let e = host()
        .load(PluginSource::bytes("junk", &b"\0asm not really"[..]))
        .unwrap_err();
    assert!(matches!(e, PluginError::Compile { .. }), "{e}");
}

#[tokio::test]
async fn the_compile_cache_is_reused_and_survives_corruption() {
    let cache = tempfile::tempdir().unwrap();
    let cfg = HostConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..HostConfig::default()
    };
    let src = || builtin::get("hello-step").unwrap();
    let h1 = Host::new(cfg.clone()).unwrap();
    let first = h1.load(src()).unwrap();
    assert_eq!(first.load_stats.cache, CacheOutcome::CompiledAndStored);
    let file = h1.cache().unwrap().path_for(&first.sha256);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&first.sha256)
            && name.contains(&format!("wasmtime{}", kiln_host::WASMTIME_VERSION)),
        "{name}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "no temp files left behind"
    );

    let h2 = Host::new(cfg.clone()).unwrap();
    let again = h2.load(src()).unwrap();
    assert_eq!(again.load_stats.cache, CacheOutcome::Hit);
    let d = dirs();
    again
        .run_step(&inv(&d, &again, &Policy::default()))
        .await
        .unwrap();

    // A corrupt entry (replaced, never truncated in place: components already loaded from the
    // file are mmapped, which is why the cache only ever renames new files into place).
    let tmp = cache.path().join("corrupt.tmp");
    std::fs::write(&tmp, b"garbage").unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let h3 = Host::new(cfg).unwrap();
    let healed = h3.load(src()).unwrap();
    assert_eq!(healed.load_stats.cache, CacheOutcome::CompiledAndStored);
    let d = dirs();
    healed
        .run_step(&inv(&d, &healed, &Policy::default()))
        .await
        .unwrap();
}

#[tokio::test]
async fn events_stream_logs_and_progress() {
    let d = dirs();
    let p = hello();
    let seen: Arc<Mutex<Vec<(String, PluginEvent)>>> = Arc::default();
    let sink = seen.clone();
    let mut i = inv(&d, &p, &Policy::default());
    i.on_event = Some(Arc::new(move |plugin: &str, e: &PluginEvent| {
        sink.lock().unwrap().push((plugin.to_string(), e.clone()))
    }));
    p.run_step(&i).await.unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen.iter().all(|(n, _)| n == "hello-step"));
    let progress: Vec<&str> = seen
        .iter()
        .filter_map(|(_, e)| match e {
            PluginEvent::Progress { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(progress, vec!["lib/util.rs", "main.rs"]);
    assert!(seen.iter().any(
        |(_, e)| matches!(e, PluginEvent::Log(r) if r.message.starts_with("scanned 2 files"))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_run_concurrently_on_one_loaded_plugin() {
    let p = Arc::new(hello());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            let d = dirs();
            let o = p.run_step(&inv(&d, &p, &Policy::default())).await.unwrap();
            o.findings.len()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 3);
    }
}
