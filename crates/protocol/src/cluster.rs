//! A small deterministic cluster for a system's unit tests, so a test reads like the story
//! it checks: `cluster.crash(leader, 0); cluster.run_for(secs(5));`.
//!
//! [`Harness`] drives one node and hands back its effects; [`Cluster`] carries them out for
//! every node at once: sends become messages in flight, timers fire in time order, writes
//! land on a modelled disk ([`Storage`]) and replies are collected. It sits between a
//! `Harness` test (one handler's exact effects) and a simulation run (madsim, skewed
//! clocks, latency, scenario files): no runtime, no wall clock, and everything random is
//! drawn from one seed, so a failing assertion fails the same way on every run.
//!
//! The world it models, as the simulator's:
//! - Time: one clock every node reads, moved only by timers. A message is delivered at the
//!   instant it is sent, and every message in flight is delivered before the next timer
//!   fires; slow links are modelled by reordering ([`Cluster::set_chaos`]), not by delay.
//! - Disks: writes are buffered until a `Sync`; a crash keeps what was synced plus a prefix
//!   of the rest ([`Cluster::crash`]'s `torn`).
//! - Crashes between two handler calls, or part-way through one handler's effects
//!   ([`Cluster::crash_mid_handler`]); a restart boots from what survived on disk.
//! - A network that drops, duplicates and reorders ([`Cluster::set_chaos`]), and nodes cut
//!   off from everyone ([`Cluster::isolate`]).
//!
//! One check runs on its own after every handler call: at most one leader per term
//! (Raft's election safety), read from [`Node::status`]. Systems without terms are not
//! checked: "one master at a time" needs each master's write scope and a notion of
//! overlap in time, which the simulation's election-safety invariant has; a unit test
//! asserts [`Cluster::leaders`] itself. Anything system-specific (read bounds, log
//! agreement) a test builds on [`Cluster::replies`] and [`Cluster::node`].
//!
//! A node that counts requests on disk keeps what it synced across a crash:
//!
//! ```
//! use protocol::{Cluster, Cx, Disk, Node, Params, RequestId};
//! # use protocol::{NodeId, NodeStatus, Op, ParamError, Role, TimerId};
//! #
//! # /// Counts requests; the count is synced to disk before the reply.
//! # struct Tally(u64);
//! #
//! # #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
//! # struct Incr;
//! #
//! # impl std::fmt::Display for Incr {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//! #         f.write_str("incr")
//! #     }
//! # }
//! #
//! # impl Op for Incr {
//! #     type Output = u64;
//! #     fn f(&self) -> &'static str {
//! #         "incr"
//! #     }
//! #     fn is_read(&self) -> bool {
//! #         false
//! #     }
//! # }
//! #
//! impl Node for Tally {
//!     // ...
//! #   type Msg = ();
//! #   type Record = u64;
//! #   type Config = ();
//! #   type Op = Incr;
//! #   type State = ();
//! #   fn config(params: &Params) -> Result<(), ParamError> {
//! #       params.only(&[])
//! #   }
//! #   fn new(_: NodeId, _: &[NodeId], _: &()) -> Tally {
//! #       Tally(0)
//! #   }
//!     fn on_start(&mut self, _: &mut Cx<'_, Self>, disk: &Disk<u64>) {
//!         self.0 = disk.get("count").copied().unwrap_or(0);
//!     }
//!     fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, _: Incr) {
//!         self.0 += 1;
//!         cx.persist("count", self.0);
//!         cx.sync();
//!         cx.reply(req, Ok(self.0));
//!     }
//! #   fn on_message(&mut self, _: &mut Cx<'_, Self>, _: NodeId, _: ()) {}
//! #   fn on_timer(&mut self, _: &mut Cx<'_, Self>, _: TimerId) {}
//! #   fn status(&self) -> NodeStatus {
//! #       NodeStatus { role: Role::Follower, term: None, commit: None, scope: 0 }
//! #   }
//! #   fn state(&self) {}
//! }
//!
//! let mut cluster = Cluster::<Tally>::new(1, &Params::new());
//! cluster.client(1, 1, Incr);
//! cluster.crash(1, 0);
//! cluster.restart(1);
//! cluster.client(1, 2, Incr);
//! assert_eq!(cluster.reply(2), Some(&Ok(2)), "the synced count survived the crash");
//! ```

use crate::harness::{split_mix, Harness, SplitMix};
use crate::ids::{RequestId, Term, TimerId};
use crate::node::{below, Disk, Effect, Effects, Fnv, Node, NodeStatus, Output, Role};
use crate::op::ClientResult;
use crate::params::Params;
use crate::time::Instant;
use core::time::Duration;
use rand_core::block::BlockRng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Events one [`Cluster::run_for`] or [`Cluster::run_until`] may process, so a livelock
/// (messages begetting messages while time stands still) fails instead of hanging.
pub const MAX_STEPS: usize = 200_000;

/// Messages in flight at once; more means a storm no test means to run.
pub const MAX_IN_FLIGHT: usize = 1 << 16;

/// Timers one node may have set at once.
pub const MAX_TIMERS: usize = 1 << 12;

/// Client replies one cluster collects.
pub const MAX_REPLIES: usize = 1 << 20;

/// Writes a node may buffer without syncing; a node past it never syncs, a bug.
pub const MAX_BUFFERED_WRITES: usize = 1 << 20;

/// A node's disk as the simulator models it: writes are buffered until a `Sync` makes them
/// durable, and a crash keeps the durable state plus a prefix of the buffered writes, as a
/// file system that reorders nothing but stops mid-flush would.
#[derive(Clone, Debug)]
pub struct Storage<R> {
    durable: Disk<R>,
    buffered: Vec<Write<R>>,
}

#[derive(Clone, Debug)]
enum Write<R> {
    Put(String, R),
    Erase(String),
}

impl<R: Clone> Storage<R> {
    pub fn new() -> Storage<R> {
        Storage {
            durable: Disk::new(),
            buffered: Vec::new(),
        }
    }

    /// Carries out the disk effects among `effects` (persist, erase, sync), in order.
    pub fn absorb<M, T>(&mut self, effects: &[Effect<M, R, T>]) {
        for e in effects {
            let write = match e {
                Effect::Persist { key, value } => Write::Put(key.clone(), value.clone()),
                Effect::Erase { key } => Write::Erase(key.clone()),
                Effect::Sync => {
                    for w in std::mem::take(&mut self.buffered) {
                        apply(&mut self.durable, w);
                    }
                    continue;
                }
                _ => continue,
            };
            assert!(
                self.buffered.len() < MAX_BUFFERED_WRITES,
                "more than {MAX_BUFFERED_WRITES} writes without a sync"
            );
            self.buffered.push(write);
        }
    }

    /// What survives a crash whatever it tears: everything synced.
    pub fn durable(&self) -> &Disk<R> {
        &self.durable
    }

    /// Writes not yet synced.
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// What a crash now would leave: the durable state plus the first `torn` buffered
    /// writes (all of them if there are fewer).
    pub fn surviving(&self, torn: usize) -> Disk<R> {
        let mut disk = self.durable.clone();
        for w in self.buffered.iter().take(torn) {
            apply(&mut disk, w.clone());
        }
        disk
    }

    /// The crash: the disk becomes [`Storage::surviving`], nothing left buffered.
    pub fn crash(&mut self, torn: usize) {
        self.buffered.truncate(torn);
        for w in std::mem::take(&mut self.buffered) {
            apply(&mut self.durable, w);
        }
    }
}

impl<R: Clone> Default for Storage<R> {
    fn default() -> Storage<R> {
        Storage::new()
    }
}

fn apply<R>(disk: &mut Disk<R>, write: Write<R>) {
    match write {
        Write::Put(key, value) => {
            disk.insert(key, value);
        }
        Write::Erase(key) => {
            disk.remove(&key);
        }
    }
}

/// A client reply as the cluster collected it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<T> {
    /// The node that answered.
    pub node: u32,
    pub req: RequestId,
    pub result: ClientResult<T>,
}

/// How often each fault has struck so far: a chaos test shows with it that its faults
/// were exercised, not just configured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Messages the chaotic network dropped, duplicated, or sent to the back of the queue.
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Messages dropped because one end was isolated.
    pub cut_off: u64,
    /// Crashes of either kind, and those of them that hit part-way through a handler.
    pub crashes: u64,
    pub mid_handler_crashes: u64,
    /// Unsynced writes a crash lost, and those it kept (a torn write).
    pub writes_lost: u64,
    pub writes_torn: u64,
}

/// Nodes `1..=size` of one system, their network, timers and disks, driven in simulated
/// time. Node ids in arguments are the `u32`s [`Harness`] takes; an id outside the cluster
/// panics.
pub struct Cluster<N: Node> {
    config: N::Config,
    seed: u64,
    slots: Vec<Slot<N>>,
    queue: VecDeque<InFlight<N::Msg>>,
    now: Instant,
    /// Drop, duplicate and reorder: one in `chaos_one_in` each (0: a perfect network).
    chaos_one_in: u64,
    chaos: BlockRng<SplitMix>,
    isolated: BTreeSet<u32>,
    replies: Vec<Reply<Output<N>>>,
    /// Every leadership observed: election safety.
    leaders_by_term: BTreeMap<Term, u32>,
    faults: Faults,
}

struct Slot<N: Node> {
    /// `None` while the node is down.
    node: Option<Harness<N>>,
    disk: Storage<N::Record>,
    /// When each set timer fires.
    timers: BTreeMap<TimerId, Instant>,
    /// Boots so far: each gets its own random stream.
    boots: u64,
    /// The next message this node handles crashes it part-way through.
    crash_mid_handler: bool,
}

struct InFlight<M> {
    from: u32,
    to: u32,
    msg: M,
}

impl<N: Node> Cluster<N> {
    /// `size` nodes built from `params`, each booted from an empty disk, under seed 0.
    ///
    /// Panics if `params` are invalid: this is a test helper.
    pub fn new(size: u32, params: &Params) -> Cluster<N> {
        let config = N::config(params).unwrap_or_else(|e| panic!("invalid params: {e}"));
        Cluster::with_config(size, &config)
    }

    /// As [`Cluster::new`], from a parsed configuration.
    pub fn with_config(size: u32, config: &N::Config) -> Cluster<N> {
        Cluster::build(size, config, 0)
    }

    /// The same cluster started over under `seed`, which derives every node's random
    /// stream and the network's chaos. It starts over rather than re-seeding in place
    /// because booting already drew from the nodes' streams (Raft's first election
    /// timeout): `Cluster::new(3, &params).seeded(seed)`.
    pub fn seeded(self, seed: u64) -> Cluster<N> {
        Cluster::build(self.size(), &self.config, seed)
    }

    fn build(size: u32, config: &N::Config, seed: u64) -> Cluster<N> {
        assert!(size > 0, "a cluster has at least one node");
        let mut c = Cluster {
            config: config.clone(),
            seed,
            slots: Vec::new(),
            queue: VecDeque::new(),
            now: Instant::ZERO,
            chaos_one_in: 0,
            chaos: split_mix(Fnv::digest(&(seed, "chaos"))),
            isolated: BTreeSet::new(),
            replies: Vec::new(),
            leaders_by_term: BTreeMap::new(),
            faults: Faults::default(),
        };
        for _ in 0..size {
            c.slots.push(Slot {
                node: None,
                disk: Storage::new(),
                timers: BTreeMap::new(),
                boots: 0,
                crash_mid_handler: false,
            });
        }
        for id in 1..=size {
            c.boot(id);
        }
        c
    }

    /// From now on each message about to be delivered is, with probability `1/one_in`
    /// each, dropped, duplicated (a copy joins the back of the queue) or reordered (it
    /// joins the back of the queue instead); 0 is a perfect network. At least 3, so most
    /// messages still arrive.
    pub fn set_chaos(&mut self, one_in: u64) {
        assert!(
            one_in == 0 || one_in >= 3,
            "chaos one in {one_in}: 0 (none) or at least 3"
        );
        self.chaos_one_in = one_in;
    }

    pub fn size(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The cluster's time, which every node's clock reads.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Delivers the oldest message in flight or, with none, fires the earliest timer of a
    /// live node (moving time to it). False when there is nothing left to do.
    pub fn step(&mut self) -> bool {
        if let Some(m) = self.queue.pop_front() {
            self.deliver(m);
            return true;
        }
        let Some((at, id, timer)) = self.next_timer() else {
            return false;
        };
        self.slot(id).timers.remove(&timer);
        self.now = self.now.max(at);
        let fx = self.call(id, |h| h.timer(timer));
        self.absorb(id, fx);
        true
    }

    /// Runs every event due within `d`, then sets the time to `d` from now.
    ///
    /// Panics after [`MAX_STEPS`] events: a livelock.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Runs until `done` holds (checked before each event) or `limit` has passed; says
    /// whether `done` held. Time stops where `done` first held, or at `limit`.
    ///
    /// Panics after [`MAX_STEPS`] events: a livelock.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit;
        for _ in 0..MAX_STEPS {
            if done(self) {
                return true;
            }
            let idle = self.queue.is_empty() && self.next_timer().is_none_or(|t| t.0 > end);
            if idle {
                self.now = self.now.max(end);
                return done(self);
            }
            self.step();
        }
        panic!(
            "the cluster did not settle within {MAX_STEPS} steps at {}: a livelock",
            self.now
        );
    }

    /// Node `id` stops between two handler calls: its disk keeps what was synced and the
    /// first `torn` unsynced writes, its timers and memory are gone, messages to it are
    /// dropped until [`Cluster::restart`].
    pub fn crash(&mut self, id: u32, torn: usize) {
        let slot = self.slot(id);
        assert!(slot.node.is_some(), "n{id} crashed while down");
        let buffered = slot.disk.buffered();
        slot.node = None;
        slot.disk.crash(torn);
        slot.timers.clear();
        let kept = torn.min(buffered) as u64;
        self.faults.crashes += 1;
        self.faults.writes_torn += kept;
        self.faults.writes_lost += buffered as u64 - kept;
    }

    /// The next message node `id` handles (after a restart, if it is down) crashes it
    /// part-way: only a seeded prefix of that handler's effects happens, then it crashes
    /// keeping a seeded prefix of its unsynced writes.
    pub fn crash_mid_handler(&mut self, id: u32) {
        self.slot(id).crash_mid_handler = true;
    }

    /// Whether [`Cluster::crash_mid_handler`] is still to hit node `id`.
    pub fn crash_pending(&self, id: u32) -> bool {
        self.slots[index(self.size(), id)].crash_mid_handler
    }

    /// Boots node `id` again, empty memory, from what survived on its disk.
    pub fn restart(&mut self, id: u32) {
        assert!(!self.is_up(id), "n{id} restarted while up");
        self.boot(id);
    }

    /// Cuts node `id` off from everyone: messages from or to it are dropped when they
    /// would be delivered, until [`Cluster::heal`].
    pub fn isolate(&mut self, id: u32) {
        index(self.size(), id); // an id outside the cluster panics here, not at delivery
        self.isolated.insert(id);
    }

    /// Reconnects every isolated node.
    pub fn heal(&mut self) {
        self.isolated.clear();
    }

    /// The fault phase is over, as a simulation's quiesce: the network heals and loses
    /// nothing more, pending mid-handler crashes are called off, and every node that is
    /// down restarts.
    pub fn quiesce(&mut self) {
        self.heal();
        self.chaos_one_in = 0;
        for id in 1..=self.size() {
            self.slot(id).crash_mid_handler = false;
            if !self.is_up(id) {
                self.restart(id);
            }
        }
    }

    pub fn is_up(&self, id: u32) -> bool {
        self.try_node(id).is_some()
    }

    /// Sends request `req` to node `id`, which handles it at once. Request ids are the
    /// test's to choose; [`Cluster::reply`] finds the answer by them.
    pub fn client(&mut self, id: u32, req: u64, op: N::Op) {
        let fx = self.call(id, |h| h.client(req, op));
        self.absorb(id, fx);
    }

    /// The first reply to request `req`, if one came.
    pub fn reply(&self, req: u64) -> Option<&ClientResult<Output<N>>> {
        self.replies
            .iter()
            .find(|r| r.req == RequestId(req))
            .map(|r| &r.result)
    }

    /// Every reply so far, in the order nodes sent them.
    pub fn replies(&self) -> &[Reply<Output<N>>] {
        &self.replies
    }

    /// Node `id`, which must be up.
    pub fn node(&self, id: u32) -> &N {
        self.try_node(id).unwrap_or_else(|| panic!("n{id} is down"))
    }

    /// Node `id`, if it is up.
    pub fn try_node(&self, id: u32) -> Option<&N> {
        self.slots[index(self.size(), id)]
            .node
            .as_ref()
            .map(|h| &h.node)
    }

    /// Node `id`'s status; it must be up.
    pub fn status(&self, id: u32) -> NodeStatus {
        self.node(id).status()
    }

    /// Node `id`'s disk, up or down.
    pub fn disk(&self, id: u32) -> &Storage<N::Record> {
        &self.slots[index(self.size(), id)].disk
    }

    /// The live nodes that claim to lead, in id order (stale leaders included).
    pub fn leaders(&self) -> Vec<u32> {
        (1..=self.size())
            .filter(|id| {
                self.try_node(*id)
                    .is_some_and(|n| n.status().role == Role::Leader)
            })
            .collect()
    }

    /// The faults that struck so far.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every term a leader was seen in, and its leader.
    pub fn leaders_by_term(&self) -> &BTreeMap<Term, u32> {
        &self.leaders_by_term
    }

    fn slot(&mut self, id: u32) -> &mut Slot<N> {
        let i = index(self.size(), id);
        &mut self.slots[i]
    }

    /// Node `id` comes up from its disk with a fresh random stream per boot, so a restart
    /// does not replay the choices of the life before it.
    fn boot(&mut self, id: u32) {
        let (size, now, seed) = (self.size(), self.now, self.seed);
        let slot = &mut self.slots[index(size, id)];
        assert_eq!(slot.disk.buffered(), 0, "a node boots from what survived");
        let mut h = Harness::with_config(id, size, &self.config);
        h.rng = split_mix(Fnv::digest(&(seed, id, slot.boots)));
        h.now = now;
        slot.boots += 1;
        let fx = h.start(slot.disk.durable());
        slot.node = Some(h);
        self.absorb(id, fx);
    }

    /// Runs one handler of node `id` at the cluster's time.
    fn call(&mut self, id: u32, f: impl FnOnce(&mut Harness<N>) -> Effects<N>) -> Effects<N> {
        let now = self.now;
        let h = self.slot(id).node.as_mut();
        let h = h.unwrap_or_else(|| panic!("n{id} is down"));
        h.now = now;
        f(h)
    }

    fn deliver(&mut self, m: InFlight<N::Msg>) {
        let InFlight { from, to, msg } = m;
        let cut_off = self.isolated.contains(&from) || self.isolated.contains(&to);
        if cut_off {
            self.faults.cut_off += 1;
        }
        if cut_off || !self.is_up(to) {
            return;
        }
        if self.slot(to).crash_mid_handler {
            self.slot(to).crash_mid_handler = false;
            // Its memory ran the whole handler, but dies before anything reads it except
            // the election-safety check, which errs strict.
            let fx = self.call(to, |h| h.message(from, msg));
            let cut = below(&mut self.chaos, fx.len() as u64 + 1) as usize;
            self.absorb(to, fx[..cut].to_vec());
            let buffered = self.slot(to).disk.buffered() as u64;
            let torn = below(&mut self.chaos, buffered + 1) as usize;
            self.crash(to, torn);
            self.faults.mid_handler_crashes += 1;
            return;
        }
        if self.chaos_one_in > 0 {
            match below(&mut self.chaos, self.chaos_one_in) {
                0 => {
                    self.faults.dropped += 1;
                    return;
                }
                1 => {
                    self.faults.duplicated += 1;
                    self.enqueue(from, to, msg.clone());
                }
                2 => {
                    self.faults.reordered += 1;
                    self.enqueue(from, to, msg);
                    return;
                }
                _ => {}
            }
        }
        let fx = self.call(to, |h| h.message(from, msg));
        self.absorb(to, fx);
    }

    fn enqueue(&mut self, from: u32, to: u32, msg: N::Msg) {
        index(self.size(), to);
        assert!(
            self.queue.len() < MAX_IN_FLIGHT,
            "more than {MAX_IN_FLIGHT} messages in flight"
        );
        self.queue.push_back(InFlight { from, to, msg });
    }

    /// The earliest timer of a live node: (when, node, timer), ties by node then timer.
    fn next_timer(&self) -> Option<(Instant, u32, TimerId)> {
        (1..=self.size())
            .zip(&self.slots)
            .filter(|(_, s)| s.node.is_some())
            .flat_map(|(id, s)| s.timers.iter().map(move |(t, at)| (*at, id, *t)))
            .min()
    }

    /// Carries out what node `id`'s handler asked for, then checks election safety.
    fn absorb(&mut self, id: u32, fx: Effects<N>) {
        let now = self.now;
        self.slot(id).disk.absorb(&fx);
        for e in fx {
            match e {
                Effect::Send { to, msg } => self.enqueue(id, to.0, msg),
                Effect::SetTimer { timer, after } => {
                    let timers = &mut self.slot(id).timers;
                    timers.insert(timer, now + after);
                    assert!(timers.len() <= MAX_TIMERS, "n{id} set {MAX_TIMERS}+ timers");
                }
                Effect::CancelTimer { timer } => {
                    self.slot(id).timers.remove(&timer);
                }
                Effect::Reply { req, result } => {
                    assert!(self.replies.len() < MAX_REPLIES, "{MAX_REPLIES}+ replies");
                    self.replies.push(Reply {
                        node: id,
                        req,
                        result,
                    });
                }
                Effect::Persist { .. } | Effect::Erase { .. } | Effect::Sync | Effect::Note(_) => {}
            }
        }
        self.check_election_safety(id);
    }

    /// At most one leader per term, over the whole run: a node that leads a term another
    /// node led, even one since crashed, is a second leader.
    fn check_election_safety(&mut self, id: u32) {
        let status = self.node(id).status();
        let (Role::Leader, Some(term)) = (status.role, status.term) else {
            return;
        };
        let first = *self.leaders_by_term.entry(term).or_insert(id);
        assert!(
            first == id,
            "election safety: two leaders in {term}: n{first} and n{id}"
        );
    }
}

/// Node `id`'s slot in a cluster of `size`.
fn index(size: u32, id: u32) -> usize {
    assert!(
        (1..=size).contains(&id),
        "n{id} is not in a cluster of {size}"
    );
    id as usize - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::NodeId;
    use crate::node::Cx;
    use crate::op::Op;
    use crate::params::ParamError;
    use std::fmt;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// A node that does whatever a client request tells it and records what happened to
    /// it, so a test can watch the cluster's machinery alone.
    struct Toy {
        /// Messages handled, in order, with their sender.
        heard: Vec<(u32, Msg)>,
        /// Timers fired, in order, and when.
        fired: Vec<(u64, Instant)>,
        /// The keys on disk when it booted.
        booted_with: Vec<String>,
        /// A draw from its random stream at boot.
        luck: u64,
        /// The term it claims to lead: it believes whatever it is told.
        leads: Option<Option<Term>>,
    }

    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    enum Msg {
        Ping(u64),
        Pong(u64),
        /// Bounced straight back, forever.
        Bounce,
        /// Persist these keys, sync, answer `Stored`.
        Store(Vec<&'static str>),
        Stored,
    }

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    enum ToyOp {
        /// Sends `Ping(request id)` to a node, which answers `Pong`.
        Ping(u32),
        /// Persists a key, then syncs if told to.
        Write(&'static str, bool),
        /// Sets timer `.0` to fire after `.1` ms.
        Timer(u64, u64),
        Cancel(u64),
        /// Claims to lead a term (`None`: a master without terms).
        Lead(Option<u64>),
        Bounce(u32),
        Store(u32, Vec<&'static str>),
    }

    impl fmt::Display for ToyOp {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{self:?}")
        }
    }

    impl Op for ToyOp {
        type Output = ();
        fn f(&self) -> &'static str {
            "toy"
        }
        fn is_read(&self) -> bool {
            false
        }
    }

    impl Node for Toy {
        type Msg = Msg;
        type Record = u64;
        type Config = ();
        type Op = ToyOp;
        type State = ();

        fn config(params: &Params) -> Result<(), ParamError> {
            params.only(&[])
        }

        fn new(_: NodeId, _: &[NodeId], _: &()) -> Toy {
            Toy {
                heard: Vec::new(),
                fired: Vec::new(),
                booted_with: Vec::new(),
                luck: 0,
                leads: None,
            }
        }

        fn on_start(&mut self, cx: &mut Cx<'_, Self>, disk: &Disk<u64>) {
            self.booted_with = disk.keys().cloned().collect();
            self.luck = cx.random_u64();
        }

        fn on_message(&mut self, cx: &mut Cx<'_, Self>, from: NodeId, msg: Msg) {
            self.heard.push((from.0, msg.clone()));
            match msg {
                Msg::Ping(n) => cx.send(from, Msg::Pong(n)),
                Msg::Bounce => cx.send(from, Msg::Bounce),
                Msg::Store(keys) => {
                    for key in keys {
                        cx.persist(key, 0);
                    }
                    cx.sync();
                    cx.send(from, Msg::Stored);
                }
                Msg::Pong(_) | Msg::Stored => {}
            }
        }

        fn on_timer(&mut self, cx: &mut Cx<'_, Self>, timer: TimerId) {
            self.fired.push((timer.0, cx.now()));
        }

        fn on_client(&mut self, cx: &mut Cx<'_, Self>, req: RequestId, op: ToyOp) {
            match op {
                ToyOp::Ping(to) => cx.send(NodeId(to), Msg::Ping(req.0)),
                ToyOp::Write(key, sync) => {
                    cx.persist(key, 0);
                    if sync {
                        cx.sync();
                    }
                }
                ToyOp::Timer(t, after) => cx.set_timer(TimerId(t), ms(after)),
                ToyOp::Cancel(t) => cx.cancel_timer(TimerId(t)),
                ToyOp::Lead(term) => self.leads = Some(term.map(Term)),
                ToyOp::Bounce(to) => cx.send(NodeId(to), Msg::Bounce),
                ToyOp::Store(to, keys) => cx.send(NodeId(to), Msg::Store(keys)),
            }
            cx.reply(req, Ok(()));
        }

        fn status(&self) -> NodeStatus {
            NodeStatus {
                role: match self.leads {
                    Some(_) => Role::Leader,
                    None => Role::Follower,
                },
                term: self.leads.flatten(),
                commit: None,
                scope: NodeStatus::ALL,
            }
        }

        fn state(&self) {}
    }

    fn toys(size: u32) -> Cluster<Toy> {
        Cluster::new(size, &Params::new())
    }

    #[test]
    fn messages_are_delivered_in_order_and_replies_collected() {
        let mut c = toys(3);
        c.client(1, 7, ToyOp::Ping(2));
        c.client(3, 8, ToyOp::Ping(2));
        assert!(c.step());
        assert_eq!(c.node(2).heard, vec![(1, Msg::Ping(7))]);
        c.run_for(ms(1));
        assert_eq!(c.node(2).heard, vec![(1, Msg::Ping(7)), (3, Msg::Ping(8))]);
        assert_eq!(c.node(1).heard, vec![(2, Msg::Pong(7))]);
        assert_eq!(c.node(3).heard, vec![(2, Msg::Pong(8))]);
        let reply = |node, req| Reply {
            node,
            req: RequestId(req),
            result: Ok(()),
        };
        assert_eq!(c.replies(), [reply(1, 7), reply(3, 8)]);
        assert_eq!(c.reply(8), Some(&Ok(())));
        assert_eq!(c.reply(9), None);
        assert_eq!(c.now(), at(1), "messages take no time");
        assert!(!c.step(), "nothing left to do");
    }

    #[test]
    fn timers_fire_in_time_order_and_rearm_or_cancel() {
        let mut c = toys(2);
        c.client(1, 1, ToyOp::Timer(1, 300));
        c.client(2, 2, ToyOp::Timer(2, 100));
        c.client(1, 3, ToyOp::Timer(3, 200));
        c.client(1, 4, ToyOp::Timer(4, 250));
        c.client(1, 5, ToyOp::Cancel(4));
        c.run_for(ms(250));
        assert_eq!(c.node(2).fired, vec![(2, at(100))]);
        assert_eq!(c.node(1).fired, vec![(3, at(200))]);
        assert_eq!(c.now(), at(250));
        // Setting a set timer re-arms it: 350 now, not 300.
        c.client(1, 6, ToyOp::Timer(1, 100));
        c.run_for(ms(99));
        assert_eq!(c.node(1).fired.len(), 1);
        c.run_for(ms(1));
        assert_eq!(c.node(1).fired, vec![(3, at(200)), (1, at(350))]);
        // Ties go by node, then by timer.
        c.client(2, 7, ToyOp::Timer(9, 10));
        c.client(1, 8, ToyOp::Timer(8, 10));
        c.client(1, 9, ToyOp::Timer(7, 10));
        assert!(c.step());
        assert_eq!(c.node(1).fired.last(), Some(&(7, at(360))));
        assert!(c.step());
        assert_eq!(c.node(1).fired.last(), Some(&(8, at(360))));
        assert_eq!(c.node(2).fired.len(), 1);
    }

    #[test]
    fn run_until_stops_where_the_condition_first_holds() {
        let mut c = toys(2);
        c.client(1, 1, ToyOp::Timer(1, 100));
        c.client(2, 2, ToyOp::Timer(2, 300));
        assert!(c.run_until(ms(1000), |c| !c.node(2).fired.is_empty()));
        assert_eq!(c.now(), at(300));
        assert!(!c.run_until(ms(50), |c| c.node(1).fired.len() > 1));
        assert_eq!(c.now(), at(350));
    }

    #[test]
    fn a_crash_loses_unsynced_writes_and_keeps_synced_ones() {
        let mut c = toys(1);
        c.client(1, 1, ToyOp::Write("a", true));
        c.client(1, 2, ToyOp::Write("b", false));
        c.client(1, 3, ToyOp::Write("c", false));
        assert_eq!(c.disk(1).buffered(), 2);
        c.crash(1, 0);
        assert!(!c.is_up(1) && c.try_node(1).is_none());
        assert_eq!(c.leaders(), Vec::<u32>::new());
        c.restart(1);
        assert_eq!(c.node(1).booted_with, ["a"]);
        assert_eq!((c.faults().crashes, c.faults().writes_lost), (1, 2));
    }

    #[test]
    fn a_torn_crash_keeps_a_prefix_of_the_unsynced_writes() {
        let mut c = toys(1);
        c.client(1, 1, ToyOp::Write("a", true));
        for key in ["d", "c", "b"] {
            c.client(1, 2, ToyOp::Write(key, false));
        }
        let keys = |disk: Disk<u64>| disk.into_keys().collect::<Vec<_>>();
        assert_eq!(keys(c.disk(1).surviving(1)), ["a", "d"]);
        assert_eq!(keys(c.disk(1).surviving(9)), ["a", "b", "c", "d"]);
        c.crash(1, 2);
        c.restart(1);
        assert_eq!(c.node(1).booted_with, ["a", "c", "d"]);
        assert_eq!((c.faults().writes_torn, c.faults().writes_lost), (2, 1));
    }

    #[test]
    fn storage_erases_in_order_and_tears_between_writes() {
        let mut s = Storage::<u64>::new();
        let put = |key: &str| Effect::<(), u64, ()>::Persist {
            key: key.into(),
            value: 1,
        };
        let erase = Effect::Erase { key: "a".into() };
        s.absorb(&[put("a"), Effect::Sync, erase, put("b")]);
        let keys = |torn| s.surviving(torn).into_keys().collect::<Vec<_>>();
        assert_eq!(keys(0), ["a"]);
        assert!(keys(1).is_empty());
        assert_eq!(keys(2), ["b"]);
        assert_eq!(s.durable().len(), 1);
        s.crash(1);
        assert!(s.durable().is_empty() && s.buffered() == 0);
    }

    #[test]
    fn a_down_node_misses_its_timers_and_messages() {
        let mut c = toys(2);
        c.client(2, 1, ToyOp::Timer(1, 100));
        c.client(1, 2, ToyOp::Ping(2));
        c.crash(2, 0);
        c.run_for(ms(200));
        c.restart(2);
        c.run_for(ms(200));
        assert!(c.node(2).heard.is_empty() && c.node(2).fired.is_empty());
        assert!(c.node(1).heard.is_empty(), "no pong");
    }

    #[test]
    fn an_isolated_node_neither_hears_nor_is_heard_until_healed() {
        let mut c = toys(3);
        c.isolate(2);
        c.client(1, 1, ToyOp::Ping(2));
        c.client(2, 2, ToyOp::Ping(3));
        c.client(1, 3, ToyOp::Ping(3));
        c.run_for(ms(1));
        assert!(c.node(2).heard.is_empty());
        assert_eq!(c.node(3).heard, vec![(1, Msg::Ping(3))]);
        assert_eq!(c.node(1).heard, vec![(3, Msg::Pong(3))]);
        assert_eq!(c.faults().cut_off, 2);
        c.heal();
        c.client(1, 4, ToyOp::Ping(2));
        c.run_for(ms(1));
        assert_eq!(c.node(2).heard, vec![(1, Msg::Ping(4))]);
        assert_eq!(c.node(1).heard[1], (2, Msg::Pong(4)));
    }

    /// The pings node 2 heard, each sent once by node 1, under chaos seeded by `seed`,
    /// and the faults counted.
    fn pings_under_chaos(seed: u64) -> (Vec<u64>, Faults) {
        let mut c = toys(2).seeded(seed);
        c.set_chaos(4);
        for req in 0..200 {
            c.client(1, req, ToyOp::Ping(2));
        }
        c.run_for(ms(1));
        let pings = c.node(2).heard.iter().map(|(_, m)| match m {
            Msg::Ping(n) => *n,
            other => panic!("{other:?}"),
        });
        (pings.collect(), *c.faults())
    }

    #[test]
    fn chaos_drops_duplicates_and_reorders_as_the_seed_says() {
        let (heard, faults) = pings_under_chaos(1);
        let distinct: BTreeSet<u64> = heard.iter().copied().collect();
        assert!(distinct.len() < 200, "some dropped");
        assert!(distinct.len() < heard.len(), "some duplicated");
        assert!(heard.windows(2).any(|w| w[0] > w[1]), "some reordered");
        assert!(distinct.len() > 100, "most arrive: {}", distinct.len());
        assert!(faults.dropped > 0 && faults.duplicated > 0 && faults.reordered > 0);
        // Pongs meet the same chaos, so the counts bound the pings rather than fix them.
        assert!(heard.len() as u64 <= 200 + faults.duplicated);
        let again = pings_under_chaos(1);
        assert_eq!(
            (heard.clone(), faults),
            again,
            "the same seed, the same run"
        );
        assert_ne!(heard, pings_under_chaos(2).0);
    }

    #[test]
    fn each_boot_draws_its_own_random_stream_from_the_seed() {
        let luck = |seed| {
            let c = toys(2).seeded(seed);
            [c.node(1).luck, c.node(2).luck]
        };
        assert_eq!(luck(5), luck(5));
        assert_ne!(luck(5), luck(6));
        assert_ne!(luck(5)[0], luck(5)[1]);
        let mut c = toys(1).seeded(5);
        c.crash(1, 0);
        c.restart(1);
        assert_ne!(
            c.node(1).luck,
            luck(5)[0],
            "a restart does not replay the last life"
        );
    }

    #[test]
    fn a_mid_handler_crash_applies_a_prefix_of_the_effects() {
        let keys = vec!["a", "b", "c"];
        let mut seen = BTreeSet::new();
        for seed in 0..64 {
            let mut c = toys(2).seeded(seed);
            c.crash_mid_handler(2);
            assert!(c.crash_pending(2));
            c.client(1, 1, ToyOp::Store(2, keys.clone()));
            c.run_for(ms(1));
            assert!(!c.is_up(2) && !c.crash_pending(2), "seed {seed}");
            assert_eq!((c.faults().crashes, c.faults().mid_handler_crashes), (1, 1));
            let kept: Vec<&str> = c.disk(2).durable().keys().map(String::as_str).collect();
            assert_eq!(kept, keys[..kept.len()], "seed {seed}: a prefix");
            let answered = c.node(1).heard == [(2, Msg::Stored)];
            assert!(
                !answered || kept.len() == 3,
                "seed {seed}: answered before the sync"
            );
            seen.insert((kept.len(), answered));
        }
        // Three writes, a sync and a send: every cut, torn every way.
        let all = [(0, false), (1, false), (2, false), (3, false), (3, true)];
        assert_eq!(seen, BTreeSet::from(all));
    }

    #[test]
    fn quiesce_ends_every_fault_and_restarts_the_down() {
        let mut c = toys(3).seeded(1);
        c.set_chaos(3);
        c.isolate(3);
        c.crash(1, 0);
        c.crash_mid_handler(2);
        c.quiesce();
        assert!((1..=3).all(|id| c.is_up(id) && !c.crash_pending(id)));
        for req in 0..20 {
            c.client(1, req, ToyOp::Ping(3));
        }
        c.run_for(ms(1));
        let pings: Vec<(u32, Msg)> = (0..20).map(|n| (1, Msg::Ping(n))).collect();
        assert_eq!(c.node(3).heard, pings);
    }

    #[test]
    fn leaders_are_read_from_status_and_remembered_by_term() {
        let mut c = toys(3);
        c.client(1, 1, ToyOp::Lead(Some(1)));
        c.client(1, 2, ToyOp::Lead(Some(1)));
        c.client(2, 3, ToyOp::Lead(Some(2)));
        // Without terms two masters are the simulation's to judge, not the cluster's.
        c.client(3, 4, ToyOp::Lead(None));
        assert_eq!(c.leaders(), [1, 2, 3]);
        assert_eq!(c.status(2).term, Some(Term(2)));
        c.crash(1, 0);
        assert_eq!(c.leaders(), [2, 3]);
        let by_term = BTreeMap::from([(Term(1), 1), (Term(2), 2)]);
        assert_eq!(c.leaders_by_term(), &by_term);
    }

    #[test]
    #[should_panic(expected = "election safety: two leaders in t1: n1 and n2")]
    fn two_leaders_in_one_term_fail_election_safety() {
        let mut c = toys(2);
        c.client(1, 1, ToyOp::Lead(Some(1)));
        c.client(2, 2, ToyOp::Lead(Some(1)));
    }

    #[test]
    #[should_panic(expected = "election safety: two leaders in t4: n2 and n1")]
    fn a_crashed_leader_still_counts_for_its_term() {
        let mut c = toys(2);
        c.client(2, 1, ToyOp::Lead(Some(4)));
        c.crash(2, 0);
        c.client(1, 2, ToyOp::Lead(Some(4)));
    }

    #[test]
    #[should_panic(expected = "did not settle within 200000 steps")]
    fn a_livelock_fails_on_the_step_bound() {
        let mut c = toys(2);
        c.client(1, 1, ToyOp::Bounce(2));
        c.run_for(ms(1));
    }

    #[test]
    #[should_panic(expected = "invalid params: parameter `bogus`")]
    fn invalid_params_fail_construction() {
        Cluster::<Toy>::new(1, &Params::new().with("bogus", 1));
    }

    #[test]
    #[should_panic(expected = "n4 is not in a cluster of 3")]
    fn an_id_outside_the_cluster_fails() {
        toys(3).crash(4, 0);
    }
}
