//! Running scenarios from a user's `cargo test`.
//!
//! [`Test`] runs one system over a scenario's seeds and panics, like an assertion, when
//! the verdict is not the one the scenario expects: with the violation, the timeline of
//! the failing seed and the command that replays it in the user's crate. The seeds come
//! from the environment when set: `SPLITBRAIN_SEED=K` runs (and logs) exactly seed K,
//! `SPLITBRAIN_SEEDS=N` runs seeds 1..=N.
//!
//! [`snapshot_scenarios`] runs a folder of scenario files for every system of a registry
//! and holds each one's summary, and the findings matrix, in insta snapshots.

use protocol::System;
use scenario::{Catalog, Scenario, ScenarioError};
use sim::summary::{self, SystemSummary};
use sim::{prepare, Prepared, PreparedRun, Registry, RunError, RunOptions};
use std::fmt::Write as _;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Replays exactly this seed, with the readable event log.
pub const SEED_VAR: &str = "SPLITBRAIN_SEED";
/// Runs seeds 1..=N instead of the scenario's default count.
pub const SEEDS_VAR: &str = "SPLITBRAIN_SEEDS";

/// Timeline lines a failure message shows.
const SHOWN_TIMELINE: usize = 30;

/// A scenario run against system `S` from a test.
pub struct Test<S: System> {
    source: Source,
    /// What the file may name; by default `S` alone.
    catalog: Catalog,
    seeds: Option<Vec<u64>>,
    system: PhantomData<fn() -> S>,
}

enum Source {
    File(PathBuf),
    Built(Box<Scenario>),
}

/// What went wrong before any verdict: the file, or the system refused it.
#[derive(Debug)]
pub enum TestError {
    // Boxed: a result's error should not make every `Ok` as large as a report of it.
    Scenario(Box<ScenarioError>),
    Run(Box<RunError>),
    /// `SPLITBRAIN_SEED` or `SPLITBRAIN_SEEDS` is not a number.
    Environment {
        var: &'static str,
        value: String,
    },
}

impl std::fmt::Display for TestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestError::Scenario(e) => write!(f, "{e}"),
            TestError::Run(e) => write!(f, "{e}"),
            TestError::Environment { var, value } => {
                write!(f, "{var}={value:?}: expected a whole number")
            }
        }
    }
}

impl std::error::Error for TestError {}

impl<S: System> Test<S> {
    /// The scenario in `path` (relative paths are from the crate's root, where `cargo
    /// test` runs). It is read when the test runs; a file that also names other systems
    /// needs them known: see [`Test::within`].
    pub fn file(path: impl AsRef<Path>) -> Test<S> {
        Test::from(Source::File(path.as_ref().to_path_buf()))
    }

    /// A scenario built in code (see [`crate::ScenarioBuilder`]) or loaded elsewhere.
    pub fn new(scenario: Scenario) -> Test<S> {
        Test::from(Source::Built(Box::new(scenario)))
    }

    fn from(source: Source) -> Test<S> {
        Test {
            source,
            catalog: Catalog::of::<S>(),
            seeds: None,
            system: PhantomData,
        }
    }

    /// Reads the file knowing every system of `registry` (which must include `S`), for a
    /// file that names several.
    pub fn within(mut self, registry: &Registry) -> Test<S> {
        self.catalog = registry.catalog();
        self
    }

    /// The scenario, read from its file if it came from one.
    pub fn scenario(&self) -> Result<Scenario, TestError> {
        match &self.source {
            Source::Built(sc) => Ok((**sc).clone()),
            Source::File(path) => {
                scenario::load(path, &self.catalog).map_err(|e| TestError::Scenario(Box::new(e)))
            }
        }
    }

    /// These seeds instead of the scenario's defaults (the environment still wins).
    pub fn seeds(mut self, seeds: impl IntoIterator<Item = u64>) -> Test<S> {
        self.seeds = Some(seeds.into_iter().collect());
        self
    }

    /// The seeds to run: `SPLITBRAIN_SEED`, else `SPLITBRAIN_SEEDS`, else what the test
    /// chose, else the scenario's defaults.
    fn seed_list(&self, sc: &Scenario) -> Result<Vec<u64>, TestError> {
        let env = |name| std::env::var(name).ok();
        seeds_from(env(SEED_VAR), env(SEEDS_VAR), self.seeds.as_deref(), sc)
    }

    /// Runs every seed and returns the summary, without judging it against the
    /// scenario's expectation.
    pub fn try_run(&self) -> Result<SystemSummary, TestError> {
        let sc = self.scenario()?;
        let prepared: Prepared<S> = prepare(&sc).map_err(|e| TestError::Run(Box::new(e)))?;
        let seeds = self.seed_list(&sc)?;
        Ok(summary::run_prepared(&prepared, &seeds, reproduce))
    }

    /// Runs every seed and panics unless the verdict is the one the scenario expects of
    /// `S` (its `[expect]` and `[sometimes]`): with the first violation, the failing
    /// seed's timeline and the command that replays it.
    pub fn run(&self) -> SystemSummary {
        let summary = self.try_run().unwrap_or_else(|e| panic!("{e}"));
        let sc = self.scenario().unwrap_or_else(|e| panic!("{e}"));
        let prepared: Prepared<S> = prepare(&sc).unwrap_or_else(|e| panic!("{e}"));
        if let [seed] = summary.seeds[..] {
            if std::env::var(SEED_VAR).is_ok() {
                // Replaying one seed: the readable log, to read beside the verdict.
                for line in prepared
                    .run(
                        seed,
                        &RunOptions {
                            replay: true,
                            ..RunOptions::default()
                        },
                    )
                    .log
                {
                    println!("{line}");
                }
            }
        }
        if !summary.as_expected() {
            panic!("{}", failure(&prepared, &summary));
        }
        summary
    }
}

/// The seeds a test runs, from the environment's `SPLITBRAIN_SEED` and `SPLITBRAIN_SEEDS`
/// (in that order of precedence), the test's own choice, or the scenario's defaults.
fn seeds_from(
    seed: Option<String>,
    seeds: Option<String>,
    chosen: Option<&[u64]>,
    sc: &Scenario,
) -> Result<Vec<u64>, TestError> {
    let number = |var: &'static str, value: String| {
        value
            .trim()
            .parse::<u64>()
            .map_err(|_| TestError::Environment { var, value })
    };
    if let Some(k) = seed {
        return Ok(vec![number(SEED_VAR, k)?]);
    }
    if let Some(n) = seeds {
        return Ok((1..=number(SEEDS_VAR, n)?).collect());
    }
    Ok(chosen.map_or_else(|| summary::default_seeds(sc), <[u64]>::to_vec))
}

/// The message of an unexpected verdict of `prepared`'s system.
fn failure(prepared: &dyn PreparedRun, s: &SystemSummary) -> String {
    let sc = prepared.scenario();
    let mut out = format!(
        "splitbrain: {} on {}: got {}, expected {}",
        prepared.system(),
        sim::registry::display_path(&sc.path),
        s.verdict(),
        match &s.expected {
            scenario::Expect::Pass => "pass".to_string(),
            scenario::Expect::Violates(v) => {
                v.iter().map(|i| i.name()).collect::<Vec<_>>().join("+")
            }
        }
    );
    // The seed to look at: the first failing one, else the pinned one.
    let seed = s.failing.first().map_or(sc.pinned_seed, |(seed, _)| *seed);
    if let Some((_, violations)) = s.failing.first() {
        let _ = write!(out, "\n  first failing seed {seed}: {}", violations[0]);
    }
    let report = prepared.run(seed, &RunOptions::default());
    let _ = write!(out, "\n  timeline of seed {seed}:");
    for (t, mark) in report.timeline.iter().take(SHOWN_TIMELINE) {
        let _ = write!(out, "\n    {:>9}  {mark}", sim::trace::fmt_time(*t));
    }
    if report.timeline.len() > SHOWN_TIMELINE {
        let _ = write!(
            out,
            "\n    ... {} more",
            report.timeline.len() - SHOWN_TIMELINE
        );
    }
    let _ = write!(out, "\n  reproduce: {}", reproduce(seed));
    out
}

/// The command that replays `seed` of the test running now, from the user's crate: the
/// test's own name (libtest names its thread after it) with `SPLITBRAIN_SEED`.
fn reproduce(seed: u64) -> String {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_string);
    // Cargo sets the package's name for the processes it runs.
    let package = std::env::var("CARGO_PKG_NAME")
        .map(|p| format!(" -p {p}"))
        .unwrap_or_default();
    match test {
        Some(t) => format!("{SEED_VAR}={seed} cargo test{package} {t} -- --exact --nocapture"),
        None => format!("{SEED_VAR}={seed} cargo test{package}"),
    }
}

/// Runs every scenario file in `dir` for every system of `registry` it names, over each
/// file's default seeds, and holds each scenario's summary in an insta snapshot named
/// after the file in `snapshots`, and the findings matrix as `findings-matrix`. Panics
/// (after snapshotting everything) if a verdict is not the one its file expects. Returns
/// the matrix, for a README to carry.
pub fn snapshot_scenarios(
    registry: &Registry,
    dir: impl AsRef<Path>,
    snapshots: impl AsRef<Path>,
) -> String {
    let dir = dir.as_ref();
    let scenarios = scenario::load_dir(dir, &registry.catalog()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !scenarios.is_empty(),
        "no scenario files (*.toml) in {}",
        dir.display()
    );
    let names = registry.names();
    let mut unexpected = Vec::new();
    let mut rows = Vec::new();
    for sc in &scenarios {
        let mut results = Vec::new();
        for system in &sc.systems {
            let r = summary::run_seeds(registry, sc, system, &summary::default_seeds(sc))
                .unwrap_or_else(|e| panic!("{e}"));
            if !r.as_expected() {
                let seed = r.failing.first().map_or(sc.pinned_seed, |(s, _)| *s);
                unexpected.push(format!(
                    "{} / {system}: got {}, expected {:?}\n  reproduce: {}",
                    sc.name,
                    r.verdict(),
                    r.expected,
                    registry.reproduce(sc, system, seed)
                ));
            }
            results.push(r);
        }
        let cells = names
            .iter()
            .map(|sys| {
                results
                    .iter()
                    .find(|r| r.system == *sys)
                    .map(summary::Cell::of)
            })
            .collect();
        rows.push((sc.name.clone(), cells));
        snapshot(snapshots.as_ref(), &sc.name, &summary::render(sc, &results));
    }
    let matrix = summary::matrix(&names, &rows);
    snapshot(snapshots.as_ref(), "findings-matrix", &matrix);
    assert!(
        unexpected.is_empty(),
        "unexpected verdicts:\n{}",
        unexpected.join("\n")
    );
    matrix
}

/// `text` against the snapshot `name` in `dir`.
fn snapshot(dir: &Path, name: &str, text: &str) {
    // Relative to where the test runs (the crate's root under `cargo test`), not to this
    // file, which is where insta would put a relative path.
    let dir = std::path::absolute(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    insta::with_settings!({
        snapshot_path => dir,
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name.to_string(), text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_environment_chooses_the_seeds_first() {
        let sc = scenario::ScenarioBuilder::new("s", 3, Duration::from_secs(1))
            .system("ping")
            .seeds(4)
            .build(&Catalog::new(vec![scenario::SystemInfo {
                name: "ping",
                workload: "none",
                ops: &[],
                invariants: protocol::InvariantId::BUILTIN.to_vec(),
            }]))
            .expect("valid");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(seeds_from(None, None, None, &sc).unwrap(), [1, 2, 3, 4]);
        assert_eq!(seeds_from(None, None, Some(&[9]), &sc).unwrap(), [9]);
        assert_eq!(seeds_from(None, s("2"), Some(&[9]), &sc).unwrap(), [1, 2]);
        assert_eq!(seeds_from(s(" 7 "), s("2"), Some(&[9]), &sc).unwrap(), [7]);
        let bad = seeds_from(s("seven"), None, None, &sc).unwrap_err();
        assert_eq!(
            bad.to_string(),
            "SPLITBRAIN_SEED=\"seven\": expected a whole number"
        );
    }
}
