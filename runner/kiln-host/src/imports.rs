//! The kiln host imports every world shares — `log` and `config` — implemented once.
//!
//! Each world's bindings have their own Rust types for the same WIT interfaces, so the per-world
//! stores (`run.rs`, `signer.rs`) keep a [`PluginLog`] and a [`PluginConfig`] and their trait
//! impls only convert the level and delegate here.

use crate::limits::LimitKind;
use crate::types::{LogLevel, LogRecord};

/// A plugin's `log` records, capped at a total number of message bytes.
pub(crate) struct PluginLog {
    records: Vec<LogRecord>,
    bytes: usize,
    max_bytes: usize,
}

impl PluginLog {
    /// An empty log that accepts up to `max_bytes` of messages in all.
    pub(crate) fn new(max_bytes: usize) -> Self {
        PluginLog { records: Vec::new(), bytes: 0, max_bytes }
    }

    /// Keep a record; past the cap, the limit that was hit (and nothing is kept).
    pub(crate) fn push(&mut self, level: LogLevel, message: String) -> Result<&LogRecord, LimitKind> {
        self.bytes = self.bytes.saturating_add(message.len());
        if self.bytes > self.max_bytes {
            return Err(LimitKind::LogBytes { bytes: self.max_bytes });
        }
        self.records.push(LogRecord { level, message });
        Ok(self.records.last().expect("just pushed"))
    }

    /// Every record kept, in order.
    pub(crate) fn into_records(self) -> Vec<LogRecord> {
        self.records
    }
}

/// A call's configuration (the `with:` settings), as the `config` import serves it.
pub(crate) struct PluginConfig {
    json: String,
    map: serde_json::Map<String, serde_json::Value>,
}

impl PluginConfig {
    /// The configuration object `config` (anything else is an empty object).
    pub(crate) fn new(config: &serde_json::Value) -> Self {
        let map = config.as_object().cloned().unwrap_or_default();
        PluginConfig { json: serde_json::Value::Object(map.clone()).to_string(), map }
    }

    /// The whole object as JSON (`config.get-json`).
    pub(crate) fn json(&self) -> String {
        self.json.clone()
    }

    /// One setting as JSON (`config.get`), `None` when not set.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.map.get(key).map(|v| v.to_string())
    }
}

/// `log::Host` and `config::Host` of the step bindings (which the `file-scanner` and
/// `deploy-strategy` worlds map their imports onto) for a store state with fields
/// `log: PluginLog`, `config: PluginConfig`, `hit: Option<LimitKind>`, `plugin: String` and
/// `on_event: Option<EventSink>`; also its `limit` (record the limit, stop the guest) and `emit`
/// (live events) methods.
macro_rules! kiln_imports {
    ($state:ty) => {
        impl $state {
            /// Records `kind` as the limit hit and returns the error that stops the guest.
            pub(crate) fn limit(&mut self, kind: $crate::limits::LimitKind) -> wasmtime::Error {
                self.hit.get_or_insert(kind.clone());
                wasmtime::Error::new($crate::limits::LimitHit(kind))
            }

            /// Hands `event` to the caller's live sink, if there is one.
            pub(crate) fn emit(&self, event: &$crate::types::PluginEvent) {
                if let Some(sink) = &self.on_event {
                    sink(&self.plugin, event);
                }
            }
        }

        impl $crate::bindings::v0_1_0::step::kiln::plugin::log::Host for $state {
            fn log(&mut self, level: $crate::bindings::v0_1_0::step::kiln::plugin::log::Level, message: String) -> wasmtime::Result<()> {
                match self.log.push(level.into(), message) {
                    Ok(record) => {
                        let event = $crate::types::PluginEvent::Log(record.clone());
                        self.emit(&event);
                        Ok(())
                    }
                    Err(kind) => Err(self.limit(kind)),
                }
            }
        }

        impl $crate::bindings::v0_1_0::step::kiln::plugin::config::Host for $state {
            fn get_json(&mut self) -> wasmtime::Result<String> {
                Ok(self.config.json())
            }

            fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
                Ok(self.config.get(&key))
            }
        }
    };
}
pub(crate) use kiln_imports;

/// `From<world::log::Level> for LogLevel` for each world's generated `Level` type.
macro_rules! log_level_from {
    ($($level:ty),* $(,)?) => {$(
        impl From<$level> for LogLevel {
            fn from(level: $level) -> LogLevel {
                use $level as L;
                match level {
                    L::Trace => LogLevel::Trace,
                    L::Debug => LogLevel::Debug,
                    L::Info => LogLevel::Info,
                    L::Warn => LogLevel::Warn,
                    L::Error => LogLevel::Error,
                }
            }
        }
    )*};
}

log_level_from!(
    crate::bindings::v0_1_0::step::kiln::plugin::log::Level,
    crate::bindings::v0_1_0::signer::kiln::plugin::log::Level,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_records_until_the_byte_cap() {
        let mut log = PluginLog::new(10);
        assert!(log.push(LogLevel::Info, "12345".into()).is_ok());
        assert!(log.push(LogLevel::Warn, "12345".into()).is_ok());
        assert_eq!(log.push(LogLevel::Info, "x".into()).unwrap_err(), LimitKind::LogBytes { bytes: 10 });
        assert_eq!(log.into_records().len(), 2);
    }

    #[test]
    fn config_serves_the_object_and_single_settings() {
        let c = PluginConfig::new(&serde_json::json!({"a": 1, "b": ["x"]}));
        assert_eq!(c.json(), r#"{"a":1,"b":["x"]}"#);
        assert_eq!(c.get("b").as_deref(), Some(r#"["x"]"#));
        assert_eq!(c.get("c"), None);
        assert_eq!(PluginConfig::new(&serde_json::json!("not an object")).json(), "{}");
    }
}
