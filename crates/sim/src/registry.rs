//! Systems by name, for whatever takes a name from outside (scenario files, the command
//! line, a folder of scenarios): each registered type describes itself, and the registry
//! only keeps them in order. An unknown name is an error value.
//!
//! Runs through the registry are erased to a [`RunReport`]; a test that knows its system
//! uses [`crate::run::run`] and keeps the typed history and states.

use crate::judge::judge;
use crate::run::{prepare, simulate, Prepared, RunError, RunOptions};
use crate::trace::{Mark, Stats};
use protocol::{
    EventKind, Fnv, History, InvariantId, NodeId, Op, Params, System, Undecided, Violation,
};
use scenario::{Catalog, Scenario, SystemInfo};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;

/// The systems a command line or a scenario folder can name.
pub struct Registry {
    entries: Vec<Box<dyn Entry>>,
    /// The command that replays a run, before ` replay FILE --system S --seed K`.
    replay_command: String,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            entries: Vec::new(),
            replay_command: "cargo run --release --".to_string(),
        }
    }

    /// Adds `S` (after those already added: matrices list systems in this order).
    pub fn with<S: System>(mut self) -> Registry {
        assert!(
            self.entries.iter().all(|e| e.info().name != S::NAME),
            "{} registered twice",
            S::NAME
        );
        self.entries.push(Box::new(Typed::<S>(PhantomData)));
        self
    }

    /// How a reproduce line starts: `cargo run --release --` (the default) or the user's
    /// own binary.
    pub fn with_replay_command(mut self, command: impl Into<String>) -> Registry {
        self.replay_command = command.into();
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.info().name).collect()
    }

    /// What scenario files may name, for the parser.
    pub fn catalog(&self) -> Catalog {
        Catalog::new(self.entries.iter().map(|e| e.info()).collect())
    }

    fn entry(&self, system: &str) -> Result<&dyn Entry, RunError> {
        self.entries
            .iter()
            .find(|e| e.info().name == system)
            .map(|e| &**e)
            .ok_or_else(|| RunError::UnknownSystem {
                name: system.to_string(),
                known: self.names(),
            })
    }

    /// Prepares `sc` for the system named `system`.
    pub fn prepare(&self, system: &str, sc: &Scenario) -> Result<Box<dyn PreparedRun>, RunError> {
        self.entry(system)?.prepare(sc)
    }

    /// The replica counts from 1 to 9 that `system` admits with its default parameters
    /// (what a swarm run may draw).
    pub fn sizes(&self, system: &str) -> Result<Vec<u32>, RunError> {
        let entry = self.entry(system)?;
        Ok((1..=9).filter(|n| entry.admits(*n)).collect())
    }

    /// How a command line that runs these systems starts (`cargo run --release --`).
    pub fn command(&self) -> &str {
        &self.replay_command
    }

    /// Prepares and runs `system` on `sc` with `seed`.
    pub fn run(
        &self,
        system: &str,
        sc: &Scenario,
        seed: u64,
        opts: &RunOptions,
    ) -> Result<RunReport, RunError> {
        Ok(self.prepare(system, sc)?.run(seed, opts))
    }

    /// The one command that reproduces a run, readable log included.
    pub fn reproduce(&self, sc: &Scenario, system: &str, seed: u64) -> String {
        format!(
            "{} replay {} --system {system} --seed {seed}",
            self.replay_command,
            display_path(&sc.path)
        )
    }
}

/// A scenario's path as a user at the workspace root types it: files in a
/// `sim-scenarios` folder (or one below it, such as `sim-scenarios/regressions`) print
/// from that folder on, wherever the process runs, so snapshots do not depend on the
/// checkout's location.
pub fn display_path(path: &std::path::Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|p| p == "sim-scenarios") {
        Some(i) if i + 1 < parts.len() => parts[i..].join("/"),
        _ => path.display().to_string(),
    }
}

/// A registered system, its type erased.
trait Entry: Send + Sync {
    fn info(&self) -> SystemInfo;
    fn prepare(&self, sc: &Scenario) -> Result<Box<dyn PreparedRun>, RunError>;
    fn admits(&self, replicas: u32) -> bool;
}

struct Typed<S>(PhantomData<fn() -> S>);

impl<S: System> Entry for Typed<S> {
    fn info(&self) -> SystemInfo {
        SystemInfo::of::<S>()
    }

    fn prepare(&self, sc: &Scenario) -> Result<Box<dyn PreparedRun>, RunError> {
        Ok(Box::new(prepare::<S>(sc)?))
    }

    fn admits(&self, replicas: u32) -> bool {
        S::config(&Params::new()).is_ok_and(|c| S::shape(&c, replicas).is_ok())
    }
}

/// A scenario prepared for one system, ready to run any seed.
pub trait PreparedRun {
    fn system(&self) -> &'static str;
    fn scenario(&self) -> &Scenario;
    /// Simulates `seed` and judges it within `opts.budget`.
    fn run(&self, seed: u64, opts: &RunOptions) -> RunReport;
}

impl<S: System> PreparedRun for Prepared<S> {
    fn system(&self) -> &'static str {
        S::NAME
    }

    fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    fn run(&self, seed: u64, opts: &RunOptions) -> RunReport {
        let o = simulate(self, seed, opts);
        let j = judge(self, &o, opts.budget);
        RunReport {
            system: S::NAME,
            seed,
            digest: o.digest,
            violations: j.violations,
            undecided: j.undecided,
            timeline: o.timeline,
            timeline_dropped: o.timeline_dropped,
            log: o.log,
            stats: o.stats,
            final_digests: o.finals.iter().map(|(n, s)| (*n, Fnv::digest(s))).collect(),
            history: Box::new(o.history),
            end_ns: o.end_ns,
            wires: o.wires,
            nodes: self.shape.nodes() as usize,
            checked: checked(&self.scenario, self.promises.iter().map(|p| p.id())),
        }
    }
}

/// Everything a run produced and how it was judged, whatever the system.
pub struct RunReport {
    pub system: &'static str,
    pub seed: u64,
    pub digest: u64,
    pub violations: Vec<Violation>,
    pub undecided: Vec<Undecided>,
    /// Faults and role changes, with their simulated times.
    pub timeline: Vec<(u64, Mark)>,
    pub timeline_dropped: usize,
    pub log: Vec<String>,
    pub stats: Stats,
    /// Each live replica's final data, as a digest.
    pub final_digests: Vec<(NodeId, u64)>,
    pub history: Box<dyn RecordedHistory>,
    pub end_ns: u64,
    /// In replay mode, every message, timer and note, for reports.
    pub wires: crate::wires::Wires,
    /// Nodes in the run: the scenario's replicas and the system's extra nodes.
    pub nodes: usize,
    /// Every invariant the run was judged on: what the harness observes (election safety,
    /// liveness with a liveness phase, a panic), then the system's promises in order.
    pub checked: Vec<InvariantId>,
}

fn checked(sc: &Scenario, promised: impl Iterator<Item = InvariantId>) -> Vec<InvariantId> {
    let mut ids = vec![InvariantId::ELECTION_SAFETY];
    if sc.liveness.is_some() {
        ids.push(InvariantId::LIVENESS);
    }
    ids.push(InvariantId::PANIC);
    for id in promised {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

impl RunReport {
    pub fn violated(&self) -> BTreeSet<InvariantId> {
        self.violations.iter().map(|v| v.invariant).collect()
    }
}

/// One operation as a report draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bar {
    pub process: u64,
    pub invoke_ns: u64,
    /// Its invocation's index in the history (counterexamples name events by index).
    pub invoke_event: usize,
    pub op: String,
    /// When it completed, how, and what it returned; `None` if it never did.
    pub end: Option<(u64, EventKind, String)>,
}

/// A run's history, whatever its operations: what summaries count, the Jepsen EDN form,
/// and the typed history for whoever knows the type.
pub trait RecordedHistory: Send {
    fn events(&self) -> usize;
    /// Completions of each kind: (ok, fail, info).
    fn outcomes(&self) -> (usize, usize, usize);
    /// When each acknowledged write completed, in history order.
    fn acknowledged_writes_ns(&self) -> Vec<u64>;
    /// As Jepsen EDN, one operation map per line.
    fn to_edn(&self) -> String;
    /// Each operation from its invocation to its completion, in invocation order.
    fn bars(&self) -> Vec<Bar>;
    /// The typed history (`History<O>` of the system's operations).
    fn as_any(&self) -> &dyn Any;
}

impl<O: Op> RecordedHistory for History<O> {
    fn events(&self) -> usize {
        self.events.len()
    }

    fn outcomes(&self) -> (usize, usize, usize) {
        History::outcomes(self)
    }

    fn acknowledged_writes_ns(&self) -> Vec<u64> {
        History::acknowledged_writes_ns(self)
    }

    fn to_edn(&self) -> String {
        check::history::to_edn(self)
    }

    fn bars(&self) -> Vec<Bar> {
        let mut bars: Vec<Bar> = Vec::new();
        // A process has one operation open at a time: its completion closes the last bar.
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            match e.kind {
                EventKind::Invoke => {
                    open.insert(e.process, bars.len());
                    bars.push(Bar {
                        process: e.process,
                        invoke_ns: e.time_ns,
                        invoke_event: i,
                        op: e.op.to_string(),
                        end: None,
                    });
                }
                kind => {
                    let Some(b) = open.remove(&e.process) else {
                        continue;
                    };
                    let output = match &e.output {
                        Some(out) => e.op.describe_output(out),
                        None => kind.to_string(),
                    };
                    bars[b].end = Some((e.time_ns, kind, output));
                }
            }
        }
        bars
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
