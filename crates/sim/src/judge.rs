//! The end-of-run judgement: which invariants apply to which system, over the client
//! history and the final states of the live replicas. Election safety is observed during
//! the run (see `world`); everything else is judged here.

use check::history::linearizable::{check_linearizable, LinOptions, Verdict};
use check::history::model::Model;
use check::history::History;
use check::invariants::{convergence, durability, Violation};
use protocol::{NodeId, StateView};
use scenario::WorkloadKind;
use std::time::Duration;

/// Linearizability search budget per run. Histories here are a few thousand operations over
/// a handful of keys and check in milliseconds; the budget only bounds a pathological one.
pub const LINEARIZABILITY_BUDGET: Duration = Duration::from_secs(20);

/// Systems that promise linearizable operations, and so are checked for it.
fn promises_linearizability(system: &str) -> bool {
    system == "raft"
}

pub fn judge(
    system: &str,
    kind: WorkloadKind,
    history: &History,
    finals: &[(NodeId, StateView)],
) -> Vec<Violation> {
    let mut out = durability::check(history, finals);
    out.extend(convergence::check(finals));
    if promises_linearizability(system) {
        let model = if kind == WorkloadKind::Set {
            Model::Set
        } else {
            Model::Kv
        };
        out.extend(linearizability(history, model));
    }
    out
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
