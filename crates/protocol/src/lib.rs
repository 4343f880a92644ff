//! The sans-IO vocabulary every system under test speaks.
//!
//! - [`ids`]: newtypes for node ids, terms, log indexes, request and timer ids.
//! - [`time`]: [`Instant`], a node's reading of its own (possibly skewed) clock.
//! - [`client`]: the operations clients invoke (key-value and set) and their results.
//! - [`node`]: the [`Node`] trait, the context [`Cx`] handlers run in, and [`Effect`]s.
//! - [`params`]: string parameters a scenario hands a system, with typed, checked reads.
//!
//! Nothing here knows about madsim, tokio or the wall clock: a node is a pure state
//! machine that a unit test can drive by hand and the harness can drive in simulation.

pub mod client;
pub mod ids;
pub mod node;
pub mod params;
pub mod time;

pub use client::{ClientError, ClientOp, ClientResult, Key, OpOutput, Value};
pub use ids::{LogIndex, NodeId, RequestId, Term, TimerId};
pub use node::{
    replies, sends, Cx, Disk, Effect, Effects, Fnv, Harness, Node, NodeStatus, Role, StateView,
};
pub use params::{ParamError, Params};
pub use time::Instant;
