//! Hunting: swarm seeds ([`scenario::swarm`]) run side by side, each run on one thread
//! and deterministic, so a seed's digest and verdict are the same at any job count; the
//! findings grouped by signature (the first violation's invariant and kind).
//!
//! A seed's scenario is drawn from the seed and built through the scenario parser, as a
//! file would be; the run uses the same seed. `export` writes that scenario out, so a
//! finding reproduces from a file.

use protocol::{Budget, InvariantId, Violation};
use scenario::swarm::{self, Space};
use scenario::{Scenario, ScenarioBuilder};
use sim::{Registry, RunOptions};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Which seeds a hunt runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub system: String,
    pub limit: Limit,
    /// The first seed of the whole hunt (all shards).
    pub from: u64,
    /// Runs at once, one thread each.
    pub jobs: usize,
    pub shard: Shard,
    /// The system's parameters for every seed (`name`, `value`), as `[params.<system>]`
    /// would give them: a hunt over one configuration, or over a planted bug.
    pub params: Vec<(String, String)>,
    /// What each run's checkers may spend ([`BUDGET`] by default). A run they cannot
    /// judge within it is undecided, reported apart, never a finding or a pass.
    pub budget: Budget,
}

/// A hunt's default checker budget per run: a tenth of a scenario run's, since a hunt
/// is about many seeds, and a history that takes seconds to judge is rare (one seed in
/// a thousand of raft's: one key, a dozen clients, most operations timing out).
pub const BUDGET: Budget = Budget {
    time: Duration::from_secs(2),
    memory: 256 << 20,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// This many seeds in all shards together (this shard runs its share).
    Seeds(u64),
    /// As many seeds as fit in this much wall time.
    Time(Duration),
}

/// `K/M`: this shard takes every M-th seed starting at the K-th (1-based, as nextest's
/// `--partition count:K/M`), so M CI jobs share one hunt without overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("expected K/M with 1 <= K <= M, found {text:?}");
        let (k, m) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u64>().map_err(|_| bad())?,
            m.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Plan {
    /// The `i`-th seed this shard runs.
    pub fn seed(&self, i: u64) -> u64 {
        self.from + (self.shard.index - 1) + i * self.shard.count
    }

    /// How many seeds this shard runs, if counted.
    pub fn count(&self) -> Option<u64> {
        match self.limit {
            Limit::Seeds(n) => {
                let first = self.shard.index - 1;
                Some(n.saturating_sub(first).div_ceil(self.shard.count))
            }
            Limit::Time(_) => None,
        }
    }
}

/// One seed's result, small enough to keep for every seed of a long hunt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub seed: u64,
    pub digest: u64,
    pub violations: Vec<Violation>,
    /// Invariants that could not decide within the run's budget.
    pub undecided: Vec<InvariantId>,
    pub sim_ns: u64,
    /// The system refused the seed's scenario (a size or workload it does not take).
    pub refused: Option<String>,
}

impl Outcome {
    /// The first violation's invariant and kind: what findings group by.
    pub fn signature(&self) -> Option<(InvariantId, &'static str)> {
        self.violations.first().map(|v| (v.invariant, v.kind))
    }
}

/// Seed `seed`'s swarm scenario for `system` with `params`, built against the
/// registry's catalog.
pub fn scenario(
    registry: &Registry,
    system: &str,
    seed: u64,
    params: &[(String, String)],
) -> Result<Scenario, String> {
    Ok(drawn(registry, system, seed, params)?.0)
}

/// Seed `seed`'s swarm scenario as a file, with a comment saying where it came from and
/// `[expect]` saying what the seed violates.
pub fn export(
    registry: &Registry,
    system: &str,
    seed: u64,
    params: &[(String, String)],
) -> Result<String, String> {
    let (sc, kinds) = drawn(registry, system, seed, params)?;
    let kinds: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let cmd = registry.command();
    let with: String = params
        .iter()
        .map(|(n, v)| format!(" --param {n}={v}"))
        .collect();
    let from = format!(
        "Swarm seed {seed} of {system}, exported by `{cmd} export --system {system} --seed {seed}{with}`.\n\
         Fault kinds on: {}.\n\
         Run it with `{cmd} run THIS.toml --system {system}`; shrink it with `{cmd} shrink THIS.toml`.",
        if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
    );
    // The file expects what the seed does, so it is a regression as it stands.
    let found: Vec<InvariantId> = registry
        .run(system, &sc, seed, &RunOptions::default())
        .map_err(|e| e.to_string())?
        .violated()
        .into_iter()
        .collect();
    Ok(ScenarioBuilder::from_scenario(&sc)
        .expect(system, &found)
        .comment(&from)
        .to_toml())
}

/// The seed's scenario with `params`, and the fault kinds it switched on: one draw.
fn drawn(
    registry: &Registry,
    system: &str,
    seed: u64,
    params: &[(String, String)],
) -> Result<(Scenario, Vec<swarm::Kind>), String> {
    let sizes = registry.sizes(system).map_err(|e| e.to_string())?;
    let catalog = registry.catalog();
    let info = catalog
        .get(system)
        .expect("a registered system is in the catalog");
    let space = Space {
        system: info,
        sizes: &sizes,
    };
    let swarm::Swarm { mut builder, kinds } = swarm::draw(seed, &space);
    for (name, value) in params {
        builder = builder.param(system, name, value);
    }
    let sc = builder
        .build(&catalog)
        .unwrap_or_else(|e| panic!("swarm seed {seed} drew a scenario the parser refuses: {e}"));
    Ok((sc, kinds))
}

/// Runs swarm seed `seed` of `system`. A panic anywhere in it (a system's panic is
/// already a `panic` violation; this catches the harness's or a checker's) is a finding
/// for the seed, never the end of a hunt.
pub fn run_seed(
    registry: &Registry,
    system: &str,
    seed: u64,
    params: &[(String, String)],
    budget: Budget,
) -> Outcome {
    let opts = RunOptions {
        budget,
        ..RunOptions::default()
    };
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let sc =
            scenario(registry, system, seed, params).expect("the hunt checked the system's name");
        registry
            .run(system, &sc, seed, &opts)
            .map_err(|e| e.to_string())
    }));
    let empty = Outcome {
        seed,
        digest: 0,
        violations: Vec::new(),
        undecided: Vec::new(),
        sim_ns: 0,
        refused: None,
    };
    match attempt {
        Ok(Ok(r)) => Outcome {
            digest: r.digest,
            undecided: r.undecided.iter().map(|u| u.invariant).collect(),
            sim_ns: r.end_ns,
            violations: r.violations,
            ..empty
        },
        Ok(Err(e)) => Outcome {
            refused: Some(e),
            ..empty
        },
        Err(payload) => {
            let message = sim::run::panic_message(payload.as_ref());
            Outcome {
                violations: vec![Violation {
                    invariant: InvariantId::PANIC,
                    kind: "the harness panicked",
                    events: Vec::new(),
                    at_ns: None,
                    detail: message,
                }],
                ..empty
            }
        }
    }
}

/// Counts so far, for progress reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub done: u64,
    pub failed: u64,
    pub refused: u64,
    pub undecided: u64,
    pub sim_ns: u64,
    pub wall: Duration,
}

/// A finished hunt: every seed's outcome in seed order, and the wall time.
pub struct Hunt {
    pub outcomes: Vec<Outcome>,
    pub tally: Tally,
}

/// Runs `plan` on `plan.jobs` threads, calling `progress` about twice a second.
pub fn hunt(registry: &Registry, plan: &Plan, progress: &mut dyn FnMut(&Tally)) -> Hunt {
    assert!(plan.jobs >= 1, "at least one job");
    let clock = WallClock::start();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut outcomes = Vec::new();
    let mut tally = Tally::default();
    let worker = |tx: mpsc::Sender<Outcome>| loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if plan.count().is_some_and(|n| i >= n) {
            return;
        }
        let outcome = run_seed(
            registry,
            &plan.system,
            plan.seed(i),
            &plan.params,
            plan.budget,
        );
        if tx.send(outcome).is_err() {
            return;
        }
    };
    // Threads run independent seeds, each simulation on one thread with its own
    // runtime; outcomes are sorted by seed at the end, so nothing reported depends on
    // which thread ran what, or when.
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|scope| {
        for _ in 0..plan.jobs {
            let tx = tx.clone();
            let worker = &worker;
            scope.spawn(move || worker(tx));
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(o) => {
                    tally.done += 1;
                    tally.sim_ns += o.sim_ns;
                    tally.failed += u64::from(!o.violations.is_empty());
                    tally.refused += u64::from(o.refused.is_some());
                    tally.undecided += u64::from(!o.undecided.is_empty());
                    outcomes.push(o);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            tally.wall = clock.elapsed();
            if let Limit::Time(t) = plan.limit {
                if tally.wall >= t {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            progress(&tally);
        }
    });
    outcomes.sort_by_key(|o| o.seed);
    tally.wall = clock.elapsed();
    Hunt { outcomes, tally }
}

/// Wall time, for the hunt's time limit and rates only: never read by a run.
struct WallClock(std::time::Instant);

impl WallClock {
    fn start() -> WallClock {
        #[allow(clippy::disallowed_methods)]
        WallClock(std::time::Instant::now())
    }

    fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Findings of one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub invariant: InvariantId,
    pub kind: &'static str,
    pub seeds: Vec<u64>,
    /// The first seed's violation, in full.
    pub first: Violation,
}

/// The failed outcomes grouped by signature, most frequent first (then by first seed).
pub fn groups(outcomes: &[Outcome]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for o in outcomes {
        let Some((invariant, kind)) = o.signature() else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|g| g.invariant == invariant && g.kind == kind)
        {
            Some(g) => g.seeds.push(o.seed),
            None => groups.push(Group {
                invariant,
                kind,
                seeds: vec![o.seed],
                first: o.violations[0].clone(),
            }),
        }
    }
    groups.sort_by_key(|g| (usize::MAX - g.seeds.len(), g.seeds[0]));
    groups
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One violation as a JSON object.
pub fn violation_json(v: &Violation) -> String {
    format!(
        "{{\"invariant\":{},\"kind\":{},\"at_ns\":{},\"detail\":{}}}",
        json_str(v.invariant.name()),
        json_str(v.kind),
        v.at_ns.map_or("null".to_string(), |t| t.to_string()),
        json_str(&v.detail)
    )
}

/// One finding as a JSON line.
pub fn finding_json(system: &str, o: &Outcome, reproduce: &str) -> String {
    let violations: Vec<String> = o.violations.iter().map(violation_json).collect();
    format!(
        "{{\"type\":\"finding\",\"system\":{},\"seed\":{},\"digest\":\"{:016x}\",\"violations\":[{}],\"reproduce\":{}}}",
        json_str(system),
        o.seed,
        o.digest,
        violations.join(","),
        json_str(reproduce)
    )
}
