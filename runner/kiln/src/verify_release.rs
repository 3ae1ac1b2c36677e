//! `kiln verify --release FILE --key K [--policy P] [--records DIR] [ARTIFACT…]`: a pipeline
//! run's signed release record (`kiln-release`): its signature, the chain of build provenance
//! and deployment attestations it names (read from the records directory), a release policy,
//! and that each ARTIFACT given is one of the released artifacts. One line per check, as
//! `kiln verify` prints them; exit 0 verified, 1 a check failed, 2 the inputs could not be read.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kiln_attest::dsse::{self, Attestation};
use kiln_attest::PublicKey;
use kiln_release::{Policy, RecordsDir};

use crate::exit;
use crate::keyless::KeylessArgs;
use crate::verify::{artifact_files, check_artifacts, conclude, Checks};

/// What `kiln verify --release` checks.
pub struct ReleaseArgs {
    pub release: PathBuf,
    pub key: Option<PathBuf>,
    pub keyless: KeylessArgs,
    pub records: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub artifacts: Vec<PathBuf>,
}

/// Run `kiln verify --release`.
pub fn run(a: &ReleaseArgs) -> ExitCode {
    let Some(key_path) = &a.key else {
        return exit::usage("a release record is signed with the build key: give --key cosign.pub");
    };
    if a.keyless.trusted_root.is_some() {
        return exit::usage("a release record is signed with the build key, not a certificate: give --key cosign.pub, not --trusted-root");
    }
    let key = match kiln_fs::read_input(key_path, kiln_fs::limits::KEY, "public key").map_err(|e| e.to_string()).and_then(|b| PublicKey::read(&b).map_err(|e| format!("cannot read the public key {}: {e}", key_path.display()))) {
        Ok(k) => k,
        Err(e) => return exit::internal(&e),
    };
    let bytes = match kiln_fs::read_input(&a.release, kiln_fs::limits::DOCUMENT, "release record") {
        Ok(b) => b,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let envelope = match dsse::parse_jsonl(&bytes).map(|l| l.into_iter().next()) {
        Ok(Some(Attestation::Envelope(e))) => e,
        Ok(_) => return exit::internal(&format!("{}: not a DSSE envelope (a release record is one envelope on one line)", a.release.display())),
        Err(e) => return exit::internal(&format!("{}: {e}", a.release.display())),
    };
    let policy = match a.policy.as_deref().map(Policy::load).transpose() {
        Ok(p) => p,
        Err(e) => return exit::internal(&e.to_string()),
    };
    let files = match artifact_files(&a.artifacts) {
        Ok(f) => f,
        Err(e) => return exit::internal(&e),
    };
    let records = a.records.clone().unwrap_or_else(|| Path::new(".kiln").to_path_buf());
    if !records.is_dir() {
        return exit::internal(&format!("the records directory {} is not a directory (give --records DIR, the .kiln directory the release's documents are under)", records.display()));
    }
    println!("release {}", a.release.display());
    let v = kiln_release::verify_release(&envelope, &key, &RecordsDir::new(&records), policy.as_ref());
    let mut c = Checks::new();
    for check in &v.checks {
        match &check.result {
            Ok(info) => c.pass(&check.name, info),
            Err(why) => c.check(&check.name, false, || why.clone()),
        }
    }
    if let Some(facts) = &v.facts
        && let Err(code) = check_artifacts(&files, |d| facts.artifacts.iter().any(|x| x.sha256 == d), &mut c)
    {
        return code;
    }
    conclude(&c)
}
