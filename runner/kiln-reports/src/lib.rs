//! CodeBuild reports for kiln (crate doc written at the end).

mod builder;
mod clover;
mod cobertura;
mod cucumber;
mod format;
mod input;
mod jacoco;
mod json;
mod junit;
mod kept;
mod lcov;
mod limits;
mod merge;
mod model;
mod nunit;
mod parse;
mod sarif;
mod simplecov;
mod testng;
mod trx;
mod util;
mod xml;

pub use builder::{NotKept, Normalized, ReportBuilder, ReportOutput};
pub use format::{Format, sniff};
pub use limits::Limits;
pub use merge::merge_batch;
pub use model::*;
