//! A run must give back everything it allocated. The world holds its driver tasks' wakers,
//! so a driver holding the world strongly made a cycle that kept every run's world alive:
//! ~0.7 MB a seed, 7 GB over `--seeds 10000`. This runs the bench workload repeatedly in
//! its own process (an integration test binary) and watches resident memory.

use splitbrain::bench::rss_bytes;
use splitbrain::{Registry, RunOptions, Scenario};
use splitbrain_cli::{builtins, STANDARD};
use std::path::Path;

/// The bench's standard workload on three nodes.
fn standard(registry: &Registry) -> Scenario {
    let text = STANDARD.replace("{nodes}", "3");
    scenario::parse_str(&text, Path::new("<bench>"), &registry.catalog())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn repeated_runs_do_not_grow_memory() {
    let Some(_) = rss_bytes() else {
        eprintln!("no /proc/self/status here: nothing to measure");
        return;
    };
    let registry = builtins();
    let sc = standard(&registry);
    let raft = registry.prepare("raft", &sc).expect("valid bench scenario");
    let opts = RunOptions::default();
    let run = |seed| {
        let r = raft.run(seed, &opts);
        assert!(r.violations.is_empty(), "{:?}", r.violations);
    };
    // Let the allocator reach its working size first.
    for seed in 1..=5 {
        run(seed);
    }
    let before = rss_bytes().expect("read above");
    let runs = 40;
    for seed in 6..6 + runs {
        run(seed);
    }
    let grown = rss_bytes().expect("read above").saturating_sub(before);
    // The leak grew memory by ~0.7 MB a run (28 MB here); allow a quarter of that for
    // allocator noise.
    assert!(
        grown < 7 << 20,
        "resident memory grew {:.1} MB over {runs} runs",
        grown as f64 / 1e6
    );
}
