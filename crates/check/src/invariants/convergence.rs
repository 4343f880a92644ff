//! Convergence: once faults are healed and the cluster has quiesced (no client traffic,
//! every node up and connected), every live replica holds the same data. This is eventual
//! consistency's liveness half (Vogels 2009; Jepsen's "final reads agree"); a replica that
//! never catches up is a divergence a user will eventually read.
//!
//! Works for any replica data: equality, and [`Data::difference`] to say where two
//! replicas part.

use protocol::{Data, Finals, Invariant, InvariantId, NodeId, Op, Undecided, Violation};

/// Every live replica holds the same data at the end of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Convergence;

impl<O: Op, S: Data> Invariant<O, S> for Convergence {
    fn id(&self) -> InvariantId {
        InvariantId::CONVERGENCE
    }

    fn check(&self, run: &Finals<'_, O, S>) -> Result<Vec<Violation>, Undecided> {
        Ok(check(run.states))
    }
}

/// `states`: the final data of each live replica.
pub fn check<S: Data>(states: &[(NodeId, S)]) -> Vec<Violation> {
    let Some((first, reference)) = states.first() else {
        return Vec::new();
    };
    let differing: Vec<&(NodeId, S)> = states.iter().filter(|(_, s)| s != reference).collect();
    if differing.is_empty() {
        return Vec::new();
    }
    let (other, state) = differing[0];
    vec![Violation {
        invariant: InvariantId::CONVERGENCE,
        kind: "replicas differ after quiescing",
        events: Vec::new(),
        at_ns: None,
        detail: format!(
            "{first} and {other} differ after quiescing: {}{}",
            reference.difference(state),
            if differing.len() > 1 {
                format!(" ({} replicas differ from {first})", differing.len())
            } else {
                String::new()
            }
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::set::Elements;

    #[test]
    fn equal_states_converge_and_different_ones_do_not() {
        let a = Elements(vec![1, 2]);
        let b = Elements(vec![1]);
        assert!(check(&[(NodeId(1), a.clone()), (NodeId(2), a.clone())]).is_empty());
        let v = check(&[(NodeId(1), a), (NodeId(2), b)]);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].detail.contains("only in the first [2]"),
            "{}",
            v[0].detail
        );
    }
}
