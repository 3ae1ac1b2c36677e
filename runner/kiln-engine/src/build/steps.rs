//! A buildspec phase's commands: shell commands in the build's session (as the phase's `run-as`
//! user), `uses:` plugin steps, `finally`, RETRY, and what a stop or a timeout does to them.

use std::time::{Duration, Instant};

use kiln_sandbox::Sandbox;
use kiln_spec::{OnFailure, Phase, Step};

use super::Run;
use crate::output::Pump;
use crate::shell::Exit;
use crate::transitions::{FailureAction, PhaseStatus, PhaseType};

/// How the build's shell process is set up: confined by the sandbox, as `user` (run-as), its
/// output into the pump.
pub(super) fn shell_process<'a>(sandbox: &'a Sandbox, pump: &'a Pump, user: Option<(u32, u32)>) -> impl FnMut(&mut std::process::Command) -> std::io::Result<()> + 'a {
    move |cmd| {
        sandbox.apply_as(cmd, user);
        let (out, err) = pump.child_stdio()?;
        cmd.stdout(out).stderr(err);
        Ok(())
    }
}

impl Run<'_> {
    pub(super) async fn run_phase(&mut self, phase: PhaseType, ph: &Phase) -> (PhaseStatus, Option<(String, String)>, FailureAction) {
        let on_failure = ph.on_failure();
        let action = match ph.on_failure.as_ref().map(|o| &o.value) {
            Some(OnFailure::Continue) => FailureAction::Continue,
            Some(OnFailure::Abort) => FailureAction::Abort,
            _ => FailureAction::Default,
        };
        let phase_deadline = self.opts.phase_timeout.or(self.spec.kiln.phase_timeout_minutes.map(|m| Duration::from_secs(u64::from(m) * 60))).map(|d| Instant::now() + d);
        let deadline = phase_deadline.map_or(self.deadline, |d| d.min(self.deadline));
        self.switch_user(ph.name).await;
        for (name, version) in ph.runtime_versions.iter().map(|e| (&e.name.value, &e.value.value)) {
            self.pump.note(&format!("runtime-versions: {name} {version} requested; kiln uses the host's toolchain on PATH"));
        }
        let mut attempt = 0;
        loop {
            self.pump.capture_start();
            let result = self.run_commands(&ph.commands, &ph.finally, deadline).await;
            // Keep the session's state for a restart or a helper; the shell saves while kiln
            // closes the phase (the reply is read before the next request).
            self.shell.save();
            self.pump.sync();
            let output = self.pump.capture_take();
            let Err((status, message)) = result else { return (PhaseStatus::Succeeded, None, action) };
            if let (OnFailure::Retry { count, regex }, PhaseStatus::Failed) = (&on_failure, status) {
                let matches = regex.as_ref().is_none_or(|r| regex::Regex::new(r).is_ok_and(|re| re.is_match(&output)));
                if attempt < *count && matches {
                    attempt += 1;
                    self.pump.note(&format!("{message}; retrying {} (retry {attempt} of {count})", phase.as_str()));
                    continue;
                }
            }
            let code = match status {
                PhaseStatus::TimedOut => "BUILD_TIMED_OUT",
                PhaseStatus::Stopped => "BUILD_STOPPED",
                _ => "COMMAND_EXECUTION_ERROR",
            };
            return (status, Some((code.into(), message)), action);
        }
    }

    /// Run `commands` until one fails, then `finally` (stopping at its first failure).
    async fn run_commands(&mut self, commands: &[Step], finally: &[Step], deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        let mut result = Ok(());
        for c in commands {
            if let Err(e) = self.run_step(c, deadline).await {
                result = Err(e);
                break;
            }
        }
        if result.as_ref().is_err_and(|(s, _)| matches!(s, PhaseStatus::TimedOut | PhaseStatus::Stopped)) {
            return result;
        }
        for c in finally {
            if let Err(e) = self.run_step(c, deadline).await {
                return result.and(Err(e));
            }
        }
        result
    }

    async fn run_step(&mut self, step: &Step, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        match step {
            Step::Shell(c) => self.run_one(&c.value, deadline).await,
            Step::Uses(u) => self.run_plugin(&u.plugin.value, &u.with, deadline).await,
        }
    }

    /// Run a `uses:` step through the plugin runner; its findings summary and logs go to the output.
    async fn run_plugin(&mut self, plugin: &str, with: &serde_json::Value, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        self.pump.note(&format!("Running plugin {plugin}"));
        let index = self.record.kiln.plugins.len() + 1;
        let safe: String = plugin.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        let out_dir = self.record_dir.join("plugins").join(format!("{index:02}-{safe}"));
        if let Err(e) = std::fs::create_dir_all(&out_dir) {
            return Err((PhaseStatus::Failed, format!("could not create {}: {e}", out_dir.display())));
        }
        let req = crate::plugins::PluginRequest { plugin, with, src_dir: &self.work_dir, out_dir: &out_dir, deadline };
        // The deadline bounds the whole step, kiln's own work included (reading and compiling
        // the plugin), not only the plugin's call: past it kiln stops waiting for the runner.
        let started = Instant::now();
        let stop = self.stop.clone();
        let running = tokio::select! {
            run = tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), self.plugins.run(req)) => run,
            () = crate::stop::requested(stop.as_ref()) => return Err(self.stopped_during(&format!("plugin {plugin}")).await),
        };
        let mut run = match running {
            Ok(run) => run,
            Err(_) => crate::plugins::PluginRun {
                uses: plugin.to_string(),
                outcome: "error".into(),
                duration_ms: started.elapsed().as_millis() as u64,
                message: Some("it did not finish before the timeout; kiln stopped waiting for it".into()),
                ..Default::default()
            },
        };
        // The runner names outputs inside the step's own directory; the record names them from
        // the record directory, as every other path in build.json.
        let dir = format!("plugins/{index:02}-{safe}/");
        for o in &mut run.outputs {
            o.path.insert_str(0, &dir);
        }
        let expired = Instant::now() >= deadline;
        for line in &run.logs {
            self.pump.note(&format!("{}: {line}", if run.name.is_empty() { plugin } else { &run.name }));
        }
        let summary = format!(
            "plugin {} {}: {} in {} ms, {} finding(s){}",
            if run.name.is_empty() { plugin } else { &run.name },
            run.version,
            run.outcome,
            run.duration_ms,
            run.findings,
            run.message.as_ref().map(|m| format!(" — {m}")).unwrap_or_default()
        );
        self.pump.note(&summary);
        run.message = run.message.map(|m| self.masker.mask_str(&m));
        let failed = run.failed();
        self.record.kiln.plugins.push(run);
        if failed && expired {
            // It failed because the phase or build deadline passed (the runner's limits are cut
            // to the deadline): a timeout, as for a command.
            let build_expired = Instant::now() >= self.deadline;
            self.timed_out |= build_expired;
            let what = if build_expired { "build" } else { "phase" };
            return Err((PhaseStatus::TimedOut, format!("the {what} timed out while running plugin {plugin}: {summary}")));
        }
        if failed { Err((PhaseStatus::Failed, summary)) } else { Ok(()) }
    }

    /// Before `phase`'s commands: when they run as another user than the running shell, end the
    /// shell (its state saved by its EXIT trap) and hand the state files to that user; the next
    /// command starts the shell as them from that state.
    async fn switch_user(&mut self, phase: kiln_spec::PhaseName) {
        let want = self.run_as.user_for(phase);
        if want == self.shell_user {
            return;
        }
        self.shell.stop().await;
        if let (Some(user), Some(scratch)) = (want, &self.scratch)
            && let Err(e) = crate::runas::chown_tree(&scratch.shell, user)
        {
            self.pump.note(&format!("warning: cannot hand the shell's state to the run-as user: {e}"));
        }
        self.shell_user = want;
    }

    /// Start the build's shell ahead of its first command. A failure is not reported here: the
    /// first command starts the shell again and reports why it could not.
    pub(super) fn prestart_shell(&mut self) {
        self.shell_user = self.spec.phases.first().and_then(|p| self.run_as.user_for(p.name));
        let mut prepare = shell_process(&self.sandbox, &self.pump, self.shell_user);
        let _ = self.shell.prestart(&mut prepare);
    }

    async fn run_one(&mut self, text: &str, deadline: Instant) -> Result<(), (PhaseStatus, String)> {
        self.pump.note(&format!("Running command {text}"));
        let mut prepare = shell_process(&self.sandbox, &self.pump, self.shell_user);
        let stop = self.stop.clone();
        let exit = tokio::select! {
            exit = self.shell.run(text, self.succeeding, deadline, &mut prepare) => exit,
            () = crate::stop::requested(stop.as_ref()) => {
                drop(prepare);
                return Err(self.stopped_during(&format!("command {text}")).await);
            }
        };
        match exit {
            Ok(Exit::Code(0)) => Ok(()),
            Ok(Exit::Code(code)) => Err((PhaseStatus::Failed, format!("Error while executing command: {text}. Reason: exit status {code}"))),
            Ok(Exit::TimedOut) => {
                self.sandbox.kill_all();
                let build_expired = Instant::now() >= self.deadline;
                self.timed_out |= build_expired;
                let what = if build_expired { "build" } else { "phase" };
                Err((PhaseStatus::TimedOut, format!("the {what} timed out while running command {text}; all its processes were killed")))
            }
            Err(e) => Err((PhaseStatus::Failed, format!("could not run command {text}: {e}"))),
        }
    }

    /// The build was asked to stop while `what` ran: kill the session's whole process tree (as at
    /// a timeout) and end the phase `STOPPED`.
    async fn stopped_during(&mut self, what: &str) -> (PhaseStatus, String) {
        self.stopped = true;
        self.shell.kill().await;
        self.sandbox.kill_all();
        let why = self.stop.as_ref().and_then(crate::Stop::reason).unwrap_or_else(|| "asked to stop".into());
        (PhaseStatus::Stopped, format!("the build was stopped ({why}) while running {what}; all its processes were killed"))
    }

}
