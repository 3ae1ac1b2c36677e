//! `kiln plugin new`: a plugin project that builds and passes its own test out of the box.
//!
//! Every language gets the same shape: `kiln-plugin.toml` (the manifest), `fixture/` (a small
//! source tree), `expected-findings.json` (what `kiln plugin test` must find there) and the code.
//! A `--world deploy-strategy` project (Rust) has `expected-actions.json` (scripted deployments,
//! `strategy_test.rs`) instead of the fixture tree; its templates are `scaffold_strategy.rs`.
//! A Rust project is self-contained and needs only crates.io: the SDK sources and the WIT files
//! are written into `vendor/` from copies embedded in the `kiln` binary, and `Cargo.lock` pins
//! the same crate versions kiln's own plugins build with. Python and JavaScript projects vendor
//! the WIT files into `wit/` for componentize-py / jco.

use std::path::{Path, PathBuf};

/// A language a plugin can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust with kiln-plugin-sdk (cargo, wasm32-wasip2).
    Rust,
    /// Python (componentize-py).
    Python,
    /// JavaScript (jco componentize / componentize-js).
    Js,
}

/// The world a new plugin targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NewWorld {
    /// A scanner or generator step (`uses:` in a buildspec).
    Step,
    /// A deployment strategy (Rust only): answers the next action of a deployment.
    DeployStrategy,
}

/// The WIT package, version 0.1.0: (file name, text).
pub const WIT_V0_1_0: &[(&str, &str)] = &[
    ("types.wit", include_str!("../../../../wit/kiln-plugin/v0.1.0/types.wit")),
    ("step.wit", include_str!("../../../../wit/kiln-plugin/v0.1.0/step.wit")),
    ("signer.wit", include_str!("../../../../wit/kiln-plugin/v0.1.0/signer.wit")),
    ("deploy.wit", include_str!("../../../../wit/kiln-plugin/v0.1.0/deploy.wit")),
    ("file-scanner.wit", include_str!("../../../../wit/kiln-plugin/v0.1.0/file-scanner.wit")),
];

/// For JavaScript: a world that adds WASI filesystem preopens to `step` (componentize-js only
/// lets code import what its world imports), with the WASI 0.2 packages it needs.
const JS_WORLD: &str = "// The kiln `step` world plus the WASI filesystem interfaces the JavaScript code imports\n// (the host links them; it grants /src and /out only as the manifest and buildspec allow).\npackage kiln:plugin-js;\n\nworld step-js {\n    include kiln:plugin/step@0.1.0;\n    import wasi:filesystem/preopens@0.2.12;\n}\n";
const JS_WASI_DEPS: &[(&str, &str)] = &[
    ("wasi-filesystem/package.wit", include_str!("../../../../examples/plugin-js/wit/deps/wasi-filesystem/package.wit")),
    ("wasi-io/package.wit", include_str!("../../../../examples/plugin-js/wit/deps/wasi-io/package.wit")),
    ("wasi-clocks/package.wit", include_str!("../../../../examples/plugin-js/wit/deps/wasi-clocks/package.wit")),
];

const SDK_SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../../../../plugin-sdk/src/lib.rs")),
    ("deploy.rs", include_str!("../../../../plugin-sdk/src/deploy.rs")),
    ("scanner.rs", include_str!("../../../../plugin-sdk/src/scanner.rs")),
    ("step.rs", include_str!("../../../../plugin-sdk/src/step.rs")),
    ("walk.rs", include_str!("../../../../plugin-sdk/src/walk.rs")),
];

/// The lock file of kiln's own guest workspace: the versions the scaffold pins.
const GUEST_LOCK: &str = include_str!("../../../../plugins/Cargo.lock");
const GUEST_MEMBERS: &[&str] = &["hello-step", "noop-step", "test-hostile"];

const SDK_CARGO_TOML: &str = r#"[package]
name = "kiln-plugin-sdk"
description = "Write kiln plugins in Rust (vendored by `kiln plugin new`)"
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"
publish = false

[dependencies]
wit-bindgen = { version = "0.61.1", default-features = false, features = ["macros", "realloc", "std"] }
serde = { version = "1", features = ["derive"] }
serde_json = "1"
"#;

const FIXTURE_MAIN: &str = "fn main() {\n    // TODO: say something kinder\n    println!(\"hello\");\n}\n";
const FIXTURE_NOTES: &str = "notes\nFIXME later\nTODO write the docs\n";

/// The manifest of a scaffolded plugin. Python and JavaScript components carry their language's
/// runtime (CPython, StarlingMonkey), so they ask for more memory than a Rust one.
fn manifest(name: &str, lang: Lang) -> String {
    let max_memory = if matches!(lang, Lang::Rust) { "64MiB" } else { "256MiB" };
    format!(
        r#"# What the plugin is and what it asks the host for. `kiln plugin inspect` shows it with the grants.
name = "{name}"
version = "0.1.0"
world = "step"
description = "Reports a finding for every line with a marker (default TODO)"

[capabilities]
read-source = true     # /src, read-only
write-output = true    # /out
max-memory = "{max_memory}"
timeout = "30s"

[config-schema]
type = "object"
additionalProperties = false

[config-schema.properties.marker]
type = "string"
minLength = 1
description = "Text to look for (default TODO)"
"#
    )
}

fn expected(name: &str) -> String {
    format!(
        r#"{{
  "with": {{}},
  "findings": [
    {{ "ruleId": "{name}/marker", "path": "notes.txt", "line": 3, "severity": "low" }},
    {{ "ruleId": "{name}/marker", "path": "src/main.rs", "line": 2, "severity": "low" }}
  ]
}}
"#
    )
}

fn rust_lib(name: &str) -> String {
    format!(
        r#"//! `{name}`: a kiln step plugin. Reports one finding per line containing the marker
//! (`with: {{ marker: TODO }}`) and writes `/out/summary.json`.

use kiln_plugin_sdk::{{Error, Severity, Step, StepPlugin, export_step}};

/// The buildspec's `with:` map.
#[derive(serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {{
    marker: String,
}}

impl Default for Config {{
    fn default() -> Self {{
        Config {{ marker: "TODO".into() }}
    }}
}}

struct Plugin;

impl StepPlugin for Plugin {{
    type Config = Config;

    fn run(step: &mut Step<Config>) -> Result<(), Error> {{
        let marker = step.config().marker.clone();
        let files = step.source_files()?;
        for file in &files {{
            let Ok(text) = file.read_to_string() else {{ continue }}; // skip binary files
            for (i, line) in text.lines().enumerate() {{
                if let Some(col) = line.find(&marker) {{
                    step.finding("{name}/marker", Severity::Low, format!("{{marker}}: {{}}", line.trim()))
                        .at(&file.path, i as u32 + 1, col as u32 + 1)
                        .report();
                }}
            }}
        }}
        let found = step.findings().len();
        let summary = format!("{{{{\"files\":{{}},\"findings\":{{found}}}}}}\n", files.len());
        step.write_output("summary.json", "application/json", summary.as_bytes())?;
        step.set_summary(format!("{{}} files, {{found}} {{marker}} markers", files.len()));
        Ok(())
    }}
}}

export_step!(Plugin, manifest = "kiln-plugin.toml");
"#
    )
}

fn rust_cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
kiln-plugin-sdk = {{ path = "vendor/kiln-plugin-sdk" }}
serde = {{ version = "1", features = ["derive"] }}

# A workspace of its own, so the plugin builds wherever it is.
[workspace]

[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = "debuginfo"
"#
    )
}

/// kiln's guest lock file with its own members replaced by the new plugin.
fn rust_lock(name: &str) -> String {
    let mut blocks: Vec<String> = GUEST_LOCK.split("\n[[package]]\n").map(str::to_string).collect();
    let header = blocks.remove(0);
    blocks.retain(|b| !GUEST_MEMBERS.iter().any(|m| b.starts_with(&format!("name = \"{m}\"\n"))));
    blocks.push(format!("name = \"{name}\"\nversion = \"0.1.0\"\ndependencies = [\n \"kiln-plugin-sdk\",\n \"serde\",\n]\n"));
    blocks.sort_by_key(|b| b.lines().next().unwrap_or_default().to_string());
    let mut out = header;
    for b in blocks {
        out.push_str("\n[[package]]\n");
        out.push_str(b.trim_end());
        out.push('\n');
    }
    out
}

/// The Python and JavaScript scaffolds are the bundled examples (`examples/plugin-python`,
/// `examples/plugin-js`, which CI builds and runs) with the example's name replaced.
const PYTHON_EXAMPLE: (&str, &str) = ("todo-py", include_str!("../../../../examples/plugin-python/app.py"));
const JS_EXAMPLE: (&str, &str) = ("todo-js", include_str!("../../../../examples/plugin-js/plugin.js"));

fn python_app(name: &str) -> String {
    PYTHON_EXAMPLE.1.replace(PYTHON_EXAMPLE.0, name)
}

fn js_plugin(name: &str) -> String {
    JS_EXAMPLE.1.replace(JS_EXAMPLE.0, name)
}

fn readme(name: &str, lang: Lang) -> String {
    let code = match lang {
        Lang::Rust => "src/lib.rs (Rust, kiln-plugin-sdk vendored in vendor/ with the WIT it binds to)",
        Lang::Python => "app.py (Python; componentize-py binds it to wit/)",
        Lang::Js => "plugin.js (JavaScript; componentize-js binds it to the world `step-js` in wit/)",
    };
    format!(
        "# {name}\n\nA kiln step plugin. The code is {code}; the manifest is `kiln-plugin.toml`.\n\n\
```sh\nkiln plugin build            # the component: dist/{name}.wasm (path and sha256 printed)\n\
kiln plugin test             # runs it on fixture/ under kiln's host, compares with expected-findings.json\n\
kiln plugin run . SOME/DIR --with marker=FIXME --out report/\n\
kiln plugin inspect .        # manifest, sha256, and the grants the host would give\n\
kiln plugin lock dist/{name}.wasm   # pin it in a project's kiln.lock, then `uses: {name}@sha256:…`\n```\n"
    )
}

/// Write a new plugin project `name` for `world` under `parent` (the directory `parent/name`,
/// which must not exist or be empty). Returns the project directory.
pub fn create(name: &str, lang: Lang, world: NewWorld, parent: &Path) -> Result<PathBuf, String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase();
    if !ok {
        return Err(format!("`{name}` is not a plugin name: use 1-64 characters from [a-z0-9-], starting with a letter"));
    }
    let dir = parent.join(name);
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(format!("{} already exists and is not empty; pick another name or --dir", dir.display()));
    }
    if world == NewWorld::DeployStrategy && lang != Lang::Rust {
        return Err("a deploy-strategy plugin can be scaffolded in Rust only (--lang rust): the Python and JavaScript toolchains' runtimes import more than a strategy is given".into());
    }
    let mut files: Vec<(String, String)> = match world {
        NewWorld::Step => vec![
            ("kiln-plugin.toml".into(), manifest(name, lang)),
            ("expected-findings.json".into(), expected(name)),
            ("fixture/src/main.rs".into(), FIXTURE_MAIN.into()),
            ("fixture/notes.txt".into(), FIXTURE_NOTES.into()),
            ("README.md".into(), readme(name, lang)),
        ],
        NewWorld::DeployStrategy => vec![
            ("kiln-plugin.toml".into(), super::scaffold_strategy::manifest(name)),
            (super::strategy_test::FIXTURE.into(), super::scaffold_strategy::FIXTURE.into()),
            ("README.md".into(), super::scaffold_strategy::readme(name)),
        ],
    };
    files.push((".gitignore".into(), "/target\n/dist\n/node_modules\n__pycache__/\n".into()));
    let wit_dir = match lang {
        Lang::Rust => "vendor/wit/kiln-plugin/v0.1.0",
        Lang::Python => "wit",
        Lang::Js => "wit/deps/kiln-plugin",
    };
    for (f, text) in WIT_V0_1_0 {
        files.push((format!("{wit_dir}/{f}"), (*text).into()));
    }
    match lang {
        Lang::Rust => {
            files.push(("Cargo.toml".into(), rust_cargo_toml(name)));
            files.push(("Cargo.lock".into(), rust_lock(name)));
            let lib = match world {
                NewWorld::Step => rust_lib(name),
                NewWorld::DeployStrategy => super::scaffold_strategy::lib(name),
            };
            files.push(("src/lib.rs".into(), lib));
            files.push(("vendor/kiln-plugin-sdk/Cargo.toml".into(), SDK_CARGO_TOML.into()));
            for (f, text) in SDK_SOURCES {
                files.push((format!("vendor/kiln-plugin-sdk/src/{f}"), (*text).into()));
            }
        }
        Lang::Python => files.push(("app.py".into(), python_app(name))),
        Lang::Js => {
            files.push(("plugin.js".into(), js_plugin(name)));
            files.push(("wit/world.wit".into(), JS_WORLD.into()));
            for (f, text) in JS_WASI_DEPS {
                files.push((format!("wit/deps/{f}"), (*text).into()));
            }
        }
    }
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_swaps_kilns_members_for_the_plugin() {
        let lock = rust_lock("demo");
        assert!(lock.contains("name = \"demo\"\nversion = \"0.1.0\""));
        for m in GUEST_MEMBERS {
            assert!(!lock.contains(&format!("name = \"{m}\"")), "{m} still in the lock");
        }
        assert!(lock.contains("name = \"wit-bindgen\""));
        assert!(lock.starts_with("# This file is automatically @generated by Cargo."));
    }

    #[test]
    fn names_are_checked_and_projects_not_overwritten() {
        let t = tempfile::tempdir().unwrap();
        assert!(create("Bad Name", Lang::Rust, NewWorld::Step, t.path()).unwrap_err().contains("not a plugin name"));
        let d = create("demo", Lang::Python, NewWorld::Step, t.path()).unwrap();
        assert!(d.join("app.py").is_file() && d.join("wit/step.wit").is_file());
        assert!(create("demo", Lang::Python, NewWorld::Step, t.path()).unwrap_err().contains("not empty"));
        assert!(create("strat", Lang::Js, NewWorld::DeployStrategy, t.path()).unwrap_err().contains("Rust only"));
        let d = create("strat", Lang::Rust, NewWorld::DeployStrategy, t.path()).unwrap();
        for f in ["src/lib.rs", "kiln-plugin.toml", "expected-actions.json", "vendor/kiln-plugin-sdk/src/deploy.rs", "vendor/wit/kiln-plugin/v0.1.0/deploy.wit"] {
            assert!(d.join(f).is_file(), "{f}");
        }
        assert!(!d.join("fixture").exists() && !d.join("expected-findings.json").exists());
        let m = kiln_host::Manifest::parse(&std::fs::read_to_string(d.join("kiln-plugin.toml")).unwrap()).unwrap();
        assert_eq!((m.name.as_str(), m.world), ("strat", kiln_host::World::DeployStrategy));
        assert!(std::fs::read_to_string(d.join("src/lib.rs")).unwrap().contains("`strat`: a kiln deploy strategy"));
    }

    #[test]
    fn every_sdk_source_and_wit_file_is_vendored() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let names = |dir: &str, ext: &str| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(ext))
                .collect();
            v.sort();
            v
        };
        let mut sdk: Vec<String> = SDK_SOURCES.iter().map(|(f, _)| f.to_string()).collect();
        sdk.sort();
        assert_eq!(sdk, names("plugin-sdk/src", ".rs"), "add the file to SDK_SOURCES");
        let mut wit: Vec<String> = WIT_V0_1_0.iter().map(|(f, _)| f.to_string()).collect();
        wit.sort();
        assert_eq!(wit, names("wit/kiln-plugin/v0.1.0", ".wit"), "add the file to WIT_V0_1_0");
    }
}
