//! kiln-deploy: CodeDeploy's deployment engine, on one machine.
//!
//! Given an AppSpec (parsed by `kiln-spec`), a deployment group file and a revision, this crate
//! runs a deployment the way CodeDeploy does — lifecycle events in the documented order, hooks from
//! the right revision, deployment configurations and their minimum healthy hosts, blue/green and
//! traffic shifting, CloudWatch-style alarms, automatic rollback — and keeps a `DeploymentInfo`
//! record that survives `kill -9`. It never links wasmtime and knows nothing about processes,
//! ports or SSH: the strategy plugins, the target drivers, the load balancer and the metrics come
//! in through traits, which the CLI implements (strategies over `kiln-host`, the `local` driver
//! over `kiln-router`, the `ssh` driver), and which the in-memory fakes in [`fake`] implement for
//! tests.
//!
//! ```text
//! group file ──group::parse_group──▶ DeploymentGroup          appspec ──kiln_spec──▶ AppSpec
//!                                         └──────────┬─────────────────────────────────┘
//! Deployment::plan(group, Revision, DeploymentOptions) ─▶ Plan  (config resolved, lifecycle chosen,
//!                                                               minimum healthy hosts checked; explain())
//! Deployment::run(&plan, &Env { store, target, traffic, strategies, metrics, reporter, options })
//!     └▶ RunOutcome { deployment: DeploymentInfo, rollback: Option<DeploymentInfo> }
//! Deployment::status | list | stop | continue_deployment | resume | rollback   (over the Store)
//! ```
//!
//! # Where things are
//!
//! | module | what |
//! |---|---|
//! | [`group`] | the deployment group file: `DeploymentGroupInfo` fields, alarms inline, `targets` |
//! | [`config`] | every predefined configuration, custom ones, minimum healthy hosts arithmetic ([`config::health`]), the strategy each resolves to |
//! | [`strategy`] | the strategy seam (mirrors the `deploy-strategy` WIT world) and the host's checks ([`strategy::guard`]) |
//! | [`target`] | the driver and load balancer seams, the copy plan ([`target::copyplan`]), the hook environment |
//! | [`alarm`] | CloudWatch alarm definitions, the state machine ([`alarm::eval`]), the continuous monitor |
//! | [`metrics`] | where alarm data comes from; kiln's own samples |
//! | [`record`] | `deployment.json` (DeploymentInfo, targets, kiln section), the store, the attestation data |
//! | `engine` | plan, run loop, lifecycle events, traffic journal, rollback, recovery after a kill |
//! | [`report`] | live progress for the CLI |
//! | [`fake`] | in-memory target and traffic control (test doubles) |
//!
//! # Semantics, and what kiln decided where CodeDeploy is silent
//!
//! Sources: the CodeDeploy user guide and API reference, the CloudWatch user guide, the CodeDeploy
//! agents (Ruby and Rust), collected in the project's fact sheet `shared/reference/codedeploy.md`;
//! each module cites what it follows. The "kiln proposal" decisions, in one place:
//!
//! * **Strategies decide pace, the host decides what is allowed.** A strategy answers
//!   deploy-batch / shift-traffic / wait / run-hook / succeed / roll-back; the host refuses anything
//!   that breaks minimum healthy hosts, names an unknown or already-deployed instance, moves traffic
//!   backwards or outside 0..=100, runs a hook out of order, or declares success early. A strategy
//!   that errors, traps, loops (decision limit), hangs (per-call deadline) or breaks a rule causes a
//!   rollback with the reason — even when the group has no automatic rollback — because whatever it
//!   left half-done must not stay.
//! * **Minimum healthy hosts during a run**: an instance is unhealthy while it is being deployed to
//!   or after its deployment failed; batches never take the healthy count below the minimum, and the
//!   deployment stops once healthy instances fall to the minimum with instances still to do
//!   (reproduces every example of the user guide; [`config::health`]).
//! * **Alarms** are evaluated every 100 ms (not every minute) over CloudWatch's sliding periods;
//!   the evaluation range is N + 2 datapoints; an alarm in ALARM stops the deployment
//!   (`Stopped`, `ALARM_ACTIVE`); INSUFFICIENT_DATA does not.
//! * **Rollback** is a new deployment, driven by the host (never by the strategy), of the last good
//!   revision; traffic goes back *before* the failed deployment's record is finalized and before any
//!   rollback hook runs; an in-place rollback redeploys only the instances the failed deployment
//!   touched. Nothing changed → no rollback deployment, and the record says so.
//! * **Time**: a run's time scale compresses nominal time (configuration intervals, waits, alarm
//!   periods, termination and ready waits) for tests and demos; hook timeouts stay real.
//! * **Record**: RFC 3339 timestamps; a local revision is `revisionType: "Local"` with
//!   `localRevision`; `Baking` is the termination wait of blue/green and ECS.
//!
//! # Security decisions
//!
//! * Records live under `.kiln/deployments`; `.kiln`, the deployment and group directories must be
//!   real directories, files are written with `O_EXCL|O_NOFOLLOW` temp files renamed into place and
//!   read with `O_NOFOLLOW` and a size limit, deployment ids and group names are checked before they
//!   become paths (`d-` + 9 of A–Z0–9; names are CodeDeploy's character set, never `.`/`..`).
//! * A revision's appspec is read only from inside its bundle (a link out of it is refused), the copy
//!   plan never follows a link in a bundle, and `..` paths are refused twice (parser, copy plan).
//! * Strategy-supplied strings reach records and messages shortened and without control
//!   characters; strategy answers are checked before anything acts on them.
//! * Hooks get CodeDeploy's five variables, not kiln's environment (the drivers start them clean).
//! * The group file is read by `kiln-yaml` (bounded aliases and size, duplicate keys refused).

pub mod alarm;
pub mod config;
mod engine;
pub mod fake;
pub mod group;
pub mod metrics;
pub mod record;
pub mod report;
pub mod strategy;
pub mod target;

pub use engine::{Deployment, DeploymentOptions, EngineError, Env, Lifecycles, Plan, PlanError, Revision, RevisionError, RunOptions, RunOutcome, StopStatus};
