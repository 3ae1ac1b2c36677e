//! kiln-pipeline: AWS CodePipeline definitions, read from the files users already have,
//! validated the way CodePipeline validates them, and run by a durable scheduler.
//!
//! **Reading** ([`read`]): the JSON `aws codepipeline get-pipeline` prints, an
//! `AWS::CodePipeline::Pipeline` resource of a CloudFormation template (YAML with the short-form
//! tags, or JSON with the `Fn::` forms), or a kiln YAML of the API's shape, all into one typed
//! model ([`model::Pipeline`], CodePipeline's `PipelineDeclaration`) in which every value keeps
//! its line and column. CloudFormation intrinsics are evaluated offline where the template holds
//! the answer ([`read::cfn`]); the rest become parameters the user supplies ([`Params`]:
//! `--param NAME=VALUE` or a parameters file), reported together in one located diagnostic that
//! names each intrinsic and what to pass. Terraform is not read (it says how to get the JSON).
//!
//! **Validation** ([`validate()`]): CodePipeline's structure rules, name patterns, quotas, the
//! input/output artifact counts per provider, artifacts produced before use, namespaces and
//! `#{ns.key}` references, V2-only features, triggers and stage conditions, each rule with its
//! source (codepipeline.md, the API model, the user guide; CDK/cfn-lint-only checks are
//! warnings). Diagnostics are kiln-spec's ([`kiln_spec::Diagnostic`]): code, position,
//! expected/found, help, "did you mean".
//!
//! **Workspace** ([`workspace`]): a small YAML file that maps cloud names to local things
//! (repositories, build directories and buildspecs, deployment group files, plugins), and the
//! per-action answer to "can kiln run this, and why not".
//!
//! **Execution** ([`exec`]): the scheduler ([`exec::Engine`]) runs stages in order, runOrder
//! groups in parallel, hands artifacts on by name from a content-addressed store ([`cas`]),
//! resolves variables ([`vars`]), implements the SUPERSEDED/QUEUED/PARALLEL execution modes,
//! manual approvals (answered through the store, from any process), stage retries and V2
//! rollback, over executor traits ([`exec::traits`]) that the CLI implements with real builds and
//! deployments. All state is in the [`store`] (sqlx + SQLite in WAL mode, portable SQL for
//! PostgreSQL later); every write is a compare-and-set that names the attempt it belongs to, and
//! running attempts hold leases, so two schedulers never run an action twice and a `kill -9`
//! loses nothing that was completed.
//!
//! Security: every file is read through kiln-fs (regular files only, bounded) and every YAML
//! through kiln-yaml (bounded alias expansion); paths in a workspace file are relative and stay
//! inside it; artifacts are copied into the store without following links; secret
//! configuration values (`OAuthToken`) are stored as `****`, as get-pipeline shows them; stage
//! and action names never become paths (work directories are numbered).

pub mod api;
pub mod cas;
pub mod exec;
pub mod model;
pub mod params;
pub mod providers;
pub mod read;
pub mod store;
pub mod triggers;
pub mod validate;
pub mod vars;
pub mod workspace;

pub use model::*;
pub use params::{ParamError, Params};
pub use read::{parse, read_file, Definition, Read, ReadError, ReadOptions, SourceKind, Unresolved};
pub use validate::validate;
pub use workspace::{parse_workspace, runnable, Runnable, Target, Workspace};
