//! Client histories and the checkers over them.
//!
//! A history is what clients saw: each operation is invoked by a process, then completes
//! `ok` (it took effect, with its output), `fail` (it certainly did not take effect) or
//! `info` (unknown: it may take effect at any point after its invocation, or never). An
//! operation with no completion by the end of the history is indeterminate like `info`.
//! A process runs one operation at a time, as in Jepsen.
//!
//! Checkers, one per file:
//! - [`linearizable`]: linearizability per key (Wing & Gong 1993, Lowe 2017, Porcupine),
//!   against the models in [`model`]; [`Verdict`] with a counterexample, or unknown past
//!   a time budget.
//! - [`set`]: Jepsen's set checker (lost, unexpected, duplicated elements).
//! - [`session`]: monotonic reads and read-your-writes (Terry et al. 1994).
//!
//! Around them: [`ops`] pairs events into operations, [`jepsen`] reads and writes Jepsen
//! histories (log lines and EDN, via [`edn`]), [`report`] is the CLI's one call
//! ([`check_history_file`]), [`generate`] makes seeded linearizable histories for tests,
//! and [`mod@bench`] times it all.

use protocol::{ClientOp, OpOutput};
use std::fmt;

pub mod bench;
pub mod edn;
pub mod generate;
pub mod jepsen;
pub mod linearizable;
pub mod model;
pub mod ops;
pub mod report;
pub mod session;
pub mod set;

pub use bench::{bench_corpus, BenchReport};
pub use jepsen::{parse_history, Format, InputError, Parsed};
pub use linearizable::{check_linearizable, Counterexample, KeyFailure, LinOptions, Verdict};
pub use model::Model;
pub use ops::{operations, HistoryError, Operation};
pub use report::{check_history_file, check_history_text, exit_code, CheckReport};
pub use session::{check_sessions, Guarantee, SessionReport, SessionViolation};
pub use set::{check_set, check_set_reads, SetReport};

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
pub struct Event {
    /// The Jepsen process: one operation at a time; after `info` a client continues as a
    /// new process, since the old one may still have an operation in flight.
    pub process: u64,
    pub kind: EventKind,
    /// The operation invoked; completions repeat it.
    pub op: ClientOp,
    /// On `ok`: what the operation returned.
    pub output: Option<OpOutput>,
    /// Simulated (or recorded) time in nanoseconds; events are in non-decreasing order.
    pub time_ns: u64,
}

/// Events in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub events: Vec<Event>,
}
