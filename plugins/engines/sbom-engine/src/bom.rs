//! Merging lockfiles into one CycloneDX 1.5 JSON document, deterministically.
//!
//! * Components are keyed and `bom-ref`'d by purl; the same purl from several lockfiles is one
//!   component (strongest scope wins, hashes and licences are united, every source lockfile is
//!   listed in a `kiln:lockfile` property).
//! * Components, hashes, properties and the dependency graph are sorted; `serialNumber` is
//!   derived from the document's content (a SHA-256 of it, shaped as a UUID) unless given;
//!   `metadata.timestamp` is written only when given. The same inputs give the same bytes.
//! * The build itself is `metadata.component` (type application, `bom-ref` `kiln:build/NAME`);
//!   it depends on every lockfile's direct dependencies.

use std::collections::{BTreeMap, BTreeSet};

use cyclonedx_bom::external_models::date_time::DateTime;
use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::spdx::{SpdxExpression, SpdxIdentifier};
use cyclonedx_bom::external_models::uri::Purl;
use cyclonedx_bom::models::bom::{Bom, SpecVersion, UrnUuid};
use cyclonedx_bom::models::component::{Classification, Component, Components, Scope as CdxScope};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{License, LicenseChoice, LicenseIdentifier, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::Tools;
use sha2::{Digest, Sha256};

use crate::{HashAlg, Lockfile, Scope};

/// What the SBOM says about the build.
#[derive(Debug, Clone)]
pub struct BomOptions {
    /// Name of the software the SBOM describes (`metadata.component.name`).
    pub name: String,
    /// Its version, if known.
    pub version: Option<String>,
    /// `metadata.timestamp` (ISO 8601), e.g. the build's start; omitted when `None`.
    pub timestamp: Option<String>,
    /// `serialNumber` (`urn:uuid:...`); derived from the content when `None`.
    pub serial_number: Option<String>,
    /// Version of kiln written as the tool.
    pub tool_version: String,
}

impl Default for BomOptions {
    fn default() -> Self {
        BomOptions { name: "build".into(), version: None, timestamp: None, serial_number: None, tool_version: env!("CARGO_PKG_VERSION").into() }
    }
}

/// Summary figures of a built SBOM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BomStats {
    /// Components written.
    pub components: usize,
    /// Components per purl type.
    pub by_type: BTreeMap<String, usize>,
    /// Components without a version (unpinned requirements, git sources without a tag).
    pub unversioned: usize,
    /// Dependency edges written.
    pub edges: usize,
}

#[derive(Default)]
struct Merged {
    name: String,
    group: Option<String>,
    version: Option<String>,
    scope: Option<Scope>,
    hashes: BTreeSet<(HashAlg, String)>,
    licenses: BTreeSet<String>,
    files: BTreeSet<String>,
    deps: BTreeSet<String>,
}

fn alg(a: HashAlg) -> HashAlgorithm {
    match a {
        HashAlg::Md5 => HashAlgorithm::MD5,
        HashAlg::Sha1 => HashAlgorithm::SHA1,
        HashAlg::Sha256 => HashAlgorithm::SHA_256,
        HashAlg::Sha384 => HashAlgorithm::SHA_384,
        HashAlg::Sha512 => HashAlgorithm::SHA_512,
    }
}

/// A licence string as an SPDX id, an SPDX expression, or a named licence.
fn license_choice(s: &str) -> LicenseChoice {
    let s = s.trim();
    if let Ok(id) = SpdxIdentifier::try_from(s.to_string()) {
        return LicenseChoice::License(License {
            license_identifier: LicenseIdentifier::SpdxId(id),
            ..License::named_license(s)
        });
    }
    if s.contains(' ')
        && let Ok(e) = SpdxExpression::parse_lax(s.to_string())
    {
        return LicenseChoice::Expression(e);
    }
    LicenseChoice::license(s)
}

/// Build the SBOM for `lockfiles`; returns the JSON bytes and summary figures.
pub fn build(lockfiles: &[Lockfile], opts: &BomOptions) -> Result<(Vec<u8>, BomStats), String> {
    let root_ref = format!("kiln:build/{}", opts.name);
    let mut comps: BTreeMap<String, Merged> = BTreeMap::new();
    let mut root_deps: BTreeSet<String> = BTreeSet::new();
    for lf in lockfiles {
        let purls: Vec<String> = lf.packages.iter().map(crate::purl::of).collect();
        for (p, purl) in lf.packages.iter().zip(&purls) {
            let m = comps.entry(purl.clone()).or_default();
            if m.name.is_empty() {
                let eco = p.ecosystem.unwrap_or(crate::Ecosystem::Npm);
                let (ns, name) = crate::purl::split_name(eco, &p.name);
                m.name = name;
                m.group = (!ns.is_empty()).then(|| ns.join("/"));
                m.version = p.version.clone();
            }
            m.scope = Some(m.scope.map_or(p.scope, |s| s.min(p.scope)));
            m.hashes.extend(p.hashes.iter().cloned());
            m.licenses.extend(p.licenses.iter().filter(|l| !l.trim().is_empty()).cloned());
            m.files.insert(lf.path.clone());
        }
        for &(a, b) in &lf.edges {
            if purls[a] != purls[b] {
                comps.get_mut(&purls[a]).map(|m| m.deps.insert(purls[b].clone()));
            }
        }
        root_deps.extend(lf.roots.iter().map(|&r| purls[r].clone()));
    }
    let mut stats = BomStats { components: comps.len(), ..Default::default() };
    let mut components = Vec::with_capacity(comps.len());
    let mut deps = Vec::with_capacity(comps.len() + 1);
    deps.push(Dependency { dependency_ref: root_ref.clone(), dependencies: root_deps.into_iter().collect() });
    for (purl, m) in comps {
        let ty = purl[4..].split('/').next().unwrap_or("").to_string();
        *stats.by_type.entry(ty).or_default() += 1;
        if m.version.is_none() {
            stats.unversioned += 1;
        }
        let mut c = Component::new(Classification::Library, &m.name, "", Some(purl.clone()));
        c.version = m.version.as_deref().map(NormalizedString::new);
        c.group = m.group.as_deref().map(NormalizedString::new);
        c.purl = Some(purl.parse::<Purl>().map_err(|_| format!("bad purl {purl}"))?);
        c.scope = m.scope.map(|s| match s {
            Scope::Required => CdxScope::Required,
            Scope::Optional => CdxScope::Optional,
            Scope::Dev => CdxScope::Excluded,
        });
        if !m.hashes.is_empty() {
            c.hashes = Some(Hashes(m.hashes.iter().map(|(a, h)| Hash { alg: alg(*a), content: HashValue(h.clone()) }).collect()));
        }
        if !m.licenses.is_empty() {
            c.licenses = Some(Licenses(m.licenses.iter().map(|l| license_choice(l)).collect()));
        }
        let mut props: Vec<Property> = m.files.iter().map(|f| Property::new("kiln:lockfile", f)).collect();
        if m.scope == Some(Scope::Dev) {
            props.push(Property::new("kiln:dev", "true"));
        }
        c.properties = Some(Properties(props));
        stats.edges += m.deps.len();
        deps.push(Dependency { dependency_ref: purl, dependencies: m.deps.into_iter().collect() });
        components.push(c);
    }
    stats.edges += deps[0].dependencies.len();

    let mut tool = Component::new(Classification::Application, "kiln", &opts.tool_version, None);
    tool.description = Some(NormalizedString::new("kiln sbom-cyclonedx (lockfile analysis, offline)"));
    let mut subject = Component::new(Classification::Application, &opts.name, "", Some(root_ref));
    subject.version = opts.version.as_deref().map(NormalizedString::new);
    let timestamp = match &opts.timestamp {
        Some(t) => Some(DateTime::try_from(t.clone()).map_err(|e| format!("timestamp {t:?}: {e}"))?),
        None => None,
    };
    let metadata = Metadata {
        timestamp,
        tools: Some(Tools::Object { services: None, components: Some(Components(vec![tool])) }),
        component: Some(subject),
        ..Default::default()
    };
    let mut bom = Bom {
        version: 1,
        serial_number: None,
        metadata: Some(metadata),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(deps)),
        spec_version: SpecVersion::V1_5,
        ..Default::default()
    };
    // The serial number is derived from the document written with a placeholder serial, then
    // patched in: one serialisation instead of two.
    const PLACEHOLDER: &str = "urn:uuid:00000000-0000-0000-0000-000000000000";
    let given = match &opts.serial_number {
        Some(s) => Some(UrnUuid::new(s.clone()).map_err(|e| format!("serial number {s:?}: {e:?} (expected urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"))?),
        None => None,
    };
    bom.serial_number = Some(given.clone().unwrap_or_else(|| UrnUuid(PLACEHOLDER.into())));
    let mut out = Vec::new();
    bom.output_as_json_v1_5(&mut out).map_err(|e| e.to_string())?;
    out.push(b'\n');
    if given.is_none() {
        let serial = content_uuid(&out).0;
        let needle = format!("\"serialNumber\": \"{PLACEHOLDER}\"");
        let at = out.windows(needle.len()).position(|w| w == needle.as_bytes()).ok_or("serialNumber not written")?;
        let patched = format!("\"serialNumber\": \"{serial}\"");
        out.splice(at..at + needle.len(), patched.into_bytes());
    }
    Ok((out, stats))
}

/// A UUID (version 8, "custom") from the SHA-256 of `content`.
fn content_uuid(content: &[u8]) -> UrnUuid {
    let d = Sha256::digest(content);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::util::hex(&b);
    UrnUuid(format!("urn:uuid:{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ecosystem, Package};

    fn lf() -> Lockfile {
        Lockfile {
            path: "package-lock.json".into(),
            packages: vec![
                Package { ecosystem: Some(Ecosystem::Npm), name: "@a/b".into(), version: Some("1.0.0".into()), licenses: vec!["MIT".into(), "Custom thing".into(), "MIT OR Apache-2.0".into()], ..Default::default() },
                Package { ecosystem: Some(Ecosystem::Npm), name: "c".into(), version: Some("2.0.0".into()), scope: Scope::Dev, ..Default::default() },
            ],
            edges: vec![(0, 1)],
            roots: vec![0],
            warnings: vec![],
        }
    }

    #[test]
    fn deterministic_and_content_serial() {
        let (a, s) = build(&[lf()], &BomOptions::default()).unwrap();
        let (b, _) = build(&[lf()], &BomOptions::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(s.components, 2);
        assert_eq!(s.edges, 2);
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert!(v["serialNumber"].as_str().unwrap().starts_with("urn:uuid:"));
        assert!(v["metadata"].get("timestamp").is_none());
        assert_eq!(v["components"][1]["scope"], "excluded");
        let lic = &v["components"][0]["licenses"];
        assert_eq!(lic[0]["license"]["name"], "Custom thing");
        assert_eq!(lic[1]["license"]["id"], "MIT");
        assert_eq!(lic[2]["expression"], "MIT OR Apache-2.0");
    }

    #[test]
    fn bad_timestamp_is_an_error() {
        let o = BomOptions { timestamp: Some("yesterday".into()), ..Default::default() };
        assert!(build(&[lf()], &o).is_err());
    }
}
