//! Every scenario file in sim-scenarios/, every built-in system it names, every default
//! seed: verdicts must be the ones the file expects, the canonical summary must match its
//! snapshot in snapshots/, the findings matrix built from the same runs must match
//! snapshots/findings-matrix.snap (and the README's copy), and the pinned seed must
//! replay to the same digest.

use splitbrain::testing::snapshot_scenarios;
use splitbrain::RunOptions;
use splitbrain_cli::builtins;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn scenarios_match_expectations_and_snapshots() {
    let matrix = snapshot_scenarios(
        &builtins(),
        workspace().join("sim-scenarios"),
        workspace().join("snapshots"),
    );
    // The README's findings section carries the same table.
    let doc_path = workspace().join("README.md");
    let doc = std::fs::read_to_string(&doc_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", doc_path.display()));
    let table = matrix.split("\n\n").next().unwrap_or_default();
    assert!(
        doc.contains(table),
        "{} does not carry the findings table; copy it from snapshots/findings-matrix.snap",
        doc_path.display()
    );
}

/// Shrunk findings of hunts (`splitbrain hunt`, `export`, `shrink`): each must still fail
/// as its file expects, on its one seed, with the summary its snapshot holds.
#[test]
fn regressions_still_fail_as_they_did() {
    snapshot_scenarios(
        &builtins(),
        workspace().join("sim-scenarios/regressions"),
        workspace().join("snapshots/regressions"),
    );
}

#[test]
fn pinned_seeds_replay_to_the_same_digest() {
    let registry = builtins();
    let scenarios = scenario_files(&registry);
    assert!(scenarios.len() >= 5, "expected the core scenarios");
    let opts = RunOptions::default();
    for sc in &scenarios {
        for system in &sc.systems {
            let run = registry
                .prepare(system, sc)
                .unwrap_or_else(|e| panic!("{e}"));
            let a = run.run(sc.pinned_seed, &opts);
            let b = run.run(sc.pinned_seed, &opts);
            let repro = registry.reproduce(sc, system, sc.pinned_seed);
            assert_eq!(
                (a.digest, a.history.events(), a.stats),
                (b.digest, b.history.events(), b.stats),
                "{} / {system} seed {} is not deterministic; reproduce: {repro}",
                sc.name,
                sc.pinned_seed,
            );
            // A different seed must give a different run, or the seed is not reaching it.
            let c = run.run(sc.pinned_seed + 1000, &opts);
            assert_ne!(
                a.digest,
                c.digest,
                "{} / {system}: seeds {} and {} gave the same digest",
                sc.name,
                sc.pinned_seed,
                sc.pinned_seed + 1000
            );
        }
    }
}

fn scenario_files(registry: &splitbrain::Registry) -> Vec<splitbrain::Scenario> {
    let dir = workspace().join("sim-scenarios");
    scenario::load_dir(&dir, &registry.catalog()).unwrap_or_else(|e| panic!("{e}"))
}
