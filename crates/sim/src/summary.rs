//! Verdicts over seeds, and the canonical run summary that snapshots hold.
//!
//! The summary shows only what is stable and meaningful to a reviewer: seeds run, verdict
//! against the expectation, the first failing seed with its violation and the command
//! that reproduces it, and the pinned seed's timeline in simulated time (never wall time).

use crate::registry::{PreparedRun, Registry, RunReport};
use crate::run::{RunError, RunOptions};
use crate::trace::fmt_time;
use protocol::{InvariantId, Undecided, Violation};
use scenario::{Expect, Scenario};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Timeline lines a summary shows before it elides the rest.
pub const MAX_SUMMARY_TIMELINE: usize = 40;

pub struct SystemSummary {
    pub system: String,
    pub expected: Expect,
    /// Violations the default seeds may or may not show (the scenario's `[sometimes]`).
    pub sometimes: BTreeSet<InvariantId>,
    pub seeds: Vec<u64>,
    /// Whether `seeds` include every default seed of the scenario, so what `[expect]`
    /// requires must have shown.
    pub all_default_seeds: bool,
    /// Seeds with at least one violation, and what was violated.
    pub failing: Vec<(u64, Vec<Violation>)>,
    pub violated: BTreeSet<InvariantId>,
    /// Seeds with an invariant the checkers could not decide, and why.
    pub undecided: Vec<(u64, Vec<Undecided>)>,
    /// The command that replays the first failing seed.
    pub reproduce: Option<String>,
    pub pinned: RunReport,
}

impl SystemSummary {
    /// Whether the verdict over the seeds run is the one the scenario expects.
    pub fn as_expected(&self) -> bool {
        as_expected(
            &self.expected,
            &self.sometimes,
            &self.violated,
            self.all_default_seeds,
        )
    }

    pub fn verdict(&self) -> String {
        if self.violated.is_empty() {
            "pass".into()
        } else {
            join(&self.violated)
        }
    }
}

fn join(ids: &BTreeSet<InvariantId>) -> String {
    ids.iter().map(|i| i.name()).collect::<Vec<_>>().join("+")
}

/// Runs `system` on every seed in `seeds` (and the pinned seed, for the timeline).
pub fn run_seeds(
    registry: &Registry,
    sc: &Scenario,
    system: &str,
    seeds: &[u64],
) -> Result<SystemSummary, RunError> {
    let prepared = registry.prepare(system, sc)?;
    Ok(run_prepared(&*prepared, seeds, |seed| {
        registry.reproduce(sc, system, seed)
    }))
}

/// Runs a prepared scenario on every seed in `seeds` (and the pinned seed, for the
/// timeline); `reproduce` says how to replay a seed.
pub fn run_prepared(
    prepared: &dyn PreparedRun,
    seeds: &[u64],
    reproduce: impl Fn(u64) -> String,
) -> SystemSummary {
    let sc = prepared.scenario();
    let system = prepared.system();
    let opts = RunOptions::default();
    let mut failing = Vec::new();
    let mut undecided = Vec::new();
    let mut violated = BTreeSet::new();
    let mut pinned = None;
    for &seed in seeds {
        let report = prepared.run(seed, &opts);
        if !report.violations.is_empty() {
            violated.extend(report.violated());
            failing.push((seed, report.violations.clone()));
        }
        if !report.undecided.is_empty() {
            undecided.push((seed, report.undecided.clone()));
        }
        if seed == sc.pinned_seed {
            pinned = Some(report);
        }
    }
    let pinned = pinned.unwrap_or_else(|| prepared.run(sc.pinned_seed, &opts));
    let defaults = default_seeds(sc);
    SystemSummary {
        system: system.to_string(),
        expected: sc.expect.get(system).cloned().unwrap_or(Expect::Pass),
        sometimes: sc.sometimes.get(system).cloned().unwrap_or_default(),
        seeds: seeds.to_vec(),
        all_default_seeds: defaults.iter().all(|d| seeds.contains(d)),
        reproduce: failing.first().map(|(seed, _)| reproduce(*seed)),
        failing,
        violated,
        undecided,
        pinned,
    }
}

/// Whether an invariant violated on `found` of `of` seeds belongs in a scenario's
/// `[expect]`: the default seeds miss it less than 1% of the time at that rate.
/// Otherwise it is a `[sometimes]` finding.
pub fn belongs_in_expect(found: usize, of: usize, default_seeds: u64) -> bool {
    assert!(found <= of && of > 0, "{found} of {of} seeds");
    let miss = 1.0 - found as f64 / of as f64;
    miss.powi(default_seeds as i32) < 0.01
}

/// How often each invariant was violated over the seeds run, and where each belongs at
/// the scenario's default seed count: what `splitbrain run --seeds N` adds below the
/// summary, to set `[expect]` and `[sometimes]` from measured rates.
pub fn frequencies(sc: &Scenario, results: &[SystemSummary]) -> String {
    let mut out = String::new();
    for r in results {
        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
        for (_, violations) in &r.failing {
            let kinds: BTreeSet<&str> = violations.iter().map(|v| v.invariant.name()).collect();
            for k in kinds {
                *counts.entry(k).or_default() += 1;
            }
        }
        let of = r.seeds.len();
        let (mut expect, mut sometimes) = (Vec::new(), Vec::new());
        for (k, n) in &counts {
            let line = format!("{k} {n} of {of}");
            if belongs_in_expect(*n, of, sc.seeds) {
                expect.push(line);
            } else {
                sometimes.push(line);
            }
        }
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(
            out,
            "[{}] at {} default seeds: expect {}; sometimes {}",
            r.system,
            sc.seeds,
            list(&expect),
            list(&sometimes)
        );
    }
    out
}

/// The one rule for whether `violated` is what a scenario expects, used by every command
/// that reports a verdict: nothing outside `[expect]` and `[sometimes]` may be violated,
/// and, when the seeds run include all the scenario's default seeds
/// (`all_default_seeds`), everything `[expect]` names must have been. One seed, or a few,
/// may miss an expected violation that only some seeds show.
pub fn as_expected(
    expected: &Expect,
    sometimes: &BTreeSet<InvariantId>,
    violated: &BTreeSet<InvariantId>,
    all_default_seeds: bool,
) -> bool {
    let required = match expected {
        Expect::Pass => BTreeSet::new(),
        Expect::Violates(set) => set.clone(),
    };
    (!all_default_seeds || required.is_subset(violated))
        && violated
            .iter()
            .all(|v| required.contains(v) || sometimes.contains(v))
}

/// The scenario's default seeds: 1..=seeds.
pub fn default_seeds(sc: &Scenario) -> Vec<u64> {
    (sc.first_seed..sc.first_seed + sc.seeds).collect()
}

fn expect_text(e: &Expect) -> String {
    match e {
        Expect::Pass => "pass".into(),
        Expect::Violates(s) => join(s),
    }
}

/// The canonical text of a scenario's results: what a snapshot holds.
pub fn render(sc: &Scenario, results: &[SystemSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", sc.name);
    let liveness = sc.liveness.map_or(String::new(), |l| {
        format!(", liveness: {}", fmt_time(l.as_nanos() as u64))
    });
    let _ = writeln!(
        out,
        "nodes: {}, duration: {}{liveness}, quiesce: {}",
        sc.nodes,
        fmt_time(sc.duration.as_nanos() as u64),
        fmt_time(sc.quiesce.as_nanos() as u64)
    );
    for r in results {
        let _ = writeln!(out);
        let seeds = match (r.seeds.first(), r.seeds.last()) {
            (Some(a), Some(b)) => format!("{a}..={b}"),
            _ => "none".into(),
        };
        let _ = writeln!(
            out,
            "[{}] seeds {seeds}: {} ({} of {} seeds fail); expected {}{}{}",
            r.system,
            r.verdict(),
            r.failing.len(),
            r.seeds.len(),
            expect_text(&r.expected),
            if r.sometimes.is_empty() {
                String::new()
            } else {
                format!(", sometimes {}", join(&r.sometimes))
            },
            if r.as_expected() {
                ""
            } else {
                "  <-- UNEXPECTED"
            }
        );
        if let (Some((seed, violations)), Some(cmd)) = (r.failing.first(), &r.reproduce) {
            let _ = writeln!(out, "  first failing seed {seed}: {}", violations[0]);
            let _ = writeln!(out, "  reproduce: {cmd}");
        }
        if let Some((seed, undecided)) = r.undecided.first() {
            let _ = writeln!(
                out,
                "  undecided on {} of {} seeds; first, seed {seed}: {}",
                r.undecided.len(),
                r.seeds.len(),
                undecided[0]
            );
        }
        let p = &r.pinned;
        let (ok, fail, info) = p.history.outcomes();
        let _ = writeln!(
            out,
            "  pinned seed {}: ops ok {ok}, fail {fail}, info {info}; {} violation(s)",
            p.seed,
            p.violations.len()
        );
        // Commits as clients saw them: acknowledged writes between one fault and the next,
        // so the timeline shows whether the cluster kept serving through each phase.
        let acked = p.history.acknowledged_writes_ns();
        let mut since = 0u64;
        let mut counted = 0usize;
        for (t, mark) in p.timeline.iter().take(MAX_SUMMARY_TIMELINE) {
            if mark.is_fault() {
                let upto = acked.partition_point(|&a| a <= *t);
                let _ = writeln!(
                    out,
                    "    {:>9}  +{} writes acknowledged since {}",
                    "",
                    upto - counted,
                    fmt_time(since)
                );
                counted = upto;
                since = *t;
            }
            let _ = writeln!(out, "    {:>9}  {mark}", fmt_time(*t));
        }
        // Entries past the trace's own bound were counted, not kept: they count too.
        let more = p.timeline.len() + p.timeline_dropped;
        if more > MAX_SUMMARY_TIMELINE {
            let _ = writeln!(
                out,
                "    ... {} more timeline entries",
                more - MAX_SUMMARY_TIMELINE
            );
        }
    }
    out
}

/// One cell of the findings matrix: a system's verdict on a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    /// `pass`, or the violated invariants joined by `+`.
    pub verdict: String,
    /// The first failing seed and the command that replays it.
    pub finding: Option<(u64, String)>,
    /// The verdict differs from the scenario's `[expect]`.
    pub unexpected: bool,
}

impl Cell {
    pub fn of(r: &SystemSummary) -> Cell {
        Cell {
            verdict: r.verdict(),
            finding: r.failing.first().map(|(seed, _)| {
                let cmd = r.reproduce.clone().expect("a failing seed has its command");
                (*seed, cmd)
            }),
            unexpected: !r.as_expected(),
        }
    }

    fn text(&self) -> String {
        let mut t = self.verdict.clone();
        if let Some((seed, _)) = &self.finding {
            let _ = write!(t, " (seed {seed})");
        }
        if self.unexpected {
            t.push_str(" UNEXPECTED");
        }
        t
    }
}

/// A systems x scenarios table in Markdown, one row per scenario (`None`: the scenario
/// does not apply to that system), then the command that reproduces each failing cell.
pub fn matrix(systems: &[&str], rows: &[(String, Vec<Option<Cell>>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| scenario | {} |", systems.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(systems.len()));
    for (name, cells) in rows {
        let texts: Vec<String> = cells
            .iter()
            .map(|c| c.as_ref().map_or_else(|| "-".to_string(), Cell::text))
            .collect();
        let _ = writeln!(out, "| {name} | {} |", texts.join(" | "));
    }
    let failing: Vec<(&String, &str, &Cell)> = rows
        .iter()
        .flat_map(|(name, cells)| {
            cells
                .iter()
                .zip(systems)
                .filter_map(move |(c, sys)| c.as_ref().map(|c| (name, *sys, c)))
        })
        .filter(|(_, _, c)| c.finding.is_some())
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Reproduce (first failing seed of each cell):");
        let _ = writeln!(out);
        for (name, sys, c) in failing {
            if let Some((_, cmd)) = &c.finding {
                let _ = writeln!(out, "- {name} / {sys}: {}: `{cmd}`", c.verdict);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&'static str]) -> BTreeSet<InvariantId> {
        names.iter().map(|n| InvariantId(n)).collect()
    }

    #[test]
    fn a_finding_is_expected_only_when_the_default_seeds_rarely_miss_it() {
        assert!(belongs_in_expect(60, 60, 1));
        assert!(belongs_in_expect(36, 60, 10), "0.4^10 is 0.01%");
        assert!(!belongs_in_expect(36, 60, 5), "0.4^5 is just over 1%");
        assert!(!belongs_in_expect(16, 60, 10), "0.73^10 is 4%");
        assert!(!belongs_in_expect(0, 60, 10));
    }

    #[test]
    fn sometimes_allows_a_rare_violation_but_never_requires_it() {
        let expected = Expect::Violates(set(&["durability"]));
        let sometimes = set(&["convergence"]);
        let check =
            |violated: &[&'static str]| as_expected(&expected, &sometimes, &set(violated), true);
        assert!(check(&["durability"]), "the rare one missed");
        assert!(check(&["convergence", "durability"]), "the rare one hit");
        assert!(!check(&["convergence"]), "an expected violation missing");
        assert!(
            !check(&["durability", "election-safety"]),
            "one never expected"
        );
        let pass = Expect::Pass;
        assert!(as_expected(&pass, &sometimes, &set(&[]), true));
        assert!(as_expected(&pass, &sometimes, &set(&["convergence"]), true));
        assert!(!as_expected(
            &pass,
            &BTreeSet::new(),
            &set(&["convergence"]),
            true
        ));
    }

    #[test]
    fn fewer_seeds_than_the_defaults_need_not_show_what_is_expected() {
        let expected = Expect::Violates(set(&["durability"]));
        let none = BTreeSet::new();
        assert!(as_expected(&expected, &none, &set(&[]), false));
        assert!(!as_expected(&expected, &none, &set(&[]), true));
        assert!(
            !as_expected(&expected, &none, &set(&["set"]), false),
            "one seed may still break what is never expected"
        );
    }

    #[test]
    fn failing_cells_show_seed_and_reproduce_below_the_table() {
        let fail = Cell {
            verdict: "durability+set".into(),
            finding: Some((
                3,
                "cargo run --release -- replay x.toml --system b --seed 3".into(),
            )),
            unexpected: false,
        };
        let pass = Cell {
            verdict: "pass".into(),
            finding: None,
            unexpected: true,
        };
        let m = matrix(
            &["a", "b", "c"],
            &[("x".into(), vec![Some(pass), Some(fail), None])],
        );
        assert!(
            m.contains("| x | pass UNEXPECTED | durability+set (seed 3) | - |"),
            "{m}"
        );
        assert!(
            m.contains("- x / b: durability+set: `cargo run --release -- replay x.toml --system b --seed 3`"),
            "{m}"
        );
        assert!(
            !m.contains("x / a"),
            "a passing cell has nothing to reproduce: {m}"
        );
    }
}
