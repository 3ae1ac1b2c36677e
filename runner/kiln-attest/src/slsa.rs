//! SLSA Provenance v1 (`https://slsa.dev/provenance/v1`) predicate types.
//!
//! Field names follow the specification (lowerCamelCase JSON). Readers are tolerant of unknown
//! fields (Tekton Chains' `invocationID`, for one, is ignored rather than fatal).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::intoto::{ResourceDescriptor, Statement, Subject};

/// `predicateType` of SLSA Provenance v1.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// The SLSA Provenance v1 predicate: how the subjects were built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The inputs that define the build.
    pub build_definition: BuildDefinition,
    /// Details of this particular run.
    pub run_details: RunDetails,
}

/// `buildDefinition`: everything that, given the same builder, determines the build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    /// URI of the build type, documenting the meaning of the parameters.
    pub build_type: String,
    /// Parameters under the user's control (a JSON object). Never secret values.
    pub external_parameters: Value,
    /// Parameters the platform set (a JSON object), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<Value>,
    /// Artifacts the build depended on: source commit, tools, plugins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails`: who ran the build, when, and what else it produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    /// The build platform.
    pub builder: Builder,
    /// Invocation id and timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    /// Other outputs (logs, SARIF, SBOM), by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

/// `runDetails.builder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    /// URI identifying the builder (the trust boundary).
    pub id: String,
    /// Component name to version (a map, not a string).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub version: BTreeMap<String, String>,
    /// The builder's own dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    /// Identifier of this build run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    /// RFC 3339 UTC start time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    /// RFC 3339 UTC finish time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

impl Provenance {
    /// Reads the predicate of `statement`, which must have [`PREDICATE_TYPE`], and validates it.
    pub fn from_statement(statement: &Statement) -> Result<Self> {
        if statement.predicate_type != PREDICATE_TYPE {
            return Err(Error::malformed(
                "SLSA provenance",
                format!(
                    "predicateType is {:?}, not {PREDICATE_TYPE}",
                    statement.predicate_type
                ),
            ));
        }
        Self::from_value(statement.predicate.clone())
    }

    /// Reads a bare predicate document and validates it.
    pub fn from_value(predicate: Value) -> Result<Self> {
        let p: Provenance = serde_json::from_value(predicate)
            .map_err(|e| Error::malformed("SLSA provenance", e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Checks the rules of the specification: non-empty `buildType` and `builder.id`,
    /// `externalParameters` (and `internalParameters`) objects, RFC 3339 timestamps.
    pub fn validate(&self) -> Result<()> {
        let bad = |d: String| Err(Error::malformed("SLSA provenance", d));
        let def = &self.build_definition;
        if def.build_type.is_empty() {
            return bad("buildDefinition.buildType is empty".into());
        }
        if !def.external_parameters.is_object() {
            return bad("buildDefinition.externalParameters is not an object".into());
        }
        if def
            .internal_parameters
            .as_ref()
            .is_some_and(|v| !v.is_object())
        {
            return bad("buildDefinition.internalParameters is not an object".into());
        }
        if self.run_details.builder.id.is_empty() {
            return bad("runDetails.builder.id is empty".into());
        }
        if let Some(m) = &self.run_details.metadata {
            for (field, value) in [("startedOn", &m.started_on), ("finishedOn", &m.finished_on)] {
                if let Some(v) = value
                    && time::OffsetDateTime::parse(
                        v,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_err()
                {
                    return bad(format!(
                        "runDetails.metadata.{field} {v:?} is not an RFC 3339 time"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Wraps this predicate in an in-toto Statement v1 about `subjects`.
    pub fn into_statement(self, subjects: Vec<Subject>) -> Result<Statement> {
        let predicate = serde_json::to_value(self)
            .map_err(|e| Error::malformed("SLSA provenance", e.to_string()))?;
        let statement = Statement::new(subjects, PREDICATE_TYPE, predicate);
        statement.validate()?;
        Ok(statement)
    }
}

/// Formats `t` as RFC 3339 UTC with whole seconds (`2024-01-01T00:00:00Z`), as SLSA wants.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dt = time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    dt.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Provenance {
        Provenance {
            build_definition: BuildDefinition {
                build_type: "https://example.com/kiln/build/v1".into(),
                external_parameters: json!({"buildspec": {"path": "buildspec.yml"}}),
                internal_parameters: None,
                resolved_dependencies: vec![ResourceDescriptor::file("kiln", "00".repeat(32))],
            },
            run_details: RunDetails {
                builder: Builder {
                    id: "https://example.com/kiln".into(),
                    version: BTreeMap::from([("kiln".into(), "0.1.0".into())]),
                    builder_dependencies: vec![],
                },
                metadata: Some(BuildMetadata {
                    invocation_id: Some("b-1".into()),
                    started_on: Some(rfc3339(SystemTime::UNIX_EPOCH)),
                    finished_on: Some("2024-01-01T00:00:00Z".into()),
                }),
                byproducts: vec![],
            },
        }
    }

    #[test]
    fn serializes_with_spec_field_names_and_round_trips() {
        let st = sample()
            .into_statement(vec![Subject::for_bytes("app", b"x")])
            .unwrap();
        let text = String::from_utf8(st.to_json().unwrap()).unwrap();
        for field in [
            "buildDefinition",
            "buildType",
            "externalParameters",
            "resolvedDependencies",
            "runDetails",
            "invocationId",
            "startedOn",
            "finishedOn",
        ] {
            assert!(
                text.contains(&format!("\"{field}\"")),
                "{field} missing in {text}"
            );
        }
        assert!(text.contains(r#""startedOn":"1970-01-01T00:00:00Z""#));
        let back =
            Provenance::from_statement(&Statement::from_json(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn rejects_invalid_predicates() {
        let mut p = sample();
        p.build_definition.external_parameters = json!("x");
        assert!(p.validate().is_err());
        let mut p = sample();
        p.run_details.metadata.as_mut().unwrap().started_on = Some("yesterday".into());
        assert!(p.validate().is_err());
        let st = Statement::new(
            vec![Subject::for_bytes("a", b"")],
            "https://slsa.dev/spec/v1.0/provenance",
            json!({}),
        );
        assert_eq!(
            Provenance::from_statement(&st).unwrap_err().reason(),
            "malformed"
        );
    }
}
