//! Which run a Git event starts: CodePipeline V2 trigger filters (`triggers[].gitConfiguration`)
//! and default change detection, as pure logic over a [`GitEvent`] (no IO; the watcher that
//! reads a repository's refs is the CLI's).
//!
//! Semantics, from the CodePipeline user guide ("Filter triggers on code push or pull
//! requests", "Trigger filtering in the pipeline JSON (CLI)", "Working with glob patterns in
//! syntax") and codepipeline.md §5:
//! - A trigger belongs to one source action (`sourceActionName`) and replaces that action's
//!   default change detection. A source action without a trigger starts the pipeline on a push
//!   to its `BranchName` ("No filter": any push to the default branch), unless its
//!   configuration says `DetectChanges: false` (kiln proposal: `PollForSourceChanges: false`
//!   is not read as "never": CodeCommit then detects changes through EventBridge).
//! - `push` filters are OR-ed; inside one filter, its criteria (`tags`, `branches`,
//!   `filePaths`) are AND-ed ("These events use an OR operation between different push filters
//!   and an AND operation inside filters"). A tag push is matched only by filters with `tags`;
//!   a branch push only by filters with `branches` (the valid combinations are tags, branches,
//!   or branches + file paths).
//! - In one criteria, `excludes` take priority over `includes` (CDK and CloudFormation docs:
//!   "The excludes takes priority over the includes"); without `includes`, everything not
//!   excluded is included (kiln proposal; the docs do not say).
//! - A tag push is decided by `tags` alone; `filePaths` goes with `branches` (the guide's valid
//!   combinations are tags, branches, and branches + file paths).
//! - `filePaths` is met when at least one changed file is included and not excluded (kiln
//!   proposal: GitHub's and CodeBuild's webhook path filters work this way; the guide's example
//!   excludes `**/README.md` so that a push changing only README files does not start a run).
//! - `pullRequest` filters (`events` OPEN/UPDATED/CLOSED, default all three; `branches` is the
//!   destination branch the pull request is opened into; `filePaths`) are decided the same way.
//! - Deleting a ref starts nothing (there is no commit to run).
//!
//! Patterns are the guide's glob syntax, which is Java's `PathMatcher` glob: `*` matches within
//! one path component, `**` across `/`, `?` one character (not `/`), `[abc]`/`[a-z]`/`[!a]` a
//! character, `{a,b}` alternatives (not nested), `\` escapes. globset's `**` is a whole
//! component only and would read `release**` as `release*`; so patterns are translated to a
//! regex here ([`Glob`]), exactly as the JDK translates them, and an invalid pattern is an
//! error naming it.

use regex::Regex;

use crate::model::{Category, FilterCriteria, GitFilter, Pipeline, Text};

/// A compiled trigger pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: String,
    regex: Regex,
}

impl Glob {
    /// Compiles a pattern of the guide's (Java's) glob syntax.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        let bad = |why: &str| Err(format!("the pattern `{pattern}` is not a valid glob: {why}"));
        let mut re = String::from("^");
        let mut chars = pattern.chars().peekable();
        let mut in_group = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(n) => re.push_str(&regex::escape(&n.to_string())),
                    None => return bad("it ends with an escape (`\\`)"),
                },
                '/' => re.push('/'),
                '[' => {
                    re.push_str("[[^/]&&[");
                    if chars.peek() == Some(&'^') {
                        re.push_str("\\^");
                        chars.next();
                    } else {
                        if chars.peek() == Some(&'!') {
                            re.push('^');
                            chars.next();
                        }
                        if chars.peek() == Some(&'-') {
                            re.push('-');
                            chars.next();
                        }
                    }
                    let mut closed = false;
                    let mut last: Option<char> = None;
                    let mut range = false;
                    while let Some(c) = chars.next() {
                        match c {
                            ']' => {
                                closed = true;
                                break;
                            }
                            '/' => return bad("a bracket expression cannot match `/`"),
                            '-' => {
                                if last.is_none() || range {
                                    return bad("a `-` in a bracket expression has no start");
                                }
                                if chars.peek() == Some(&']') {
                                    re.push_str("\\-");
                                } else {
                                    range = true;
                                    re.push('-');
                                }
                                continue;
                            }
                            '\\' | '[' | '&' | '~' | '^' => {
                                re.push('\\');
                                re.push(c);
                            }
                            _ => re.push(c),
                        }
                        if range {
                            if last.is_some_and(|l| c < l) {
                                return bad("a range in a bracket expression is backwards");
                            }
                            range = false;
                            last = None;
                        } else {
                            last = Some(c);
                        }
                    }
                    if !closed {
                        return bad("a bracket expression is not closed (`]`)");
                    }
                    re.push_str("]]");
                }
                '{' => {
                    if in_group {
                        return bad("groups `{…}` cannot be nested");
                    }
                    in_group = true;
                    re.push_str("(?:(?:");
                }
                '}' if in_group => {
                    in_group = false;
                    re.push_str("))");
                }
                ',' if in_group => re.push_str(")|(?:"),
                '*' => {
                    if chars.peek() == Some(&'*') {
                        chars.next();
                        re.push_str(".*");
                    } else {
                        re.push_str("[^/]*");
                    }
                }
                '?' => re.push_str("[^/]"),
                _ => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        if in_group {
            return bad("a group `{` is not closed (`}`)");
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| format!("the pattern `{pattern}` is not a valid glob: {e}"))?;
        Ok(Glob { pattern: pattern.to_string(), regex })
    }

    /// Whether `text` (a branch, tag or file path) matches.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

/// The event kinds of a pull request (`events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestEvent {
    /// `OPEN`.
    Open,
    /// `UPDATED`.
    Updated,
    /// `CLOSED` (merged).
    Closed,
}

impl PullRequestEvent {
    fn name(self) -> &'static str {
        match self {
            PullRequestEvent::Open => "OPEN",
            PullRequestEvent::Updated => "UPDATED",
            PullRequestEvent::Closed => "CLOSED",
        }
    }
}

/// What happened in a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitEvent {
    /// A ref moved: `refs/heads/<branch>` or `refs/tags/<tag>`; `new` is `None` when the ref was
    /// deleted, `old` is `None` when it was created.
    Push {
        /// The full ref name.
        reference: String,
        /// The commit before.
        old: Option<String>,
        /// The commit after.
        new: Option<String>,
        /// The files the push changed (repository-relative, `/`-separated); `None` when the
        /// caller does not know them (a `filePaths` filter is then not met, and says why).
        changed_files: Option<Vec<String>>,
    },
    /// A pull request into `destination` from `source`.
    PullRequest {
        /// OPEN, UPDATED or CLOSED.
        event: PullRequestEvent,
        /// The branch pulled from (its commit is the one run).
        source: String,
        /// The branch the pull request is opened into (what `branches` filters).
        destination: String,
        /// The commit run.
        commit: String,
        /// The files the pull request changes.
        changed_files: Vec<String>,
    },
}

/// The decision for one source action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The source action.
    pub source_action: String,
    /// Whether a run starts.
    pub starts: bool,
    /// The commit it runs (the pushed commit, or the pull request's source commit).
    pub commit: Option<String>,
    /// Why: which trigger and filter matched, or why none did.
    pub reason: String,
}

/// A pattern that cannot be compiled, with where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternError {
    /// What is wrong.
    pub message: String,
    /// Where the pattern is.
    pub span: kiln_spec::Span,
}

impl std::fmt::Display for PatternError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.span.line, self.span.col, self.message)
    }
}

/// Compiled criteria.
struct Criteria {
    includes: Vec<Glob>,
    excludes: Vec<Glob>,
}

impl Criteria {
    fn compile(c: &FilterCriteria) -> Result<Criteria, PatternError> {
        let compile = |list: &[Text]| list.iter().map(|t| Glob::new(&t.value).map_err(|message| PatternError { message, span: t.span })).collect::<Result<Vec<_>, _>>();
        Ok(Criteria { includes: compile(&c.includes)?, excludes: compile(&c.excludes)? })
    }

    /// `Ok(why)` when `value` is included and not excluded, else `Err(why not)`.
    fn judge(&self, what: &str, value: &str) -> Result<String, String> {
        if let Some(g) = self.excludes.iter().find(|g| g.is_match(value)) {
            return Err(format!("{what} `{value}` is excluded by `{}`", g.pattern()));
        }
        if self.includes.is_empty() {
            return Ok(format!("{what} `{value}` is not excluded"));
        }
        match self.includes.iter().find(|g| g.is_match(value)) {
            Some(g) => Ok(format!("{what} `{value}` matches `{}`", g.pattern())),
            None => Err(format!("{what} `{value}` matches none of {}", self.includes.iter().map(|g| format!("`{}`", g.pattern())).collect::<Vec<_>>().join(", "))),
        }
    }

    fn judge_files(&self, files: &[String]) -> Result<String, String> {
        let mut why_not = Vec::new();
        for f in files {
            match self.judge("file", f) {
                Ok(why) => return Ok(why),
                Err(e) => why_not.push(e),
            }
        }
        if files.is_empty() {
            return Err("the event changed no file".into());
        }
        why_not.truncate(3);
        Err(format!("no changed file is included ({}{})", why_not.join("; "), if files.len() > 3 { "; …" } else { "" }))
    }
}

fn opt(c: &Option<FilterCriteria>) -> Result<Option<Criteria>, PatternError> {
    c.as_ref().map(Criteria::compile).transpose()
}

/// Decides one filter (AND of its criteria); `Ok(reasons)` or `Err(why not)`.
fn judge_filter(f: &GitFilter, event: &GitEvent) -> Result<Result<String, String>, PatternError> {
    let (tags, branches, files) = (opt(&f.tags)?, opt(&f.branches)?, opt(&f.file_paths)?);
    let mut reasons = Vec::new();
    let files_changed = match event {
        GitEvent::Push { reference, .. } if reference.starts_with("refs/tags/") => {
            // A tag push is matched by `tags` alone (the guide's valid combinations: tags;
            // branches; branches + file paths).
            let tag = &reference["refs/tags/".len()..];
            let Some(tags) = tags else { return Ok(Err(format!("a tag push (`{tag}`) and the filter has no tags"))) };
            return Ok(tags.judge("tag", tag));
        }
        GitEvent::Push { reference, changed_files, .. } => {
            if let Some(branch) = reference.strip_prefix("refs/heads/") {
                let Some(branches) = branches else { return Ok(Err(format!("a branch push (`{branch}`) and the filter has no branches"))) };
                match branches.judge("branch", branch) {
                    Ok(r) => reasons.push(r),
                    Err(e) => return Ok(Err(e)),
                }
            } else {
                return Ok(Err(format!("`{reference}` is neither a branch nor a tag")));
            }
            changed_files.as_deref()
        }
        GitEvent::PullRequest { event, destination, changed_files, .. } => {
            if !f.events.is_empty() && !f.events.iter().any(|e| e.value == event.name()) {
                return Ok(Err(format!("a pull request {} event and the filter's events are {}", event.name(), f.events.iter().map(|e| e.value.as_str()).collect::<Vec<_>>().join(", "))));
            }
            if let Some(branches) = branches {
                match branches.judge("destination branch", destination) {
                    Ok(r) => reasons.push(r),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Some(changed_files.as_slice())
        }
    };
    if let Some(files) = files {
        let Some(files_changed) = files_changed else {
            return Ok(Err("the filter has filePaths and the changed files are not known".into()));
        };
        match files.judge_files(files_changed) {
            Ok(r) => reasons.push(r),
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(reasons.join(", ")))
}

/// For `event` in the repository of the source action `source_action`, whether the pipeline
/// starts and why. `source_action` must be a Source action of `p` (else the decision says so).
pub fn decide(p: &Pipeline, source_action: &str, event: &GitEvent) -> Result<Decision, PatternError> {
    let decision = |starts: bool, reason: String| {
        let commit = match event {
            GitEvent::Push { new, .. } => new.clone(),
            GitEvent::PullRequest { commit, .. } => Some(commit.clone()),
        };
        Decision { source_action: source_action.to_string(), starts, commit: if starts { commit } else { None }, reason }
    };
    let action = p.stages.iter().flat_map(|s| &s.actions).find(|a| a.name.value == source_action && a.category() == Some(Category::Source));
    let Some(action) = action else { return Ok(decision(false, format!("`{source_action}` is not a Source action of pipeline {}", p.name.value))) };
    if let GitEvent::Push { reference, new: None, .. } = event {
        return Ok(decision(false, format!("`{reference}` was deleted: nothing to run")));
    }
    let Some(trigger) = p.triggers.iter().find(|t| t.source_action_name.as_ref().is_some_and(|n| n.value == source_action)) else {
        // Default change detection: a push to the action's BranchName.
        if action.config("DetectChanges").is_some_and(|v| v.value.eq_ignore_ascii_case("false")) {
            return Ok(decision(false, format!("source action `{source_action}` has DetectChanges: false and no trigger")));
        }
        let Some(branch) = action.config("BranchName") else {
            return Ok(decision(false, format!("source action `{source_action}` has no trigger and no BranchName to follow")));
        };
        return Ok(match event {
            GitEvent::Push { reference, .. } if reference.strip_prefix("refs/heads/") == Some(branch.value.as_str()) => decision(true, format!("no trigger: a push to the source action's BranchName `{}`", branch.value)),
            GitEvent::Push { reference, .. } => decision(false, format!("no trigger: only a push to BranchName `{}` starts it, not `{reference}`", branch.value)),
            GitEvent::PullRequest { .. } => decision(false, "no trigger: pull requests start nothing without a pullRequest filter".into()),
        });
    };
    let (filters, kind) = match event {
        GitEvent::Push { .. } => (&trigger.push, "push"),
        GitEvent::PullRequest { .. } => (&trigger.pull_request, "pullRequest"),
    };
    if filters.is_empty() {
        return Ok(decision(false, format!("the trigger for `{source_action}` has no {kind} filter")));
    }
    let mut why_not = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        match judge_filter(f, event)? {
            Ok(why) => return Ok(decision(true, format!("{kind} filter {}: {why}", i + 1))),
            Err(e) => why_not.push(format!("{kind} filter {}: {e}", i + 1)),
        }
    }
    Ok(decision(false, why_not.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    #[test]
    fn glob_syntax_of_the_user_guide() {
        // "Working with glob patterns in syntax": each rule of the list.
        assert!(glob("*.java").is_match("Main.java") && !glob("*.java").is_match("src/Main.java"));
        assert!(glob("*.*").is_match("a.b") && !glob("*.*").is_match("ab"));
        assert!(glob("*.{java,class}").is_match("A.class") && glob("*.{java,class}").is_match("A.java") && !glob("*.{java,class}").is_match("A.jar"));
        assert!(glob("foo.?").is_match("foo.c") && !glob("foo.?").is_match("foo.cc"));
        assert!(glob("**").is_match("a/b/c.txt"));
        assert!(glob("directory/**").is_match("directory/a/b") && !glob("directory/**").is_match("other/a"));
        assert!(glob("directory/*").is_match("directory/a") && !glob("directory/*").is_match("directory/a/b"));
        assert!(glob("directory/my-file.jar").is_match("directory/my-file.jar"));
        assert!(glob("[abc]x").is_match("bx") && !glob("[abc]x").is_match("dx"));
        assert!(glob("[a-c]x").is_match("cx") && glob("[!a-c]x").is_match("dx") && !glob("[!a-c]x").is_match("ax"));
        assert!(glob("[-a]x").is_match("-x") && glob("[!-a]x").is_match("bx") && !glob("[!-a]x").is_match("-x"));
        assert!(glob("[*?\\]x").is_match("*x") && glob("[*?\\]x").is_match("\\x"));
        assert!(glob("\\*").is_match("*") && !glob("\\*").is_match("a"));
        assert!(!glob("?").is_match("/") && !glob("[!a]").is_match("/"));
        // `**` crosses `/` anywhere, unlike globset's component-only `**`.
        assert!(glob("release**").is_match("release/1.2/hotfix"));
        assert!(glob("v*").is_match("v1.2.0") && !glob("v*").is_match("release-v1"));
        // Regex metacharacters are literal.
        assert!(glob("a.b+(c)").is_match("a.b+(c)") && !glob("a.b+(c)").is_match("aXb+(c)"));
        for bad in ["{a,{b}}", "{a", "[ab", "a\\", "[a/b]", "[z-a]"] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }

    fn pipeline(triggers: &str) -> Pipeline {
        let yaml = format!(
            "pipeline:\n  name: app\n  pipelineType: V2\n  roleArn: arn:aws:iam::123456789012:role/p\n  artifactStore: {{type: S3, location: b}}\n{triggers}  stages:\n    - name: Source\n      actions:\n        - name: ApplicationSource\n          actionTypeId: {{category: Source, owner: AWS, provider: CodeStarSourceConnection, version: '1'}}\n          configuration: {{BranchName: mainline, ConnectionArn: 'arn:aws:codestar-connections:eu-central-1:111122223333:connection/x', FullRepositoryId: monorepo-example}}\n          outputArtifacts: [{{name: Src}}]\n    - name: Build\n      actions:\n        - name: Build\n          actionTypeId: {{category: Build, owner: AWS, provider: CodeBuild, version: '1'}}\n          configuration: {{ProjectName: p}}\n          inputArtifacts: [{{name: Src}}]\n"
        );
        crate::parse(&yaml, "pipeline.yml", &crate::ReadOptions::default()).unwrap().definition.pipeline
    }

    /// The user guide's example ("Trigger filtering in the pipeline JSON (CLI)").
    const GUIDE: &str = r#"  triggers:
    - providerType: CodeStarSourceConnection
      gitConfiguration:
        sourceActionName: ApplicationSource
        push:
          - filePaths: {includes: ["projectA/**", "common/**/*.js"], excludes: ["**/README.md", "**/LICENSE", "**/CONTRIBUTING.md"]}
            branches: {includes: ["feature/**", "release/**"], excludes: [mainline]}
            tags: {includes: [release-v0, release-v1], excludes: [release-v2]}
        pullRequest:
          - events: [CLOSED]
            branches: {includes: ["feature/**", "release/**"], excludes: [mainline]}
            filePaths: {includes: ["projectA/**", "common/**/*.js"], excludes: ["**/README.md", "**/LICENSE", "**/CONTRIBUTING.md"]}
"#;

    fn push(r: &str, files: &[&str]) -> GitEvent {
        GitEvent::Push { reference: r.into(), old: Some("a".repeat(40)), new: Some("b".repeat(40)), changed_files: Some(files.iter().map(|f| f.to_string()).collect()) }
    }

    fn starts(p: &Pipeline, e: &GitEvent) -> (bool, String) {
        let d = decide(p, "ApplicationSource", e).unwrap();
        (d.starts, d.reason)
    }

    #[test]
    fn the_guides_push_filter() {
        let p = pipeline(GUIDE);
        let (yes, why) = starts(&p, &push("refs/heads/feature/login", &["projectA/src/main.rs"]));
        assert!(yes, "{why}");
        assert_eq!(why, "push filter 1: branch `feature/login` matches `feature/**`, file `projectA/src/main.rs` matches `projectA/**`");
        assert_eq!(decide(&p, "ApplicationSource", &push("refs/heads/feature/login", &["projectA/x"])).unwrap().commit, Some("b".repeat(40)));
        // A README-only change is excluded: excludes win over includes.
        let (yes, why) = starts(&p, &push("refs/heads/feature/login", &["projectA/README.md"]));
        assert!(!yes && why.contains("excluded by `**/README.md`"), "{why}");
        // One included file among excluded ones is enough.
        assert!(starts(&p, &push("refs/heads/release/1.0", &["projectA/README.md", "common/lib/util.js"])).0);
        // `common/**/*.js` needs a directory between; `*.js` does not cross `/`.
        assert!(!starts(&p, &push("refs/heads/release/1.0", &["common/util.ts"])).0);
        // The default branch is excluded, and a trigger replaces default change detection.
        let (yes, why) = starts(&p, &push("refs/heads/mainline", &["projectA/a"]));
        assert!(!yes && why.contains("branch `mainline` is excluded by `mainline`"), "{why}");
        assert!(!starts(&p, &push("refs/heads/hotfix", &["projectA/a"])).0);
        // Unknown changed files never meet a filePaths filter.
        let unknown = GitEvent::Push { reference: "refs/heads/feature/x".into(), old: None, new: Some("b".repeat(40)), changed_files: None };
        let (yes, why) = starts(&p, &unknown);
        assert!(!yes && why.ends_with("the filter has filePaths and the changed files are not known"), "{why}");
        // Tags: include/exclude lists, no file paths involved.
        assert!(starts(&p, &push("refs/tags/release-v1", &[])).0);
        let (yes, why) = starts(&p, &push("refs/tags/release-v2", &[]));
        assert!(!yes && why.contains("tag `release-v2` is excluded by `release-v2`"), "{why}");
        assert!(!starts(&p, &push("refs/tags/release-v3", &[])).0);
        // Deleting a branch starts nothing.
        let del = GitEvent::Push { reference: "refs/heads/feature/x".into(), old: Some("a".repeat(40)), new: None, changed_files: Some(vec![]) };
        assert!(!starts(&p, &del).0);
    }

    #[test]
    fn the_guides_pull_request_filter() {
        let p = pipeline(GUIDE);
        let pr = |event, dest: &str, files: &[&str]| GitEvent::PullRequest { event, source: "topic".into(), destination: dest.into(), commit: "c".repeat(40), changed_files: files.iter().map(|f| f.to_string()).collect() };
        assert!(starts(&p, &pr(PullRequestEvent::Closed, "release/2", &["projectA/a"])).0);
        let (yes, why) = starts(&p, &pr(PullRequestEvent::Open, "release/2", &["projectA/a"]));
        assert!(!yes && why.contains("OPEN event and the filter's events are CLOSED"), "{why}");
        assert!(!starts(&p, &pr(PullRequestEvent::Closed, "mainline", &["projectA/a"])).0);
        assert_eq!(decide(&p, "ApplicationSource", &pr(PullRequestEvent::Closed, "release/2", &["projectA/a"])).unwrap().commit, Some("c".repeat(40)));
    }

    #[test]
    fn filters_are_ored_and_criteria_anded() {
        // The issue's example: main → the pipeline; tags v* → the pipeline, from two filters.
        let p = pipeline("  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: ApplicationSource\n        push:\n          - branches: {includes: [main]}\n          - tags: {includes: ['v*'], excludes: ['v*-rc*']}\n");
        assert!(starts(&p, &push("refs/heads/main", &["x"])).0);
        assert!(starts(&p, &push("refs/tags/v1.2.0", &[])).0);
        let (yes, why) = starts(&p, &push("refs/tags/v1.3.0-rc1", &[]));
        assert!(!yes, "{why}");
        assert_eq!(why, "push filter 1: a tag push (`v1.3.0-rc1`) and the filter has no tags; push filter 2: tag `v1.3.0-rc1` is excluded by `v*-rc*`");
        // Branches with excludes only: everything else is included.
        let p = pipeline("  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: ApplicationSource\n        push:\n          - branches: {excludes: ['wip/**']}\n");
        assert!(starts(&p, &push("refs/heads/anything", &[])).0);
        assert!(!starts(&p, &push("refs/heads/wip/a/b", &[])).0);
    }

    #[test]
    fn without_a_trigger_the_default_branch_starts_it() {
        let p = pipeline("");
        let (yes, why) = starts(&p, &push("refs/heads/mainline", &[]));
        assert!(yes && why.contains("BranchName `mainline`"), "{why}");
        assert!(!starts(&p, &push("refs/heads/feature", &[])).0);
        assert!(!starts(&p, &push("refs/tags/v1", &[])).0);
        let d = decide(&p, "Build", &push("refs/heads/mainline", &[])).unwrap();
        assert!(!d.starts && d.reason.contains("not a Source action"), "{}", d.reason);
    }

    #[test]
    fn a_bad_pattern_is_located() {
        let p = pipeline("  triggers:\n    - providerType: CodeStarSourceConnection\n      gitConfiguration:\n        sourceActionName: ApplicationSource\n        push:\n          - branches: {includes: ['{a,{b}}']}\n");
        let e = decide(&p, "ApplicationSource", &push("refs/heads/a", &[])).unwrap_err();
        assert_eq!(e.span.line, 11, "{e}");
        assert!(e.to_string().contains("cannot be nested"), "{e}");
    }
}
