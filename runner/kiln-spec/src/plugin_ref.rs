//! What a `uses:` value names: a built-in plugin, a component file, or a pinned `name@sha256:…`.

/// A parsed `uses:` reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginRef {
    /// A plugin that ships inside kiln (`secrets-scan`).
    Builtin(String),
    /// A component file (`./plugins/x.wasm`, `/abs/x.wasm`), optionally pinned (`x.wasm@sha256:…`).
    Path { path: String, sha256: Option<String> },
    /// A plugin named in `kiln.lock`, pinned by digest (`name@sha256:…`).
    Pinned { name: String, sha256: String },
}

impl PluginRef {
    /// Parse a `uses:` value.
    pub fn parse(text: &str) -> Result<PluginRef, String> {
        let text = text.trim();
        let (target, sha256) = match text.rsplit_once("@sha256:") {
            Some((t, d)) => {
                if d.len() != 64 || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err("a sha256 pin is 64 hexadecimal digits".into());
                }
                (t, Some(d.to_ascii_lowercase()))
            }
            None if text.contains('@') => return Err("only `@sha256:<digest>` pins are supported".into()),
            None => (text, None),
        };
        if target.is_empty() {
            return Err("the plugin name is empty".into());
        }
        let is_path = target.contains('/') || target.ends_with(".wasm");
        if is_path {
            return Ok(PluginRef::Path { path: target.to_string(), sha256 });
        }
        if !target.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err("a plugin name holds only letters, digits, `-` and `_` (or write a path ending in .wasm)".into());
        }
        Ok(match sha256 {
            Some(sha256) => PluginRef::Pinned { name: target.to_string(), sha256 },
            None => PluginRef::Builtin(target.to_string()),
        })
    }
}

/// Why `text` is not a valid reference, if it is not.
pub fn problem(text: &str) -> Option<String> {
    PluginRef::parse(text).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(PluginRef::parse("secrets-scan"), Ok(PluginRef::Builtin("secrets-scan".into())));
        assert_eq!(PluginRef::parse("./p/x.wasm"), Ok(PluginRef::Path { path: "./p/x.wasm".into(), sha256: None }));
        let d = "a".repeat(64);
        assert_eq!(PluginRef::parse(&format!("lint@sha256:{d}")), Ok(PluginRef::Pinned { name: "lint".into(), sha256: d.clone() }));
        assert_eq!(PluginRef::parse(&format!("x.wasm@sha256:{d}")), Ok(PluginRef::Path { path: "x.wasm".into(), sha256: Some(d) }));
        assert!(PluginRef::parse("lint@v1").is_err());
        assert!(PluginRef::parse("lint@sha256:abc").is_err());
        assert!(PluginRef::parse("bad name").is_err());
        assert!(PluginRef::parse("").is_err());
    }
}
