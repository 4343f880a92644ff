//! The node contract: a replica is a pure state machine.
//!
//! The harness calls one handler per event (start, message, timer, client request). The
//! handler reads its clock and randomness from [`Cx`] and records what it wants done as
//! [`Effect`]s; it performs no I/O. The same node therefore runs under a unit test that
//! asserts its effects one by one, and under the simulator that turns them into packets,
//! timers and disk writes.

use crate::ids::{LogIndex, NodeId, RequestId, Term, TimerId};
use crate::op::{ClientResult, Op};
use crate::params::{ParamError, Params};
use crate::time::Instant;
use core::time::Duration;
use rand_core::RngCore;
use std::collections::BTreeMap;
use std::fmt::{self, Debug};
use std::hash::Hash;

/// What survived on a node's disk, handed to [`Node::on_start`]. Keys sort, so a log
/// stored as `log/00000000000000000001` reads back in order.
pub type Disk<R> = BTreeMap<String, R>;

/// Something a handler asks the world to do. Effects of one handler call happen in order,
/// at the simulated instant of the call. `T` is what a successful client operation
/// returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<M, R, T> {
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
        result: ClientResult<T>,
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

/// What a successful operation of node type `N` returns.
pub type Output<N> = <<N as Node>::Op as Op>::Output;

/// One effect of node type `N`.
pub type NodeEffect<N> = Effect<<N as Node>::Msg, <N as Node>::Record, Output<N>>;

/// The effects of one handler call of node type `N`, in order.
pub type Effects<N> = Vec<NodeEffect<N>>;

/// The role a node claims; checkers read it through [`Node::status`].
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// A replica's data as checkers see it at the end of a run ([`Node::state`]): compared
/// across replicas for convergence and hashed into the run's digest.
pub trait Data: Clone + Debug + Eq + Hash + Send + Sync + 'static {
    /// Where `self` and `other` first differ, for a convergence report. The default shows
    /// both in full.
    fn difference(&self, other: &Self) -> String {
        format!("{self:?} vs {other:?}")
    }
}

/// No replica data (a system whose checks read only the history).
impl Data for () {}

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

    /// The FNV digest of `value`'s `Hash`: stable across runs of the same build.
    pub fn digest(value: &impl Hash) -> u64 {
        let mut h = Fnv::default();
        value.hash(&mut h);
        h.0
    }
}

/// A system under test. One value of the implementing type is one replica.
///
/// Everything else the harness needs to know about the system (its name, cluster shape,
/// workload and promises) it says through [`crate::System`].
pub trait Node: Sized + Send + 'static {
    /// Wire messages between replicas. `Hash` feeds the run's trace digest.
    type Msg: Clone + Debug + Hash + Send + 'static;
    /// What the node writes to its disk.
    type Record: Clone + Debug + Send + 'static;
    /// Parameters parsed once per run from the scenario's [`Params`].
    type Config: Clone + Debug + Send + Sync + 'static;
    /// The client operations the node serves.
    type Op: Op;
    /// A replica's data at the end of a run, for the checkers.
    type State: Data;

    /// Parses and validates parameters; unknown names are an error.
    fn config(params: &Params) -> Result<Self::Config, ParamError>;

    /// A fresh replica with empty memory. `cluster` lists every node, `id` included.
    fn new(id: NodeId, cluster: &[NodeId], config: &Self::Config) -> Self;

    /// First boot (empty disk) or restart after a crash (what survived on disk).
    fn on_start(&mut self, cx: &mut Cx<'_, Self>, disk: &Disk<Self::Record>);
    fn on_message(&mut self, cx: &mut Cx<'_, Self>, from: NodeId, msg: Self::Msg);
    fn on_timer(&mut self, cx: &mut Cx<'_, Self>, timer: TimerId);
    fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, op: Self::Op);

    fn status(&self) -> NodeStatus;
    /// The replica's data; read only on replicas (not on a system's extra nodes).
    fn state(&self) -> Self::State;
}

/// The world as one handler call sees it: who it is, what its clock reads, a seeded random
/// stream, and a buffer for the effects it emits.
pub struct Cx<'a, N: Node> {
    id: NodeId,
    cluster: &'a [NodeId],
    now: Instant,
    rng: &'a mut dyn RngCore,
    effects: &'a mut Effects<N>,
}

impl<'a, N: Node> Cx<'a, N> {
    pub fn new(
        id: NodeId,
        cluster: &'a [NodeId],
        now: Instant,
        rng: &'a mut dyn RngCore,
        effects: &'a mut Effects<N>,
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
        low + below(&mut *self.rng, high - low)
    }

    pub fn random_duration(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_nanos(self.random_range(low.as_nanos() as u64, high.as_nanos() as u64))
    }

    pub fn send(&mut self, to: NodeId, msg: N::Msg) {
        assert_ne!(
            to, self.id,
            "a node does not send to itself; handle it locally"
        );
        self.effects.push(Effect::Send { to, msg });
    }

    /// Sends `msg` to every other node.
    pub fn broadcast(&mut self, msg: N::Msg) {
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

    pub fn set_timer(&mut self, timer: TimerId, after: Duration) {
        self.effects.push(Effect::SetTimer { timer, after });
    }

    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    pub fn reply(&mut self, req: RequestId, result: ClientResult<Output<N>>) {
        self.effects.push(Effect::Reply { req, result });
    }

    pub fn persist(&mut self, key: impl Into<String>, value: N::Record) {
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

/// Uniform in `[0, n)` (0 when `n` is 0), by multiply-shift (Lemire): the bias is
/// negligible without a rejection loop, and one draw is always one `next_u64`.
pub fn below(rng: &mut (impl RngCore + ?Sized), n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}
