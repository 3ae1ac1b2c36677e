//! kiln-spec: the AWS CodeBuild buildspec as kiln understands it.
//!
//! Reads buildspec YAML into a tree that keeps every node's line and column ([`yaml`]), converts it
//! into the typed [`BuildSpec`] while collecting located [`Diagnostic`]s (errors that stop a build,
//! warnings such as unknown keys with a "did you mean"), and renders them in the rustc/miette style.
//! It has no heavy dependencies and never panics on any input (see the fuzz target in `fuzz/`).
//!
//! Where to look: the data model is in [`model`]; top level, version and phases in `buildspec.rs`;
//! env, artifacts, reports, cache and `kiln:` in `sections.rs`; `batch` (with its graph checks) in
//! [`batch`].
//!
//! CodeDeploy AppSpec files (EC2/on-premises, ECS and Lambda) are read the same way, by the same
//! YAML tree and helpers, in [`appspec`]: [`parse_appspec`] gives an [`appspec::AppSpec`] and
//! located diagnostics, and [`appspec::lifecycle()`] (module [`appspec::lifecycle`](mod@appspec::lifecycle)) holds CodeDeploy's lifecycle event orders as data.

pub mod appspec;
pub mod diag;
pub mod model;
pub mod yaml;

pub mod batch;
mod buildspec;
pub mod plugin_policy;
pub mod plugin_ref;
pub mod read;
mod sections;

pub use appspec::{looks_like_appspec, parse_appspec, ParsedAppSpec};
pub use buildspec::{parse_buildspec, parse_on_failure, Parsed};
pub use plugin_policy::{PluginAllow, PluginsPolicy};
pub use sections::SEVERITIES;
pub use plugin_ref::PluginRef;
pub use diag::{Diagnostic, Severity, Span};
pub use model::*;
pub use sections::SHELLS;
