//! splitbrain: deterministic simulation testing for replicated systems. Bring a node that
//! is a pure state machine ([`Node`]), say what it is ([`System`]: name, cluster shape,
//! workload, promises), and run it from your own `cargo test` against a simulated
//! network, clock and disk that replay bit-for-bit from a seed.
//!
//! This is the one crate a user's system depends on; it re-exports the public surface of
//! the workspace's crates:
//! - the node contract and what a system says about itself: [`Node`], [`Cx`], [`Effect`],
//!   [`System`], [`Op`], [`Model`], [`Workload`], [`Invariant`] (from `protocol`);
//! - [`Cluster`], a deterministic multi-node driver for a system's unit tests, and
//!   [`Harness`] for one node;
//! - the checkers and the built-in vocabularies: [`checkers`] (linearizability over any
//!   model, durability, convergence, sessions, sets), [`models`] (kv, set);
//! - scenarios: [`Scenario`], [`ScenarioBuilder`], [`Selector`], [`Action`];
//! - the harness: [`run()`], [`prepare`], [`simulate`], [`judge`], [`Registry`];
//! - for tests: [`testing::Test`] and [`testing::snapshot_scenarios`];
//! - for a binary: [`cli::Cli`], the `splitbrain` command line over your registry.
//!
//! Modules here: [`testing`] (scenarios from `cargo test`), [`cli`] (the command line),
//! [`hunt`] (swarm seeds in parallel, findings grouped), [`report`] (one run as an HTML
//! page), [`shrink`] (a failing scenario made small), [`live`] (real mode's harness: node
//! processes, relays, the load over TCP, the nemesis, the same judgement), [`bench`] (the
//! `bench` command's figures).

pub mod bench;
pub mod cli;
pub mod hunt;
pub mod live;
pub mod report;
pub mod shrink;
pub mod testing;

pub use protocol::{
    below, replies, sends, Budget, ClientError, ClientResult, Cluster, Cx, Data, Datum, Disk,
    Effect, Effects, Event, EventKind, Faults, Finals, Harness, History, Instant, Invariant,
    InvariantId, LogIndex, Model, Node, NodeEffect, NodeId, NodeStatus, Op, Outcome, Output,
    ParamError, Params, Promises, Reply, RequestId, Role, Shape, Storage, System, Term, TimerId,
    Undecided, Violation, Workload, WorkloadSpec,
};
pub use protocol::{split_mix, SplitMix};
pub use rand_core::RngCore;
pub use scenario::{
    Action, Catalog, Expect, ProtocolEvent, RoleName, Scenario, ScenarioBuilder, ScenarioError,
    Selector, SystemInfo, Trigger,
};
pub use sim::trace::Mark;
pub use sim::{
    judge, prepare, run, simulate, Judgement, Prepared, PreparedRun, Registry, Run, RunError,
    RunOptions, RunReport, Simulation,
};
pub use testing::Test;

/// The checkers a system lists among its promises, and the ones below them.
pub mod checkers {
    pub use check::history::{
        check_linearizable, check_sessions, check_set, linearizable, to_edn, LinOptions, Verdict,
    };
    pub use check::invariants::{
        convergence, durability, replica_consistency, AllDocumentsEqual, Convergence, Durability,
        Linearizability, Sessions, SetSemantics,
    };
}

/// The built-in operation vocabularies, each with its model and workload.
pub mod models {
    pub use check::models::{kv, set};
}
