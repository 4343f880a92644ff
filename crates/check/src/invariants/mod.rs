//! Run invariants, one property per file. Each judges what the harness observed of node
//! states (role and term changes over time, final data) together with the client history.
//!
//! - [`election_safety`]: at most one leader per term; without terms, one master at a time.
//! - [`durability`]: no acknowledged write is missing from the final state.
//! - [`convergence`]: after healing and quiescing, live replicas hold the same data.
//! - [`replica_consistency`]: the seed design's own consistency check on final states.
//! - [`set`]: Jepsen's set checker on each replica's final documents.

pub mod convergence;
pub mod durability;
pub mod election_safety;
pub mod replica_consistency;
pub mod set;

use std::fmt;

/// One broken invariant, with enough detail for a person to find it in the replay log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name as scenario files write it (`election-safety`).
    pub invariant: &'static str,
    /// Simulated time (ns) of the first evidence, where there is one.
    pub at_ns: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.invariant)?;
        if let Some(t) = self.at_ns {
            write!(
                f,
                " at {}.{:03}s",
                t / 1_000_000_000,
                (t / 1_000_000) % 1000
            )?;
        }
        write!(f, ": {}", self.detail)
    }
}
