//! Generated batches (a deterministic stand-in for the fuzz target in `fuzz/`): random graphs —
//! some with cycles, unknown dependencies, duplicate or invalid identifiers — and random
//! matrices. Whatever `kiln-spec` accepts, the planner plans without panicking, and the plan
//! keeps its promises: a graph's builds can all run in dependency order (checked here with Kahn's
//! algorithm, independently of kiln-spec's depth-first search), identifiers are CodeBuild's and
//! unique, and a matrix has one build per combination.

use std::collections::HashSet;

use kiln_batch::plan;
use kiln_spec::batch::is_batch_identifier;

/// A small deterministic generator (splitmix64), so a failure reproduces.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn upto(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Whether every node can run once its dependencies have (no cycle), by Kahn's algorithm.
fn runs_in_order(deps: &[Vec<usize>]) -> bool {
    let mut done = vec![false; deps.len()];
    loop {
        let ready: Vec<usize> = (0..deps.len()).filter(|&i| !done[i] && deps[i].iter().all(|&d| done[d])).collect();
        if ready.is_empty() {
            return done.iter().all(|d| *d);
        }
        for i in ready {
            done[i] = true;
        }
    }
}

#[test]
fn generated_graphs_plan_exactly_when_they_are_valid() {
    let mut g = Gen(0x6b69_6c6e_6261_7463);
    let (mut planned, mut refused) = (0, 0);
    for _ in 0..1500 {
        let n = 1 + g.upto(12);
        let mut ids: Vec<String> = (0..n).map(|i| format!("b{i}")).collect();
        if g.chance(5) {
            let i = g.upto(n);
            ids[i] = "bad-id".into();
        }
        if g.chance(5) && n > 1 {
            ids[1] = ids[0].clone();
        }
        // Mostly acyclic: an edge usually points at an earlier node.
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut unknown = false;
        let mut src = String::from("version: 0.2\nbatch:\n  build-graph:\n");
        for i in 0..n {
            src.push_str(&format!("    - identifier: {}\n", ids[i]));
            let k = g.upto(3);
            let mut names = Vec::new();
            for _ in 0..k {
                if g.chance(3) {
                    names.push("nowhere".to_string());
                    unknown = true;
                } else {
                    let j = if g.chance(8) { g.upto(n) } else if i > 0 { g.upto(i) } else { continue };
                    if !deps[i].contains(&j) {
                        deps[i].push(j);
                        names.push(ids[j].clone());
                    }
                }
            }
            if !names.is_empty() {
                src.push_str(&format!("      depend-on: [{}]\n", names.join(", ")));
            }
        }
        src.push_str("phases:\n  build:\n    commands: ['true']\n");
        let unique = ids.iter().collect::<HashSet<_>>().len() == n;
        let valid = unique && !unknown && ids.iter().all(|i| is_batch_identifier(i)) && runs_in_order(&deps);
        let parsed = kiln_spec::parse_buildspec(&src);
        assert_eq!(!parsed.has_errors(), valid, "kiln-spec disagrees on:\n{src}\n{:?}", parsed.diagnostics);
        let Some(spec) = parsed.spec else {
            refused += 1;
            continue;
        };
        let p = plan(spec.batch.as_ref()).unwrap_or_else(|e| panic!("{e} for\n{src}"));
        assert_eq!(p.builds.len(), n);
        let planned_deps: Vec<Vec<usize>> = p.builds.iter().map(|b| b.depend_on.iter().map(|d| p.index_of(d).expect("a known build")).collect()).collect();
        assert!(runs_in_order(&planned_deps), "{src}");
        let _ = p.table();
        planned += 1;
    }
    assert!(planned > 500 && refused > 100, "planned {planned}, refused {refused}: the generator should exercise both");
}

#[test]
fn generated_matrices_have_one_build_per_combination() {
    let mut g = Gen(0x6d61_7472_6978);
    for _ in 0..400 {
        let dims = 1 + g.upto(4);
        let mut src = String::from("version: 0.2\nbatch:\n  build-matrix:\n    dynamic:\n");
        let mut sizes = Vec::new();
        let with_buildspec = g.chance(40);
        if with_buildspec {
            let k = 1 + g.upto(3);
            sizes.push(k);
            src.push_str(&format!("      buildspec: [{}]\n", (0..k).map(|i| format!("ci/b{i}.yml")).collect::<Vec<_>>().join(", ")));
        }
        src.push_str("      env:\n        variables:\n");
        for d in 0..dims {
            let k = 1 + g.upto(4);
            sizes.push(k);
            src.push_str(&format!("          V{d}: [{}]\n", (0..k).map(|i| format!("'{d}-{i}'")).collect::<Vec<_>>().join(", ")));
        }
        let parsed = kiln_spec::parse_buildspec(&src);
        assert!(!parsed.has_errors(), "{src}\n{:?}", parsed.diagnostics);
        let p = plan(parsed.spec.unwrap().batch.as_ref()).unwrap();
        assert_eq!(p.builds.len(), sizes.iter().product::<usize>(), "{src}");
        let combos: HashSet<String> = p.builds.iter().map(|b| format!("{:?}", b.combination)).collect();
        assert_eq!(combos.len(), p.builds.len(), "every combination once:\n{src}");
        for (n, b) in p.builds.iter().enumerate() {
            assert_eq!(b.identifier, format!("build_matrix_{}", n + 1));
            assert!(is_batch_identifier(&b.identifier));
            assert_eq!(b.variables.len(), dims);
            assert_eq!(b.buildspec.is_some(), with_buildspec);
        }
    }
}
