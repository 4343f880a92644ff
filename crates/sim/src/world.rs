//! The shared state of one run and the thin driver that feeds each node its events.
//!
//! Every node has a mailbox: a heap of events ordered by (arrival time, sequence number).
//! Its driver, a madsim task on the node's madsim node, pops whatever is due and calls the
//! handler. So madsim's kill, restart and pause act on the driver exactly as on a real
//! process. Clients run inside the node step that answers them (see the clients section
//! below); their drivers wake only for timeouts.
//!
//! The world, which holds every mailbox, also knows when the next event anywhere is due.
//! After each driver runs, [`World::wake_next`] moves madsim's clock to that instant and
//! wakes the driver(s) it belongs to, so delivery costs one task wake-up and no madsim
//! timer. The one thing the world cannot see is the nemesis timeline on the main task;
//! the main task tells it when it next wakes (the horizon), and the world never moves the
//! clock past it. Events beyond the horizon get one ordinary madsim timer (a backstop).
//!
//! The driver makes no protocol decision: it turns events into handler calls and effects
//! into events, disk writes and trace entries.

use crate::agenda::{Agenda, Scan, NEVER};
use crate::client::{self, Client};
use crate::clock::NodeClock;
use crate::disk::Disk;
use crate::net::{Net, Transmit};
use crate::trace::Trace;
use check::history::Event;
use check::invariants::election_safety::ElectionSafety;
use madsim::time::{Sleep, TimeHandle};
use protocol::{ClientOp, ClientResult, Cx, Effect, Node, NodeId, NodeStatus, RequestId, TimerId};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Events waiting in one mailbox; beyond this a run is broken (a message storm).
pub const MAX_MAILBOX: usize = 1 << 20;

pub enum NodeEvent<M> {
    Msg { from: usize, msg: M, epoch: u32 },
    Timer { timer: TimerId, generation: u64 },
    Client { req: RequestId, op: ClientOp },
}

pub struct Pending<E> {
    at_ns: u64,
    event: E,
}

/// A heap entry: the ordering key and where the event waits in the mailbox's slab.
/// Events stay put while the heap sifts 24-byte keys.
struct Key {
    at_ns: u64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

pub struct Mailbox<E> {
    heap: BinaryHeap<Key>,
    /// The queued events, by slot; `None` in a free slot.
    slab: Vec<Option<E>>,
    free: Vec<u32>,
}

/// How the world reaches one endpoint's driver task: its waker, and the backstop timer
/// for an event beyond the horizon (see [`World::wake_next`]).
#[derive(Default)]
pub struct Wakeup {
    /// The driver task's waker; `None` until it first runs (or while it is dead).
    waker: Option<Waker>,
    /// One madsim `Sleep`, reset and polled once per arming.
    sleep: Option<Sleep>,
    /// When the backstop timer last registered fires; still pending while this is in
    /// the future.
    armed_ns: Option<u64>,
}

impl<E> Default for Mailbox<E> {
    fn default() -> Self {
        Mailbox::new()
    }
}

impl<E> Mailbox<E> {
    pub fn new() -> Mailbox<E> {
        Mailbox {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.heap.len()
    }

    fn push(&mut self, at_ns: u64, seq: u64, event: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Key { at_ns, seq, slot });
    }

    /// When the earliest queued event is due.
    fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|k| k.at_ns)
    }

    fn pop_due(&mut self, now_ns: u64) -> Option<Pending<E>> {
        if self.heap.peek().is_some_and(|k| k.at_ns <= now_ns) {
            let key = self.heap.pop().expect("peeked");
            let event = self.slab[key.slot as usize]
                .take()
                .expect("a queued key has its event");
            self.free.push(key.slot);
            Some(Pending {
                at_ns: key.at_ns,
                event,
            })
        } else {
            None
        }
    }
}

pub struct NodeSlot<N: Node> {
    pub node: Option<N>,
    pub mailbox: Mailbox<NodeEvent<N::Msg>>,
    pub wakeup: Wakeup,
    pub disk: Disk<N::Record>,
    pub clock: NodeClock,
    pub rng: ChaCha8Rng,
    /// Armed timers. Re-arming later (an election timer reset on every heartbeat) only
    /// moves `due_ns`: the queued event, when it comes up early, re-queues itself, so a
    /// reset costs nothing until then.
    pub timers: BTreeMap<TimerId, ArmedTimer>,
    pub status: Option<NodeStatus>,
    pub up: bool,
    pub paused: bool,
    /// When the current incarnation booted; packets that arrived earlier met a dead node.
    pub booted_ns: u64,
    /// Set at the first crash: later boots are restarts, worth a timeline line.
    pub crashed_before: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmedTimer {
    /// Matches the queued event; a fired event whose generation differs is stale.
    pub generation: u64,
    /// When the timer should fire.
    pub due_ns: u64,
    /// When its queued event comes up (never after `due_ns`).
    pub queued_ns: u64,
}

/// A client has no mailbox: the world runs its steps inside the node step that answers
/// it, and its driver wakes only at an operation's deadline (see the clients section of
/// [`World`]).
pub struct ClientSlot {
    pub client: Client,
    pub wakeup: Wakeup,
}

impl ClientSlot {
    pub fn new(client: Client) -> ClientSlot {
        ClientSlot {
            client,
            wakeup: Wakeup::default(),
        }
    }
}

pub struct World<N: Node> {
    time: TimeHandle,
    base: std::time::Instant,
    pub cluster: Vec<NodeId>,
    pub config: N::Config,
    pub nodes: Vec<NodeSlot<N>>,
    pub clients: Vec<ClientSlot>,
    pub net: Net,
    pub trace: Trace,
    pub history: Vec<Event>,
    pub election: ElectionSafety,
    /// Which client (and attempt) a request id belongs to, to route the reply.
    requests: BTreeMap<RequestId, usize>,
    next_req: u64,
    seq: u64,
    /// Names each arming of a node timer, so a stale queued event can tell it was superseded.
    timer_generation: u64,
    effects: Vec<Effect<N::Msg, N::Record>>,
    pub torn_writes: bool,
    pub fault_rng: ChaCha8Rng,
    /// The main task's next wake-up (simulated ns): the world moves the clock itself only
    /// up to here, so no nemesis action is ever overtaken. Zero until the main task says.
    horizon_ns: u64,
    /// When each endpoint (nodes, then clients) must next run.
    agenda: Agenda,
    /// Clients start no operation at or after this (the scenario's duration).
    pub clients_stop_ns: u64,
    /// The run ends here: a reply arriving later is never seen by its client.
    pub end_ns: u64,
}

pub type Shared<N> = Arc<Mutex<World<N>>>;

impl<N: Node> World<N> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        time: TimeHandle,
        config: N::Config,
        nodes: Vec<NodeSlot<N>>,
        clients: Vec<ClientSlot>,
        net: Net,
        trace: Trace,
        torn_writes: bool,
        fault_rng: ChaCha8Rng,
    ) -> World<N> {
        let base = time.now_instant() - time.elapsed();
        let cluster = (1..=nodes.len() as u32).map(NodeId).collect();
        // Every driver is created with the world and first runs at time zero.
        let mut agenda = Agenda::new(nodes.len() + clients.len());
        for e in 0..nodes.len() + clients.len() {
            agenda.mark_ready(e);
        }
        let has_terms = true;
        World {
            time,
            base,
            cluster,
            config,
            election: ElectionSafety::new(nodes.len(), has_terms),
            nodes,
            clients,
            net,
            trace,
            history: Vec::new(),
            requests: BTreeMap::new(),
            next_req: 1,
            seq: 0,
            timer_generation: 0,
            effects: Vec::new(),
            torn_writes,
            fault_rng,
            horizon_ns: 0,
            agenda,
            clients_stop_ns: u64::MAX,
            end_ns: u64::MAX,
        }
    }

    pub fn now_ns(&self) -> u64 {
        self.time.elapsed().as_nanos() as u64
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
        let client = &self.clients[idx].client;
        let due = client.outstanding.as_ref().map_or(NEVER, |o| o.deadline_ns);
        self.agenda.set_due(self.nodes.len() + idx, due);
    }

    /// Node `idx`'s driver is about to be restarted: madsim runs it at this instant.
    pub fn expect_boot(&mut self, idx: usize) {
        self.agenda.mark_ready(idx);
    }

    /// Pauses or resumes node `idx` (the caller pauses or resumes its madsim node).
    pub fn set_paused(&mut self, idx: usize, paused: bool) {
        self.nodes[idx].paused = paused;
        if paused {
            self.agenda.suspend(idx);
        } else {
            self.refresh_node(idx);
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Queues `event` for node `to` at `at_ns`; `now` is the current simulated time.
    fn schedule_node(&mut self, now: u64, to: usize, at_ns: u64, event: NodeEvent<N::Msg>) {
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

    fn fresh_req(&mut self, client: usize) -> RequestId {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.requests.insert(req, client);
        req
    }

    // ---- nodes ---------------------------------------------------------------------

    /// A (re)started driver: build the node from what survived on disk. Packets still in
    /// flight towards it are in its mailbox; [`World::wake_next`] counts it in again.
    pub fn boot(&mut self, idx: usize, waker: Waker) {
        let now = self.now_ns();
        let slot = &mut self.nodes[idx];
        assert!(slot.node.is_none(), "n{} booted twice", idx + 1);
        slot.wakeup.waker = Some(waker);
        slot.up = true;
        slot.paused = false;
        slot.booted_ns = now;
        slot.timers.clear();
        slot.wakeup.armed_ns = None;
        slot.node = Some(N::new(self.cluster[idx], &self.cluster, &self.config));
        self.trace.log(now, || format!("n{} boots", idx + 1));
        let disk = self.nodes[idx].disk.surviving().clone();
        self.agenda.ran(idx);
        self.refresh_node(idx);
        self.call(idx, now, |n, cx| n.on_start(cx, &disk));
    }

    pub fn crash(&mut self, idx: usize) {
        let now = self.now_ns();
        let torn = self.torn_writes;
        let slot = &mut self.nodes[idx];
        assert!(slot.up, "crashing a node that is down");
        slot.node = None;
        slot.up = false;
        slot.paused = false;
        slot.wakeup.waker = None;
        // Its backstop, if any, would wake a task madsim has dropped.
        slot.wakeup.armed_ns = None;
        slot.timers.clear();
        slot.status = None;
        slot.crashed_before = true;
        let lost = slot.disk.crash(torn, &mut self.fault_rng);
        self.agenda.suspend(idx);
        self.election.observe(now, idx, None);
        self.trace.mark(
            now,
            format!(
                "crash n{}{}",
                idx + 1,
                if lost > 0 {
                    format!(" ({lost} unsynced writes lost)")
                } else {
                    String::new()
                }
            ),
        );
    }

    /// Runs every event due at `idx`; the driver calls this each time it is woken.
    pub fn run_node(&mut self, idx: usize) {
        let now = self.now_ns();
        self.agenda.ran(idx);
        while let Some(p) = self.nodes[idx].mailbox.pop_due(now) {
            if p.at_ns < self.nodes[idx].booted_ns {
                self.trace.stats.dropped += 1;
                continue; // arrived while the node was down
            }
            match p.event {
                NodeEvent::Msg { from, msg, epoch } => {
                    if !self.net.deliverable(from, idx, epoch) {
                        self.trace.stats.dropped += 1;
                        self.trace.log(now, || {
                            format!("n{} -x n{} dropped in flight: {msg:?}", from + 1, idx + 1)
                        });
                        continue;
                    }
                    self.trace.stats.delivered += 1;
                    self.trace.feed(&[now, 1, from as u64, idx as u64]);
                    self.trace.feed_hash(&msg);
                    self.trace
                        .log(now, || format!("n{} -> n{} {msg:?}", from + 1, idx + 1));
                    let from_id = self.cluster[from];
                    self.call(idx, now, |n, cx| n.on_message(cx, from_id, msg));
                }
                NodeEvent::Timer { timer, generation } => {
                    let armed = match self.nodes[idx].timers.get(&timer) {
                        Some(a) if a.generation == generation => *a,
                        _ => continue, // cancelled or re-armed earlier since
                    };
                    if armed.due_ns > now {
                        // Re-armed later since this event was queued: follow it.
                        if let Some(a) = self.nodes[idx].timers.get_mut(&timer) {
                            a.queued_ns = armed.due_ns;
                        }
                        self.schedule_node(
                            now,
                            idx,
                            armed.due_ns,
                            NodeEvent::Timer { timer, generation },
                        );
                        continue;
                    }
                    self.nodes[idx].timers.remove(&timer);
                    self.trace.stats.timers += 1;
                    self.trace.feed(&[now, 2, idx as u64, timer.0]);
                    self.trace
                        .log(now, || format!("n{} timer {}", idx + 1, timer.0));
                    self.call(idx, now, |n, cx| n.on_timer(cx, timer));
                }
                NodeEvent::Client { req, op } => {
                    self.trace.stats.client_requests += 1;
                    self.trace.feed(&[now, 3, idx as u64, req.0]);
                    self.trace.log(now, || {
                        format!("n{} <- client {op} (req {})", idx + 1, req.0)
                    });
                    self.call(idx, now, |n, cx| n.on_client(cx, req, op));
                }
            }
        }
        self.refresh_node(idx);
    }

    fn call(
        &mut self,
        idx: usize,
        now: u64,
        f: impl FnOnce(&mut N, &mut Cx<'_, N::Msg, N::Record>),
    ) {
        let mut effects = std::mem::take(&mut self.effects);
        let slot = &mut self.nodes[idx];
        let local = protocol::Instant(slot.clock.local(now));
        let node = slot
            .node
            .as_mut()
            .expect("handlers run only on a live node");
        {
            let mut cx = Cx::new(
                self.cluster[idx],
                &self.cluster,
                local,
                &mut slot.rng,
                &mut effects,
            );
            f(node, &mut cx);
        }
        let status = node.status();
        for effect in effects.drain(..) {
            self.apply(idx, now, effect);
        }
        self.effects = effects;
        if self.nodes[idx].status != Some(status) {
            let before = self.nodes[idx].status.replace(status);
            // A first boot's initial status is noise; a restart's (term read back from
            // disk) is not.
            let first_boot = before.is_none() && !self.nodes[idx].crashed_before;
            if !first_boot && before.map(|b| (b.role, b.term)) != Some((status.role, status.term)) {
                let term = status.term.map_or(String::new(), |t| format!(" {t}"));
                self.trace
                    .mark(now, format!("n{} {}{term}", idx + 1, status.role));
            }
            self.election.observe(now, idx, Some(status));
        }
    }

    fn apply(&mut self, idx: usize, now: u64, effect: Effect<N::Msg, N::Record>) {
        match effect {
            Effect::Send { to, msg } => {
                let to = to.0 as usize - 1;
                assert!(
                    to < self.nodes.len() && to != idx,
                    "n{} sent to a node outside the cluster",
                    idx + 1
                );
                match self.net.transmit(idx, to) {
                    Transmit::Dropped(why) => {
                        self.trace.stats.dropped += 1;
                        self.trace.log(now, || {
                            format!("n{} -x n{} {why}: {msg:?}", idx + 1, to + 1)
                        });
                    }
                    Transmit::Arrives { delays, epoch } => {
                        // A duplicate (the second delay) gets a copy; the original moves.
                        let packet = |msg| NodeEvent::Msg {
                            from: idx,
                            msg,
                            epoch,
                        };
                        if let Some(d) = delays[1] {
                            self.schedule_node(now, to, now + d, packet(msg.clone()));
                        }
                        if let Some(d) = delays[0] {
                            self.schedule_node(now, to, now + d, packet(msg));
                        }
                    }
                }
            }
            Effect::SetTimer { timer, after } => {
                let slot = &mut self.nodes[idx];
                // The 1 ms floor dates from delivery on madsim timers; latency keeps one too
                // (ARCHITECTURE.md, where this differs from DESIGN.md).
                let due_ns = now + slot.clock.to_global(after.as_nanos() as u64).max(1_000_000);
                match slot.timers.get_mut(&timer) {
                    Some(a) if a.queued_ns <= due_ns => a.due_ns = due_ns,
                    _ => {
                        self.timer_generation += 1;
                        let generation = self.timer_generation;
                        slot.timers.insert(
                            timer,
                            ArmedTimer {
                                generation,
                                due_ns,
                                queued_ns: due_ns,
                            },
                        );
                        self.schedule_node(
                            now,
                            idx,
                            due_ns,
                            NodeEvent::Timer { timer, generation },
                        );
                    }
                }
            }
            Effect::CancelTimer { timer } => {
                self.nodes[idx].timers.remove(&timer);
            }
            Effect::Reply { req, result } => {
                if let Some(client) = self.requests.remove(&req) {
                    let at_ns = now + self.net.latency();
                    self.trace.log(now, || {
                        format!("n{} reply req {}: {result:?}", idx + 1, req.0)
                    });
                    self.client_reply(client, now, at_ns, req, idx, result);
                }
            }
            Effect::Persist { key, value } => self.nodes[idx].disk.persist(key, value),
            Effect::Erase { key } => self.nodes[idx].disk.erase(key),
            Effect::Sync => self.nodes[idx].disk.sync(),
            Effect::Note(text) => {
                self.trace.feed(&[now, 4, idx as u64, text.len() as u64]);
                self.trace.log(now, || format!("n{}: {text}", idx + 1));
            }
        }
    }

    // ---- clients -------------------------------------------------------------------
    //
    // A client is a deterministic function of the replies it gets: between a reply's
    // emission and its arrival nothing else reaches the client (it has one request in
    // flight; a late reply to an abandoned attempt changes nothing). So the world runs the
    // client's reaction when the node emits the reply, stamped with the arrival time, and
    // an idle client's next operation is decided then too, stamped with its tick. Clients
    // cost no wake-up for ticks or replies; their drivers wake only at an operation's
    // deadline. History events stamped ahead of the clock are placed in time order.

    pub fn boot_client(&mut self, idx: usize, waker: Waker) {
        let now = self.now_ns();
        let c = &mut self.clients[idx];
        c.wakeup.waker = Some(waker);
        // Spread clients over the first interval so they do not move in lockstep.
        let phase = crate::rand_below(&mut c.client.rng, c.client.interval_ns).max(1_000_000);
        c.client.next_tick_ns = now + phase;
        self.start_next_op(idx, now, now);
    }

    /// The client's deadline passed with no answer: the outcome is unknown.
    pub fn run_client(&mut self, idx: usize) {
        let now = self.now_ns();
        self.agenda.ran(self.nodes.len() + idx);
        let client = &mut self.clients[idx].client;
        if client
            .outstanding
            .as_ref()
            .is_some_and(|o| o.deadline_ns <= now)
        {
            let recorded_from = self.history.len();
            client.on_timeout(now, &mut self.history);
            self.settle_history(recorded_from);
            self.requests.retain(|_, c| *c != idx);
            self.start_next_op(idx, now, now);
        }
        self.refresh_client(idx);
    }

    /// Client `idx` is idle from `idle_ns` on: starts its operation at the first tick from
    /// then, unless clients have stopped by that tick. `now` is the clock.
    fn start_next_op(&mut self, idx: usize, now: u64, idle_ns: u64) {
        let nodes = self.nodes.len();
        let client = &mut self.clients[idx].client;
        let tick = client.tick_at_or_after(idle_ns);
        if tick >= self.clients_stop_ns {
            return;
        }
        let req = RequestId(self.next_req);
        let recorded_from = self.history.len();
        let request = client.on_tick(tick, req, nodes, &mut self.history);
        self.settle_history(recorded_from);
        self.fresh_req(idx);
        self.send_request(idx, now, tick, request);
        self.refresh_client(idx);
    }

    /// Client `idx` sends `request` at `at_ns`; `now` is the clock.
    fn send_request(&mut self, idx: usize, now: u64, at_ns: u64, request: client::Request) {
        let client::Request { req, op, target } = request;
        self.trace
            .feed(&[at_ns, 5, idx as u64, target as u64, req.0]);
        self.trace.log(at_ns, || {
            format!("client {idx} -> n{} {op} (req {})", target + 1, req.0)
        });
        let delay = self.net.latency();
        self.schedule_node(now, target, at_ns + delay, NodeEvent::Client { req, op });
    }

    /// The reply to `req` from node `from`, emitted at `now`, reaches client `idx` at
    /// `at_ns`, unless the operation's deadline or the run's end comes first (then the
    /// client never sees it: a timeout, or an operation left open).
    fn client_reply(
        &mut self,
        idx: usize,
        now: u64,
        at_ns: u64,
        req: RequestId,
        from: usize,
        result: ClientResult,
    ) {
        let seen = self.clients[idx]
            .client
            .outstanding
            .as_ref()
            .is_some_and(|o| o.req == req && at_ns < o.deadline_ns);
        if !seen || at_ns > self.end_ns {
            return;
        }
        self.trace.stats.client_replies += 1;
        let next = RequestId(self.next_req);
        let nodes = self.nodes.len();
        let recorded_from = self.history.len();
        let action = self.clients[idx].client.on_reply(
            at_ns,
            req,
            from,
            result,
            next,
            nodes,
            &mut self.history,
        );
        self.settle_history(recorded_from);
        match action {
            Some(client::Action::Send(request)) => {
                self.fresh_req(idx);
                self.send_request(idx, now, at_ns, request);
            }
            Some(client::Action::Done) => self.start_next_op(idx, now, at_ns),
            None => unreachable!("the reply answers the operation in flight"),
        }
        self.refresh_client(idx);
    }

    /// Moves what was recorded from `from` on (at most one event: one client's step) back
    /// to its place in time order; events at equal times keep the order they came in.
    fn settle_history(&mut self, from: usize) {
        assert!(self.history.len() <= from + 1, "one event per client step");
        if self.history.len() == from + 1 {
            let time = self.history[from].time_ns;
            let mut at = from;
            while at > 0 && self.history[at - 1].time_ns > time {
                at -= 1;
            }
            self.history[at..].rotate_right(1);
        }
    }
}

/// The driver of one endpoint: runs whatever is due each time a timer wakes it, forever.
/// It never completes; madsim drops it when the node is killed.
pub struct Driver<N: Node> {
    /// Weak: the world holds this task's waker (and, through madsim's timers, more of
    /// them), so a strong reference here would be a cycle that keeps every run's world
    /// and tasks alive after the run (~0.7 MB a seed). The run owns the world.
    pub world: std::sync::Weak<Mutex<World<N>>>,
    pub index: usize,
    pub is_client: bool,
    pub booted: bool,
}

impl<N: Node> Future for Driver<N> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(world) = this.world.upgrade() else {
            return Poll::Pending; // the run is over; madsim is tearing its tasks down
        };
        let mut w = world
            .lock()
            .expect("a handler panicked while holding the world");
        if !this.booted {
            this.booted = true;
            if this.is_client {
                w.boot_client(this.index, cx.waker().clone());
            } else {
                w.boot(this.index, cx.waker().clone());
            }
        }
        w.trace.stats.wakeups += 1;
        if this.is_client {
            w.run_client(this.index);
        } else {
            w.run_node(this.index);
        }
        w.wake_next();
        Poll::Pending
    }
}
