//! What the report tests share: a suite file replayed and written as a report.

use splitbrain::report::{html, Page};
use splitbrain::{Registry, RunOptions, RunReport};
use std::path::Path;

/// `file` (relative to the workspace) replayed for `system` on `seed`: the run, its
/// scenario's name and the report's text.
pub fn replayed(
    registry: &Registry,
    file: &str,
    system: &str,
    seed: u64,
) -> (RunReport, String, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let sc = scenario::load(&path, &registry.catalog()).expect("the file parses");
    let opts = RunOptions {
        replay: true,
        ..RunOptions::default()
    };
    let r = registry.run(system, &sc, seed, &opts).expect("it runs");
    let page = Page {
        scenario: &sc.name,
        system,
        seed,
        nodes: r.nodes,
        clients: sc.workload.clients,
    };
    let text = html(&page, &r);
    (r, sc.name, text)
}

/// A raft run whose history is not linearizable (it acknowledges writes before they
/// commit): the first of swarm seeds 1 to 40 that shows it, replayed.
pub fn linearizability_failure(registry: &Registry) -> (scenario::Scenario, RunReport) {
    let params = [("mutation".to_string(), "ack-on-append".to_string())];
    let opts = RunOptions {
        replay: true,
        ..RunOptions::default()
    };
    (1..=40)
        .find_map(|seed| {
            let sc = splitbrain::hunt::scenario(registry, "raft", seed, &params).ok()?;
            let r = registry.run("raft", &sc, seed, &opts).ok()?;
            let lin = r
                .violations
                .iter()
                .any(|v| v.invariant == splitbrain::InvariantId::LINEARIZABILITY);
            lin.then_some((sc, r))
        })
        .expect("acknowledging before commit breaks linearizability within 40 seeds")
}
