//! The shared state of one run: every node's and client's slot, the network, the trace
//! and the history, behind methods (the driver, the nemesis and the run reach it only
//! through them).
//!
//! Every node has a mailbox (see [`crate::mailbox`]). Its driver, a madsim task on the
//! node's madsim node, pops whatever is due and calls the handler, so madsim's kill,
//! restart and pause act on the driver exactly as on a real process.
//!
//! The world, which holds every mailbox, also knows when the next event anywhere is due.
//! After each driver runs, [`World::wake_next`] moves madsim's clock to that instant and
//! wakes the driver(s) it belongs to, so delivery costs one task wake-up and no madsim
//! timer. The one thing the world cannot see is the nemesis timeline on the main task;
//! the main task tells it when it next wakes (the horizon), and the world never moves the
//! clock past it. Events beyond the horizon get one ordinary madsim timer (a backstop).
//!
//! The rest of the world is split by what it does:
//! - [`node`]: booting and crashing nodes, stepping them, applying their effects;
//! - [`client`]: the clients, run inside the node step that answers them;
//! - [`fault`]: what the nemesis does to the cluster, and selectors resolved against it;
//! - [`finish`]: the end of a run, read into a [`Simulation`].

mod client;
mod fault;
mod finish;
mod node;
mod trigger;

pub use trigger::kind_of;

pub use finish::Simulation;

use crate::agenda::{Agenda, Scan, NEVER};
use crate::client::Client;
use crate::clock::NodeClock;
use crate::disk::Disk;
use crate::mailbox::{Mailbox, NodeEvent, MAX_MAILBOX};
use crate::net::Net;
use crate::run::{stream, streams, Prepared};
use crate::trace::Trace;
use check::invariants::election_safety::ElectionSafety;
use madsim::time::{Sleep, TimeHandle};
use protocol::{Event, NodeEffect, NodeId, NodeStatus, RequestId, System, TimerId};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use scenario::Scenario;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

/// How the world reaches one endpoint's driver task: its waker, and the backstop timer
/// for an event beyond the horizon (see [`World::wake_next`]).
#[derive(Default)]
struct Wakeup {
    /// The driver task's waker; `None` until it first runs (or while it is dead).
    waker: Option<Waker>,
    /// One madsim `Sleep`, reset and polled once per arming.
    sleep: Option<Sleep>,
    /// When the backstop timer last registered fires; still pending while this is in
    /// the future.
    armed_ns: Option<u64>,
}

struct NodeSlot<S: System> {
    node: Option<S>,
    mailbox: Mailbox<NodeEvent<S::Msg, S::Op>>,
    wakeup: Wakeup,
    disk: Disk<S::Record>,
    clock: NodeClock,
    rng: ChaCha8Rng,
    /// Armed timers. Re-arming later (an election timer reset on every heartbeat) only
    /// moves `due_ns`: the queued event, when it comes up early, re-queues itself, so a
    /// reset costs nothing until then.
    timers: BTreeMap<TimerId, ArmedTimer>,
    status: Option<NodeStatus>,
    up: bool,
    paused: bool,
    /// When the current incarnation booted; packets that arrived earlier met a dead node.
    booted_ns: u64,
    /// Set at the first crash: later boots are restarts, worth a timeline line.
    crashed_before: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ArmedTimer {
    /// Matches the queued event; a fired event whose generation differs is stale.
    generation: u64,
    /// When the timer should fire.
    due_ns: u64,
    /// When its queued event comes up (never after `due_ns`).
    queued_ns: u64,
}

/// A client has no mailbox: the world runs its steps inside the node step that answers
/// it, and its driver wakes only at an operation's deadline (see [`client`]).
struct ClientSlot<S: System> {
    client: Client<S::Workload>,
    wakeup: Wakeup,
}

pub struct World<S: System> {
    time: TimeHandle,
    base: std::time::Instant,
    cluster: Vec<NodeId>,
    /// Nodes `0..replicas` hold data; the rest are the system's extra nodes.
    replicas: usize,
    config: S::Config,
    nodes: Vec<NodeSlot<S>>,
    clients: Vec<ClientSlot<S>>,
    net: Net,
    trace: Trace,
    history: Vec<Event<S::Op>>,
    election: ElectionSafety,
    /// Which client (and attempt) a request id belongs to, to route the reply.
    requests: BTreeMap<RequestId, usize>,
    next_req: u64,
    seq: u64,
    /// Names each arming of a node timer, so a stale queued event can tell it was superseded.
    timer_generation: u64,
    effects: Vec<NodeEffect<S>>,
    torn_writes: bool,
    fault_rng: ChaCha8Rng,
    /// The main task's next wake-up (simulated ns): the world moves the clock itself only
    /// up to here, so no nemesis action is ever overtaken. Zero until the main task says.
    horizon_ns: u64,
    /// When each endpoint (nodes, then clients) must next run.
    agenda: Agenda,
    /// Clients start no operation at or after this (the faults' end, or the liveness
    /// phase's).
    clients_stop_ns: u64,
    /// The run ends here: a reply arriving later is never seen by its client.
    end_ns: u64,
    /// The liveness window, if the scenario has a liveness phase (see [`Phases`]).
    liveness: Option<(u64, u64)>,
    /// Faults fired by protocol events.
    triggers: trigger::Triggers,
    /// While a triggered fault is done: the node whose event fired it.
    trigger_node: Option<usize>,
    /// In replay mode, what a report draws (see [`crate::wires`]).
    wires: Option<crate::wires::Wires>,
    /// madsim's handle and each node's madsim node, to kill, restart, pause and resume
    /// them: the nemesis at its times, a trigger inside a node's step.
    madsim: Option<(madsim::runtime::Handle, Vec<madsim::task::NodeId>)>,
}

/// When a run's phases end: the faults at `duration`; then, with a liveness phase,
/// everything healed while clients keep going until `clients_stop`; then the quiesce,
/// clients stopped, until `end`.
pub struct Phases {
    pub faults: Duration,
    pub clients_stop: Duration,
    pub end: Duration,
    /// The liveness phase's second half (simulated ns): every operation invoked in it
    /// must be served. The first half is the system's to recover in.
    pub watched_ns: Option<(u64, u64)>,
}

impl Phases {
    pub fn of(sc: &Scenario) -> Phases {
        let liveness = sc.liveness.unwrap_or_default();
        let clients_stop = sc.duration + liveness;
        let watched_ns = sc.liveness.map(|l| {
            let from = sc.duration + l / 2;
            (from.as_nanos() as u64, clients_stop.as_nanos() as u64)
        });
        Phases {
            faults: sc.duration,
            clients_stop,
            end: clients_stop + sc.quiesce,
            watched_ns,
        }
    }
}

/// The world as its tasks share it.
pub type Shared<S> = Arc<Mutex<World<S>>>;

/// A node's clock drawn from the clock stream: offset and drift uniform within the
/// scenario's bounds.
fn draw_clock(rng: &mut ChaCha8Rng, max_offset_ns: u64, max_drift_ppm: u64) -> NodeClock {
    let offset_ns = if max_offset_ns > 0 {
        (rng.next_u64() % (2 * max_offset_ns + 1)) as i64 - max_offset_ns as i64
    } else {
        0
    };
    let drift_ppm = if max_drift_ppm > 0 {
        (rng.next_u64() % (2 * max_drift_ppm + 1)) as i64 - max_drift_ppm as i64
    } else {
        0
    };
    NodeClock {
        offset_ns,
        drift_ppm,
    }
}

impl<S: System> World<S> {
    /// The madsim nodes the drivers run on, by node index: the world kills, restarts,
    /// pauses and resumes them.
    pub fn attach(&mut self, handle: madsim::runtime::Handle, nodes: Vec<madsim::task::NodeId>) {
        assert_eq!(nodes.len(), self.nodes.len(), "a madsim node per node");
        self.madsim = Some((handle, nodes));
    }

    /// The world of `p` run with `seed`, every driver still to start.
    pub fn new(p: &Prepared<S>, seed: u64, replay: bool, time: TimeHandle) -> World<S> {
        let sc = &p.scenario;
        let n = p.shape.nodes() as usize;
        let mut clock_rng = stream(seed, streams::CLOCKS);
        let max_offset = sc.clock.max_offset.as_nanos() as u64;
        let nodes: Vec<NodeSlot<S>> = (0..n)
            .map(|i| NodeSlot {
                node: None,
                mailbox: Mailbox::new(),
                wakeup: Wakeup::default(),
                disk: Disk::new(),
                clock: draw_clock(&mut clock_rng, max_offset, sc.clock.max_drift_ppm),
                rng: stream(seed, streams::NODE + i as u64),
                timers: BTreeMap::new(),
                status: None,
                up: false,
                paused: false,
                booted_ns: 0,
                crashed_before: false,
            })
            .collect();
        let phases = Phases::of(sc);
        let clients: Vec<ClientSlot<S>> = (0..sc.workload.clients)
            .map(|c| {
                let mut client = Client::new(
                    c,
                    &sc.workload,
                    p.client_workload(c),
                    stream(seed, streams::CLIENT + u64::from(c)),
                );
                if let Some((from, until)) = phases.watched_ns {
                    client.watch_service(from, until);
                }
                ClientSlot {
                    client,
                    wakeup: Wakeup::default(),
                }
            })
            .collect();
        let base = time.now_instant() - time.elapsed();
        // Every driver is created with the world and first runs at time zero.
        let mut agenda = Agenda::new(n + clients.len());
        for e in 0..n + clients.len() {
            agenda.mark_ready(e);
        }
        // An invocation and a completion per operation: reserve the history up front
        // rather than regrow (and copy) it through the run.
        let secs = phases.end.as_secs_f64();
        let expected = (2.0 * sc.workload.rate_per_s * secs).min(1e7) as usize + 16;
        World {
            time,
            base,
            cluster: (1..=n as u32).map(NodeId).collect(),
            replicas: p.shape.replicas as usize,
            config: p.config.clone(),
            election: ElectionSafety::new(n, true),
            nodes,
            clients,
            net: Net::new(sc.network.clone(), n, stream(seed, streams::NET)),
            trace: Trace::new(replay),
            history: Vec::with_capacity(expected),
            requests: BTreeMap::new(),
            next_req: 1,
            seq: 0,
            timer_generation: 0,
            effects: Vec::new(),
            torn_writes: sc.disk.torn_writes,
            fault_rng: stream(seed, streams::FAULTS),
            horizon_ns: 0,
            agenda,
            clients_stop_ns: phases.clients_stop.as_nanos() as u64,
            end_ns: phases.end.as_nanos() as u64,
            liveness: phases.watched_ns,
            triggers: trigger::Triggers::of(sc),
            wires: replay.then(crate::wires::Wires::default),
            trigger_node: None,
            madsim: None,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.time.elapsed().as_nanos() as u64
    }

    /// Nodes in the cluster, replicas and extras.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// A driver task was polled (one per madsim timer that fired, plus spurious ones).
    pub fn count_wakeup(&mut self) {
        self.trace.stats.wakeups += 1;
    }

    /// Registers a madsim timer (a backstop) that wakes the driver at `at_ns` (simulated,
    /// since start), unless one already pending will wake it by then.
    fn arm(time: &TimeHandle, base: std::time::Instant, wk: &mut Wakeup, now_ns: u64, at_ns: u64) {
        assert!(at_ns > now_ns, "a backstop is for an event still to come");
        if wk.armed_ns.is_some_and(|a| a > now_ns && a <= at_ns) {
            return;
        }
        let Some(w) = &wk.waker else {
            unreachable!("only a live driver is armed");
        };
        let deadline = base + std::time::Duration::from_nanos(at_ns);
        let sleep = wk.sleep.get_or_insert_with(|| time.sleep_until(deadline));
        let mut sleep = Pin::new(sleep);
        sleep.as_mut().reset(deadline);
        // Polling registers the timer; the timer holds its own clone of the waker. A ready
        // Sleep would register nothing, and the event would wait forever.
        let pending = sleep.poll(&mut Context::from_waker(w)).is_pending();
        assert!(pending, "a timer for a later instant is not due");
        wk.armed_ns = Some(at_ns);
    }

    /// Sets the main task's next wake-up (the horizon), past which the world never moves
    /// the clock.
    pub fn set_horizon(&mut self, at_ns: u64) {
        self.horizon_ns = at_ns;
    }

    /// Gets the next event delivered: wakes every driver with an event due now, or moves
    /// madsim's clock to the next event and wakes its driver(s), or, if that event lies
    /// beyond the horizon, arms a backstop timer for it. Runs after every driver poll and
    /// whenever the main task changes the cluster. Down and paused endpoints are left
    /// out: a boot or a resume brings them back in.
    ///
    /// Equal instants wake several drivers at once, and madsim's executor picks their
    /// order from its seeded RNG, as it would for timers firing together.
    pub fn wake_next(&mut self) {
        let mut now = self.now_ns();
        let Scan {
            next,
            first,
            any_ready,
        } = self.agenda.scan();
        if next == NEVER {
            return; // nothing queued: only the main task's next action can bring more
        }
        if next > now {
            if any_ready {
                // A driver still to run at this instant may queue something earlier; the
                // last of them to run moves the clock.
                return;
            }
            if next > self.horizon_ns {
                // The main task acts first; an ordinary timer picks up from there.
                let (time, base) = (&self.time, self.base);
                match first.checked_sub(self.nodes.len()) {
                    None => Self::arm(time, base, &mut self.nodes[first].wakeup, now, next),
                    Some(c) => Self::arm(time, base, &mut self.clients[c].wakeup, now, next),
                }
                return;
            }
            self.time
                .advance(std::time::Duration::from_nanos(next - now));
            // `advance` adds exactly the duration: no need to read the clock again.
            now = next;
        }
        let n = self.nodes.len();
        for e in 0..self.agenda.endpoints() {
            if self.agenda.take_due(e, now) {
                let waker = match e.checked_sub(n) {
                    None => self.nodes[e].wakeup.waker.as_ref(),
                    Some(c) => self.clients[c].wakeup.waker.as_ref(),
                };
                waker.expect("a due endpoint has a driver").wake_by_ref();
            }
        }
    }

    /// The agenda's view of node `idx` after its mailbox or state changed.
    fn refresh_node(&mut self, idx: usize) {
        let slot = &self.nodes[idx];
        let due = if slot.up && !slot.paused {
            slot.mailbox.next_at().unwrap_or(NEVER)
        } else {
            NEVER
        };
        self.agenda.set_due(idx, due);
    }

    /// A client's driver runs only at its operation's deadline.
    fn refresh_client(&mut self, idx: usize) {
        let due = self.clients[idx].client.deadline_ns().unwrap_or(NEVER);
        self.agenda.set_due(self.nodes.len() + idx, due);
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queues `event` for node `to` at `at_ns`; `now` is the current simulated time.
    fn schedule_node(&mut self, now: u64, to: usize, at_ns: u64, event: NodeEvent<S::Msg, S::Op>) {
        let seq = self.next_seq();
        let slot = &mut self.nodes[to];
        assert!(
            slot.mailbox.len() < MAX_MAILBOX,
            "mailbox of n{} overflowed",
            to + 1
        );
        assert!(at_ns >= now, "an event scheduled in the past");
        slot.mailbox.push(at_ns, seq, event);
        if slot.up && !slot.paused {
            self.agenda.lower_due(to, at_ns);
        }
    }
}
