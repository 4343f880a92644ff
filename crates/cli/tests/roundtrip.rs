//! A scenario written out (`ScenarioBuilder::from_scenario`, how swarm runs are exported
//! and shrunk ones saved) parses back to the same scenario, for every file in the suite.

use splitbrain::{Scenario, ScenarioBuilder};
use splitbrain_cli::builtins;
use std::path::Path;

/// Everything a run depends on; `line` (where a fault sat in its file) and the path are
/// not.
fn meaning(sc: &Scenario) -> impl PartialEq + std::fmt::Debug + '_ {
    let timeline: Vec<_> = sc
        .timeline
        .iter()
        .map(|f| (f.at, f.action.clone(), f.every, f.times))
        .collect();
    (
        (
            &sc.description,
            &sc.systems,
            sc.nodes,
            sc.duration,
            sc.liveness,
        ),
        (sc.quiesce, sc.seeds, sc.first_seed, sc.pinned_seed),
        (&sc.network, &sc.clock, &sc.disk, &sc.workload),
        timeline,
        (&sc.expect, &sc.sometimes, &sc.params),
    )
}

#[test]
fn every_suite_file_written_out_parses_back_the_same() {
    let catalog = builtins().catalog();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
    let suite = scenario::load_dir(&dir, &catalog).expect("the suite parses");
    assert!(suite.len() >= 19, "the whole suite: {}", suite.len());
    for sc in &suite {
        let text = ScenarioBuilder::from_scenario(sc)
            .comment("written out\nby a test")
            .to_toml();
        assert!(text.starts_with("# written out\n# by a test\n"), "{text}");
        let back = scenario::parse_str(&text, &sc.path, &catalog)
            .unwrap_or_else(|e| panic!("{}: {e}\n{text}", sc.name));
        assert_eq!(meaning(&back), meaning(sc), "{}", sc.name);
        // Written again, the text is the same: the form is canonical.
        assert_eq!(
            ScenarioBuilder::from_scenario(&back)
                .comment("written out\nby a test")
                .to_toml(),
            text
        );
    }
}
