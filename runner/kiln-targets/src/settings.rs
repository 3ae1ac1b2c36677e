//! The drivers' part of the deployment group file: `targets.settings` (and each instance's own
//! keys), read with serde from the JSON kiln-deploy keeps for them. Unknown keys are refused
//! with the key's path, so a typo never silently means "default".
//!
//! ```yaml
//! targets:
//!   driver: local
//!   settings:
//!     service:                      # the revision's long-running process on each instance
//!       command: [python3, server.py]
//!       cwd: /srv/web               # a path on the instance (under its root); default: its root
//!       env: {GREETING: hello}
//!       port-env: PORT              # the variable that carries its port (default PORT)
//!       health-path: /health        # HTTP GET answered 2xx/3xx; without it, a TCP connect
//!       start-timeout: 10           # seconds for the service to accept connections
//!       stop-timeout: 5             # seconds between SIGTERM and SIGKILL
//!     router:
//!       listen: 127.0.0.1:8080      # default: a free loopback port (printed)
//!       drain-timeout: 30           # seconds (ELB's deregistration delay)
//!     functions:                    # ECS and Lambda hook functions, as local commands
//!       preTraffic: {command: [sh, hooks/pre-traffic.sh], timeout: 60}
//!     metrics: {path: /metrics, interval-ms: 1000}   # numbers each instance reports
//!     max-processes: 512
//!   instances: [web-1, web-2]
//! ---
//! targets:
//!   driver: ssh
//!   settings:
//!     identity: ~/.ssh/deploy_ed25519     # the key ssh uses (IdentitiesOnly)
//!     known-hosts: ./known_hosts          # checked strictly: an unknown host key is refused
//!     user: deploy
//!     root: /var/lib/kiln-deploy          # where revisions and instance state live on the hosts
//!     connect-timeout: 10
//!   instances:
//!     - {id: web-1, host: 10.0.0.5, port: 22, http: 8080}
//! ```
//!
//! Relative paths (`identity`, `known-hosts`) are relative to the group file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A settings problem: the key's path and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SettingsError {
    pub path: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        SettingsError { path: path.into(), message: message.into() }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(value: &serde_json::Value, path: &str) -> Result<T, SettingsError> {
    let v = if value.is_null() { serde_json::Value::Object(Default::default()) } else { value.clone() };
    serde_json::from_value(v).map_err(|e| SettingsError::new(path, e.to_string()))
}

/// `targets.settings` of the `local` driver.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LocalSettings {
    pub service: Option<ServiceSettings>,
    #[serde(default)]
    pub router: RouterSettings,
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionSettings>,
    pub metrics: Option<MetricsSettings>,
    pub max_processes: Option<u64>,
}

/// How each instance runs the revision.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceSettings {
    pub command: Vec<String>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default = "default_port_env")]
    pub port_env: String,
    pub health_path: Option<String>,
    #[serde(default = "default_start_timeout")]
    pub start_timeout: u64,
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: u64,
}

fn default_port_env() -> String {
    "PORT".into()
}
fn default_start_timeout() -> u64 {
    10
}
fn default_stop_timeout() -> u64 {
    5
}

/// The deployment's load balancer (kiln-router).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouterSettings {
    pub listen: Option<String>,
    #[serde(default = "default_drain")]
    pub drain_timeout: u64,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings { listen: None, drain_timeout: default_drain() }
    }
}

fn default_drain() -> u64 {
    30
}

impl RouterSettings {
    /// The listen address (loopback, a free port, when not given).
    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        match &self.listen {
            None => Ok(SocketAddr::from(([127, 0, 0, 1], 0))),
            Some(s) => s.parse().map_err(|_| SettingsError::new("targets.settings.router.listen", format!("`{s}` is not an address such as 127.0.0.1:8080"))),
        }
    }
}

/// An ECS or Lambda hook function, mapped to a local command.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FunctionSettings {
    pub command: Vec<String>,
    /// Seconds (at most 3600, the hook contract's hour).
    pub timeout: Option<u64>,
}

/// Numbers the instances report over HTTP (`name value` lines).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsSettings {
    pub path: String,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
}

fn default_interval() -> u64 {
    1000
}

impl LocalSettings {
    /// Read and check `targets.settings`.
    pub fn from_json(value: &serde_json::Value) -> Result<LocalSettings, SettingsError> {
        let s: LocalSettings = parse(value, "targets.settings")?;
        if let Some(svc) = &s.service {
            check_command(&svc.command, "targets.settings.service.command")?;
            if let Some(cwd) = &svc.cwd {
                instance_path(cwd, "targets.settings.service.cwd")?;
            }
            if !svc.port_env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') || svc.port_env.is_empty() {
                return Err(SettingsError::new("targets.settings.service.port-env", "must be a variable name (letters, digits, `_`)"));
            }
            if let Some(p) = &svc.health_path
                && !p.starts_with('/')
            {
                return Err(SettingsError::new("targets.settings.service.health-path", "must start with `/`"));
            }
            if svc.start_timeout == 0 || svc.start_timeout > 3600 {
                return Err(SettingsError::new("targets.settings.service.start-timeout", "must be 1 to 3600 seconds"));
            }
        }
        s.router.listen_addr()?;
        for (name, f) in &s.functions {
            check_command(&f.command, &format!("targets.settings.functions.{name}.command"))?;
            if f.timeout.is_some_and(|t| t == 0 || t > 3600) {
                return Err(SettingsError::new(format!("targets.settings.functions.{name}.timeout"), "must be 1 to 3600 seconds (a hook function has at most an hour)"));
            }
        }
        if let Some(m) = &s.metrics
            && (!m.path.starts_with('/') || m.interval_ms < 10)
        {
            return Err(SettingsError::new("targets.settings.metrics", "`path` must start with `/` and `interval-ms` be at least 10"));
        }
        Ok(s)
    }
}

fn check_command(cmd: &[String], path: &str) -> Result<(), SettingsError> {
    if cmd.is_empty() || cmd[0].is_empty() {
        return Err(SettingsError::new(path, "give the program and its arguments, e.g. [python3, server.py]"));
    }
    if cmd.iter().any(|a| a.contains('\0')) {
        return Err(SettingsError::new(path, "an argument contains a NUL byte"));
    }
    Ok(())
}

/// An absolute path on an instance (`/srv/web`), checked: no `..`, no NUL.
pub fn instance_path(p: &str, path: &str) -> Result<PathBuf, SettingsError> {
    let pb = PathBuf::from(p);
    if !pb.is_absolute() || pb.components().any(|c| matches!(c, std::path::Component::ParentDir)) || p.contains('\0') {
        return Err(SettingsError::new(path, format!("`{p}` must be an absolute path on the instance without `..`")));
    }
    Ok(pb)
}

/// `targets.settings` of the `ssh` driver.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SshSettings {
    pub identity: String,
    pub known_hosts: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_remote_root")]
    pub root: String,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: u64,
    /// Commands run on the host after ApplicationStart's scripts and after ApplicationStop's
    /// (optional; the appspec's scripts usually manage the service).
    pub start: Option<String>,
    pub stop: Option<String>,
    #[serde(default)]
    pub router: RouterSettings,
    /// The ssh program (default `ssh`, found on PATH).
    #[serde(default = "default_ssh")]
    pub ssh: String,
}

fn default_user() -> String {
    "root".into()
}
fn default_remote_root() -> String {
    "/var/lib/kiln-deploy".into()
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_ssh() -> String {
    "ssh".into()
}

/// One SSH host of the fleet.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SshHost {
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    pub user: Option<String>,
    /// The port its service answers HTTP on, for the router (traffic control) and health checks.
    pub http: Option<u16>,
}

fn default_ssh_port() -> u16 {
    22
}

impl SshSettings {
    /// Read and check `targets.settings`; relative paths resolve against `base`.
    pub fn from_json(value: &serde_json::Value, base: &Path) -> Result<SshSettings, SettingsError> {
        let mut s: SshSettings = parse(value, "targets.settings")?;
        s.identity = resolve(base, &s.identity);
        s.known_hosts = resolve(base, &s.known_hosts);
        instance_path(&s.root, "targets.settings.root")?;
        if !valid_user(&s.user) {
            return Err(SettingsError::new("targets.settings.user", format!("`{}` is not a user name", s.user)));
        }
        if s.connect_timeout == 0 || s.connect_timeout > 600 {
            return Err(SettingsError::new("targets.settings.connect-timeout", "must be 1 to 600 seconds"));
        }
        s.router.listen_addr()?;
        Ok(s)
    }
}

impl SshHost {
    /// One instance's keys (`host` required).
    pub fn from_json(id: &str, value: &serde_json::Value) -> Result<SshHost, SettingsError> {
        let path = format!("targets.instances.{id}");
        let h: SshHost = parse(value, &path).map_err(|e| if e.message.contains("missing field") { SettingsError::new(&path, "give `host:` (and `port:` unless 22)") } else { e })?;
        if h.host.is_empty() || h.host.starts_with('-') || !h.host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b)) {
            return Err(SettingsError::new(format!("{path}.host"), format!("`{}` is not a host name or address", h.host)));
        }
        if let Some(u) = &h.user
            && !valid_user(u)
        {
            return Err(SettingsError::new(format!("{path}.user"), format!("`{u}` is not a user name")));
        }
        Ok(h)
    }
}

/// A POSIX user name (what `useradd` accepts), never an option.
pub fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= 32 && !u.starts_with('-') && u.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn resolve(base: &Path, p: &str) -> String {
    if let Some(rest) = p.strip_prefix("~/") {
        return std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest).display().to_string();
    }
    let pb = Path::new(p);
    if pb.is_absolute() { p.to_string() } else { base.join(pb).display().to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn local_settings_name_the_bad_key() {
        let s = LocalSettings::from_json(&json!({"service": {"command": ["python3", "server.py"], "cwd": "/srv/web"}})).unwrap();
        assert_eq!(s.service.unwrap().port_env, "PORT");
        assert_eq!(s.router.drain_timeout, 30);
        let e = LocalSettings::from_json(&json!({"service": {"comand": ["x"]}})).unwrap_err();
        assert!(e.to_string().starts_with("targets.settings: unknown field `comand`"), "{e}");
        let e = LocalSettings::from_json(&json!({"service": {"command": ["x"], "cwd": "srv/../x"}})).unwrap_err();
        assert_eq!(e.path, "targets.settings.service.cwd");
        let e = LocalSettings::from_json(&json!({"service": {"command": []}})).unwrap_err();
        assert_eq!(e.path, "targets.settings.service.command");
        let e = LocalSettings::from_json(&json!({"router": {"listen": "nowhere"}})).unwrap_err();
        assert!(e.to_string().contains("is not an address"), "{e}");
        let e = LocalSettings::from_json(&json!({"functions": {"pre": {"command": ["a"], "timeout": 7200}}})).unwrap_err();
        assert_eq!(e.path, "targets.settings.functions.pre.timeout");
        assert!(LocalSettings::from_json(&serde_json::Value::Null).is_ok());
    }

    #[test]
    fn ssh_settings_resolve_paths_and_refuse_option_like_hosts() {
        let s = SshSettings::from_json(&json!({"identity": "keys/id", "known-hosts": "/etc/kh"}), Path::new("/proj")).unwrap();
        assert_eq!((s.identity.as_str(), s.known_hosts.as_str(), s.user.as_str()), ("/proj/keys/id", "/etc/kh", "root"));
        assert!(SshSettings::from_json(&json!({"identity": "k"}), Path::new("/")).is_err());
        assert!(SshSettings::from_json(&json!({"identity": "k", "known-hosts": "h", "user": "-oProxyCommand=x"}), Path::new("/")).is_err());
        assert!(SshHost::from_json("web-1", &json!({"host": "-oProxyCommand=evil"})).is_err());
        assert!(SshHost::from_json("web-1", &json!({"host": "a b"})).is_err());
        assert_eq!(SshHost::from_json("web-1", &json!({"host": "127.0.0.1", "port": 2222})).unwrap().port, 2222);
        let e = SshHost::from_json("web-1", &json!({})).unwrap_err();
        assert!(e.to_string().contains("give `host:`"), "{e}");
    }
}
