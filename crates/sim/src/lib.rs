//! The madsim harness: runs a sans-IO system under a scenario, deterministically per seed.
//!
//! - [`bench`]: speed of the standard workload against raw madsim.
//! - [`world`]: shared run state, per-endpoint mailboxes, the thin driver, and the world
//!   moving madsim's clock from one event to the next.
//! - [`agenda`]: when each endpoint's driver must next run.
//! - [`net`]: latency, loss, duplication, reordering, partitions.
//! - [`clock`]: per-node offset, drift and jumps.
//! - [`disk`]: durable store with explicit sync; crashes lose or tear unsynced writes.
//! - [`client`]: workload generation, redirects, timeouts, history recording.
//! - [`trace`]: digest, timeline and replay log.
//! - [`judge`]: which invariants judge which system's final state and history.
//! - [`run`]: one (scenario, system, seed) run, the nemesis, and the final judgement.
//! - [`registry`]: system names to types.
//! - [`summary`]: verdicts over seeds and the canonical text snapshots hold.

pub mod agenda;
pub mod bench;
pub mod client;
pub mod clock;
pub mod disk;
pub mod judge;
pub mod net;
pub mod registry;
pub mod run;
pub mod summary;
pub mod trace;
pub mod world;

pub use registry::{run_system, RunError};
pub use run::{RunOptions, RunReport};

/// Uniform in `[0, n)` (0 when `n` is 0), by multiply-shift.
pub fn rand_below(rng: &mut impl rand_core::RngCore, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}
