//! The lock service's replicas: one of them serves, under a lease a majority granted it;
//! every change to the lock is accepted by a majority before the client hears of it.
//!
//! Choices, and why:
//! - **Leases**: a candidate claims epoch `e`; a replica grants it if it has promised no
//!   higher epoch and its last grant has run out on its own clock, and then grants nobody
//!   else for a lease. The leader serves while `now < lease_until` on its clock, which it
//!   sets a tenth short of the lease from when a majority last confirmed it: leases assume
//!   clocks that drift little and never step.
//! - **Fencing** (the safe version): the epoch is the fencing token. A replica refuses a
//!   change from an epoch older than one it promised, so a leader whose lease ran out
//!   without it knowing (its clock stepped back, it was paused or cut off) cannot change
//!   the lock once a newer leader exists; the refusal deposes it.
//! - **Unfenced** (the flawed version): replicas store whatever a leader sends, and a
//!   leader that trusts its lease ignores everyone else until it runs out on its own
//!   clock. A leader whose clock stepped back keeps granting the lock after the others
//!   elected a new leader: two clients hold it.
//! - **State**: the whole lock (holder, last token) travels in every change, numbered
//!   `(epoch, seq)`; a new leader takes the newest a majority holds. Promises and the
//!   accepted state are synced before any message that depends on them.
//!
//! Params: `lease_ms` (1000).

use crate::ops::{LockModel, LockOp, LockOutput, LockWorkload, TokenOrder, TOKEN_ORDER};
use splitbrain::checkers::durability::{Keeps, Lost};
use splitbrain::checkers::{Convergence, Durability, Linearizability};
use splitbrain::{
    ClientError, Cx, Data, Disk, EventKind, History, Instant, InvariantId, Node, NodeId,
    NodeStatus, ParamError, Params, Promises, RequestId, Role, Shape, System, Term, TimerId,
    WorkloadSpec,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::marker::PhantomData;
use std::time::Duration;

/// Which lock service: fenced or not.
pub trait Variant: Send + Sync + 'static {
    const NAME: &'static str;
    /// Replicas refuse changes from an epoch older than one they promised.
    const FENCING: bool;
}

/// Fencing tokens: the safe version.
pub struct Fenced;
/// No fencing: the flawed version.
pub struct Unfenced;

impl Variant for Fenced {
    const NAME: &'static str = "lease-lock";
    const FENCING: bool = true;
}

impl Variant for Unfenced {
    const NAME: &'static str = "lease-lock-unfenced";
    const FENCING: bool = false;
}

/// Fires every quarter lease: a leader confirms its lease.
const TICK: TimerId = TimerId(1);
/// Fires when a replica's grant ran out and nobody renewed it: it claims the lease.
const CLAIM: TimerId = TimerId(2);

/// Client operations a leader holds waiting for a majority; beyond it, it refuses more.
pub const MAX_PENDING: usize = 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub lease: Duration,
}

/// The lock: who holds it and the last fencing token handed out.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct LockState {
    pub holder: Option<u32>,
    pub token: u64,
}

impl Data for LockState {}

/// Durability for a lock: every acknowledged grant's token is at most the replica's last
/// token. A replica behind that would hand the same token out again, and fencing by it
/// would let two holders through.
impl Keeps<LockOp> for LockState {
    fn lost(history: &History<LockOp>, views: &[(String, &LockState)]) -> Vec<Lost> {
        // The highest token granted, and the completion that granted it.
        let granted = history
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EventKind::Ok)
            .filter_map(|(i, e)| match &e.output {
                Some(LockOutput::Granted { token }) => Some((*token, i)),
                _ => None,
            })
            .max();
        let Some((granted, done)) = granted else {
            return Vec::new();
        };
        // Operations are named by their invocation: the granting process's last one.
        let process = history.events[done].process;
        let event = history.events[..done]
            .iter()
            .rposition(|e| e.process == process && e.kind == EventKind::Invoke);
        views
            .iter()
            .enumerate()
            .filter(|(_, (_, s))| s.token < granted)
            .map(|(view, (_, s))| Lost {
                view,
                problem: format!(
                    "acknowledged grant of token {granted} is missing (last token {})",
                    s.token
                ),
                event,
            })
            .collect()
    }
}

/// A replica's copy of the lock, numbered by the leader that wrote it; newer is greater
/// (fields compare in order: epoch, then seq).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Accepted {
    pub epoch: u64,
    pub seq: u64,
    pub state: LockState,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    Claim {
        epoch: u64,
    },
    Grant {
        epoch: u64,
        accepted: Accepted,
    },
    Replicate {
        epoch: u64,
        round: u64,
        accepted: Accepted,
    },
    Ack {
        epoch: u64,
        round: u64,
        seq: u64,
    },
    /// A replica promised `promised`, newer than the epoch it refuses.
    Nack {
        promised: u64,
    },
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Record {
    Promised(u64),
    Accepted(Accepted),
}

struct Leader {
    epoch: u64,
    accepted: Accepted,
    lease_until: Instant,
    /// The confirmation round in flight: when it started and who answered.
    round: u64,
    round_start: Instant,
    round_acks: BTreeSet<NodeId>,
    /// Highest change each replica accepted.
    acked: BTreeMap<NodeId, u64>,
    /// Client operations waiting for their change to reach a majority, by seq.
    pending: VecDeque<(u64, RequestId, LockOutput)>,
}

enum Part {
    Follower,
    Candidate {
        epoch: u64,
        since: Instant,
        grants: BTreeSet<NodeId>,
        best: Accepted,
    },
    Leader(Leader),
}

pub struct LeaseLock<V: Variant> {
    id: NodeId,
    size: usize,
    config: Config,
    promised: u64,
    accepted: Accepted,
    /// This replica grants no other claim before this (its own clock).
    granted_until: Instant,
    leader_hint: Option<NodeId>,
    part: Part,
    variant: PhantomData<V>,
}

type LCx<'a, V> = Cx<'a, LeaseLock<V>>;

/// A lease confirmed by a round that started at `start`: a tenth short of the full
/// lease, since the replicas' clocks may run faster than the leader's.
fn lease_from(start: Instant, lease_ns: u64) -> Instant {
    Instant(start.0 + lease_ns - lease_ns / 10)
}

impl<V: Variant> LeaseLock<V> {
    fn majority(&self) -> usize {
        self.size / 2 + 1
    }

    fn lease_ns(&self) -> u64 {
        self.config.lease.as_nanos() as u64
    }

    /// Grants nothing else for a lease from now, and waits up to half a lease more before
    /// claiming it: drawn afresh each time, so replicas whose grants ran out together do
    /// not claim together and split the vote again and again.
    fn hold_grant(&mut self, cx: &mut LCx<'_, V>) {
        let lease = self.lease_ns();
        self.granted_until = Instant(cx.now().0 + lease);
        let wait = lease + cx.random_range(0, lease / 2);
        cx.set_timer(CLAIM, Duration::from_nanos(wait));
    }

    fn promise(&mut self, cx: &mut LCx<'_, V>, epoch: u64) {
        self.promised = epoch;
        cx.persist("promised", Record::Promised(epoch));
        cx.sync();
    }

    fn accept(&mut self, cx: &mut LCx<'_, V>, accepted: Accepted) {
        self.accepted = accepted;
        cx.persist("accepted", Record::Accepted(accepted));
        cx.sync();
    }

    /// Stops leading or campaigning; operations in flight may or may not take effect.
    fn step_down(&mut self, cx: &mut LCx<'_, V>, why: &str) {
        if let Part::Leader(l) = std::mem::replace(&mut self.part, Part::Follower) {
            for (_, req, _) in l.pending {
                cx.reply(req, Err(ClientError::Indeterminate(why.to_string())));
            }
            cx.note(format!("steps down: {why}"));
        }
    }

    fn campaign(&mut self, cx: &mut LCx<'_, V>) {
        let epoch = self.promised + 1;
        self.promise(cx, epoch);
        self.hold_grant(cx);
        self.part = Part::Candidate {
            epoch,
            since: cx.now(),
            grants: BTreeSet::from([self.id]),
            best: self.accepted,
        };
        cx.broadcast(Msg::Claim { epoch });
        if self.size == 1 {
            self.win(cx);
        }
    }

    /// A majority granted the claim: lead from the newest lock a majority holds.
    fn win(&mut self, cx: &mut LCx<'_, V>) {
        let Part::Candidate {
            epoch, since, best, ..
        } = std::mem::replace(&mut self.part, Part::Follower)
        else {
            unreachable!("only a candidate wins");
        };
        let lease = self.lease_ns();
        let accepted = Accepted {
            epoch,
            seq: 1,
            state: best.state,
        };
        self.accept(cx, accepted);
        self.part = Part::Leader(Leader {
            epoch,
            accepted,
            lease_until: Instant(since.0 + lease - lease / 10),
            round: 0,
            round_start: cx.now(),
            round_acks: BTreeSet::new(),
            acked: BTreeMap::new(),
            pending: VecDeque::new(),
        });
        cx.note(format!("leads epoch {epoch}"));
        cx.cancel_timer(CLAIM);
        cx.set_timer(TICK, self.config.lease / 4);
        self.confirm(cx);
    }

    /// Starts a confirmation round: the lock as it is, to every replica.
    fn confirm(&mut self, cx: &mut LCx<'_, V>) {
        let now = cx.now();
        let (majority, lease) = (self.majority(), self.lease_ns());
        let Part::Leader(l) = &mut self.part else {
            return;
        };
        l.round += 1;
        l.round_start = now;
        l.round_acks = BTreeSet::from([self.id]);
        if l.round_acks.len() >= majority {
            // Alone, it is its own majority: the round is confirmed as it starts. Without
            // this a one-replica service let its lease run out and stood unavailable for
            // a lease and more, again and again (found by `hunt`, seed 18).
            l.lease_until = lease_from(now, lease);
            self.granted_until = self.granted_until.max(l.lease_until);
        }
        let msg = Msg::Replicate {
            epoch: l.epoch,
            round: l.round,
            accepted: l.accepted,
        };
        cx.broadcast(msg);
    }

    /// Answers every client whose change a majority now holds.
    fn commit(&mut self, cx: &mut LCx<'_, V>) {
        let majority = self.majority();
        let Part::Leader(l) = &mut self.part else {
            return;
        };
        while let Some(&(seq, req, ref output)) = l.pending.front() {
            let holders = 1 + l.acked.values().filter(|a| **a >= seq).count();
            if holders < majority {
                break;
            }
            cx.reply(req, Ok(output.clone()));
            l.pending.pop_front();
        }
    }

    fn on_replicate(
        &mut self,
        cx: &mut LCx<'_, V>,
        from: NodeId,
        epoch: u64,
        round: u64,
        a: Accepted,
    ) {
        if let Part::Leader(l) = &self.part {
            if !V::FENCING && cx.now() < l.lease_until {
                return; // it trusts its lease over anyone else's word
            }
        }
        if V::FENCING && epoch < self.promised {
            cx.send(
                from,
                Msg::Nack {
                    promised: self.promised,
                },
            );
            return;
        }
        if epoch > self.promised || !matches!(self.part, Part::Follower) {
            self.step_down(cx, "a newer leader replicates");
            self.part = Part::Follower;
        }
        self.promised = self.promised.max(epoch);
        // The unfenced replica stores whatever it is sent.
        if !V::FENCING || (a.epoch, a.seq) > (self.accepted.epoch, self.accepted.seq) {
            self.accept(cx, a);
        }
        self.hold_grant(cx);
        self.leader_hint = Some(from);
        cx.send(
            from,
            Msg::Ack {
                epoch,
                round,
                seq: a.seq,
            },
        );
    }

    fn on_ack(&mut self, cx: &mut LCx<'_, V>, from: NodeId, epoch: u64, round: u64, seq: u64) {
        let majority = self.majority();
        let lease = self.lease_ns();
        let Part::Leader(l) = &mut self.part else {
            return;
        };
        if l.epoch != epoch {
            return;
        }
        let best = l.acked.entry(from).or_insert(0);
        *best = (*best).max(seq);
        if round == l.round {
            l.round_acks.insert(from);
            if l.round_acks.len() >= majority {
                l.lease_until = lease_from(l.round_start, lease);
                // While it leads, it grants no one else.
                self.granted_until = self.granted_until.max(l.lease_until);
            }
        }
        self.commit(cx);
    }

    fn serve(&mut self, cx: &mut LCx<'_, V>, req: RequestId, op: LockOp) {
        let now = cx.now();
        let Part::Leader(l) = &mut self.part else {
            let hint = self.leader_hint;
            cx.reply(req, Err(ClientError::NotLeader { hint }));
            return;
        };
        if now >= l.lease_until {
            cx.reply(req, Err(ClientError::NotLeader { hint: None }));
            return;
        }
        if l.pending.len() >= MAX_PENDING {
            cx.reply(
                req,
                Err(ClientError::Unavailable(
                    "too many operations in flight".into(),
                )),
            );
            return;
        }
        let LockState { holder, token } = l.accepted.state;
        let (state, output) = match op {
            // Every grant, a repeated one too, hands out a new token.
            LockOp::Acquire { owner } if holder.is_none_or(|h| h == owner) => {
                let token = token + 1;
                let held = LockState {
                    holder: Some(owner),
                    token,
                };
                (held, LockOutput::Granted { token })
            }
            LockOp::Release { owner } if holder == Some(owner) => (
                LockState {
                    holder: None,
                    token,
                },
                LockOutput::Released,
            ),
            LockOp::Acquire { .. } | LockOp::Release { .. } => {
                let why = match holder {
                    Some(h) => format!("held by c{h}"),
                    None => "free".to_string(),
                };
                cx.reply(req, Err(ClientError::Rejected(why)));
                return;
            }
        };
        l.accepted = Accepted {
            epoch: l.epoch,
            seq: l.accepted.seq + 1,
            state,
        };
        l.pending.push_back((l.accepted.seq, req, output));
        let (accepted, epoch, round) = (l.accepted, l.epoch, l.round);
        self.accept(cx, accepted);
        cx.broadcast(Msg::Replicate {
            epoch,
            round,
            accepted,
        });
        self.commit(cx);
    }
}

impl<V: Variant> Node for LeaseLock<V> {
    type Msg = Msg;
    type Record = Record;
    type Config = Config;
    type Op = LockOp;
    type State = LockState;

    fn config(params: &Params) -> Result<Config, ParamError> {
        params.only(&["lease_ms"])?;
        Ok(Config {
            lease: params.millis("lease_ms", 1000)?,
        })
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Self {
        LeaseLock {
            id,
            size: cluster.len(),
            config: config.clone(),
            promised: 0,
            accepted: Accepted::default(),
            granted_until: Instant::ZERO,
            leader_hint: None,
            part: Part::Follower,
            variant: PhantomData,
        }
    }

    fn on_start(&mut self, cx: &mut LCx<'_, V>, disk: &Disk<Record>) {
        for record in disk.values() {
            match record {
                Record::Promised(e) => self.promised = *e,
                Record::Accepted(a) => self.accepted = *a,
            }
        }
        // It may have granted a lease before it went down and cannot know to whom: it
        // grants nobody for a lease.
        self.hold_grant(cx);
    }

    fn on_message(&mut self, cx: &mut LCx<'_, V>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Claim { epoch } => {
                // A candidate's own claim holds its grant, and it yields that to a newer
                // claim: it leads nothing yet, and the grants it gathered name its older
                // epoch. Without this, two replicas whose claims crossed refused each
                // other round after round (found by `hunt`, seed 148: no lock for 15 s
                // after the heal).
                let candidate = matches!(self.part, Part::Candidate { .. });
                let free = candidate || cx.now() >= self.granted_until;
                if epoch > self.promised && free {
                    self.step_down(cx, "granted a newer claim");
                    self.part = Part::Follower;
                    self.promise(cx, epoch);
                    self.hold_grant(cx);
                    let accepted = self.accepted;
                    cx.send(from, Msg::Grant { epoch, accepted });
                }
            }
            Msg::Grant { epoch, accepted } => {
                let majority = self.majority();
                if let Part::Candidate {
                    epoch: e,
                    grants,
                    best,
                    ..
                } = &mut self.part
                {
                    if *e == epoch {
                        grants.insert(from);
                        *best = (*best).max(accepted);
                        if grants.len() >= majority {
                            self.win(cx);
                        }
                    }
                }
            }
            Msg::Replicate {
                epoch,
                round,
                accepted,
            } => self.on_replicate(cx, from, epoch, round, accepted),
            Msg::Ack { epoch, round, seq } => self.on_ack(cx, from, epoch, round, seq),
            Msg::Nack { promised } => {
                if promised > self.promised {
                    self.promised = promised;
                    self.step_down(cx, "a replica promised a newer epoch");
                    self.part = Part::Follower;
                    self.hold_grant(cx);
                }
            }
        }
    }

    fn on_timer(&mut self, cx: &mut LCx<'_, V>, timer: TimerId) {
        let now = cx.now();
        match (&self.part, timer) {
            (Part::Leader(l), TICK) if now >= l.lease_until => {
                self.step_down(cx, "its lease ran out");
                self.hold_grant(cx);
            }
            (Part::Leader(_), TICK) => {
                cx.set_timer(TICK, self.config.lease / 4);
                self.confirm(cx);
            }
            (Part::Follower | Part::Candidate { .. }, CLAIM) => self.campaign(cx),
            _ => {} // a leader's claim timer, or a tick from before it stepped down
        }
    }

    fn on_client(&mut self, cx: &mut LCx<'_, V>, req: RequestId, op: LockOp) {
        self.serve(cx, req, op);
    }

    fn status(&self) -> NodeStatus {
        let (role, term) = match &self.part {
            Part::Leader(l) => (Role::Leader, l.epoch),
            Part::Candidate { epoch, .. } => (Role::Candidate, *epoch),
            Part::Follower => (Role::Follower, self.promised),
        };
        NodeStatus {
            role,
            term: Some(Term(term)),
            commit: None,
            scope: NodeStatus::ALL,
        }
    }

    fn state(&self) -> LockState {
        self.accepted.state
    }
}

impl<V: Variant> System for LeaseLock<V> {
    const NAME: &'static str = V::NAME;
    const OWN_INVARIANTS: &'static [InvariantId] = &[TOKEN_ORDER];
    type Workload = LockWorkload;

    fn workload(_: &Config, spec: &WorkloadSpec, client: u32) -> Result<LockWorkload, ParamError> {
        LockWorkload::new(spec, client)
    }

    /// A lock clients can trust: no grant forgotten, replicas that agree once the faults
    /// are over, linearizable as a mutex, tokens in grant order.
    fn promises(_: &Config, _: &Shape) -> Promises<Self> {
        vec![
            Box::new(Durability),
            Box::new(Convergence),
            Box::new(Linearizability(LockModel)),
            Box::new(TokenOrder),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain::{sends, Cluster, Effect, Harness};

    fn replica<V: Variant>(id: u32) -> Harness<LeaseLock<V>> {
        let mut h = Harness::new(id, 3, &Params::new());
        h.start(&Disk::new());
        h
    }

    fn at(epoch: u64, seq: u64, holder: Option<u32>, token: u64) -> Accepted {
        Accepted {
            epoch,
            seq,
            state: LockState { holder, token },
        }
    }

    #[test]
    fn a_replica_grants_a_claim_only_once_its_grant_ran_out_and_after_syncing() {
        let mut r = replica::<Fenced>(2);
        let fx = r.message(1, Msg::Claim { epoch: 1 });
        assert!(
            sends(&fx).is_empty(),
            "a restarted replica waits out a lease"
        );
        r.advance(Duration::from_millis(1000));
        let fx = r.message(1, Msg::Claim { epoch: 1 });
        let grant = fx
            .iter()
            .position(|e| {
                matches!(
                    e,
                    Effect::Send {
                        msg: Msg::Grant { epoch: 1, .. },
                        ..
                    }
                )
            })
            .expect("a grant");
        let sync = fx
            .iter()
            .position(|e| matches!(e, Effect::Sync))
            .expect("a sync");
        assert!(
            sync < grant,
            "the promise is durable before anyone hears of it"
        );
        let fx = r.message(3, Msg::Claim { epoch: 2 });
        assert!(sends(&fx).is_empty(), "no second grant within the lease");
    }

    #[test]
    fn a_candidate_yields_to_a_newer_claim_but_not_to_an_older_one() {
        let mut r = replica::<Fenced>(2);
        r.advance(Duration::from_millis(1000));
        let fx = r.timer(CLAIM);
        assert!(
            fx.iter().any(|e| matches!(
                e,
                Effect::Send {
                    msg: Msg::Claim { epoch: 1 },
                    ..
                }
            )),
            "it campaigns for epoch 1"
        );
        let fx = r.message(1, Msg::Claim { epoch: 1 });
        assert!(sends(&fx).is_empty(), "an equal epoch is no newer claim");
        let fx = r.message(3, Msg::Claim { epoch: 2 });
        let granted = fx.iter().any(|e| {
            matches!(e, Effect::Send { to, msg: Msg::Grant { epoch: 2, .. } } if *to == NodeId(3))
        });
        assert!(
            granted,
            "its own claim does not hold it against a newer one"
        );
        assert_eq!(r.node.status().role, Role::Follower);
    }

    #[test]
    fn a_fenced_replica_refuses_a_stale_epoch_and_an_unfenced_one_stores_it() {
        let newer = Msg::Replicate {
            epoch: 2,
            round: 1,
            accepted: at(2, 1, Some(0), 7),
        };
        let stale = Msg::Replicate {
            epoch: 1,
            round: 9,
            accepted: at(1, 40, Some(3), 5),
        };
        let mut safe = replica::<Fenced>(2);
        safe.message(1, newer.clone());
        let fx = safe.message(3, stale.clone());
        assert_eq!(sends(&fx), [(NodeId(3), Msg::Nack { promised: 2 })]);
        assert_eq!(
            safe.node.state(),
            LockState {
                holder: Some(0),
                token: 7
            }
        );

        let mut flawed = replica::<Unfenced>(2);
        flawed.message(1, newer);
        let fx = flawed.message(3, stale);
        assert_eq!(
            sends(&fx),
            [(
                NodeId(3),
                Msg::Ack {
                    epoch: 1,
                    round: 9,
                    seq: 40
                }
            )]
        );
        assert_eq!(
            flawed.node.state(),
            LockState {
                holder: Some(3),
                token: 5
            }
        );
    }

    /// Three replicas elect a leader, which grants, refuses and releases in order, each
    /// change on a majority before the client hears of it.
    #[test]
    fn a_leader_grants_one_owner_at_a_time_with_growing_tokens() {
        let mut c: Cluster<LeaseLock<Fenced>> = Cluster::new(3, &Params::new()).seeded(7);
        c.run_for(Duration::from_secs(3));
        let leaders = c.leaders();
        assert_eq!(leaders.len(), 1, "{leaders:?}");
        let l = leaders[0];
        c.client(l, 1, LockOp::Acquire { owner: 0 });
        c.client(l, 2, LockOp::Acquire { owner: 1 });
        c.client(l, 3, LockOp::Release { owner: 0 });
        c.client(l, 4, LockOp::Acquire { owner: 1 });
        c.run_for(Duration::from_millis(100));
        assert_eq!(c.reply(1), Some(&Ok(LockOutput::Granted { token: 1 })));
        assert!(matches!(c.reply(2), Some(Err(ClientError::Rejected(_)))));
        assert_eq!(c.reply(3), Some(&Ok(LockOutput::Released)));
        assert_eq!(c.reply(4), Some(&Ok(LockOutput::Granted { token: 2 })));
        let held = LockState {
            holder: Some(1),
            token: 2,
        };
        for id in 1..=3 {
            assert_eq!(c.node(id).state(), held, "n{id}");
        }
        // The leader crashes: another takes over from what a majority holds.
        c.crash(l, 0);
        c.run_for(Duration::from_secs(3));
        let next = c.leaders();
        assert!(next.len() == 1 && next[0] != l, "{next:?}");
        c.client(next[0], 5, LockOp::Acquire { owner: 2 });
        c.client(next[0], 6, LockOp::Release { owner: 1 });
        c.run_for(Duration::from_millis(100));
        assert!(matches!(c.reply(5), Some(Err(ClientError::Rejected(_)))));
        assert_eq!(c.reply(6), Some(&Ok(LockOutput::Released)));
    }
}
