//! Real mode from this crate's own `cargo test`, with no binary of its own: this test
//! binary is also the node program. Started as `THIS node ...` it runs one node;
//! otherwise it runs the tests, whose nodes are processes of this same binary (so the
//! target sets `harness = false` in Cargo.toml, and `main` is `live::test_main`).
//!
//! The leader's clock steps back ten seconds as it is cut off: the fenced lock keeps its
//! promises, and the unfenced one, still believing its lease good, grants the lock again,
//! as in simulation. Real runs are not deterministic; this finding shows in every run
//! seen (the old leader's grants after the step are lost at the heal).

use lock_service::{real_systems, registry, LeaseLock, UnfencedLeaseLock};
use splitbrain::live::LiveOptions;
use splitbrain::{Action, Budget, InvariantId, ScenarioBuilder, Selector, System};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    splitbrain::live::test_main(
        real_systems,
        &[
            ("fenced_lock_keeps_its_promises", fenced),
            ("unfenced_lock_loses_grants", unfenced),
        ],
    )
}

fn fenced() {
    let report = stale_lease_for_real(LeaseLock::NAME);
    assert_eq!(report.violations, Vec::new(), "{:?}", report.notes);
}

fn unfenced() {
    let caught = stale_lease_for_real(UnfencedLeaseLock::NAME).violated();
    assert!(
        caught.contains(&InvariantId::DURABILITY) || caught.contains(&InvariantId::CONVERGENCE),
        "{caught:?}"
    );
}

fn stale_lease_for_real(system: &str) -> splitbrain::live::LoadReport {
    let secs = Duration::from_secs;
    let sc = ScenarioBuilder::new("stale-lease-real", 3, secs(10))
        .system(system)
        .clients(5, 50.0)
        .quiesce(secs(1))
        .at(
            secs(3),
            Action::ClockJump {
                target: Selector::Leader,
                by_ns: -10_000_000_000,
            },
        )
        .at(
            secs(3),
            Action::Isolate {
                target: Selector::Leader,
            },
        )
        .at(secs(6), Action::Heal)
        .build(&registry().catalog())
        .expect("a valid scenario");
    let data =
        std::env::temp_dir().join(format!("lock-service-real-{system}-{}", std::process::id()));
    let opts = LiveOptions {
        program: std::env::current_exe().expect("this test binary"),
        data: data.clone(),
        seed: 1,
        budget: Budget {
            time: secs(30),
            memory: 256 << 20,
        },
        settle: secs(1),
    };
    let report = real_systems()
        .scenario(system, &sc, &opts)
        .expect("the cluster runs");
    let _ = std::fs::remove_dir_all(&data);
    report
}
