//! kiln-deploy-session: what `kiln deploy` does around the deployment engine.
//!
//! `kiln-deploy` runs a deployment over seams (target, traffic, metrics, strategies, store);
//! this crate fills them for one command: the revision ([`revision`]: a build of the project or
//! an artifact, staged content-addressed), the fleet the group file names ([`fleet`]: the local
//! driver behind kiln-router, or SSH hosts, brought back to their recorded state first), the
//! strategy plugins (`kiln-deploy-plugins` over a `kiln-host` the caller gives), and live
//! progress ([`progress`]). Verifying the revision's provenance and signing the deployment
//! attestation stay in the `kiln` binary, which owns keys and the signer plugin; this crate
//! never sees a key.
//!
//! ```text
//! kiln deploy SOURCE ─▶ revision::find ─▶ (kiln verify) ─▶ revision::stage ─▶ RevisionRef
//! Session::for_new(config)       fleet opened, restored to the group's last good revision
//! Session::for_record(config, info)   … to what an interrupted deployment's record says
//! session.deploy(rev, options) | resume(id) | rollback(id)  ─▶ kiln_deploy::RunOutcome
//! session.shutdown()             services and router stop (the local fleet lives with kiln)
//! ```

pub mod fleet;
pub mod progress;
pub mod revision;
mod session;

pub use session::{group_dir, Session, SessionConfig};
