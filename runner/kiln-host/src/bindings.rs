//! Host bindings generated from the released WIT versions in `wit/kiln-plugin/`, one module per
//! version and world. A new released version gets its own module here, and the host keeps
//! linking the old ones (see `wit/README.md`).
//!
//! Only `v0_1_0::step` is wired into the host today; `signer` and `deploy-strategy` are generated
//! so that their WIT is checked on every build and the later issues start from compiled types.

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

    /// The `signer` world (shape only; no host implementation yet).
    pub mod signer {
        wasmtime::component::bindgen!({
            path: "../../wit/kiln-plugin/v0.1.0",
            world: "signer",
            imports: { default: trappable },
            exports: { default: async },
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
