//! Values the user supplies for what a CloudFormation template cannot resolve offline:
//! `--param NAME=VALUE` and parameters files.
//!
//! A parameters file may be written in any of the forms CloudFormation users already have:
//! * a mapping `NAME: value` (YAML or JSON);
//! * the AWS CLI's list `[{"ParameterKey": "NAME", "ParameterValue": "value"}, …]`;
//! * CodePipeline's template configuration `{"Parameters": {"NAME": "value"}}`.
//!
//! Values given on the command line win over a file's.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_yaml::{Node, NodeKind};

/// Parameter values by name (`Environment`, `AWS::Region`, `Role.Arn`, an export name …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
}

/// A `--param` or parameters file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ParamError {
    #[error("--param `{0}`: expected NAME=VALUE (for example --param Environment=staging)")]
    NoEquals(String),
    #[error("--param `{0}`: the name is empty")]
    EmptyName(String),
    #[error("{0}")]
    Input(#[from] kiln_fs::InputError),
    #[error("the parameters file {file} {problem}")]
    Format { file: String, problem: String },
}

impl Params {
    pub fn new() -> Self {
        Params::default()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Add one `NAME=VALUE` (the value may itself contain `=`).
    pub fn add_arg(&mut self, arg: &str) -> Result<(), ParamError> {
        let (name, value) = arg.split_once('=').ok_or_else(|| ParamError::NoEquals(arg.to_string()))?;
        if name.trim().is_empty() {
            return Err(ParamError::EmptyName(arg.to_string()));
        }
        self.set(name.trim(), value);
        Ok(())
    }

    /// Add the values of a parameters file (a user-given path, read bounded through kiln-fs).
    /// Values already set (from `--param`) are kept.
    pub fn add_file(&mut self, path: &Path) -> Result<(), ParamError> {
        let text = kiln_fs::read_input_to_string(path, kiln_fs::limits::CONFIG, "parameters file")?;
        let file = path.display().to_string();
        let fail = |problem: String| ParamError::Format { file: file.clone(), problem };
        let root = kiln_yaml::parse(&text).map_err(|e| fail(format!("is not valid YAML or JSON at line {}, column {}: {}", e.span.line, e.span.col, e.message())))?;
        let Some(root) = root else { return Ok(()) };
        let mut found = Vec::new();
        collect(&root, &mut found).map_err(|(span, what)| fail(format!("has {what} at line {}, column {}; expected NAME: value, [{{ParameterKey, ParameterValue}}] or {{Parameters: {{NAME: value}}}}", span.line, span.col)))?;
        for (k, v) in found {
            self.values.entry(k).or_insert(v);
        }
        Ok(())
    }
}

fn collect(root: &Node, out: &mut Vec<(String, String)>) -> Result<(), (kiln_yaml::Span, String)> {
    let scalar = |n: &Node| -> Result<String, (kiln_yaml::Span, String)> {
        match &n.kind {
            NodeKind::Scalar { value, .. } => Ok(value.clone()),
            NodeKind::Seq(items) => items.iter().map(|i| i.as_scalar().map(str::to_string).ok_or((i.span, i.describe().to_string()))).collect::<Result<Vec<_>, _>>().map(|v| v.join(",")),
            NodeKind::Map(_) => Err((n.span, "a mapping where a value belongs".into())),
        }
    };
    match &root.kind {
        NodeKind::Map(entries) if entries.len() == 1 && entries[0].0.as_scalar() == Some("Parameters") && matches!(entries[0].1.kind, NodeKind::Map(_)) => {
            collect(&entries[0].1, out)
        }
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                let name = k.as_scalar().ok_or((k.span, "a key that is not a string".to_string()))?;
                out.push((name.to_string(), scalar(v)?));
            }
            Ok(())
        }
        NodeKind::Seq(items) => {
            for item in items {
                let get = |key: &str| match &item.kind {
                    NodeKind::Map(e) => e.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v),
                    _ => None,
                };
                match (get("ParameterKey"), get("ParameterValue")) {
                    (Some(k), Some(v)) => out.push((scalar(k)?, scalar(v)?)),
                    _ => return Err((item.span, "a list item without ParameterKey and ParameterValue".into())),
                }
            }
            Ok(())
        }
        NodeKind::Scalar { .. } => Err((root.span, "a single value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_at_the_first_equals() {
        let mut p = Params::new();
        p.add_arg("AWS::Region=eu-west-1").unwrap();
        p.add_arg("Overrides={\"a\":\"b=c\"}").unwrap();
        assert_eq!(p.get("AWS::Region"), Some("eu-west-1"));
        assert_eq!(p.get("Overrides"), Some("{\"a\":\"b=c\"}"));
        assert!(matches!(p.add_arg("novalue"), Err(ParamError::NoEquals(_))));
        assert!(matches!(p.add_arg("=x"), Err(ParamError::EmptyName(_))));
    }

    #[test]
    fn the_three_file_forms_are_read_and_args_win() {
        let dir = tempfile::tempdir().unwrap();
        for (i, text) in [
            "Env: prod\nSubnets: [a, b]\n",
            r#"[{"ParameterKey": "Env", "ParameterValue": "prod"}, {"ParameterKey": "Subnets", "ParameterValue": "a,b"}]"#,
            r#"{"Parameters": {"Env": "prod", "Subnets": "a,b"}}"#,
        ]
        .iter()
        .enumerate()
        {
            let path = dir.path().join(format!("p{i}"));
            std::fs::write(&path, text).unwrap();
            let mut p = Params::new();
            p.add_arg("Other=1").unwrap();
            p.add_file(&path).unwrap();
            assert_eq!((p.get("Env"), p.get("Subnets"), p.get("Other")), (Some("prod"), Some("a,b"), Some("1")), "form {i}");
            let mut q = Params::new();
            q.add_arg("Env=dev").unwrap();
            q.add_file(&path).unwrap();
            assert_eq!(q.get("Env"), Some("dev"));
        }
    }

    #[test]
    fn a_bad_file_says_where() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "[{\"Key\": 1}]").unwrap();
        let err = Params::new().add_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 1, column 2") && err.contains("ParameterKey"), "{err}");
        let fifo_like = Params::new().add_file(Path::new("/dev/zero")).unwrap_err().to_string();
        assert!(fifo_like.contains("character device"), "{fifo_like}");
    }
}
