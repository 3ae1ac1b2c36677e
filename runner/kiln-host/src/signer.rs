//! Running `signer` plugins (`kiln:plugin/signer`): the host side of the `signing` interface.
//!
//! A signer plugin decides *what* to sign and *how to package it*; the host holds the keys. The
//! plugin opens a key by name and gets an opaque `signing-key` resource handle; `sign` runs in the
//! host. Private keys and their passwords stay in host memory behind the [`KeyStore`] trait: the
//! guest only ever receives signatures and the public key.
//!
//! - `open` succeeds only for names in [`SignerInvocation::granted_keys`] that the store also
//!   has; every other name (unknown, ungranted, almost-right) is `unknown-key` with the same
//!   message, so a plugin cannot probe which keys exist.
//! - A handle the host never gave out (a forged resource index) traps the call.
//! - A signer gets no files, no environment, no network and coarse clocks, whatever its manifest
//!   asks for; memory and time are capped like a step's.

use crate::bindings::v0_1_0::signer::exports::kiln::plugin::signer_plugin;
use crate::bindings::v0_1_0::signer::kiln::plugin::{config, log, signing};
use crate::error::PluginError;
use crate::imports::{PluginConfig, PluginLog};
use crate::host::LoadedSigner;
use crate::limits::{LimitHit, LimitKind, Limiter, Limits};
use crate::stdio::CappedPipe;
use crate::types::LogRecord;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// The algorithms the `signing` interface knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// ECDSA over P-256 with SHA-256 (cosign's default); signatures are ASN.1 DER.
    EcdsaP256Sha256,
    /// Ed25519 (pure); signatures are 64 raw bytes.
    Ed25519,
}

/// A private key held by the host. Implementations keep the key material (and any password)
/// to themselves: the trait only signs and hands out the public half.
pub trait HostKey: Send + Sync {
    /// The key's algorithm; `None` when the interface cannot express it (the plugin then gets
    /// `unavailable` on `open`).
    fn algorithm(&self) -> Option<SigningAlgorithm>;
    /// The public key, PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    fn public_key_pem(&self) -> String;
    /// Sign `data` (the key hashes as its algorithm requires); the raw signature.
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String>;
}

/// Where the host's keys live, by name.
pub trait KeyStore: Send + Sync {
    /// The key called `name`, if there is one.
    fn key(&self, name: &str) -> Option<Arc<dyn HostKey>>;
}

/// One call of a signer plugin.
#[derive(Clone)]
pub struct SignerInvocation {
    /// The plugin's config (a JSON object), readable through the `config` import.
    pub config: serde_json::Value,
    /// The host's keys.
    pub keys: Arc<dyn KeyStore>,
    /// The key names this plugin may open; everything else is `unknown-key`.
    pub granted_keys: BTreeSet<String>,
    /// Host-side caps (memory, time, log bytes, stdio, string sizes).
    pub limits: Limits,
}

impl std::fmt::Debug for SignerInvocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerInvocation")
            .field("config", &self.config)
            .field("granted_keys", &self.granted_keys)
            .finish_non_exhaustive()
    }
}

impl SignerInvocation {
    /// A call with an empty config, default limits, and `keys` of which `granted` may be opened.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(
        keys: Arc<dyn KeyStore>,
        granted: I,
    ) -> Self {
        SignerInvocation {
            config: serde_json::Value::Object(Default::default()),
            keys,
            granted_keys: granted.into_iter().map(Into::into).collect(),
            limits: Limits::default(),
        }
    }
}

/// Something to sign (see `signer-plugin.subject` in `signer.wit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignSubject {
    /// Name as the build record shows it.
    pub name: String,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
    /// The bytes to sign when the plugin signs content (e.g. a statement); empty otherwise.
    pub payload: Vec<u8>,
}

/// A signature a plugin returned, unchecked: the caller verifies it against the key's public
/// half before trusting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSignature {
    /// Which subject it is for.
    pub subject_name: String,
    /// Its format, e.g. `application/vnd.dsse.envelope.v1+json`.
    pub media_type: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// What a signer call produced.
#[derive(Debug, Clone)]
pub struct SignOutcome {
    /// The signatures, in the plugin's order.
    pub signatures: Vec<PluginSignature>,
    /// Every `log` record.
    pub logs: Vec<LogRecord>,
    /// Captured stderr (lossy, capped).
    pub stderr: String,
    /// How many `sign` calls the plugin made on host keys.
    pub host_signatures: usize,
    /// Wall-clock time of the call.
    pub duration: Duration,
}

/// The host object behind a `signing-key` handle: the key name and the host key.
pub struct KeyHandle {
    name: String,
    key: Arc<dyn HostKey>,
}

/// Per-call store data of a signer.
pub(crate) struct SignerState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    config: PluginConfig,
    keys: Arc<dyn KeyStore>,
    granted: BTreeSet<String>,
    log: PluginLog,
    max_sign_bytes: usize,
    host_signatures: usize,
    hit: Option<LimitKind>,
}

impl WasiView for SignerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}


impl log::Host for SignerState {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        match self.log.push(level.into(), message) {
            Ok(_) => Ok(()),
            Err(kind) => {
                self.hit.get_or_insert(kind.clone());
                Err(wasmtime::Error::new(LimitHit(kind)))
            }
        }
    }
}

impl config::Host for SignerState {
    fn get_json(&mut self) -> wasmtime::Result<String> {
        Ok(self.config.json())
    }

    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key))
    }
}

impl signing::Host for SignerState {}

impl signing::HostSigningKey for SignerState {
    fn open(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<Resource<KeyHandle>, signing::SigningError>> {
        // One answer for "not granted" and "does not exist", so names cannot be probed.
        let unknown = || {
            signing::SigningError::UnknownKey(format!(
                "no key {:?} is granted to this plugin",
                name.chars().take(128).collect::<String>()
            ))
        };
        if !self.granted.contains(&name) {
            return Ok(Err(unknown()));
        }
        let Some(key) = self.keys.key(&name) else {
            return Ok(Err(unknown()));
        };
        if key.algorithm().is_none() {
            return Ok(Err(signing::SigningError::Unavailable(format!(
                "key {name:?} uses an algorithm the signing interface cannot express"
            ))));
        }
        Ok(Ok(self.table.push(KeyHandle { name, key })?))
    }

    fn algorithm(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<signing::Algorithm> {
        let k = self.table.get(&key)?;
        Ok(match k.key.algorithm() {
            Some(SigningAlgorithm::Ed25519) => signing::Algorithm::Ed25519,
            _ => signing::Algorithm::EcdsaP256Sha256,
        })
    }

    fn public_key_pem(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(&key)?.key.public_key_pem())
    }

    fn sign(
        &mut self,
        key: Resource<KeyHandle>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, signing::SigningError>> {
        if data.len() > self.max_sign_bytes {
            return Ok(Err(signing::SigningError::Unavailable(format!(
                "{} bytes to sign is more than the {} the host signs in one call",
                data.len(),
                self.max_sign_bytes
            ))));
        }
        let k = self.table.get(&key)?;
        let r = k.key.sign(&data).map_err(|e| {
            signing::SigningError::Unavailable(format!("key {:?}: {e}", k.name))
        });
        if r.is_ok() {
            self.host_signatures += 1;
        }
        Ok(r)
    }

    fn drop(&mut self, key: Resource<KeyHandle>) -> wasmtime::Result<()> {
        self.table.delete(key)?;
        Ok(())
    }
}

/// Most bytes one `sign` call accepts (a statement for 1,000s of artifacts fits easily).
const MAX_SIGN_BYTES: usize = 64 << 20;

impl LoadedSigner {
    /// The plugin's name (from its manifest).
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Call the plugin's `sign` once, in a fresh store, with `inv`'s keys and limits.
    pub async fn sign(
        &self,
        inv: &SignerInvocation,
        subjects: &[SignSubject],
    ) -> Result<SignOutcome, PluginError> {
        let started = Instant::now();
        let plugin = self.manifest.name.clone();
        let errors = self.manifest.validate_config(&inv.config);
        if !errors.is_empty() {
            return Err(PluginError::InvalidConfig { plugin, errors });
        }
        let caps = &self.manifest.capabilities;
        let timeout = caps.timeout.unwrap_or(crate::DEFAULT_TIMEOUT).min(inv.limits.timeout);
        let max_memory = caps.max_memory.unwrap_or(crate::DEFAULT_MEMORY).min(inv.limits.max_memory);
        let stderr = CappedPipe::new(inv.limits.max_stdio_bytes);
        // Nothing but captured stdio: no preopens, no environment, no sockets, coarse clocks.
        let state = SignerState {
            wasi: crate::run::bare_wasi(&stderr),
            table: ResourceTable::new(),
            limiter: Limiter::new(max_memory),
            config: PluginConfig::new(&inv.config),
            keys: inv.keys.clone(),
            granted: inv.granted_keys.clone(),
            log: PluginLog::new(inv.limits.max_log_bytes),
            max_sign_bytes: MAX_SIGN_BYTES,
            host_signatures: 0,
            hit: None,
        };
        let mut store = Store::new(&self.host.engine, state);
        store.limiter(|s| &mut s.limiter);
        let deadline = started + timeout;
        let timeout_kind = LimitKind::Timeout {
            ms: timeout.as_millis() as u64,
        };
        let tk = timeout_kind.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut cx| {
            if Instant::now() >= deadline {
                cx.data_mut().hit.get_or_insert(tk.clone());
                return Err(wasmtime::Error::new(LimitHit(tk.clone())));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let wit_subjects: Vec<signer_plugin::Subject> = subjects
            .iter()
            .map(|s| signer_plugin::Subject {
                name: s.name.clone(),
                sha256: s.sha256.clone(),
                payload: s.payload.clone(),
            })
            .collect();
        let grace = self.host.epoch_tick * 5 + Duration::from_millis(50);
        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            instance
                .kiln_plugin_signer_plugin()
                .call_sign(&mut store, &wit_subjects)
                .await
        };
        let result = tokio::time::timeout(timeout + grace, call).await;
        let (stderr_text, _) = stderr.take();
        let ret = match result {
            Err(_elapsed) => {
                return Err(PluginError::LimitExceeded {
                    plugin,
                    limit: timeout_kind,
                });
            }
            Ok(Err(e)) => {
                let hit = store.data().hit.clone().or(store.data().limiter.hit.clone());
                return Err(crate::run::classify(&plugin, e, hit, &stderr_text));
            }
            Ok(Ok(r)) => r,
        };
        let data = store.into_data();
        let signatures = ret.map_err(|message| PluginError::Failed {
            plugin: plugin.clone(),
            message: message.chars().take(inv.limits.max_string_bytes).collect(),
        })?;
        let max = inv.limits.max_string_bytes;
        let mut out = Vec::with_capacity(signatures.len());
        for s in signatures {
            if s.subject_name.len() > max || s.media_type.len() > max {
                return Err(PluginError::MalformedResult {
                    plugin,
                    reason: format!("a subject name or media type longer than {max} bytes"),
                });
            }
            out.push(PluginSignature {
                subject_name: s.subject_name,
                media_type: s.media_type,
                content: s.content,
            });
        }
        Ok(SignOutcome {
            signatures: out,
            logs: data.log.into_records(),
            stderr: stderr_text,
            host_signatures: data.host_signatures,
            duration: started.elapsed(),
        })
    }
}
