//! `kiln pipeline …`: CodePipeline definitions. `validate` reads a definition (get-pipeline JSON,
//! a CloudFormation template, kiln pipeline YAML; see `kiln_pipeline::read`), checks it against
//! CodePipeline's rules, and prints each stage with its actions and whether kiln can run each
//! (with `--workspace`, what it would run).
//!
//! Exit codes: 0 valid (warnings allowed), 1 problems found, 2 the file could not be read (not
//! there, not a regular file, not YAML/JSON, no pipeline in it, Terraform, a template with
//! several pipelines and no `--pipeline`), or a bad `--param`/workspace file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kiln_pipeline::exec::traits::kind_of;
use kiln_pipeline::workspace::{parse_workspace, runnable, Target, Workspace};
use kiln_pipeline::{read_file, validate, Definition, Params, ReadError, ReadOptions};

pub use crate::pipeline_run::RunCommand;
use kiln_spec::Diagnostic;

use crate::validate::print_diagnostics;

#[derive(Subcommand)]
pub enum PipelineCommand {
    /// Check a pipeline definition against CodePipeline's rules and show what kiln would run:
    /// exit 0 valid, 1 problems found, 2 the file could not be read.
    Validate(ValidateArgs),
    #[command(flatten)]
    Run(RunCommand),
    /// Follow the Source actions' local repositories and print which run each push would start
    /// and why (V2 trigger filters); it does not start runs.
    Watch(crate::pipeline_watch::WatchArgs),
}

#[derive(Args)]
pub struct ValidateArgs {
    /// get-pipeline JSON, a CloudFormation template (YAML or JSON), or kiln pipeline YAML.
    pub file: PathBuf,
    /// The workspace file mapping cloud names to local repositories, builds, deployments, plugins.
    #[arg(long)]
    pub workspace: Option<PathBuf>,
    /// A value for what the template cannot resolve offline: a parameter, `Resource.Attribute`
    /// (Fn::GetAtt), an export name (Fn::ImportValue), a pseudo parameter (AWS::Region).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A parameters file: `NAME: value`, the AWS CLI's [{ParameterKey, ParameterValue}], or
    /// {"Parameters": {...}}.
    #[arg(long = "params", value_name = "FILE")]
    pub params_file: Option<PathBuf>,
    /// The logical id of the AWS::CodePipeline::Pipeline to read, when a template has several.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: PipelineCommand) -> ExitCode {
    match cmd {
        PipelineCommand::Validate(args) => validate_cmd(&args),
        PipelineCommand::Run(cmd) => crate::pipeline_run::run(cmd),
        PipelineCommand::Watch(args) => crate::pipeline_watch::run(&args),
    }
}

pub fn cannot(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

/// Read a definition with its `--param`s: (the file's text, what was read), or the exit code
/// after the error was printed.
pub fn load(file: &Path, param_args: &[String], params_file: Option<&Path>, pipeline: Option<&str>) -> Result<(String, kiln_pipeline::Read), ExitCode> {
    let mut params = Params::new();
    for p in param_args {
        if let Err(e) = params.add_arg(p) {
            return Err(crate::exit::usage(&e.to_string()));
        }
    }
    if let Some(f) = params_file
        && let Err(e) = params.add_file(f)
    {
        return Err(cannot(&e.to_string()));
    }
    let opts = ReadOptions { params, logical_id: pipeline.map(str::to_string) };
    match read_file(file, None, &opts) {
        Ok(r) => Ok(r),
        Err(e) => {
            if let ReadError::Input(_) = e {
                return Err(cannot(&e.to_string()));
            }
            let text = std::fs::read_to_string(file).unwrap_or_default();
            print_diagnostics(file, &text, e.diagnostics());
            Err(cannot(&format!("{}: {e}", file.display())))
        }
    }
}

/// Read a workspace file: (the workspace, its diagnostics, its text).
pub fn load_workspace(path: &Path) -> Result<(Workspace, Vec<Diagnostic>, String), ExitCode> {
    match kiln_fs::read_input_to_string(path, kiln_fs::limits::CONFIG, "workspace file") {
        Ok(text) => {
            let root = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let (ws, diags) = parse_workspace(&text, root);
            Ok((ws, diags, text))
        }
        Err(e) => Err(cannot(&e.to_string())),
    }
}

fn validate_cmd(args: &ValidateArgs) -> ExitCode {
    let (source, read) = match load(&args.file, &args.params, args.params_file.as_deref(), args.pipeline.as_deref()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (workspace, ws_diags, ws_source) = match &args.workspace {
        None => (None, Vec::new(), String::new()),
        Some(path) => match load_workspace(path) {
            Ok((ws, d, t)) => (Some(ws), d, t),
            Err(code) => return code,
        },
    };
    let mut diags = read.diagnostics.clone();
    diags.extend(validate(&read.definition));
    diags.sort_by_key(|d| d.span.offset);
    let errors = diags.iter().chain(&ws_diags).filter(|d| d.is_error()).count();
    let warnings = diags.len() + ws_diags.len() - errors;
    if args.json {
        print_json(args, &read.definition, workspace.as_ref(), &diags, &ws_diags);
    } else {
        print_summary(args, &read.definition, workspace.as_ref());
        print_diagnostics(&args.file, &source, &diags);
        if let Some(ws) = &args.workspace {
            print_diagnostics(ws, &ws_source, &ws_diags);
        }
        let notes = if warnings > 0 { format!(" ({warnings} warning(s))") } else { String::new() };
        if errors > 0 {
            eprintln!("{}: invalid: {errors} error(s){notes}", args.file.display());
        } else {
            println!("{}: valid{notes}", args.file.display());
        }
    }
    if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Whether kiln can run each action: with a workspace, what it maps to; without, whether kiln
/// runs that kind of action at all.
fn runnable_column(def: &Definition, ws: Option<&Workspace>) -> Vec<Result<String, String>> {
    match ws {
        Some(ws) => runnable(def, ws)
            .into_iter()
            .map(|r| {
                r.target.map(|t| match t {
                    Target::Source { target, .. } => format!("git {}{}", ws.root.join(&target.repository).display(), target.branch.map(|b| format!(" ({b})")).unwrap_or_default()),
                    Target::Build { target, .. } => format!("kiln build {}{}", ws.root.join(&target.path).join(&target.buildspec).display(), if target.batch { " (batch)" } else { "" }),
                    Target::Deploy { target, .. } => format!("kiln deploy --group {}", ws.root.join(&target.group).display()),
                    Target::Invoke { plugin, .. } => format!("plugin {}", ws.root.join(plugin).display()),
                    Target::Approval => "manual approval".into(),
                })
            })
            .collect(),
        None => def.pipeline.actions().map(|(_, _, a)| kind_of(a).map(|k| format!("kiln runs {k:?} actions (map it with --workspace)"))).collect(),
    }
}

fn print_summary(args: &ValidateArgs, def: &Definition, ws: Option<&Workspace>) {
    let p = &def.pipeline;
    let actions: usize = p.stages.iter().map(|s| s.actions.len()).sum();
    let kind = match p.kind() {
        kiln_pipeline::PipelineType::V1 => "V1",
        kiln_pipeline::PipelineType::V2 => "V2",
    };
    let logical = def.logical_id.as_ref().map(|l| format!(" (resource {l})")).unwrap_or_default();
    println!("{}: {}{logical}, pipeline `{}`, {kind}, {}, {} stage(s), {actions} action(s)", args.file.display(), def.source.describe(), p.name.value, p.mode().api_name(), p.stages.len());
    let column = runnable_column(def, ws);
    let mut rows = column.iter();
    for stage in &p.stages {
        println!("stage {}", stage.name.value);
        for a in &stage.actions {
            let t = &a.action_type_id;
            let list = |v: Vec<&str>| if v.is_empty() { "-".to_string() } else { v.join(", ") };
            let ins = list(a.input_artifacts.iter().map(|i| i.value.as_str()).collect());
            let outs = list(a.output_artifacts.iter().map(|o| o.name.value.as_str()).collect());
            let run = match rows.next() {
                Some(Ok(what)) => format!("runnable: {what}"),
                Some(Err(why)) => format!("not runnable: {why}"),
                None => String::new(),
            };
            println!("  {:<24} {}/{}/{} v{}  runOrder {}  in: {ins}  out: {outs}\n  {:<24} {run}", a.name.value, t.category.value, t.owner.value, t.provider.value, t.version.value, a.run_order(), "");
        }
    }
}

fn print_json(args: &ValidateArgs, def: &Definition, ws: Option<&Workspace>, diags: &[Diagnostic], ws_diags: &[Diagnostic]) {
    let column = runnable_column(def, ws);
    let actions: Vec<serde_json::Value> = def
        .pipeline
        .actions()
        .zip(column)
        .map(|((_, s, a), r)| {
            serde_json::json!({
                "stage": s.name.value, "action": a.name.value, "actionTypeId": a.action_type_id, "runOrder": a.run_order(),
                "inputArtifacts": a.input_artifacts.iter().map(|i| &i.value).collect::<Vec<_>>(),
                "outputArtifacts": a.output_artifacts.iter().map(|o| &o.name.value).collect::<Vec<_>>(),
                "runnable": r.is_ok(), "target": r.as_ref().ok(), "reason": r.as_ref().err(),
            })
        })
        .collect();
    let errors = diags.iter().chain(ws_diags).any(|d| d.is_error());
    let out = serde_json::json!({
        "file": args.file, "source": def.source, "logicalId": def.logical_id, "pipeline": def.pipeline.name.value,
        "valid": !errors, "actions": actions, "diagnostics": diags, "workspaceDiagnostics": ws_diags, "unresolved": def.unresolved,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
