//! Every scenario file in sim-scenarios/, every system it names, every default seed:
//! verdicts must be the ones the file expects, the canonical summary must match its
//! snapshot in snapshots/, the findings matrix built from the same runs must match
//! snapshots/findings-matrix.snap, and the pinned seed must replay to the same digest.

use sim::summary;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn scenarios_match_expectations_and_snapshots() {
    let dir = workspace().join("sim-scenarios");
    let scenarios =
        scenario::load_dir(&dir, sim::registry::SYSTEMS).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        scenarios.len() >= 5,
        "expected the core scenarios in {}",
        dir.display()
    );
    let mut unexpected = Vec::new();
    let mut rows = Vec::new();
    for sc in &scenarios {
        let mut results = Vec::new();
        for system in &sc.systems {
            let r = summary::run_seeds(sc, system, &summary::default_seeds(sc))
                .unwrap_or_else(|e| panic!("{e}"));
            if !r.as_expected() {
                let seed = r.failing.first().map_or(sc.pinned_seed, |(s, _)| *s);
                unexpected.push(format!(
                    "{} / {system}: got {}, expected {:?}\n  reproduce: {}",
                    sc.name,
                    r.verdict(),
                    r.expected,
                    summary::reproduce(sc, system, seed)
                ));
            }
            results.push(r);
        }
        let cells = sim::registry::SYSTEMS
            .iter()
            .map(|sys| {
                results
                    .iter()
                    .find(|r| r.system == *sys)
                    .map(|r| summary::Cell::of(sc, r))
            })
            .collect();
        rows.push((sc.name.clone(), cells));
        let text = summary::render(sc, &results);
        insta::with_settings!({
            snapshot_path => workspace().join("snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(sc.name.clone(), text);
        });
    }
    let matrix = summary::matrix(sim::registry::SYSTEMS, &rows);
    insta::with_settings!({
        snapshot_path => workspace().join("snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!("findings-matrix", matrix);
    });
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
    assert!(
        unexpected.is_empty(),
        "unexpected verdicts:\n{}",
        unexpected.join("\n")
    );
}

#[test]
fn pinned_seeds_replay_to_the_same_digest() {
    let dir = workspace().join("sim-scenarios");
    let scenarios =
        scenario::load_dir(&dir, sim::registry::SYSTEMS).unwrap_or_else(|e| panic!("{e}"));
    let opts = sim::RunOptions::default();
    for sc in &scenarios {
        for system in &sc.systems {
            let a = sim::run_system(system, sc, sc.pinned_seed, &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            let b = sim::run_system(system, sc, sc.pinned_seed, &opts)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (a.digest, a.history.events.len(), a.stats),
                (b.digest, b.history.events.len(), b.stats),
                "{} / {system} seed {} is not deterministic; reproduce: {}",
                sc.name,
                sc.pinned_seed,
                summary::reproduce(sc, system, sc.pinned_seed)
            );
            // A different seed must give a different run, or the seed is not reaching it.
            let c = sim::run_system(system, sc, sc.pinned_seed + 1000, &opts)
                .unwrap_or_else(|e| panic!("{e}"));
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
