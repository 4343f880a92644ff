//! Election safety: at most one leader can be elected in a given term (Raft, Ongaro &
//! Ousterhout 2014, §5.2, Figure 3). For systems without terms (bully election), the
//! property that matters to their users is the instantaneous one: at most one node acts
//! as master at any instant, or two masters accept conflicting writes (split brain).
//!
//! Observed incrementally: the harness reports every change of a node's status, and a
//! crash as `None`. A paused master still counts: it believes it leads and acts on it as
//! soon as it resumes.

use protocol::{InvariantId, NodeStatus, Role, Term, Violation};
use std::collections::BTreeMap;

pub struct ElectionSafety {
    /// For each term, the first node seen leading it.
    leader_of_term: BTreeMap<Term, usize>,
    /// Term-less systems: the write scopes each node masters right now (0: none).
    masters: Vec<u64>,
    violations: Vec<Violation>,
    /// Evidence beyond the first few violations is counted, not kept.
    pub extra: usize,
}

/// Violations kept in full; the rest are counted.
pub const MAX_KEPT: usize = 8;

impl ElectionSafety {
    pub fn new(nodes: usize, _has_terms: bool) -> ElectionSafety {
        ElectionSafety {
            leader_of_term: BTreeMap::new(),
            masters: vec![0; nodes],
            violations: Vec::new(),
            extra: 0,
        }
    }

    fn record(&mut self, v: Violation) {
        if self.violations.len() < MAX_KEPT {
            self.violations.push(v);
        } else {
            self.extra += 1;
        }
    }

    /// Node `idx` (0-based) now has `status`, or is down (`None`).
    pub fn observe(&mut self, now_ns: u64, idx: usize, status: Option<NodeStatus>) {
        let leads = status.is_some_and(|s| s.role == Role::Leader);
        match status.and_then(|s| s.term) {
            Some(term) if leads => match self.leader_of_term.get(&term) {
                None => {
                    self.leader_of_term.insert(term, idx);
                }
                Some(&first) if first != idx => self.record(Violation {
                    invariant: InvariantId::ELECTION_SAFETY,
                    kind: "two leaders in one term",
                    events: Vec::new(),
                    at_ns: Some(now_ns),
                    detail: format!(
                        "n{} and n{} both leader in term {}",
                        first + 1,
                        idx + 1,
                        term.0
                    ),
                }),
                Some(_) => {}
            },
            Some(_) => {}
            None => {
                let was = self.masters[idx];
                let scope = match status {
                    Some(s) if leads => s.scope,
                    _ => 0,
                };
                self.masters[idx] = scope;
                // Newly mastered scopes that another node already masters: split brain.
                let gained = scope & !was;
                if gained != 0 {
                    let others: Vec<String> = (0..self.masters.len())
                        .filter(|&i| i != idx && self.masters[i] & gained != 0)
                        .map(|i| format!("n{}", i + 1))
                        .collect();
                    if !others.is_empty() {
                        self.record(Violation {
                            invariant: InvariantId::ELECTION_SAFETY,
                            kind: "two masters at once",
                            events: Vec::new(),
                            at_ns: Some(now_ns),
                            detail: format!(
                                "n{} became master while {} still acted as master",
                                idx + 1,
                                others.join(", ")
                            ),
                        });
                    }
                }
            }
        }
        if status.is_none() {
            self.masters[idx] = 0;
        }
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::LogIndex;

    fn st(role: Role, term: Option<u64>) -> Option<NodeStatus> {
        Some(NodeStatus {
            role,
            term: term.map(Term),
            commit: Some(LogIndex(0)),
            scope: NodeStatus::ALL,
        })
    }

    #[test]
    fn two_leaders_in_one_term() {
        let mut e = ElectionSafety::new(3, true);
        e.observe(1, 0, st(Role::Leader, Some(1)));
        e.observe(2, 1, st(Role::Leader, Some(2)));
        assert!(e.violations().is_empty(), "different terms are fine");
        e.observe(3, 2, st(Role::Leader, Some(2)));
        assert_eq!(e.violations().len(), 1);
        assert!(e.violations()[0]
            .detail
            .contains("n2 and n3 both leader in term 2"));
    }

    #[test]
    fn two_masters_at_once_without_terms() {
        let mut e = ElectionSafety::new(3, false);
        e.observe(1, 2, st(Role::Leader, None));
        e.observe(2, 2, None); // crashed
        e.observe(3, 1, st(Role::Leader, None));
        assert!(e.violations().is_empty(), "a crashed master no longer acts");
        e.observe(4, 0, st(Role::Leader, None));
        assert_eq!(e.violations().len(), 1);
        assert!(e.violations()[0]
            .detail
            .contains("n1 became master while n2"));
        e.observe(5, 1, st(Role::Follower, None));
        e.observe(6, 1, st(Role::Leader, None));
        assert_eq!(e.violations().len(), 2);
    }

    #[test]
    fn masters_of_disjoint_scopes_do_not_conflict() {
        let scoped = |scope| {
            Some(NodeStatus {
                role: Role::Leader,
                term: None,
                commit: None,
                scope,
            })
        };
        let mut e = ElectionSafety::new(3, false);
        e.observe(1, 1, scoped(1));
        e.observe(2, 2, scoped(2));
        assert!(e.violations().is_empty());
        e.observe(3, 0, scoped(NodeStatus::ALL));
        assert_eq!(
            e.violations().len(),
            1,
            "the whole-data master overlaps both"
        );
    }
}
