//! Signed SLSA v1 provenance for a finished build: an in-toto Statement whose subjects are every
//! artifact file, with kiln's build definition, wrapped in a DSSE envelope by the built-in signer
//! plugin (`dsse-signer`, see `signing.rs`) with a key that stays in this process, written
//! atomically (temp file, fsync, rename, fsync of the directory) as `provenance.intoto.jsonl`.
//!
//! The build type is documented in `docs/build-type.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::slsa::{BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails};
use std::sync::Arc;

use kiln_attest::{dsse, KeyPair};

use crate::signing::SignerInfo;
use crate::warm::WarmHost;
use kiln_engine::BuildOutcome;
use serde_json::json;

/// kiln's buildType URI (see `docs/build-type.md`).
pub const BUILD_TYPE: &str = "https://kiln.dev/buildtypes/codebuild-buildspec/v1";
/// The default builder id: a local kiln.
pub const DEFAULT_BUILDER_ID: &str = "https://kiln.dev/builders/local/v1";
/// The `uri` prefix of a restored build cache entry in `resolvedDependencies`
/// (`kiln-cache:<key>@<cache version>`, digest: the entry's manifest).
pub const CACHE_URI_PREFIX: &str = "kiln-cache:";
/// The file name of the provenance in a build record.
pub const FILE_NAME: &str = "provenance.intoto.jsonl";


/// The subjects: every file of every artifact (`<artifact>/<path>`), and each zip itself.
pub fn subjects(outcome: &BuildOutcome) -> Vec<ResourceDescriptor> {
    let r = &outcome.record;
    let mut out = Vec::new();
    for a in r.artifacts.iter().chain(&r.secondary_artifacts) {
        let location = Path::new(&a.location);
        let artifact = location.file_name().and_then(|n| n.to_str()).unwrap_or("artifact").to_string();
        if let Some(zip) = &a.sha256sum {
            out.push(ResourceDescriptor::file(artifact.clone(), zip.clone()));
        }
        for f in &a.files {
            out.push(ResourceDescriptor::file(format!("{artifact}/{}", f.path), f.sha256.clone()));
        }
    }
    out
}

/// Build the Statement for `outcome`.
pub fn statement(outcome: &BuildOutcome, builder_id: &str, signing: &Signing) -> Result<Statement, String> {
    let r = &outcome.record;
    let k = &r.kiln;
    let mut deps = Vec::new();
    if let Some(rev) = &r.resolved_source_version {
        let repo = k.source_repository.clone().unwrap_or_else(|| format!("file://{}", k.source_dir));
        let mut d = ResourceDescriptor { uri: Some(format!("git+{repo}@{rev}")), ..Default::default() };
        d.digest.insert("gitCommit".into(), rev.clone());
        deps.push(d);
    }
    if let Some(exe) = std::env::current_exe().ok().and_then(|p| kiln_attest::util::sha256_file(&p).ok()) {
        let mut d = ResourceDescriptor::file("kiln", exe);
        d.uri = Some(format!("pkg:cargo/kiln@{}", k.version));
        deps.push(d);
    }
    for p in &k.plugins {
        let mut d = ResourceDescriptor::file(p.name.clone(), p.sha256.clone());
        d.uri = Some(format!("kiln-plugin:{}@{}", p.uses, p.version));
        deps.push(d);
    }
    // The build cache entry restored into the build, by its manifest's digest: a verifier sees
    // which cache fed the build (`kiln verify --policy` can forbid any).
    if let Some(c) = k.cache.as_ref()
        && let Some(r) = &c.restored
    {
        let mut d = ResourceDescriptor::file("build-cache".to_string(), r.manifest_sha256.clone());
        d.uri = Some(format!("{CACHE_URI_PREFIX}{}@{}", r.key.as_deref().unwrap_or("unkeyed"), c.version));
        deps.push(d);
    }
    let byproducts = byproducts(outcome);
    let external = json!({
        "buildspec": { "path": k.buildspec.path, "sha256": k.buildspec.sha256 },
        "source": { "repository": k.source_repository, "directory": k.source_dir, "revision": r.resolved_source_version },
        "environmentOverrides": k.environment_overrides,
    });
    let internal = json!({
        "buildStatus": r.build_status,
        "buildNumber": r.build_number,
        "sandbox": k.sandbox,
        "shell": k.shell,
        "secretVariables": k.secret_variables,
        "signing": {
            "key": if signing.ephemeral { "ephemeral" } else { "configured" },
            "signer": signing.signer.name, "signerVersion": signing.signer.version, "signerSha256": signing.signer.sha256,
            "warning": signing.ephemeral.then_some(EPHEMERAL_WARNING),
        },
        "plugins": k.plugins.iter().map(|p| json!({
            "name": p.name, "uses": p.uses, "version": p.version, "sha256": p.sha256, "world": p.world,
            "outcome": p.outcome, "findings": p.findings, "findingsBySeverity": p.findings_by_severity,
        })).collect::<Vec<_>>(),
    });
    let provenance = Provenance {
        build_definition: BuildDefinition { build_type: BUILD_TYPE.into(), external_parameters: external, internal_parameters: Some(internal), resolved_dependencies: deps },
        run_details: RunDetails {
            builder: Builder { id: builder_id.into(), version: BTreeMap::from([("kiln".to_string(), k.version.clone())]), builder_dependencies: vec![signer_dep(&signing.signer)] },
            metadata: Some(BuildMetadata { invocation_id: Some(r.id.clone()), started_on: Some(r.start_time.clone()), finished_on: r.end_time.clone() }),
            byproducts,
        },
    };
    provenance.into_statement(subjects(outcome)).map_err(|e| e.to_string())
}

/// How the provenance is signed: by which plugin, and whether the key is ephemeral.
pub struct Signing {
    /// The signer plugin.
    pub signer: SignerInfo,
    /// No key was configured: a key made for this build only.
    pub ephemeral: bool,
}

/// What kiln says (on stderr and in the provenance) when it signs with an ephemeral key.
pub const EPHEMERAL_WARNING: &str = "no signing key configured (kiln build --key, or `kiln: signing: key:` in the buildspec): the provenance is signed with an ephemeral key made for this build, so it proves nothing beyond this build's record; configure a key to get provenance others can verify";

fn signer_dep(s: &SignerInfo) -> ResourceDescriptor {
    let mut d = ResourceDescriptor::file(s.name.clone(), s.sha256.clone());
    d.uri = Some(format!("kiln-plugin:builtin:{}@{}", s.name, s.version));
    d
}

/// Media type of a byproduct, from the plugin that declared it or the file name.
fn media_type(name: &str) -> Option<String> {
    let t = if name.ends_with(".sarif") || name.ends_with(".sarif.json") {
        "application/sarif+json"
    } else if name.ends_with(".spdx.json") {
        "application/spdx+json"
    } else if name.ends_with(".cdx.json") || name.ends_with("bom.json") {
        "application/vnd.cyclonedx+json"
    } else if name.ends_with(".log") || name.ends_with(".info") || name.ends_with(".lcov") {
        "text/plain"
    } else if name.ends_with(".xml") || name.ends_with(".trx") {
        "application/xml"
    } else if name.ends_with(".json") {
        "application/json"
    } else {
        return None;
    };
    Some(t.to_string())
}

/// The byproducts: every file the build wrote under the record's `logs/` and `plugins/` (SARIF,
/// SBOMs and other plugin outputs, the build and phase logs), by path relative to the record
/// directory and sha256; the media type the plugin declared, else one from the file name.
pub fn byproducts(outcome: &BuildOutcome) -> Vec<ResourceDescriptor> {
    let declared: BTreeMap<&str, &str> = outcome.record.kiln.plugins.iter().flat_map(|p| &p.outputs).filter_map(|o| Some((o.path.as_str(), o.media_type.as_deref()?))).collect();
    let mut files = Vec::new();
    for dir in ["logs", "plugins", "reports"] {
        collect(&outcome.record_dir, &outcome.record_dir.join(dir), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|rel| {
            let digest = kiln_attest::util::sha256_file(&outcome.record_dir.join(&rel)).ok()?;
            let mut d = ResourceDescriptor::file(rel.clone(), digest);
            d.media_type = declared.get(rel.as_str()).map(|m| m.to_string()).or_else(|| media_type(&rel));
            Some(d)
        })
        .collect()
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let p = e.path();
        if t.is_dir() {
            collect(root, &p, out);
        } else if t.is_file()
            && let Some(rel) = p.strip_prefix(root).ok().and_then(|r| r.to_str())
        {
            out.push(rel.to_string());
        }
    }
}

/// Sign (through the signer `hosting` loads) and write the provenance; returns its path, or `None` when the build
/// produced no artifact (a provenance needs at least one subject). With no key, an ephemeral one
/// is made (see [`write_with`]).
pub fn write(outcome: &BuildOutcome, key: Option<Arc<KeyPair>>, builder_id: &str, hosting: &WarmHost) -> Result<Option<Written>, String> {
    if subjects(outcome).is_empty() {
        return Ok(None);
    }
    let (key, ephemeral) = match key {
        Some(k) => (k, false),
        None => (Arc::new(KeyPair::generate().map_err(|e| e.to_string())?), true),
    };
    write_with(outcome, &key, ephemeral, builder_id, hosting)
}

/// [`write`] with a key the caller holds: the builds of a batch are all signed with one key,
/// configured or (`ephemeral`) made for the batch. An ephemeral key's public key is written
/// beside the provenance (`provenance.pub`) first, so a provenance on disk always has the key
/// that verifies it.
pub fn write_with(outcome: &BuildOutcome, key: &Arc<KeyPair>, ephemeral: bool, builder_id: &str, hosting: &WarmHost) -> Result<Option<Written>, String> {
    let started = std::time::Instant::now();
    let subject_count = subjects(outcome).len();
    if subject_count == 0 {
        return Ok(None);
    }
    let signer = &hosting.get()?.signer;
    let signing = Signing { signer: signer.info(), ephemeral };
    // Built from the record, so mask it like the record before anything is signed.
    let statement = statement(outcome, builder_id, &signing)?;
    let json = serde_json::to_string(&statement).map_err(|e| e.to_string())?;
    let statement: Statement = serde_json::from_str(&outcome.mask(&json)).map_err(|e| e.to_string())?;
    statement.validate().map_err(|e| e.to_string())?;
    let payload = statement.to_json().map_err(|e| e.to_string())?;
    if ephemeral {
        write_public_key(&outcome.record_dir, key)?;
    }
    let signing_started = std::time::Instant::now();
    let envelope = signer.sign_statement(&payload, key.clone())?;
    let sign_time = signing_started.elapsed();
    let path = outcome.record_dir.join(FILE_NAME);
    pause_for_tests("before-write");
    dsse::write_jsonl(&path, &[envelope]).map_err(|e| e.to_string())?;
    pause_for_tests("after-write");
    Ok(Some(Written { path, subjects: subject_count, sign_time, total_time: started.elapsed() }))
}

/// Write an ephemeral key's public key as `dir/provenance.pub` (atomically, durably).
pub fn write_public_key(dir: &Path, key: &KeyPair) -> Result<(), String> {
    let pub_path = dir.join("provenance.pub");
    kiln_fs::write_atomic(&pub_path, key.public_key().to_pem().as_bytes(), true).map_err(|e| format!("{}: {e}", pub_path.display()))
}

/// A provenance written by [`write`].
pub struct Written {
    /// `provenance.intoto.jsonl` in the record directory.
    pub path: PathBuf,
    /// How many subjects it names.
    pub subjects: usize,
    /// Time in the signer plugin (instantiation, PAE, host signature, envelope, host checks).
    pub sign_time: std::time::Duration,
    /// Time for the whole statement, signing and atomic write.
    pub total_time: std::time::Duration,
}

/// Crash tests (`KILN_TEST_PAUSE=before-write|after-write`, debug builds only): print a marker
/// and sleep so a test can `kill -9` kiln at that exact point.
fn pause_for_tests(point: &str) {
    if cfg!(debug_assertions) && std::env::var("KILN_TEST_PAUSE").is_ok_and(|p| p == point) {
        eprintln!("kiln-test-pause: {point}");
        std::thread::sleep(std::time::Duration::from_secs(30));
    }
}
