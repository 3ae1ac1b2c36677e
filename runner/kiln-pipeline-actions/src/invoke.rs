//! Invoke actions (Lambda) as a kiln plugin step: `kiln plugin run PLUGIN SRC --out OUT`, under
//! the same host, grants and limits as a `uses:` step.
//!
//! - The workspace's `lambda: {FunctionName: plugin}` names the plugin: a `.wasm` file or plugin
//!   project inside the workspace directory, a `NAME@sha256:…` pinned in the workspace's
//!   `kiln.lock`, or a built-in's name (`hello-step`).
//! - `UserParameters` (a string in CodePipeline): kiln proposal — when it is a JSON object, its
//!   members are the plugin's `with:` settings (checked against the plugin's schema, as in a
//!   buildspec); any other string is passed as the one setting `UserParameters`. A plugin that
//!   accepts neither fails the action with the schema's message.
//! - The first input artifact is the plugin's read-only `/src` (an empty directory without
//!   inputs). An output artifact named after a directory the plugin wrote gets that directory;
//!   the first output otherwise gets everything it wrote (with `kiln-findings.json`).
//! - The plugin's summary is the action's summary; a failed plugin fails the action.

use std::collections::BTreeMap;
use std::path::Path;

use kiln_pipeline::exec::traits::{ActionContext, ActionFailure, ActionFuture, ActionOutput, InvokeAction};
use kiln_pipeline::workspace::{target, Target};

use crate::{archive, child, Settings};

/// `kiln plugin run`.
pub struct PluginInvoke {
    pub settings: Settings,
}

/// The `--with` arguments for `UserParameters`.
pub fn with_args(user_parameters: Option<&str>) -> Vec<String> {
    let Some(text) = user_parameters else { return Vec::new() };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().map(|(k, v)| format!("--with={k}={}", match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })).collect(),
        _ => vec![format!("--with=UserParameters={text}")],
    }
}

fn job(msg: impl Into<String>) -> ActionFailure {
    ActionFailure::job_failed(msg)
}

impl PluginInvoke {
    async fn invoke_inner(&self, ctx: &ActionContext) -> Result<ActionOutput, ActionFailure> {
        let s = &self.settings;
        let (function, plugin) = match target(&ctx.action, &s.workspace) {
            Ok(Target::Invoke { function, plugin }) => (function, plugin),
            Ok(_) => return Err(ActionFailure::configuration("not an Invoke action")),
            Err(why) => return Err(ActionFailure::configuration(why)),
        };
        let scratch = ctx.output_dir.join(".kiln-work");
        let src = scratch.join("src");
        match ctx.inputs.first() {
            Some(input) => {
                let (zip, d) = (input.path.clone(), src.clone());
                tokio::task::spawn_blocking(move || archive::unzip_into(&zip, &d)).await.map_err(|e| job(e.to_string()))?.map_err(job)?;
            }
            None => std::fs::create_dir_all(&src).map_err(|e| job(format!("{}: {e}", src.display())))?,
        }
        let out = scratch.join("out");
        // A path inside the workspace when there is such a file; else a lock-file name or a built-in.
        let on_disk = s.workspace.root.join(&plugin);
        let plugin_arg = if on_disk.exists() {
            let root = s.workspace.root.canonicalize().map_err(|e| job(e.to_string()))?;
            let real = on_disk.canonicalize().map_err(|e| job(format!("{}: {e}", on_disk.display())))?;
            if !real.starts_with(&root) {
                return Err(ActionFailure::configuration(format!("the plugin {} leads out of the workspace directory", on_disk.display())));
            }
            real.display().to_string()
        } else {
            plugin.display().to_string()
        };
        let abs = |p: &Path| std::path::absolute(p).unwrap_or(p.to_path_buf()).display().to_string();
        let mut args = vec!["plugin".into(), "run".into(), plugin_arg, abs(&src), format!("--out={}", abs(&out)), "--json".into()];
        args.extend(with_args(ctx.configuration.get("UserParameters").map(String::as_str)));
        let prefix = format!("[{}/{}]", ctx.stage, ctx.action.name.value);
        let ended = child::run(&s.kiln_exe, &args, &s.workspace.root, &[], &prefix, &s.log).await.map_err(job)?;
        if ended.code != Some(0) {
            return Err(job(format!("the plugin for `{function}` failed: {}", ended.tail.last().cloned().unwrap_or_else(|| format!("exit {:?}", ended.code)))));
        }
        let report: serde_json::Value = serde_json::from_slice(&ended.stdout).map_err(|e| job(format!("kiln plugin run printed no summary: {e}")))?;
        for (i, name) in ctx.outputs.iter().enumerate() {
            let dir = out.join(name);
            let from = if dir.is_dir() { dir } else if i == 0 { out.clone() } else { return Err(job(format!("the plugin wrote no directory `{name}` for that output artifact"))) };
            archive::zip_dir(&from, &ctx.output_dir.join(name)).map_err(job)?;
        }
        let mut details = BTreeMap::new();
        if let Some(sha) = report.get("sha256").and_then(|v| v.as_str()) {
            details.insert("pluginSha256".to_string(), sha.to_string());
        }
        if let Some(n) = report.get("findings").and_then(|v| v.as_array()) {
            details.insert("findings".to_string(), n.len().to_string());
        }
        let summary = report.get("summary").and_then(|v| v.as_str()).map(str::to_string).or_else(|| Some(format!("plugin for {function} succeeded")));
        Ok(ActionOutput { summary, variables: BTreeMap::new(), external_id: report.get("plugin").and_then(|v| v.as_str()).map(str::to_string), details })
    }
}

impl InvokeAction for PluginInvoke {
    fn invoke<'a>(&'a self, ctx: &'a ActionContext) -> ActionFuture<'a> {
        Box::pin(self.invoke_inner(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::with_args;

    #[test]
    fn user_parameters_are_settings_when_an_object_else_one_string() {
        assert!(with_args(None).is_empty());
        assert_eq!(with_args(Some(r#"{"pattern":"FIXME","n":3}"#)), ["--with=n=3", "--with=pattern=FIXME"]);
        assert_eq!(with_args(Some("deploy to staging")), ["--with=UserParameters=deploy to staging"]);
        assert_eq!(with_args(Some("[1,2]")), ["--with=UserParameters=[1,2]"]);
    }
}
