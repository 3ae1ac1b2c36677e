//! `kiln verify`: check a build's signed provenance — the envelope signature, that each given
//! artifact is a subject, the builder, the source revision and the build status — and say for
//! each check what was expected and what was found. Exit 0 verified, 1 a check failed, 2 the
//! inputs could not be read.
//!
//! The provenance is a DSSE envelope signed with a key (`--key`, what kiln writes) or a Sigstore
//! bundle: key-signed (`--key`) or certificate-signed ("keyless": `--trusted-root` with
//! `--certificate-identity` and `--certificate-oidc-issuer`, see `keyless.rs`), whose
//! certificate chain, SCT, transparency-log entry, signature and identity are each a check.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_attest::bundle::{self, Artifact, Bundle, SignerIdentity, TlogStatus, VerifyOptions};
use kiln_attest::dsse::{self, Attestation, Envelope};
use kiln_attest::intoto::Statement;
use kiln_attest::slsa::Provenance;
use kiln_attest::trust::utc;
use kiln_attest::PublicKey;

use crate::exit;
use crate::keyless::{self, KeylessArgs, Trust};

/// What `kiln verify` checks against.
pub struct VerifyArgs {
    pub key: Option<PathBuf>,
    pub keyless: KeylessArgs,
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

static LINES_TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Print the verification's lines on stderr instead of stdout (`kiln deploy --json` keeps stdout
/// for its JSON records).
pub(crate) fn lines_to_stderr(on: bool) {
    LINES_TO_STDERR.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A line of the verification's report: stdout, or stderr after [`lines_to_stderr`].
macro_rules! say {
    ($($t:tt)*) => {
        if LINES_TO_STDERR.load(std::sync::atomic::Ordering::Relaxed) { eprintln!($($t)*) } else { println!($($t)*) }
    };
}

pub(crate) struct Checks {
    failed: usize,
}

impl Checks {
    pub(crate) fn new() -> Checks {
        Checks { failed: 0 }
    }

    pub(crate) fn check(&mut self, name: &str, ok: bool, detail: impl FnOnce() -> String) {
        if ok {
            say!("ok      {name}");
        } else {
            self.failed += 1;
            say!("FAILED  {name}: {}", detail());
        }
    }

    /// A check that passed, with what it established.
    pub(crate) fn pass(&self, name: &str, info: impl std::fmt::Display) {
        say!("ok      {name}: {info}");
    }
}

/// The verifying key and the file it came from.
type Key<'a> = Option<(&'a PublicKey, &'a Path)>;

/// The signature of a DSSE envelope: with `--key`, as kiln signs; a certificate-signed envelope
/// carries no log entry, so it cannot be verified offline.
fn verify_envelope(env: &Envelope, key: Key<'_>, file: &Path, c: &mut Checks) -> Option<Statement> {
    let Some((key, key_path)) = key else {
        if env.signatures.iter().any(|s| s.cert.is_some()) {
            c.check("transparency log", false, || format!("{}: a DSSE envelope with a certificate but no transparency-log entry cannot be verified offline (nothing proves the certificate was valid when it signed): verify the Sigstore bundle (.sigstore.json) that carries its Rekor entry", file.display()));
        } else {
            c.check("signature", false, || format!("{}: the envelope is signed with a key, not a certificate: give --key", file.display()));
        }
        return None;
    };
    let verified = dsse::verify(env, &[key]);
    c.check("signature", verified.is_ok(), || format!("the envelope is not signed by {} ({})", key_path.display(), verified.as_ref().err().map(|e| e.to_string()).unwrap_or_default()));
    match verified.ok()?.statement() {
        Ok(s) => Some(s),
        Err(e) => {
            c.check("statement", false, || e.to_string());
            None
        }
    }
}

/// A Sigstore bundle: key-signed with `--key`, certificate-signed against the trusted root and
/// the identity policy. Returns the statement and whether a certificate signed it.
fn verify_bundle(b: &Bundle, key: Key<'_>, trust: Option<&Trust>, file: &Path, c: &mut Checks) -> Option<(Statement, bool)> {
    let certificate = keyless::is_certificate_signed(b);
    if certificate && trust.is_none() {
        c.check("signature", false, || format!("{}: the bundle is signed with a certificate (keyless), not a key: verify it with --trusted-root FILE --certificate-identity IDENTITY --certificate-oidc-issuer URL", file.display()));
        return None;
    }
    if !certificate && key.is_none() {
        c.check("signature", false, || format!("{}: the bundle is signed with a key, not a certificate: give --key", file.display()));
        return None;
    }
    let root_path = trust.map(|t| t.root_path.as_path());
    let options = VerifyOptions { key: key.map(|k| k.0), trusted_root: trust.map(|t| &t.root), require_tlog: certificate };
    let v = match bundle::verify(b, Artifact::None, &options) {
        Ok(v) => v,
        Err(e) => {
            c.check(keyless::check_name(&e), false, || keyless::located(&e, file, root_path));
            return None;
        }
    };
    if let (SignerIdentity::Certificate(_), Some(root)) = (&v.signer, root_path) {
        let at = match v.tlog {
            TlogStatus::Verified { integrated_time: Some(t), .. } => format!("at {} (when the log integrated the entry)", utc(t as u64)),
            _ => "at the certificate's start of validity (no log time)".into(),
        };
        c.pass("certificate chain", format!("to a certificate authority of {} {at}", root.display()));
        if let Some(sct) = &v.certificate_transparency {
            c.pass("certificate transparency (SCT)", format!("logged by {} at {}", sct.log_url, utc(sct.timestamp_ms / 1000)));
        }
    }
    if let TlogStatus::Verified { log_index, integrated_time } = &v.tlog {
        let how = match integrated_time {
            Some(t) => format!("signed entry timestamp, integrated {}", utc(*t as u64)),
            None => "inclusion proof and signed checkpoint".into(),
        };
        c.pass("transparency log", format!("entry {log_index} ({how})"));
    }
    c.check("signature", true, String::new);
    if let (SignerIdentity::Certificate(id), Some(trust)) = (&v.signer, trust) {
        let policy = match trust.policy() {
            Ok(p) => p,
            Err(msg) => {
                c.check("certificate identity", false, || msg);
                return None;
            }
        };
        let checks = [("certificate identity", policy.check_identity(id), policy.identity.to_string()), ("certificate OIDC issuer", policy.check_issuer(id), policy.issuer.to_string())];
        let mut ok = true;
        for (name, result, expected) in checks {
            match result {
                Ok(()) => c.pass(name, expected),
                Err(e) => {
                    ok = false;
                    c.check(name, false, || format!("{}: {}", file.display(), keyless::detail(&e)));
                }
            }
        }
        if !ok {
            return None;
        }
    }
    match v.statement {
        Some(s) => Some((s, certificate)),
        None => {
            c.check("predicate", false, || format!("{}: the bundle signs a blob (messageSignature), not an in-toto attestation: check it with kiln verify-blob --bundle", file.display()));
            None
        }
    }
}

/// Files to check: each given file, or every file under a given directory.
pub(crate) fn artifact_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
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
    if a.key.is_none() && a.keyless.trusted_root.is_none() {
        return exit::usage("give --key cosign.pub for key-signed provenance, or --trusted-root trusted_root.json with --certificate-identity and --certificate-oidc-issuer for certificate-signed (keyless) provenance");
    }
    let key = match a.key.as_ref().map(|path| {
        kiln_fs::read_input(path, kiln_fs::limits::KEY, "public key")
            .map_err(|e| e.to_string())
            .and_then(|b| PublicKey::read(&b).map_err(|e| format!("cannot read the public key {}: {e}", path.display())))
    }) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => return exit::internal(&e),
    };
    run_with(a, key, a.key.as_deref())
}

/// `kiln verify` with the public key given (`kiln deploy` verifies with the public half of its
/// signing key); `key_path` names it in messages.
pub fn run_with(a: &VerifyArgs, key: Option<PublicKey>, key_path: Option<&Path>) -> ExitCode {
    let trust = match a.keyless.load(key.is_some()) {
        Ok(t) => t,
        Err(e) => return exit::internal(&e),
    };
    let Some(path) = a.provenance.clone().or_else(newest_provenance) else {
        return exit::internal("no provenance given and none found under .kiln/builds/ (use --provenance FILE)");
    };
    let bytes = match kiln_fs::read_input(&path, kiln_fs::limits::DOCUMENT, "provenance") {
        Ok(b) => b,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let attestations = match dsse::parse_jsonl(&bytes) {
        Ok(list) => list,
        Err(e) => return exit::internal(&format!("{}: {e}", path.display())),
    };
    let Some(attestation) = attestations.first() else { return exit::internal(&format!("{}: no DSSE envelope or Sigstore bundle in it", path.display())) };
    let policy = match a.policy.as_deref().map(crate::policy::load).transpose() {
        Ok(p) => p,
        Err(e) => return exit::internal(&e),
    };
    let files = match artifact_files(&a.artifacts) {
        Ok(f) => f,
        Err(e) => return exit::internal(&e),
    };
    say!("provenance {}", path.display());
    let mut c = Checks { failed: 0 };
    let key = key.as_ref().zip(key_path);
    let signed = match attestation {
        Attestation::Envelope(env) => verify_envelope(env, key, &path, &mut c).map(|s| (s, false)),
        Attestation::Bundle(b) => verify_bundle(b, key, trust.as_ref(), &path, &mut c),
    };
    let Some((statement, keyless)) = signed else { return ExitCode::from(1) };
    if statement.predicate_type == crate::batch_provenance::PREDICATE_TYPE {
        return verify_batch(a, &statement, &path, key, &files, c);
    }
    let provenance = Provenance::from_statement(&statement);
    c.check("predicate", provenance.is_ok(), || format!("expected SLSA provenance v1, found {} ({})", statement.predicate_type, provenance.as_ref().err().map(|e| e.to_string()).unwrap_or_default()));
    let Ok(provenance) = provenance else { return ExitCode::from(1) };
    let builder = &provenance.run_details.builder.id;
    c.check("builder", builder == &a.builder_id, || format!("expected {}, found {builder}", a.builder_id));
    let internal = provenance.build_definition.internal_parameters.clone().unwrap_or_default();
    let recorded = internal.get("buildStatus").and_then(|s| s.as_str());
    let status = recorded.unwrap_or("unknown").to_string();
    if recorded.is_none() && keyless {
        // kiln records every build's status; certificate-signed provenance is another builder's.
        say!("skip    build status: not recorded in this provenance (not a kiln build's)");
    } else {
        c.check("build status", status == "SUCCEEDED" || a.allow_failed, || format!("expected SUCCEEDED, found {status} (use --allow-failed to accept it)"));
    }
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
            cache: provenance
                .build_definition
                .resolved_dependencies
                .iter()
                .filter_map(|d| d.uri.as_deref().filter(|u| u.starts_with(crate::provenance::CACHE_URI_PREFIX)).map(|u| format!("{u} (sha256:{})", d.digest.get("sha256").map(String::as_str).unwrap_or("?"))))
                .collect(),
        };
        for (name, result) in crate::policy::evaluate(policy, &facts) {
            c.check(&name, result.is_ok(), || result.clone().err().unwrap_or_default());
        }
    }
    if let Err(code) = check_artifacts(&files, |d| statement.subject_by_sha256(d).is_some(), &mut c) {
        return code;
    }
    conclude(&c)
}

/// Each artifact file is a subject (by sha256), as `is_subject` says.
pub(crate) fn check_artifacts(files: &[PathBuf], is_subject: impl Fn(&str) -> bool, c: &mut Checks) -> Result<(), ExitCode> {
    for (f, digest) in files.iter().zip(hash_files(files)) {
        let digest = match digest {
            Ok(d) => d,
            Err(e) => return Err(exit::internal(&format!("cannot read the artifact: {e}"))),
        };
        c.check(&format!("subject {}", f.display()), is_subject(&digest), || format!("sha256 {digest} is not a subject of this provenance"));
    }
    Ok(())
}

/// A batch statement (`kiln build --batch`): its signature is checked already; the builds'
/// provenance it names, their digests and signatures, the batch status, and the artifacts
/// (subjects of the statement or of a build's provenance). See `batch_provenance::verify`.
fn verify_batch(a: &VerifyArgs, statement: &Statement, path: &Path, key: Key<'_>, files: &[PathBuf], mut c: Checks) -> ExitCode {
    let Some((key, _)) = key else {
        c.check("signature", false, || "a batch statement is signed with a key: give --key".into());
        return ExitCode::from(1);
    };
    if a.policy.is_some() {
        c.check("policy", false, || "a policy is about one build's provenance: verify the builds' provenance files the batch statement names with --policy".into());
    }
    let mut subjects = crate::batch_provenance::verify(statement, path, key, &a.builder_id, a.allow_failed, &mut c);
    subjects.extend(statement.subject.iter().cloned());
    if let Err(code) = check_artifacts(files, |d| subjects.iter().any(|s| s.sha256() == Some(d)), &mut c) {
        return code;
    }
    conclude(&c)
}

pub(crate) fn conclude(c: &Checks) -> ExitCode {
    if c.failed == 0 {
        say!("Verified OK");
        ExitCode::SUCCESS
    } else {
        say!("{} check(s) failed", c.failed);
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
