//! Pairs a history's invocations with their completions into operations.
//!
//! Not a checker itself: every checker starts from these operations. Structural errors
//! (a completion with no invocation, an invocation from a busy process, an `ok` read
//! without its value) are reported with the event's index, never a panic.

use protocol::{EventKind, History, Op};
use std::fmt;

/// One invoked operation and how it ended, borrowed from its history's events.
#[derive(Debug, PartialEq, Eq)]
pub struct Operation<'h, O: Op> {
    pub process: u64,
    pub op: &'h O,
    /// Index of the invocation in `History::events`.
    pub invoke: usize,
    /// Index of the completion; `None` if still pending at the end of the history.
    pub complete: Option<usize>,
    /// `Ok`, `Fail`, `Info`, or `Invoke` when pending at the end.
    pub end: EventKind,
    /// What an `ok` completion returned.
    pub output: Option<&'h O::Output>,
    /// Recorded times of invocation and completion, for reports.
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
}

// Manual: a derive would ask `O: Clone`, though only references are copied.
impl<O: Op> Clone for Operation<'_, O> {
    fn clone(&self) -> Self {
        Operation { ..*self }
    }
}

impl<O: Op> Operation<'_, O> {
    /// Whether the outcome is unknown: it may have taken effect at any point after its
    /// invocation, or never.
    pub fn indeterminate(&self) -> bool {
        matches!(self.end, EventKind::Info | EventKind::Invoke)
    }

    /// A one-line rendering: `process 3: put x=1 -> ok (events 4..9)`.
    pub fn summary(&self) -> String {
        let result = match (&self.end, self.output) {
            (EventKind::Ok, Some(out)) => self.op.describe_output(out),
            (EventKind::Ok, None) => "ok".to_string(),
            (EventKind::Fail, _) => "fail".to_string(),
            (EventKind::Info, _) => "info (outcome unknown)".to_string(),
            (EventKind::Invoke, _) => "pending at end (outcome unknown)".to_string(),
        };
        let events = match self.complete {
            Some(c) => format!("events {}..{}", self.invoke + 1, c + 1),
            None => format!("event {}..end", self.invoke + 1),
        };
        format!(
            "process {}: {} -> {} ({events})",
            self.process, self.op, result
        )
    }
}

/// A history that does not describe well-formed operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    /// 0-based index into `History::events`.
    pub event: usize,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.event + 1, self.message)
    }
}

impl std::error::Error for HistoryError {}

/// Pairs invocations and completions per process, in invocation order.
pub fn operations<O: Op>(h: &History<O>) -> Result<Vec<Operation<'_, O>>, HistoryError> {
    // About one operation per invocation and completion pair.
    let mut ops: Vec<Operation<O>> = Vec::with_capacity(h.events.len() / 2 + 1);
    // (process, index in `ops` of its operation in flight), in no order: there are about
    // as many as clients, so a scan of a short vector beats a tree's search, insertion and
    // removal.
    let mut busy: Vec<(u64, usize)> = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        let err = |message: String| HistoryError { event: i, message };
        let slot = busy.iter().position(|b| b.0 == e.process);
        match e.kind {
            EventKind::Invoke => {
                if let Some(b) = slot {
                    let j = busy[b].1;
                    return Err(err(format!(
                        "process {} invokes `{}` while its `{}` (event {}) has not completed; \
                         expected a completion first (a process runs one operation at a time)",
                        e.process,
                        e.op,
                        ops[j].op,
                        ops[j].invoke + 1
                    )));
                }
                busy.push((e.process, ops.len()));
                ops.push(Operation {
                    process: e.process,
                    op: &e.op,
                    invoke: i,
                    complete: None,
                    end: EventKind::Invoke,
                    output: None,
                    invoke_ns: e.time_ns,
                    complete_ns: None,
                });
            }
            EventKind::Ok | EventKind::Fail | EventKind::Info => {
                let Some(b) = slot else {
                    return Err(err(format!(
                        "`{}` completion of `{}` from process {}, which has no operation in \
                         flight; expected an invoke from that process first",
                        e.kind, e.op, e.process
                    )));
                };
                let j = busy.swap_remove(b).1;
                if *ops[j].op != e.op {
                    return Err(err(format!(
                        "process {} completes `{}` but invoked `{}` (event {}); expected the \
                         completion to repeat the invoked operation",
                        e.process,
                        e.op,
                        ops[j].op,
                        ops[j].invoke + 1
                    )));
                }
                if e.kind == EventKind::Ok && e.output.is_none() {
                    return Err(err(format!(
                        "`ok` completion of `{}` without its result; expected the output \
                         the operation returned",
                        e.op
                    )));
                }
                let o = &mut ops[j];
                o.complete = Some(i);
                o.end = e.kind;
                o.complete_ns = Some(e.time_ns);
                o.output = if e.kind == EventKind::Ok {
                    e.output.as_ref()
                } else {
                    None
                };
            }
        }
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::kv::{KvOp, KvOutput};
    use protocol::Event;

    fn ev(process: u64, kind: EventKind, key: &str) -> Event<KvOp> {
        let op = KvOp::Get { key: key.into() };
        let output = (kind == EventKind::Ok).then_some(KvOutput::Value {
            value: None,
            version: None,
        });
        Event {
            process,
            kind,
            op,
            output,
            time_ns: 0,
        }
    }

    fn history(events: Vec<Event<KvOp>>) -> History<KvOp> {
        History { events }
    }

    #[test]
    fn operations_pair_per_process_in_invocation_order() {
        use EventKind::*;
        let h = history(vec![
            ev(7, Invoke, "a"),
            ev(2, Invoke, "b"),
            ev(9, Invoke, "c"),
            ev(2, Ok, "b"),
            ev(7, Info, "a"),
            ev(2, Invoke, "d"),
            ev(2, Fail, "d"),
        ]);
        let ops = operations(&h).unwrap();
        let got: Vec<(u64, Option<usize>, EventKind)> =
            ops.iter().map(|o| (o.process, o.complete, o.end)).collect();
        assert_eq!(
            got,
            [
                (7, Some(4), Info),
                (2, Some(3), Ok),
                (9, None, Invoke),
                (2, Some(6), Fail)
            ]
        );
        assert!(matches!(ops[1].output, Some(KvOutput::Value { .. })));
        assert_eq!(ops[0].output, None);
    }

    #[test]
    fn malformed_pairings_are_errors_at_their_event() {
        use EventKind::*;
        let busy = history(vec![
            ev(1, Invoke, "a"),
            ev(0, Invoke, "b"),
            ev(1, Invoke, "c"),
        ]);
        let e = operations(&busy).unwrap_err();
        assert_eq!(e.event, 2);
        assert!(e.message.contains("while its `get a` (event 1)"), "{e}");
        let stray = history(vec![ev(1, Invoke, "a"), ev(0, Ok, "a")]);
        let e = operations(&stray).unwrap_err();
        assert_eq!(e.event, 1);
        assert!(e.message.contains("no operation in flight"), "{e}");
        let other = history(vec![ev(1, Invoke, "a"), ev(1, Ok, "b")]);
        let e = operations(&other).unwrap_err();
        assert_eq!(e.event, 1);
        assert!(e.message.contains("invoked `get a`"), "{e}");
    }
}
