//! The typed AppSpec: what `kiln validate` checks and what the deploy engine runs.
//!
//! Field names follow the CodeDeploy AppSpec reference. Values a run-time error may need to point
//! at (script locations, file sources, event names, function names, resource properties) keep
//! their [`Span`](crate::Span) in a [`Spanned`].

use serde::{Serialize, Serializer};

use super::lifecycle::{ComputePlatform, Event};
use crate::model::Spanned;

/// The default and the largest timeout of a hook script, in seconds (one hour): "The default is
/// 3600 seconds (1 hour). 3600 seconds (1 hour) is the maximum amount of time allowed for script
/// execution for each deployment lifecycle event" (user guide, AppSpec 'hooks' section).
pub const MAX_SCRIPT_TIMEOUT: u32 = 3600;

/// A parsed, validated AppSpec file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AppSpec {
    /// `version` as written (always a number equal to 0.0).
    pub version: Spanned<String>,
    /// Which of the three AppSpec shapes this is, with its content.
    pub platform: Platform,
}

impl AppSpec {
    /// The compute platform the file is for (detected from its content).
    pub fn compute_platform(&self) -> ComputePlatform {
        match &self.platform {
            Platform::Server(_) => ComputePlatform::Server,
            Platform::Ecs(_) => ComputePlatform::Ecs,
            Platform::Lambda(_) => ComputePlatform::Lambda,
        }
    }
}

/// The content of an AppSpec file, by compute platform.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Platform {
    Server(ServerAppSpec),
    #[serde(rename = "ECS")]
    Ecs(EcsAppSpec),
    Lambda(LambdaAppSpec),
}

/// An EC2/on-premises AppSpec: files to copy, permissions to set and scripts per lifecycle event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerAppSpec {
    pub os: Spanned<Os>,
    /// `files`, in order (copied at Install).
    pub files: Vec<FileMapping>,
    /// The top-level `file_exists_behavior`; when absent the deployment's setting applies
    /// (default DISALLOW).
    pub file_exists_behavior: Option<Spanned<FileExistsBehavior>>,
    pub permissions: Vec<Permission>,
    /// `hooks`, in the order written; events with no scripts (an empty or null value) are kept
    /// with an empty list (CodeDeploy runs nothing for them).
    pub hooks: Vec<EventScripts>,
}

impl ServerAppSpec {
    /// The scripts to run in `event`, in order (none when the event is not hooked).
    pub fn scripts(&self, event: Event) -> &[Script] {
        self.hooks.iter().find(|h| h.event.value == event).map(|h| h.scripts.as_slice()).unwrap_or_default()
    }
}

/// `os`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
}

/// One `files` entry: copy `source` (relative to the revision root; `/` is the whole revision)
/// into the directory `destination` (absolute).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileMapping {
    pub source: Spanned<String>,
    pub destination: Spanned<String>,
}

/// `file_exists_behavior`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FileExistsBehavior {
    /// Fail the deployment (the default).
    Disallow,
    /// Replace the existing file.
    Overwrite,
    /// Keep the existing file.
    Retain,
}

/// One `permissions` entry (Linux only).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Permission {
    pub object: Spanned<String>,
    /// `pattern`; `None` means `**` (everything under `object`).
    pub pattern: Option<Spanned<String>>,
    pub except: Vec<Spanned<String>>,
    pub owner: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub mode: Option<Spanned<Mode>>,
    pub acls: Vec<Spanned<AclEntry>>,
    pub context: Option<SelinuxContext>,
    /// `type`: which kinds of objects the entry applies to (both when absent).
    pub types: Vec<ObjectType>,
}

/// `permissions[].type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectType {
    File,
    Directory,
}

/// A file mode (permission bits, with setuid/setgid/sticky), from 1–4 octal digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode(pub u32);

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:04o}", self.0))
    }
}

/// One ACL entry, in setfacl's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclEntry {
    /// A default ACL entry (`d:` / `default:`), for directories.
    pub default: bool,
    pub kind: AclKind,
    /// The user or group name; empty for `mask` and `other`.
    pub name: String,
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl AclEntry {
    /// The entry as `setfacl` takes it: `[default:]user:bob:rw-`.
    pub fn to_setfacl(&self) -> String {
        let kind = match self.kind {
            AclKind::User => "user",
            AclKind::Group => "group",
            AclKind::Mask => "mask",
            AclKind::Other => "other",
        };
        let bit = |on: bool, c: char| if on { c } else { '-' };
        format!(
            "{}{kind}:{}:{}{}{}",
            if self.default { "default:" } else { "" },
            self.name,
            bit(self.read, 'r'),
            bit(self.write, 'w'),
            bit(self.execute, 'x')
        )
    }
}

impl Serialize for AclEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_setfacl())
    }
}

/// Whose permissions an ACL entry sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AclKind {
    User,
    Group,
    Mask,
    Other,
}

/// `permissions[].context`: an SELinux label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SelinuxContext {
    /// The SELinux user (`user`, as documented, or `name`, which the agents read).
    pub user: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub type_: Spanned<String>,
    /// An MLS/MCS range (`s0`, `s0-s1:c0.c1023`), checked.
    pub range: Option<Spanned<String>>,
}

/// The scripts of one lifecycle event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventScripts {
    /// The event; its span is the key in `hooks`.
    pub event: Spanned<Event>,
    pub scripts: Vec<Script>,
}

/// One hook script.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Script {
    /// Relative to the revision root.
    pub location: Spanned<String>,
    /// Seconds, 1..=3600; `None` means the default, [`MAX_SCRIPT_TIMEOUT`].
    pub timeout: Option<Spanned<u32>>,
    /// The user to run the script as (Linux only).
    pub runas: Option<Spanned<String>>,
    /// `sudo: true` (undocumented; the agents run the script with sudo).
    pub sudo: Option<Spanned<bool>>,
}

impl Script {
    /// The script's timeout in seconds.
    pub fn timeout_secs(&self) -> u32 {
        self.timeout.as_ref().map_or(MAX_SCRIPT_TIMEOUT, |t| t.value)
    }
}

/// An ECS AppSpec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EcsAppSpec {
    pub service: EcsService,
    /// `Hooks`: a Lambda function per event, in the order written.
    pub hooks: Vec<FunctionHook>,
}

/// A Lambda AppSpec.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LambdaAppSpec {
    pub function: LambdaFunction,
    pub hooks: Vec<FunctionHook>,
}

/// A validation function run at a lifecycle event (ECS and Lambda).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionHook {
    pub event: Spanned<Event>,
    /// The Lambda function's name or ARN.
    pub function: Spanned<String>,
}

/// The hook function of `event`, if any.
pub fn function_hook(hooks: &[FunctionHook], event: Event) -> Option<&FunctionHook> {
    hooks.iter().find(|h| h.event.value == event)
}

/// `Resources: - TargetService: {Type: AWS::ECS::Service, Properties: …}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EcsService {
    /// The resource's logical name (`TargetService` in the user guide).
    pub name: Spanned<String>,
    /// The task definition ARN (or a placeholder CodePipeline fills in).
    pub task_definition: Spanned<String>,
    pub container_name: Spanned<String>,
    pub container_port: Spanned<u16>,
    /// `LATEST` when absent.
    pub platform_version: Option<Spanned<String>>,
    pub network: Option<AwsvpcConfiguration>,
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
}

/// `NetworkConfiguration.AwsvpcConfiguration` (all three keys are required together).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AwsvpcConfiguration {
    pub subnets: Vec<Spanned<String>>,
    pub security_groups: Vec<Spanned<String>>,
    pub assign_public_ip: Spanned<bool>,
}

/// One `CapacityProviderStrategy` item.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapacityProviderItem {
    pub capacity_provider: Spanned<String>,
    /// Tasks placed on this provider first (default 0).
    pub base: u32,
    /// Relative share of the rest (default 0).
    pub weight: u32,
}

/// `Resources: - <name>: {Type: AWS::Lambda::Function, Properties: …}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LambdaFunction {
    /// The resource's logical name (free-form).
    pub resource_name: Spanned<String>,
    /// The function's name.
    pub name: Spanned<String>,
    pub alias: Spanned<String>,
    /// The version the alias points at now.
    pub current_version: Spanned<u64>,
    /// The version traffic shifts to.
    pub target_version: Spanned<u64>,
}
