//! What clients saw: a Jepsen-style history of invocations and completions.
//!
//! Each operation is invoked by a process, then completes `ok` (it took effect, with its
//! output), `fail` (it certainly did not take effect) or `info` (unknown: it may take
//! effect at any point after its invocation, or never). An operation with no completion by
//! the end of the history is indeterminate like `info`. A process runs one operation at a
//! time, as in Jepsen.

use crate::op::Op;
use std::fmt;

/// Completion kinds, and the invocation itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Invoke => "invoke",
            EventKind::Ok => "ok",
            EventKind::Fail => "fail",
            EventKind::Info => "info",
        })
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event<O: Op> {
    /// The Jepsen process: one operation at a time; after `info` a client continues as a
    /// new process, since the old one may still have an operation in flight.
    pub process: u64,
    pub kind: EventKind,
    /// The operation invoked; completions repeat it.
    pub op: O,
    /// On `ok`: what the operation returned.
    pub output: Option<O::Output>,
    /// Simulated (or recorded) time in nanoseconds; events are in non-decreasing order.
    pub time_ns: u64,
}

/// Events in the order they happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct History<O: Op> {
    pub events: Vec<Event<O>>,
}

impl<O: Op> Default for History<O> {
    fn default() -> History<O> {
        History { events: Vec::new() }
    }
}

impl<O: Op> History<O> {
    /// Completions of each kind: (ok, fail, info).
    pub fn outcomes(&self) -> (usize, usize, usize) {
        let (mut ok, mut fail, mut info) = (0, 0, 0);
        for e in &self.events {
            match e.kind {
                EventKind::Ok => ok += 1,
                EventKind::Fail => fail += 1,
                EventKind::Info => info += 1,
                EventKind::Invoke => {}
            }
        }
        (ok, fail, info)
    }

    /// When each acknowledged write completed, in history order.
    pub fn acknowledged_writes_ns(&self) -> Vec<u64> {
        self.events
            .iter()
            .filter(|e| e.kind == EventKind::Ok && !e.op.is_read())
            .map(|e| e.time_ns)
            .collect()
    }
}
