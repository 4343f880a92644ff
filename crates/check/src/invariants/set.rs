//! Set: Jepsen's set checker (`jepsen.checker/set`, see [`crate::history::set`]) on each
//! live replica's final documents: every acknowledged add is present, nothing appears
//! that no client added, no document is stored twice, and no definitely failed add shows.
//! It overlaps durability on lost adds; what only it sees is duplicates and phantoms.

use super::Violation;
use crate::history::set::check_set;
use crate::history::History;
use protocol::{NodeId, StateView};

/// The first replica whose documents fail the set checker, and how many fail.
pub fn check(history: &History, states: &[(NodeId, StateView)]) -> Option<Violation> {
    let mut failing = Vec::new();
    for (node, state) in states {
        let StateView::Elements(elements) = state else {
            continue;
        };
        match check_set(history, Some(elements)) {
            Ok(report) if report.valid() => {}
            Ok(report) => failing.push((*node, summary(&report))),
            Err(e) => {
                return Some(Violation {
                    invariant: "history",
                    at_ns: None,
                    detail: format!("malformed history from the harness: {e}"),
                })
            }
        }
    }
    let (node, detail) = failing.first()?;
    Some(Violation {
        invariant: "set",
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
    use crate::history::{Event, EventKind};
    use protocol::{ClientOp, OpOutput};

    fn add(process: u64, element: u64, t: u64, end: EventKind) -> Vec<Event> {
        let op = ClientOp::SetAdd { element };
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
                output: (end == EventKind::Ok).then_some(OpOutput::Done),
                time_ns: t + 1,
            },
        ]
    }

    #[test]
    fn duplicates_and_losses_are_caught_per_replica() {
        let mut events = add(0, 1, 0, EventKind::Ok);
        events.extend(add(0, 2, 10, EventKind::Ok));
        let h = History { events };
        let good = (NodeId(1), StateView::Elements(vec![1, 2]));
        assert!(check(&h, std::slice::from_ref(&good)).is_none());
        let dup = (NodeId(2), StateView::Elements(vec![1, 2, 2]));
        let v = check(&h, &[good.clone(), dup]).expect("duplicate");
        assert!(
            v.detail
                .starts_with("n2: 1 documents stored more than once [2 x2]"),
            "{}",
            v.detail
        );
        let lost = (NodeId(3), StateView::Elements(vec![1]));
        let v = check(&h, &[good, lost]).expect("lost");
        assert!(
            v.detail.contains("acknowledged adds lost [2]"),
            "{}",
            v.detail
        );
    }
}
