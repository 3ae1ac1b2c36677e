//! `kiln plugin build`: the language's own tool makes the component; kiln copies it to
//! `dist/NAME.wasm`, embedding the manifest when the tool did not (Python, JavaScript).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use kiln_host::manifest::{self, Manifest, World, MANIFEST_SECTION};

use super::Lang;

/// The language of the project in `dir`.
pub fn detect(dir: &Path) -> Result<Lang, String> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("app.py").is_file() {
        Ok(Lang::Python)
    } else if dir.join("plugin.js").is_file() {
        Ok(Lang::Js)
    } else {
        Err(format!("{} is not a plugin project: expected Cargo.toml (Rust), app.py (Python) or plugin.js (JavaScript) beside kiln-plugin.toml", dir.display()))
    }
}

/// The project's manifest (`kiln-plugin.toml`).
pub fn project_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join("kiln-plugin.toml");
    let text = kiln_fs::read_input_to_string(&path, kiln_fs::limits::CONFIG, "plugin manifest").map_err(|e| e.to_string())?;
    Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Where `kiln plugin build` puts the project's component; an error if it is not built.
pub fn built_component(dir: &Path) -> Result<PathBuf, String> {
    let m = project_manifest(dir)?;
    let path = dir.join("dist").join(format!("{}.wasm", m.name));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is not built yet ({} is missing): run `kiln plugin build {}`", dir.display(), path.display(), dir.display()))
    }
}

/// Build the project in `dir`; returns the component's path and sha256.
pub fn build(dir: &Path) -> Result<(PathBuf, String), String> {
    let m = project_manifest(dir)?;
    let lang = detect(dir)?;
    let dist = dir.join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| format!("cannot create {}: {e}", dist.display()))?;
    let out = dist.join(format!("{}.wasm", m.name));
    let bytes = match lang {
        Lang::Rust => {
            let wasm = cargo_build(dir)?;
            kiln_fs::read_input(&wasm, kiln_fs::limits::PLUGIN, "built component").map_err(|e| e.to_string())?
        }
        Lang::Python => {
            let tmp = dist.join(format!(".{}.tmp.wasm", m.name));
            let mut c = Command::new("componentize-py");
            c.args(["-d", "wit", "-w", "step", "componentize", "app", "-o"]).arg(&tmp);
            tool(c, dir, "componentize-py", "pip install componentize-py")?;
            embed_manifest(dir, &tmp)?
        }
        Lang::Js => {
            let tmp = dist.join(format!(".{}.tmp.wasm", m.name));
            // componentize-js itself: `jco componentize` (jco 1.35) fails to read a WIT directory
            // ("failed to get path metadata"), see examples/README.md.
            let local = dir.join("node_modules/.bin/componentize-js");
            let bin = if local.is_file() { local } else { PathBuf::from("componentize-js") };
            let mut c = Command::new(bin);
            c.args(["--wit", "wit", "--world-name", "step-js", "--disable", "http", "--disable", "fetch-event", "-o"]).arg(&tmp).arg("plugin.js");
            tool(c, dir, "componentize-js", "npm install @bytecodealliance/componentize-js (in the plugin directory or globally)")?;
            embed_manifest(dir, &tmp)?
        }
    };
    // The component must carry a manifest kiln can read (the Rust SDK's export macros embed it).
    let embed = how_to_embed(m.world);
    match manifest::embedded(&bytes)? {
        Some(text) => {
            let built = Manifest::parse(&text).map_err(|e| format!("the built component's manifest: {e}"))?;
            if built.name != m.name {
                return Err(format!("the component embeds a manifest for `{}`, not `{}`: does src/lib.rs embed kiln-plugin.toml with {embed}?", built.name, m.name));
            }
        }
        None => return Err(format!("the component has no embedded manifest: embed kiln-plugin.toml with {embed}")),
    }
    kiln_fs::write_atomic(&out, &bytes, true).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok((out, kiln_host::sha256_hex(&bytes)))
}

/// How a Rust plugin of `world` embeds its manifest (the SDK's export macros do it).
fn how_to_embed(world: World) -> &'static str {
    match world {
        World::Step => "export_step!(Plugin, manifest = \"kiln-plugin.toml\")",
        World::FileScanner => "export_file_scanner!(Plugin, manifest = \"kiln-plugin.toml\")",
        World::DeployStrategy => "export_deploy_strategy!(Strategy, manifest = \"kiln-plugin.toml\")",
        World::Signer => "a `kiln:plugin-manifest` link section, as plugins/dsse-signer does",
    }
}

fn tool(mut c: Command, dir: &Path, name: &str, install: &str) -> Result<(), String> {
    let status = c.current_dir(dir).stdin(Stdio::null()).status().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("`{name}` is not installed: {install}")
        } else {
            format!("cannot run {name}: {e}")
        }
    })?;
    if !status.success() {
        return Err(format!("{name} failed ({status}); its output is above"));
    }
    Ok(())
}

/// `cargo build --target wasm32-wasip2 --release`; the cdylib's path from cargo's JSON messages.
fn cargo_build(dir: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--target", "wasm32-wasip2", "--release", "--message-format=json-render-diagnostics"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo build failed ({}); if the target is missing: rustup target add wasm32-wasip2", output.status));
    }
    let mut found = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let cdylib = msg["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib"));
        if msg["reason"] == "compiler-artifact" && cdylib {
            found = msg["filenames"].as_array().and_then(|f| f.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(PathBuf::from));
        }
    }
    found.ok_or_else(|| "cargo built no .wasm cdylib: is `crate-type = [\"cdylib\"]` in Cargo.toml?".into())
}

/// Append `kiln-plugin.toml` as the custom section the host reads, and remove the temp file.
fn embed_manifest(dir: &Path, component: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = kiln_fs::read_input(component, kiln_fs::limits::PLUGIN, "built component").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(component);
    if manifest::embedded(&bytes)?.is_some() {
        return Ok(bytes);
    }
    let text = kiln_fs::read_input(dir.join("kiln-plugin.toml"), kiln_fs::limits::CONFIG, "plugin manifest").map_err(|e| e.to_string())?;
    let mut payload = Vec::new();
    leb128(&mut payload, MANIFEST_SECTION.len() as u64);
    payload.extend_from_slice(MANIFEST_SECTION.as_bytes());
    payload.extend_from_slice(&text);
    bytes.push(0);
    leb128(&mut bytes, payload.len() as u64);
    bytes.extend_from_slice(&payload);
    Ok(bytes)
}

fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn leb128_encodes_like_the_spec() {
        let mut v = Vec::new();
        super::leb128(&mut v, 624485);
        assert_eq!(v, [0xe5, 0x8e, 0x26]);
    }
}
