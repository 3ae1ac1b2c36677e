//! `batch:` — CodeBuild batch builds (`start-build-batch`): `build-list`, `build-graph`,
//! `build-matrix` and `build-fanout`, read into the model with every check that needs a position.
//! Expanding a batch into its child builds is `kiln-batch`'s job; a valid buildspec is one it can
//! expand without further checks.
//!
//! What is checked, with the source of each rule (CodeBuild user guide, `batch-build-buildspec.html`,
//! `batch-build.html`; the fact sheet `codebuild-more.md` §5):
//! * exactly one of the four kinds (E0605); `fast-fail` is a boolean;
//! * every `build-list` / `build-graph` entry has an `identifier` (E0602), unique (E0603), made of
//!   ASCII letters, digits and `_` only and fewer than 128 characters (E0607: CodeBuild fails such
//!   a batch with `BATCH_SPEC_VALIDATION_ERROR`, aws/copilot-cli#1673);
//! * `depend-on` names builds of the same graph (E0604) and makes no cycle (E0606, the cycle is
//!   named: `a -> b -> a`);
//! * `compute-type` and `fleet` are not both set in one `env` (E0608: "mutually exclusive");
//! * a `build-matrix` has a `dynamic` section and no empty dimension (E0609: an empty list
//!   multiplies the whole matrix down to no build at all);
//! * a `buildspec` override is a relative path inside the source (E0611): kiln reads it from the
//!   project and never from elsewhere (no S3 offline, no `..`, no absolute path);
//! * `build-matrix.static.env` holds only `privileged-mode` and `type`, the two keys CodeBuild
//!   documents there (W0601: awsdocs/aws-codebuild-user-guide#88 reports `image`, `compute-type`
//!   and `variables` have no effect in `static`);
//! * `build-fanout` is parsed (`parallelism` ≥ 1, E0610) but kiln does not run it (W0606): its
//!   shards split tests with CodeBuild's `codebuild-tests-run` tool, which kiln does not provide.

use crate::diag::Span;
use crate::model::*;
use crate::read::Ctx;
use crate::yaml::{Node, NodeKind};

const BATCH_KEYS: &[&str] = &["fast-fail", "build-list", "build-graph", "build-matrix", "build-fanout"];
const ENV_KEYS: &[&str] = &["compute-type", "fleet", "image", "privileged-mode", "type", "variables"];
const MATRIX_DYNAMIC_ENV_KEYS: &[&str] = &["compute-type", "fleet", "image", "variables"];
const MATRIX_STATIC_ENV_KEYS: &[&str] = &["privileged-mode", "type"];

/// The longest batch identifier CodeBuild accepts ("fewer than 128 characters").
pub const MAX_IDENTIFIER_LEN: usize = 127;

/// Whether CodeBuild accepts `s` as a batch build identifier: 1 to 127 ASCII letters, digits and `_`.
pub fn is_batch_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_IDENTIFIER_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn batch(cx: &mut Ctx, key: &Node, node: &Node) -> Batch {
    let mut b = Batch { span: key.span, ..Default::default() };
    let fields = cx.fields(node, "batch", BATCH_KEYS);
    for f in &fields {
        match f.key {
            "fast-fail" => b.fast_fail = cx.boolean(f.value, "batch.fast-fail"),
            "build-list" => b.build_list = builds(cx, f.value, "batch.build-list", false),
            "build-graph" => b.build_graph = builds(cx, f.value, "batch.build-graph", true),
            "build-matrix" => b.build_matrix = Some(matrix(cx, f.key_node, f.value)),
            _ => b.build_fanout = fanout(cx, f.key_node, f.value),
        }
    }
    let kinds: Vec<&str> = fields.iter().filter(|f| f.key != "fast-fail").map(|f| f.key).collect();
    if kinds.len() != 1 {
        let found = if kinds.is_empty() { "none".to_string() } else { kinds.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ") };
        cx.error("E0605", format!("`batch` needs exactly one of `build-list`, `build-graph`, `build-matrix` or `build-fanout`, found {found}"), key.span).help =
            Some("a batch is one list of builds, one graph or one matrix; split the others into their own buildspec".into());
    }
    b
}

/// The `env` of a list or graph entry (or of a matrix's `static` part, with `allowed` narrowed).
fn env(cx: &mut Ctx, node: &Node, what: &str, allowed: &[&str]) -> BatchEnv {
    let mut e = BatchEnv::default();
    let (mut compute_type, mut fleet) = (None, None);
    for f in cx.fields(node, what, ENV_KEYS) {
        let sub = format!("{what}.{}", f.key);
        if !allowed.contains(&f.key) {
            cx.warn("W0601", format!("`{sub}` has no effect: CodeBuild applies only {} in a matrix's `static.env`", allowed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" and ")), f.key_node.span).help =
                Some(format!("move it to `batch.build-matrix.dynamic.env.{}` as a list of one value (see awsdocs/aws-codebuild-user-guide#88)", f.key));
            continue;
        }
        match f.key {
            "variables" => e.variables = cx.env_entries(f.value, &sub, true),
            "privileged-mode" => e.privileged_mode = cx.boolean(f.value, &sub),
            key => {
                let v = cx.string(f.value, &sub).map(|s| s.value);
                match key {
                    "compute-type" => (e.compute_type, compute_type) = (v, Some(f.key_node.span)),
                    "fleet" => (e.fleet, fleet) = (v, Some(f.key_node.span)),
                    "image" => e.image = v,
                    _ => e.r#type = v,
                }
            }
        }
    }
    exclusive(cx, compute_type, fleet, what);
    e
}

/// E0608 when both `compute-type` and `fleet` were written, at the later of the two keys.
fn exclusive(cx: &mut Ctx, compute_type: Option<Span>, fleet: Option<Span>, what: &str) {
    let (Some(ct), Some(fl)) = (compute_type, fleet) else { return };
    let (at, other) = if fl.offset > ct.offset { (fl, ct) } else { (ct, fl) };
    cx.error("E0608", format!("`{what}` sets both `compute-type` and `fleet`; CodeBuild takes one or the other"), at).help =
        Some(format!("keep `compute-type` for on-demand compute or `fleet` for a reserved-capacity fleet, not both (the other one is at line {})", other.line));
}

/// A relative path to another buildspec in the source (`buildspec:` of an entry or matrix).
fn check_buildspec_path(cx: &mut Ctx, what: &str, path: &Spanned<String>) {
    let p = path.value.trim();
    let problem = if p.is_empty() {
        Some("is empty")
    } else if p.starts_with("arn:") || p.starts_with("s3://") {
        Some("is in Amazon S3, which kiln cannot read offline")
    } else if p.starts_with('/') {
        Some("is an absolute path")
    } else if p.split('/').any(|c| c == "..") {
        Some("has a `..` component")
    } else {
        None
    };
    if let Some(problem) = problem {
        cx.error("E0611", format!("`{what}` `{}` {problem}; kiln reads a child build's buildspec from the project only", path.value), path.span).help =
            Some("give the path of a buildspec inside the project, relative to its root (e.g. `ci/buildspec-test.yml`)".into());
    }
}

fn builds(cx: &mut Ctx, node: &Node, what: &str, graph: bool) -> Vec<BatchBuild> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items,
        _ => {
            cx.error("E0600", format!("`{what}` must be a list of builds, found {}", node.describe()), node.span);
            return Vec::new();
        }
    };
    let mut keys = vec!["identifier", "buildspec", "env", "ignore-failure", "debug-session"];
    if graph {
        keys.push("depend-on");
    }
    let mut out: Vec<BatchBuild> = Vec::new();
    for item in items {
        let mut b = BatchBuild::default();
        let mut has_id = false;
        for f in cx.fields(item, &format!("an entry of {what}"), &keys) {
            let sub = format!("{what}[].{}", f.key);
            match f.key {
                "identifier" => {
                    if let Some(id) = cx.string(f.value, &sub) {
                        has_id = true;
                        b.identifier = id;
                    }
                }
                "buildspec" => {
                    b.buildspec = cx.string(f.value, &sub);
                    if let Some(p) = &b.buildspec {
                        check_buildspec_path(cx, &sub, p);
                    }
                }
                "env" => b.env = env(cx, f.value, &sub, ENV_KEYS),
                "ignore-failure" => b.ignore_failure = cx.boolean(f.value, &sub).unwrap_or(false),
                "debug-session" => b.debug_session = cx.boolean(f.value, &sub).unwrap_or(false),
                "depend-on" => b.depend_on = cx.string_list(f.value, &sub),
                _ => {}
            }
        }
        if !has_id {
            cx.error("E0602", format!("an entry of `{what}` has no `identifier`"), item.span).help =
                Some("every batch build needs a unique `identifier`".into());
        } else if !is_batch_identifier(&b.identifier.value) {
            let id = &b.identifier.value;
            let why = if id.len() > MAX_IDENTIFIER_LEN { format!("is {} characters long", id.len()) } else { "holds characters other than letters, digits and `_`".into() };
            cx.error("E0607", format!("batch identifier `{id}` {why}; CodeBuild rejects the batch (BATCH_SPEC_VALIDATION_ERROR)"), b.identifier.span).help =
                Some(format!("use only ASCII letters, digits and `_`, fewer than 128 characters, e.g. `{}`", suggest_identifier(id)));
        } else if let Some(prev) = out.iter().find(|p| p.identifier.value == b.identifier.value) {
            cx.error("E0603", format!("duplicate batch identifier `{}`", b.identifier.value), b.identifier.span).help =
                Some(format!("first used at line {}", prev.identifier.span.line));
        }
        out.push(b);
    }
    if graph {
        unknown_dependencies(cx, &out);
        cycles(cx, &out);
    }
    out
}

/// `id` with every character CodeBuild refuses replaced by `_`, cut to the length it accepts.
fn suggest_identifier(id: &str) -> String {
    let s: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(MAX_IDENTIFIER_LEN).collect();
    if s.is_empty() { "build1".into() } else { s }
}

fn unknown_dependencies(cx: &mut Ctx, graph: &[BatchBuild]) {
    for b in graph {
        for dep in &b.depend_on {
            if !graph.iter().any(|o| o.identifier.value == dep.value) {
                let ids: Vec<&str> = graph.iter().map(|o| o.identifier.value.as_str()).collect();
                cx.error("E0604", format!("`depend-on` names `{}`, which is not a build of this graph", dep.value), dep.span).help =
                    Some(format!("the builds of this graph are: {}", ids.join(", ")));
            }
        }
    }
}

/// Report every cycle of `depend-on` once, at the dependency that closes it, naming the builds
/// on it in order (`a -> b -> c -> a`). Depth-first search with an explicit stack (a graph of
/// thousands of builds cannot overflow the thread's stack).
fn cycles(cx: &mut Ctx, graph: &[BatchBuild]) {
    let index = |id: &str| graph.iter().position(|b| b.identifier.value == id);
    // Edges as (target, the `depend-on` item naming it), unknown names skipped (E0604).
    let edges: Vec<Vec<(usize, Span)>> = graph.iter().map(|b| b.depend_on.iter().filter_map(|d| Some((index(&d.value)?, d.span))).collect()).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut mark = vec![Mark::New; graph.len()];
    for start in 0..graph.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // (node, next edge to follow)
        let mut path: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::OnPath;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            let Some(&(to, span)) = edges[node].get(*next) else {
                mark[node] = Mark::Done;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[to] {
                Mark::New => {
                    mark[to] = Mark::OnPath;
                    path.push((to, 0));
                }
                Mark::OnPath => {
                    let from = path.iter().position(|&(n, _)| n == to).unwrap_or(0);
                    let mut names: Vec<&str> = path[from..].iter().map(|&(n, _)| graph[n].identifier.value.as_str()).collect();
                    names.push(&graph[to].identifier.value);
                    let cycle = names.join(" -> ");
                    cx.error("E0606", format!("`depend-on` makes a cycle: {cycle}"), span).help = Some(if names.len() == 2 {
                        format!("`{}` depends on itself; remove it from its own `depend-on`", names[0])
                    } else {
                        "none of these builds could ever start: remove one of these dependencies".into()
                    });
                }
                Mark::Done => {}
            }
        }
    }
}

/// A matrix dimension: a list of strings (a single scalar is a list of one), never empty.
fn dimension(cx: &mut Ctx, key: &Node, node: &Node, what: &str) -> Vec<Spanned<String>> {
    let values = match &node.kind {
        NodeKind::Seq(_) => cx.string_list(node, what),
        _ if node.is_null() => Vec::new(),
        _ => cx.string(node, what).into_iter().collect(),
    };
    if values.is_empty() {
        cx.error("E0609", format!("`{what}` has no values, so the matrix would start no build at all"), key.span).help =
            Some("give at least one value, or remove the key".into());
    }
    values
}

fn matrix(cx: &mut Ctx, key: &Node, node: &Node) -> BuildMatrix {
    let mut m = BuildMatrix::default();
    let mut dimensions = 0;
    for f in cx.fields(node, "batch.build-matrix", &["static", "dynamic"]) {
        if f.key == "static" {
            for s in cx.fields(f.value, "batch.build-matrix.static", &["ignore-failure", "env"]) {
                match s.key {
                    "ignore-failure" => m.static_ignore_failure = cx.boolean(s.value, "batch.build-matrix.static.ignore-failure").unwrap_or(false),
                    _ => m.static_env = env(cx, s.value, "batch.build-matrix.static.env", MATRIX_STATIC_ENV_KEYS),
                }
            }
            continue;
        }
        for d in cx.fields(f.value, "batch.build-matrix.dynamic", &["buildspec", "env"]) {
            if d.key == "buildspec" {
                let what = "batch.build-matrix.dynamic.buildspec";
                let values = dimension(cx, d.key_node, d.value, what);
                for v in &values {
                    check_buildspec_path(cx, what, v);
                }
                dimensions += 1;
                m.dynamic_buildspec = values.into_iter().map(|v| v.value).collect();
                continue;
            }
            let (mut compute_type, mut fleet) = (None, None);
            for e in cx.fields(d.value, "batch.build-matrix.dynamic.env", MATRIX_DYNAMIC_ENV_KEYS) {
                let what = format!("batch.build-matrix.dynamic.env.{}", e.key);
                if e.key == "variables" {
                    for v in cx.fields(e.value, &what, &[]) {
                        let var = format!("{what}.{}", v.key);
                        if !crate::read::is_var_name(v.key) {
                            cx.error("E0011", format!("`{}` is not a valid environment variable name", v.key), v.key_node.span).help =
                                Some("names start with a letter or `_` and hold only letters, digits and `_`".into());
                            continue;
                        }
                        let values = dimension(cx, v.key_node, v.value, &var);
                        dimensions += 1;
                        m.dynamic_variables.push((v.key.to_string(), values.into_iter().map(|s| s.value).collect()));
                    }
                    continue;
                }
                match e.key {
                    "compute-type" => compute_type = Some(e.key_node.span),
                    "fleet" => fleet = Some(e.key_node.span),
                    _ => {}
                }
                let values = dimension(cx, e.key_node, e.value, &what);
                dimensions += 1;
                m.dynamic_env.push((e.key.to_string(), values.into_iter().map(|s| s.value).collect()));
            }
            exclusive(cx, compute_type, fleet, "batch.build-matrix.dynamic.env");
        }
    }
    if dimensions == 0 {
        cx.error("E0609", "`batch.build-matrix` has no `dynamic` values, so it defines no build".into(), key.span).help =
            Some("list the values to combine under `dynamic`, e.g. `dynamic: {env: {variables: {MY_VAR: [a, b]}}}`".into());
    }
    m
}

fn fanout(cx: &mut Ctx, key: &Node, node: &Node) -> Option<BuildFanout> {
    let mut f = BuildFanout { span: key.span, ..Default::default() };
    let (mut parallelism, mut written) = (None, false);
    for e in cx.fields(node, "batch.build-fanout", &["parallelism", "ignore-failure"]) {
        match e.key {
            "parallelism" => {
                written = true;
                parallelism = cx.uint(e.value, "batch.build-fanout.parallelism");
                if parallelism == Some(0) {
                    cx.error("E0610", "`batch.build-fanout.parallelism` is 0; it is the number of shard builds to start".into(), e.value.span).help =
                        Some("give the number of builds to split the tests over, at least 1".into());
                }
            }
            _ => f.ignore_failure = cx.boolean(e.value, "batch.build-fanout.ignore-failure").unwrap_or(false),
        }
    }
    match parallelism {
        Some(n) => f.parallelism = n,
        None if !written => {
            cx.error("E0610", "`batch.build-fanout` has no `parallelism`".into(), key.span).help = Some("set `parallelism: N`, the number of shard builds".into());
        }
        None => {}
    }
    cx.warn("W0606", "kiln does not run `build-fanout` batches: their shards split the tests with CodeBuild's `codebuild-tests-run` tool, which kiln does not provide".into(), key.span).help =
        Some("`kiln build --batch` refuses this buildspec; a plain `kiln build` runs its phases once, as one shard holding every test".into());
    Some(f)
}
