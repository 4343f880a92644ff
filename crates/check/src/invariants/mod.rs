//! Run invariants, one property per file, each an [`protocol::Invariant`] a system lists
//! among its promises (election safety is the harness's own, observed during the run).
//!
//! - [`election_safety`]: at most one leader per term; without terms, one master at a time.
//! - [`durability`]: no acknowledged write is missing from the final state.
//! - [`convergence`]: after healing and quiescing, live replicas hold the same data.
//! - [`linearizability`]: the history is linearizable over the system's model.
//! - [`session`]: monotonic reads and read-your-writes per client.
//! - [`replica_consistency`]: the seed designs' own consistency checks on final states.
//! - [`set`]: Jepsen's set checker on each replica's final documents.

pub mod convergence;
pub mod durability;
pub mod election_safety;
pub mod linearizability;
pub mod replica_consistency;
pub mod session;
pub mod set;

pub use convergence::Convergence;
pub use durability::Durability;
pub use linearizability::Linearizability;
pub use protocol::Violation;
pub use replica_consistency::AllDocumentsEqual;
pub use session::Sessions;
pub use set::SetSemantics;
