//! The fixture record (`tests/fixtures/record/.kiln`), copied into a temp dir with its
//! placeholders filled: the artifact and record paths, the artifact files' digests, and a
//! provenance signed for this copy with a fresh key (its `provenance.pub` beside it, as a build
//! with an ephemeral key leaves it). The record holds hostile text on purpose: `<script>` in a
//! log line, a phase context, a test's name and message, a finding's message, an SBOM component.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kiln_attest::intoto::{ResourceDescriptor, Statement};
use kiln_attest::{dsse, KeyPair};
use kiln_record::{RecordId, Records};

pub const UUID: &str = "5f0c3a2e-8d1b-4c6a-9e7f-2b3c4d5e6f70";

pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub records: Records,
    pub id: RecordId,
    pub key: KeyPair,
}

impl Fixture {
    pub fn record_dir(&self) -> PathBuf {
        self.records.root().join("builds").join(UUID)
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

pub fn fixture() -> Fixture {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/record/.kiln");
    let tmp = tempfile::Builder::new().prefix("kiln-ui-").tempdir().unwrap();
    let kiln = tmp.path().join(".kiln");
    copy(&src, &kiln);
    let dir = kiln.join("builds").join(UUID);
    let sha = |p: &str| kiln_attest::util::sha256_file(&dir.join("artifacts/dist").join(p)).unwrap();
    let (db, index) = (sha("src/db.js"), sha("index.html"));
    let json = std::fs::read_to_string(dir.join("build.json")).unwrap();
    let json = json.replace("ARTIFACTS_DIR", &dir.join("artifacts").display().to_string()).replace("RECORD_DIR", &dir.display().to_string()).replace("SHA_DB", &db).replace("SHA_INDEX", &index);
    std::fs::write(dir.join("build.json"), json).unwrap();
    let key = KeyPair::generate().unwrap();
    let predicate = serde_json::json!({
        "buildDefinition": {"buildType": "https://kiln.dev/buildtypes/codebuild-buildspec/v1", "externalParameters": {}, "resolvedDependencies": [{"uri": "git+https://example.invalid/web.git@9f1e2d3c", "digest": {"gitCommit": "9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"}}]},
        "runDetails": {"builder": {"id": "https://kiln.dev/builders/local/v1"}, "metadata": {}}
    });
    let statement = Statement::new(vec![ResourceDescriptor::file("dist/src/db.js", db), ResourceDescriptor::file("dist/index.html", index)], kiln_attest::slsa::PREDICATE_TYPE, predicate);
    let envelope = dsse::sign_statement(&statement, &key).unwrap();
    std::fs::write(dir.join("provenance.intoto.jsonl"), dsse::to_jsonl(&[envelope])).unwrap();
    std::fs::write(dir.join("provenance.pub"), key.public_key().to_pem()).unwrap();
    Fixture { records: Records::new(&kiln), id: RecordId::parse(UUID).unwrap(), tmp, key }
}

/// The `<section class="card" id="ID">…</section>` of a page.
pub fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<section class=\"card\" id=\"{id}\">")).unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").map(|e| start + e + "</section>".len()).unwrap();
    &html[start..end]
}

/// `html` with a tag per line, for readable snapshots.
pub fn lines(html: &str) -> String {
    html.replace("><", ">\n<")
}
