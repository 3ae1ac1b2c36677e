//! kiln-targets: real deployment drivers for `kiln-deploy`.
//!
//! kiln-deploy runs CodeDeploy's lifecycle over three seams ([`kiln_deploy::target::Target`],
//! [`kiln_deploy::target::TrafficControl`], [`kiln_deploy::metrics::MetricsSource`]). This crate
//! implements them for one machine:
//!
//! * [`local::LocalFleet`] (`targets.driver: local`): every instance is a directory
//!   (`<state>/<id>/`: `root/` the instance's file system, where the appspec's `files`
//!   destinations land, `bundles/` the downloaded revisions, `tmp/` its home) and, while it runs,
//!   one service process listening on its own loopback port. Hook scripts and the service run in
//!   kiln's sandbox (`kiln-sandbox`) with only the instance's directory writable.
//! * [`router::RouterTraffic`]: the deployment's load balancer is a `kiln-router` with two target
//!   groups; the original and replacement sets are labels on them, so promoting the replacement
//!   set after a blue/green or ECS-style deployment swaps the labels and never moves an
//!   instance (no request sees a gap).
//! * [`router::RouterMetrics`]: the router's metrics windows as CloudWatch-style metrics for the
//!   deployment's alarms: `router.<Metric>` for all traffic, `router.original.<Metric>` and
//!   `router.replacement.<Metric>` per set, with ALB's metric names (`RequestCount`,
//!   `HTTPCode_Target_2XX_Count` … `HTTPCode_Target_5XX_Count`, `HTTPCode_ELB_5XX_Count`,
//!   `TargetResponseTime` in seconds, as the ALB CloudWatch metrics documentation names them).
//!   A period without requests has no datapoint (ALB reports none), which the alarm's
//!   `treatMissingData` decides about.
//!
//! # Security decisions
//!
//! * Instance paths from an appspec (`files` destinations, the cleanup list) are mapped under the
//!   instance's `root/` component by component; a path with `..`, or one whose existing parent is
//!   a symbolic link (a previous revision could have made one pointing at `/etc`), is refused,
//!   so an install never writes outside the instance's directory.
//! * Downloading a revision copies its bundle without following links: a bundle with a symbolic
//!   link is copied with the link as a link (never its target's contents), bounded in entries.
//! * Processes run with a cleared environment plus the hook variables, in the sandbox, sharing
//!   kiln's network (the router must reach them on loopback; see `local/process.rs`).
//!
//! * [`ssh::SshFleet`] (`targets.driver: ssh`): instances are hosts reached with the system's
//!   OpenSSH client, with the group file's key and known-hosts file only (see `ssh.rs`).

pub mod local;
pub mod router;
pub mod settings;
pub mod ssh;
