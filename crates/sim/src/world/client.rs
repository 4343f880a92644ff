//! The clients, co-simulated with the nodes.
//!
//! A client is a deterministic function of the replies it gets: between a reply's
//! emission and its arrival nothing else reaches the client (it has one request in
//! flight; a late reply to an abandoned attempt changes nothing). So the world runs the
//! client's reaction when the node emits the reply, stamped with the arrival time, and an
//! idle client's next operation is decided then too, stamped with its tick. Clients cost
//! no wake-up for ticks or replies; their drivers wake only at an operation's deadline.
//! History events stamped ahead of the clock are placed in time order.

use super::World;
use crate::client::{Action, Request};
use crate::mailbox::NodeEvent;
use protocol::{ClientResult, Output, RequestId, System};
use std::task::Waker;

impl<S: System> World<S> {
    pub fn boot_client(&mut self, idx: usize, waker: Waker) {
        let now = self.now_ns();
        let c = &mut self.clients[idx];
        c.wakeup.waker = Some(waker);
        c.client.start_at(now);
        self.start_next_op(idx, now, now);
    }

    /// The client's deadline passed with no answer: the outcome is unknown.
    pub fn run_client(&mut self, idx: usize) {
        let now = self.now_ns();
        self.agenda.ran(self.nodes.len() + idx);
        let client = &mut self.clients[idx].client;
        if client.deadline_ns().is_some_and(|d| d <= now) {
            let recorded_from = self.history.len();
            client.on_timeout(now, &mut self.history);
            self.settle_history(recorded_from);
            self.requests.retain(|_, c| *c != idx);
            self.start_next_op(idx, now, now);
        }
        self.refresh_client(idx);
    }

    /// A fresh request id, routed back to client `client`.
    fn fresh_req(&mut self, client: usize) -> RequestId {
        let req = RequestId(self.next_req);
        self.next_req += 1;
        self.requests.insert(req, client);
        req
    }

    /// Client `idx` is idle from `idle_ns` on: starts its operation at the first tick from
    /// then, unless clients have stopped by that tick. `now` is the clock.
    fn start_next_op(&mut self, idx: usize, now: u64, idle_ns: u64) {
        let nodes = self.nodes.len();
        let client = &mut self.clients[idx].client;
        let tick = client.tick_at_or_after(idle_ns);
        if tick >= self.clients_stop_ns {
            return;
        }
        let req = RequestId(self.next_req);
        let recorded_from = self.history.len();
        let request = client.on_tick(tick, req, nodes, &mut self.history);
        self.settle_history(recorded_from);
        self.fresh_req(idx);
        self.send_request(idx, now, tick, request);
        self.refresh_client(idx);
    }

    /// Client `idx` sends `request` at `at_ns`; `now` is the clock.
    fn send_request(&mut self, idx: usize, now: u64, at_ns: u64, request: Request<S::Op>) {
        let Request { req, op, target } = request;
        self.trace
            .feed(&[at_ns, 5, idx as u64, target as u64, req.0]);
        self.trace.log(at_ns, || {
            format!("client {idx} -> n{} {op} (req {})", target + 1, req.0)
        });
        let delay = self.net.latency();
        self.schedule_node(now, target, at_ns + delay, NodeEvent::Client { req, op });
    }

    /// The reply to `req` from node `from`, emitted at `now`, reaches client `idx` at
    /// `at_ns`, unless the operation's deadline or the run's end comes first (then the
    /// client never sees it: a timeout, or an operation left open).
    pub(super) fn client_reply(
        &mut self,
        idx: usize,
        now: u64,
        at_ns: u64,
        req: RequestId,
        from: usize,
        result: ClientResult<Output<S>>,
    ) {
        if !self.clients[idx].client.awaits(req, at_ns) || at_ns > self.end_ns {
            return;
        }
        self.trace.stats.client_replies += 1;
        let next = RequestId(self.next_req);
        let nodes = self.nodes.len();
        let recorded_from = self.history.len();
        let action = self.clients[idx].client.on_reply(
            at_ns,
            req,
            from,
            result,
            next,
            nodes,
            &mut self.history,
        );
        self.settle_history(recorded_from);
        match action {
            Some(Action::Send(request)) => {
                self.fresh_req(idx);
                self.send_request(idx, now, at_ns, request);
            }
            Some(Action::Done) => self.start_next_op(idx, now, at_ns),
            None => unreachable!("the reply answers the operation in flight"),
        }
        self.refresh_client(idx);
    }

    /// Moves what was recorded from `from` on (at most one event: one client's step) back
    /// to its place in time order; events at equal times keep the order they came in.
    fn settle_history(&mut self, from: usize) {
        assert!(self.history.len() <= from + 1, "one event per client step");
        if self.history.len() == from + 1 {
            let time = self.history[from].time_ns;
            let mut at = from;
            while at > 0 && self.history[at - 1].time_ns > time {
                at -= 1;
            }
            self.history[at..].rotate_right(1);
        }
    }
}
