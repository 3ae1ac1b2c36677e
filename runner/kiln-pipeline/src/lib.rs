//! kiln-pipeline (in progress)

pub mod api;
pub mod cas;
pub mod exec;
pub mod model;
pub mod params;
pub mod providers;
pub mod read;
pub mod store;
pub mod validate;
pub mod vars;
pub mod workspace;

pub use model::*;
pub use params::{ParamError, Params};
pub use read::{parse, read_file, Definition, Read, ReadError, ReadOptions, SourceKind, Unresolved};
pub use validate::validate;
pub use workspace::{parse_workspace, runnable, Runnable, Target, Workspace};
