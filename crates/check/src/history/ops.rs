//! Pairs a history's invocations with their completions into operations.
//!
//! Not a checker itself: every checker starts from these operations. Structural errors
//! (a completion with no invocation, an invocation from a busy process, an `ok` read
//! without its value) are reported with the event's index, never a panic.

use super::{Event, EventKind, History};
use protocol::{ClientOp, OpOutput};
use std::collections::BTreeMap;
use std::fmt;

/// One invoked operation and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub process: u64,
    pub op: ClientOp,
    /// Index of the invocation in `History::events`.
    pub invoke: usize,
    /// Index of the completion; `None` if still pending at the end of the history.
    pub complete: Option<usize>,
    /// `Ok`, `Fail`, `Info`, or `Invoke` when pending at the end.
    pub end: EventKind,
    /// What an `ok` completion returned.
    pub output: Option<OpOutput>,
    /// Recorded times of invocation and completion, for reports.
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
}

impl Operation {
    /// Whether the outcome is unknown: it may have taken effect at any point after its
    /// invocation, or never.
    pub fn indeterminate(&self) -> bool {
        matches!(self.end, EventKind::Info | EventKind::Invoke)
    }

    /// A one-line rendering: `process 3: put x=1 -> ok (events 4..9)`.
    pub fn summary(&self) -> String {
        let result = match (&self.end, &self.output) {
            (EventKind::Ok, Some(OpOutput::Value { value, version })) => {
                let v = value
                    .as_deref()
                    .map_or("nil".to_string(), |v| format!("{v:?}"));
                match version {
                    Some(n) => format!("ok {v} (version {n})"),
                    None => format!("ok {v}"),
                }
            }
            (EventKind::Ok, Some(OpOutput::Set(s))) => format!("ok {s:?}"),
            (EventKind::Ok, _) => "ok".to_string(),
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
pub fn operations(h: &History) -> Result<Vec<Operation>, HistoryError> {
    // About one operation per invocation and completion pair.
    let mut ops: Vec<Operation> = Vec::with_capacity(h.events.len() / 2 + 1);
    // process -> index in `ops` of its operation in flight.
    let mut busy: BTreeMap<u64, usize> = BTreeMap::new();
    for (i, e) in h.events.iter().enumerate() {
        let err = |message: String| HistoryError { event: i, message };
        match e.kind {
            EventKind::Invoke => {
                if let Some(&j) = busy.get(&e.process) {
                    return Err(err(format!(
                        "process {} invokes `{}` while its `{}` (event {}) has not completed; \
                         expected a completion first (a process runs one operation at a time)",
                        e.process,
                        e.op,
                        ops[j].op,
                        ops[j].invoke + 1
                    )));
                }
                busy.insert(e.process, ops.len());
                ops.push(Operation {
                    process: e.process,
                    op: e.op.clone(),
                    invoke: i,
                    complete: None,
                    end: EventKind::Invoke,
                    output: None,
                    invoke_ns: e.time_ns,
                    complete_ns: None,
                });
            }
            EventKind::Ok | EventKind::Fail | EventKind::Info => {
                let Some(j) = busy.remove(&e.process) else {
                    return Err(err(format!(
                        "`{}` completion of `{}` from process {}, which has no operation in \
                         flight; expected an invoke from that process first",
                        e.kind, e.op, e.process
                    )));
                };
                if ops[j].op != e.op {
                    return Err(err(format!(
                        "process {} completes `{}` but invoked `{}` (event {}); expected the \
                         completion to repeat the invoked operation",
                        e.process,
                        e.op,
                        ops[j].op,
                        ops[j].invoke + 1
                    )));
                }
                check_output(e).map_err(err)?;
                let o = &mut ops[j];
                o.complete = Some(i);
                o.end = e.kind;
                o.complete_ns = Some(e.time_ns);
                o.output = if e.kind == EventKind::Ok {
                    Some(e.output.clone().unwrap_or(OpOutput::Done))
                } else {
                    None
                };
            }
        }
    }
    Ok(ops)
}

/// An `ok` read must say what it read, or no checker can judge it.
fn check_output(e: &Event) -> Result<(), String> {
    if e.kind != EventKind::Ok {
        return Ok(());
    }
    match (&e.op, &e.output) {
        (ClientOp::Get { .. }, Some(OpOutput::Value { .. })) => Ok(()),
        (ClientOp::Get { .. }, other) => Err(format!(
            "`ok` get must carry a value output (OpOutput::Value), found {other:?}"
        )),
        (ClientOp::SetRead, Some(OpOutput::Set(_))) => Ok(()),
        (ClientOp::SetRead, other) => Err(format!(
            "`ok` set read must carry the set read (OpOutput::Set), found {other:?}"
        )),
        (_, None | Some(OpOutput::Done)) => Ok(()),
        (op, Some(other)) => Err(format!(
            "`ok` {op} is a write and should return done, found {other:?}"
        )),
    }
}
