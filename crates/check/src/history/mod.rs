//! Client histories and the checkers over them.
//!
//! A history ([`protocol::History`]) is what clients saw: each operation is invoked by a
//! process, then completes `ok`, `fail` or `info` (unknown: it may take effect at any
//! point after its invocation, or never).
//!
//! Checkers, one per file:
//! - [`linearizable`]: linearizability per object (Wing & Gong 1993, Lowe 2017,
//!   Porcupine) over any [`protocol::Model`]; [`Verdict`] with a counterexample, or
//!   unknown past a time budget.
//! - [`set`]: Jepsen's set checker (lost, unexpected, duplicated elements).
//! - [`session`]: monotonic reads and read-your-writes (Terry et al. 1994) over kv reads.
//!
//! Around them: [`ops`] pairs events into operations, [`jepsen`] reads and writes Jepsen
//! histories (log lines and EDN, via [`edn`]), [`report`] is the CLI's one call
//! ([`check_history_file`]), [`generate`] makes seeded linearizable histories for tests,
//! [`adversarial`] makes hard ones (with a brute-force oracle for small ones), and
//! [`mod@bench`] times it all.

pub mod adversarial;
pub mod bench;
pub mod edn;
pub mod export;
pub mod generate;
pub mod jepsen;
pub mod linearizable;
pub mod ops;
pub mod report;
pub mod session;
pub mod set;

pub use bench::{bench_histories, write_adversarial, BenchLine, BenchReport};
pub use export::{
    parse_elle_append, to_edn_elle_append, to_edn_independent, write_edn, EdnForm, ExportError,
};
pub use jepsen::{parse_edn_history, parse_kv, parse_set, to_edn, Format, InputError, Parsed};
pub use linearizable::{
    check_linearizable, Counterexample, KeyFailure, Limit, LinOptions, Verdict, MAX_MEMORY,
};
pub use ops::{operations, HistoryError, Operation};
pub use protocol::{Event, EventKind, History};
pub use report::{check_history_file, check_history_text, exit_code, CheckReport, HistoryModel};
pub use session::{check_sessions, Guarantee, SessionReport, SessionViolation};
pub use set::{check_set, check_set_reads, SetReport};
