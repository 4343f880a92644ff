//! A node's panic is a finding for its seed, and what the harness saw before it stays:
//! here, two leaders in one term, and the operations answered until then.

use splitbrain::checkers::Durability;
use splitbrain::models::kv::{KvOp, KvOutput, KvState, KvWorkload};
use splitbrain::{
    Cx, Disk, InvariantId, Node, NodeId, NodeStatus, ParamError, Params, Promises, Registry,
    RequestId, Role, RunOptions, ScenarioBuilder, Shape, System, Term, TimerId, WorkloadSpec,
};
use std::time::Duration;

/// Every node believes it leads term 1 (two leaders at once), answers a few operations,
/// then trips its own assertion.
struct EveryoneLeads {
    served: u32,
}

const ANSWERS_BEFORE_PANIC: u32 = 5;

impl Node for EveryoneLeads {
    type Msg = ();
    type Record = ();
    type Config = ();
    type Op = KvOp;
    type State = KvState;

    fn config(_: &Params) -> Result<(), ParamError> {
        Ok(())
    }
    fn new(_: NodeId, _: &[NodeId], _: &()) -> EveryoneLeads {
        EveryoneLeads { served: 0 }
    }
    fn on_start(&mut self, _: &mut Cx<'_, Self>, _: &Disk<()>) {}
    fn on_message(&mut self, _: &mut Cx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Cx<'_, Self>, _: TimerId) {}
    fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, op: KvOp) {
        assert!(self.served < ANSWERS_BEFORE_PANIC, "the node's own check");
        self.served += 1;
        let out = match op {
            KvOp::Get { .. } => KvOutput::Value {
                value: None,
                version: None,
            },
            _ => KvOutput::Done,
        };
        cx.reply(req, Ok(out));
    }
    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: Role::Leader,
            term: Some(Term(1)),
            commit: None,
            scope: NodeStatus::ALL,
        }
    }
    fn state(&self) -> KvState {
        KvState::default()
    }
}

impl System for EveryoneLeads {
    const NAME: &'static str = "everyone-leads";
    type Workload = KvWorkload;
    fn workload(_: &(), spec: &WorkloadSpec, client: u32) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }
    fn promises(_: &(), _: &Shape) -> Promises<EveryoneLeads> {
        vec![Box::new(Durability)]
    }
}

#[test]
fn a_panic_keeps_what_the_run_saw_before_it() {
    let registry = Registry::new().with::<EveryoneLeads>();
    let sc = ScenarioBuilder::new("everyone-leads", 3, Duration::from_secs(5))
        .system(EveryoneLeads::NAME)
        .clients(1, 20.0)
        .build(&registry.catalog())
        .expect("a valid scenario");
    let opts = RunOptions {
        replay: true,
        ..RunOptions::default()
    };
    let r = registry
        .run(EveryoneLeads::NAME, &sc, 7, &opts)
        .expect("it runs");
    let ids: Vec<InvariantId> = r.violations.iter().map(|v| v.invariant).collect();
    assert_eq!(
        ids.first(),
        Some(&InvariantId::ELECTION_SAFETY),
        "{:?}",
        r.violations
    );
    assert_eq!(ids.last(), Some(&InvariantId::PANIC), "{:?}", r.violations);
    assert!(
        r.violations
            .last()
            .is_some_and(|v| v.detail.contains("the node's own check")),
        "{:?}",
        r.violations
    );
    // The answered operations before the panic are in the history: a client redirects
    // nowhere (every node leads), so its first node answers until it panics.
    let (ok, _, _) = r.history.outcomes();
    assert_eq!(ok, ANSWERS_BEFORE_PANIC as usize);
    assert!(r.end_ns > 0 && !r.log.is_empty(), "the run until the panic");
    // Deterministic, panic and all.
    let again = registry
        .run(EveryoneLeads::NAME, &sc, 7, &opts)
        .expect("it runs");
    assert_eq!((again.digest, again.end_ns), (r.digest, r.end_ns));
}
