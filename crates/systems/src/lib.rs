//! The systems under test, each a sans-IO [`protocol::Node`].
//!
//! - [`raft`]: the reference, a correct Raft that must pass every scenario.
//!
//! [`NAMES`] lists what a scenario file may name in its `systems` field.

pub mod raft;

/// Every system a scenario may name.
pub const NAMES: &[&str] = &["raft"];
