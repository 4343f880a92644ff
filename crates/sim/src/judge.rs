//! The end-of-run judgement: which invariants apply to which system, over the client
//! history and the final states of the live replicas. Election safety is observed during
//! the run (see `world`); everything else is judged here.

use check::history::History;
use check::invariants::{convergence, durability, Violation};
use protocol::{NodeId, StateView};
use scenario::WorkloadKind;

pub fn judge(
    system: &str,
    _kind: WorkloadKind,
    history: &History,
    finals: &[(NodeId, StateView)],
) -> Vec<Violation> {
    let _ = system;
    let mut out = durability::check(history, finals);
    out.extend(convergence::check(finals));
    out
}
