//! Faults fired by protocol events: right after the event, inside the node's step, so a
//! crash drops what the same handler emitted after it; and on the node the event names.

use splitbrain::models::set::{Elements, SetOp, SetOutput, SetWorkload};
use splitbrain::{
    Action, ClientError, Cx, Disk, Mark, Node, NodeId, NodeStatus, ParamError, Params, Promises,
    ProtocolEvent, Registry, RequestId, Role, RoleName, RunOptions, ScenarioBuilder, Selector,
    Shape, System, TimerId, Trigger, WorkloadSpec,
};
use splitbrain_cli::builtins;
use std::time::Duration;

/// n1 serves (others redirect to it): it acknowledges each add, then tells n2 in the same
/// step. n2 keeps what it was told.
struct AckThenTell {
    id: NodeId,
    told: Vec<u64>,
}

impl Node for AckThenTell {
    type Msg = u64;
    type Record = ();
    type Config = ();
    type Op = SetOp;
    type State = Elements;

    fn config(_: &Params) -> Result<(), ParamError> {
        Ok(())
    }
    fn new(id: NodeId, _: &[NodeId], _: &()) -> AckThenTell {
        AckThenTell {
            id,
            told: Vec::new(),
        }
    }
    fn on_start(&mut self, _: &mut Cx<'_, Self>, _: &Disk<()>) {}
    fn on_message(&mut self, _: &mut Cx<'_, Self>, _: NodeId, element: u64) {
        self.told.push(element);
    }
    fn on_timer(&mut self, _: &mut Cx<'_, Self>, _: TimerId) {}
    fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, op: SetOp) {
        if self.id != NodeId(1) {
            let hint = Some(NodeId(1));
            return cx.reply(req, Err(ClientError::NotLeader { hint }));
        }
        match op {
            SetOp::Add { element } => {
                cx.reply(req, Ok(SetOutput::Done));
                cx.send(NodeId(2), element);
            }
            SetOp::Read => cx.reply(req, Ok(SetOutput::Set(Default::default()))),
        }
    }
    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: if self.id == NodeId(1) {
                Role::Leader
            } else {
                Role::Follower
            },
            term: None,
            commit: None,
            scope: NodeStatus::ALL,
        }
    }
    fn state(&self) -> Elements {
        Elements(self.told.clone())
    }
}

impl System for AckThenTell {
    const NAME: &'static str = "ack-then-tell";
    type Workload = SetWorkload;
    fn workload(_: &(), spec: &WorkloadSpec, client: u32) -> Result<SetWorkload, ParamError> {
        SetWorkload::new(spec, client)
    }
    fn promises(_: &(), _: &Shape) -> Promises<AckThenTell> {
        Vec::new()
    }
}

#[test]
fn a_crash_on_a_reply_drops_what_the_step_sent_after_it() {
    let registry = Registry::new().with::<AckThenTell>();
    let on_third_ack = Trigger {
        event: ProtocolEvent::Reply { ok: true },
        node: Selector::Nodes(vec![1]),
        count: 3,
    };
    let crash = Action::Crash {
        target: Selector::Trigger,
    };
    let sc = ScenarioBuilder::new("ack-then-tell", 2, Duration::from_secs(5))
        .system(AckThenTell::NAME)
        .clients(1, 10.0)
        .mix(&[("add", 1)])
        .on(Duration::ZERO, &on_third_ack, crash)
        .build(&registry.catalog())
        .expect("a valid scenario");
    let p = splitbrain::prepare::<AckThenTell>(&sc).expect("prepared");
    let run = splitbrain::run(&p, 3, &RunOptions::default());
    let timeline = &run.simulation.timeline;
    let triggered = timeline
        .iter()
        .position(
            |(_, m)| matches!(m, Mark::Triggered { node, count: 3, .. } if *node == NodeId(1)),
        )
        .expect("the third acknowledgement fired the trigger");
    let (at, _) = timeline[triggered];
    assert!(
        matches!(&timeline[triggered + 1], (t, Mark::Crash { node, .. }) if *t == at && *node == NodeId(1)),
        "{timeline:?}"
    );
    // n1 crashed and stays down until the quiesce, when clients stop: n2 was told of the
    // first two adds only; the third's message died with n1.
    let (ok, _, _) = run.simulation.history.outcomes();
    assert_eq!(ok, 3, "three adds acknowledged before the crash");
    let n2 = &run
        .simulation
        .finals
        .iter()
        .find(|(n, _)| *n == NodeId(2))
        .expect("n2 is live")
        .1;
    assert_eq!(n2.0.len(), 2, "told {:?}", n2.0);
}

#[test]
fn raft_isolates_whoever_becomes_leader_in_term_three_or_later() {
    let registry = builtins();
    let leader_from_term_3 = Trigger {
        event: ProtocolEvent::Role {
            role: RoleName::Leader,
            min_term: 3,
        },
        node: Selector::All,
        count: 1,
    };
    let sc = ScenarioBuilder::new("isolate-late-leader", 3, Duration::from_secs(20))
        .system("raft")
        .at(
            Duration::from_secs(3),
            Action::Crash {
                target: Selector::Leader,
            },
        )
        .at(
            Duration::from_secs(4),
            Action::Restart {
                target: Selector::Down,
            },
        )
        .at(
            Duration::from_secs(6),
            Action::Crash {
                target: Selector::Leader,
            },
        )
        .at(
            Duration::from_secs(7),
            Action::Restart {
                target: Selector::Down,
            },
        )
        .on(
            Duration::ZERO,
            &leader_from_term_3,
            Action::Isolate {
                target: Selector::Trigger,
            },
        )
        .build(&registry.catalog())
        .expect("a valid scenario");
    for seed in 1..=5 {
        let r = registry
            .run("raft", &sc, seed, &RunOptions::default())
            .expect("it runs");
        let i = r
            .timeline
            .iter()
            .position(|(_, m)| matches!(m, Mark::Triggered { .. }))
            .unwrap_or_else(|| {
                panic!("seed {seed}: a leader of term 3 or later: {:?}", r.timeline)
            });
        let (at, Mark::Triggered { node, .. }) = &r.timeline[i] else {
            unreachable!()
        };
        // Its role change is on the timeline just before, in term 3 or later, and it is
        // isolated at that instant.
        let became = r.timeline[..i].iter().rev().find_map(|(_, m)| match m {
            Mark::Role {
                node: n,
                role: Role::Leader,
                term,
            } if n == node => *term,
            _ => None,
        });
        assert!(became.is_some_and(|t| t.0 >= 3), "seed {seed}: {became:?}");
        assert!(
            matches!(&r.timeline[i + 1], (t, Mark::Isolate { nodes }) if t == at && nodes == &[*node]),
            "seed {seed}: {:?}",
            &r.timeline[i..]
        );
        assert!(
            r.violations.is_empty(),
            "seed {seed}: raft stays safe: {:?}",
            r.violations
        );
    }
}

#[test]
fn raft_crashes_a_voter_right_after_it_grants_a_vote() {
    let registry = builtins();
    let grants = Trigger {
        event: ProtocolEvent::Send {
            message: Some("VoteReply".into()),
            with: Some("granted: true, pre_vote: false".into()),
        },
        node: Selector::All,
        count: 1,
    };
    let sc = ScenarioBuilder::new("crash-a-voter", 3, Duration::from_secs(10))
        .system("raft")
        .on(
            Duration::ZERO,
            &grants,
            Action::Crash {
                target: Selector::Trigger,
            },
        )
        .build(&registry.catalog())
        .expect("a valid scenario");
    let r = registry
        .run("raft", &sc, 1, &RunOptions::default())
        .expect("it runs");
    let i = r
        .timeline
        .iter()
        .position(|(_, m)| matches!(m, Mark::Triggered { .. }))
        .expect("a vote was granted");
    let (at, Mark::Triggered { node, .. }) = &r.timeline[i] else {
        unreachable!()
    };
    assert!(
        matches!(&r.timeline[i + 1], (t, Mark::Crash { node: n, .. }) if t == at && n == node),
        "{:?}",
        &r.timeline[i..]
    );
    // Crashed on a granted vote: the trigger names the kind it matched.
    assert!(
        matches!(&r.timeline[i].1, Mark::Triggered { event, .. } if event == "sent VoteReply"),
        "{:?}",
        r.timeline[i]
    );
    assert!(
        r.violations.is_empty(),
        "raft stays safe: {:?}",
        r.violations
    );
}
