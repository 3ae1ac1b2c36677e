//! Evaluating a [`Policy`] over a release's facts: one `(rule name, outcome)` per rule, each
//! failure naming the fact that broke it.

use time::OffsetDateTime;

use super::*;
use crate::facts::{DeploymentFact, Person, ReleaseFacts};
use crate::statement::parse_time;

type Outcome = Result<String, String>;

impl Rule {
    /// A short description of the rule, for check names.
    pub fn describe(&self) -> String {
        match self {
            Rule::Deployment(r) => match &r.after {
                Some(a) => format!("deployment to {} ({}) after {} ({})", r.group, r.status, a.group, a.status),
                None => format!("deployment to {} ({})", r.group, r.status),
            },
            Rule::Approval(r) => {
                let mut s = format!("{} approval(s)", r.count);
                if let Some(g) = &r.before_group {
                    s += &format!(" before {g}");
                }
                if !r.by_other_than.is_empty() {
                    s += &format!(" by other than the {}", r.by_other_than.iter().map(|r| role_name(*r)).collect::<Vec<_>>().join(" or "));
                }
                s
            }
            Rule::Builds(r) => format!("builds ({}, at least {})", r.status, r.min),
            Rule::Findings(r) => format!("findings at most {}{}", r.max_severity.name(), r.plugin.as_ref().map(|p| format!(" from {p}")).unwrap_or_default()),
            Rule::Source(_) => "source".into(),
            Rule::Run(r) => format!("run {}", r.status),
        }
    }

    /// Checks the rule against `facts`.
    pub fn check(&self, facts: &ReleaseFacts) -> Outcome {
        match self {
            Rule::Deployment(r) => deployment(r, facts),
            Rule::Approval(r) => approval(r, facts),
            Rule::Builds(r) => builds(r, facts),
            Rule::Findings(r) => findings(r, facts),
            Rule::Source(r) => source(r, facts),
            Rule::Run(r) => if facts.run.status == r.status { Ok(format!("run {} {}", facts.run.id, facts.run.status)) } else { Err(format!("run {} ended {}, expected {}", facts.run.id, facts.run.status, r.status)) },
        }
    }
}

impl Policy {
    /// Every rule's outcome: the presets of `require:` first, then `rules:` in order.
    pub fn evaluate(&self, facts: &ReleaseFacts) -> Vec<(String, Outcome)> {
        let presets = self.require.iter().map(|p| (format!("policy: {}", p.name()), p.rule().check(facts)));
        let rules = self.rules.iter().enumerate().map(|(i, r)| (format!("policy rule {} ({})", i + 1, r.describe()), r.check(facts)));
        presets.chain(rules).collect()
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Committer => "committer",
        Role::Author => "author",
    }
}

fn time_of(t: &str) -> OffsetDateTime {
    // Validated when the facts were read; an unparsable time sorts first, never passes an "after".
    parse_time(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn deployment(r: &DeploymentRule, facts: &ReleaseFacts) -> Outcome {
    let to: Vec<&DeploymentFact> = facts.deployments.iter().filter(|d| d.group == r.group).collect();
    let Some(done) = to.iter().find(|d| d.status == r.status) else {
        return Err(match to.first() {
            None => format!("the release has no deployment to {}", r.group),
            Some(d) => format!("deployment {} to {} ended {}, expected {}", d.deployment_id, r.group, d.status, r.status),
        });
    };
    let Some(after) = &r.after else { return Ok(format!("deployment {} to {} {}", done.deployment_id, r.group, done.status)) };
    for d in &to {
        let start = time_of(&d.start_time);
        let before = facts.deployments.iter().find(|b| b.group == after.group && b.status == after.status && time_of(&b.end_time) <= start);
        if before.is_none() {
            let why = match facts.deployments.iter().find(|b| b.group == after.group) {
                None => format!("the release has no deployment to {}", after.group),
                Some(b) if b.status != after.status => format!("deployment {} to {} ended {}, not {}", b.deployment_id, after.group, b.status, after.status),
                Some(b) => format!("deployment {} to {} ended at {}, after it", b.deployment_id, after.group, b.end_time),
            };
            return Err(format!("deployment {} to {} started at {} with no {} deployment to {} ended before it: {why}", d.deployment_id, r.group, d.start_time, after.status, after.group));
        }
    }
    Ok(format!("{} deployment(s) to {} each after a {} deployment to {}", to.len(), r.group, after.status, after.group))
}

/// The people an approval must not come from, and the roles nobody is recorded for.
fn excluded(r: &ApprovalRule, facts: &ReleaseFacts) -> Result<Vec<(&'static str, Person)>, String> {
    let mut out = Vec::new();
    for role in &r.by_other_than {
        for s in &facts.sources {
            let p = match role {
                Role::Committer => &s.committer,
                Role::Author => &s.author,
            };
            match p {
                Some(p) => out.push((role_name(*role), p.clone())),
                None => return Err(format!("source {} (commit {}) has no recorded {}, so no approval can be shown to be by someone else", s.action, s.commit_id, role_name(*role))),
            }
        }
    }
    Ok(out)
}

fn approval(r: &ApprovalRule, facts: &ReleaseFacts) -> Outcome {
    let excluded = excluded(r, facts)?;
    // Why each approval does not count, or None when it does.
    let disqualified = |a: &crate::facts::ApprovalFact| -> Option<String> {
        if a.outcome != "Approved" {
            return Some(format!("{} by {} was {}", a.action, a.by, a.outcome));
        }
        if let Some((role, p)) = excluded.iter().find(|(_, p)| p.is(&a.by)) {
            return Some(format!("{} by {} at {}: {} is the {role}", a.action, a.by, a.time, p));
        }
        if !r.by.is_empty() && !r.by.iter().any(|b| b == &a.by) {
            return Some(format!("{} by {}: not one of {:?}", a.action, a.by, r.by));
        }
        None
    };
    let judge = |before: Option<OffsetDateTime>| -> Result<usize, String> {
        let considered: Vec<_> = facts.approvals.iter().filter(|a| before.is_none_or(|t| time_of(&a.time) <= t)).collect();
        let valid = considered.iter().filter(|a| disqualified(a).is_none()).count();
        if valid >= r.count {
            return Ok(valid);
        }
        let why: Vec<String> = considered.iter().filter_map(|a| disqualified(a)).collect();
        Err(if why.is_empty() { "no approval".into() } else { why.join("; ") })
    };
    match &r.before_group {
        None => judge(None).map(|n| format!("{n} approval(s)")).map_err(|why| format!("expected {} approval(s), found: {why}", r.count)),
        Some(g) => {
            let to: Vec<&DeploymentFact> = facts.deployments.iter().filter(|d| &d.group == g).collect();
            if to.is_empty() {
                return Err(format!("the release has no deployment to {g} for an approval to precede"));
            }
            for d in &to {
                if let Err(why) = judge(Some(time_of(&d.start_time))) {
                    return Err(format!("deployment {} to {g} started at {} without {} valid approval(s) before it: {why}", d.deployment_id, d.start_time, r.count));
                }
            }
            Ok(format!("every deployment to {g} approved before it started"))
        }
    }
}

fn builds(r: &BuildsRule, facts: &ReleaseFacts) -> Outcome {
    if facts.builds.len() < r.min {
        return Err(format!("expected at least {} build(s), the release has {}", r.min, facts.builds.len()));
    }
    for b in &facts.builds {
        if b.status != r.status {
            return Err(format!("build {} ({}) ended {}, expected {}", b.action, b.build_id, b.status, r.status));
        }
        if !r.builders.is_empty() && !r.builders.contains(&b.builder) {
            return Err(format!("build {} was made by builder {}, not one of {:?}", b.action, b.builder, r.builders));
        }
    }
    Ok(format!("{} build(s) {}", facts.builds.len(), r.status))
}

fn findings(r: &FindingsRule, facts: &ReleaseFacts) -> Outcome {
    let scans: Vec<_> = facts.scans.iter().filter(|s| r.plugin.as_ref().is_none_or(|p| &s.plugin == p)).collect();
    if let Some(p) = &r.plugin
        && scans.is_empty()
    {
        return Err(format!("the scanner {p} did not run in this release"));
    }
    for s in &scans {
        for (severity, n) in &s.findings {
            if *n == 0 {
                continue;
            }
            // A severity kiln does not know is counted as the worst: it cannot be shown to be lower.
            let level = Severity::parse(severity).unwrap_or(Severity::Critical);
            if level > r.max_severity {
                return Err(format!("scan {} ({}) reported {n} {severity} finding(s); at most {} allowed", s.plugin, s.action, r.max_severity.name()));
            }
        }
    }
    Ok(format!("{} scan(s) within {}", scans.len(), r.max_severity.name()))
}

fn source(r: &SourceRule, facts: &ReleaseFacts) -> Outcome {
    if facts.sources.is_empty() {
        return Err("the release names no source".into());
    }
    for s in &facts.sources {
        if let Some(repo) = &r.repository
            && &s.repository != repo
        {
            return Err(format!("source {} is repository {}, expected {repo}", s.action, s.repository));
        }
        if !r.branches.is_empty() && !r.branches.contains(&s.branch) {
            return Err(format!("source {} is branch {}, expected one of {:?}", s.action, s.branch, r.branches));
        }
        if !r.tags.is_empty() {
            let Some(tag) = &s.tag else {
                return Err(format!("source {} ({} at {}) was not started by a tag push, expected a tag matching one of {:?}", s.action, s.branch, s.commit_id, r.tags));
            };
            if !r.tags.iter().any(|p| super::tag_glob(p).is_ok_and(|g| g.is_match(tag))) {
                return Err(format!("source {} is tag {tag}, expected one matching one of {:?}", s.action, r.tags));
            }
        }
    }
    Ok(facts.sources.iter().map(|s| format!("{}@{} {}{}", s.repository, s.branch, s.commit_id, s.tag.as_ref().map(|t| format!(" (tag {t})")).unwrap_or_default())).collect::<Vec<_>>().join(", "))
}
