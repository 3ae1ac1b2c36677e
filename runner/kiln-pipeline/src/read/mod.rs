//! Reading a pipeline definition from any of the files CodePipeline users already have.
//!
//! | source | how it is recognised | names |
//! |---|---|---|
//! | `aws codepipeline get-pipeline` output | JSON whose top level has `pipeline` (and maybe `metadata`) | camelCase |
//! | kiln pipeline YAML | the same shape in YAML (`pipeline:` at the top, or the declaration itself: `stages:` at the top) | camelCase |
//! | CloudFormation template, YAML or JSON | `Resources` (or `AWSTemplateFormatVersion`) at the top, with an `AWS::CodePipeline::Pipeline` | PascalCase |
//!
//! Every file goes through kiln-yaml (JSON is YAML, so JSON gets lines and columns too), with its
//! bounds on nodes, depth and alias expansion; the file itself is read through kiln-fs
//! ([`read_file`]: regular files only, at most [`kiln_fs::limits::PIPELINE`]). Terraform
//! (`aws_codepipeline` in HCL) is not read: [`ReadError::Terraform`] says how to get the JSON.
//!
//! kiln proposal: a YAML or JSON syntax error, a file with no pipeline in it, or a template with
//! several pipelines and no `--pipeline` choice is a [`ReadError`] (the CLI's exit 2: kiln could
//! not get to a definition); everything found in a definition it did get to is a diagnostic.

mod build;
pub(crate) mod cfn;
pub(crate) mod tree;

use std::path::Path;

use kiln_spec::Diagnostic;
use kiln_yaml::{Node, NodeKind};
use serde::Serialize;

use crate::model::{Pipeline, Span, Text};
use crate::params::Params;
use build::{Builder, Style};
use tree::{from_node, Scalars, Val};

/// Which kind of file a definition came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SourceKind {
    /// The JSON `aws codepipeline get-pipeline` prints (`{"pipeline": …, "metadata": …}`).
    GetPipelineJson,
    /// kiln's YAML of the same shape.
    KilnYaml,
    CloudFormationYaml,
    CloudFormationJson,
}

impl SourceKind {
    pub fn describe(self) -> &'static str {
        match self {
            SourceKind::GetPipelineJson => "get-pipeline JSON",
            SourceKind::KilnYaml => "kiln pipeline YAML",
            SourceKind::CloudFormationYaml => "CloudFormation template (YAML)",
            SourceKind::CloudFormationJson => "CloudFormation template (JSON)",
        }
    }
}

/// What the reader needs besides the text.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Values for what the template cannot resolve offline.
    pub params: Params,
    /// Which `AWS::CodePipeline::Pipeline` of a template (its logical id), when it has several.
    pub logical_id: Option<String>,
}

/// A CloudFormation intrinsic kiln could not resolve offline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unresolved {
    /// The `--param` names that would resolve it.
    pub params: Vec<String>,
    /// The function as written, shortened (`!GetAtt Role.Arn`, `!If [UseX, …]`).
    pub intrinsic: String,
    #[serde(skip)]
    pub span: Span,
    /// What the value is and why kiln cannot know it.
    pub why: String,
}

/// `PipelineMetadata` of get-pipeline output.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub pipeline_arn: Option<Text>,
    pub created: Option<Text>,
    pub updated: Option<Text>,
}

/// A definition that was read, and what was found while reading it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Definition {
    pub pipeline: Pipeline,
    pub source: SourceKind,
    /// The template resource's logical id (CloudFormation only).
    pub logical_id: Option<String>,
    pub metadata: Option<Metadata>,
    /// Intrinsics that still need a `--param` (also summarised in one diagnostic).
    pub unresolved: Vec<Unresolved>,
}

/// The result of reading: the definition (when the file held one) and located diagnostics.
#[derive(Clone, Debug)]
pub struct Read {
    pub definition: Definition,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why kiln could not get to a definition at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Input(#[from] kiln_fs::InputError),
    #[error("the file is not valid YAML or JSON")]
    Syntax(Vec<Diagnostic>),
    #[error("Terraform files are not read: kiln reads the JSON of `aws codepipeline get-pipeline --name NAME` (run it after `terraform apply`, and give kiln that file), CloudFormation templates and kiln pipeline YAML")]
    Terraform,
    #[error("{0}")]
    NotAPipeline(String),
    #[error("the template has {} pipelines: {}; choose one with --pipeline LOGICAL_ID", .0.len(), .0.iter().map(|(id, s)| format!("{id} (line {})", s.line)).collect::<Vec<_>>().join(", "))]
    ChooseOne(Vec<(String, Span)>),
    #[error("the template has no AWS::CodePipeline::Pipeline named `{wanted}`; it has: {}", .found.join(", "))]
    NoSuchPipeline { wanted: String, found: Vec<String> },
}

impl ReadError {
    /// Located diagnostics, when the error has them (syntax errors).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ReadError::Syntax(d) => d,
            _ => &[],
        }
    }
}

/// Read the definition in the user-given file `path` (through kiln-fs: a regular file, at most
/// [`kiln_fs::limits::PIPELINE`] bytes). With `root`, the file must resolve inside it (a file a
/// project names, [`kiln_fs::read_input_within`]).
pub fn read_file(path: &Path, root: Option<&Path>, opts: &ReadOptions) -> Result<(String, Read), ReadError> {
    let what = "pipeline definition";
    let bytes = match root {
        Some(root) => kiln_fs::read_input_within(root, path, kiln_fs::limits::PIPELINE, what)?,
        None => kiln_fs::read_input(path, kiln_fs::limits::PIPELINE, what)?,
    };
    let source = String::from_utf8(bytes).map_err(|_| kiln_fs::InputError::not_utf8(path, what))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let read = parse(&source, name, opts)?;
    Ok((source, read))
}

/// Read a definition from text. `file_name` is used only to recognise Terraform (`.tf`).
pub fn parse(source: &str, file_name: &str, opts: &ReadOptions) -> Result<Read, ReadError> {
    if file_name.ends_with(".tf") || file_name.ends_with(".tf.json") || looks_like_hcl(source) {
        return Err(ReadError::Terraform);
    }
    // Duplicate keys come back as E0002 diagnostics; the tree is still used (last one wins).
    let (root, mut duplicates) = match kiln_spec::yaml::parse(source) {
        Ok(root) => (root, Vec::new()),
        Err(diags) if diags.iter().all(|d| d.code == "E0002") => (kiln_yaml::parse(source).map_err(|_| ReadError::Syntax(diags.clone()))?, diags),
        Err(diags) => return Err(ReadError::Syntax(diags)),
    };
    let Some(mut root) = root else {
        return Err(ReadError::NotAPipeline("the file is empty".into()));
    };
    last_key_wins(&mut root);
    let json = source.trim_start_matches('\u{feff}').trim_start().starts_with('{');
    let top = |k: &str| match &root.kind {
        NodeKind::Map(e) => e.iter().find(|(key, _)| key.as_scalar() == Some(k)).map(|(_, v)| v),
        _ => None,
    };
    if top("Resources").is_some() || top("AWSTemplateFormatVersion").is_some() {
        let kind = if json { SourceKind::CloudFormationJson } else { SourceKind::CloudFormationYaml };
        // CloudFormation itself takes a duplicated key and uses the last one
        // (go-to-k/cdk-real-drift#1074, checked with validate-template); the AWS CLI's
        // `cloudformation deploy` refuses the file (brentley/container-demo#11).
        for d in &mut duplicates {
            d.severity = kiln_spec::Severity::Warning;
            d.code = "W2003";
            d.help = Some("remove one of the two entries: CloudFormation uses the last one (and so does kiln), `aws cloudformation deploy` refuses the file".into());
        }
        let mut read = read_template(source, &root, kind, opts)?;
        read.diagnostics = sorted(duplicates.into_iter().chain(read.diagnostics).collect());
        return Ok(read);
    }
    let kind = if json { SourceKind::GetPipelineJson } else { SourceKind::KilnYaml };
    let (decl, metadata) = match (top("pipeline"), top("stages")) {
        (Some(p), _) => (p, top("metadata")),
        (None, Some(_)) => (&root, None),
        (None, None) => {
            return Err(ReadError::NotAPipeline(
                "no pipeline found: expected `pipeline:` at the top (get-pipeline JSON, kiln YAML), a pipeline declaration (`stages:` at the top), or a CloudFormation template with `Resources`".into(),
            ));
        }
    };
    let mut diags = duplicates;
    refuse_tags(decl, &mut diags);
    let mut b = Builder::new(Style::Api);
    let val = from_node(decl, Scalars::AsWritten);
    let pipeline = b.pipeline(&val).unwrap_or_default();
    let metadata = metadata.map(|m| read_metadata(&from_node(m, Scalars::AsWritten)));
    diags.append(&mut b.diags);
    let definition = Definition { pipeline, source: kind, logical_id: None, metadata, unresolved: Vec::new() };
    Ok(Read { definition, diagnostics: sorted(diags) })
}

/// Keep only the last entry of each key in every mapping (the tree's lookups take the first).
fn last_key_wins(n: &mut Node) {
    match &mut n.kind {
        NodeKind::Map(entries) => {
            let mut seen = std::collections::HashSet::new();
            let mut kept: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
            for (k, v) in std::mem::take(entries).into_iter().rev() {
                if k.as_scalar().is_none_or(|key| seen.insert(key.to_string())) {
                    kept.push((k, v));
                }
            }
            kept.reverse();
            for (_, v) in &mut kept {
                last_key_wins(v);
            }
            *entries = kept;
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(last_key_wins),
        NodeKind::Scalar { .. } => {}
    }
}

/// Roughly: a Terraform file's first statement.
fn looks_like_hcl(source: &str) -> bool {
    let first = source.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("//"));
    first.is_some_and(|l| ["resource \"", "provider \"", "terraform {", "variable \"", "module \"", "data \"", "locals {"].iter().any(|p| l.starts_with(p)))
}

fn refuse_tags(n: &Node, diags: &mut Vec<Diagnostic>) {
    if let Some(tag) = n.tag.as_deref() {
        diags.push(
            Diagnostic::error("E2020", format!("`{tag}` is a CloudFormation function; a get-pipeline or kiln YAML definition holds plain values"), n.span)
                .with_help("write the value itself, or give kiln the CloudFormation template the pipeline comes from"),
        );
    }
    match &n.kind {
        NodeKind::Seq(items) => items.iter().for_each(|i| refuse_tags(i, diags)),
        NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
            refuse_tags(k, diags);
            refuse_tags(v, diags);
        }),
        NodeKind::Scalar { .. } => {}
    }
}

fn read_metadata(v: &Val) -> Metadata {
    let text = |k: &str| match v.get(k) {
        Some(Val::Str(t)) => Some(t.clone()),
        _ => None,
    };
    Metadata { pipeline_arn: text("pipelineArn"), created: text("created"), updated: text("updated") }
}

fn sorted(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diags.sort_by_key(|d| d.span.offset);
    diags
}

fn read_template(source: &str, root: &Node, kind: SourceKind, opts: &ReadOptions) -> Result<Read, ReadError> {
    let scalars = if kind == SourceKind::CloudFormationYaml { Scalars::CloudFormation } else { Scalars::AsWritten };
    let mut t = cfn::Template::new(source, root, &opts.params, scalars);
    let pipelines: Vec<(&str, &Node, Span)> = t.resources.iter().filter(|(_, ty, ..)| *ty == "AWS::CodePipeline::Pipeline").map(|(id, _, n, s)| (*id, *n, *s)).collect();
    let (id, resource, id_span) = match (&opts.logical_id, pipelines.as_slice()) {
        (_, []) => return Err(ReadError::NotAPipeline("the template has no resource of Type AWS::CodePipeline::Pipeline".into())),
        (Some(wanted), list) => match list.iter().find(|(id, ..)| id == wanted) {
            Some(p) => *p,
            None => return Err(ReadError::NoSuchPipeline { wanted: wanted.clone(), found: list.iter().map(|(id, ..)| id.to_string()).collect() }),
        },
        (None, [one]) => *one,
        (None, list) => return Err(ReadError::ChooseOne(list.iter().map(|(id, _, s)| (id.to_string(), *s)).collect())),
    };
    let mut diags = Vec::new();
    let get = |k: &str| match &resource.kind {
        NodeKind::Map(e) => e.iter().find(|(key, _)| key.as_scalar() == Some(k)).map(|(_, v)| v),
        _ => None,
    };
    if let Some(cond) = get("Condition").and_then(Node::as_scalar) {
        match t.condition(cond, get("Condition").map_or(id_span, |c| c.span)) {
            Ok(true) => {}
            Ok(false) => diags.push(
                Diagnostic::warning("W2001", format!("the pipeline {id} is created only when the condition `{cond}` holds, and with these parameters it does not"), id_span)
                    .with_help("kiln reads it all the same; pass the parameters that make the condition hold (--param NAME=VALUE) to read the pipeline CloudFormation would create"),
            ),
            Err(params) => diags.push(
                Diagnostic::warning("W2001", format!("the pipeline {id} is created only when the condition `{cond}` holds, which depends on {}", params.join(", ")), id_span)
                    .with_help("kiln reads it all the same; pass those values with --param NAME=VALUE"),
            ),
        }
    }
    if let Some(NodeKind::Map(e)) = root_get(root, "Transform").map(|_| &root.kind)
        && let Some((k, _)) = e.iter().find(|(k, _)| k.as_scalar() == Some("Transform"))
    {
        diags.push(Diagnostic::warning("W2002", "kiln does not apply the template's Transform; the pipeline is read as written".into(), k.span));
    }
    let Some(props) = get("Properties") else {
        return Err(ReadError::NotAPipeline(format!("the pipeline resource {id} (line {}) has no Properties", id_span.line)));
    };
    let val = t.value(props);
    let mut b = Builder::new(Style::CloudFormation);
    let mut pipeline = b.pipeline(&val).unwrap_or_default();
    if val.get("Name").is_none() {
        // kiln proposal: CloudFormation generates `stack-LogicalId-RANDOM`; kiln names it by
        // the logical id.
        pipeline.name = Text::new(id.to_string(), id_span);
        pipeline.span = id_span;
    }
    diags.append(&mut t.diags);
    diags.append(&mut b.diags);
    if let Some(d) = unresolved_diagnostic(&mut t.unresolved, &b.structural) {
        diags.push(d);
    }
    let definition = Definition { pipeline, source: kind, logical_id: Some(id.to_string()), metadata: None, unresolved: t.unresolved };
    Ok(Read { definition, diagnostics: sorted(diags) })
}

fn root_get<'n>(root: &'n Node, key: &str) -> Option<&'n Node> {
    match &root.kind {
        NodeKind::Map(e) => e.iter().find(|(k, _)| k.as_scalar() == Some(key)).map(|(_, v)| v),
        _ => None,
    }
}

/// One message for every unresolved intrinsic: an error when the structure (names, types,
/// artifacts, run orders) depends on one, else a warning (kiln can validate without them).
fn unresolved_diagnostic(list: &mut [Unresolved], structural: &std::collections::BTreeSet<String>) -> Option<Diagnostic> {
    list.sort_by_key(|u| u.span.offset);
    let list = &*list;
    let first = list.first()?;
    let blocking: Vec<&Unresolved> = list.iter().filter(|u| u.params.iter().any(|p| structural.contains(p))).collect();
    let mut params: Vec<&str> = list.iter().flat_map(|u| u.params.iter().map(String::as_str)).collect();
    params.sort();
    params.dedup();
    let (mut d, at) = if let Some(b) = blocking.first() {
        let msg = format!("{} CloudFormation function(s) cannot be resolved offline, and the pipeline's structure depends on {}", list.len(), blocking.len());
        (Diagnostic::error("E2010", msg, b.span), *b)
    } else {
        let msg = format!("{} CloudFormation function(s) cannot be resolved offline; kiln validated the pipeline without their values", list.len());
        (Diagnostic::warning("W2010", msg, first.span), first)
    };
    d = d.with_label(format!("`{}` needs --param {}=…", at.intrinsic, at.params.join("=… --param ")));
    for u in list {
        let mark = if blocking.iter().any(|b| std::ptr::eq(*b, u)) { " (the structure depends on it)" } else { "" };
        d = d.with_note(format!("line {}, column {}: `{}`: {}; pass {}{mark}", u.span.line, u.span.col, u.intrinsic, u.why, u.params.iter().map(|p| format!("--param {p}=VALUE")).collect::<Vec<_>>().join(" ")));
    }
    Some(d.with_help(format!("give the values with --param NAME=VALUE or a parameters file (--params FILE); needed: {}", params.join(", "))))
}
