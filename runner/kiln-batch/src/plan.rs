//! Planning: a buildspec's `batch:` expanded into the child builds CodeBuild would start. Pure:
//! no I/O, no clock; the input is a buildspec `kiln-spec` has validated.

use kiln_spec::{Batch, BatchBuild, BatchEnv, BuildMatrix};
use serde::Serialize;

/// The most builds one batch may have. CodeBuild bounds a batch by the project's
/// `restrictions.maximumBuildsAllowed` and fails a batch above it; kiln has no project, so this is
/// its own bound (kiln proposal), checked before a matrix is multiplied out.
pub const MAX_BUILDS: usize = 1000;

/// Which kind of batch the buildspec defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    BuildList,
    BuildGraph,
    BuildMatrix,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BuildList => "build-list",
            Kind::BuildGraph => "build-graph",
            Kind::BuildMatrix => "build-matrix",
        }
    }
}

/// The builds of a batch, in the order the buildspec defines them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchPlan {
    pub kind: Kind,
    /// `fast-fail`: stop the running builds when one fails.
    pub fast_fail: bool,
    pub builds: Vec<ChildPlan>,
}

/// One build of a batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChildPlan {
    /// `CODEBUILD_BATCH_BUILD_IDENTIFIER`.
    pub identifier: String,
    /// The buildspec to run, relative to the source root; `None`: the batch's own buildspec.
    pub buildspec: Option<String>,
    /// `env.variables`, applied over the buildspec's variables.
    pub variables: Vec<(String, String)>,
    pub ignore_failure: bool,
    /// `depend-on` (graphs): identifiers of builds that must complete first.
    pub depend_on: Vec<String>,
    /// The rest of `env` and `debug-session`: recorded, not applied.
    pub recorded: RecordedEnv,
    /// For a matrix build, the combination it runs (`buildspec`, env keys, variable names, each
    /// with its value), in dimension order; empty otherwise.
    pub combination: Vec<(String, String)>,
}

/// What a batch entry asks of CodeBuild's build environment that kiln cannot honour on one
/// machine: the host is the image, its CPUs the compute type, and there is no Docker daemon to
/// grant privileged mode to. Kept in the batch record and shown once as a notice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedEnv {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged_mode: Option<bool>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debug_session: bool,
}

impl RecordedEnv {
    fn from_env(e: &BatchEnv, debug_session: bool) -> RecordedEnv {
        RecordedEnv { image: e.image.clone(), compute_type: e.compute_type.clone(), fleet: e.fleet.clone(), privileged_mode: e.privileged_mode, r#type: e.r#type.clone(), debug_session }
    }

    /// `key=value` for every setting present, in a fixed order.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let strings = [("image", &self.image), ("compute-type", &self.compute_type), ("fleet", &self.fleet), ("type", &self.r#type)];
        for (k, v) in strings {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        if let Some(p) = self.privileged_mode {
            out.push(("privileged-mode", p.to_string()));
        }
        if self.debug_session {
            out.push(("debug-session", "true".into()));
        }
        out
    }
}

/// Why a buildspec's batch cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the buildspec has no `batch` section: `kiln build --batch` runs a batch build (CodeBuild's start-build-batch); run it without --batch")]
    NoBatch,
    #[error("kiln does not run `build-fanout` batches ({parallelism} shard builds): their shards split the tests with CodeBuild's `codebuild-tests-run` tool, which kiln does not provide; run it without --batch to run the phases once")]
    Fanout { parallelism: u64 },
    #[error("the build matrix has {builds} combinations; kiln runs at most {MAX_BUILDS} builds in a batch (CodeBuild fails a batch above the project's maximumBuildsAllowed): remove values from `dynamic`")]
    TooManyBuilds { builds: String },
    #[error("the batch defines no build")]
    Empty,
}

/// Expand `batch` into the builds CodeBuild would start. Expects a buildspec without errors
/// (`kiln_spec::parse_buildspec`); anything the parser would have refused is refused again here
/// rather than planned wrongly.
pub fn plan(batch: Option<&Batch>) -> Result<BatchPlan, PlanError> {
    let batch = batch.ok_or(PlanError::NoBatch)?;
    let fast_fail = batch.fast_fail.unwrap_or(false);
    let (kind, builds) = if let Some(f) = &batch.build_fanout {
        return Err(PlanError::Fanout { parallelism: f.parallelism });
    } else if let Some(m) = &batch.build_matrix {
        (Kind::BuildMatrix, matrix(m)?)
    } else if !batch.build_graph.is_empty() {
        (Kind::BuildGraph, batch.build_graph.iter().map(entry).collect())
    } else {
        (Kind::BuildList, batch.build_list.iter().map(entry).collect::<Vec<_>>())
    };
    if builds.is_empty() {
        return Err(PlanError::Empty);
    }
    if builds.len() > MAX_BUILDS {
        return Err(PlanError::TooManyBuilds { builds: builds.len().to_string() });
    }
    Ok(BatchPlan { kind, fast_fail, builds })
}

fn entry(b: &BatchBuild) -> ChildPlan {
    ChildPlan {
        identifier: b.identifier.value.clone(),
        buildspec: b.buildspec.as_ref().map(|s| s.value.clone()),
        variables: b.env.variables.iter().map(|e| (e.name.value.clone(), e.value.value.clone())).collect(),
        ignore_failure: b.ignore_failure,
        depend_on: b.depend_on.iter().map(|d| d.value.clone()).collect(),
        recorded: RecordedEnv::from_env(&b.env, b.debug_session),
        combination: Vec::new(),
    }
}

/// One dimension of a matrix: what it sets, and its values.
enum Dimension<'a> {
    Buildspec(&'a [String]),
    Env(&'a str, &'a [String]),
    Variable(&'a str, &'a [String]),
}

impl Dimension<'_> {
    fn values(&self) -> &[String] {
        match self {
            Dimension::Buildspec(v) | Dimension::Env(_, v) | Dimension::Variable(_, v) => v,
        }
    }
}

/// Every combination of the matrix's dynamic values: one build each (batch-build.html: "CodeBuild
/// creates a separate build for each possible configuration combination").
///
/// Order (the one the guide lists its six example builds in): `buildspec` varies slowest, then
/// each `dynamic.env` key and each `dynamic.env.variables` name in the order written, the last
/// varying fastest. Identifiers are `build_matrix_1`, `build_matrix_2`, … in that order (kiln
/// proposal: CodeBuild generates matrix identifiers and documents no form; s2n-tls's buildspecs
/// note that they are "non-differentiated names"). `static.ignore-failure` applies to every
/// build, and `static.env`'s `privileged-mode` and `type` are recorded for every build.
fn matrix(m: &BuildMatrix) -> Result<Vec<ChildPlan>, PlanError> {
    let mut dims: Vec<Dimension> = Vec::new();
    if !m.dynamic_buildspec.is_empty() {
        dims.push(Dimension::Buildspec(&m.dynamic_buildspec));
    }
    dims.extend(m.dynamic_env.iter().map(|(k, v)| Dimension::Env(k, v)));
    dims.extend(m.dynamic_variables.iter().map(|(k, v)| Dimension::Variable(k, v)));
    let mut total: usize = 1;
    for d in &dims {
        total = match total.checked_mul(d.values().len()) {
            Some(t) if t <= MAX_BUILDS => t,
            _ => {
                let product = dims.iter().map(|d| d.values().len().to_string()).collect::<Vec<_>>().join(" × ");
                return Err(PlanError::TooManyBuilds { builds: product });
            }
        };
    }
    if dims.is_empty() || total == 0 {
        return Ok(Vec::new());
    }
    let base = RecordedEnv { privileged_mode: m.static_env.privileged_mode, r#type: m.static_env.r#type.clone(), ..Default::default() };
    let mut out = Vec::with_capacity(total);
    for n in 0..total {
        let mut child = ChildPlan { identifier: format!("build_matrix_{}", n + 1), ignore_failure: m.static_ignore_failure, recorded: base.clone(), ..Default::default() };
        // Mixed radix: the last dimension is the fastest digit.
        let mut rest = n;
        let mut picks = vec![0; dims.len()];
        for (i, d) in dims.iter().enumerate().rev() {
            picks[i] = rest % d.values().len();
            rest /= d.values().len();
        }
        for (d, &pick) in dims.iter().zip(&picks) {
            let value = d.values()[pick].clone();
            match d {
                Dimension::Buildspec(_) => {
                    child.combination.push(("buildspec".into(), value.clone()));
                    child.buildspec = Some(value);
                }
                Dimension::Env(key, _) => {
                    child.combination.push((key.to_string(), value.clone()));
                    match *key {
                        "image" => child.recorded.image = Some(value),
                        "compute-type" => child.recorded.compute_type = Some(value),
                        _ => child.recorded.fleet = Some(value),
                    }
                }
                Dimension::Variable(name, _) => {
                    child.combination.push((name.to_string(), value.clone()));
                    child.variables.push((name.to_string(), value));
                }
            }
        }
        out.push(child);
    }
    Ok(out)
}

impl BatchPlan {
    /// The notices a batch shows once (and records): the `env` settings kiln records but does not
    /// apply, naming the builds that ask for each.
    pub fn notices(&self) -> Vec<String> {
        let mut by_key: Vec<(&'static str, Vec<&str>)> = Vec::new();
        for b in &self.builds {
            for (k, _) in b.recorded.settings() {
                match by_key.iter_mut().find(|(key, _)| *key == k) {
                    Some((_, ids)) => ids.push(&b.identifier),
                    None => by_key.push((k, vec![&b.identifier])),
                }
            }
        }
        by_key
            .into_iter()
            .map(|(k, ids)| {
                let why = match k {
                    "image" => "every build runs on this host, which is its image",
                    "compute-type" | "fleet" => "every build uses this host's CPUs and memory",
                    "type" => "every build runs in a Linux container-like sandbox on this host",
                    "privileged-mode" => "there is no Docker daemon to give privileges to",
                    _ => "session debugging (Session Manager) has no offline equivalent",
                };
                let who = if ids.len() == self.builds.len() { "every build".to_string() } else { ids.join(", ") };
                let key = if k == "debug-session" { k.to_string() } else { format!("env.{k}") };
                format!("batch `{key}` is recorded but not applied ({why}): {who}")
            })
            .collect()
    }

    /// The build with `identifier`.
    pub fn index_of(&self, identifier: &str) -> Option<usize> {
        self.builds.iter().position(|b| b.identifier == identifier)
    }
}

/// The longest text a cell of [`BatchPlan::table`] shows.
const CELL: usize = 48;

fn cell(s: &str) -> String {
    if s.chars().count() <= CELL {
        return s.to_string();
    }
    let mut t: String = s.chars().take(CELL - 1).collect();
    t.push('…');
    t
}

impl BatchPlan {
    /// The planned builds as a short table (`kiln validate`): identifier, buildspec, dependencies,
    /// the variables set, and the recorded-only settings in brackets. Values longer than a cell
    /// are cut with `…`; control characters are shown as `?`.
    pub fn table(&self) -> String {
        let clean = |s: &str| s.chars().map(|c| if c.is_control() { '?' } else { c }).collect::<String>();
        let mut rows = vec![["IDENTIFIER".to_string(), "BUILDSPEC".into(), "DEPENDS ON".into(), "ENV".into()]];
        for b in &self.builds {
            let mut env: Vec<String> = b.variables.iter().map(|(k, v)| format!("{k}={}", clean(v))).collect();
            env.extend(b.recorded.settings().into_iter().map(|(k, v)| format!("[{k}={}]", clean(&v))));
            let dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
            rows.push([
                cell(&clean(&b.identifier)),
                cell(&clean(b.buildspec.as_deref().unwrap_or("(this buildspec)"))),
                cell(&dash(b.depend_on.join(","))),
                dash(env.iter().map(|e| cell(e)).collect::<Vec<_>>().join(" ")),
            ]);
        }
        let widths: Vec<usize> = (0..3).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for r in &rows {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate() {
                line.push_str(&r[i]);
                line.push_str(&" ".repeat(w - r[i].chars().count() + 2));
            }
            line.push_str(&r[3]);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}
