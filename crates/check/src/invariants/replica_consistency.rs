//! Replica consistency: each seed design's *own* consistency check, run on the final
//! states after the cluster has healed and quiesced.
//!
//! - Seed 01 (`verifyConsistency.js`): read the documents of every node and compare them
//!   (`JSON.stringify` of each node's `/read`); all must be equal. Documents are compared
//!   as multisets, so a document stored twice on one node is a difference.
//! - Seed 05 ("Node 1 data matches Node 2+3 combined"): nodes 2 and 3 hold disjoint
//!   fragments by design, so the master (node 1) is compared with the union of the
//!   fragments, and a key both fragments hold with different values is a difference too.
//!
//! This differs from [`super::convergence`] only where the design's notion of "replica"
//! differs from "every node holds everything" (seed 05).

use crate::models::kv::KvState;
use crate::models::set::{Elements, SetOp};
use protocol::{Finals, Invariant, InvariantId, NodeId, Undecided, Violation};
use std::collections::BTreeMap;

/// Seed 01's check as an invariant of a document store: every replica's documents are
/// equal, as multisets.
#[derive(Clone, Copy, Debug, Default)]
pub struct AllDocumentsEqual;

impl Invariant<SetOp, Elements> for AllDocumentsEqual {
    fn id(&self) -> InvariantId {
        InvariantId::REPLICA_CONSISTENCY
    }

    fn check(&self, run: &Finals<'_, SetOp, Elements>) -> Result<Vec<Violation>, Undecided> {
        Ok(all_equal(run.states).into_iter().collect())
    }
}

/// Seed 01: every node's documents are equal.
pub fn all_equal(states: &[(NodeId, Elements)]) -> Option<Violation> {
    let (first, reference) = states.first()?;
    let (other, state) = states.iter().find(|(_, s)| s != reference)?;
    Some(Violation {
        invariant: InvariantId::REPLICA_CONSISTENCY,
        kind: "replicas hold different documents",
        events: Vec::new(),
        at_ns: None,
        detail: format!(
            "the design's consistency check fails: {first} and {other} hold different documents ({})",
            describe(reference, state)
        ),
    })
}

/// Seed 05: `master` equals the union of `fragments`. Keys that two fragments both hold
/// with different values are reported; the union takes, for such a key, the value of the
/// fragment `owner` names (by the value's content, e.g. its courier).
pub fn master_matches_fragments(
    master: &(NodeId, KvState),
    fragments: &[(NodeId, KvState)],
    owner: impl Fn(&str) -> NodeId,
) -> Option<Violation> {
    let (combined, conflicts) = combine(fragments, owner);
    let names: Vec<String> = fragments.iter().map(|(n, _)| n.to_string()).collect();
    let names = names.join("+");
    let mut problems = Vec::new();
    if let Some((key, values)) = conflicts.first() {
        problems.push(format!(
            "fragments disagree on key {key}: {values:?}{}",
            if conflicts.len() > 1 {
                format!(" ({} keys in all)", conflicts.len())
            } else {
                String::new()
            }
        ));
    }
    let m = &master.1 .0;
    let mut keys: Vec<&String> = m.keys().chain(combined.keys()).collect();
    keys.sort();
    keys.dedup();
    let differing: Vec<&&String> = keys
        .iter()
        .filter(|k| m.get(**k) != combined.get(**k))
        .collect();
    if let Some(k) = differing.first() {
        problems.push(format!(
            "{} has {k} = {:?} but {names} combined have {:?}{}",
            master.0,
            m.get(**k),
            combined.get(**k),
            if differing.len() > 1 {
                format!(" ({} keys differ)", differing.len())
            } else {
                String::new()
            }
        ));
    }
    if problems.is_empty() {
        return None;
    }
    Some(Violation {
        invariant: InvariantId::REPLICA_CONSISTENCY,
        kind: "node 1 is not nodes 2 and 3 combined",
        events: Vec::new(),
        at_ns: None,
        detail: format!(
            "the design's consistency check (node 1 = nodes 2+3 combined) fails: {}",
            problems.join("; ")
        ),
    })
}

type Conflicts = Vec<(String, Vec<(NodeId, String)>)>;

/// The union of key-value fragments, and the keys two fragments hold differently.
pub fn combine(
    fragments: &[(NodeId, KvState)],
    owner: impl Fn(&str) -> NodeId,
) -> (BTreeMap<String, String>, Conflicts) {
    let mut holders: BTreeMap<&String, Vec<(NodeId, &String)>> = BTreeMap::new();
    for (node, state) in fragments {
        for (k, v) in &state.0 {
            holders.entry(k).or_default().push((*node, v));
        }
    }
    let mut combined = BTreeMap::new();
    let mut conflicts = Vec::new();
    for (k, hs) in holders {
        let first = hs[0].1;
        let value = if hs.iter().all(|(_, v)| *v == first) {
            first
        } else {
            conflicts.push((
                k.clone(),
                hs.iter().map(|(n, v)| (*n, (*v).clone())).collect(),
            ));
            // The owner's copy is the one the design reads for this key.
            hs.iter()
                .find(|(n, v)| owner(v) == *n)
                .map_or(first, |(_, v)| *v)
        };
        combined.insert(k.clone(), value.clone());
    }
    (combined, conflicts)
}

/// Where two replicas' documents differ: counts, and the documents one holds more copies
/// of than the other.
fn describe(a: &Elements, b: &Elements) -> String {
    let (x, y) = (&a.0, &b.0);
    let count = |v: &[u64]| {
        let mut m: BTreeMap<u64, usize> = BTreeMap::new();
        for e in v {
            *m.entry(*e).or_default() += 1;
        }
        m
    };
    let (cx, cy) = (count(x), count(y));
    let only_a: Vec<&u64> = cx
        .iter()
        .filter(|(e, n)| cy.get(e).copied().unwrap_or(0) < **n)
        .map(|(e, _)| e)
        .take(5)
        .collect();
    let only_b: Vec<&u64> = cy
        .iter()
        .filter(|(e, n)| cx.get(e).copied().unwrap_or(0) < **n)
        .map(|(e, _)| e)
        .take(5)
        .collect();
    format!(
        "{} vs {} documents; more copies in the first {only_a:?}, in the second {only_b:?}",
        x.len(),
        y.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> KvState {
        KvState(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn a_duplicated_document_breaks_seed_01s_check() {
        let a = Elements(vec![1, 2]);
        let b = Elements(vec![1, 2, 2]);
        assert!(all_equal(&[(NodeId(1), a.clone()), (NodeId(2), a.clone())]).is_none());
        let v = all_equal(&[(NodeId(1), a), (NodeId(2), b)]).expect("differs");
        assert!(v.detail.contains("in the second [2]"), "{}", v.detail);
    }

    #[test]
    fn disjoint_fragments_match_their_union_and_a_gap_does_not() {
        let owner = |v: &str| {
            if v.starts_with('j') {
                NodeId(2)
            } else {
                NodeId(3)
            }
        };
        let master = (NodeId(1), kv(&[("a", "j1"), ("b", "x1")]));
        let ok = [
            (NodeId(2), kv(&[("a", "j1")])),
            (NodeId(3), kv(&[("b", "x1")])),
        ];
        assert!(master_matches_fragments(&master, &ok, owner).is_none());
        let gap = [(NodeId(2), kv(&[("a", "j1")])), (NodeId(3), kv(&[]))];
        let v = master_matches_fragments(&master, &gap, owner).expect("b missing");
        assert!(v.detail.contains("n1 has b"), "{}", v.detail);
        let clash = [
            (NodeId(2), kv(&[("a", "j1"), ("b", "x0")])),
            (NodeId(3), kv(&[("b", "x1")])),
        ];
        let v = master_matches_fragments(&master, &clash, owner).expect("clash");
        assert!(
            v.detail.contains("fragments disagree on key b"),
            "{}",
            v.detail
        );
    }
}
