//! Shrinking: the smallest scenario in which the same invariant still fails on the same
//! seed. First delta debugging over the fault timeline (Zeller's ddmin: drop halves,
//! then quarters, ... of the entries while the failure stays), then fewer repeats; then
//! the numbers one at a time, each by bisection (clients, rate, keys, duration, nodes)
//! or straight to its plain value (loss, duplication, reordering, latency, clock skew,
//! torn writes, the mix's operations); rounds until nothing more goes.
//!
//! Each candidate is written out and parsed back ([`ScenarioBuilder::from_scenario`]),
//! so whatever the shrinker produces is a valid file; a candidate the parser or the
//! system refuses (explicit nodes beyond a smaller cluster, a size the system does not
//! admit) is simply not taken. Deterministic: the same file and seed shrink the same way.

use protocol::{InvariantId, Violation};
use scenario::{Expect, Scenario, ScenarioBuilder};
use sim::{Registry, RunOptions};
use std::collections::BTreeSet;
use std::time::Duration;

/// Rounds over every reduction; each round that removes nothing ends the shrink.
const MAX_ROUNDS: usize = 4;

/// How big a scenario is, as the shrinker reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Fault events, repeats unrolled.
    pub faults: u64,
    /// Client operations the run invoked.
    pub operations: u64,
    pub nodes: u32,
    /// Faults, liveness phase and quiesce together.
    pub simulated: Duration,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} faults, {} operations, {} nodes, {:.1}s simulated",
            self.faults,
            self.operations,
            self.nodes,
            self.simulated.as_secs_f64()
        )
    }
}

/// What a shrink started from and ended with.
pub struct Shrunk {
    pub scenario: Scenario,
    pub invariant: InvariantId,
    pub before: Size,
    pub after: Size,
    /// Candidates run.
    pub runs: usize,
    /// The smallest scenario's violations on the seed.
    pub violations: Vec<Violation>,
}

/// Why a shrink could not start.
#[derive(Debug)]
pub enum ShrinkError {
    /// The system refused the file, or is unknown.
    Run(String),
    /// Nothing fails on the seed: there is nothing to keep.
    Passes { seed: u64 },
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Run(e) => f.write_str(e),
            ShrinkError::Passes { seed } => {
                write!(f, "seed {seed} passes: there is no failure to shrink")
            }
        }
    }
}

struct Shrinker<'a> {
    registry: &'a Registry,
    system: &'a str,
    seed: u64,
    invariant: InvariantId,
    runs: usize,
}

/// Shrinks `sc` for `system` on `seed`, keeping its first violation's invariant.
pub fn shrink(
    registry: &Registry,
    sc: &Scenario,
    system: &str,
    seed: u64,
) -> Result<Shrunk, ShrinkError> {
    let first = registry
        .run(system, sc, seed, &RunOptions::default())
        .map_err(|e| ShrinkError::Run(e.to_string()))?;
    let invariant = first
        .violations
        .first()
        .map(|v| v.invariant)
        .ok_or(ShrinkError::Passes { seed })?;
    let before = size(sc, first.history.events() as u64 / 2);
    let mut s = Shrinker {
        registry,
        system,
        seed,
        invariant,
        runs: 1,
    };
    let mut best = sc.clone();
    for _ in 0..MAX_ROUNDS {
        let start = text(&best);
        best = s.timeline(best);
        best = s.repeats(best);
        best = s.numbers(best);
        if text(&best) == start {
            break;
        }
    }
    let last = registry
        .run(system, &best, seed, &RunOptions::default())
        .map_err(|e| ShrinkError::Run(e.to_string()))?;
    assert!(
        last.violated().contains(&invariant),
        "the shrunk scenario keeps the failure"
    );
    let after = size(&best, last.history.events() as u64 / 2);
    best.expect.insert(
        system.to_string(),
        Expect::Violates(last.violated().into_iter().collect::<BTreeSet<_>>()),
    );
    Ok(Shrunk {
        scenario: best,
        invariant,
        before,
        after,
        runs: s.runs,
        violations: last.violations,
    })
}

fn size(sc: &Scenario, operations: u64) -> Size {
    Size {
        faults: sc.timeline.iter().map(|f| u64::from(f.times)).sum(),
        operations,
        nodes: sc.nodes,
        simulated: sc.duration + sc.liveness.unwrap_or_default() + sc.quiesce,
    }
}

fn text(sc: &Scenario) -> String {
    ScenarioBuilder::from_scenario(sc).to_toml()
}

impl Shrinker<'_> {
    /// Whether `candidate`, written out and read back, still fails the same way; the
    /// scenario as read back if so.
    fn keeps(&mut self, candidate: &Scenario) -> Option<Scenario> {
        let catalog = self.registry.catalog();
        let sc = scenario::parse_str(&text(candidate), &candidate.path, &catalog).ok()?;
        self.runs += 1;
        let r = self
            .registry
            .run(self.system, &sc, self.seed, &RunOptions::default())
            .ok()?;
        r.violated().contains(&self.invariant).then_some(sc)
    }

    /// ddmin over the timeline's entries.
    fn timeline(&mut self, sc: Scenario) -> Scenario {
        let mut best = sc;
        let mut chunks = 2;
        while !best.timeline.is_empty() {
            let n = best.timeline.len();
            let chunk = n.div_ceil(chunks.min(n));
            let mut removed = false;
            let mut start = 0;
            while start < best.timeline.len() {
                let mut candidate = best.clone();
                let end = (start + chunk).min(candidate.timeline.len());
                candidate.timeline.drain(start..end);
                match self.keeps(&candidate) {
                    Some(kept) => {
                        best = kept;
                        removed = true;
                    }
                    None => start += chunk,
                }
            }
            if removed {
                chunks = (chunks - 1).max(2);
            } else if chunk == 1 {
                break;
            } else {
                chunks = (chunks * 2).min(best.timeline.len());
            }
        }
        best
    }

    /// Fewer repeats of each repeated entry, by bisection.
    fn repeats(&mut self, sc: Scenario) -> Scenario {
        let mut best = sc;
        for i in 0..best.timeline.len() {
            let times = best.timeline[i].times;
            best = self.bisect(best, 1, times, |sc, t| {
                sc.timeline[i].times = t;
                if t == 1 {
                    sc.timeline[i].every = None;
                }
            });
        }
        best
    }

    /// The smallest `v` in `lo..=hi` for which `set(v)` still fails, assuming smaller
    /// values fail less (bisection; deterministic).
    fn bisect(
        &mut self,
        sc: Scenario,
        lo: u32,
        hi: u32,
        set: impl Fn(&mut Scenario, u32),
    ) -> Scenario {
        let (mut lo, mut hi) = (lo, hi);
        let mut best = sc;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut candidate = best.clone();
            set(&mut candidate, mid);
            match self.keeps(&candidate) {
                Some(kept) => {
                    best = kept;
                    hi = mid;
                }
                None => lo = mid + 1,
            }
        }
        best
    }

    /// Tries `change`; keeps it if the failure stays.
    fn attempt(&mut self, sc: Scenario, change: impl Fn(&mut Scenario)) -> Scenario {
        let mut candidate = sc.clone();
        change(&mut candidate);
        if text(&candidate) == text(&sc) {
            return sc;
        }
        self.keeps(&candidate).unwrap_or(sc)
    }

    fn numbers(&mut self, sc: Scenario) -> Scenario {
        let w = &sc.workload;
        let (clients, keys) = (w.clients, w.keys);
        let rate = w.rate_per_s.ceil() as u32;
        let mut best = self.bisect(sc, 1, clients, |sc, c| sc.workload.clients = c);
        best = self.bisect(best, 1, keys, |sc, k| sc.workload.keys = k);
        best = self.bisect(best, 1, rate.max(1), |sc, r| {
            sc.workload.rate_per_s = r as f64
        });
        best = self.duration(best);
        best = self.nodes(best);
        best = self.network_and_clock(best);
        best = self.mix(best);
        if self.invariant != InvariantId::LIVENESS {
            best = self.attempt(best, |sc| sc.liveness = None);
        }
        best
    }

    /// The fault phase cut short, by bisection in tenths of a second, never before the
    /// last fault.
    fn duration(&mut self, sc: Scenario) -> Scenario {
        let last = sc.timeline.iter().map(|f| f.at).max().unwrap_or_default();
        let tenths = |d: Duration| (d.as_millis() / 100) as u32;
        let lo = tenths(last) + 1;
        let hi = tenths(sc.duration);
        if lo >= hi {
            return sc;
        }
        // The quiesce stays: replicas catching up after the heal is what durability
        // and convergence are judged after, and a shorter one makes failures of its own.
        self.bisect(sc, lo, hi, |sc, t| {
            sc.duration = Duration::from_millis(u64::from(t) * 100);
        })
    }

    /// Smaller clusters, smallest first.
    fn nodes(&mut self, sc: Scenario) -> Scenario {
        let sizes = self.registry.sizes(self.system).unwrap_or_default();
        for n in sizes.into_iter().filter(|n| *n < sc.nodes) {
            let mut candidate = sc.clone();
            candidate.nodes = n;
            if let Some(kept) = self.keeps(&candidate) {
                return kept;
            }
        }
        sc
    }

    fn network_and_clock(&mut self, sc: Scenario) -> Scenario {
        let plain = scenario::Network::default();
        let mut best = sc;
        best = self.attempt(best, |sc| sc.network.loss = 0.0);
        best = self.attempt(best, |sc| sc.network.duplicate = 0.0);
        best = self.attempt(best, |sc| sc.network.reorder = 0.0);
        best = self.attempt(best, |sc| {
            sc.network.latency_min = plain.latency_min;
            sc.network.latency_max = plain.latency_max;
            sc.network.distribution = plain.distribution;
        });
        best = self.attempt(best, |sc| sc.clock.max_offset = Duration::ZERO);
        best = self.attempt(best, |sc| sc.clock.max_drift_ppm = 0);
        best = self.attempt(best, |sc| sc.disk.torn_writes = false);
        best
    }

    /// The mix's operations, one at a time, left out.
    fn mix(&mut self, sc: Scenario) -> Scenario {
        let ops: Vec<String> = sc.workload.mix.keys().cloned().collect();
        let mut best = sc;
        for op in ops {
            best = self.attempt(best, |sc| {
                let others_weigh = sc.workload.mix.iter().any(|(o, w)| *o != op && *w > 0);
                if others_weigh {
                    sc.workload.mix.remove(&op);
                }
            });
        }
        best
    }
}
