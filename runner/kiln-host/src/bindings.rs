//! Host bindings generated from the released WIT versions in `wit/kiln-plugin/`, one module per
//! version and world. A new released version gets its own module here, and the host keeps
//! linking the old ones (see `wit/README.md`).
//!
//! `v0_1_0::step` and `v0_1_0::signer` are wired into the host; `deploy-strategy` is generated
//! so that its WIT is checked on every build and the later issue starts from compiled types.

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

    /// The `deploy-strategy` world (shape only; no host implementation yet).
    pub mod deploy {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "deploy-strategy",
            imports: { default: trappable },
            exports: { default: async },
        });
    }
}
