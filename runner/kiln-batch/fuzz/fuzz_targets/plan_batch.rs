#![no_main]
//! Any buildspec kiln-spec accepts is planned without panicking, and the plan keeps its
//! promises: identifiers CodeBuild accepts, unique; every `depend-on` names a build of the plan
//! and the graph runs in order (no cycle got through); the table renders.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Some(spec) = kiln_spec::parse_buildspec(text).spec else { return };
    let Ok(plan) = kiln_batch::plan(spec.batch.as_ref()) else { return };
    let mut seen = std::collections::HashSet::new();
    for b in &plan.builds {
        assert!(kiln_spec::batch::is_batch_identifier(&b.identifier), "{b:?}");
        assert!(seen.insert(b.identifier.clone()), "duplicate {}", b.identifier);
    }
    let deps: Vec<Vec<usize>> = plan.builds.iter().map(|b| b.depend_on.iter().map(|d| plan.index_of(d).expect("a build of the plan")).collect()).collect();
    let mut done = vec![false; deps.len()];
    while let Some(i) = (0..deps.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d])) {
        done[i] = true;
    }
    assert!(done.iter().all(|d| *d), "a cycle got through");
    let _ = plan.table();
});
