//! `hello-step`: a tiny real step. Counts files and lines under `/src`, reports one finding per
//! line containing the marker (default `TODO`), and writes `summary.json` into `/out`.

use kiln_plugin_sdk::{Error, Severity, Step, StepPlugin, export_step, log, progress};

/// `with:` keys.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    pattern: String,
    severity: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pattern: "TODO".into(),
            severity: "low".into(),
        }
    }
}

struct HelloStep;

fn severity(name: &str) -> Result<Severity, Error> {
    Ok(match name {
        "note" => Severity::Note,
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => {
            return Err(Error::InvalidConfig(format!(
                "severity: unknown level {other:?}"
            )));
        }
    })
}

impl StepPlugin for HelloStep {
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {
        let sev = severity(&step.config().severity)?;
        let pattern = step.config().pattern.clone();
        if pattern.is_empty() {
            return Err(Error::InvalidConfig("pattern: must not be empty".into()));
        }
        let files = step.source_files()?;
        let total = files.len() as u64;
        let mut lines = 0u64;
        for (i, file) in files.iter().enumerate() {
            progress(i as u64, total, &file.path);
            let text = file.read_to_string()?;
            for (n, line) in text.lines().enumerate() {
                lines += 1;
                if let Some(col) = line.find(&pattern) {
                    let col = col as u32 + 1;
                    let message = format!("{pattern}: {}", line.trim());
                    step.finding("hello/todo", sev, message)
                        .span(
                            &file.path,
                            n as u32 + 1,
                            col,
                            n as u32 + 1,
                            col + pattern.len() as u32,
                        )
                        .report();
                }
            }
        }
        let found = step.findings().len();
        log::info(&format!("scanned {total} files, {lines} lines"));
        let summary = format!("{{\"files\":{total},\"lines\":{lines},\"findings\":{found}}}\n");
        if step.output_root().is_some() {
            step.write_output("summary.json", "application/json", summary.as_bytes())?;
        }
        step.set_summary(format!(
            "{total} files, {lines} lines, {found} {pattern} markers"
        ));
        Ok(())
    }
}

export_step!(HelloStep, manifest = "kiln-plugin.toml");
