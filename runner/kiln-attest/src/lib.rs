//! Supply-chain attestation for kiln: cosign-compatible keys and blob signatures, Sigstore
//! bundles, DSSE envelopes, in-toto Statements and SLSA v1 provenance, written and verified
//! offline.
//!
//! What kiln writes here is meant to be checked by tools that are not kiln (cosign, sigstore-*,
//! slsa-verifier, in-toto, witness), and what those tools write is read here; the byte-level rules
//! are in `shared/reference/formats.md` and the interop corpus tests (`tests/corpus_*.rs`) hold
//! this crate to them.
//!
//! - [`keys`]: [`KeyPair`] (generate, encrypted `cosign.key` read/write), [`Password`], the
//!   [`Signer`] trait the host uses to sign on behalf of plugins.
//! - [`pubkey`]: [`PublicKey`] (`cosign.pub`, DER, certificate keys) and signature verification.
//! - [`blob`]: `sign-blob` / `verify-blob` signatures.
//! - [`bundle`]: Sigstore bundles (v0.1-v0.3 read, v0.3 written) and their offline verification.
//! - [`dsse`]: DSSE envelopes, PAE, `.intoto.jsonl` files.
//! - [`intoto`] and [`slsa`]: the in-toto Statement and SLSA Provenance v1 predicate types.
//! - [`trust`]: Sigstore trusted roots, Fulcio certificate chains and Rekor entry checks, for
//!   certificate-based signatures made by other tools.
//!
//! Nothing here touches the network. Every failure is an [`Error`] with a stable
//! [`Error::reason`] code; malformed input never panics (see the fuzz targets in `fuzz/`).

#![deny(missing_docs)]

pub mod blob;
pub mod bundle;
pub mod dsse;
pub mod error;
pub mod intoto;
mod kdf;
pub mod keys;
mod pem;
pub mod pubkey;
pub mod slsa;
mod tlog;
pub mod trust;
pub mod util;

pub use error::{Error, Result};
pub use keys::{KeyPair, Password, Signer};
pub use pubkey::{Algorithm, PublicKey};
