//! Verdicts over seeds, and the canonical run summary that snapshots hold.
//!
//! The summary shows only what is stable and meaningful to a reviewer: seeds run, verdict
//! against the expectation, the first failing seed with its violation and the command
//! that reproduces it, and the pinned seed's timeline in simulated time (never wall time).

use crate::registry::{run_system, RunError};
use crate::run::{RunOptions, RunReport};
use crate::trace::fmt_time;
use check::history::EventKind;
use check::invariants::Violation;
use scenario::{Expect, Scenario};
use std::collections::BTreeSet;
use std::fmt::Write;

/// Timeline lines a summary shows before it elides the rest.
pub const MAX_SUMMARY_TIMELINE: usize = 40;

pub struct SystemSummary {
    pub system: String,
    pub expected: Expect,
    /// Violations the default seeds may or may not show (the scenario's `[sometimes]`).
    pub sometimes: BTreeSet<String>,
    pub seeds: Vec<u64>,
    /// Seeds with at least one violation, and what was violated.
    pub failing: Vec<(u64, Vec<Violation>)>,
    pub violated: BTreeSet<String>,
    pub pinned: RunReport,
}

impl SystemSummary {
    /// Whether the verdict over all seeds is the one the scenario expects.
    pub fn as_expected(&self) -> bool {
        as_expected(&self.expected, &self.sometimes, &self.violated)
    }

    pub fn verdict(&self) -> String {
        if self.violated.is_empty() {
            "pass".into()
        } else {
            self.violated.iter().cloned().collect::<Vec<_>>().join("+")
        }
    }
}

/// The one command that reproduces a run, readable log included.
pub fn reproduce(sc: &Scenario, system: &str, seed: u64) -> String {
    format!(
        "cargo run --release -- replay {} --system {system} --seed {seed}",
        display_path(&sc.path)
    )
}

/// A scenario's path as a user at the workspace root types it: files in a
/// `sim-scenarios` folder print as `sim-scenarios/NAME.toml` wherever the process runs,
/// so snapshots do not depend on the checkout's location.
pub fn display_path(path: &std::path::Path) -> String {
    let parent_is_scenarios = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "sim-scenarios");
    match (parent_is_scenarios, path.file_name()) {
        (true, Some(name)) => format!("sim-scenarios/{}", name.to_string_lossy()),
        _ => path.display().to_string(),
    }
}

/// Runs `system` on every seed in `seeds` (and the pinned seed, for the timeline).
pub fn run_seeds(sc: &Scenario, system: &str, seeds: &[u64]) -> Result<SystemSummary, RunError> {
    let opts = RunOptions::default();
    let mut failing = Vec::new();
    let mut violated = BTreeSet::new();
    let mut pinned = None;
    for &seed in seeds {
        let report = run_system(system, sc, seed, &opts)?;
        if !report.violations.is_empty() {
            violated.extend(report.violated());
            failing.push((seed, report.violations.clone()));
        }
        if seed == sc.pinned_seed {
            pinned = Some(report);
        }
    }
    let pinned = match pinned {
        Some(p) => p,
        None => run_system(system, sc, sc.pinned_seed, &opts)?,
    };
    Ok(SystemSummary {
        system: system.to_string(),
        expected: sc.expect.get(system).cloned().unwrap_or(Expect::Pass),
        sometimes: sc.sometimes.get(system).cloned().unwrap_or_default(),
        seeds: seeds.to_vec(),
        failing,
        violated,
        pinned,
    })
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
            let kinds: BTreeSet<&str> = violations.iter().map(|v| v.invariant).collect();
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

/// Whether `violated` (over all seeds) has every violation `expected` names and nothing
/// outside those and `sometimes`.
pub fn as_expected(
    expected: &Expect,
    sometimes: &BTreeSet<String>,
    violated: &BTreeSet<String>,
) -> bool {
    let required = match expected {
        Expect::Pass => BTreeSet::new(),
        Expect::Violates(set) => set.clone(),
    };
    required.is_subset(violated)
        && violated
            .iter()
            .all(|v| required.contains(v) || sometimes.contains(v))
}

/// The scenario's default seeds: 1..=seeds.
pub fn default_seeds(sc: &Scenario) -> Vec<u64> {
    (1..=sc.seeds).collect()
}

fn expect_text(e: &Expect) -> String {
    match e {
        Expect::Pass => "pass".into(),
        Expect::Violates(s) => s.iter().cloned().collect::<Vec<_>>().join("+"),
    }
}

/// The canonical text of a scenario's results: what a snapshot holds.
pub fn render(sc: &Scenario, results: &[SystemSummary]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", sc.name);
    let _ = writeln!(
        out,
        "nodes: {}, duration: {}, quiesce: {}",
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
                format!(
                    ", sometimes {}",
                    r.sometimes.iter().cloned().collect::<Vec<_>>().join("+")
                )
            },
            if r.as_expected() {
                ""
            } else {
                "  <-- UNEXPECTED"
            }
        );
        if let Some((seed, violations)) = r.failing.first() {
            let _ = writeln!(out, "  first failing seed {seed}: {}", violations[0]);
            let _ = writeln!(out, "  reproduce: {}", reproduce(sc, &r.system, *seed));
        }
        let p = &r.pinned;
        let (mut ok, mut fail, mut info) = (0, 0, 0);
        for e in &p.history.events {
            match e.kind {
                EventKind::Ok => ok += 1,
                EventKind::Fail => fail += 1,
                EventKind::Info => info += 1,
                EventKind::Invoke => {}
            }
        }
        let _ = writeln!(
            out,
            "  pinned seed {}: ops ok {ok}, fail {fail}, info {info}; {} violation(s)",
            p.seed,
            p.violations.len()
        );
        // Commits as clients saw them: acknowledged writes between one fault and the next,
        // so the timeline shows whether the cluster kept serving through each phase.
        let acked: Vec<u64> = p
            .history
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Ok && !e.op.is_read())
            .map(|e| e.time_ns)
            .collect();
        let mut since = 0u64;
        let mut counted = 0usize;
        for (t, text) in p.timeline.iter().take(MAX_SUMMARY_TIMELINE) {
            if is_fault(text) {
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
            let _ = writeln!(out, "    {:>9}  {text}", fmt_time(*t));
        }
        if p.timeline.len() > MAX_SUMMARY_TIMELINE {
            let _ = writeln!(
                out,
                "    ... {} more timeline entries",
                p.timeline.len() - MAX_SUMMARY_TIMELINE
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
    pub fn of(sc: &Scenario, r: &SystemSummary) -> Cell {
        Cell {
            verdict: r.verdict(),
            finding: r
                .failing
                .first()
                .map(|(seed, _)| (*seed, reproduce(sc, &r.system, *seed))),
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

/// Timeline entries the nemesis wrote (as opposed to role and term changes).
fn is_fault(text: &str) -> bool {
    const FAULTS: &[&str] = &[
        "crash ",
        "restart ",
        "pause ",
        "resume ",
        "isolate ",
        "partition ",
        "cut ",
        "heal",
        "clock ",
        "loss ",
        "quiesce",
    ];
    FAULTS.iter().any(|f| text.starts_with(f))
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

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
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
        let check = |violated: &[&str]| as_expected(&expected, &sometimes, &set(violated));
        assert!(check(&["durability"]), "the rare one missed");
        assert!(check(&["convergence", "durability"]), "the rare one hit");
        assert!(!check(&["convergence"]), "an expected violation missing");
        assert!(
            !check(&["durability", "election-safety"]),
            "one never expected"
        );
        let pass = Expect::Pass;
        assert!(as_expected(&pass, &sometimes, &set(&[])));
        assert!(as_expected(&pass, &sometimes, &set(&["convergence"])));
        assert!(!as_expected(
            &pass,
            &BTreeSet::new(),
            &set(&["convergence"])
        ));
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
