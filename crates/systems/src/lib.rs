//! The systems under test, each a sans-IO [`protocol::Node`] that describes itself as a
//! [`protocol::System`] (name, cluster shape, workload, promises).
//!
//! - [`raft`]: the reference, a correct Raft that must pass every scenario.
//! - [`bully`]: seeds 01 + 02, bully election and push replication with a retry queue.
//! - [`quorum_kv`]: seed 04, lowest-id leader, whole-map pushes counted against W.
//! - [`term_bully`]: seed 03, a monitor electing among databases by id and stored term.
//! - [`fragment_failover`]: seed 05, master + courier-fragment failover, LWW on return.

pub mod bully;
pub mod fragment_failover;
pub mod quorum_kv;
pub mod raft;
pub mod term_bully;
