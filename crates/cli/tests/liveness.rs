//! The liveness phase: after the faults, everything healed, the system must serve again.
//! A system that answers nothing fails it (and passes every safety checker); raft, the
//! reference, recovers from every fault the scenario suite plays.

use splitbrain::checkers::{Convergence, Durability};
use splitbrain::models::kv::{KvOp, KvState, KvWorkload};
use splitbrain::{
    ClientError, Cx, Disk, InvariantId, Node, NodeId, NodeStatus, ParamError, Params, Promises,
    Registry, RequestId, Role, RunOptions, ScenarioBuilder, Shape, System, TimerId, WorkloadSpec,
};
use splitbrain_cli::builtins;
use std::path::Path;
use std::time::Duration;

/// A store that never finds a leader: it refuses every operation as unavailable. Its data
/// never changes, so no safety checker can fault it.
struct NeverServes;

impl Node for NeverServes {
    type Msg = ();
    type Record = ();
    type Config = ();
    type Op = KvOp;
    type State = KvState;

    fn config(_: &Params) -> Result<(), ParamError> {
        Ok(())
    }
    fn new(_: NodeId, _: &[NodeId], _: &()) -> NeverServes {
        NeverServes
    }
    fn on_start(&mut self, _: &mut Cx<'_, Self>, _: &Disk<()>) {}
    fn on_message(&mut self, _: &mut Cx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Cx<'_, Self>, _: TimerId) {}
    fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, _: KvOp) {
        cx.reply(req, Err(ClientError::Unavailable("no leader".into())));
    }
    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: Role::Follower,
            term: None,
            commit: None,
            scope: NodeStatus::ALL,
        }
    }
    fn state(&self) -> KvState {
        KvState::default()
    }
}

impl System for NeverServes {
    const NAME: &'static str = "never-serves";
    type Workload = KvWorkload;
    fn workload(_: &(), spec: &WorkloadSpec, client: u32) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }
    fn promises(_: &(), _: &Shape) -> Promises<NeverServes> {
        vec![Box::new(Durability), Box::new(Convergence)]
    }
}

fn never_serves(liveness: Option<Duration>) -> splitbrain::RunReport {
    let registry = Registry::new().with::<NeverServes>();
    let mut b = ScenarioBuilder::new("never-serves", 3, Duration::from_secs(5))
        .system(NeverServes::NAME)
        .clients(2, 20.0);
    if let Some(l) = liveness {
        b = b.liveness(l);
    }
    let sc = b.build(&registry.catalog()).expect("a valid scenario");
    registry
        .run(NeverServes::NAME, &sc, 1, &RunOptions::default())
        .expect("it runs")
}

#[test]
fn a_system_that_never_serves_fails_liveness_and_nothing_else() {
    let r = never_serves(Some(Duration::from_secs(10)));
    let ids: Vec<InvariantId> = r.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(ids, [InvariantId::LIVENESS], "{:?}", r.violations);
    let detail = &r.violations[0].detail;
    assert!(detail.contains("were not served"), "{detail}");
    assert!(detail.contains("unavailable: no leader"), "{detail}");
    // The window is the phase's second half: from 5 s + 5 s to 15 s.
    assert!(detail.contains("from 10.0s to 15.0s"), "{detail}");
    assert!(r.violations[0].at_ns.is_some_and(|t| t >= 10_000_000_000));
    // Without a liveness phase nothing asks it to serve.
    assert!(never_serves(None).violations.is_empty());
}

#[test]
fn raft_recovers_from_every_fault_of_the_suite() {
    let registry = builtins();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios");
    for file in [
        "leader-pause",
        "partition-minority-leader",
        "crash-pairs",
        "one-way-partition",
    ] {
        let path = dir.join(format!("{file}.toml"));
        let mut sc = scenario::load(&path, &registry.catalog()).expect("a suite file");
        sc.liveness = Some(Duration::from_secs(20));
        for seed in 1..=3 {
            let r = registry
                .run("raft", &sc, seed, &RunOptions::default())
                .expect("raft runs");
            let live = r.violated().contains(&InvariantId::LIVENESS);
            assert!(!live, "{file} seed {seed}: {:?}", r.violations);
        }
    }
}
