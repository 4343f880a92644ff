//! One run: a scenario, a system, a seed. Builds the madsim world, plays the fault
//! timeline, stops the clients, heals, quiesces, and judges the result.

use crate::client::Client;
use crate::clock::NodeClock;
use crate::disk::Disk;
use crate::net::Net;
use crate::trace::{fmt_time, Stats, Trace};
use crate::world::{ClientSlot, Driver, Mailbox, NodeSlot, Shared, Wakeup, World};
use check::history::History;
use check::invariants::Violation;
use madsim::runtime::{Handle, Runtime};
use protocol::{Node, NodeId, Role, StateView};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use scenario::{Action, Scenario, Selector, WorkloadKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A system the harness can run: its node, messages and records move between madsim
/// tasks (the one runtime thread, but madsim's spawn asks for `Send`).
pub trait SimNode: Node<Msg: Send, Record: Send, Config: Send + Sync> + Send + 'static {}

impl<N> SimNode for N where N: Node<Msg: Send, Record: Send, Config: Send + Sync> + Send + 'static {}

#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Keep a readable line per event (replay); slower.
    pub replay: bool,
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunReport {
    pub system: String,
    pub seed: u64,
    pub digest: u64,
    pub violations: Vec<Violation>,
    /// Faults and role changes (simulated ns, text).
    pub timeline: Vec<(u64, String)>,
    pub log: Vec<String>,
    pub stats: Stats,
    pub history: History,
    pub final_states: Vec<(NodeId, StateView)>,
    pub end_ns: u64,
}

impl RunReport {
    pub fn violated(&self) -> std::collections::BTreeSet<String> {
        self.violations
            .iter()
            .map(|v| v.invariant.to_string())
            .collect()
    }
}

/// A named stream of the run's randomness: one seed derives everything.
pub fn stream(seed: u64, label: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(label);
    rng
}

mod streams {
    pub const NET: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const CLOCKS: u64 = 3;
    pub const NODE: u64 = 100;
    pub const CLIENT: u64 = 1000;
}

pub fn run<N>(
    sc: &Scenario,
    system: &str,
    kind: WorkloadKind,
    config: N::Config,
    seed: u64,
    nodes: usize,
    opts: &RunOptions,
) -> RunReport
where
    N: SimNode,
{
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let owned = sc.clone();
    let name = system.to_string();
    let opts = opts.clone();
    // A node's own assertion failing (raft's "truncating a committed entry") is a finding
    // about the system, not a crash of the testbed: report it as a violation of the run.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(
            async move { simulate::<N>(owned, name, kind, config, seed, nodes, opts).await },
        )
    }));
    let mut report = match outcome {
        Ok(report) => report,
        Err(payload) => return panicked(system, seed, payload),
    };
    // Judged outside the runtime: inside it, madsim intercepts the clock, and the history
    // checkers' wall-clock budget would never run out.
    let judged = crate::judge::judge(
        &report.system,
        sc,
        kind,
        &report.history,
        &report.final_states,
    );
    report.violations.extend(judged);
    report
}

fn panicked(system: &str, seed: u64, payload: Box<dyn std::any::Any + Send>) -> RunReport {
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string());
    RunReport {
        system: system.to_string(),
        seed,
        // No trace survives a panic; the digest says so rather than faking one.
        digest: 0,
        violations: vec![Violation {
            invariant: "panic",
            at_ns: None,
            detail: format!("a node panicked: {message}"),
        }],
        timeline: Vec::new(),
        log: Vec::new(),
        stats: Stats::default(),
        history: History::default(),
        final_states: Vec::new(),
        end_ns: 0,
    }
}

async fn simulate<N>(
    sc: Scenario,
    system: String,
    kind: WorkloadKind,
    config: N::Config,
    seed: u64,
    n: usize,
    opts: RunOptions,
) -> RunReport
where
    N: SimNode,
{
    let handle = Handle::current();
    let time = madsim::time::TimeHandle::current();
    let mut clock_rng = stream(seed, streams::CLOCKS);
    let max_offset = sc.clock.max_offset.as_nanos() as u64;
    let nodes: Vec<NodeSlot<N>> = (0..n)
        .map(|i| {
            let offset = if max_offset > 0 {
                (clock_rng.next_u64() % (2 * max_offset + 1)) as i64 - max_offset as i64
            } else {
                0
            };
            let drift = if sc.clock.max_drift_ppm > 0 {
                (clock_rng.next_u64() % (2 * sc.clock.max_drift_ppm + 1)) as i64
                    - sc.clock.max_drift_ppm as i64
            } else {
                0
            };
            NodeSlot {
                node: None,
                mailbox: Mailbox::new(),
                wakeup: Wakeup::default(),
                disk: Disk::new(),
                clock: NodeClock {
                    offset_ns: offset,
                    drift_ppm: drift,
                },
                rng: stream(seed, streams::NODE + i as u64),
                timers: Default::default(),
                status: None,
                up: false,
                paused: false,
                booted_ns: 0,
                crashed_before: false,
            }
        })
        .collect();
    let clients: Vec<ClientSlot> = (0..sc.workload.clients)
        .map(|c| {
            ClientSlot::new(Client::new(
                c,
                &sc.workload,
                kind,
                stream(seed, streams::CLIENT + u64::from(c)),
            ))
        })
        .collect();
    let net = Net::new(sc.network.clone(), n, stream(seed, streams::NET));
    let world: Shared<N> = Arc::new(Mutex::new(World::new(
        time.clone(),
        config,
        nodes,
        clients,
        net,
        Trace::new(opts.replay),
        sc.disk.torn_writes,
        stream(seed, streams::FAULTS),
    )));

    {
        // An invocation and a completion per operation: reserve the history up front
        // rather than regrow (and copy) it through the run.
        let secs = (sc.duration + sc.quiesce).as_secs_f64();
        let expected = (2.0 * sc.workload.rate_per_s * secs).min(1e7) as usize + 16;
        let mut w = world.lock().expect("world");
        w.history.reserve(expected);
        w.clients_stop_ns = sc.duration.as_nanos() as u64;
        w.end_ns = (sc.duration + sc.quiesce).as_nanos() as u64;
    }
    let mut madsim_ids = Vec::new();
    for i in 0..n {
        let w = Arc::downgrade(&world);
        let node = handle
            .create_node()
            .name(format!("n{}", i + 1))
            .init(move || Driver {
                world: w.clone(),
                index: i,
                is_client: false,
                booted: false,
            })
            .build();
        madsim_ids.push(node.id());
    }
    for c in 0..sc.workload.clients as usize {
        let w = Arc::downgrade(&world);
        handle
            .create_node()
            .name(format!("client{c}"))
            .init(move || Driver {
                world: w.clone(),
                index: c,
                is_client: true,
                booted: false,
            })
            .build();
    }

    // The fault timeline, with repeats unrolled, in time order (stable for equal times).
    let mut faults: Vec<(Duration, &Action)> = Vec::new();
    for f in &sc.timeline {
        for k in 0..f.times {
            faults.push((f.at + f.every.unwrap_or_default() * k, &f.action));
        }
    }
    faults.sort_by_key(|(at, _)| *at);
    let start = time.now_instant() - time.elapsed();
    for (at, action) in faults {
        if at <= sc.duration {
            sleep_until(&world, &time, start, at).await;
            nemesis(&world, &handle, &madsim_ids, sc.nodes as usize, action);
        }
    }
    sleep_until(&world, &time, start, sc.duration).await;

    // Quiesce: clients stop, faults heal, every node runs again.
    {
        let mut w = world.lock().expect("world");
        let now = w.now_ns();
        w.net.heal();
        w.net.set_loss(0.0);
        w.trace.mark(
            now,
            "quiesce: clients stop, network heals, nodes restart".into(),
        );
    }
    for (i, &id) in madsim_ids.iter().enumerate() {
        let (up, paused) = {
            let w = world.lock().expect("world");
            (w.nodes[i].up, w.nodes[i].paused)
        };
        if paused {
            world.lock().expect("world").set_paused(i, false);
            handle.resume(id);
        }
        if !up {
            world.lock().expect("world").expect_boot(i);
            handle.restart(id);
        }
    }
    sleep_until(&world, &time, start, sc.duration + sc.quiesce).await;

    let mut w = world.lock().expect("world");
    let end_ns = w.now_ns();
    assert!(
        w.history.windows(2).all(|e| e[0].time_ns <= e[1].time_ns),
        "the history is in time order"
    );
    let mut final_states = Vec::new();
    for (i, slot) in w.nodes.iter().enumerate() {
        if let Some(node) = &slot.node {
            if node.status().role != Role::Observer {
                final_states.push((NodeId(i as u32 + 1), node.state()));
            }
        }
    }
    let history = History {
        events: std::mem::take(&mut w.history),
    };
    let violations: Vec<Violation> = w.election.violations().to_vec();
    for (_, s) in &final_states {
        w.trace.feed(&[s.digest()]);
    }
    w.trace.feed(&[history.events.len() as u64]);
    RunReport {
        system,
        seed,
        digest: w.trace.digest(),
        violations,
        timeline: std::mem::take(&mut w.trace.timeline),
        log: w.trace.take_log(),
        stats: w.trace.stats,
        history,
        final_states,
        end_ns,
    }
}

/// Sleeps the main task until `at` (since the run's start). The world is told first: it
/// moves the clock itself only up to the main task's next wake-up, and this is the moment
/// to pick up whatever the last action changed (a restart, a resume).
async fn sleep_until<N: Node>(
    world: &Shared<N>,
    time: &madsim::time::TimeHandle,
    start: std::time::Instant,
    at: Duration,
) {
    // madsim sleeps at least 1 ms: the deadline is what it will really be.
    let sleep = madsim::time::sleep_until(start + at);
    let deadline_ns = (sleep.deadline() - start).as_nanos() as u64;
    {
        let mut w = world.lock().expect("world");
        w.set_horizon(deadline_ns);
        w.wake_next();
    }
    sleep.await;
    // Only the executor's own nudges (tens of ns per task run) separate the two; a late
    // wake-up would mean the world moved the clock past a nemesis action.
    let woke_ns = time.elapsed().as_nanos() as u64;
    assert!(
        (deadline_ns..deadline_ns + 100_000).contains(&woke_ns),
        "the main task, due at {deadline_ns} ns, woke at {woke_ns} ns"
    );
}

/// Resolves a selector against the cluster as it is now; `replicas` is the scenario's
/// node count (a system may run more: term-bully's monitor).
fn resolve<N: Node>(w: &mut World<N>, replicas: usize, sel: &Selector) -> Vec<usize> {
    let n = w.nodes.len();
    let leader = || -> Option<usize> {
        w.nodes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.up && s.status.is_some_and(|st| st.role == Role::Leader))
            .max_by_key(|(i, s)| (s.status.and_then(|st| st.term), usize::MAX - i))
            .map(|(i, _)| i)
    };
    let minority = n.saturating_sub(1) / 2;
    let draw = |w: &mut World<N>, k: usize, from: Vec<usize>| -> Vec<usize> {
        let mut pool = from;
        let mut out = Vec::new();
        while out.len() < k && !pool.is_empty() {
            let i = (w.fault_rng.next_u64() % pool.len() as u64) as usize;
            out.push(pool.remove(i));
        }
        out.sort_unstable();
        out
    };
    let mut picked = match sel {
        Selector::All => (0..n).collect(),
        Selector::Monitor => (replicas..n).collect(),
        Selector::Nodes(ids) => ids.iter().map(|i| *i as usize - 1).collect(),
        Selector::Down => (0..n)
            .filter(|&i| !w.nodes[i].up || w.nodes[i].paused)
            .collect(),
        Selector::Random => draw(w, 1, (0..n).collect()),
        Selector::Minority => draw(w, minority.max(1), (0..n).collect()),
        Selector::Majority => {
            let minority = draw(w, minority.max(1), (0..n).collect());
            (0..n).filter(|i| !minority.contains(i)).collect()
        }
        Selector::Leader => match leader() {
            Some(l) => vec![l],
            None => draw(w, 1, (0..n).collect()),
        },
        Selector::Followers => {
            let l = leader();
            (0..n).filter(|i| Some(*i) != l).collect()
        }
        Selector::LeaderSide => {
            let l = leader().unwrap_or(0);
            let others: Vec<usize> = (0..n).filter(|i| *i != l).collect();
            let mut side = draw(w, minority.saturating_sub(1), others);
            side.push(l);
            side
        }
    };
    picked.sort_unstable();
    picked.dedup();
    picked
}

fn names(ids: &[usize]) -> String {
    ids.iter()
        .map(|i| format!("n{}", i + 1))
        .collect::<Vec<_>>()
        .join(",")
}

fn nemesis<N: Node>(
    world: &Shared<N>,
    handle: &Handle,
    madsim_ids: &[madsim::task::NodeId],
    replicas: usize,
    action: &Action,
) {
    let mut w = world.lock().expect("world");
    let now = w.now_ns();
    match action {
        Action::Crash { target } => {
            for i in resolve(&mut w, replicas, target) {
                if w.nodes[i].up {
                    handle.kill(madsim_ids[i]);
                    w.crash(i);
                }
            }
        }
        Action::Restart { target } => {
            for i in resolve(&mut w, replicas, target) {
                if !w.nodes[i].up {
                    w.trace.mark(now, format!("restart n{}", i + 1));
                    // The new driver boots the node on its first poll.
                    w.expect_boot(i);
                    handle.restart(madsim_ids[i]);
                }
            }
        }
        Action::Pause { target } => {
            for i in resolve(&mut w, replicas, target) {
                if w.nodes[i].up && !w.nodes[i].paused {
                    w.set_paused(i, true);
                    w.trace.mark(now, format!("pause n{}", i + 1));
                    handle.pause(madsim_ids[i]);
                }
            }
        }
        Action::Resume { target } => {
            for i in resolve(&mut w, replicas, target) {
                if w.nodes[i].paused {
                    w.set_paused(i, false);
                    w.trace.mark(now, format!("resume n{}", i + 1));
                    handle.resume(madsim_ids[i]);
                }
            }
        }
        Action::Isolate { target } => {
            let side = resolve(&mut w, replicas, target);
            for &i in &side {
                w.net.split(&[i]);
            }
            w.trace.mark(now, format!("isolate {}", names(&side)));
        }
        Action::Partition { target } => {
            let side = resolve(&mut w, replicas, target);
            w.net.split(&side);
            let rest: Vec<usize> = (0..w.nodes.len()).filter(|i| !side.contains(i)).collect();
            w.trace.mark(
                now,
                format!("partition {} | {}", names(&side), names(&rest)),
            );
        }
        Action::OneWay { from, to } => {
            let from = resolve(&mut w, replicas, from);
            let to = resolve(&mut w, replicas, to);
            for &a in &from {
                for &b in &to {
                    if a != b {
                        w.net.cut(a, b);
                    }
                }
            }
            // Name only real links: a lone node on one side is not also named on the other.
            let without = |side: &[usize], lone: &[usize]| -> Vec<usize> {
                side.iter()
                    .copied()
                    .filter(|x| lone.len() != 1 || !lone.contains(x))
                    .collect()
            };
            let shown = format!(
                "cut {} -> {}",
                names(&without(&from, &to)),
                names(&without(&to, &from))
            );
            w.trace.mark(now, shown);
        }
        Action::Heal => {
            w.net.heal();
            w.trace.mark(now, "heal".into());
        }
        Action::ClockJump { target, by_ns } => {
            let ids = resolve(&mut w, replicas, target);
            for &i in &ids {
                w.nodes[i].clock.jump(*by_ns);
            }
            let sign = if *by_ns < 0 { "-" } else { "+" };
            w.trace.mark(
                now,
                format!(
                    "clock {} {sign}{}",
                    names(&ids),
                    fmt_time(by_ns.unsigned_abs())
                ),
            );
        }
        Action::Loss { rate } => {
            w.net.set_loss(*rate);
            w.trace.mark(now, format!("loss {rate}"));
        }
    }
}
