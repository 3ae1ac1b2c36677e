//! Plugin manifests: who a plugin is, which world it targets, what it asks for, its config schema.
//!
//! A manifest travels with the component, either embedded as the custom section
//! [`MANIFEST_SECTION`] (the SDK's `export_step!(T, manifest = "kiln-plugin.toml")` does this) or
//! as a sidecar file next to it (`kiln-plugin.toml` / `kiln-plugin.json`, or
//! `<component-stem>.kiln-plugin.toml`). Both TOML and JSON are accepted.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Name of the custom section that carries an embedded manifest.
pub const MANIFEST_SECTION: &str = "kiln:plugin-manifest";

/// The world a plugin targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// A scanner or generator (`kiln:plugin/step`).
    Step,
    /// A scanner over the source tree's files (`kiln:plugin/file-scanner`): the host walks and
    /// reads, several instances scan in parallel, one finishes. Runs wherever a step does.
    FileScanner,
    /// A signer (`kiln:plugin/signer`), run with `Host::load_signer`.
    Signer,
    /// A deployment strategy (`kiln:plugin/deploy-strategy`), run with `Host::load_strategy`.
    DeployStrategy,
}

impl World {
    /// The WIT world name.
    pub fn as_str(self) -> &'static str {
        match self {
            World::Step => "step",
            World::FileScanner => "file-scanner",
            World::Signer => "signer",
            World::DeployStrategy => "deploy-strategy",
        }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    /// Plugin name (`[a-z0-9-]`, shown in the build log and record).
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// The world it targets.
    pub world: World,
    /// One line for `kiln plugin inspect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it asks the host for.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// A JSON Schema (subset, see [`crate::schema`]) for its `with:` map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_schema: Option<serde_json::Value>,
}

/// Capabilities a plugin requests. The host grants the intersection with its policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Capabilities {
    /// Read the source tree (preopen `/src`, read-only).
    #[serde(default)]
    pub read_source: bool,
    /// Write its output directory (preopen `/out`, read-write).
    #[serde(default)]
    pub write_output: bool,
    /// Environment variables it wants, by name.
    #[serde(default)]
    pub env: Vec<String>,
    /// Network access. Always denied in this version of kiln.
    #[serde(default)]
    pub network: bool,
    /// Full-resolution clocks (otherwise wall and monotonic clocks tick in 1 ms steps).
    #[serde(default)]
    pub precise_clock: bool,
    /// Linear memory it needs, e.g. `"64MiB"` or a number of bytes.
    #[serde(default, with = "size_opt", skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<u64>,
    /// Wall-clock time a call needs, e.g. `"30s"`, `"500ms"`, `"2m"`.
    #[serde(
        default,
        with = "duration_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
}

impl Manifest {
    /// Parse a manifest from TOML or JSON text (JSON when it starts with `{`).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        m.check()?;
        Ok(m)
    }

    fn check(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "name {:?}: use 1-64 characters from [a-z0-9-_]",
                self.name
            ));
        }
        if self.version.is_empty() || self.version.len() > 64 {
            return Err("version: must be 1-64 characters".into());
        }
        for v in &self.capabilities.env {
            if v.is_empty() || v.contains('=') || v.contains('\0') {
                return Err(format!("capabilities.env: invalid variable name {v:?}"));
            }
        }
        if self.world == World::DeployStrategy {
            let c = &self.capabilities;
            let asked = [(c.read_source, "read-source"), (c.write_output, "write-output"), (!c.env.is_empty(), "env"), (c.network, "network"), (c.precise_clock, "precise-clock")];
            if let Some((_, key)) = asked.iter().find(|(on, _)| *on) {
                return Err(format!(
                    "capabilities.{key}: a deploy-strategy plugin gets no files, environment, network or clock (it decides from the observation alone); remove it"
                ));
            }
        }
        if let Some(schema) = &self.config_schema {
            crate::schema::check_schema(schema).map_err(|e| format!("config-schema: {e}"))?;
        }
        Ok(())
    }

    /// Validate a `with:` map (as JSON) against the config schema; an empty list means valid.
    /// Without a schema any JSON object is accepted.
    pub fn validate_config(&self, config: &serde_json::Value) -> Vec<String> {
        if !config.is_object() {
            return vec!["config must be a JSON object".into()];
        }
        match &self.config_schema {
            Some(schema) => crate::schema::validate(schema, config),
            None => Vec::new(),
        }
    }
}

/// Find an embedded manifest in a component (searching nested core modules too).
pub fn embedded(component: &[u8]) -> Result<Option<String>, String> {
    let mut found = None;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly binary: {e}"))?;
        if let wasmparser::Payload::CustomSection(reader) = payload
            && reader.name() == MANIFEST_SECTION
        {
            if found.is_some() {
                return Err(format!("more than one `{MANIFEST_SECTION}` section"));
            }
            let text = std::str::from_utf8(reader.data())
                .map_err(|_| format!("`{MANIFEST_SECTION}` is not UTF-8"))?;
            found = Some(text.to_string());
        }
    }
    Ok(found)
}

/// Sidecar manifest paths tried for a component at `path`, in order.
pub fn sidecar_candidates(path: &Path) -> Vec<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut v = Vec::new();
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        v.push(dir.join(format!("{stem}.kiln-plugin.toml")));
        v.push(dir.join(format!("{stem}.kiln-plugin.json")));
    }
    v.push(dir.join("kiln-plugin.toml"));
    v.push(dir.join("kiln-plugin.json"));
    v
}

/// Parse `"64MiB"`, `"1GiB"`, `"512KiB"`, `"1000000"` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n.trim(), *m)))
    .unwrap_or((s, 1));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (use e.g. \"64MiB\")"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Parse `"500ms"`, `"30s"`, `"2m"`, `"1h"`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let bad = || format!("invalid duration {s:?} (use e.g. \"30s\", \"500ms\", \"2m\")");
    let (num, unit_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        return Err(bad());
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    Ok(Duration::from_millis(
        n.checked_mul(unit_ms).ok_or_else(bad)?,
    ))
}

mod size_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) if n % (1 << 20) == 0 => s.serialize_str(&format!("{}MiB", n >> 20)),
            Some(n) => s.serialize_u64(*n),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Some(n)),
            Raw::S(s) => super::parse_size(&s)
                .map(Some)
                .map_err(serde::de::Error::custom),
        }
    }
}

mod duration_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&format!("{}ms", d.as_millis())),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_json() {
        let t = Manifest::parse(
            "name = \"x\"\nversion = \"1.0.0\"\nworld = \"step\"\n[capabilities]\nread-source = true\nmax-memory = \"64MiB\"\ntimeout = \"30s\"\nenv = [\"HOME\"]\n",
        )
        .unwrap();
        assert_eq!(t.capabilities.max_memory, Some(64 << 20));
        assert_eq!(t.capabilities.timeout, Some(Duration::from_secs(30)));
        let j = Manifest::parse(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(t, j);
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(
            Manifest::parse("name = \"X Y\"\nversion = \"1\"\nworld = \"step\"")
                .unwrap_err()
                .contains("name")
        );
        assert!(Manifest::parse("name = \"x\"\nversion = \"1\"\nworld = \"nope\"").is_err());
        assert!(
            Manifest::parse("name = \"x\"\nversion = \"1\"\nworld = \"step\"\nsurprise = 1")
                .is_err()
        );
        assert!(parse_duration("10").is_err());
        let e = Manifest::parse("name = \"s\"\nversion = \"1\"\nworld = \"deploy-strategy\"\n[capabilities]\nread-source = true\n").unwrap_err();
        assert!(e.contains("capabilities.read-source: a deploy-strategy plugin gets no files"), "{e}");
        assert!(Manifest::parse("name = \"s\"\nversion = \"1\"\nworld = \"deploy-strategy\"\n[capabilities]\nmax-memory = \"8MiB\"\ntimeout = \"1s\"\n").is_ok());
        assert_eq!(parse_size("2KiB").unwrap(), 2048);
    }
}
