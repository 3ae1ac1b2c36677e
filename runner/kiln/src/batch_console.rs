//! What a person sees while a batch runs. Every build's output goes through its own
//! [`Console`] (its lines tagged `[identifier]`, written a block of whole lines at a time under
//! the standard stream's lock, so two builds' lines never mix within a line). On a terminal an
//! indicatif display holds one line per build: waiting, its current phase while it runs, and how
//! it ended. Without a terminal, kiln says when each build starts and ends. With `--json`,
//! everything shown goes to stderr (stdout holds only the batch record).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kiln_batch::{BatchPlan, ChildOutcome, ChildPlan, Observer};
use kiln_engine::Reporter;

use crate::console::Console;

/// The batch's terminal display, shared by the builds' consoles and the scheduler's observer.
pub struct BatchConsole {
    multi: Option<MultiProgress>,
    bars: Vec<Option<ProgressBar>>,
    json: bool,
    color: bool,
    /// The identifier column's width.
    width: usize,
    started: Mutex<Vec<Option<Instant>>>,
}

impl BatchConsole {
    pub fn new(json: bool, plan: &BatchPlan) -> BatchConsole {
        let tty = std::io::stderr().is_terminal();
        let width = plan.builds.iter().map(|b| b.identifier.len()).max().unwrap_or(0).min(40);
        let multi = tty.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let bars = plan
            .builds
            .iter()
            .map(|b| {
                let m = multi.as_ref()?;
                let bar = m.add(ProgressBar::new_spinner());
                let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed:>4} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
                bar.set_style(style);
                bar.set_prefix(format!("{:<width$}", b.identifier));
                bar.set_message(if b.depend_on.is_empty() { "waiting".to_string() } else { format!("waiting for {}", b.depend_on.join(", ")) });
                Some(bar)
            })
            .collect();
        BatchConsole { multi, bars, json, color: tty && std::env::var_os("NO_COLOR").is_none(), width, started: Mutex::new(vec![None; plan.builds.len()]) }
    }

    /// The console build `index` reports to.
    pub fn reporter(&self, index: usize, identifier: &str) -> Box<dyn Reporter> {
        Box::new(Console::for_batch(self.json, identifier, self.width, self.bars.get(index).cloned().flatten()))
    }

    /// A message from kiln about the whole batch.
    pub fn note(&self, text: &str) {
        let line = format!("kiln: {text}");
        match &self.multi {
            Some(m) => {
                let _ = m.println(self.paint("36", &line));
            }
            None if self.json => {
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            }
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    /// Take the display off the terminal (before the summary is printed).
    pub fn clear(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// The scheduler's view of the display.
pub struct Progress<'a>(pub &'a BatchConsole);

impl Observer for Progress<'_> {
    fn started(&mut self, index: usize, child: &ChildPlan, build_id: &str) {
        if let Ok(mut s) = self.0.started.lock() {
            s[index] = Some(Instant::now());
        }
        match self.0.bars.get(index).and_then(Option::as_ref) {
            Some(bar) => {
                bar.reset_elapsed();
                bar.set_message("SUBMITTED");
                bar.enable_steady_tick(Duration::from_millis(120));
            }
            None => self.0.note(&format!("[{}] started: build {build_id}", child.identifier)),
        }
    }

    fn finished(&mut self, index: usize, child: &ChildPlan, outcome: &ChildOutcome) {
        let took = self.0.started.lock().ok().and_then(|s| s[index]).map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        let status = &outcome.build_status;
        let ignored = if status != "SUCCEEDED" && child.ignore_failure { " (ignore-failure)" } else { "" };
        let fault = outcome.fault.as_ref().map(|f| format!(": {f}")).unwrap_or_default();
        let code = if status == "SUCCEEDED" { "32" } else if ignored.is_empty() { "31" } else { "33" };
        match self.0.bars.get(index).and_then(Option::as_ref) {
            Some(bar) => bar.finish_with_message(format!("{}{ignored}{fault}", self.0.paint(code, status))),
            None => self.0.note(&format!("[{}] {status}{ignored} in {took:.1}s{fault}", child.identifier)),
        }
    }

    fn not_started(&mut self, index: usize, child: &ChildPlan, reason: &str) {
        match self.0.bars.get(index).and_then(Option::as_ref) {
            Some(bar) => bar.finish_with_message(self.0.paint("2", &format!("not started: {reason}"))),
            None => self.0.note(&format!("[{}] not started: {reason}", child.identifier)),
        }
    }
}
