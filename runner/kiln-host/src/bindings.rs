//! Host bindings generated from the released WIT versions in `wit/kiln-plugin/`, one module per
//! version and world. A new released version gets its own module here, and the host keeps
//! linking the old ones (see `wit/README.md`).
//!
//! Every world of `v0_1_0` is wired into the host: `step` and `file_scanner` (`run.rs`, `scan.rs`),
//! `signer` (`signer.rs`), `deploy` (`strategy/`).

/// `kiln:plugin@0.1.0`.
pub mod v0_1_0 {
    /// The `step` world: host imports `log`, `progress`, `config`; export `step-plugin`.
    pub mod step {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "step",
            imports: { default: trappable },
            exports: { default: async },
        });
    }

    /// The `file-scanner` world: the same imports as `step` (mapped onto the step bindings, so
    /// one set of host implementations serves both); export `file-scanner-plugin`.
    pub mod file_scanner {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "file-scanner",
            imports: { default: trappable },
            exports: { default: async },
            with: {
                "kiln:plugin/types": crate::bindings::v0_1_0::step::kiln::plugin::types,
                "kiln:plugin/log": crate::bindings::v0_1_0::step::kiln::plugin::log,
                "kiln:plugin/progress": crate::bindings::v0_1_0::step::kiln::plugin::progress,
                "kiln:plugin/config": crate::bindings::v0_1_0::step::kiln::plugin::config,
            },
        });
    }

    /// The `signer` world: host imports `log`, `config`, `signing` (the `signing-key` resource
    /// is [`crate::signer::KeyHandle`]); export `signer-plugin`.
    pub mod signer {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "signer",
            imports: { default: trappable },
            exports: { default: async },
            with: { "kiln:plugin/signing.signing-key": crate::signer::KeyHandle },
        });
    }

    /// The `deploy-strategy` world: host imports `log` and `config` (mapped onto the step
    /// bindings, so one set of host implementations serves every world); export
    /// `deploy-strategy-plugin` (the `strategy` resource).
    pub mod deploy {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "deploy-strategy",
            imports: { default: trappable },
            exports: { default: async },
            with: {
                "kiln:plugin/log": crate::bindings::v0_1_0::step::kiln::plugin::log,
                "kiln:plugin/config": crate::bindings::v0_1_0::step::kiln::plugin::config,
            },
        });
    }
}
