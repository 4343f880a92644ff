//! Checkers that judge a run.
//!
//! - [`history`]: client histories (invoke, ok, fail, info) and the checkers over them.
//! - [`invariants`]: properties of a run's node states: election safety, durability,
//!   convergence.

pub mod history;
pub mod invariants;
