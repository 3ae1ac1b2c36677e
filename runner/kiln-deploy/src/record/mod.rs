//! The deployment record (`deployment.json`), its store under `.kiln/deployments/`, and the data
//! of a deployment attestation.

pub mod attest;
mod model;
pub mod store;
pub mod time;

pub use model::*;
pub use store::{Control, GroupState, InstanceState, LastDeployment, Store, StoreError};
