//! Convergence: once faults are healed and the cluster has quiesced (no client traffic,
//! every node up and connected), every live replica holds the same data. This is eventual
//! consistency's liveness half (Vogels 2009; Jepsen's "final reads agree"); a replica that
//! never catches up is a divergence a user will eventually read.

use super::Violation;
use protocol::{NodeId, StateView};

/// `states`: the final data of each live replica (observers excluded).
pub fn check(states: &[(NodeId, StateView)]) -> Vec<Violation> {
    let Some((first, reference)) = states.first() else {
        return Vec::new();
    };
    let differing: Vec<&(NodeId, StateView)> =
        states.iter().filter(|(_, s)| s != reference).collect();
    if differing.is_empty() {
        return Vec::new();
    }
    let (other, state) = differing[0];
    vec![Violation {
        invariant: "convergence",
        at_ns: None,
        detail: format!(
            "{first} and {other} differ after quiescing: {}{}",
            first_difference(reference, state),
            if differing.len() > 1 {
                format!(" ({} replicas differ from {first})", differing.len())
            } else {
                String::new()
            }
        ),
    }]
}

fn first_difference(a: &StateView, b: &StateView) -> String {
    match (a, b) {
        (StateView::Kv(x), StateView::Kv(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                if x.get(k) != y.get(k) {
                    return format!("key {k}: {:?} vs {:?}", x.get(k), y.get(k));
                }
            }
            "same keys and values".into()
        }
        (StateView::Elements(x), StateView::Elements(y)) => {
            let only_a: Vec<&u64> = x.iter().filter(|e| !y.contains(e)).take(5).collect();
            let only_b: Vec<&u64> = y.iter().filter(|e| !x.contains(e)).take(5).collect();
            format!(
                "{} vs {} elements; only in the first {only_a:?}, only in the second {only_b:?}",
                x.len(),
                y.len()
            )
        }
        _ => "different kinds of data".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_states_converge_and_different_ones_do_not() {
        let a = StateView::Elements(vec![1, 2]);
        let b = StateView::Elements(vec![1]);
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
