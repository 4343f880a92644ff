//! Durability: no acknowledged write is missing from the final state (Jepsen's "lost
//! writes"; Raft's Leader Completeness, §5.4, seen from the client).
//!
//! Judged per live replica after the cluster has healed and quiesced, against the client
//! history:
//! - set: every acknowledged add is present;
//! - append: every acknowledged append's token is present, unless an overwrite (put,
//!   delete, cas) of that key was invoked after the append was, and may have replaced it;
//! - put, cas, delete: the final value must come from a write that no acknowledged write
//!   strictly follows in real time (invoked after it completed). Indeterminate writes never
//!   complete, so they stay candidates: they may have taken effect late.
//!
//! Values are whitespace-separated tokens unique per operation (the harness's workload
//! writes `c<client>-<n>`), which is what lets an append be found inside a value.

use super::Violation;
use crate::history::{EventKind, History};
use protocol::{ClientOp, NodeId, StateView};
use std::collections::BTreeMap;

struct Write {
    op: ClientOp,
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

fn writes(history: &History) -> Vec<Write> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut out: Vec<Write> = Vec::new();
    for e in &history.events {
        match e.kind {
            EventKind::Invoke => {
                if !e.op.is_read() {
                    open.insert(e.process, out.len());
                    out.push(Write {
                        op: e.op.clone(),
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

fn judge(writes: &[Write], state: &StateView) -> Vec<String> {
    let mut problems = Vec::new();
    match state {
        StateView::Elements(present) => {
            for w in writes.iter().filter(|w| w.acked) {
                if let ClientOp::SetAdd { element } = w.op {
                    if present.binary_search(&element).is_err() {
                        problems.push(format!("acknowledged add {element} is missing"));
                    }
                }
            }
        }
        StateView::Kv(map) => {
            let mut keys: Vec<&str> = writes.iter().filter_map(|w| w.op.key()).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let on_key: Vec<&Write> =
                    writes.iter().filter(|w| w.op.key() == Some(key)).collect();
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

fn judge_key(key: &str, on_key: &[&Write], value: Option<&str>, problems: &mut Vec<String>) {
    let tokens: Vec<&str> = value
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    for w in on_key.iter().filter(|w| w.acked) {
        if let ClientOp::Append { value: token, .. } = &w.op {
            let token = token.trim();
            let overwritten = on_key
                .iter()
                .any(|o| is_overwrite(&o.op) && o.invoke_ns >= w.invoke_ns);
            if !overwritten && !tokens.contains(&token) {
                problems.push(format!(
                    "acknowledged append {token} to {key} is missing (value {value:?})"
                ));
            }
        }
    }
    if !on_key.iter().any(|w| w.acked && is_overwrite(&w.op)) {
        return;
    }
    // Writes no acknowledged overwrite strictly follows: one of them must show.
    let frontier: Vec<&&Write> = on_key
        .iter()
        .filter(|w| is_overwrite(&w.op))
        .filter(|w| {
            !on_key.iter().any(|o| {
                o.acked && is_overwrite(&o.op) && w.complete_ns.is_some_and(|c| o.invoke_ns > c)
            })
        })
        .collect();
    let append_token = |t: &str| {
        on_key
            .iter()
            .any(|w| matches!(&w.op, ClientOp::Append { value, .. } if value.trim() == t))
    };
    let explained = frontier.iter().any(|w| match &w.op {
        ClientOp::Put { value: v, .. } | ClientOp::Cas { new: v, .. } => {
            tokens.first() == Some(&v.as_str())
        }
        ClientOp::Delete { .. } => tokens.first().is_none_or(|t| append_token(t)),
        _ => false,
    });
    if !explained {
        let latest = frontier
            .iter()
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
