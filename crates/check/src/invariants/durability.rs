//! Durability: no acknowledged write is missing from the final state (Jepsen's "lost
//! writes"; Raft's Leader Completeness, §5.4, seen from the client).
//!
//! Judged per live replica after the cluster has healed and quiesced, against the client
//! history:
//! - set: every acknowledged add is present;
//! - append: every acknowledged append's token is present, unless an overwrite (put,
//!   delete, cas) of that key had not completed when the append was invoked: it may be
//!   ordered after the append and have replaced it;
//! - put, cas, delete: the final value must come from a write that no acknowledged write
//!   strictly follows in real time (invoked after it completed). Indeterminate writes never
//!   complete, so they stay candidates: they may have taken effect late.
//!
//! Values are whitespace-separated tokens unique per operation (the harness's workload
//! writes `c<client>-<n>`), which is what lets an append be found inside a value.

use super::Violation;
use crate::history::{EventKind, History};
use protocol::{ClientOp, NodeId, StateView};
use std::collections::{BTreeMap, BTreeSet};

struct Write<'h> {
    op: &'h ClientOp,
    invoke_ns: u64,
    /// `None` while indeterminate (info or still pending).
    complete_ns: Option<u64>,
    acked: bool,
}

/// Reported violations per check are capped; the count of the rest is given.
pub const MAX_REPORTED: usize = 5;

/// `states`: the final data of each live replica.
pub fn check(history: &History, states: &[(NodeId, StateView)]) -> Vec<Violation> {
    let labelled: Vec<(String, &StateView)> =
        states.iter().map(|(n, s)| (n.to_string(), s)).collect();
    check_views(history, &labelled)
}

/// As [`check`], over views named by `label`: a design whose replica is several nodes
/// together (seed 05's fragments, "n2+n3") is judged on their combined data.
pub fn check_views(history: &History, states: &[(String, &StateView)]) -> Vec<Violation> {
    let writes = writes(history);
    let mut out = Vec::new();
    let mut missing = 0usize;
    for (node, state) in states {
        for problem in judge(&writes, state) {
            missing += 1;
            if out.len() < MAX_REPORTED {
                out.push(Violation {
                    invariant: "durability",
                    at_ns: None,
                    detail: format!("{node}: {problem}"),
                });
            }
        }
    }
    if missing > out.len() {
        let shown = out.len();
        if let Some(last) = out.last_mut() {
            last.detail
                .push_str(&format!(" (and {} more)", missing - shown));
        }
    }
    out
}

fn writes(history: &History) -> Vec<Write<'_>> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut out: Vec<Write> = Vec::new();
    for e in &history.events {
        match e.kind {
            EventKind::Invoke => {
                if !e.op.is_read() {
                    open.insert(e.process, out.len());
                    out.push(Write {
                        op: &e.op,
                        invoke_ns: e.time_ns,
                        complete_ns: None,
                        acked: false,
                    });
                }
            }
            kind => {
                if let Some(i) = open.remove(&e.process) {
                    match kind {
                        EventKind::Ok => {
                            out[i].acked = true;
                            out[i].complete_ns = Some(e.time_ns);
                        }
                        // A failed write certainly did not happen: it is no candidate.
                        EventKind::Fail => out[i].complete_ns = Some(0),
                        _ => {}
                    }
                }
            }
        }
    }
    out.retain(|w| w.acked || w.complete_ns.is_none());
    out
}

fn judge(writes: &[Write<'_>], state: &StateView) -> Vec<String> {
    let mut problems = Vec::new();
    match state {
        StateView::Elements(present) => {
            for w in writes.iter().filter(|w| w.acked) {
                if let ClientOp::SetAdd { element } = *w.op {
                    if present.binary_search(&element).is_err() {
                        problems.push(format!("acknowledged add {element} is missing"));
                    }
                }
            }
        }
        StateView::Kv(map) => {
            let mut by_key: BTreeMap<&str, Vec<&Write<'_>>> = BTreeMap::new();
            for w in writes {
                if let Some(k) = w.op.key() {
                    by_key.entry(k).or_default().push(w);
                }
            }
            for (key, on_key) in by_key {
                judge_key(
                    key,
                    &on_key,
                    map.get(key).map(String::as_str),
                    &mut problems,
                );
            }
        }
        StateView::Nothing => {}
    }
    problems
}

fn is_overwrite(op: &ClientOp) -> bool {
    matches!(
        op,
        ClientOp::Put { .. } | ClientOp::Delete { .. } | ClientOp::Cas { .. }
    )
}

/// Linear in the key's writes: the real-time comparisons reduce to two maxima.
fn judge_key(key: &str, on_key: &[&Write<'_>], value: Option<&str>, problems: &mut Vec<String>) {
    let tokens: BTreeSet<&str> = value
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    let first_token = value.and_then(|v| v.split_whitespace().next());
    // The latest completion of any overwrite (an indeterminate one never completes), and
    // the latest invocation of an acknowledged one.
    let last_overwrite_complete = on_key
        .iter()
        .filter(|w| is_overwrite(w.op))
        .map(|w| w.complete_ns.unwrap_or(u64::MAX))
        .max();
    let last_acked_overwrite_invoke = on_key
        .iter()
        .filter(|w| w.acked && is_overwrite(w.op))
        .map(|w| w.invoke_ns)
        .max();
    for w in on_key.iter().filter(|w| w.acked) {
        if let ClientOp::Append { value: token, .. } = w.op {
            let token = token.trim();
            let overwritten = last_overwrite_complete.is_some_and(|t| t >= w.invoke_ns);
            if !overwritten && !tokens.contains(token) {
                problems.push(format!(
                    "acknowledged append {token} to {key} is missing (value {value:?})"
                ));
            }
        }
    }
    let Some(last_acked) = last_acked_overwrite_invoke else {
        return;
    };
    // Writes no acknowledged overwrite strictly follows (invoked after they completed):
    // one of them must show.
    let in_frontier =
        |w: &&&Write<'_>| is_overwrite(w.op) && w.complete_ns.is_none_or(|c| c >= last_acked);
    let append_tokens: BTreeSet<&str> = on_key
        .iter()
        .filter_map(|w| match w.op {
            ClientOp::Append { value, .. } => Some(value.trim()),
            _ => None,
        })
        .collect();
    let explained = on_key.iter().filter(in_frontier).any(|w| match w.op {
        ClientOp::Put { value: v, .. } | ClientOp::Cas { new: v, .. } => {
            first_token == Some(v.as_str())
        }
        ClientOp::Delete { .. } => first_token.is_none_or(|t| append_tokens.contains(t)),
        _ => false,
    });
    if !explained {
        let latest = on_key
            .iter()
            .filter(in_frontier)
            .filter(|w| w.acked)
            .map(|w| w.op.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        problems.push(format!(
            "{key} = {value:?}, but the last acknowledged write was {latest}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;
    use protocol::OpOutput;

    fn ev(process: u64, kind: EventKind, op: ClientOp, t: u64) -> Event {
        let output = (kind == EventKind::Ok).then_some(OpOutput::Done);
        Event {
            process,
            kind,
            op,
            output,
            time_ns: t,
        }
    }

    fn put(v: &str) -> ClientOp {
        ClientOp::Put {
            key: "k".into(),
            value: v.into(),
        }
    }

    fn kv(v: Option<&str>) -> Vec<(NodeId, StateView)> {
        let mut m = BTreeMap::new();
        if let Some(v) = v {
            m.insert("k".to_string(), v.to_string());
        }
        vec![(NodeId(1), StateView::Kv(m))]
    }

    #[test]
    fn lost_put_is_caught_and_a_later_or_concurrent_one_is_not() {
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, put("a"), 1),
                ev(0, EventKind::Ok, put("a"), 2),
                ev(0, EventKind::Invoke, put("b"), 3),
                ev(0, EventKind::Ok, put("b"), 4),
                ev(1, EventKind::Invoke, put("c"), 5), // never completes: may have happened
            ],
        };
        assert!(check(&h, &kv(Some("b"))).is_empty());
        assert!(check(&h, &kv(Some("c"))).is_empty());
        let v = check(&h, &kv(Some("a")));
        assert_eq!(v.len(), 1, "a was overwritten by the acknowledged b: {v:?}");
        assert_eq!(check(&h, &kv(None)).len(), 1);
    }

    #[test]
    fn acknowledged_add_and_append_must_survive() {
        let add = ClientOp::SetAdd { element: 7 };
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, add.clone(), 1),
                ev(0, EventKind::Ok, add, 2),
            ],
        };
        assert!(check(&h, &[(NodeId(1), StateView::Elements(vec![7]))]).is_empty());
        assert_eq!(
            check(&h, &[(NodeId(2), StateView::Elements(vec![]))]).len(),
            1
        );

        let app = ClientOp::Append {
            key: "k".into(),
            value: "c0-1 ".into(),
        };
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, app.clone(), 1),
                ev(0, EventKind::Ok, app, 2),
            ],
        };
        assert!(check(&h, &kv(Some("c9-9 c0-1 "))).is_empty());
        assert_eq!(check(&h, &kv(Some("c9-9 "))).len(), 1);
    }

    #[test]
    fn a_put_concurrent_with_an_append_may_replace_it() {
        let app = ClientOp::Append {
            key: "k".into(),
            value: " c0-1".into(),
        };
        let h = History {
            events: vec![
                ev(1, EventKind::Invoke, put("c1-1"), 1),
                ev(0, EventKind::Invoke, app.clone(), 2),
                ev(0, EventKind::Ok, app.clone(), 3),
                ev(1, EventKind::Ok, put("c1-1"), 4),
            ],
        };
        assert!(
            check(&h, &kv(Some("c1-1"))).is_empty(),
            "the put may be ordered after the append"
        );
        let h = History {
            events: vec![
                ev(1, EventKind::Invoke, put("c1-1"), 1),
                ev(1, EventKind::Ok, put("c1-1"), 2),
                ev(0, EventKind::Invoke, app.clone(), 3),
                ev(0, EventKind::Ok, app, 4),
            ],
        };
        assert_eq!(
            check(&h, &kv(Some("c1-1"))).len(),
            1,
            "a put that completed first cannot hide it"
        );
    }

    #[test]
    fn a_combined_view_is_judged_and_named_by_its_label() {
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, put("a"), 1),
                ev(0, EventKind::Ok, put("a"), 2),
            ],
        };
        let stale = StateView::Kv(BTreeMap::new());
        let v = check_views(&h, &[("n2+n3".to_string(), &stale)]);
        assert_eq!(v.len(), 1);
        assert!(
            v[0].detail.starts_with("n2+n3: k = None"),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn failed_writes_are_no_candidates() {
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, put("a"), 1),
                ev(0, EventKind::Ok, put("a"), 2),
                ev(0, EventKind::Invoke, put("z"), 3),
                ev(0, EventKind::Fail, put("z"), 4),
            ],
        };
        assert_eq!(check(&h, &kv(Some("z"))).len(), 1);
        assert!(check(&h, &kv(Some("a"))).is_empty());
    }
}
