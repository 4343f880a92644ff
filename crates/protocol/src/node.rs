//! The node contract: a replica is a pure state machine.
//!
//! The harness calls one handler per event (start, message, timer, client request). The
//! handler reads its clock and randomness from [`Cx`] and records what it wants done as
//! [`Effect`]s; it performs no I/O. The same node therefore runs under a unit test that
//! asserts its effects one by one, and under the simulator that turns them into packets,
//! timers and disk writes.

use crate::client::{ClientOp, ClientResult};
use crate::ids::{LogIndex, NodeId, RequestId, Term, TimerId};
use crate::params::{ParamError, Params};
use crate::time::Instant;
use core::time::Duration;
use rand_core::RngCore;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Debug};
use std::hash::Hash;

/// What survived on a node's disk, handed to [`Node::on_start`]. Keys sort, so a log
/// stored as `log/00000000000000000001` reads back in order.
pub type Disk<R> = BTreeMap<String, R>;

/// Something a handler asks the world to do. Effects of one handler call happen in order,
/// at the simulated instant of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<M, R> {
    Send {
        to: NodeId,
        msg: M,
    },
    /// Fire [`Node::on_timer`] after `after` on this node's clock; re-arms if already set.
    SetTimer {
        timer: TimerId,
        after: Duration,
    },
    CancelTimer {
        timer: TimerId,
    },
    Reply {
        req: RequestId,
        result: ClientResult,
    },
    /// Buffer a write; it is durable only after a later [`Effect::Sync`].
    Persist {
        key: String,
        value: R,
    },
    /// Buffer a removal; durable only after a later [`Effect::Sync`].
    Erase {
        key: String,
    },
    /// Make every buffered write durable (fsync).
    Sync,
    /// A line for the run's trace, in the node's words ("became leader").
    Note(String),
}

/// The role a node claims; checkers read it through [`Node::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Accepts writes as the master/leader.
    Leader,
    Candidate,
    Follower,
    /// Part of the system but never a replica (e.g. an election monitor).
    Observer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Candidate => "candidate",
            Role::Follower => "follower",
            Role::Observer => "observer",
        })
    }
}

/// Cheap to compute: the harness reads it after every event to trace role and term changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeStatus {
    pub role: Role,
    /// `None` for systems without terms; election safety then falls back to "one master
    /// at any instant".
    pub term: Option<Term>,
    /// Highest log index known committed, where the system has a log.
    pub commit: Option<LogIndex>,
    /// While `Leader`: the write scopes (shards, fragments) this node masters, as a bit
    /// set; [`NodeStatus::ALL`] for the whole data set. Two term-less masters conflict only
    /// if their scopes overlap (05's failover masters split couriers on purpose).
    pub scope: u64,
}

impl NodeStatus {
    pub const ALL: u64 = u64::MAX;
}

/// A node's data, for the durability and convergence checkers and the data digest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StateView {
    Kv(BTreeMap<String, String>),
    /// A multiset, sorted: a document stored twice appears twice.
    Elements(Vec<u64>),
    /// No replica data (e.g. a monitor).
    Nothing,
}

impl StateView {
    /// Stable across runs and platforms (FNV-1a over a canonical rendering).
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::default();
        match self {
            StateView::Kv(map) => {
                h.write(b"kv");
                for (k, v) in map {
                    h.write(k.as_bytes());
                    h.write(&[0]);
                    h.write(v.as_bytes());
                    h.write(&[0]);
                }
            }
            StateView::Elements(items) => {
                h.write(b"el");
                for e in items {
                    h.write(&e.to_le_bytes());
                }
            }
            StateView::Nothing => h.write(b"nothing"),
        }
        h.0
    }

    pub fn distinct_elements(&self) -> BTreeSet<u64> {
        match self {
            StateView::Elements(items) => items.iter().copied().collect(),
            _ => BTreeSet::new(),
        }
    }
}

/// FNV-1a, 64-bit: tiny, stable, good enough to tell states apart in a digest.
#[derive(Clone, Copy, Debug)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl Fnv {
    pub fn write(&mut self, bytes: &[u8]) {
        std::hash::Hasher::write(self, bytes)
    }
}

/// A system under test. One value of the implementing type is one replica.
pub trait Node: Sized {
    /// Wire messages between replicas. `Hash` feeds the run's trace digest.
    type Msg: Clone + Debug + Hash;
    /// What the node writes to its disk.
    type Record: Clone + Debug;
    /// Parameters parsed once per run from the scenario's [`Params`].
    type Config: Clone + Debug;

    /// Parses and validates parameters; unknown names are an error.
    fn config(params: &Params) -> Result<Self::Config, ParamError>;

    /// A fresh replica with empty memory. `cluster` lists every node, `id` included.
    fn new(id: NodeId, cluster: &[NodeId], config: &Self::Config) -> Self;

    /// First boot (empty disk) or restart after a crash (what survived on disk).
    fn on_start(&mut self, cx: &mut Cx<'_, Self::Msg, Self::Record>, disk: &Disk<Self::Record>);
    fn on_message(
        &mut self,
        cx: &mut Cx<'_, Self::Msg, Self::Record>,
        from: NodeId,
        msg: Self::Msg,
    );
    fn on_timer(&mut self, cx: &mut Cx<'_, Self::Msg, Self::Record>, timer: TimerId);
    fn on_client(&mut self, cx: &mut Cx<'_, Self::Msg, Self::Record>, req: RequestId, op: ClientOp);

    fn status(&self) -> NodeStatus;
    fn state(&self) -> StateView;
}

/// The world as one handler call sees it: who it is, what its clock reads, a seeded random
/// stream, and a buffer for the effects it emits.
pub struct Cx<'a, M, R> {
    id: NodeId,
    cluster: &'a [NodeId],
    now: Instant,
    rng: &'a mut dyn RngCore,
    effects: &'a mut Vec<Effect<M, R>>,
}

impl<'a, M, R> Cx<'a, M, R> {
    pub fn new(
        id: NodeId,
        cluster: &'a [NodeId],
        now: Instant,
        rng: &'a mut dyn RngCore,
        effects: &'a mut Vec<Effect<M, R>>,
    ) -> Self {
        Cx {
            id,
            cluster,
            now,
            rng,
            effects,
        }
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Every node in the cluster, this one included, in id order.
    pub fn cluster(&self) -> &[NodeId] {
        self.cluster
    }

    /// Every other node, in id order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.id;
        self.cluster.iter().copied().filter(move |n| *n != me)
    }

    /// This node's clock, which may be offset, drift or jump relative to others.
    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `[low, high)`; `low` if the range is empty.
    pub fn random_range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        // Multiply-shift (Lemire) keeps the bias negligible without a rejection loop.
        let span = high - low;
        low + ((u128::from(self.rng.next_u64()) * u128::from(span)) >> 64) as u64
    }

    pub fn random_duration(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_nanos(self.random_range(low.as_nanos() as u64, high.as_nanos() as u64))
    }

    pub fn send(&mut self, to: NodeId, msg: M) {
        assert_ne!(
            to, self.id,
            "a node does not send to itself; handle it locally"
        );
        self.effects.push(Effect::Send { to, msg });
    }

    pub fn set_timer(&mut self, timer: TimerId, after: Duration) {
        self.effects.push(Effect::SetTimer { timer, after });
    }

    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    pub fn reply(&mut self, req: RequestId, result: ClientResult) {
        self.effects.push(Effect::Reply { req, result });
    }

    pub fn persist(&mut self, key: impl Into<String>, value: R) {
        self.effects.push(Effect::Persist {
            key: key.into(),
            value,
        });
    }

    pub fn erase(&mut self, key: impl Into<String>) {
        self.effects.push(Effect::Erase { key: key.into() });
    }

    pub fn sync(&mut self) {
        self.effects.push(Effect::Sync);
    }

    pub fn note(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Note(text.into()));
    }
}

impl<M: Clone, R> Cx<'_, M, R> {
    /// Sends `msg` to every other node.
    pub fn broadcast(&mut self, msg: M) {
        for i in 0..self.cluster.len() {
            let to = self.cluster[i];
            if to != self.id {
                self.effects.push(Effect::Send {
                    to,
                    msg: msg.clone(),
                });
            }
        }
    }
}

/// Drives one node by hand in unit tests: owns the effect buffer, the clock and a seeded
/// rng, and hands back exactly what each call emitted.
pub struct Harness<N: Node> {
    pub node: N,
    pub id: NodeId,
    pub cluster: Vec<NodeId>,
    pub now: Instant,
    pub rng: rand_core::block::BlockRng<SplitMix>,
}

/// A tiny deterministic generator for hand-driven tests (no extra dependency).
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl rand_core::block::BlockRngCore for SplitMix {
    type Item = u32;
    // Four words, not two: `BlockRng::next_u64` on an exhausted buffer generates and then
    // starts at index 2, which asserts the buffer holds more than two words.
    type Results = [u32; 4];
    fn generate(&mut self, out: &mut [u32; 4]) {
        for pair in out.chunks_exact_mut(2) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            pair[0] = z as u32;
            pair[1] = (z >> 32) as u32;
        }
    }
}

/// Output of one hand-driven call.
pub type Effects<N> = Vec<Effect<<N as Node>::Msg, <N as Node>::Record>>;

impl<N: Node> Harness<N> {
    /// Node `id` of a cluster of `size` nodes (ids 1..=size), built from `params`.
    pub fn new(id: u32, size: u32, params: &Params) -> Harness<N> {
        let cluster: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let config = N::config(params).expect("test params are valid");
        let id = NodeId(id);
        Harness {
            node: N::new(id, &cluster, &config),
            id,
            cluster,
            now: Instant::ZERO,
            rng: rand_core::block::BlockRng::new(SplitMix(u64::from(id.0))),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    fn call(&mut self, f: impl FnOnce(&mut N, &mut Cx<'_, N::Msg, N::Record>)) -> Effects<N> {
        let mut effects = Vec::new();
        let mut cx = Cx::new(
            self.id,
            &self.cluster,
            self.now,
            &mut self.rng,
            &mut effects,
        );
        f(&mut self.node, &mut cx);
        effects
    }

    pub fn start(&mut self, disk: &Disk<N::Record>) -> Effects<N> {
        self.call(|n, cx| n.on_start(cx, disk))
    }

    pub fn message(&mut self, from: u32, msg: N::Msg) -> Effects<N> {
        self.call(|n, cx| n.on_message(cx, NodeId(from), msg))
    }

    pub fn timer(&mut self, timer: TimerId) -> Effects<N> {
        self.call(|n, cx| n.on_timer(cx, timer))
    }

    pub fn client(&mut self, req: u64, op: ClientOp) -> Effects<N> {
        self.call(|n, cx| n.on_client(cx, RequestId(req), op))
    }
}

/// Effect-list helpers for assertions in tests.
pub fn sends<M: Clone, R>(effects: &[Effect<M, R>]) -> Vec<(NodeId, M)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

pub fn replies<M, R>(effects: &[Effect<M, R>]) -> Vec<(RequestId, ClientResult)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { req, result } => Some((*req, result.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::SplitMix;
    use rand_core::RngCore;

    #[test]
    fn harness_rng_serves_u64s_and_u32s() {
        let mut rng = rand_core::block::BlockRng::new(SplitMix(1));
        let a = rng.next_u64();
        let _ = rng.next_u32();
        let b = rng.next_u64();
        let c = rng.next_u64();
        assert!(a != b && b != c);
    }
}
