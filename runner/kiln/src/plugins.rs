//! The engine's [`PluginRunner`] over the wasmtime host (`kiln-host`): resolve a `uses:`
//! reference (built-in, path, or `name@sha256:…` through `kiln.lock`), check `with:` against the
//! plugin's schema, grant the intersection of what it asks and the buildspec's `kiln: plugins:`
//! policy, run it confined, and report.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiln_engine::{PluginOutput, PluginRequest, PluginRun, PluginRunner};
use kiln_host::{builtin, Grants, LoadedPlugin, PluginSource, Policy, StepInvocation};
use kiln_spec::{PluginAllow, PluginRef, PluginsPolicy};

use crate::lockfile::{Lock, LOCK_FILE};
use crate::warm::WarmHost;

const SEVERITIES: [&str; 5] = ["note", "low", "medium", "high", "critical"];

/// Resolve a `uses:` value: built-ins by name, paths against `base_dir`, `name@sha256:…` through
/// the `kiln.lock` in `lock_dir`. Pinned digests are checked when the plugin is read.
pub fn resolve(uses: &str, base_dir: &Path, lock_dir: &Path) -> Result<PluginSource, String> {
    match PluginRef::parse(uses)? {
        PluginRef::Builtin(name) => builtin::get(&name).ok_or_else(|| {
            format!("no built-in plugin named `{name}` (built-ins: {}); a third-party plugin is a path to a .wasm or `NAME@sha256:…` with a kiln.lock entry", builtin::NAMES.join(", "))
        }),
        PluginRef::Path { path, sha256 } => {
            // A path the buildspec gives relative to the project is read only from inside it;
            // an absolute one names a plugin the operator installed.
            let src = if Path::new(&path).is_absolute() { PluginSource::path(path) } else { PluginSource::path(base_dir.join(path)).within(base_dir) };
            Ok(match sha256 {
                Some(d) => src.pinned(&d),
                None => src,
            })
        }
        PluginRef::Pinned { name, sha256 } => {
            let lock_path = lock_dir.join(LOCK_FILE);
            let lock = Lock::read_within(lock_dir, &lock_path)?;
            let entry = lock.get(&name).ok_or_else(|| {
                format!("`{uses}`: no entry for `{name}` in {}; add one with `kiln plugin lock PATH/TO/{name}.wasm`", lock_path.display())
            })?;
            if entry.sha256 != sha256 {
                return Err(format!(
                    "`{name}`: digest mismatch: the buildspec pins sha256:{sha256} but {} has sha256:{} for it; refusing to run it (update the buildspec or re-run `kiln plugin lock`)",
                    lock_path.display(),
                    entry.sha256
                ));
            }
            let source = PluginSource::path(entry.source_path(&lock_path)?).pinned(&sha256);
            Ok(if Path::new(entry.source.strip_prefix("file://").unwrap_or(&entry.source)).is_absolute() { source } else { source.within(lock_dir) })
        }
    }
}

/// kiln's host policy for one plugin: the defaults of [`Policy`], narrowed or widened by the
/// buildspec's `kiln: plugins:` allowances.
pub fn policy_for(allow: &PluginAllow) -> Policy {
    let d = Policy::default();
    Policy {
        read_source: allow.read_source.unwrap_or(d.read_source),
        write_output: allow.write_output.unwrap_or(d.write_output),
        env: allow.env.as_ref().map(|v| v.iter().map(|s| s.value.clone()).collect()).unwrap_or(d.env),
        precise_clock: allow.precise_clock.unwrap_or(d.precise_clock),
        max_memory: allow.max_memory.unwrap_or(d.max_memory),
        max_timeout: allow.timeout_ms.map(Duration::from_millis).unwrap_or(d.max_timeout),
    }
}

/// Split `with:` into the plugin's config and kiln's own key (`fail-on`, never passed to the
/// plugin); checks its value.
pub fn split_with(with: &serde_json::Value) -> Result<(serde_json::Value, Option<String>), String> {
    let mut config = with.clone();
    let mut fail_on = None;
    if let Some(obj) = config.as_object_mut()
        && let Some(v) = obj.remove("fail-on")
    {
        match v.as_str().filter(|s| SEVERITIES.contains(s)) {
            Some(s) => fail_on = Some(s.to_string()),
            None => return Err(format!("with.fail-on: {v} is not one of {}", SEVERITIES.join(", "))),
        }
    }
    Ok((config, fail_on))
}

/// Runs `uses:` steps with one wasmtime host per build (compiled components cached on disk).
pub struct HostRunner {
    host: Arc<WarmHost>,
    base_dir: PathBuf,
    lock_dir: PathBuf,
    policy: PluginsPolicy,
    env: BTreeMap<String, String>,
}

impl HostRunner {
    /// A runner whose compile cache lives in `cache_dir`; relative plugin paths resolve against
    /// `base_dir`, `kiln.lock` is read from `base_dir`, and the policy is kiln's default.
    pub fn new(host: Arc<WarmHost>, base_dir: PathBuf) -> HostRunner {
        HostRunner { host, lock_dir: base_dir.clone(), base_dir, policy: PluginsPolicy::default(), env: BTreeMap::new() }
    }

    /// Use the buildspec's `kiln: plugins:` policy, its `kiln.lock` (beside `spec_path`), and its
    /// plain `env.variables` as the values of variables a plugin is granted (never secrets).
    pub fn for_spec(mut self, spec: &kiln_spec::BuildSpec, spec_path: &Path) -> HostRunner {
        self.policy = spec.kiln.plugins.clone();
        if let Some(dir) = spec_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            self.lock_dir = dir.to_path_buf();
        }
        self.env = spec.env.variables.iter().map(|e| (e.name.value.clone(), e.value.value.clone())).collect();
        self
    }

    /// Wait for the build's host, resolve `uses` and load it (read, check, compile or take from
    /// the compile cache): kiln's own work, which can take long (a large component's first
    /// compilation), so it runs on a thread of its own and the step's `deadline` bounds the wait.
    /// Past it the thread is left to finish and its result dropped.
    async fn load(&self, uses: &str, deadline: Instant) -> Result<LoadedPlugin, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (warm, uses, base_dir, lock_dir) = (self.host.clone(), uses.to_string(), self.base_dir.clone(), self.lock_dir.clone());
        std::thread::Builder::new()
            .name("kiln-plugin-load".into())
            .spawn(move || {
                let loaded = warm.get().and_then(|h| resolve(&uses, &base_dir, &lock_dir).and_then(|s| h.host.load(s).map_err(|e| e.to_string())));
                let _ = tx.send(loaded);
            })
            .map_err(|e| format!("cannot start a thread to load the plugin: {e}"))?;
        match tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), rx).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(_)) => Err("loading the plugin failed: its thread panicked".into()),
            Err(_) => Err("loading the plugin (reading and compiling it) did not finish before the timeout; kiln stopped waiting for it".into()),
        }
    }

    async fn run_one(&self, req: PluginRequest<'_>) -> PluginRun {
        let started = Instant::now();
        let mut run = PluginRun { uses: req.plugin.to_string(), outcome: "error".into(), ..Default::default() };
        let (config, fail_on) = match split_with(req.with) {
            Ok(x) => x,
            Err(e) => {
                run.message = Some(format!("invalid `with:` settings: {e}"));
                return run;
            }
        };
        let loaded = match self.load(req.plugin, req.deadline).await {
            Ok(l) => l,
            Err(e) => {
                run.message = Some(e);
                return run;
            }
        };
        run.name = loaded.manifest.name.clone();
        run.version = loaded.manifest.version.clone();
        run.sha256 = loaded.sha256.clone();
        run.world = loaded.manifest.world.as_str().to_string();
        let problems = loaded.manifest.validate_config(&config);
        if !problems.is_empty() {
            run.message = Some(format!("invalid `with:` settings: {}", problems.join("; ")));
            return run;
        }
        let policy = policy_for(&self.policy.for_plugin(&loaded.manifest.name));
        let grants = Grants::intersect(&loaded.manifest.capabilities, &policy);
        run.grants = vec![grants.explain()];
        run.denied = grants.denied().iter().map(|d| d.to_string()).collect();
        let mut inv = StepInvocation::new(req.src_dir, req.out_dir, grants);
        inv.env = inv.grants.env.iter().filter_map(|n| self.env.get(n).map(|v| (n.clone(), v.clone()))).collect();
        inv.config = config;
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
                run.outcome = "succeeded".into();
                if let Some(t) = fail_on.filter(|t| gate_fails(t, &run.findings_by_severity)) {
                    run.outcome = "failed".into();
                    run.message = Some(gate_message(&t, &o.findings));
                }
            }
            Err(e) => run.message = Some(e.to_string()),
        }
        run
    }
}

/// Why the gate failed, naming the findings at or above `threshold` by file:line (the first
/// five, most severe first), e.g. ``findings at or above `fail-on: high`: src/db.py:12
/// sast/python.sql-injection (high); … and 3 more``.
fn gate_message(threshold: &str, findings: &[kiln_host::Finding]) -> String {
    const SHOWN: usize = 5;
    let rank = |f: &kiln_host::Finding| SEVERITIES.iter().position(|s| *s == format!("{:?}", f.severity).to_lowercase());
    let t = SEVERITIES.iter().position(|s| *s == threshold);
    let mut hits: Vec<&kiln_host::Finding> = findings.iter().filter(|f| rank(f) >= t).collect();
    hits.sort_by_key(|f| std::cmp::Reverse(rank(f)));
    let shown: Vec<String> = hits
        .iter()
        .take(SHOWN)
        .map(|f| {
            let at = match &f.location {
                Some(l) if l.start_line > 0 => format!("{}:{}", l.path, l.start_line),
                Some(l) => l.path.clone(),
                None => "(whole tree)".into(),
            };
            format!("{at} {} ({})", f.rule_id, format!("{:?}", f.severity).to_lowercase())
        })
        .collect();
    let more = if hits.len() > SHOWN { format!("; … and {} more", hits.len() - SHOWN) } else { String::new() };
    format!("findings at or above `fail-on: {threshold}`: {}{more}", shown.join("; "))
}

/// Whether a finding is at least as severe as `threshold`.
fn gate_fails(threshold: &str, by_severity: &[(String, usize)]) -> bool {
    let Some(t) = SEVERITIES.iter().position(|o| *o == threshold) else { return false };
    by_severity.iter().any(|(s, n)| *n > 0 && SEVERITIES.iter().position(|o| o == s).is_some_and(|i| i >= t))
}

impl PluginRunner for HostRunner {
    fn run<'a>(&'a self, req: PluginRequest<'a>) -> Pin<Box<dyn Future<Output = PluginRun> + Send + 'a>> {
        Box::pin(self.run_one(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_on_is_kilns_and_checked() {
        let (cfg, f) = split_with(&serde_json::json!({"fail-on": "high", "pattern": "X"})).unwrap();
        assert_eq!(cfg, serde_json::json!({"pattern": "X"}));
        assert_eq!(f.as_deref(), Some("high"));
        assert!(split_with(&serde_json::json!({"fail-on": "bad"})).unwrap_err().contains("not one of"));
        assert!(gate_fails("medium", &[("high".into(), 1)]));
        assert!(!gate_fails("high", &[("medium".into(), 3), ("high".into(), 0)]));
    }

    #[test]
    fn the_buildspec_policy_narrows_and_caps() {
        let allow = PluginAllow { write_output: Some(false), max_memory: Some(8 << 20), ..Default::default() };
        let p = policy_for(&allow);
        assert!(p.read_source && !p.write_output && p.env.is_empty());
        assert_eq!(p.max_memory, 8 << 20);
        assert_eq!(policy_for(&PluginAllow::default()), Policy::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_deadline_bounds_waiting_for_the_host_and_loading_the_plugin() {
        // A plugin host that takes 20 s to make (as a first compilation of a large component can).
        let slow = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(20));
            Err("made too late".to_string())
        });
        let runner = HostRunner::new(Arc::new(WarmHost::made_by(slow)), PathBuf::from("."));
        let d = tempfile::tempdir().unwrap();
        let with = serde_json::json!({});
        let req = PluginRequest { plugin: "hello-step", with: &with, src_dir: d.path(), out_dir: d.path(), deadline: Instant::now() + Duration::from_secs(1) };
        let started = Instant::now();
        let run = runner.run_one(req).await;
        assert!(started.elapsed() < Duration::from_secs(10), "the step waited {:?} past its deadline", started.elapsed());
        assert_eq!(run.outcome, "error");
        assert!(run.message.as_deref().unwrap_or_default().contains("did not finish before the timeout"), "{:?}", run.message);
    }
}
