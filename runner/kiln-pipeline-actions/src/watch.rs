//! Following a source action's local repository and starting runs on pushes (`kiln pipeline
//! watch`): every branch and tag is read from the repository's files (`kiln_engine::git`, never
//! by running git on the host), each move is decided by the V2 trigger filters or the default
//! change detection (`kiln_pipeline::triggers`), and a move that starts a run starts it pinned
//! to the pushed commit (`sourceRevisions`), so a later push never changes what the run builds.
//!
//! Durable: what the watcher last saw of each ref is in the pipeline store (`watched_refs`), and
//! a move is recorded in the same transaction as the run it starts, compared against the commit
//! seen before. A watcher killed at any point and started again sees every push it had not
//! recorded (pushes made while it was down included) and none twice; two watchers on one store
//! start each push once. The first look at an action records a baseline and starts nothing.
//!
//! What the decision needs beyond the refs comes from the confined git ([`GitSource`]): the
//! files a push changed (for `filePaths`) and the commit an annotated tag points at.

use std::collections::BTreeMap;

use kiln_engine::git::Repo;
use kiln_pipeline::exec::traits::SourceRevision;
use kiln_pipeline::exec::{Engine, EngineError, StartOptions};
use kiln_pipeline::store::{RefMove, Store};
use kiln_pipeline::triggers::{decide, Decision, GitEvent};
use kiln_pipeline::Pipeline;

use crate::source::GitSource;

/// A source action and the repository it follows.
pub struct Watched {
    pub action: String,
    pub repo: Repo,
    /// The refs as last recorded (`refs/heads/…`, `refs/tags/…` → commit or tag object).
    known: BTreeMap<String, String>,
}

/// What became of one ref's move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The run this move started.
    Started(String),
    /// The move starts nothing (the decision says why).
    NoRun,
    /// The move would start a run, but kiln could not start it (the reason), so it is
    /// recorded without one rather than tried again on every look.
    NotStarted(String),
    /// Another watcher on the same store recorded this move first (and started its run).
    TakenByAnother,
}

/// One ref's move, decided.
#[derive(Clone, Debug)]
pub struct Seen {
    pub action: String,
    pub reference: String,
    pub old: Option<String>,
    pub new: Option<String>,
    pub decision: Decision,
    pub outcome: Outcome,
    /// What could not be read for the decision (the changed files), if anything.
    pub note: Option<String>,
}

/// CodePipeline's `triggerType` for a run a push starts: `WebhookV2` for a V2 trigger; without
/// one, the default change detection's (CodeCommit and S3 through EventBridge, GitHub version 1
/// through a webhook, connections through the V2 webhook).
pub fn trigger_type(p: &Pipeline, action: &str, provider: &str) -> &'static str {
    let has_trigger = p.triggers.iter().any(|t| t.source_action_name.as_ref().is_some_and(|n| n.value == action));
    match (has_trigger, provider) {
        (true, _) | (false, "CodeStarSourceConnection") => "WebhookV2",
        (false, "GitHub") => "Webhook",
        _ => "CloudWatchEvent",
    }
}

fn provider_of<'a>(p: &'a Pipeline, action: &str) -> &'a str {
    p.actions().find(|(_, _, a)| a.name.value == action).map_or("", |(_, _, a)| a.provider())
}

/// The refs of `repo` as they are now.
pub fn refs_now(repo: &Repo) -> BTreeMap<String, String> {
    repo.branches_and_tags().into_iter().collect()
}

/// The refs that differ between `known` and `now`, by name: `(ref, old, new)`.
pub fn moves(known: &BTreeMap<String, String>, now: &BTreeMap<String, String>) -> Vec<(String, Option<String>, Option<String>)> {
    let mut names: Vec<&String> = now.keys().chain(known.keys()).collect();
    names.sort();
    names.dedup();
    names.into_iter().map(|r| (r.clone(), known.get(r).cloned(), now.get(r).cloned())).filter(|(_, old, new)| old != new).collect()
}

/// Decide one move: the changed files of a branch push and the commit of a tag are read by the
/// confined git first. Returns the decision and what could not be read.
pub async fn decide_move(p: &Pipeline, action: &str, git: &GitSource, repo: &Repo, reference: &str, old: Option<&str>, new: Option<&str>) -> Result<(Decision, Option<String>), String> {
    let mut note = None;
    let mut commit = new.map(str::to_string);
    let mut changed_files = None;
    if let Some(n) = new {
        if reference.starts_with("refs/tags/") {
            // A loose annotated tag names the tag object: the run needs its commit.
            match git.peel(repo, n).await {
                Ok(c) => commit = Some(c),
                Err(e) => note = Some(format!("the commit of `{reference}` could not be read: {e}")),
            }
        } else {
            match git.changed_files(repo, old, n).await {
                Ok(files) => changed_files = Some(files),
                Err(e) => note = Some(format!("the files the push changed could not be read: {e}")),
            }
        }
    }
    let event = GitEvent::Push { reference: reference.to_string(), old: old.map(str::to_string), new: commit, changed_files };
    let d = decide(p, action, &event).map_err(|e| e.to_string())?;
    Ok((d, note))
}

impl Watched {
    /// Follow `action`'s repository: the refs recorded in `store`, or, the first time, a
    /// baseline of the refs as they are now (`true`: the baseline was taken now).
    pub async fn open(store: &Store, pipeline: &str, action: &str, repo: Repo) -> Result<(Watched, bool), String> {
        let recorded = store.watched_refs(pipeline, action).await.map_err(|e| e.to_string())?;
        let (known, fresh) = match recorded {
            Some(k) => (k, false),
            None => {
                let now = refs_now(&repo);
                store.record_baseline(pipeline, action, &now).await.map_err(|e| e.to_string())?;
                (store.watched_refs(pipeline, action).await.map_err(|e| e.to_string())?.unwrap_or_default(), true)
            }
        };
        Ok((Watched { action: action.to_string(), repo, known }, fresh))
    }

    /// How many refs are known.
    pub fn known(&self) -> usize {
        self.known.len()
    }

    /// Look once: decide every ref that moved since the last look, record each move, and start
    /// the run of each move that starts one (pinned to its commit, with `variables`).
    pub async fn look(&mut self, p: &Pipeline, engine: &Engine, git: &GitSource, variables: &BTreeMap<String, String>) -> Result<Vec<Seen>, String> {
        let pipeline = p.name.value.clone();
        let mut out = Vec::new();
        let mut reload = false;
        for (reference, old, new) in moves(&self.known, &refs_now(&self.repo)) {
            let reference = &reference;
            let m = RefMove { pipeline: pipeline.clone(), source_action: self.action.clone(), reference: reference.clone(), old: old.clone(), new: new.clone() };
            if let (true, Some(o), Some(n)) = (reference.starts_with("refs/tags/"), &old, &new)
                && let (Ok(a), Ok(b)) = (git.peel(&self.repo, o).await, git.peel(&self.repo, n).await)
                && a == b
            {
                // The same tag, read once as its tag object (loose) and once peeled (packed):
                // not a move.
                if engine.store().record_move(&m, None).await.map_err(|e| e.to_string())? {
                    self.known.insert(reference.clone(), n.clone());
                } else {
                    reload = true;
                }
                continue;
            }
            let (decision, note) = decide_move(p, &self.action, git, &self.repo, reference, old.as_deref(), new.as_deref()).await?;
            let outcome = match (&decision.commit, decision.starts) {
                (Some(commit), true) => {
                    let start = StartOptions {
                        variables: variables.clone(),
                        trigger: trigger_type(p, &self.action, provider_of(p, &self.action)).into(),
                        trigger_detail: Some(format!("{reference} {commit}: {}", decision.reason)),
                        source_revisions: vec![SourceRevision { reference: Some(reference.clone()), ..SourceRevision::commit(&self.action, commit) }],
                        ref_move: Some(m.clone()),
                    };
                    match engine.start(p, start).await {
                        Ok(id) => Outcome::Started(id),
                        Err(EngineError::RefMoved(_)) => Outcome::TakenByAnother,
                        Err(EngineError::Store(e)) => return Err(e.to_string()),
                        Err(e) => match engine.store().record_move(&m, None).await.map_err(|e| e.to_string())? {
                            true => Outcome::NotStarted(e.to_string()),
                            false => Outcome::TakenByAnother,
                        },
                    }
                }
                _ => match engine.store().record_move(&m, None).await.map_err(|e| e.to_string())? {
                    true => Outcome::NoRun,
                    false => Outcome::TakenByAnother,
                },
            };
            if outcome == Outcome::TakenByAnother {
                reload = true;
            } else {
                match &new {
                    Some(c) => self.known.insert(reference.clone(), c.clone()),
                    None => self.known.remove(reference),
                };
            }
            out.push(Seen { action: self.action.clone(), reference: reference.clone(), old, new, decision, outcome, note });
        }
        if reload {
            self.known = engine.store().watched_refs(&pipeline, &self.action).await.map_err(|e| e.to_string())?.unwrap_or_default();
        }
        Ok(out)
    }
}
