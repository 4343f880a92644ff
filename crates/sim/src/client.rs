//! Clients: each issues operations at a steady rate, one at a time, follows `NotLeader`
//! redirects, gives up after a timeout, and records what it saw as a Jepsen-style history
//! (invoke, then ok, fail or info) stamped with simulated time. What it invokes comes
//! from the system's [`Workload`]; the client itself knows no operation.
//!
//! Clients are never partitioned from the cluster (they sit beside every node) and never
//! crash; a request sent to a crashed node is lost and ends as `info` at the timeout.

use protocol::{below, ClientError, ClientResult, Event, EventKind, Op, RequestId, Workload};
use rand_chacha::ChaCha8Rng;
use scenario::Workload as WorkloadSettings;

pub struct Client<W: Workload> {
    clients: u32,
    /// Jepsen process id; after an `info` the client continues as a new process.
    process: u64,
    interval_ns: u64,
    workload: W,
    timeout_ns: u64,
    max_redirects: u32,
    outstanding: Option<Outstanding<W::Op>>,
    /// Node index the client believes leads; requests go there first.
    leader_guess: Option<usize>,
    rng: ChaCha8Rng,
    /// The next tick: ticks fall every `interval_ns` from a per-client phase.
    next_tick_ns: u64,
}

struct Outstanding<O> {
    req: RequestId,
    op: O,
    target: usize,
    redirects: u32,
    deadline_ns: u64,
}

/// A request for the world to send: `op` as `req` to node `target`.
pub struct Request<O> {
    pub req: RequestId,
    pub op: O,
    pub target: usize,
}

/// What the world should do for a client after a reply.
pub enum Action<O> {
    /// Follow a redirect.
    Send(Request<O>),
    /// The operation completed (and is recorded); nothing to send.
    Done,
}

impl<W: Workload> Client<W> {
    /// Client `index` of `settings.clients`, drawing from `rng`.
    pub fn new(index: u32, settings: &WorkloadSettings, workload: W, rng: ChaCha8Rng) -> Self {
        let per_client = settings.rate_per_s / f64::from(settings.clients);
        Client {
            clients: settings.clients,
            process: u64::from(index),
            interval_ns: (1e9 / per_client) as u64,
            workload,
            timeout_ns: settings.timeout.as_nanos() as u64,
            max_redirects: settings.max_redirects,
            outstanding: None,
            leader_guess: None,
            rng,
            next_tick_ns: 0,
        }
    }

    /// When the operation in flight times out, if one is.
    pub fn deadline_ns(&self) -> Option<u64> {
        self.outstanding.as_ref().map(|o| o.deadline_ns)
    }

    /// Whether `req` is the attempt in flight and its answer, arriving at `at_ns`, comes
    /// before the deadline.
    pub fn awaits(&self, req: RequestId, at_ns: u64) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|o| o.req == req && at_ns < o.deadline_ns)
    }

    /// Sets the first tick `phase` into the run: clients spread over the first interval
    /// so they do not move in lockstep.
    pub fn start_at(&mut self, now_ns: u64) {
        let phase = below(&mut self.rng, self.interval_ns).max(1_000_000);
        self.next_tick_ns = now_ns + phase;
    }

    /// The first tick at or after `at_ns`, which the caller uses; later ticks follow it.
    /// (Ticks that pass while an operation is in flight are skipped.)
    pub fn tick_at_or_after(&mut self, at_ns: u64) -> u64 {
        if self.next_tick_ns < at_ns {
            let behind = (at_ns - self.next_tick_ns).div_ceil(self.interval_ns);
            self.next_tick_ns += behind * self.interval_ns;
        }
        let tick = self.next_tick_ns;
        self.next_tick_ns += self.interval_ns;
        tick
    }

    /// A tick of an idle client: starts its next operation. `nodes` is the cluster size.
    pub fn on_tick(
        &mut self,
        now_ns: u64,
        req: RequestId,
        nodes: usize,
        history: &mut Vec<Event<W::Op>>,
    ) -> Request<W::Op> {
        assert!(self.outstanding.is_none(), "one operation at a time");
        let op = self.workload.next(&mut self.rng);
        let target = match self.leader_guess {
            Some(l) => l,
            None => below(&mut self.rng, nodes as u64) as usize,
        };
        history.push(Event {
            process: self.process,
            kind: EventKind::Invoke,
            op: op.clone(),
            output: None,
            time_ns: now_ns,
        });
        self.outstanding = Some(Outstanding {
            req,
            op: op.clone(),
            target,
            redirects: 0,
            deadline_ns: now_ns + self.timeout_ns,
        });
        Request { req, op, target }
    }

    /// The reply to `req` from node `from`. `next_req` names a redirected attempt.
    // The world owns the request-id counter and the history; both come in by argument.
    #[allow(clippy::too_many_arguments)]
    pub fn on_reply(
        &mut self,
        now_ns: u64,
        req: RequestId,
        from: usize,
        result: ClientResult<<W::Op as Op>::Output>,
        next_req: RequestId,
        nodes: usize,
        history: &mut Vec<Event<W::Op>>,
    ) -> Option<Action<W::Op>> {
        let out = match &self.outstanding {
            Some(o) if o.req == req => o,
            _ => return None, // late reply to an attempt already abandoned
        };
        let (kind, output) = match result {
            Ok(output) => {
                self.leader_guess = Some(from);
                self.workload.observe(&out.op, &output);
                (EventKind::Ok, Some(output))
            }
            Err(ClientError::NotLeader { hint }) => {
                if out.redirects < self.max_redirects {
                    let target = match hint {
                        Some(h)
                            if (h.0 as usize) >= 1
                                && (h.0 as usize) <= nodes
                                && h.0 as usize - 1 != from =>
                        {
                            h.0 as usize - 1
                        }
                        _ => (from + 1) % nodes,
                    };
                    self.leader_guess = Some(target);
                    let o = self.outstanding.as_mut().expect("checked above");
                    o.req = next_req;
                    o.target = target;
                    o.redirects += 1;
                    return Some(Action::Send(Request {
                        req: next_req,
                        op: o.op.clone(),
                        target,
                    }));
                }
                self.leader_guess = None;
                (EventKind::Fail, None)
            }
            Err(ClientError::CasMismatch) | Err(ClientError::Rejected(_)) => {
                (EventKind::Fail, None)
            }
            Err(ClientError::Indeterminate(_)) => (EventKind::Info, None),
        };
        self.complete(now_ns, kind, output, history);
        Some(Action::Done)
    }

    /// The deadline passed with no answer: the outcome is unknown.
    pub fn on_timeout(&mut self, now_ns: u64, history: &mut Vec<Event<W::Op>>) {
        assert!(
            self.outstanding
                .as_ref()
                .is_some_and(|o| o.deadline_ns <= now_ns),
            "timeout before the deadline"
        );
        self.leader_guess = None;
        self.complete(now_ns, EventKind::Info, None, history);
    }

    fn complete(
        &mut self,
        now_ns: u64,
        kind: EventKind,
        output: Option<<W::Op as Op>::Output>,
        history: &mut Vec<Event<W::Op>>,
    ) {
        let out = self
            .outstanding
            .take()
            .expect("completing an operation in flight");
        history.push(Event {
            process: self.process,
            kind,
            op: out.op,
            output,
            time_ns: now_ns,
        });
        if kind == EventKind::Info {
            // The old process may still have its operation in flight (Jepsen semantics).
            self.process += u64::from(self.clients);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use check::models::kv::{KvOutput, KvWorkload};
    use protocol::NodeId;
    use rand_core::SeedableRng;

    fn client(max_redirects: u32) -> Client<KvWorkload> {
        let settings = WorkloadSettings {
            clients: 1,
            rate_per_s: 10.0,
            keys: 1,
            max_redirects,
            ..WorkloadSettings::default()
        };
        let workload = KvWorkload::new(&settings.spec(), 0).expect("a valid spec");
        Client::new(0, &settings, workload, ChaCha8Rng::seed_from_u64(1))
    }

    #[test]
    fn ticks_skipped_while_busy_resume_on_the_grid() {
        let mut c = client(1);
        c.interval_ns = 20;
        c.next_tick_ns = 5;
        assert_eq!(c.tick_at_or_after(0), 5, "idle before the first tick");
        assert_eq!(
            c.tick_at_or_after(25),
            25,
            "a tick exactly at the completion"
        );
        assert_eq!(c.tick_at_or_after(26), 45, "the next tick on the grid");
        // Busy from 45 to 130: the ticks at 65, 85, 105 and 125 pass unused.
        assert_eq!(c.tick_at_or_after(130), 145);
        assert_eq!(c.next_tick_ns, 165);
    }

    /// A redirect is followed while the budget lasts; then it fails the operation.
    #[test]
    fn redirects_are_followed_until_the_budget_is_spent() {
        let mut c = client(1);
        let mut history = Vec::new();
        let req = c.on_tick(0, RequestId(7), 3, &mut history).req;
        let not_leader = Err(ClientError::NotLeader {
            hint: Some(NodeId(2)),
        });
        let next = RequestId(8);
        let resent = c.on_reply(1, req, 0, not_leader.clone(), next, 3, &mut history);
        assert!(matches!(
            resent,
            Some(Action::Send(Request { target: 1, .. }))
        ));
        assert!(
            c.on_reply(2, req, 0, Ok(KvOutput::Done), RequestId(9), 3, &mut history)
                .is_none(),
            "a late reply to the abandoned attempt changes nothing"
        );
        assert!(matches!(
            c.on_reply(2, next, 1, not_leader, RequestId(9), 3, &mut history),
            Some(Action::Done)
        ));
        assert_eq!(history.len(), 2, "one invocation, one failure");
        assert_eq!(history[1].kind, EventKind::Fail);
    }
}
