//! The sans-IO vocabulary every system under test speaks, and what a system says about
//! itself.
//!
//! - [`ids`]: newtypes for node ids, terms, log indexes, request and timer ids.
//! - [`time`]: [`Instant`], a node's reading of its own (possibly skewed) clock.
//! - [`op`]: the [`Op`] trait a system's client operations implement, and how a request
//!   can fail ([`ClientError`]).
//! - [`node`]: the [`Node`] trait, the context [`Cx`] handlers run in, and [`Effect`]s.
//! - [`harness`]: [`Harness`], one node driven by hand in unit tests.
//! - [`cluster`]: [`Cluster`], a whole cluster of one system driven in deterministic
//!   simulated time for unit tests, with a modelled disk ([`Storage`]), a chaotic network,
//!   crashes and a built-in election-safety check.
//! - [`history`]: what clients saw, as a Jepsen-style [`History`].
//! - [`model`]: [`Model`], a sequential specification to check histories against.
//! - [`system`]: [`System`], a node that describes itself (name, shape, workload,
//!   promises), its [`Workload`] and [`Invariant`]s.
//! - [`params`]: string parameters a scenario hands a system, with typed, checked reads.
//!
//! Nothing here knows about madsim, tokio or the wall clock: a node is a pure state
//! machine that a unit test can drive by hand and the harness can drive in simulation.

pub mod cluster;
pub mod harness;
pub mod history;
pub mod ids;
pub mod model;
pub mod node;
pub mod op;
pub mod params;
pub mod system;
pub mod time;

pub use cluster::{Cluster, Faults, Reply, Storage};
pub use harness::{replies, sends, split_mix, Harness, SplitMix};
pub use history::{Event, EventKind, History};
pub use ids::{LogIndex, NodeId, RequestId, Term, TimerId};
pub use model::{Ended, Model, Outcome, Reset};
pub use node::{
    below, Cx, Data, Disk, Effect, Effects, Fnv, Node, NodeEffect, NodeStatus, Output, Role,
};
pub use op::{ClientError, ClientResult, Datum, Op};
pub use params::{ParamError, Params};
pub use system::{
    Budget, Finals, Invariant, InvariantId, Promises, Shape, System, Undecided, Violation,
    Workload, WorkloadSpec,
};
pub use time::Instant;
