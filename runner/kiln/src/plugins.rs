//! The engine's [`PluginRunner`] over the wasmtime host (`kiln-host`): resolve a `uses:`
//! reference (built-in, path, pinned digest), check `with:` against the plugin's schema, grant the
//! intersection of what it asks and the default policy, run it confined, and report.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Instant;

use kiln_engine::{PluginOutput, PluginRequest, PluginRun, PluginRunner};
use kiln_host::{builtin, Grants, Host, HostConfig, PluginSource, Policy, StepInvocation};
use kiln_spec::PluginRef;

/// Runs `uses:` steps with one wasmtime host per build (compiled components cached on disk).
pub struct HostRunner {
    host: Host,
    base_dir: PathBuf,
}

impl HostRunner {
    /// A runner whose compile cache lives in `cache_dir`; relative plugin paths resolve against `base_dir`.
    pub fn new(cache_dir: PathBuf, base_dir: PathBuf) -> anyhow::Result<HostRunner> {
        let host = Host::new(HostConfig { cache_dir: Some(cache_dir), ..Default::default() })?;
        Ok(HostRunner { host, base_dir })
    }

    fn source(&self, uses: &str) -> Result<PluginSource, String> {
        match PluginRef::parse(uses)? {
            PluginRef::Builtin(name) => builtin::get(&name).ok_or_else(|| format!("no built-in plugin named `{name}` (built-ins: {})", builtin::NAMES.join(", "))),
            PluginRef::Path { path, sha256 } => {
                let p = self.base_dir.join(path);
                let src = PluginSource::path(p);
                Ok(match sha256 {
                    Some(d) => src.pinned(&d),
                    None => src,
                })
            }
            PluginRef::Pinned { name, .. } => Err(format!("`{uses}`: plugins pinned by name need a kiln.lock entry for `{name}`, which kiln does not read yet; use a path with @sha256:")),
        }
    }

    async fn run_one(&self, req: PluginRequest<'_>) -> PluginRun {
        let started = Instant::now();
        let mut run = PluginRun { uses: req.plugin.to_string(), outcome: "error".into(), ..Default::default() };
        let loaded = match self.source(req.plugin).and_then(|s| self.host.load(s).map_err(|e| e.to_string())) {
            Ok(l) => l,
            Err(e) => {
                run.message = Some(e);
                return run;
            }
        };
        run.name = loaded.manifest.name.clone();
        run.version = loaded.manifest.version.clone();
        run.sha256 = loaded.sha256.clone();
        run.world = format!("{:?}", loaded.manifest.world).to_lowercase();
        let problems = loaded.manifest.validate_config(req.with);
        if !problems.is_empty() {
            run.message = Some(format!("invalid `with:` settings: {}", problems.join("; ")));
            return run;
        }
        let grants = Grants::intersect(&loaded.manifest.capabilities, &Policy::default());
        run.grants = vec![grants.explain()];
        run.denied = grants.denied().iter().map(|d| format!("{d:?}")).collect();
        let mut inv = StepInvocation::new(req.src_dir, req.out_dir, grants);
        inv.config = req.with.clone();
        inv.limits.timeout = inv.limits.timeout.min(req.deadline.saturating_duration_since(Instant::now()));
        let outcome = loaded.run_step(&inv).await;
        run.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok(o) => {
                run.findings = o.findings.len();
                let mut by: BTreeMap<String, usize> = BTreeMap::new();
                for f in &o.findings {
                    *by.entry(format!("{:?}", f.severity).to_lowercase()).or_default() += 1;
                }
                run.findings_by_severity = by.into_iter().collect();
                run.outputs = o.outputs.iter().map(|f| PluginOutput { path: f.path.clone(), sha256: f.sha256.clone(), media_type: Some(f.media_type.clone()) }).collect();
                run.logs = o.logs.iter().map(|l| l.message.clone()).collect();
                run.message = (!o.summary.is_empty()).then(|| o.summary.clone());
                run.outcome = if gate_fails(req.with, &run.findings_by_severity) { "failed".into() } else { "succeeded".into() };
                if run.outcome == "failed" {
                    run.message = Some(format!("findings at or above `fail-on: {}`", req.with["fail-on"].as_str().unwrap_or("")));
                }
            }
            Err(e) => run.message = Some(e.to_string()),
        }
        run
    }
}

/// `with: { fail-on: SEVERITY }`: fail the step when a finding is at least that severe.
fn gate_fails(with: &serde_json::Value, by_severity: &[(String, usize)]) -> bool {
    const ORDER: [&str; 5] = ["note", "low", "medium", "high", "critical"];
    let Some(threshold) = with.get("fail-on").and_then(|v| v.as_str()).and_then(|t| ORDER.iter().position(|o| *o == t)) else {
        return false;
    };
    by_severity.iter().any(|(s, n)| *n > 0 && ORDER.iter().position(|o| o == s).is_some_and(|i| i >= threshold))
}

impl PluginRunner for HostRunner {
    fn run<'a>(&'a self, req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>> {
        Box::pin(self.run_one(req))
    }
}
