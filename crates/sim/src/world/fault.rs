//! What the nemesis does to the cluster, as the world sees it: each change traced and
//! reflected in the agenda. Killing, restarting, pausing and resuming a node's madsim node
//! is the caller's (see [`crate::nemesis`]); the world keeps the bookkeeping.

use super::World;
use crate::trace::Mark;
use core::time::Duration;
use protocol::{NodeId, Role, System};
use rand_core::RngCore;
use scenario::{Action, Selector};

impl<S: System> World<S> {
    pub fn is_up(&self, idx: usize) -> bool {
        self.nodes[idx].up
    }

    pub fn is_paused(&self, idx: usize) -> bool {
        self.nodes[idx].paused
    }

    fn ids(&self, idxs: &[usize]) -> Vec<NodeId> {
        idxs.iter().map(|&i| self.cluster[i]).collect()
    }

    /// Node `idx`'s driver is about to be restarted (it is down): madsim runs it at this
    /// instant and it boots on its first poll.
    pub fn restart(&mut self, idx: usize) {
        assert!(!self.nodes[idx].up, "restarting a node that is up");
        let now = self.now_ns();
        let node = self.cluster[idx];
        self.trace.mark(now, Mark::Restart { node });
        self.agenda.mark_ready(idx);
    }

    /// As [`World::restart`], silently: the quiesce phase brings every node back.
    pub fn revive(&mut self, idx: usize) {
        assert!(!self.nodes[idx].up, "reviving a node that is up");
        self.agenda.mark_ready(idx);
    }

    /// Pauses or resumes node `idx` (the caller pauses or resumes its madsim node);
    /// `traced` writes it on the timeline.
    pub fn set_paused(&mut self, idx: usize, paused: bool, traced: bool) {
        assert_ne!(
            self.nodes[idx].paused, paused,
            "pausing twice or resuming twice"
        );
        self.nodes[idx].paused = paused;
        if paused {
            self.agenda.suspend(idx);
        } else {
            self.refresh_node(idx);
        }
        if traced {
            let now = self.now_ns();
            let node = self.cluster[idx];
            let mark = if paused {
                Mark::Pause { node }
            } else {
                Mark::Resume { node }
            };
            self.trace.mark(now, mark);
        }
    }

    /// Cuts each of `idxs` off from every other node, both ways.
    pub fn isolate(&mut self, idxs: &[usize]) {
        for &i in idxs {
            self.net.split(&[i]);
        }
        let now = self.now_ns();
        let nodes = self.ids(idxs);
        self.trace.mark(now, Mark::Isolate { nodes });
    }

    /// Splits the cluster into `side` and the rest.
    pub fn partition(&mut self, side: &[usize]) {
        self.net.split(side);
        let rest: Vec<usize> = (0..self.nodes.len())
            .filter(|i| !side.contains(i))
            .collect();
        let now = self.now_ns();
        let mark = Mark::Partition {
            side: self.ids(side),
            rest: self.ids(&rest),
        };
        self.trace.mark(now, mark);
    }

    /// Drops packets from each of `from` to each of `to`.
    pub fn cut(&mut self, from: &[usize], to: &[usize]) {
        for &a in from {
            for &b in to {
                if a != b {
                    self.net.cut(a, b);
                }
            }
        }
        // Name only real links: a lone node on one side is not also named on the other.
        let without = |side: &[usize], lone: &[usize]| -> Vec<usize> {
            side.iter()
                .copied()
                .filter(|x| lone.len() != 1 || !lone.contains(x))
                .collect()
        };
        let now = self.now_ns();
        let mark = Mark::Cut {
            from: self.ids(&without(from, to)),
            to: self.ids(&without(to, from)),
        };
        self.trace.mark(now, mark);
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.net.heal();
        let now = self.now_ns();
        self.trace.mark(now, Mark::Heal);
    }

    /// Steps the clocks of `idxs` by `by_ns` (negative: backwards).
    pub fn jump_clocks(&mut self, idxs: &[usize], by_ns: i64) {
        for &i in idxs {
            self.nodes[i].clock.jump(by_ns);
        }
        let now = self.now_ns();
        let nodes = self.ids(idxs);
        self.trace.mark(now, Mark::ClockJump { nodes, by_ns });
    }

    /// Sets the network's loss probability from now on.
    pub fn set_loss(&mut self, rate: f64) {
        self.net.set_loss(rate);
        let now = self.now_ns();
        self.trace.mark(now, Mark::Loss { rate });
    }

    /// Sets every packet's delay range from now on.
    pub fn set_latency(&mut self, min: Duration, max: Duration) {
        self.net.set_latency(min, max);
        let now = self.now_ns();
        let (min_ns, max_ns) = (min.as_nanos() as u64, max.as_nanos() as u64);
        self.trace.mark(now, Mark::Latency { min_ns, max_ns });
    }

    /// The fault phase is over: the network heals, loses nothing more and has the
    /// scenario's latency again (the caller brings every node back).
    pub fn quiesce(&mut self) {
        // Triggers not yet fired die with the fault phase: a crash in the liveness phase
        // would blame the system for the harness's fault.
        self.triggers.disarm();
        self.net.heal();
        self.net.set_loss(0.0);
        self.net.restore_latency();
        let now = self.now_ns();
        let liveness = self.liveness.is_some();
        self.trace.mark(now, Mark::Quiesce { liveness });
    }

    /// A liveness phase ended: clients start no more operations (they stop by
    /// themselves at this instant; this marks it in the timeline).
    pub fn mark_clients_stop(&mut self) {
        let now = self.now_ns();
        self.trace.mark(now, Mark::ClientsStop);
    }

    /// Does `action` to the cluster as it is now: the nemesis at its time, or a trigger
    /// right after a node's event.
    pub fn act(&mut self, action: &Action) {
        let (handle, ids) = self.madsim.clone().expect("the drivers are attached");
        match action {
            Action::Crash { target } => {
                for i in self.resolve(target) {
                    if self.is_up(i) {
                        handle.kill(ids[i]);
                        self.crash(i);
                    }
                }
            }
            Action::Restart { target } => {
                for i in self.resolve(target) {
                    if !self.is_up(i) {
                        self.restart(i);
                        handle.restart(ids[i]);
                    }
                }
            }
            Action::Pause { target } => {
                for i in self.resolve(target) {
                    if self.is_up(i) && !self.is_paused(i) {
                        self.set_paused(i, true, true);
                        handle.pause(ids[i]);
                    }
                }
            }
            Action::Resume { target } => {
                for i in self.resolve(target) {
                    if self.is_paused(i) {
                        self.set_paused(i, false, true);
                        handle.resume(ids[i]);
                    }
                }
            }
            Action::Isolate { target } => {
                let side = self.resolve(target);
                self.isolate(&side);
            }
            Action::Partition { target } => {
                let side = self.resolve(target);
                self.partition(&side);
            }
            Action::OneWay { from, to } => {
                let from = self.resolve(from);
                let to = self.resolve(to);
                self.cut(&from, &to);
            }
            Action::Heal => self.heal(),
            Action::ClockJump { target, by_ns } => {
                let nodes = self.resolve(target);
                self.jump_clocks(&nodes, *by_ns);
            }
            Action::Loss { rate } => self.set_loss(*rate),
            Action::Latency { min, max } => self.set_latency(*min, *max),
        }
    }

    /// The node that leads now: the live claimant with the highest term (the lowest id
    /// among equals).
    pub(super) fn leader(&self) -> Option<usize> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, s)| s.up && s.status.is_some_and(|st| st.role == Role::Leader))
            .max_by_key(|(i, s)| (s.status.and_then(|st| st.term), usize::MAX - i))
            .map(|(i, _)| i)
    }

    /// Resolves a fault's target against the cluster as it is now (node indexes, in
    /// order, each once).
    pub fn resolve(&mut self, sel: &Selector) -> Vec<usize> {
        let down: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].up || self.nodes[i].paused)
            .collect();
        let view = scenario::selector::View {
            nodes: self.nodes.len(),
            replicas: self.replicas,
            leader: self.leader(),
            down: &down,
            trigger: self.trigger_node,
        };
        let rng = &mut self.fault_rng;
        sel.resolve(&view, &mut || rng.next_u64())
    }
}
