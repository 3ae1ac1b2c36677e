//! `kiln plugin …`: scaffold, build, test, run, inspect and lock WebAssembly plugins.
//!
//! A plugin *project* (what `kiln plugin new` writes) is a directory with `kiln-plugin.toml`,
//! `fixture/`, `expected-findings.json` (a deploy strategy: `expected-actions.json`) and the code; `kiln plugin build` leaves the component in
//! `dist/NAME.wasm` (manifest embedded). Wherever a command takes `NAME|PATH`, it accepts a
//! built-in name, a `.wasm` file, a project directory (its `dist/` component) or
//! `name@sha256:…` (through `./kiln.lock`).

mod build;
mod exec;
pub mod scaffold;
mod scaffold_strategy;
mod strategy_test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use kiln_host::PluginSource;

use crate::exit;
pub use scaffold::{Lang, NewWorld};

/// The `kiln plugin` subcommands.
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Write a new plugin project NAME (manifest, code, and its test: fixture/ and
    /// expected-findings.json for a step, expected-actions.json for a deploy strategy).
    New {
        name: String,
        #[arg(long, value_enum, default_value = "rust")]
        lang: Lang,
        /// The world it targets: a build step, or a deployment strategy (Rust only).
        #[arg(long, value_enum, default_value = "step")]
        world: NewWorld,
        /// Where to create the project directory (default: the current directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Build the component (cargo / componentize-py / jco) into DIR/dist/NAME.wasm; prints its path and sha256.
    Build {
        /// The plugin project (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Run the built plugin under kiln's host on DIR/fixture and compare its findings with
    /// DIR/expected-findings.json (a deploy strategy: run the scripted deployments of
    /// DIR/expected-actions.json); exit 1 on a difference.
    Test {
        dir: Option<PathBuf>,
    },
    /// Run one plugin outside a build, under the same host and limits, on DIR (default `.`).
    Run {
        /// A built-in name, a .wasm file, a plugin project directory, or NAME@sha256:… (kiln.lock).
        plugin: String,
        /// The source tree, mounted read-only as /src.
        dir: Option<PathBuf>,
        /// A `with:` setting; VALUE is read as JSON when it parses (`3`, `true`, `["a"]`), else as a string.
        #[arg(long = "with", value_name = "KEY=VALUE", value_parser = parse_with)]
        with: Vec<(String, serde_json::Value)>,
        /// Where the plugin's output files and kiln-findings.json go (default: ./kiln-plugin-out/NAME).
        #[arg(long, value_name = "OUTDIR")]
        out: Option<PathBuf>,
        /// Print the findings summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a plugin's manifest, sha256, WIT version, the grants the host would give it, and its
    /// imports (each one kiln does not link marked) and exports.
    Inspect {
        plugin: String,
        /// A buildspec whose `kiln: plugins:` policy to apply (default: kiln's default policy).
        #[arg(short = 'b', long = "buildspec")]
        buildspec: Option<PathBuf>,
    },
    /// Pin components in kiln.lock (name, version, source, sha256); with no COMPONENT, re-check every entry.
    Lock {
        /// .wasm files or plugin project directories.
        components: Vec<PathBuf>,
        /// The lock file (default: ./kiln.lock).
        #[arg(long, default_value = crate::lockfile::LOCK_FILE)]
        file: PathBuf,
    },
}

fn parse_with(s: &str) -> Result<(String, serde_json::Value), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("`{s}` is not KEY=VALUE"))?;
    if k.is_empty() {
        return Err(format!("`{s}`: the key is empty"));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

/// Run a `kiln plugin` subcommand.
pub fn run(cmd: PluginCommand) -> ExitCode {
    let result = match cmd {
        PluginCommand::New { name, lang, world, dir } => {
            let parent = dir.unwrap_or_else(|| PathBuf::from("."));
            scaffold::create(&name, lang, world, &parent).map(|d| {
                let what = match world {
                    NewWorld::Step => "plugin",
                    NewWorld::DeployStrategy => "deploy strategy",
                };
                println!("created {} ({lang:?} {what})", d.display());
                println!("next: kiln plugin build {0} && kiln plugin test {0}", d.display());
                ExitCode::SUCCESS
            })
        }
        PluginCommand::Build { dir } => build::build(&dir.unwrap_or_else(|| PathBuf::from("."))).map(|(path, sha)| {
            println!("{}", path.display());
            println!("sha256:{sha}");
            ExitCode::SUCCESS
        }),
        PluginCommand::Test { dir } => exec::test(&dir.unwrap_or_else(|| PathBuf::from("."))),
        PluginCommand::Run { plugin, dir, with, out, json } => {
            exec::run(&plugin, &dir.unwrap_or_else(|| PathBuf::from(".")), with, out, json)
        }
        PluginCommand::Inspect { plugin, buildspec } => exec::inspect(&plugin, buildspec.as_deref()),
        PluginCommand::Lock { components, file } => exec::lock(&components, &file),
    };
    result.unwrap_or_else(|e| exit::internal(&e))
}

/// Resolve `NAME|PATH` given on the command line (see the module docs).
pub fn source_arg(text: &str) -> Result<PluginSource, String> {
    let p = Path::new(text);
    if p.is_dir() {
        return build::built_component(p).map(PluginSource::path);
    }
    crate::plugins::resolve(text, Path::new("."), Path::new("."))
}
