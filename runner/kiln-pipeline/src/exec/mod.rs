//! Running pipelines: the scheduler ([`Engine`]) over the durable [`Store`], running actions
//! through the executor traits ([`traits`]).
//!
//! Everything the scheduler knows is in the store; a drive loop reads the execution's snapshot,
//! decides ([`plan::next`]), applies the decision through a compare-and-set write, and waits for
//! an action to end or for the poll interval. Any number of schedulers (threads, processes) can
//! drive the same execution: the writes make sure each action attempt is started once and
//! recorded once, and the leases make sure a running attempt is not run a second time while its
//! process lives. After `kill -9`, `drive` again picks up from the store: completed actions stay
//! completed (their artifacts are in the content-addressed store before their completion is
//! committed), and the attempt that was running is run again as its next attempt.
//!
//! Semantics (codepipeline.md §5): execution modes SUPERSEDED, QUEUED, PARALLEL (stage locks and
//! inbound executions in the store); manual approval as an open request answered through the
//! store, with its timeout; retry of a stage's failed (or all) actions, by a user or by
//! `onFailure: RETRY` (once per failure); V2 `onFailure: ROLLBACK`, which starts a ROLLBACK
//! execution of the failed stage from the most recent execution (same definition) in which the
//! stage succeeded, with that execution's artifacts and variables — kiln proposal, as the guide
//! leaves open whether later stages run too: only that stage runs.

pub mod owner;
pub mod plan;
mod run;
pub mod status;
pub mod traits;

mod engine;

pub use engine::{DriveOutcome, Engine, EngineError, EngineOptions, StartOptions};
pub use run::MAX_OUTPUT_VARIABLES_BYTES;
