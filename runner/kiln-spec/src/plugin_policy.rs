//! `kiln: plugins:`: what the build allows plugins to have. The host grants each plugin the
//! intersection of what its manifest requests and this policy (see `kiln-host`'s `Grants`).
//!
//! ```yaml
//! kiln:
//!   plugins:
//!     allow:                  # every plugin (these are the defaults)
//!       read-source: true     # /src mounted read-only
//!       write-output: true    # /out mounted read-write
//!       env: []               # buildspec `env.variables` a plugin may see if it asks by name
//!       precise-clock: false  # otherwise clocks tick in 1 ms steps
//!       max-memory: 256MiB    # cap on linear memory (KiB/MiB/GiB or bytes)
//!       timeout: 5m           # cap on one call (ms/s/m/h)
//!     per-plugin:             # overrides for one plugin, by manifest name; unset keys inherit `allow`
//!       hello-step:
//!         write-output: false
//! ```
//!
//! `network: true` is an error: plugins never get network access in this version of kiln.

use serde::Serialize;

use crate::model::Spanned;
use crate::read::Ctx;
use crate::yaml::Node;

/// One set of allowances; `None` means "not written" (inherit, or kiln's default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PluginAllow {
    pub read_source: Option<bool>,
    pub write_output: Option<bool>,
    /// Names of variables a plugin may receive (values come from the buildspec's `env.variables`).
    pub env: Option<Vec<Spanned<String>>>,
    pub precise_clock: Option<bool>,
    /// Bytes.
    pub max_memory: Option<u64>,
    /// Milliseconds.
    pub timeout_ms: Option<u64>,
}

impl PluginAllow {
    /// `self` with every unset key taken from `base`.
    pub fn or(&self, base: &PluginAllow) -> PluginAllow {
        PluginAllow {
            read_source: self.read_source.or(base.read_source),
            write_output: self.write_output.or(base.write_output),
            env: self.env.clone().or_else(|| base.env.clone()),
            precise_clock: self.precise_clock.or(base.precise_clock),
            max_memory: self.max_memory.or(base.max_memory),
            timeout_ms: self.timeout_ms.or(base.timeout_ms),
        }
    }
}

/// `kiln: plugins:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PluginsPolicy {
    /// What every plugin may have.
    pub allow: PluginAllow,
    /// Overrides by plugin name (the manifest's `name`).
    pub per_plugin: Vec<(Spanned<String>, PluginAllow)>,
}

impl PluginsPolicy {
    /// The effective allowances for the plugin named `name` (per-plugin keys over `allow`).
    pub fn for_plugin(&self, name: &str) -> PluginAllow {
        match self.per_plugin.iter().find(|(n, _)| n.value == name) {
            Some((_, a)) => a.or(&self.allow),
            None => self.allow.clone(),
        }
    }
}

const ALLOW_KEYS: &[&str] = &["read-source", "write-output", "env", "precise-clock", "max-memory", "timeout", "network"];

pub(crate) fn plugins(cx: &mut Ctx, node: &Node) -> PluginsPolicy {
    let mut p = PluginsPolicy::default();
    for f in cx.fields(node, "kiln.plugins", &["allow", "per-plugin"]) {
        if f.key == "allow" {
            p.allow = allow(cx, f.value, "kiln.plugins.allow");
            continue;
        }
        for g in cx.fields(f.value, "kiln.plugins.per-plugin", &[]) {
            let name = g.key.to_string();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
                cx.error("E0712", format!("`{name}` is not a plugin name (1-64 characters from [a-z0-9-_])"), g.key_node.span);
                continue;
            }
            let a = allow(cx, g.value, &format!("kiln.plugins.per-plugin.{name}"));
            p.per_plugin.push((Spanned::new(name, g.key_node.span), a));
        }
    }
    p
}

fn allow(cx: &mut Ctx, node: &Node, what: &str) -> PluginAllow {
    let mut a = PluginAllow::default();
    for f in cx.fields(node, what, ALLOW_KEYS) {
        let w = format!("{what}.{}", f.key);
        match f.key {
            "read-source" => a.read_source = cx.boolean(f.value, &w),
            "write-output" => a.write_output = cx.boolean(f.value, &w),
            "precise-clock" => a.precise_clock = cx.boolean(f.value, &w),
            "env" => a.env = Some(cx.string_list(f.value, &w)),
            "network" => {
                if cx.boolean(f.value, &w) == Some(true) {
                    cx.error("E0711", format!("`{w}`: plugins never get network access in this version of kiln"), f.value.span).help =
                        Some("remove the key; a plugin that needs the network cannot run under kiln yet".into());
                }
            }
            "max-memory" => {
                a.max_memory = cx.string(f.value, &w).and_then(|s| match parse_size(&s.value) {
                    Some(n) => Some(n),
                    None => {
                        cx.error("E0710", format!("`{w}`: `{}` is not a size", s.value), s.span).help =
                            Some("write a number of bytes or a number with KiB, MiB or GiB, e.g. `128MiB`".into());
                        None
                    }
                })
            }
            _ => {
                a.timeout_ms = cx.string(f.value, &w).and_then(|s| match parse_duration_ms(&s.value) {
                    Some(n) => Some(n),
                    None => {
                        cx.error("E0710", format!("`{w}`: `{}` is not a duration", s.value), s.span).help =
                            Some("write a number with ms, s, m or h, e.g. `30s`".into());
                        None
                    }
                })
            }
        }
    }
    a
}

/// `"64MiB"`, `"1GiB"`, `"512KiB"`, `"1000"` (bytes).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)]
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n.trim(), *m)))
        .unwrap_or((s, 1));
    num.parse::<u64>().ok()?.checked_mul(mult).filter(|n| *n > 0)
}

/// `"500ms"`, `"30s"`, `"2m"`, `"1h"` in milliseconds.
fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, unit) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s.strip_suffix('h')?, 3_600_000)
    };
    num.trim().parse::<u64>().ok()?.checked_mul(unit).filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use crate::parse_buildspec;

    fn spec(kiln: &str) -> crate::Parsed {
        parse_buildspec(&format!("version: 0.2\nphases:\n  build:\n    commands:\n      - echo\nkiln:\n  plugins:\n{kiln}"))
    }

    #[test]
    fn allow_and_per_plugin_overrides() {
        let p = spec("    allow:\n      env: [A, B]\n      max-memory: 128MiB\n      timeout: 30s\n      precise-clock: yes\n    per-plugin:\n      hello-step:\n        write-output: false\n        env: []\n");
        assert!(!p.has_errors(), "{:?}", p.diagnostics);
        let pol = &p.spec.unwrap().kiln.plugins;
        assert_eq!(pol.allow.max_memory, Some(128 << 20));
        assert_eq!(pol.allow.timeout_ms, Some(30_000));
        let h = pol.for_plugin("hello-step");
        assert_eq!(h.write_output, Some(false));
        assert_eq!(h.env.as_ref().map(Vec::len), Some(0));
        assert_eq!(h.max_memory, Some(128 << 20), "inherited from allow");
        assert_eq!(h.precise_clock, Some(true));
        assert_eq!(pol.for_plugin("other").env.map(|v| v.len()), Some(2));
    }

    #[test]
    fn bad_values_are_located_errors() {
        let p = spec("    allow:\n      max-memory: lots\n      timeout: 10\n      network: true\n    per-plugin:\n      Bad Name: {}\n");
        let codes: Vec<(&str, u32)> = p.diagnostics.iter().filter(|d| d.is_error()).map(|d| (d.code, d.span.line)).collect();
        assert_eq!(codes, vec![("E0710", 9), ("E0710", 10), ("E0711", 11), ("E0712", 13)], "{:?}", p.diagnostics);
        let p = spec("    alow: {}\n");
        assert!(p.diagnostics.iter().any(|d| d.code == "W0001" && d.help.as_deref() == Some("did you mean `allow`?")), "{:?}", p.diagnostics);
    }
}
