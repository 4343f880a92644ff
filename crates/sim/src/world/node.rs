//! Nodes: booting from what survived on disk, crashing, and stepping: one handler call
//! per due event, and the effects it emitted applied in order. The node makes every
//! decision; this makes none.

use super::trigger::Seen;
use super::{ArmedTimer, World};
use crate::mailbox::NodeEvent;
use crate::net::Transmit;
use crate::trace::Mark;
use crate::wires::Fate;
use protocol::{Cx, Effect, NodeEffect, System, TimerId};
use std::task::Waker;

impl<S: System> World<S> {
    /// A (re)started driver: build the node from what survived on disk. Packets still in
    /// flight towards it are in its mailbox; [`World::wake_next`] counts it in again.
    pub fn boot(&mut self, idx: usize, waker: Waker) {
        let now = self.now_ns();
        let slot = &mut self.nodes[idx];
        assert!(slot.node.is_none(), "n{} booted twice", idx + 1);
        slot.wakeup.waker = Some(waker);
        slot.up = true;
        slot.paused = false;
        slot.booted_ns = now;
        slot.timers.clear();
        slot.wakeup.armed_ns = None;
        slot.node = Some(S::new(self.cluster[idx], &self.cluster, &self.config));
        self.trace.log(now, || format!("n{} boots", idx + 1));
        let disk = self.nodes[idx].disk.surviving().clone();
        self.agenda.ran(idx);
        self.refresh_node(idx);
        self.call(idx, now, |n, cx| n.on_start(cx, &disk));
    }

    /// Node `idx` was killed (the caller kills its madsim node): memory and unsynced
    /// writes are gone (or torn to a prefix).
    pub fn crash(&mut self, idx: usize) {
        let now = self.now_ns();
        let torn = self.torn_writes;
        let slot = &mut self.nodes[idx];
        assert!(slot.up, "crashing a node that is down");
        slot.node = None;
        slot.up = false;
        slot.paused = false;
        slot.wakeup.waker = None;
        // Its backstop, if any, would wake a task madsim has dropped.
        slot.wakeup.armed_ns = None;
        slot.timers.clear();
        slot.status = None;
        slot.crashed_before = true;
        let unsynced_lost = slot.disk.crash(torn, &mut self.fault_rng);
        self.agenda.suspend(idx);
        self.election.observe(now, idx, None);
        let node = self.cluster[idx];
        self.trace.mark(
            now,
            Mark::Crash {
                node,
                unsynced_lost,
            },
        );
    }

    /// Runs every event due at `idx`; the driver calls this each time it is woken.
    // Inlined into the driver's poll, as it was when both lived in one file: called
    // apart, the harness ping-pong lost 3% of its speed.
    #[inline]
    pub fn run_node(&mut self, idx: usize) {
        let now = self.now_ns();
        self.agenda.ran(idx);
        // A triggered fault may crash or pause this node inside one of its steps.
        while self.nodes[idx].up && !self.nodes[idx].paused {
            let Some(p) = self.nodes[idx].mailbox.pop_due(now) else {
                break;
            };
            if p.at_ns < self.nodes[idx].booted_ns {
                self.trace.stats.dropped += 1;
                if let (Some(w), NodeEvent::Msg { from, .. }) = (&mut self.wires, &p.event) {
                    w.arrived(*from, idx, p.at_ns, Fate::ArrivedDown);
                }
                continue; // arrived while the node was down
            }
            match p.event {
                NodeEvent::Msg { from, msg, epoch } => {
                    let deliverable = self.net.deliverable(from, idx, epoch);
                    if let Some(w) = &mut self.wires {
                        let fate = if deliverable {
                            Fate::Delivered
                        } else {
                            Fate::DiedInFlight
                        };
                        w.arrived(from, idx, p.at_ns, fate);
                    }
                    if !deliverable {
                        self.trace.stats.dropped += 1;
                        self.trace.log(now, || {
                            format!("n{} -x n{} dropped in flight: {msg:?}", from + 1, idx + 1)
                        });
                        continue;
                    }
                    self.trace.stats.delivered += 1;
                    self.trace.feed(&[now, 1, from as u64, idx as u64]);
                    self.trace.feed_hash(&msg);
                    self.trace
                        .log(now, || format!("n{} -> n{} {msg:?}", from + 1, idx + 1));
                    let from_id = self.cluster[from];
                    self.call(idx, now, |n, cx| n.on_message(cx, from_id, msg));
                }
                NodeEvent::Timer { timer, generation } => {
                    if self.timer_fires(idx, now, timer, generation) {
                        self.trace.stats.timers += 1;
                        if let Some(w) = &mut self.wires {
                            w.timer(idx, now, timer.0);
                        }
                        self.trace.feed(&[now, 2, idx as u64, timer.0]);
                        self.trace
                            .log(now, || format!("n{} timer {}", idx + 1, timer.0));
                        self.call(idx, now, |n, cx| n.on_timer(cx, timer));
                    }
                }
                NodeEvent::Client { req, op } => {
                    self.trace.stats.client_requests += 1;
                    self.trace.feed(&[now, 3, idx as u64, req.0]);
                    self.trace.log(now, || {
                        format!("n{} <- client {op} (req {})", idx + 1, req.0)
                    });
                    self.call(idx, now, |n, cx| n.on_client(cx, req, op));
                }
            }
        }
        if self.nodes[idx].up && !self.nodes[idx].paused {
            self.refresh_node(idx);
        }
    }

    /// Whether a queued firing of `timer` (of `generation`) fires now: not if the timer
    /// was cancelled or re-armed earlier since, and not yet if it was re-armed later (then
    /// the event is queued again for the new deadline).
    fn timer_fires(&mut self, idx: usize, now: u64, timer: TimerId, generation: u64) -> bool {
        let armed = match self.nodes[idx].timers.get(&timer) {
            Some(a) if a.generation == generation => *a,
            _ => return false,
        };
        if armed.due_ns > now {
            if let Some(a) = self.nodes[idx].timers.get_mut(&timer) {
                a.queued_ns = armed.due_ns;
            }
            let event = NodeEvent::Timer { timer, generation };
            self.schedule_node(now, idx, armed.due_ns, event);
            return false;
        }
        self.nodes[idx].timers.remove(&timer);
        true
    }

    /// One handler call on node `idx` at `now`, then its effects, then what changed in
    /// its status (traced, and watched for election safety).
    fn call(&mut self, idx: usize, now: u64, f: impl FnOnce(&mut S, &mut Cx<'_, S>)) {
        let mut effects = std::mem::take(&mut self.effects);
        let slot = &mut self.nodes[idx];
        let local = protocol::Instant(slot.clock.local(now));
        let node = slot
            .node
            .as_mut()
            .expect("handlers run only on a live node");
        {
            let mut cx = Cx::new(
                self.cluster[idx],
                &self.cluster,
                local,
                &mut slot.rng,
                &mut effects,
            );
            f(node, &mut cx);
        }
        let status = node.status();
        let mut effects_left = effects.drain(..);
        for effect in effects_left.by_ref() {
            self.apply(idx, now, effect);
            if !self.nodes[idx].up {
                break;
            }
        }
        let died_with = effects_left.count();
        self.effects = effects;
        if !self.nodes[idx].up {
            // A triggered crash inside this step: what the handler emitted after the
            // event never happened.
            self.trace.log(now, || {
                format!(
                    "n{}: {died_with} later effects of this step died with it",
                    idx + 1
                )
            });
            return;
        }
        if self.nodes[idx].status != Some(status) {
            let before = self.nodes[idx].status.replace(status);
            // A first boot's initial status is noise; a restart's (term read back from
            // disk) is not.
            let first_boot = before.is_none() && !self.nodes[idx].crashed_before;
            if !first_boot && before.map(|b| (b.role, b.term)) != Some((status.role, status.term)) {
                let mark = Mark::Role {
                    node: self.cluster[idx],
                    role: status.role,
                    term: status.term,
                };
                self.trace.mark(now, mark);
            }
            self.election.observe(now, idx, Some(status));
            if !self.triggers.is_empty() {
                let term = status.term.map_or(0, |t| t.0);
                let role = status.role;
                self.seen(idx, Seen::Role { role, term });
            }
        }
    }

    fn apply(&mut self, idx: usize, now: u64, effect: NodeEffect<S>) {
        if !self.triggers.is_empty() {
            return self.apply_watched(idx, now, effect);
        }
        self.apply_effect(idx, now, effect);
    }

    /// As [`World::apply`], then what the effect was, for the triggers.
    fn apply_watched(&mut self, idx: usize, now: u64, effect: NodeEffect<S>) {
        let seen_kind = match &effect {
            Effect::Send { msg, .. } if self.triggers.counts_sends() => {
                Some(Err(format!("{msg:?}")))
            }
            Effect::Persist { .. } => Some(Ok(Seen::Persist)),
            Effect::Sync => Some(Ok(Seen::Sync)),
            Effect::Reply { result, .. } => Some(Ok(Seen::Reply { ok: result.is_ok() })),
            _ => None,
        };
        self.apply_effect(idx, now, effect);
        match seen_kind {
            Some(Ok(seen)) => self.seen(idx, seen),
            Some(Err(debug)) => self.seen(idx, Seen::Send { debug: &debug }),
            None => {}
        }
    }

    fn apply_effect(&mut self, idx: usize, now: u64, effect: NodeEffect<S>) {
        match effect {
            Effect::Send { to, msg } => self.send(idx, now, to.0 as usize - 1, msg),
            Effect::SetTimer { timer, after } => {
                self.set_timer(idx, now, timer, after.as_nanos() as u64)
            }
            Effect::CancelTimer { timer } => {
                self.nodes[idx].timers.remove(&timer);
            }
            Effect::Reply { req, result } => {
                if let Some(client) = self.requests.remove(&req) {
                    let at_ns = now + self.net.latency();
                    self.trace.log(now, || {
                        format!("n{} reply req {}: {result:?}", idx + 1, req.0)
                    });
                    self.client_reply(client, now, at_ns, req, idx, result);
                }
            }
            Effect::Persist { key, value } => self.nodes[idx].disk.persist(key, value),
            Effect::Erase { key } => self.nodes[idx].disk.erase(key),
            Effect::Sync => self.nodes[idx].disk.sync(),
            Effect::Note(text) => {
                if let Some(w) = &mut self.wires {
                    w.note(idx, now, &text);
                }
                self.trace.feed(&[now, 4, idx as u64, text.len() as u64]);
                self.trace.log(now, || format!("n{}: {text}", idx + 1));
            }
        }
    }

    /// Node `idx` sends `msg` to node `to` at `now`: the network drops it, or queues it
    /// (and maybe a duplicate) at the destination.
    fn send(&mut self, idx: usize, now: u64, to: usize, msg: S::Msg) {
        assert!(
            to < self.nodes.len() && to != idx,
            "n{} sent to a node outside the cluster",
            idx + 1
        );
        let transmit = self.net.transmit(idx, to);
        if let Some(w) = &mut self.wires {
            let debug = format!("{msg:?}");
            match &transmit {
                Transmit::Dropped(why) => w.sent(idx, to, now, &debug, Err(why)),
                Transmit::Arrives { delays, .. } => {
                    let arrivals: Vec<u64> = delays.iter().flatten().map(|d| now + d).collect();
                    w.sent(idx, to, now, &debug, Ok(&arrivals));
                }
            }
        }
        match transmit {
            Transmit::Dropped(why) => {
                self.trace.stats.dropped += 1;
                self.trace.log(now, || {
                    format!("n{} -x n{} {why}: {msg:?}", idx + 1, to + 1)
                });
            }
            Transmit::Arrives { delays, epoch } => {
                // A duplicate (the second delay) gets a copy; the original moves.
                let packet = |msg| NodeEvent::Msg {
                    from: idx,
                    msg,
                    epoch,
                };
                if let Some(d) = delays[1] {
                    self.schedule_node(now, to, now + d, packet(msg.clone()));
                }
                if let Some(d) = delays[0] {
                    self.schedule_node(now, to, now + d, packet(msg));
                }
            }
        }
    }

    /// Arms `timer` on node `idx` to fire `after_ns` from `now` on the node's clock.
    fn set_timer(&mut self, idx: usize, now: u64, timer: TimerId, after_ns: u64) {
        let slot = &mut self.nodes[idx];
        // The 1 ms floor dates from delivery on madsim timers; latency keeps one too
        // (ARCHITECTURE.md, where this differs from DESIGN.md).
        let due_ns = now + slot.clock.to_global(after_ns).max(1_000_000);
        match slot.timers.get_mut(&timer) {
            Some(a) if a.queued_ns <= due_ns => a.due_ns = due_ns,
            _ => {
                self.timer_generation += 1;
                let generation = self.timer_generation;
                let armed = ArmedTimer {
                    generation,
                    due_ns,
                    queued_ns: due_ns,
                };
                slot.timers.insert(timer, armed);
                let event = NodeEvent::Timer { timer, generation };
                self.schedule_node(now, idx, due_ns, event);
            }
        }
    }
}
