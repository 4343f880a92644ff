//! Checkers that judge a run, and the operation vocabularies that come with them.
//!
//! - [`models`]: kv and set: operations, sequential models, workloads and final states.
//! - [`history`]: client histories and the checkers over them (linearizability over any
//!   model, sets, sessions), Jepsen's formats.
//! - [`invariants`]: properties of a finished run, one per file, as
//!   [`protocol::Invariant`]s a system lists among its promises.
//! - [`measure`]: the process's memory, for benchmarks.

pub mod history;
pub mod invariants;
pub mod measure;
pub mod models;
