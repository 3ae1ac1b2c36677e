//! `kiln verify`: check a build's signed provenance — the envelope signature, that each given
//! artifact is a subject, the builder, the source revision and the build status — and say for
//! each check what was expected and what was found. Exit 0 verified, 1 a check failed, 2 the
//! inputs could not be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_attest::dsse::{self, Attestation};
use kiln_attest::slsa::Provenance;
use kiln_attest::PublicKey;

use crate::exit;

/// What `kiln verify` checks against.
pub struct VerifyArgs {
    pub key: PathBuf,
    pub provenance: Option<PathBuf>,
    pub builder_id: String,
    pub source_revision: Option<String>,
    pub allow_failed: bool,
    pub policy: Option<PathBuf>,
    pub artifacts: Vec<PathBuf>,
}

/// The newest `provenance.intoto.jsonl` under `./.kiln/builds/`.
fn newest_provenance() -> Option<PathBuf> {
    let dir = Path::new(".kiln/builds");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(crate::provenance::FILE_NAME))
        .filter(|p| p.is_file())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            println!("ok      {name}");
        } else {
            self.failed += 1;
            println!("FAILED  {name}: {}", detail());
        }
    }
}

/// Files to check: each given file, or every file under a given directory.
fn artifact_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("cannot read the artifact {}: {e}", p.display()))?;
        if meta.is_dir() {
            let mut files: Vec<PathBuf> = walk(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.is_dir() { out.extend(walk(&path)?) } else { out.push(path) }
    }
    Ok(out)
}

/// Run `kiln verify`.
pub fn run(a: &VerifyArgs) -> ExitCode {
    // User-given files are read through kiln_fs: regular files only (not /dev/zero, not a
    // FIFO), each up to the limit for its kind.
    let key = match kiln_fs::read_input(&a.key, kiln_fs::limits::KEY, "public key")
        .map_err(|e| e.to_string())
        .and_then(|b| PublicKey::read(&b).map_err(|e| format!("cannot read the public key {}: {e}", a.key.display())))
    {
        Ok(k) => k,
        Err(e) => return exit::internal(&e),
    };
    let Some(path) = a.provenance.clone().or_else(newest_provenance) else {
        return exit::internal("no provenance given and none found under .kiln/builds/ (use --provenance FILE)");
    };
    let bytes = match kiln_fs::read_input(&path, kiln_fs::limits::DOCUMENT, "provenance") {
        Ok(b) => b,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let envelopes: Vec<dsse::Envelope> = match dsse::parse_jsonl(&bytes) {
        Ok(list) => list.into_iter().filter_map(|a| if let Attestation::Envelope(e) = a { Some(e) } else { None }).collect(),
        Err(e) => return exit::internal(&format!("{}: {e}", path.display())),
    };
    let Some(envelope) = envelopes.first() else { return exit::internal(&format!("{}: no DSSE envelope in it", path.display())) };
    let policy = match a.policy.as_deref().map(crate::policy::load).transpose() {
        Ok(p) => p,
        Err(e) => return exit::internal(&e),
    };
    let files = match artifact_files(&a.artifacts) {
        Ok(f) => f,
        Err(e) => return exit::internal(&e),
    };
    println!("provenance {}", path.display());
    let mut c = Checks { failed: 0 };
    let verified = dsse::verify(envelope, &[&key]);
    c.check("signature", verified.is_ok(), || format!("the envelope is not signed by {} ({})", a.key.display(), verified.as_ref().err().map(|e| e.to_string()).unwrap_or_default()));
    let statement = match verified.as_ref().ok().map(|v| v.statement()) {
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            c.check("statement", false, || e.to_string());
            return ExitCode::from(1);
        }
        None => return ExitCode::from(1),
    };
    let provenance = Provenance::from_statement(&statement);
    c.check("predicate", provenance.is_ok(), || format!("expected SLSA provenance v1, found {} ({})", statement.predicate_type, provenance.as_ref().err().map(|e| e.to_string()).unwrap_or_default()));
    let Ok(provenance) = provenance else { return ExitCode::from(1) };
    let builder = &provenance.run_details.builder.id;
    c.check("builder", builder == &a.builder_id, || format!("expected {}, found {builder}", a.builder_id));
    let internal = provenance.build_definition.internal_parameters.clone().unwrap_or_default();
    let status = internal["buildStatus"].as_str().unwrap_or("unknown").to_string();
    c.check("build status", status == "SUCCEEDED" || a.allow_failed, || format!("expected SUCCEEDED, found {status} (use --allow-failed to accept it)"));
    if let Some(rev) = &a.source_revision {
        let found = provenance.build_definition.external_parameters["source"]["revision"].as_str().unwrap_or("none").to_string();
        c.check("source revision", &found == rev, || format!("expected {rev}, found {found}"));
    }
    if let Some(policy) = &policy {
        let ext = &provenance.build_definition.external_parameters;
        let plugins = internal["plugins"].as_array().cloned().unwrap_or_default();
        let facts = crate::policy::Facts {
            builder: builder.clone(),
            repository: ext["source"]["repository"].as_str().map(str::to_string),
            revision: ext["source"]["revision"].as_str().map(str::to_string),
            status: status.clone(),
            plugins: plugins
                .iter()
                .map(|p| crate::policy::PluginFact {
                    name: p["name"].as_str().unwrap_or_default().to_string(),
                    sha256: p["sha256"].as_str().unwrap_or_default().to_string(),
                    findings: p["findingsBySeverity"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|e| Some((e[0].as_str()?.to_string(), e[1].as_u64()?))).collect())
                        .unwrap_or_default(),
                })
                .collect(),
        };
        for (name, result) in crate::policy::evaluate(policy, &facts) {
            c.check(&name, result.is_ok(), || result.clone().err().unwrap_or_default());
        }
    }
    for (f, digest) in files.iter().zip(hash_files(&files)) {
        let digest = match digest {
            Ok(d) => d,
            Err(e) => return exit::internal(&format!("cannot read the artifact: {e}")),
        };
        let subject = statement.subject_by_sha256(&digest);
        c.check(&format!("subject {}", f.display()), subject.is_some(), || format!("sha256 {digest} is not a subject of this provenance"));
    }
    if c.failed == 0 {
        println!("Verified OK");
        ExitCode::SUCCESS
    } else {
        println!("{} check(s) failed", c.failed);
        ExitCode::from(1)
    }
}

/// sha256 of every file, streamed (aws-lc assembly SHA-256, 1 MiB blocks), on one thread per CPU.
fn hash_files(files: &[PathBuf]) -> Vec<Result<String, String>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<String, String>>>> = files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(f) = files.get(i) else { break };
                let r = kiln_attest::util::sha256_file(f).map_err(|e| e.to_string());
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()).unwrap_or_else(|| Err("not hashed".into()))).collect()
}
