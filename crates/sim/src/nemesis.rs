//! The nemesis: the scenario's fault timeline, played on the main task. It resolves each
//! fault's target against the cluster at that instant, acts on the madsim nodes (kill,
//! restart, pause, resume) and tells the world, which traces and keeps the books.

use crate::world::Shared;
use madsim::runtime::Handle;
use madsim::task::NodeId as MadsimId;
use madsim::time::TimeHandle;
use protocol::System;
use scenario::Action;
use std::time::Duration;

pub struct Nemesis<S: System> {
    world: Shared<S>,
    handle: Handle,
    /// Each node's madsim node, by node index.
    nodes: Vec<MadsimId>,
    time: TimeHandle,
    /// When the run started, on madsim's clock.
    start: std::time::Instant,
}

impl<S: System> Nemesis<S> {
    pub fn new(world: Shared<S>, handle: Handle, nodes: Vec<MadsimId>) -> Nemesis<S> {
        let time = madsim::time::TimeHandle::current();
        let start = time.now_instant() - time.elapsed();
        Nemesis {
            world,
            handle,
            nodes,
            time,
            start,
        }
    }

    /// Sleeps the main task until `at` (since the run's start). The world is told first:
    /// it moves the clock itself only up to the main task's next wake-up, and this is the
    /// moment to pick up whatever the last action changed (a restart, a resume).
    pub async fn sleep_until(&self, at: Duration) {
        // madsim sleeps at least 1 ms: the deadline is what it will really be.
        let sleep = madsim::time::sleep_until(self.start + at);
        let deadline_ns = (sleep.deadline() - self.start).as_nanos() as u64;
        {
            let mut w = self.world.lock().expect("world");
            w.set_horizon(deadline_ns);
            w.wake_next();
        }
        sleep.await;
        // Only the executor's own nudges (tens of ns per task run) separate the two; a late
        // wake-up would mean the world moved the clock past a nemesis action.
        let woke_ns = self.time.elapsed().as_nanos() as u64;
        assert!(
            (deadline_ns..deadline_ns + 100_000).contains(&woke_ns),
            "the main task, due at {deadline_ns} ns, woke at {woke_ns} ns"
        );
    }

    /// Does `action` to the cluster as it is now.
    pub fn act(&self, action: &Action) {
        self.world.lock().expect("world").act(action);
    }

    /// The fault phase ends: the network heals, paused nodes resume and crashed ones
    /// restart.
    pub fn quiesce(&self) {
        let mut w = self.world.lock().expect("world");
        w.quiesce();
        for (i, &id) in self.nodes.iter().enumerate() {
            if w.is_paused(i) {
                w.set_paused(i, false, false);
                self.handle.resume(id);
            }
            if !w.is_up(i) {
                w.revive(i);
                self.handle.restart(id);
            }
        }
    }
}
