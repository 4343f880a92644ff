//! The end-of-run judgement: which invariants apply to which system, over the client
//! history and the final states of the live replicas. Election safety is observed during
//! the run (see `world`); everything else is judged here.
//!
//! A system is judged by what it promises, in its configuration:
//! - every system: durability; convergence, except fragment-failover, whose nodes 2 and 3
//!   hold disjoint fragments by design (it gets replica-consistency instead);
//! - set workloads: the set checker;
//! - bully and fragment-failover: replica-consistency, the seed's own consistency check;
//! - raft, and quorum-kv with strong reads and R + W > N: linearizability;
//! - quorum-kv with `read_your_writes`: session guarantees.

use check::history::linearizable::{check_linearizable, LinOptions, Verdict};
use check::history::model::Model;
use check::history::session::check_sessions;
use check::history::History;
use check::invariants::{convergence, durability, replica_consistency, set, Violation};
use protocol::{Node, NodeId, StateView};
use scenario::{Scenario, WorkloadKind};
use std::collections::BTreeMap;
use std::time::Duration;
use systems::quorum_kv::{QuorumKv, ReadConsistency};

/// Linearizability search budget per run. Histories here are a few thousand operations over
/// a handful of keys and check in milliseconds; the budget only bounds a pathological one.
pub const LINEARIZABILITY_BUDGET: Duration = Duration::from_secs(20);

/// The quorum-kv configuration a scenario runs, if it is valid (the registry reports an
/// invalid one before any run, so `None` never reaches a judgement).
fn quorum_kv_config(sc: &Scenario) -> Option<systems::quorum_kv::Config> {
    let empty = protocol::Params::new();
    QuorumKv::config(sc.params.get("quorum-kv").unwrap_or(&empty)).ok()
}

/// Systems that promise linearizable operations, and so are checked for it: raft always;
/// quorum-kv when its strong reads meet a write quorum (R + W > N), which is the
/// design's stated reason for offering them (seed 04, "strong consistency").
fn promises_linearizability(system: &str, sc: &Scenario) -> bool {
    match system {
        "raft" => true,
        "quorum-kv" => quorum_kv_config(sc).is_some_and(|c| {
            c.read_consistency == ReadConsistency::Strong && c.r + c.w > sc.nodes as usize
        }),
        _ => false,
    }
}

/// Systems that promise session guarantees: quorum-kv's `read_your_writes` reads.
fn promises_sessions(system: &str, sc: &Scenario) -> bool {
    system == "quorum-kv"
        && quorum_kv_config(sc)
            .is_some_and(|c| c.read_consistency == ReadConsistency::ReadYourWrites)
}

pub fn judge(
    system: &str,
    sc: &Scenario,
    kind: WorkloadKind,
    history: &History,
    finals: &[(NodeId, StateView)],
) -> Vec<Violation> {
    let mut out = Vec::new();
    if system == "fragment-failover" {
        out.extend(fragments(history, finals));
    } else {
        out.extend(durability::check(history, finals));
        out.extend(convergence::check(finals));
    }
    if system == "bully" {
        out.extend(replica_consistency::all_equal(finals));
    }
    if kind == WorkloadKind::Set {
        out.extend(set::check(history, finals));
    }
    if promises_linearizability(system, sc) {
        let model = if kind == WorkloadKind::Set {
            Model::Set
        } else {
            Model::Kv
        };
        out.extend(linearizability(history, model));
    }
    if promises_sessions(system, sc) {
        out.extend(sessions(history, sc.workload.clients));
    }
    out
}

/// Seed 05: node 1 holds everything, nodes 2 and 3 one fragment each. Durability is judged
/// on node 1 and on the fragments combined, the way the design reads them ("fallback to
/// Node 2+3 merge"), and replica-consistency is the design's own check.
fn fragments(history: &History, finals: &[(NodeId, StateView)]) -> Vec<Violation> {
    let owner = |value: &str| {
        if systems::fragment_failover::courier_of(value) == "JNT" {
            NodeId(2)
        } else {
            NodeId(3)
        }
    };
    let master = finals.iter().find(|(n, _)| *n == NodeId(1));
    let parts: Vec<(NodeId, StateView)> = finals
        .iter()
        .filter(|(n, _)| *n != NodeId(1))
        .cloned()
        .collect();
    let (combined, _) = replica_consistency::combine(&parts, owner);
    let combined = StateView::Kv(combined);
    let mut views: Vec<(String, &StateView)> = Vec::new();
    if let Some((n, s)) = master {
        views.push((n.to_string(), s));
    }
    let names: Vec<String> = parts.iter().map(|(n, _)| n.to_string()).collect();
    views.push((names.join("+"), &combined));
    let mut out = durability::check_views(history, &views);
    if let Some(m) = master {
        out.extend(replica_consistency::master_matches_fragments(
            m, &parts, owner,
        ));
    }
    out
}

fn sessions(history: &History, clients: u32) -> Option<Violation> {
    // A client continues as a new process after an `info` (process + clients), and stays
    // one session throughout.
    let client_of: BTreeMap<u64, u64> = history
        .events
        .iter()
        .map(|e| (e.process, e.process % u64::from(clients.max(1))))
        .collect();
    match check_sessions(history, Some(&client_of)) {
        Ok(r) if r.valid() => None,
        Ok(r) => Some(Violation {
            invariant: "session",
            at_ns: None,
            // The first broken guarantee in full (the read and the operation it
            // contradicts), the rest counted: enough to find it in the replay log.
            detail: format!(
                "{} of {} reads break a session guarantee; first: {}",
                r.violations.len(),
                r.reads_checked,
                r.violations[0].to_string().trim_end().replace('\n', "; ")
            ),
        }),
        Err(e) => Some(Violation {
            invariant: "history",
            at_ns: None,
            detail: format!("malformed history from the harness: {e}"),
        }),
    }
}

fn linearizability(history: &History, model: Model) -> Option<Violation> {
    let opts = LinOptions {
        budget: LINEARIZABILITY_BUDGET,
        ..LinOptions::default()
    };
    match check_linearizable(history, model, &opts) {
        Ok(Verdict::Linearizable) => None,
        Ok(Verdict::NotLinearizable(cx)) => Some(Violation {
            invariant: "linearizability",
            at_ns: None,
            detail: cx.to_string(),
        }),
        // Not a violation, but not silence either: the summary shows it.
        Ok(Verdict::Unknown { undecided }) => Some(Violation {
            invariant: "linearizability-unknown",
            at_ns: None,
            detail: format!("search budget exhausted on keys {undecided:?}"),
        }),
        Err(e) => Some(Violation {
            invariant: "history",
            at_ns: None,
            detail: format!("malformed history from the harness: {e}"),
        }),
    }
}
