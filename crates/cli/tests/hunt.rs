//! Hunting: swarm seeds drawn from the seed alone, run in parallel with the same digests
//! at any job count, shards that split a hunt without overlap, and an exported seed that
//! reproduces its run from a file.

use splitbrain::hunt::{self, Limit, Plan, Shard};
use splitbrain::InvariantId;
use splitbrain_cli::builtins;
use std::collections::BTreeSet;

fn plan(system: &str, seeds: u64, jobs: usize, shard: Shard) -> Plan {
    Plan {
        system: system.to_string(),
        limit: Limit::Seeds(seeds),
        from: 1,
        jobs,
        shard,
        params: Vec::new(),
        budget: hunt::BUDGET,
    }
}

#[test]
fn digests_and_verdicts_do_not_depend_on_the_job_count() {
    let registry = builtins();
    for system in ["raft", "bully"] {
        let one = hunt::hunt(&registry, &plan(system, 12, 1, Shard::WHOLE), &mut |_| {});
        let two = hunt::hunt(&registry, &plan(system, 12, 2, Shard::WHOLE), &mut |_| {});
        assert_eq!(one.outcomes.len(), 12);
        assert_eq!(one.outcomes, two.outcomes, "{system}");
        let digests: BTreeSet<u64> = one.outcomes.iter().map(|o| o.digest).collect();
        assert_eq!(digests.len(), 12, "every seed is its own run");
    }
}

#[test]
fn shards_split_a_hunt_without_overlap_or_gap() {
    let whole = plan("raft", 10, 1, Shard::WHOLE);
    let mut seen = Vec::new();
    for index in 1..=3 {
        let p = plan("raft", 10, 1, Shard { index, count: 3 });
        let n = p.count().expect("counted");
        seen.extend((0..n).map(|i| p.seed(i)));
    }
    seen.sort_unstable();
    let all: Vec<u64> = (0..10).map(|i| whole.seed(i)).collect();
    assert_eq!(seen, all);
    assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
    for bad in ["0/4", "5/4", "x/2", "3"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_hunt_finds_the_bully_s_two_masters_and_groups_them() {
    let registry = builtins();
    let h = hunt::hunt(&registry, &plan("bully", 40, 2, Shard::WHOLE), &mut |_| {});
    let groups = hunt::groups(&h.outcomes);
    let g = groups
        .iter()
        .find(|g| g.invariant == InvariantId::ELECTION_SAFETY)
        .expect("two masters within 40 seeds");
    assert_eq!(g.first.invariant, g.invariant);
    assert_eq!(g.first.kind, g.kind);
    let failed = h
        .outcomes
        .iter()
        .filter(|o| !o.violations.is_empty())
        .count();
    assert_eq!(groups.iter().map(|g| g.seeds.len()).sum::<usize>(), failed);
    assert_eq!(h.tally.failed as usize, failed);
}

#[test]
fn an_exported_seed_is_a_file_that_reproduces_its_run() {
    let registry = builtins();
    let catalog = registry.catalog();
    for (system, seed) in [("bully", 1), ("raft", 3), ("quorum-kv", 2)] {
        let found = hunt::run_seed(&registry, system, seed, &[], hunt::BUDGET);
        let text = hunt::export(&registry, system, seed, &[]).expect("exports");
        assert!(text.starts_with("# Swarm seed"), "{text}");
        let path = std::path::PathBuf::from(format!("found-{system}.toml"));
        let sc = scenario::parse_str(&text, &path, &catalog).expect("parses");
        assert_eq!((sc.first_seed, sc.seeds), (seed, 1));
        let again = registry
            .run(system, &sc, seed, &splitbrain::RunOptions::default())
            .expect("runs");
        assert_eq!(
            (again.digest, &again.violations),
            (found.digest, &found.violations)
        );
    }
}

#[test]
fn swarm_seeds_switch_every_fault_kind_on_and_off_and_always_build() {
    let registry = builtins();
    let catalog = registry.catalog();
    for system in registry.names() {
        let sizes = registry.sizes(system).expect("registered");
        let info = catalog.get(system).expect("in the catalog");
        let space = scenario::swarm::Space {
            system: info,
            sizes: &sizes,
        };
        let mut on = BTreeSet::new();
        let mut off = BTreeSet::new();
        for seed in 1..=300 {
            let swarm = scenario::swarm::draw(seed, &space);
            let sc = swarm
                .builder
                .build(&catalog)
                .unwrap_or_else(|e| panic!("{system} seed {seed}: {e}"));
            assert!(sizes.contains(&sc.nodes));
            assert!(
                sc.liveness.is_some(),
                "every swarm run has a liveness phase"
            );
            for k in scenario::swarm::Kind::ALL {
                if swarm.kinds.contains(&k) {
                    on.insert(k);
                } else {
                    off.insert(k);
                }
            }
        }
        assert_eq!(on.len(), scenario::swarm::Kind::ALL.len(), "{system}");
        assert_eq!(off.len(), scenario::swarm::Kind::ALL.len(), "{system}");
    }
}

#[test]
fn a_shrunk_finding_keeps_its_invariant_with_at_most_five_faults() {
    let registry = builtins();
    let catalog = registry.catalog();
    let found = (1..=50)
        .map(|seed| hunt::run_seed(&registry, "bully", seed, &[], hunt::BUDGET))
        .find(|o| !o.violations.is_empty())
        .expect("the bully fails within 50 swarm seeds");
    let seed = found.seed;
    let text = hunt::export(&registry, "bully", seed, &[]).expect("exports");
    let sc =
        scenario::parse_str(&text, std::path::Path::new("found.toml"), &catalog).expect("parses");
    let invariant = found.violations[0].invariant;
    let shrunk = splitbrain::shrink::shrink(&registry, &sc, "bully", seed).expect("shrinks");
    assert_eq!(shrunk.invariant, invariant);
    assert!(shrunk.violations.iter().any(|v| v.invariant == invariant));
    assert!(shrunk.after.faults <= 5, "{}", shrunk.after);
    assert!(
        shrunk.after.faults < shrunk.before.faults,
        "{} -> {}",
        shrunk.before,
        shrunk.after
    );
    assert!(shrunk.after.operations < shrunk.before.operations);
    // Deterministic: the same file and seed shrink to the same scenario.
    let again = splitbrain::shrink::shrink(&registry, &sc, "bully", seed).expect("shrinks");
    let text = |s: &splitbrain::Scenario| splitbrain::ScenarioBuilder::from_scenario(s).to_toml();
    assert_eq!(text(&again.scenario), text(&shrunk.scenario));
}
