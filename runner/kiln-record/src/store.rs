//! [`Records`]: reading a project's `.kiln/` directory without ever leaving it.
//!
//! Ids that come from a URL or a command line are checked before they become a path
//! ([`RecordId`]: the characters record directories are named with, no `.`, no `/`); paths inside
//! a record ([`RelPath`]) are relative, with no `..`, `.` or empty component; every file is opened
//! through `kiln_fs::open_input_within` (resolved inside the record's directory, last component
//! `O_NOFOLLOW`, regular files only, no blocking on a FIFO) and read with a size limit. A link a
//! record directory holds to a file outside it is refused, not followed.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::batch::BuildBatch;
use crate::build::Build;
use crate::deploy::DeploymentInfo;

/// The most `build.json`, `batch.json` or `deployment.json` read (the engine keeps 500 items
/// per report list; a record is a few MiB at most).
pub const RECORD_LIMIT: u64 = 64 * 1024 * 1024;

/// A record directory's name, as a URL or a command line gives it: a build or batch uuid, a
/// deployment id (`d-…`). 1–64 ASCII letters, digits, `-` and `_`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(String);

impl RecordId {
    /// Check `s`; `None` when it could not name a record directory.
    pub fn parse(s: &str) -> Option<RecordId> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| RecordId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A relative path inside one record (`logs/BUILD.log`, `plugins/01-sast/results.sarif`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelPath(PathBuf);

impl RelPath {
    /// Check `s`: relative, at most 1024 bytes, every component a plain name (no `..`, `.`,
    /// empty, NUL or backslash).
    pub fn parse(s: &str) -> Option<RelPath> {
        if s.is_empty() || s.len() > 1024 || s.contains('\0') || s.contains('\\') || s.starts_with('/') {
            return None;
        }
        let p = Path::new(s);
        let plain = s.split('/').all(|c| !c.is_empty() && c != "." && c != "..") && p.components().all(|c| matches!(c, Component::Normal(_)));
        plain.then(|| RelPath(p.to_path_buf()))
    }

    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

/// Which kind of record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Build,
    Batch,
    Deployment,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Build => "builds",
            Kind::Batch => "batches",
            Kind::Deployment => "deployments",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Kind::Build => "build.json",
            Kind::Batch => "batch.json",
            Kind::Deployment => "deployment.json",
        }
    }
}

/// Why a record or a file of one could not be read. The message names the file.
#[derive(Debug)]
pub struct ReadError {
    pub path: PathBuf,
    pub problem: Problem,
}

/// What went wrong.
#[derive(Debug)]
pub enum Problem {
    /// No such record or file.
    NotFound,
    /// Refused or unreadable (a link out, not a regular file, too large, an I/O error).
    Input(String),
    /// Not the JSON this reader expects (serde's message with its line and column).
    Json(String),
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self.problem, Problem::NotFound)
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Problem::NotFound => write!(f, "{}: no such record or file", self.path.display()),
            Problem::Input(e) => f.write_str(e),
            Problem::Json(e) => write!(f, "{}: not a record this kiln can read: {e}", self.path.display()),
        }
    }
}

impl std::error::Error for ReadError {}

/// A project's records: the `.kiln` directory.
#[derive(Clone, Debug)]
pub struct Records {
    root: PathBuf,
}

impl Records {
    /// The records under `kiln_dir` (a project's `.kiln`).
    pub fn new(kiln_dir: impl Into<PathBuf>) -> Records {
        Records { root: kiln_dir.into() }
    }

    /// The records of the project in `dir` (`dir/.kiln`).
    pub fn of_project(dir: &Path) -> Records {
        Records::new(dir.join(".kiln"))
    }

    /// The `.kiln` directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of one record (not checked for existence).
    pub fn dir(&self, kind: Kind, id: &RecordId) -> PathBuf {
        self.root.join(kind.dir()).join(id.as_str())
    }

    /// The ids of every record of `kind` (directories whose names are ids; links and other
    /// entries are skipped), unordered. An absent directory is an empty list.
    pub fn ids(&self, kind: Kind) -> Vec<RecordId> {
        let dir = self.root.join(kind.dir());
        let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
        entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().and_then(RecordId::parse))
            .collect()
    }

    /// Open `rel` inside record `id`: resolved inside the record's directory (which must itself
    /// resolve inside `.kiln`), never through a link in the last component, a regular file only.
    pub fn open(&self, kind: Kind, id: &RecordId, rel: &RelPath) -> Result<kiln_fs::Input, ReadError> {
        let dir = self.dir(kind, id);
        let path = dir.join(rel.as_path());
        let not_found = |path: &Path| ReadError { path: path.to_path_buf(), problem: Problem::NotFound };
        // The record directory itself: a real directory inside `.kiln` (a `builds/<id>` link to
        // elsewhere is refused).
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(ReadError { path: dir, problem: Problem::Input("a record directory that is a link or not a directory".into()) }),
            Err(_) => return Err(not_found(&dir)),
        }
        if std::fs::symlink_metadata(&path).is_err() {
            return Err(not_found(&path));
        }
        kiln_fs::open_input_within(&dir, &path, "record file").map_err(|e| if e.is_not_found() { not_found(&path) } else { ReadError { path: path.clone(), problem: Problem::Input(e.to_string()) } })
    }

    /// Read `rel` inside record `id` whole, at most `limit` bytes.
    pub fn read(&self, kind: Kind, id: &RecordId, rel: &RelPath, limit: u64) -> Result<Vec<u8>, ReadError> {
        let input = self.open(kind, id, rel)?;
        let path = input.path().to_path_buf();
        input.read(limit).map_err(|e| ReadError { path, problem: Problem::Input(e.to_string()) })
    }

    fn record<T: DeserializeOwned>(&self, kind: Kind, id: &RecordId) -> Result<T, ReadError> {
        let rel = RelPath(PathBuf::from(kind.file()));
        let bytes = self.read(kind, id, &rel, RECORD_LIMIT)?;
        serde_json::from_slice(&bytes).map_err(|e| ReadError { path: self.dir(kind, id).join(kind.file()), problem: Problem::Json(e.to_string()) })
    }

    /// The build a user named: its full id (`project:uuid`), its uuid, or at least 4 characters
    /// of the uuid that match one build only.
    pub fn resolve_build(&self, given: &str) -> Result<RecordId, String> {
        let uuid = given.rsplit(':').next().unwrap_or(given);
        if let Some(id) = RecordId::parse(uuid)
            && self.dir(Kind::Build, &id).is_dir()
        {
            return Ok(id);
        }
        let builds = self.root().join("builds");
        if uuid.len() < 4 || RecordId::parse(uuid).is_none() {
            return Err(format!("no build `{given}` in {}: give a build's id (`kiln build` prints it) or at least 4 characters of it", builds.display()));
        }
        let matches: Vec<RecordId> = self.ids(Kind::Build).into_iter().filter(|i| i.as_str().starts_with(uuid)).collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().expect("one")),
            0 => Err(format!("no build `{given}` in {}", builds.display())),
            n => Err(format!("`{given}` is the start of {n} builds' ids in {}: give more of it", builds.display())),
        }
    }

    /// `builds/<id>/build.json`.
    pub fn build(&self, id: &RecordId) -> Result<Build, ReadError> {
        self.record(Kind::Build, id)
    }

    /// `batches/<id>/batch.json`.
    pub fn batch(&self, id: &RecordId) -> Result<BuildBatch, ReadError> {
        self.record(Kind::Batch, id)
    }

    /// `deployments/<id>/deployment.json`.
    /// A deployment's record, `kiln.interrupted` set as kiln-deploy's store sets it: not final
    /// while no process holds its `lock` (the kiln running it was killed).
    pub fn deployment(&self, id: &RecordId) -> Result<DeploymentInfo, ReadError> {
        let mut d: DeploymentInfo = self.record(Kind::Deployment, id)?;
        if !matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped") {
            d.kiln.interrupted = !lock_held(&self.dir(Kind::Deployment, id).join("lock"));
        }
        Ok(d)
    }
}

/// Read `bytes` as a `T` and list every field the JSON has that `T` does not read (their paths,
/// `kiln.sandbox.newThing`). The readers ignore such fields; a test that holds a writer's
/// output to its reader uses this to see that nothing the writer writes is lost.
pub fn parse_checked<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Vec<String>), serde_json::Error> {
    let mut ignored = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_ignored::deserialize(&mut de, |path| ignored.push(path.to_string()))?;
    de.end()?;
    Ok((value, ignored))
}

/// Whether a process holds `path` (flock), tested without waiting; a missing file is not held.
fn lock_held(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    use std::os::unix::io::AsRawFd;
    let Ok(f) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK).open(path) else { return false };
    // SAFETY: flock on a descriptor this function owns; a shared lock taken here is released
    // when `f` closes.
    let got = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    !got && std::io::Error::last_os_error().raw_os_error() == Some(libc::EWOULDBLOCK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployment_in_progress_whose_kiln_is_gone_reads_as_interrupted() {
        use std::os::unix::io::AsRawFd;
        let d = tempfile::tempdir().unwrap();
        let kiln = d.path().join(".kiln");
        let id = RecordId::parse("d-ABC123XYZ").unwrap();
        let dir = kiln.join("deployments").join(id.as_str());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("deployment.json"), r#"{"deploymentId": "d-ABC123XYZ", "status": "InProgress"}"#).unwrap();
        let lock = std::fs::File::create(dir.join("lock")).unwrap();
        let r = Records::new(&kiln);
        assert!(r.deployment(&id).unwrap().kiln.interrupted, "nobody holds the lock");
        // SAFETY: flock on a descriptor the test owns.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        assert!(!r.deployment(&id).unwrap().kiln.interrupted, "a kiln holds the lock: it runs");
        std::fs::write(dir.join("deployment.json"), r#"{"deploymentId": "d-ABC123XYZ", "status": "Succeeded"}"#).unwrap();
        drop(lock);
        assert!(!r.deployment(&id).unwrap().kiln.interrupted, "a final deployment is never interrupted");
    }

    #[test]
    fn ids_and_paths_from_urls_cannot_leave_the_record() {
        for bad in ["", "..", ".", "a/b", "a\\b", "a b", "%2e%2e", "ü", &"x".repeat(65)] {
            assert!(RecordId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RecordId::parse("0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b").is_some());
        assert!(RecordId::parse("d-ABC123XYZ").is_some());
        for bad in ["", "/etc/passwd", "../build.json", "logs/../../x", "logs/./BUILD.log", "logs//x", "a\0b", "logs\\..\\x"] {
            assert!(RelPath::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RelPath::parse("logs/BUILD.log").is_some());
    }

    #[test]
    fn links_out_of_a_record_are_refused_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let kiln = d.path().join(".kiln");
        let id = RecordId::parse("0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        let rec = kiln.join("builds").join(id.as_str());
        std::fs::create_dir_all(rec.join("logs")).unwrap();
        std::fs::write(d.path().join("secret.txt"), "host secret").unwrap();
        std::os::unix::fs::symlink(d.path().join("secret.txt"), rec.join("logs/BUILD.log")).unwrap();
        std::os::unix::fs::symlink(d.path(), rec.join("up")).unwrap();
        let r = Records::new(&kiln);
        let e = r.read(Kind::Build, &id, &RelPath::parse("logs/BUILD.log").unwrap(), 1024).unwrap_err();
        assert!(!e.is_not_found(), "{e}");
        assert!(r.read(Kind::Build, &id, &RelPath::parse("up/secret.txt").unwrap(), 1024).is_err());
        // A record directory that is itself a link elsewhere.
        let other = RecordId::parse("11111111-3b4d-4e5f-8a9b-0c1d2e3f4a5b").unwrap();
        std::fs::create_dir_all(d.path().join("elsewhere")).unwrap();
        std::fs::write(d.path().join("elsewhere/build.json"), "{}").unwrap();
        std::os::unix::fs::symlink(d.path().join("elsewhere"), kiln.join("builds").join(other.as_str())).unwrap();
        assert!(r.build(&other).is_err());
        assert!(!r.ids(Kind::Build).contains(&other), "a link is not listed");
        // A FIFO is refused without blocking.
        let fifo = rec.join("logs/PRE_BUILD.log");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string and a mode.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(r.read(Kind::Build, &id, &RelPath::parse("logs/PRE_BUILD.log").unwrap(), 1024).is_err());
    }

    #[test]
    fn records_of_older_and_newer_kilns_read() {
        let d = tempfile::tempdir().unwrap();
        let r = Records::new(d.path());
        let id = RecordId::parse("abc").unwrap();
        std::fs::create_dir_all(r.dir(Kind::Build, &id)).unwrap();
        // Older: most fields missing. Newer: a field and a report type this reader lacks.
        let json = r#"{"id":"app:abc","buildStatus":"SUCCEEDED","phases":[{"phaseType":"BUILD","phaseStatus":"NEW_STATUS"}],
            "futureField":1,"reports":[{"type":"PERFORMANCE","name":"p","status":"SUCCEEDED","truncated":false},
            {"type":"TEST","name":"unit","status":"FAILED","truncated":false,"testSummary":{"total":1,"statusCounts":{"SUCCEEDED":0,"FAILED":1,"ERROR":0,"SKIPPED":0,"UNKNOWN":0},"durationInNanoSeconds":0}}]}"#;
        std::fs::write(r.dir(Kind::Build, &id).join("build.json"), json).unwrap();
        let b = r.build(&id).unwrap();
        assert_eq!(b.uuid(), "abc");
        assert_eq!(b.phases[0].phase_status.as_deref(), Some("NEW_STATUS"));
        assert_eq!(b.reports.len(), 2);
        assert!(b.reports[0].ok().is_none(), "an unknown report type costs that report only");
        assert_eq!(b.readable_reports().next().unwrap().report.name, "unit");
        let (_, ignored): (Build, _) = parse_checked(json.as_bytes()).unwrap();
        assert_eq!(ignored, vec!["futureField".to_string()]);
        // Not JSON: the error names the file and the position.
        std::fs::write(r.dir(Kind::Build, &id).join("build.json"), "{\n  \"id\": ").unwrap();
        let e = r.build(&id).unwrap_err().to_string();
        assert!(e.contains("build.json") && e.contains("line 2"), "{e}");
    }
}
