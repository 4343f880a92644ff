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
    /// In replay mode, every message, timer and note, for reports (else empty).
    pub wires: crate::wires::Wires,
    /// What a node's panic said, if one stopped the run. Then the history, timeline and
    /// log are what happened until the panic, `observed` what the harness had seen break
    /// by then (two leaders in one term is often what led to it), and there are no finals.
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
        let mut observed = self.election.violations().to_vec();
        observed.extend(self.liveness_violation());
        self.close(seed, end_ns, History { events }, finals, observed, None)
    }

    /// Hands the run over: the digest and the trace's timeline and log closed.
    fn close(
        &mut self,
        seed: u64,
        end_ns: u64,
        history: History<S::Op>,
        finals: Vec<(NodeId, S::State)>,
        observed: Vec<Violation>,
        panic: Option<String>,
    ) -> Simulation<S> {
        let (timeline, timeline_dropped) = self.trace.take_timeline();
        Simulation {
            seed,
            digest: self.trace.digest(),
            history,
            finals,
            observed,
            timeline,
            timeline_dropped,
            log: self.trace.take_log(),
            stats: self.trace.stats,
            end_ns,
            clients: self.clients.len() as u32,
            wires: self.wires.take().unwrap_or_default(),
            panic,
        }
    }
}

impl<S: System> World<S> {
    /// What survives a node's panic: the run until then. The world may have been
    /// mid-step, so only what was recorded is read: no final states, no liveness verdict
    /// (the run never reached its deadline).
    pub fn salvage(&mut self, seed: u64, message: String) -> Simulation<S> {
        let end_ns = self.now_ns();
        let mut events: Vec<Event<S::Op>> = std::mem::take(&mut self.history);
        // A panicking step may have stamped a reply ahead of others; keep time order.
        events.sort_by_key(|e| e.time_ns);
        self.trace.feed(&[events.len() as u64, u64::MAX]);
        let observed = self.election.violations().to_vec();
        let history = History { events };
        self.close(seed, end_ns, history, Vec::new(), observed, Some(message))
    }

    /// With a liveness phase: a violation if any operation invoked in its second half
    /// was not served (see [`crate::client::Service`]).
    fn liveness_violation(&mut self) -> Option<Violation> {
        let window = self.liveness?;
        for slot in &mut self.clients {
            slot.client.close_service();
        }
        crate::client::unserved(window, self.clients.iter().map(|s| &s.client.service))
    }
}
