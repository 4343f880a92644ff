//! The end of a run: final states read from the live replicas, the history handed over,
//! the digest closed.

use super::World;
use crate::trace::{Mark, Stats};
use protocol::{Event, History, NodeId, System, Violation};

/// Everything a simulation produced, before any judgement.
pub struct Simulation<S: System> {
    pub seed: u64,
    /// Over every delivered message, timer, client request, fault, role change, note,
    /// final state and the history's length.
    pub digest: u64,
    pub history: History<S::Op>,
    /// The final data of each live replica, in id order.
    pub finals: Vec<(NodeId, S::State)>,
    /// What the harness saw break while the run went on (election safety).
    pub observed: Vec<Violation>,
    /// Faults and role changes, with their simulated times.
    pub timeline: Vec<(u64, Mark)>,
    /// Timeline entries beyond the bound, counted.
    pub timeline_dropped: usize,
    /// A readable line per event, when asked for.
    pub log: Vec<String>,
    pub stats: Stats,
    pub end_ns: u64,
    /// Clients in the run (a session is a process modulo this).
    pub clients: u32,
    /// What a node's panic said, if one stopped the run (then nothing else survives).
    pub panic: Option<String>,
}

impl<S: System> World<S> {
    /// Closes the run: reads what the replicas hold, closes the digest over it and the
    /// history, and hands everything over.
    pub fn finish(&mut self, seed: u64) -> Simulation<S> {
        let end_ns = self.now_ns();
        assert!(
            self.history
                .windows(2)
                .all(|e| e[0].time_ns <= e[1].time_ns),
            "the history is in time order"
        );
        let finals: Vec<(NodeId, S::State)> = self.nodes[..self.replicas]
            .iter()
            .zip(&self.cluster)
            .filter_map(|(slot, id)| Some((*id, slot.node.as_ref()?.state())))
            .collect();
        let events: Vec<Event<S::Op>> = std::mem::take(&mut self.history);
        for (_, s) in &finals {
            self.trace.feed_hash(s);
        }
        self.trace.feed(&[events.len() as u64]);
        let (timeline, timeline_dropped) = self.trace.take_timeline();
        Simulation {
            seed,
            digest: self.trace.digest(),
            history: History { events },
            finals,
            observed: self.election.violations().to_vec(),
            timeline,
            timeline_dropped,
            log: self.trace.take_log(),
            stats: self.trace.stats,
            end_ns,
            clients: self.clients.len() as u32,
            panic: None,
        }
    }
}
