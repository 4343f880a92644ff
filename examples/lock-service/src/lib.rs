//! A lease-based lock service, tested with splitbrain from its own crate: a user's system
//! on the public API only.
//!
//! - [`ops`]: what clients do (acquire, release), the lock's sequential model, the
//!   clients' workload, and an invariant of the service's own (fencing tokens in grant
//!   order).
//! - [`node`]: the replicas, in two versions: [`node::Fenced`] (the epoch is a fencing
//!   token replicas check) and [`node::Unfenced`] (a leader that trusts its lease keeps
//!   granting after its lease ran out on a clock that stepped back).
//!
//! `tests/` runs the files in `sim-scenarios/` and snapshots them into `snapshots/`.

pub mod node;
pub mod ops;

/// The safe lock service.
pub type LeaseLock = node::LeaseLock<node::Fenced>;
/// The flawed one.
pub type UnfencedLeaseLock = node::LeaseLock<node::Unfenced>;

/// Both, as a command line or a scenario folder names them; a reproduce line replays a
/// run with this crate's command line (`examples/splitbrain.rs`).
pub fn registry() -> splitbrain::Registry {
    splitbrain::Registry::new()
        .with::<LeaseLock>()
        .with::<UnfencedLeaseLock>()
        .with_replay_command("cargo run -p lock-service --example splitbrain --")
}

/// The same systems for real mode (`node`, `cluster`, `load`, `real`): their messages,
/// records, operations and states derive serde, so they run as processes over TCP too.
pub fn real_systems() -> splitbrain::live::Systems {
    splitbrain::live::Systems::new()
        .with::<LeaseLock>()
        .with::<UnfencedLeaseLock>()
}
