//! The madsim harness: runs any [`protocol::System`] under a scenario, deterministically
//! per seed. It names no system: everything it knows of one, the system says.
//!
//! One run flows one way: [`run::prepare`] (scenario and system: configuration, shape,
//! workload, promises) → [`run::simulate`] (history, final states, typed trace) →
//! [`judge::judge`] → [`summary`] (verdicts over seeds, text).
//!
//! - [`run`]: preparing a scenario for a system, and one simulated run.
//! - [`world`]: the shared state of a run behind methods: nodes, clients, faults, the
//!   end of a run; the world moves madsim's clock from one event to the next.
//! - [`driver`]: the thin task that feeds one endpoint its events.
//! - [`nemesis`]: the scenario's fault timeline, played on the main task.
//! - [`mailbox`]: one node's queued events in time order.
//! - [`agenda`]: when each endpoint's driver must next run.
//! - [`net`]: latency, loss, duplication, reordering, partitions.
//! - [`clock`]: per-node offset, drift and jumps.
//! - [`disk`]: durable store with explicit sync; crashes lose or tear unsynced writes.
//! - [`client`]: a client's redirects, timeouts and history recording, over the system's
//!   workload.
//! - [`trace`]: digest, typed timeline and replay log.
//! - [`wires`]: in replay mode, every message, timer and note, for reports.
//! - [`judge`]: the end-of-run judgement: what the harness observed, then the system's
//!   promises.
//! - [`registry`]: systems by name for files and command lines; erased run reports.
//! - [`summary`]: verdicts over seeds, the one rule for what is expected, and the
//!   canonical text snapshots hold.
//! - [`bench`]: speed of a workload against raw madsim.

pub mod agenda;
pub mod bench;
pub mod client;
pub mod clock;
pub mod disk;
pub mod driver;
pub mod judge;
pub mod mailbox;
pub mod nemesis;
pub mod net;
pub mod registry;
pub mod run;
pub mod summary;
pub mod trace;
pub mod wires;
pub mod world;

pub use judge::{judge, Judgement, DEFAULT_BUDGET};
pub use registry::{PreparedRun, RecordedHistory, Registry, RunReport};
pub use run::{prepare, run, simulate, Prepared, Refused, Run, RunError, RunOptions};
pub use world::Simulation;
