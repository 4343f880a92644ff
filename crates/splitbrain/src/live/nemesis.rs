//! A scenario's timeline done to a live cluster: crashes are `kill -9`, restarts start the
//! same command over the same data directory, pauses are SIGSTOP/SIGCONT, partitions and
//! loss are the relays', clock jumps are the node's clock adapter. Selectors resolve
//! against the roles the nodes report now. At the end of the fault phase everything is
//! healed, resumed and restarted, as in simulation.

use super::observe::Observer;
use super::procs::Procs;
use super::relay::Relays;
use protocol::{InvariantId, Violation};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use real::net::Conn;
use real::wire::Request;
use scenario::selector::View;
use scenario::{Action, Fault, Scenario, Selector};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

/// How often the nemesis looks for nodes that exited by themselves.
const POLL: Duration = Duration::from_millis(50);

/// Why a scenario cannot run for real, or `Ok`: what the real cluster does not apply.
pub fn check(sc: &Scenario) -> Result<Vec<String>, String> {
    for f in &sc.timeline {
        let at = format!("{}:{}", sc.path.display(), f.line);
        if f.on.is_some() {
            return Err(format!(
                "{at}: field `on`: a triggered fault needs the simulator, which sees inside \
                 a node's step; real mode runs faults on the clock only"
            ));
        }
        if let Action::Latency { .. } = f.action {
            return Err(format!(
                "{at}: field `do`: `latency` is not done by real mode's relays (they cut and \
                 drop frames); expected one of crash, restart, pause, resume, isolate, \
                 partition, one-way, heal, clock-jump, loss"
            ));
        }
    }
    Ok(vec![
        "real mode: latency, duplication and reordering are loopback's own; clock drift and \
         torn writes are the machine's"
            .to_string(),
    ])
}

/// The timeline, each repeat expanded, in time order.
fn schedule(sc: &Scenario) -> Vec<(Duration, &Fault)> {
    let mut out = Vec::new();
    for f in &sc.timeline {
        let mut at = f.at;
        for _ in 0..f.times.max(1) {
            out.push((at, f));
            match f.every {
                Some(every) => at += every,
                None => break,
            }
        }
    }
    out.sort_by_key(|(at, f)| (*at, f.line));
    out
}

/// One fault the nemesis did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// Since the run's start, as scheduled.
    pub at: Duration,
    /// The action's name as a scenario writes it (`crash`, `partition`).
    pub action: &'static str,
    /// The node indexes its selector resolved to (0-based).
    pub nodes: Vec<usize>,
    /// The node that led when it was done, as the nodes reported.
    pub leader: Option<usize>,
}

/// What the nemesis did, and the nodes that exited by themselves meanwhile.
#[derive(Clone, Debug, Default)]
pub struct Acted {
    pub done: Vec<Done>,
    pub violations: Vec<Violation>,
}

/// The nemesis: acts on `procs` and `relays` on `sc`'s timeline from `start`, heals at
/// `heal_at`, and returns a violation for every node that exited by itself.
pub struct Nemesis<'a> {
    pub sc: &'a Scenario,
    pub procs: &'a mut Procs,
    pub relays: &'a Relays,
    pub replicas: usize,
    pub cluster: String,
    pub addrs: Vec<SocketAddr>,
    pub rng: ChaCha8Rng,
    pub heal_at: Duration,
    offsets: Vec<i64>,
}

impl<'a> Nemesis<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sc: &'a Scenario,
        procs: &'a mut Procs,
        relays: &'a Relays,
        replicas: usize,
        cluster: String,
        addrs: Vec<SocketAddr>,
        seed: u64,
        heal_at: Duration,
    ) -> Nemesis<'a> {
        let n = addrs.len();
        Nemesis {
            sc,
            procs,
            relays,
            replicas,
            cluster,
            addrs,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_6d65),
            heal_at,
            offsets: vec![0; n],
        }
    }

    pub async fn run(mut self, observer: &Observer) -> Acted {
        let start = observer.start();
        let mut exited = Vec::new();
        let mut done = Vec::new();
        if self.sc.network.loss > 0.0 {
            self.relays.set_loss(self.sc.network.loss);
        }
        let schedule: Vec<(Duration, Action)> = schedule(self.sc)
            .into_iter()
            .map(|(at, f)| (at, f.action.clone()))
            .collect();
        let heal_at = self.heal_at;
        for (at, action) in schedule.into_iter().filter(|(at, _)| *at < heal_at) {
            self.wait_until(start + at, &mut exited).await;
            let leader = observer.leader();
            let nodes = self.act(&action, observer).await;
            done.push(Done {
                at,
                action: action.verb(),
                nodes,
                leader,
            });
        }
        self.wait_until(start + self.heal_at, &mut exited).await;
        self.heal();
        Acted {
            done,
            violations: exited,
        }
    }

    /// Sleeps until `at`, noting nodes that exit on their own meanwhile.
    async fn wait_until(&mut self, at: Instant, exited: &mut Vec<Violation>) {
        while Instant::now() < at {
            sleep_until(at.min(Instant::now() + POLL)).await;
            for (idx, how) in self.procs.exited() {
                exited.push(Violation {
                    invariant: InvariantId::PANIC,
                    kind: "a node exited",
                    events: Vec::new(),
                    at_ns: None,
                    detail: format!(
                        "n{} exited by itself ({how}); its log ends:\n{}",
                        idx + 1,
                        self.procs.log_tail(idx, 8)
                    ),
                });
            }
        }
    }

    /// Heals every link, resumes every paused node, restarts every crashed one.
    fn heal(&mut self) {
        self.relays.heal();
        self.relays.set_loss(0.0);
        for idx in 0..self.procs.len() {
            self.procs.resume(idx);
            if let Err(e) = self.procs.restart(idx) {
                eprintln!("n{}: could not restart: {e}", idx + 1);
            }
        }
    }

    /// Does `action`; the nodes it touched.
    async fn act(&mut self, action: &Action, observer: &Observer) -> Vec<usize> {
        let n = self.procs.len();
        match action {
            Action::Crash { target } => {
                let nodes = self.resolve(target, observer);
                for &idx in &nodes {
                    self.procs.kill(idx);
                    observer.observe(idx, None);
                }
                nodes
            }
            Action::Restart { target } => {
                let nodes = self.resolve(target, observer);
                for &idx in &nodes {
                    if let Err(e) = self.procs.restart(idx) {
                        eprintln!("n{}: could not restart: {e}", idx + 1);
                    }
                }
                // A clock fault is the machine's, not the process's: it outlives a
                // restart, as in simulation.
                for &idx in nodes.iter().filter(|&&i| self.offsets[i] != 0) {
                    self.set_clock(idx).await;
                }
                nodes
            }
            Action::Pause { target } => {
                let nodes = self.resolve(target, observer);
                nodes.iter().for_each(|&idx| self.procs.pause(idx));
                nodes
            }
            Action::Resume { target } => {
                let nodes = self.resolve(target, observer);
                nodes.iter().for_each(|&idx| self.procs.resume(idx));
                nodes
            }
            Action::Isolate { target } => {
                let nodes = self.resolve(target, observer);
                for &idx in &nodes {
                    self.cut_between(&[idx], &(0..n).filter(|j| *j != idx).collect::<Vec<_>>());
                }
                nodes
            }
            Action::Partition { target } => {
                let side = self.resolve(target, observer);
                let rest: Vec<usize> = (0..n).filter(|j| !side.contains(j)).collect();
                self.cut_between(&side, &rest);
                side
            }
            Action::OneWay { from, to } => {
                let (from, to) = (self.resolve(from, observer), self.resolve(to, observer));
                for f in &from {
                    for t in to.iter().filter(|t| *t != f) {
                        self.relays.set_cut(*f, *t, true);
                    }
                }
                from
            }
            Action::Heal => {
                self.relays.heal();
                Vec::new()
            }
            Action::Loss { rate } => {
                self.relays.set_loss(*rate);
                Vec::new()
            }
            Action::ClockJump { target, by_ns } => {
                let nodes = self.resolve(target, observer);
                for &idx in &nodes {
                    self.offsets[idx] += by_ns;
                    self.set_clock(idx).await;
                }
                nodes
            }
            Action::Latency { .. } => unreachable!("refused by `check` before the run"),
        }
    }

    fn cut_between(&self, a: &[usize], b: &[usize]) {
        for x in a {
            for y in b {
                self.relays.set_cut(*x, *y, true);
                self.relays.set_cut(*y, *x, true);
            }
        }
    }

    /// Sets node `idx`'s clock offset, retrying while it starts (up to a second). The
    /// nemesis knows no system: `Clock` carries no operation, so `Request<()>` encodes
    /// to the same bytes as every system's request of that variant.
    async fn set_clock(&self, idx: usize) {
        let offset_ns = self.offsets[idx];
        let ask = async {
            loop {
                if let Ok(mut conn) = Conn::connect(self.addrs[idx], &self.cluster).await {
                    if conn.send(&Request::<()>::Clock { offset_ns }).await.is_ok() {
                        return;
                    }
                }
                sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(1), ask)
            .await
            .is_err()
        {
            eprintln!("n{}: could not set its clock", idx + 1);
        }
    }

    /// Node indexes `sel` names now, each once, in order, as the simulator resolves
    /// them (`Selector::resolve`), against the roles the nodes report.
    fn resolve(&mut self, sel: &Selector, observer: &Observer) -> Vec<usize> {
        let down: Vec<usize> = (0..self.procs.len())
            .filter(|&i| !self.procs.is_up(i) || self.procs.is_paused(i))
            .collect();
        let view = View {
            nodes: self.procs.len(),
            replicas: self.replicas,
            leader: observer.leader(),
            down: &down,
            trigger: None,
        };
        let rng = &mut self.rng;
        sel.resolve(&view, &mut || rng.next_u64())
    }
}
