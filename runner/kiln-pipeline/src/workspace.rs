//! The workspace file: which local things stand for the cloud names in a pipeline definition,
//! and, for every action, whether kiln can run it and why not.
//!
//! ```yaml
//! # kiln-workspace.yml — paths are relative to this file's directory and must stay inside it
//! version: 1
//! sources:                       # a Source action → a local git repository (+ branch)
//!   my-repo:                     # CodeCommit RepositoryName, CodeStarSourceConnection
//!     repository: .              #   FullRepositoryId, GitHub `Owner/Repo`, S3 `Bucket/Key`
//!     branch: main               # default: the action's BranchName / Branch
//! codebuild:                     # CodeBuild ProjectName → a directory and its buildspec
//!   my-project:
//!     path: services/api
//!     buildspec: buildspec.yml   # relative to `path`; default buildspec.yml
//!     env: {STAGE: local}        # environment overrides
//!     batch: false               # run batch builds (BatchEnabled) as batches
//! codedeploy:                    # ApplicationName → DeploymentGroupName → deployment group file
//!   my-app:
//!     staging: deploy/staging.yml          # the group file alone, or:
//!     production:
//!       group: deploy/production.yml
//!       config: CodeDeployDefault.ECSAllAtOnce   # override deploymentConfigName
//!       time-scale: 0.01         # `kiln deploy --time-scale` (compressed waits, for demos and tests)
//!       allow-unverified: false  # deploy an artifact no signed build provenance vouches for
//! lambda:                        # Invoke (Lambda FunctionName) → a kiln plugin
//!   notify: plugins/notify.wasm
//! ```
//!
//! Security: a path in the file is the file's, not the user's: absolute paths and `..` are
//! refused here, and whoever opens them (the CLI) reads them with
//! `kiln_fs::read_input_within(workspace dir, …)` so a link cannot lead out of the tree either.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use kiln_spec::{Diagnostic, Span};
use kiln_yaml::{Node, NodeKind};
use serde::Serialize;

use crate::model::{Action, Category, Text};
use crate::read::Definition;

/// A CodeBuild project's local build.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BuildTarget {
    pub path: PathBuf,
    pub buildspec: PathBuf,
    pub env: BTreeMap<String, String>,
    pub batch: bool,
}

/// A CodeDeploy deployment group's local deployment (`kiln deploy`). kiln proposal: the
/// deployment's project directory (where `.kiln/deployments/` records go) is not configurable:
/// it is the pipeline's own project directory (`kiln pipeline run --dir`), whose `.kiln/` also
/// holds the builds and the pipeline store, so one records directory holds every document a
/// run's release record names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeployTarget {
    /// The deployment group file.
    pub group: PathBuf,
    /// `--config`: the deployment configuration instead of the group's.
    pub config: Option<String>,
    /// `--time-scale`: real seconds per nominal second (waits compressed).
    pub time_scale: Option<f64>,
    /// Deploy an artifact without verified build provenance (`--allow-unverified`, recorded).
    pub allow_unverified: bool,
}

impl DeployTarget {
    /// A group file with the defaults.
    pub fn file(group: impl Into<PathBuf>) -> Self {
        DeployTarget { group: group.into(), config: None, time_scale: None, allow_unverified: false }
    }
}

/// A source's local repository.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceTarget {
    pub repository: PathBuf,
    pub branch: Option<String>,
}

/// The parsed workspace: every path relative to [`Workspace::root`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Workspace {
    /// The directory of the workspace file; every path is inside it.
    pub root: PathBuf,
    pub sources: BTreeMap<String, SourceTarget>,
    pub codebuild: BTreeMap<String, BuildTarget>,
    /// ApplicationName → DeploymentGroupName → its local deployment.
    pub codedeploy: BTreeMap<String, BTreeMap<String, DeployTarget>>,
    pub lambda: BTreeMap<String, PathBuf>,
}

/// What kiln would run for an action.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Target {
    Source { key: String, target: SourceTarget },
    Build { project: String, target: BuildTarget },
    Deploy { application: String, group: String, target: DeployTarget },
    Invoke { function: String, plugin: PathBuf },
    Approval,
}

/// One action and whether kiln can run it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Runnable {
    pub stage: String,
    pub action: String,
    /// The target, or why kiln cannot run the action.
    pub target: Result<Target, String>,
}

/// The file's keys.
const TOP: [&str; 5] = ["version", "sources", "codebuild", "codedeploy", "lambda"];

/// Parse a workspace file's text; `root` is its directory. Problems are located diagnostics.
pub fn parse_workspace(source: &str, root: &Path) -> (Workspace, Vec<Diagnostic>) {
    let mut ws = Workspace { root: root.to_path_buf(), ..Default::default() };
    let mut d = Vec::new();
    let node = match kiln_spec::yaml::parse(source) {
        Ok(Some(n)) => n,
        Ok(None) => return (ws, d),
        Err(e) => return (ws, e),
    };
    let Some(top) = map(&node, "the workspace", &mut d) else { return (ws, d) };
    for (k, v) in top {
        match k.as_str() {
            "version" => {
                if v.as_scalar() != Some("1") {
                    d.push(Diagnostic::error("E2601", "the workspace version must be 1".into(), v.span).with_help("write `version: 1`"));
                }
            }
            "sources" => {
                for (name, n) in map(v, "sources", &mut d).unwrap_or_default() {
                    let Some(fields) = fields(n, &name, &["repository", "branch"], &mut d) else { continue };
                    if let Some(repository) = path_field(&fields, "repository", &name, n.span, &mut d) {
                        let branch = fields.get("branch").and_then(|b| b.as_scalar()).map(str::to_string);
                        ws.sources.insert(name, SourceTarget { repository, branch });
                    }
                }
            }
            "codebuild" => {
                for (name, n) in map(v, "codebuild", &mut d).unwrap_or_default() {
                    let Some(fields) = fields(n, &name, &["path", "buildspec", "env", "batch"], &mut d) else { continue };
                    let Some(path) = path_field(&fields, "path", &name, n.span, &mut d) else { continue };
                    let buildspec = match fields.get("buildspec") {
                        Some(b) => match b.as_scalar().map(safe_relative) {
                            Some(Ok(p)) => p,
                            _ => {
                                d.push(bad_path(b, "buildspec"));
                                continue;
                            }
                        },
                        None => PathBuf::from("buildspec.yml"),
                    };
                    let mut env = BTreeMap::new();
                    if let Some(e) = fields.get("env") {
                        for (k, v) in map(e, "env", &mut d).unwrap_or_default() {
                            env.insert(k, v.as_scalar().unwrap_or_default().to_string());
                        }
                    }
                    let batch = fields.get("batch").and_then(|b| b.as_scalar()) == Some("true");
                    ws.codebuild.insert(name, BuildTarget { path, buildspec, env, batch });
                }
            }
            "codedeploy" => {
                for (app, groups) in map(v, "codedeploy", &mut d).unwrap_or_default() {
                    for (group, n) in map(groups, &app, &mut d).unwrap_or_default() {
                        if let Some(t) = deploy_target(n, &group, &mut d) {
                            ws.codedeploy.entry(app.clone()).or_default().insert(group, t);
                        }
                    }
                }
            }
            "lambda" => {
                for (function, plugin) in map(v, "lambda", &mut d).unwrap_or_default() {
                    match plugin.as_scalar().map(safe_relative) {
                        Some(Ok(p)) => {
                            ws.lambda.insert(function, p);
                        }
                        _ => d.push(bad_path(plugin, "plugin")),
                    }
                }
            }
            other => d.push(
                Diagnostic::error("E2602", format!("unknown workspace key `{other}`"), k_span(&node, other))
                    .with_help(crate::validate::suggest(other, &TOP)),
            ),
        }
    }
    (ws, d)
}

/// A `codedeploy` group entry: the group file's path, or a mapping with `group` and options.
fn deploy_target(n: &Node, name: &str, d: &mut Vec<Diagnostic>) -> Option<DeployTarget> {
    if !matches!(n.kind, NodeKind::Map(_)) {
        return match n.as_scalar().map(safe_relative) {
            Some(Ok(p)) => Some(DeployTarget::file(p)),
            _ => {
                d.push(bad_path(n, "deployment group file"));
                None
            }
        };
    }
    let fields = fields(n, name, &["group", "config", "time-scale", "allow-unverified"], d)?;
    let mut t = DeployTarget::file(path_field(&fields, "group", name, n.span, d)?);
    t.config = fields.get("config").and_then(|c| c.as_scalar()).map(str::to_string);
    if let Some(v) = fields.get("time-scale") {
        match v.as_scalar().and_then(|s| s.parse::<f64>().ok()).filter(|f| *f > 0.0 && *f <= 1000.0) {
            Some(f) => t.time_scale = Some(f),
            None => {
                d.push(Diagnostic::error("E2606", format!("`time-scale` must be a number in (0, 1000], found `{}`", v.as_scalar().unwrap_or_default()), v.span).with_help("0.01 makes a 5-minute wait last 3 s"));
                return None;
            }
        }
    }
    if let Some(v) = fields.get("allow-unverified") {
        match v.as_scalar() {
            Some("true") => t.allow_unverified = true,
            Some("false") => {}
            _ => {
                d.push(Diagnostic::error("E2606", "`allow-unverified` must be true or false".into(), v.span));
                return None;
            }
        }
    }
    Some(t)
}

fn k_span(node: &Node, key: &str) -> Span {
    match &node.kind {
        NodeKind::Map(e) => e.iter().find(|(k, _)| k.as_scalar() == Some(key)).map_or(node.span, |(k, _)| k.span),
        _ => node.span,
    }
}

fn map<'n>(n: &'n Node, what: &str, d: &mut Vec<Diagnostic>) -> Option<Vec<(String, &'n Node)>> {
    match &n.kind {
        NodeKind::Map(e) => Some(e.iter().map(|(k, v)| (k.as_scalar().unwrap_or_default().to_string(), v)).collect()),
        _ if n.is_null() => Some(Vec::new()),
        _ => {
            d.push(Diagnostic::error("E2603", format!("`{what}` must be a mapping, found {}", n.describe()), n.span));
            None
        }
    }
}

fn fields<'n>(n: &'n Node, what: &str, allowed: &[&str], d: &mut Vec<Diagnostic>) -> Option<BTreeMap<String, &'n Node>> {
    let entries = map(n, what, d)?;
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        if allowed.contains(&k.as_str()) {
            out.insert(k, v);
        } else {
            d.push(Diagnostic::error("E2602", format!("unknown key `{k}` in `{what}`"), k_span(n, &k)).with_help(crate::validate::suggest(&k, allowed)));
        }
    }
    Some(out)
}

fn path_field(fields: &BTreeMap<String, &Node>, key: &str, what: &str, span: Span, d: &mut Vec<Diagnostic>) -> Option<PathBuf> {
    let Some(n) = fields.get(key) else {
        d.push(Diagnostic::error("E2604", format!("`{what}` has no `{key}`"), span));
        return None;
    };
    match n.as_scalar().map(safe_relative) {
        Some(Ok(p)) => Some(p),
        _ => {
            d.push(bad_path(n, key));
            None
        }
    }
}

fn bad_path(n: &Node, what: &str) -> Diagnostic {
    Diagnostic::error("E2605", format!("the {what} path `{}` is not a relative path inside the workspace", n.as_scalar().unwrap_or_default()), n.span)
        .with_help("paths in a workspace file are relative to its directory and may not be absolute or use `..`")
}

/// A path a workspace file may hold: relative and without `..`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsafePath;

/// A path from the file: relative, without `..`, normalised (`./a//b` → `a/b`; `.` → empty).
pub fn safe_relative(s: &str) -> Result<PathBuf, UnsafePath> {
    let p = Path::new(s);
    if s.is_empty() || s.contains('\0') {
        return Err(UnsafePath);
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(UnsafePath),
        }
    }
    Ok(out)
}

/// The workspace key of a source action: CodeCommit `RepositoryName`, CodeStarSourceConnection
/// `FullRepositoryId`, GitHub `Owner/Repo`, S3 `Bucket/Key`.
fn source_key(a: &Action) -> Result<String, String> {
    let get = |k: &str| a.config(k).ok_or_else(|| format!("no `{k}` in its configuration"));
    let keys: Vec<&Text> = match a.provider() {
        "CodeCommit" => vec![get("RepositoryName")?],
        "CodeStarSourceConnection" => vec![get("FullRepositoryId")?],
        "GitHub" => vec![get("Owner")?, get("Repo")?],
        "S3" => vec![get("S3Bucket")?, get("S3ObjectKey")?],
        other => return Err(format!("kiln does not run {other} source actions (it runs CodeCommit, CodeStarSourceConnection, GitHub and S3 sources from a local git repository)")),
    };
    if let Some(t) = keys.iter().find(|t| t.is_unresolved()) {
        return Err(format!("its `{}` needs --param {}", t.value, t.needs.join(", ")));
    }
    Ok(keys.iter().map(|t| t.value.as_str()).collect::<Vec<_>>().join("/"))
}

fn key_of<'a>(a: &'a Action, key: &str) -> Result<&'a str, String> {
    match a.config(key) {
        None => Err(format!("no `{key}` in its configuration")),
        Some(t) if t.is_unresolved() => Err(format!("its {key} needs --param {}", t.needs.join(", "))),
        Some(t) => Ok(&t.value),
    }
}

fn unmapped(section: &str, name: &str) -> String {
    format!("`{name}` is not in the workspace's `{section}` (add it to map it to a local {})", match section {
        "sources" => "git repository",
        "codebuild" => "directory and buildspec",
        "codedeploy" => "deployment group file",
        _ => "plugin",
    })
}

/// Whether kiln can run each action of `def` with `ws`, and what it would run.
pub fn runnable(def: &Definition, ws: &Workspace) -> Vec<Runnable> {
    let mut out = Vec::new();
    for (_, stage, a) in def.pipeline.actions() {
        out.push(Runnable { stage: stage.name.value.clone(), action: a.name.value.clone(), target: target(a, ws) });
    }
    out
}

/// What kiln would run for one action with `ws`, or why it cannot.
pub fn target(a: &Action, ws: &Workspace) -> Result<Target, String> {
    if let Some((k, v)) = a.configuration.iter().find(|(_, v)| v.is_unresolved()) {
        return Err(format!("its configuration `{}` needs --param {}", k.value, v.needs.join(", ")));
    }
    let provider = a.provider();
    match (a.category(), provider) {
        (Some(Category::Source), _) => {
            let key = source_key(a)?;
            let mut target = ws.sources.get(&key).cloned().ok_or_else(|| unmapped("sources", &key))?;
            if target.branch.is_none() {
                target.branch = a.config("BranchName").or_else(|| a.config("Branch")).map(|b| b.value.clone());
            }
            Ok(Target::Source { key, target })
        }
        (Some(Category::Build | Category::Test), "CodeBuild") => {
            let project = key_of(a, "ProjectName")?;
            let target = ws.codebuild.get(project).cloned().ok_or_else(|| unmapped("codebuild", project))?;
            Ok(Target::Build { project: project.to_string(), target })
        }
        (Some(Category::Deploy), "CodeDeploy") => {
            let (app, group) = (key_of(a, "ApplicationName")?, key_of(a, "DeploymentGroupName")?);
            let target = ws.codedeploy.get(app).and_then(|g| g.get(group)).cloned().ok_or_else(|| unmapped("codedeploy", &format!("{app}/{group}")))?;
            Ok(Target::Deploy { application: app.to_string(), group: group.to_string(), target })
        }
        (Some(Category::Invoke), "Lambda") => {
            let function = key_of(a, "FunctionName")?;
            let plugin = ws.lambda.get(function).cloned().ok_or_else(|| unmapped("lambda", function))?;
            Ok(Target::Invoke { function: function.to_string(), plugin })
        }
        (Some(Category::Approval), "Manual") => Ok(Target::Approval),
        (Some(cat), p) => Err(format!("kiln does not run {p} {} actions", cat.name())),
        (None, _) => Err(format!("`{}` is not an action category", a.action_type_id.category.value)),
    }
}

#[cfg(test)]
mod tests;
