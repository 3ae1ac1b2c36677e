//! Signed SLSA v1 provenance for a finished build: an in-toto Statement whose subjects are every
//! artifact file, with kiln's build definition, in a DSSE envelope signed in this process (never by
//! a build step or plugin), written atomically as `provenance.intoto.jsonl` in the build record.
//!
//! The build type is documented in `docs/build-type.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::slsa::{BuildDefinition, BuildMetadata, Builder, Provenance, RunDetails};
use kiln_attest::{dsse, KeyPair};
use kiln_engine::BuildOutcome;
use serde_json::json;

/// kiln's buildType URI (see `docs/build-type.md`).
pub const BUILD_TYPE: &str = "https://kiln.dev/buildtypes/codebuild-buildspec/v1";
/// The default builder id: a local kiln.
pub const DEFAULT_BUILDER_ID: &str = "https://kiln.dev/builders/local/v1";
/// The file name of the provenance in a build record.
pub const FILE_NAME: &str = "provenance.intoto.jsonl";

fn sha256_file(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| kiln_engine::sha256_hex(&b))
}

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
pub fn statement(outcome: &BuildOutcome, builder_id: &str) -> Result<Statement, String> {
    let r = &outcome.record;
    let k = &r.kiln;
    let mut deps = Vec::new();
    if let Some(rev) = &r.resolved_source_version {
        let repo = k.source_repository.clone().unwrap_or_else(|| format!("file://{}", k.source_dir));
        let mut d = ResourceDescriptor { uri: Some(format!("git+{repo}@{rev}")), ..Default::default() };
        d.digest.insert("gitCommit".into(), rev.clone());
        deps.push(d);
    }
    if let Some(exe) = std::env::current_exe().ok().and_then(|p| sha256_file(&p)) {
        let mut d = ResourceDescriptor::file("kiln", exe);
        d.uri = Some(format!("pkg:cargo/kiln@{}", k.version));
        deps.push(d);
    }
    for p in &k.plugins {
        let mut d = ResourceDescriptor::file(p.name.clone(), p.sha256.clone());
        d.uri = Some(format!("kiln-plugin:{}@{}", p.uses, p.version));
        deps.push(d);
    }
    let logs = outcome.record_dir.join("logs/build.log");
    let mut byproducts: Vec<ResourceDescriptor> = sha256_file(&logs).map(|d| ResourceDescriptor::file("logs/build.log", d)).into_iter().collect();
    for p in &k.plugins {
        for o in &p.outputs {
            let mut d = ResourceDescriptor::file(o.path.clone(), o.sha256.clone());
            d.media_type = o.media_type.clone();
            byproducts.push(d);
        }
    }
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
        "plugins": k.plugins.iter().map(|p| json!({
            "name": p.name, "uses": p.uses, "version": p.version, "sha256": p.sha256, "world": p.world,
            "outcome": p.outcome, "findings": p.findings, "findingsBySeverity": p.findings_by_severity,
        })).collect::<Vec<_>>(),
    });
    let provenance = Provenance {
        build_definition: BuildDefinition { build_type: BUILD_TYPE.into(), external_parameters: external, internal_parameters: Some(internal), resolved_dependencies: deps },
        run_details: RunDetails {
            builder: Builder { id: builder_id.into(), version: BTreeMap::from([("kiln".to_string(), k.version.clone())]), builder_dependencies: Vec::new() },
            metadata: Some(BuildMetadata { invocation_id: Some(r.id.clone()), started_on: Some(r.start_time.clone()), finished_on: r.end_time.clone() }),
            byproducts,
        },
    };
    provenance.into_statement(subjects(outcome)).map_err(|e| e.to_string())
}

/// Sign and write the provenance; returns its path and whether the key was ephemeral, or `None`
/// when the build produced no artifact (a provenance needs at least one subject). With no key,
/// an ephemeral one is made and its public key written beside the provenance (`provenance.pub`).
pub fn write(outcome: &BuildOutcome, key: Option<&KeyPair>, builder_id: &str) -> Result<Option<(PathBuf, bool)>, String> {
    if subjects(outcome).is_empty() {
        return Ok(None);
    }
    // Built from the record, so mask it like the record before anything is signed.
    let statement = statement(outcome, builder_id)?;
    let json = serde_json::to_string(&statement).map_err(|e| e.to_string())?;
    let statement: Statement = serde_json::from_str(&outcome.mask(&json)).map_err(|e| e.to_string())?;
    let ephemeral;
    let signer = match key {
        Some(k) => k,
        None => {
            ephemeral = KeyPair::generate().map_err(|e| e.to_string())?;
            let pub_path = outcome.record_dir.join("provenance.pub");
            kiln_engine::record::write_atomic(&pub_path, ephemeral.public_key().to_pem().as_bytes(), true).map_err(|e| format!("{}: {e}", pub_path.display()))?;
            &ephemeral
        }
    };
    let envelope = dsse::sign_statement(&statement, signer).map_err(|e| e.to_string())?;
    let path = outcome.record_dir.join(FILE_NAME);
    dsse::write_jsonl(&path, &[envelope]).map_err(|e| e.to_string())?;
    Ok(Some((path, key.is_none())))
}
