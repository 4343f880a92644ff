//! System names to types: the one place that knows every system, so scenario files and
//! the CLI can name them.

use crate::run::{run, RunOptions, RunReport, SimNode};
use protocol::{ParamError, Params};
use scenario::{Scenario, WorkloadKind};
use std::fmt;

/// A run that could not start: the scenario's parameters for the system are wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunError {
    pub scenario: String,
    pub system: String,
    pub error: ParamError,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: params.{}: {}",
            self.scenario, self.system, self.error
        )
    }
}

impl std::error::Error for RunError {}

/// Every system, in the order matrices list them.
pub const SYSTEMS: &[&str] = systems::NAMES;

/// How many nodes the system runs for a scenario of `nodes` replicas: term-bully adds
/// its monitor as the highest id.
pub fn cluster_size(system: &str, nodes: u32) -> u32 {
    match system {
        "term-bully" => nodes + 1,
        _ => nodes,
    }
}

/// The workload a system serves when a scenario asks for its native one.
pub fn native_workload(system: &str) -> WorkloadKind {
    match system {
        "bully" | "term-bully" => WorkloadKind::Set,
        _ => WorkloadKind::Kv,
    }
}

fn go<N>(sc: &Scenario, system: &str, seed: u64, opts: &RunOptions) -> Result<RunReport, RunError>
where
    N: SimNode,
{
    let empty = Params::new();
    let params = sc.params.get(system).unwrap_or(&empty);
    let config = N::config(params).map_err(|error| RunError {
        scenario: sc.path.display().to_string(),
        system: system.to_string(),
        error,
    })?;
    if system == "fragment-failover" && sc.nodes != 3 {
        return Err(RunError {
            scenario: sc.path.display().to_string(),
            system: system.to_string(),
            error: ParamError {
                name: "nodes".into(),
                value: sc.nodes.to_string(),
                expected: "3 (the design has exactly a master and two replicas)".into(),
            },
        });
    }
    let kind = match sc.workload.kind {
        WorkloadKind::Native => native_workload(system),
        k => k,
    };
    Ok(run::<N>(
        sc,
        system,
        kind,
        config,
        seed,
        cluster_size(system, sc.nodes) as usize,
        opts,
    ))
}

/// Runs `system` (a name from [`SYSTEMS`]) on `sc` with `seed`.
pub fn run_system(
    system: &str,
    sc: &Scenario,
    seed: u64,
    opts: &RunOptions,
) -> Result<RunReport, RunError> {
    match system {
        "raft" => go::<systems::raft::Raft>(sc, system, seed, opts),
        "bully" => go::<systems::bully::Bully>(sc, system, seed, opts),
        "quorum-kv" => go::<systems::quorum_kv::QuorumKv>(sc, system, seed, opts),
        "term-bully" => go::<systems::term_bully::TermBully>(sc, system, seed, opts),
        "fragment-failover" => {
            go::<systems::fragment_failover::FragmentFailover>(sc, system, seed, opts)
        }
        other => panic!("unknown system {other:?}: scenario validation admits only {SYSTEMS:?}"),
    }
}
