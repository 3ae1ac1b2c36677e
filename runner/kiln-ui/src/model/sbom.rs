//! The SBOMs a build's plugins wrote (`uses: sbom-cyclonedx`: CycloneDX 1.5 JSON,
//! `application/vnd.cyclonedx+json`): each component's name, version, purl and licenses
//! (CycloneDX `licenses[]`: `{license: {id | name}}` or `{expression}`).

use kiln_record::{Build, Kind, RecordId, Records, RelPath};
use serde::Deserialize;

const SBOM_LIMIT: u64 = 64 * 1024 * 1024;

/// One SBOM file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sbom {
    /// The record-relative path.
    pub path: String,
    pub spec_version: String,
    pub components: Vec<Component>,
}

/// One component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub kind: String,
    pub name: String,
    pub version: String,
    pub purl: Option<String>,
    pub licenses: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Doc {
    spec_version: String,
    components: Vec<RawComponent>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawComponent {
    #[serde(rename = "type")]
    kind: String,
    group: Option<String>,
    name: String,
    version: String,
    purl: Option<String>,
    licenses: Vec<RawLicense>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawLicense {
    license: Option<LicenseRef>,
    expression: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LicenseRef {
    id: Option<String>,
    name: Option<String>,
}

/// Read a CycloneDX JSON document.
pub fn parse(path: &str, bytes: &[u8]) -> Result<Sbom, String> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| format!("{path}: not a CycloneDX JSON document: {e}"))?;
    let components = doc
        .components
        .into_iter()
        .map(|c| Component {
            kind: c.kind,
            name: match c.group.filter(|g| !g.is_empty()) {
                Some(g) => format!("{g}/{}", c.name),
                None => c.name,
            },
            version: c.version,
            purl: c.purl,
            licenses: c.licenses.into_iter().filter_map(|l| l.expression.or_else(|| l.license.and_then(|r| r.id.or(r.name)))).collect(),
        })
        .collect();
    Ok(Sbom { path: path.to_string(), spec_version: doc.spec_version, components })
}

/// Every SBOM the build's plugins wrote, and the files that could not be read.
pub fn load(records: &Records, id: &RecordId, build: &Build) -> (Vec<Sbom>, Vec<String>) {
    let (mut out, mut problems) = (Vec::new(), Vec::new());
    for o in build.kiln.plugins.iter().flat_map(|p| &p.outputs) {
        let is_sbom = o.media_type.as_deref().is_some_and(|m| m.contains("cyclonedx")) || o.path.ends_with(".cdx.json");
        if !is_sbom {
            continue;
        }
        let read = RelPath::parse(&o.path).ok_or_else(|| format!("{}: not a path inside the record", o.path)).and_then(|rel| records.read(Kind::Build, id, &rel, SBOM_LIMIT).map_err(|e| e.to_string()));
        match read.and_then(|b| parse(&o.path, &b)) {
            Ok(s) => out.push(s),
            Err(e) => problems.push(e),
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_with_every_license_form() {
        let doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[
            {"type":"library","name":"left-pad","version":"1.3.0","purl":"pkg:npm/left-pad@1.3.0","licenses":[{"license":{"id":"WTFPL"}}]},
            {"type":"library","group":"@babel","name":"core","version":"7.0.0","licenses":[{"expression":"MIT OR Apache-2.0"}]},
            {"type":"library","name":"odd","version":"1","licenses":[{"license":{"name":"Custom"}}]},
            {"name":"bare"}]}"#;
        let s = parse("plugins/01-sbom/sbom.cdx.json", doc).unwrap();
        assert_eq!(s.spec_version, "1.5");
        assert_eq!(s.components[0].licenses, vec!["WTFPL"]);
        assert_eq!(s.components[1].name, "@babel/core");
        assert_eq!(s.components[1].licenses, vec!["MIT OR Apache-2.0"]);
        assert_eq!(s.components[2].licenses, vec!["Custom"]);
        assert!(s.components[3].licenses.is_empty());
        assert!(parse("x", b"[1]").unwrap_err().contains("x: not a CycloneDX"));
    }
}
