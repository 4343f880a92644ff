//! Scenario files: what a run does to a cluster, and what verdict each system should get.
//!
//! - [`schema`]: the validated [`Scenario`] and its parts (network, clock, disk, workload,
//!   fault timeline, expected verdicts).
//! - [`parse`]: TOML to [`Scenario`], every mistake reported as a [`ScenarioError`] with
//!   file, line and field; never a panic.
//! - [`builder`]: scenarios built in code, checked as files are.
//! - [`catalog`]: what a file may name (systems, their invariants and operations), as the
//!   caller's systems describe themselves.
//! - [`selector`]: fault targets resolved at run time (`leader`, `n2`, `minority`, ...).
//! - [`duration`]: `"250ms"`, `"10s"`, `"-3s"` in files.
//! - [`swarm`]: a whole scenario drawn from one seed, for hunting.

pub mod builder;
pub mod catalog;
pub mod duration;
pub mod parse;
pub mod schema;
pub mod selector;
pub mod swarm;

pub use builder::ScenarioBuilder;
pub use catalog::{Catalog, SystemInfo};
pub use parse::{load, load_dir, parse_str, ScenarioError};
pub use schema::*;
pub use selector::Selector;
