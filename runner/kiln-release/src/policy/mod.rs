//! The release policy: what a release record must show beyond a valid chain.
//!
//! ```yaml
//! version: 1
//! require:                                   # named rules (presets), each one rule below
//!   - staging-deploy-succeeded-before-production
//!   - approval-by-non-committer
//!   - all-builds-verified
//!   - no-critical-findings
//! rules:                                     # rules with parameters, checked in this order
//!   - deployment: {group: production, after: {group: staging, status: Succeeded}}
//!   - approval: {before-group: production, by-other-than: committer}
//!   - builds: {status: SUCCEEDED, builders: [https://kiln.dev/builders/local/v1]}
//!   - findings: {max-severity: high, plugin: secrets-scan}
//!   - source: {repository: https://example.com/app.git, branches: [main]}
//!   - run: {status: Succeeded}
//! ```
//!
//! The rules (each failure names the rule and the fact that broke it):
//! - `deployment: {group, status = Succeeded, after?: {group, status = Succeeded}}`: the release
//!   has a deployment to `group` with `status`; with `after`, every deployment to `group` started
//!   after a deployment to `after.group` with `after.status` had ended.
//! - `approval: {before-group?, count = 1, by-other-than?: committer | author | [both], by?: [names]}`:
//!   before every deployment to `before-group` started (or anywhere in the run, without it),
//!   `count` approvals answered `Approved`, by people other than the sources' committers/authors
//!   (matched by name or e-mail) and, with `by`, only by those named. A committer the release
//!   does not name fails the rule: nothing shows the approver is someone else.
//! - `builds: {min = 1, status = SUCCEEDED, builders?: [ids]}`: at least `min` builds, each with
//!   `status` and one of `builders`. (Each build's provenance is verified in any case.)
//! - `findings: {max-severity, plugin?}`: no scan (of `plugin`) reported a finding above
//!   `max-severity` (`info` < `low` < `medium` < `high` < `critical`); with `plugin`, it ran.
//! - `source: {repository?, branches?: [names], tags?: [globs]}`: every source is of that
//!   repository and one of those branches; with `tags`, every source was pushed as a tag matching
//!   one of the patterns (`v*`: only release tags reach this pipeline's end).
//! - `run: {status}`: the run ended with that CodePipeline status.
//!
//! The presets: `staging-deploy-succeeded-before-production` = `deployment: {group:
//! production, after: {group: staging}}`; `approval-by-non-committer` = `approval:
//! {before-group: production, by-other-than: committer}`; `all-builds-verified` = `builds: {}`;
//! `no-critical-findings` = `findings: {max-severity: high}`; `run-succeeded` = `run: {status:
//! Succeeded}`.
//!
//! Unknown keys, unknown rules and presets, and rules that contradict themselves are errors
//! with the file's line and column. The YAML goes through kiln-yaml's bounded reader first (an
//! alias bomb is refused before serde_yaml expands it).

mod eval;

use std::path::Path;

use serde::Deserialize;

/// A parsed release policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// `1`.
    pub version: u32,
    /// Named rules.
    #[serde(default)]
    pub require: Vec<Preset>,
    /// Rules with parameters.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// A named rule (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// `deployment: {group: production, after: {group: staging}}`.
    StagingDeploySucceededBeforeProduction,
    /// `approval: {before-group: production, by-other-than: committer}`.
    ApprovalByNonCommitter,
    /// `builds: {}`.
    AllBuildsVerified,
    /// `findings: {max-severity: high}`.
    NoCriticalFindings,
    /// `run: {status: Succeeded}`.
    RunSucceeded,
}

impl Preset {
    /// The preset's name as written in a policy.
    pub fn name(self) -> &'static str {
        match self {
            Preset::StagingDeploySucceededBeforeProduction => "staging-deploy-succeeded-before-production",
            Preset::ApprovalByNonCommitter => "approval-by-non-committer",
            Preset::AllBuildsVerified => "all-builds-verified",
            Preset::NoCriticalFindings => "no-critical-findings",
            Preset::RunSucceeded => "run-succeeded",
        }
    }

    /// The rule it stands for.
    pub fn rule(self) -> Rule {
        match self {
            Preset::StagingDeploySucceededBeforeProduction => Rule::Deployment(DeploymentRule { group: "production".into(), status: succeeded(), after: Some(After { group: "staging".into(), status: succeeded() }) }),
            Preset::ApprovalByNonCommitter => Rule::Approval(ApprovalRule { before_group: Some("production".into()), count: 1, by_other_than: vec![Role::Committer], by: Vec::new() }),
            Preset::AllBuildsVerified => Rule::Builds(BuildsRule { min: 1, status: build_succeeded(), builders: Vec::new() }),
            Preset::NoCriticalFindings => Rule::Findings(FindingsRule { max_severity: Severity::High, plugin: None }),
            Preset::RunSucceeded => Rule::Run(RunRule { status: succeeded() }),
        }
    }
}

/// One rule with parameters: in YAML, a map with one key naming the rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RuleItem")]
pub enum Rule {
    /// A deployment to a group, optionally after another group's.
    Deployment(DeploymentRule),
    /// Approvals before a group's deployment.
    Approval(ApprovalRule),
    /// What every build must be.
    Builds(BuildsRule),
    /// The worst finding allowed.
    Findings(FindingsRule),
    /// Which repository and branches.
    Source(SourceRule),
    /// The run's status.
    Run(RunRule),
}

/// A `rules:` entry as written (serde_yaml reads externally tagged enums only from `!tags`, so
/// the one-key map is read as a struct of options and checked to name exactly one rule).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleItem {
    deployment: Option<DeploymentRule>,
    approval: Option<ApprovalRule>,
    builds: Option<BuildsRule>,
    findings: Option<FindingsRule>,
    source: Option<SourceRule>,
    run: Option<RunRule>,
}

impl TryFrom<RuleItem> for Rule {
    type Error = String;
    fn try_from(r: RuleItem) -> Result<Self, String> {
        let mut rules: Vec<Rule> = Vec::new();
        rules.extend(r.deployment.map(Rule::Deployment));
        rules.extend(r.approval.map(Rule::Approval));
        rules.extend(r.builds.map(Rule::Builds));
        rules.extend(r.findings.map(Rule::Findings));
        rules.extend(r.source.map(Rule::Source));
        rules.extend(r.run.map(Rule::Run));
        if rules.len() != 1 {
            return Err(format!("a rule is a map with one key (deployment, approval, builds, findings, source or run), this one has {}: write each rule as its own `- ` entry", rules.len()));
        }
        Ok(rules.remove(0))
    }
}

fn succeeded() -> String {
    "Succeeded".into()
}
fn build_succeeded() -> String {
    "SUCCEEDED".into()
}
fn one() -> usize {
    1
}

/// `deployment:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", try_from = "RawDeploymentRule")]
pub struct DeploymentRule {
    /// The deployment group.
    pub group: String,
    /// The status it must have ended with.
    pub status: String,
    /// The group whose deployment must have ended before.
    pub after: Option<After>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDeploymentRule {
    group: String,
    #[serde(default = "succeeded")]
    status: String,
    after: Option<After>,
}

impl TryFrom<RawDeploymentRule> for DeploymentRule {
    type Error = String;
    fn try_from(r: RawDeploymentRule) -> Result<Self, String> {
        if r.after.as_ref().is_some_and(|a| a.group == r.group) {
            return Err(format!("deployment rule: `after` names the same group `{}` (name the group that must be deployed first)", r.group));
        }
        Ok(DeploymentRule { group: r.group, status: r.status, after: r.after })
    }
}

/// `after:` of a deployment rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    /// The group deployed first.
    pub group: String,
    /// The status that deployment ended with.
    #[serde(default = "succeeded")]
    pub status: String,
}

/// Whose approval does not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A source commit's committer.
    Committer,
    /// A source commit's author.
    Author,
}

/// `by-other-than:` as written: one role or a list (roles are checked in `TryFrom`, so that a
/// misspelt one gets a message naming it rather than serde's "did not match any variant").
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Role {
    fn parse(s: &str) -> Result<Role, String> {
        match s {
            "committer" => Ok(Role::Committer),
            "author" => Ok(Role::Author),
            other => Err(format!("approval rule: `by-other-than: {other}` names no role: use committer, author, or [committer, author]")),
        }
    }
}

/// `approval:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", try_from = "RawApprovalRule")]
pub struct ApprovalRule {
    /// The group whose deployments need the approvals first.
    pub before_group: Option<String>,
    /// How many approvals.
    pub count: usize,
    /// Whose approvals do not count.
    pub by_other_than: Vec<Role>,
    /// Whose approvals count (anyone's when empty).
    pub by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApprovalRule {
    before_group: Option<String>,
    #[serde(default = "one")]
    count: usize,
    by_other_than: Option<OneOrMany>,
    #[serde(default)]
    by: Vec<String>,
}

impl TryFrom<RawApprovalRule> for ApprovalRule {
    type Error = String;
    fn try_from(r: RawApprovalRule) -> Result<Self, String> {
        if r.count == 0 {
            return Err("approval rule: `count: 0` asks for nothing (use 1 or more, or remove the rule)".into());
        }
        let by_other_than = match r.by_other_than {
            None => Vec::new(),
            Some(OneOrMany::One(x)) => vec![Role::parse(&x)?],
            Some(OneOrMany::Many(v)) => v.iter().map(|x| Role::parse(x)).collect::<Result<_, _>>()?,
        };
        Ok(ApprovalRule { before_group: r.before_group, count: r.count, by_other_than, by: r.by })
    }
}

/// `builds:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BuildsRule {
    /// At least this many builds.
    #[serde(default = "one")]
    pub min: usize,
    /// Every build's status.
    #[serde(default = "build_succeeded")]
    pub status: String,
    /// Allowed builder ids (any when empty).
    #[serde(default)]
    pub builders: Vec<String>,
}

/// Finding severities, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// No finding allowed.
    None,
    /// Informational.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The name as a policy writes it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// A severity as a scan records it (case-insensitive; `note`/`warning`/`error` are SARIF's
    /// levels, mapped as kiln-sarif maps them).
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => Severity::None,
            "info" | "informational" | "note" => Severity::Info,
            "low" => Severity::Low,
            "medium" | "moderate" | "warning" => Severity::Medium,
            "high" | "error" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// `findings:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FindingsRule {
    /// The worst severity allowed.
    pub max_severity: Severity,
    /// Only this plugin's scans (which must have run).
    pub plugin: Option<String>,
}

/// `source:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", try_from = "RawSourceRule")]
pub struct SourceRule {
    /// The repository.
    pub repository: Option<String>,
    /// The allowed branches.
    pub branches: Vec<String>,
    /// Glob patterns (`v*`) one of which the tag whose push started the run must match; empty:
    /// any source, tag push or not.
    pub tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSourceRule {
    repository: Option<String>,
    #[serde(default)]
    branches: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl TryFrom<RawSourceRule> for SourceRule {
    type Error = String;
    fn try_from(r: RawSourceRule) -> Result<Self, String> {
        for t in &r.tags {
            tag_glob(t)?;
        }
        Ok(SourceRule { repository: r.repository, branches: r.branches, tags: r.tags })
    }
}

/// A `tags:` pattern: globset's glob, `*` not crossing `/` (as in a trigger's `tags`).
pub(crate) fn tag_glob(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern).literal_separator(true).build().map(|g| g.compile_matcher()).map_err(|e| format!("source rule: the tag pattern `{pattern}` is not a valid glob: {e}"))
}

/// `run:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RunRule {
    /// CodePipeline's execution status name.
    pub status: String,
}

impl Policy {
    /// Parses a policy's text; `file` names it in errors (`file:line:col: message`).
    pub fn parse(text: &str, file: &str) -> Result<Policy, crate::Error> {
        let err = |msg: String| crate::Error::Policy(msg);
        kiln_yaml::check(text).map_err(|e| err(format!("{file}:{}:{}: {e}", e.span.line, e.span.col)))?;
        let policy: Policy = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(l) => err(format!("{file}:{}:{}: {e}", l.line(), l.column())),
            None => err(format!("{file}: {e}")),
        })?;
        if policy.version != 1 {
            return Err(err(format!("{file}: release policy version {} is not supported (use `version: 1`)", policy.version)));
        }
        if policy.require.is_empty() && policy.rules.is_empty() {
            return Err(err(format!("{file}: the policy has no rules (add `require:` presets or `rules:`)")));
        }
        Ok(policy)
    }

    /// Reads a policy file through kiln-fs (a regular file, at most 1 MiB).
    pub fn load(path: &Path) -> Result<Policy, crate::Error> {
        let text = kiln_fs::read_input_to_string(path, kiln_fs::limits::CONFIG, "release policy").map_err(|e| crate::Error::Policy(e.to_string()))?;
        Policy::parse(&text, &path.display().to_string())
    }
}
