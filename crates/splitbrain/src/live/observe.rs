//! What the harness knows of a live cluster as it runs: each node's last reported status
//! (watched over its own connection, `None` while it is down), judged for election safety
//! as it changes, by the same checker the simulator feeds.

use check::invariants::election_safety::ElectionSafety;
use protocol::{NodeStatus, Role, Violation};
use std::sync::Mutex;
use tokio::time::Instant;

pub struct Observer {
    start: Instant,
    inner: Mutex<Inner>,
}

struct Inner {
    statuses: Vec<Option<NodeStatus>>,
    election: ElectionSafety,
}

impl Observer {
    pub fn new(nodes: usize) -> Observer {
        Observer {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                statuses: vec![None; nodes],
                election: ElectionSafety::new(nodes, true),
            }),
        }
    }

    /// Time zero of the run: histories and violations are stamped from it.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock still holds valid statuses.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Node `idx` reported `status` (`None`: its connection closed, it is down).
    pub fn observe(&self, idx: usize, status: Option<NodeStatus>) {
        let now = self.start.elapsed().as_nanos() as u64;
        let mut inner = self.inner();
        if inner.statuses[idx] == status {
            return;
        }
        inner.statuses[idx] = status;
        inner.election.observe(now, idx, status);
    }

    pub fn statuses(&self) -> Vec<Option<NodeStatus>> {
        self.inner().statuses.clone()
    }

    /// The node that leads now: the highest term among those claiming to (the lowest
    /// id among equals, as in simulation).
    pub fn leader(&self) -> Option<usize> {
        self.inner()
            .statuses
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.filter(|s| s.role == Role::Leader).map(|s| (s.term, i)))
            .max_by_key(|(term, i)| (*term, usize::MAX - i))
            .map(|(_, i)| i)
    }

    pub fn election_violations(&self) -> Vec<Violation> {
        self.inner().election.violations().to_vec()
    }
}
