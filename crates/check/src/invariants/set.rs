//! Set: Jepsen's set checker (`jepsen.checker/set`, see [`crate::history::set`]) on each
//! live replica's final documents: every acknowledged add is present, nothing appears
//! that no client added, no document is stored twice, and no definitely failed add shows.
//! It overlaps durability on lost adds; what only it sees is duplicates and phantoms.

use crate::history::set::check_set;
use crate::models::set::{Elements, SetOp};
use protocol::{Finals, History, Invariant, InvariantId, NodeId, Undecided, Violation};

/// Jepsen's set checker on every replica's documents.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetSemantics;

impl Invariant<SetOp, Elements> for SetSemantics {
    fn id(&self) -> InvariantId {
        InvariantId::SET
    }

    fn check(&self, run: &Finals<'_, SetOp, Elements>) -> Result<Vec<Violation>, Undecided> {
        Ok(check(run.history, run.states).into_iter().collect())
    }
}

/// The first replica whose documents fail the set checker, and how many fail.
pub fn check(history: &History<SetOp>, states: &[(NodeId, Elements)]) -> Option<Violation> {
    let mut failing = Vec::new();
    for (node, elements) in states {
        // The harness records histories well formed by construction: a malformed one is
        // a broken harness, not a finding about the system.
        let report = check_set(history, Some(&elements.0))
            .unwrap_or_else(|e| panic!("the harness recorded a malformed history: {e}"));
        if !report.valid() {
            failing.push((*node, summary(&report)));
        }
    }
    let (node, detail) = failing.first()?;
    Some(Violation {
        invariant: InvariantId::SET,
        kind: "a replica's set fails the set checker",
        events: Vec::new(),
        at_ns: None,
        detail: format!(
            "{node}: {detail}{}",
            if failing.len() > 1 {
                format!(" ({} replicas fail)", failing.len())
            } else {
                String::new()
            }
        ),
    })
}

/// One line: the first few elements of each kind of problem.
fn summary(r: &crate::history::set::SetReport) -> String {
    let first = |it: Vec<u64>| -> String {
        let shown: Vec<String> = it.iter().take(5).map(u64::to_string).collect();
        let more = it.len().saturating_sub(5);
        format!(
            "[{}]{}",
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )
    };
    let mut parts = Vec::new();
    if !r.duplicated.is_empty() {
        let d: Vec<String> = r
            .duplicated
            .iter()
            .take(5)
            .map(|(e, n)| format!("{e} x{n}"))
            .collect();
        parts.push(format!(
            "{} documents stored more than once [{}]",
            r.duplicated.len(),
            d.join(", ")
        ));
    }
    if !r.lost.is_empty() {
        parts.push(format!(
            "{} acknowledged adds lost {}",
            r.lost.len(),
            first(r.lost.iter().copied().collect())
        ));
    }
    if !r.unexpected.is_empty() {
        parts.push(format!(
            "never-added documents {}",
            first(r.unexpected.iter().copied().collect())
        ));
    }
    if !r.failed_present.is_empty() {
        parts.push(format!(
            "failed adds present {}",
            first(r.failed_present.iter().copied().collect())
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::set::SetOutput;
    use protocol::{Event, EventKind};

    fn add(process: u64, element: u64, t: u64, end: EventKind) -> Vec<Event<SetOp>> {
        let op = SetOp::Add { element };
        vec![
            Event {
                process,
                kind: EventKind::Invoke,
                op: op.clone(),
                output: None,
                time_ns: t,
            },
            Event {
                process,
                kind: end,
                op,
                output: (end == EventKind::Ok).then_some(SetOutput::Done),
                time_ns: t + 1,
            },
        ]
    }

    #[test]
    fn duplicates_and_losses_are_caught_per_replica() {
        let mut events = add(0, 1, 0, EventKind::Ok);
        events.extend(add(0, 2, 10, EventKind::Ok));
        let h = History { events };
        let good = (NodeId(1), Elements(vec![1, 2]));
        assert!(check(&h, std::slice::from_ref(&good)).is_none());
        let dup = (NodeId(2), Elements(vec![1, 2, 2]));
        let v = check(&h, &[good.clone(), dup]).expect("duplicate");
        assert!(
            v.detail
                .starts_with("n2: 1 documents stored more than once [2 x2]"),
            "{}",
            v.detail
        );
        let lost = (NodeId(3), Elements(vec![1]));
        let v = check(&h, &[good, lost]).expect("lost");
        assert!(
            v.detail.contains("acknowledged adds lost [2]"),
            "{}",
            v.detail
        );
    }
}
