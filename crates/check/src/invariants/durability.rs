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

use crate::models::kv::{KvOp, KvState};
use crate::models::set::{Elements, SetOp};
use protocol::{
    EventKind, Finals, History, Invariant, InvariantId, NodeId, Op, Undecided, Violation,
};
use std::collections::BTreeMap;

struct Write<'h, O> {
    op: &'h O,
    /// Its invocation's index in the history's events.
    invoke_event: usize,
    invoke_ns: u64,
    /// `None` while indeterminate (info or still pending).
    complete_ns: Option<u64>,
    acked: bool,
}

/// Reported violations per check are capped; the count of the rest is given.
pub const MAX_REPORTED: usize = 5;

/// No acknowledged write is missing from any replica, for any vocabulary whose
/// replica data can tell ([`Keeps`]): the kv store's and the set's can.
#[derive(Clone, Copy, Debug, Default)]
pub struct Durability;

/// Replica data that can say which acknowledged writes of a history it lost. What a write
/// leaves behind is the vocabulary's to say; reporting (per replica, capped) is the
/// checker's.
pub trait Keeps<O: Op>: Sized {
    /// Per view (a replica, or several read together), what it lost: one each.
    fn lost(history: &History<O>, views: &[(String, &Self)]) -> Vec<Lost>;
}

/// One acknowledged write a view lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lost {
    /// Which view (an index into the views judged).
    pub view: usize,
    /// What is missing, in a line.
    pub problem: String,
    /// The lost write's invocation, as an index into the history's events, where one
    /// write is to blame (reports highlight it).
    pub event: Option<usize>,
}

impl<O: Op, S: Keeps<O>> Invariant<O, S> for Durability {
    fn id(&self) -> InvariantId {
        InvariantId::DURABILITY
    }

    fn check(&self, run: &Finals<'_, O, S>) -> Result<Vec<Violation>, Undecided> {
        let views: Vec<(String, &S)> = run.states.iter().map(|(n, s)| (n.to_string(), s)).collect();
        Ok(report(&views, S::lost(run.history, &views)))
    }
}

impl Keeps<KvOp> for KvState {
    fn lost(history: &History<KvOp>, views: &[(String, &KvState)]) -> Vec<Lost> {
        let writes = writes(history);
        // What each key's writes require of a value, the same for every view: worked
        // out once, when a view first needs it.
        let mut keys: Option<Vec<KeyWrites>> = None;
        let mut lost = Vec::new();
        for (v, (_, state)) in views.iter().enumerate() {
            let mut problems = Vec::new();
            for k in keys.get_or_insert_with(|| key_writes(&writes)) {
                k.judge(state.0.get(k.key).map(String::as_str), &mut problems);
            }
            lost.extend(problems.into_iter().map(|(problem, event)| Lost {
                view: v,
                problem,
                event,
            }));
        }
        lost
    }
}

impl Keeps<SetOp> for Elements {
    fn lost(history: &History<SetOp>, views: &[(String, &Elements)]) -> Vec<Lost> {
        let writes = writes(history);
        let mut lost = Vec::new();
        for (v, (_, present)) in views.iter().enumerate() {
            for w in writes.iter().filter(|w| w.acked) {
                if let SetOp::Add { element } = *w.op {
                    if present.0.binary_search(&element).is_err() {
                        lost.push(Lost {
                            view: v,
                            problem: format!("acknowledged add {element} is missing"),
                            event: Some(w.invoke_event),
                        });
                    }
                }
            }
        }
        lost
    }
}

/// `states`: the final data of each live replica.
pub fn kv(history: &History<KvOp>, states: &[(NodeId, KvState)]) -> Vec<Violation> {
    let views: Vec<(String, &KvState)> = states.iter().map(|(n, s)| (n.to_string(), s)).collect();
    kv_views(history, &views)
}

/// As [`kv`], over views named by `label`: a design whose replica is several nodes
/// together (seed 05's fragments, "n2+n3") is judged on their combined data.
pub fn kv_views(history: &History<KvOp>, views: &[(String, &KvState)]) -> Vec<Violation> {
    report(views, KvState::lost(history, views))
}

/// Every acknowledged add is present on every replica.
pub fn set(history: &History<SetOp>, states: &[(NodeId, Elements)]) -> Vec<Violation> {
    let views: Vec<(String, &Elements)> = states.iter().map(|(n, s)| (n.to_string(), s)).collect();
    report(&views, Elements::lost(history, &views))
}

/// The first [`MAX_REPORTED`] of `lost` (by view index), each prefixed by its view's
/// name; the last says how many more there were.
fn report<S>(views: &[(String, &S)], lost: Vec<Lost>) -> Vec<Violation> {
    let total = lost.len();
    let mut out: Vec<Violation> = lost
        .into_iter()
        .take(MAX_REPORTED)
        .map(|l| Violation {
            invariant: InvariantId::DURABILITY,
            kind: "acknowledged write lost",
            events: l.event.into_iter().collect(),
            at_ns: None,
            detail: format!("{}: {}", views[l.view].0, l.problem),
        })
        .collect();
    if total > out.len() {
        let shown = out.len();
        if let Some(last) = out.last_mut() {
            last.detail
                .push_str(&format!(" (and {} more)", total - shown));
        }
    }
    out
}

fn writes<O: Op>(history: &History<O>) -> Vec<Write<'_, O>> {
    // (process, index in `out` of its write in flight), in no order: about one per
    // client, so a scan of a short vector beats a tree's search, insertion and removal.
    let mut open: Vec<(u64, usize)> = Vec::new();
    // At most one write per invocation and completion pair.
    let mut out: Vec<Write<O>> = Vec::with_capacity(history.events.len() / 2 + 1);
    for (index, e) in history.events.iter().enumerate() {
        let slot = open.iter().position(|o| o.0 == e.process);
        match e.kind {
            EventKind::Invoke => {
                if !e.op.is_read() {
                    match slot {
                        Some(b) => open[b].1 = out.len(),
                        None => open.push((e.process, out.len())),
                    }
                    out.push(Write {
                        op: &e.op,
                        invoke_event: index,
                        invoke_ns: e.time_ns,
                        complete_ns: None,
                        acked: false,
                    });
                }
            }
            kind => {
                if let Some(b) = slot {
                    let i = open.swap_remove(b).1;
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

fn is_overwrite(op: &KvOp) -> bool {
    op.is_overwrite()
}

/// What one key's writes require of its final value.
struct KeyWrites<'h> {
    key: &'h str,
    /// Tokens of acknowledged appends no overwrite can have replaced (none had completed
    /// when they were invoked), in history order: each must be in the value.
    must_show: Vec<(&'h str, usize)>,
    /// Set if an overwrite was acknowledged: the value must come from a write that no
    /// acknowledged overwrite strictly follows.
    frontier: Option<Frontier<'h>>,
}

/// The writes no acknowledged overwrite strictly follows (invoked after they completed).
struct Frontier<'h> {
    /// Values their puts and cas set, sorted: the value's first token may be one.
    values: Vec<&'h str>,
    /// Whether one deletes: then the value may be absent, or start with an append.
    deletes: bool,
    /// Tokens of every append to the key, sorted.
    append_tokens: Vec<&'h str>,
    /// The acknowledged ones, in history order, for the report.
    acked: Vec<&'h KvOp>,
    /// Their invocations' indexes in the history's events.
    acked_events: Vec<usize>,
}

/// Per key, in key order. Linear in the writes: the real-time comparisons reduce to two
/// maxima.
fn key_writes<'h>(writes: &[Write<'h, KvOp>]) -> Vec<KeyWrites<'h>> {
    let mut by_key: BTreeMap<&str, Vec<&Write<'h, KvOp>>> = BTreeMap::new();
    for w in writes {
        by_key.entry(w.op.key_str()).or_default().push(w);
    }
    by_key
        .into_iter()
        .map(|(key, on_key)| {
            // The latest completion of any overwrite (an indeterminate one never
            // completes), and the latest invocation of an acknowledged one.
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
            let must_show = on_key
                .iter()
                .filter(|w| w.acked)
                .filter(|w| last_overwrite_complete.is_none_or(|t| t < w.invoke_ns))
                .filter_map(|w| match w.op {
                    KvOp::Append { value, .. } => Some((value.trim(), w.invoke_event)),
                    _ => None,
                })
                .collect();
            let frontier = last_acked_overwrite_invoke.map(|last_acked| {
                let in_frontier = |w: &&&Write<'h, KvOp>| {
                    is_overwrite(w.op) && w.complete_ns.is_none_or(|c| c >= last_acked)
                };
                let mut values: Vec<&str> = on_key
                    .iter()
                    .filter(in_frontier)
                    .filter_map(|w| match w.op {
                        KvOp::Put { value: v, .. } | KvOp::Cas { new: v, .. } => Some(v.as_str()),
                        _ => None,
                    })
                    .collect();
                values.sort_unstable();
                let deletes = on_key
                    .iter()
                    .filter(in_frontier)
                    .any(|w| matches!(w.op, KvOp::Delete { .. }));
                let mut append_tokens: Vec<&str> = on_key
                    .iter()
                    .filter_map(|w| match w.op {
                        KvOp::Append { value, .. } if deletes => Some(value.trim()),
                        _ => None,
                    })
                    .collect();
                append_tokens.sort_unstable();
                let (acked, acked_events) = on_key
                    .iter()
                    .filter(in_frontier)
                    .filter(|w| w.acked)
                    .map(|w| (w.op, w.invoke_event))
                    .unzip();
                Frontier {
                    values,
                    deletes,
                    append_tokens,
                    acked,
                    acked_events,
                }
            });
            KeyWrites {
                key,
                must_show,
                frontier,
            }
        })
        .collect()
}

impl KeyWrites<'_> {
    /// The key's final `value` against its writes.
    /// What `value` lacks, each with the lost write's invocation where one is to blame.
    fn judge(&self, value: Option<&str>, problems: &mut Vec<(String, Option<usize>)>) {
        let key = self.key;
        if !self.must_show.is_empty() {
            let mut tokens: Vec<&str> = value
                .map(|v| v.split_whitespace().collect())
                .unwrap_or_default();
            tokens.sort_unstable();
            for (token, event) in &self.must_show {
                if tokens.binary_search(token).is_err() {
                    let problem = format!(
                        "acknowledged append {token} to {key} is missing (value {value:?})"
                    );
                    problems.push((problem, Some(*event)));
                }
            }
        }
        let Some(f) = &self.frontier else {
            return;
        };
        let first_token = value.and_then(|v| v.split_whitespace().next());
        // One of the frontier's writes must show.
        let explained = first_token.is_some_and(|t| f.values.binary_search(&t).is_ok())
            || (f.deletes && first_token.is_none_or(|t| f.append_tokens.binary_search(&t).is_ok()));
        if !explained {
            let latest = f
                .acked
                .iter()
                .map(|op| op.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let problem =
                format!("{key} = {value:?}, but the last acknowledged write was {latest}");
            problems.push((problem, f.acked_events.last().copied()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::kv::KvOutput;
    use crate::models::set::SetOutput;
    use protocol::Event;
    use std::collections::BTreeSet;

    fn ev(process: u64, kind: EventKind, op: KvOp, t: u64) -> Event<KvOp> {
        let output = (kind == EventKind::Ok).then_some(KvOutput::Done);
        Event {
            process,
            kind,
            op,
            output,
            time_ns: t,
        }
    }

    fn put(v: &str) -> KvOp {
        KvOp::Put {
            key: "k".into(),
            value: v.into(),
        }
    }

    fn check(h: &History<KvOp>, states: &[(NodeId, KvState)]) -> Vec<Violation> {
        kv(h, states)
    }

    fn kv_one(v: Option<&str>) -> Vec<(NodeId, KvState)> {
        let mut m = BTreeMap::new();
        if let Some(v) = v {
            m.insert("k".to_string(), v.to_string());
        }
        vec![(NodeId(1), KvState(m))]
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
        assert!(check(&h, &kv_one(Some("b"))).is_empty());
        assert!(check(&h, &kv_one(Some("c"))).is_empty());
        let v = check(&h, &kv_one(Some("a")));
        assert_eq!(v.len(), 1, "a was overwritten by the acknowledged b: {v:?}");
        assert_eq!(check(&h, &kv_one(None)).len(), 1);
    }

    #[test]
    fn acknowledged_add_and_append_must_survive() {
        let add = SetOp::Add { element: 7 };
        let h = History {
            events: vec![
                Event {
                    process: 0,
                    kind: EventKind::Invoke,
                    op: add.clone(),
                    output: None,
                    time_ns: 1,
                },
                Event {
                    process: 0,
                    kind: EventKind::Ok,
                    op: add,
                    output: Some(SetOutput::Done),
                    time_ns: 2,
                },
            ],
        };
        assert!(set(&h, &[(NodeId(1), Elements(vec![7]))]).is_empty());
        assert_eq!(set(&h, &[(NodeId(2), Elements(vec![]))]).len(), 1);

        let app = KvOp::Append {
            key: "k".into(),
            value: "c0-1 ".into(),
        };
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, app.clone(), 1),
                ev(0, EventKind::Ok, app, 2),
            ],
        };
        assert!(check(&h, &kv_one(Some("c9-9 c0-1 "))).is_empty());
        assert_eq!(check(&h, &kv_one(Some("c9-9 "))).len(), 1);
    }

    #[test]
    fn a_put_concurrent_with_an_append_may_replace_it() {
        let app = KvOp::Append {
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
            check(&h, &kv_one(Some("c1-1"))).is_empty(),
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
            check(&h, &kv_one(Some("c1-1"))).len(),
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
        let stale = KvState(BTreeMap::new());
        let v = kv_views(&h, &[("n2+n3".to_string(), &stale)]);
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
        assert_eq!(check(&h, &kv_one(Some("z"))).len(), 1);
        assert!(check(&h, &kv_one(Some("a"))).is_empty());
    }
    /// The judgement as first written, per view from scratch: the reference for
    /// `KeyWrites`.
    fn reference_judge(writes: &[Write<'_, KvOp>], state: &KvState) -> Vec<String> {
        let mut problems = Vec::new();
        let mut by_key: BTreeMap<&str, Vec<&Write<'_, KvOp>>> = BTreeMap::new();
        for w in writes {
            by_key.entry(w.op.key_str()).or_default().push(w);
        }
        for (key, on_key) in by_key {
            reference_judge_key(
                key,
                &on_key,
                state.0.get(key).map(String::as_str),
                &mut problems,
            );
        }
        problems
    }

    fn reference_judge_key(
        key: &str,
        on_key: &[&Write<'_, KvOp>],
        value: Option<&str>,
        problems: &mut Vec<String>,
    ) {
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
            if let KvOp::Append { value: token, .. } = w.op {
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
        let in_frontier = |w: &&&Write<'_, KvOp>| {
            is_overwrite(w.op) && w.complete_ns.is_none_or(|c| c >= last_acked)
        };
        let append_tokens: BTreeSet<&str> = on_key
            .iter()
            .filter_map(|w| match w.op {
                KvOp::Append { value, .. } => Some(value.trim()),
                _ => None,
            })
            .collect();
        let explained = on_key.iter().filter(in_frontier).any(|w| match w.op {
            KvOp::Put { value: v, .. } | KvOp::Cas { new: v, .. } => {
                first_token == Some(v.as_str())
            }
            KvOp::Delete { .. } => first_token.is_none_or(|t| append_tokens.contains(t)),
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
            let problem =
                format!("{key} = {value:?}, but the last acknowledged write was {latest}");
            problems.push(problem);
        }
    }

    #[test]
    fn per_key_summaries_judge_as_judging_each_view_from_scratch() {
        use crate::history::generate::Rng;
        let mut problems = 0;
        for seed in 0..300 {
            let mut rng = Rng::new(seed);
            let mut events = Vec::new();
            let mut open: Vec<Option<KvOp>> = vec![None; 3];
            let mut t = 0;
            let mut tokens = vec!["c9-9".to_string()];
            for n in 0..rng.below(40) {
                t += 1 + rng.below(3);
                let c = rng.below(3) as usize;
                let p = c as u64;
                match open[c].take() {
                    None => {
                        let key = format!("k{}", rng.below(2));
                        let token = format!("c{c}-{n}");
                        tokens.push(token.clone());
                        let op = match rng.below(5) {
                            0 => KvOp::Get { key },
                            1 => KvOp::Put { key, value: token },
                            2 => KvOp::Append {
                                key,
                                value: format!(" {token}"),
                            },
                            3 => KvOp::Delete { key },
                            _ => KvOp::Cas {
                                key,
                                expected: None,
                                new: token,
                            },
                        };
                        events.push(ev(p, EventKind::Invoke, op.clone(), t));
                        open[c] = Some(op);
                    }
                    Some(op) => {
                        let kind = [
                            EventKind::Ok,
                            EventKind::Ok,
                            EventKind::Fail,
                            EventKind::Info,
                        ][rng.below(4) as usize];
                        events.push(ev(p, kind, op, t));
                    }
                }
            }
            let h = History { events };
            // Views whose values are made of written tokens, sometimes none.
            let views: Vec<(String, KvState)> = (0..3)
                .map(|v| {
                    let mut m = BTreeMap::new();
                    for key in ["k0", "k1"] {
                        if rng.percent(80) {
                            let words: Vec<&str> = (0..rng.below(4))
                                .map(|_| tokens[rng.below(tokens.len() as u64) as usize].as_str())
                                .collect();
                            m.insert(key.to_string(), words.join(" "));
                        }
                    }
                    (format!("n{v}"), KvState(m))
                })
                .collect();
            let writes = writes(&h);
            let mut keys: Option<Vec<KeyWrites>> = None;
            for (_, view) in &views {
                let mut got = Vec::new();
                for k in keys.get_or_insert_with(|| key_writes(&writes)) {
                    k.judge(view.0.get(k.key).map(String::as_str), &mut got);
                }
                let got: Vec<String> = got.into_iter().map(|(problem, _)| problem).collect();
                assert_eq!(got, reference_judge(&writes, view), "{h:?}\n{view:?}");
                problems += got.len();
            }
        }
        assert!(problems > 100, "{problems}");
    }
}
