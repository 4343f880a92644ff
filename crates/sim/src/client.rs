//! Clients: each issues operations at a steady rate, one at a time, follows `NotLeader`
//! redirects, gives up after a timeout, and records what it saw as a Jepsen-style history
//! (invoke, then ok, fail or info) stamped with simulated time. What it invokes comes
//! from the system's [`Workload`]; the client itself knows no operation.
//!
//! Clients are never partitioned from the cluster (they sit beside every node) and never
//! crash; a request sent to a crashed node is lost and ends as `info` at the timeout.

use protocol::{
    below, ClientError, ClientResult, Event, EventKind, InvariantId, Op, RequestId, Violation,
    Workload,
};
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
    /// Whether operations invoked in the liveness window were served.
    pub service: Service,
}

struct Outstanding<O> {
    req: RequestId,
    op: O,
    target: usize,
    redirects: u32,
    invoked_ns: u64,
    deadline_ns: u64,
}

/// Whether one client's operations invoked in a window (the second half of a liveness
/// phase) were served: answered `ok`, or refused for what they asked (a compare that did
/// not match, an absent key: answers about the data). Not served: unavailable,
/// redirected past the bound, indeterminate, timed out, or never answered.
#[derive(Clone, Debug, Default)]
pub struct Service {
    /// The window (simulated ns); empty without a liveness phase.
    pub from_ns: u64,
    pub until_ns: u64,
    pub invoked: u64,
    pub unserved: u64,
    /// The first operation not served: when it was invoked, and what happened.
    pub first_unserved: Option<(u64, String)>,
}

impl Service {
    fn counts(&self, invoked_ns: u64) -> bool {
        (self.from_ns..self.until_ns).contains(&invoked_ns)
    }

    /// An operation invoked at `invoked_ns` ended: `served`, or not as `what` says.
    fn ended(&mut self, invoked_ns: u64, served: bool, what: impl FnOnce() -> String) {
        if !self.counts(invoked_ns) {
            return;
        }
        self.invoked += 1;
        if !served {
            self.unserved += 1;
            if self.first_unserved.is_none() {
                self.first_unserved = Some((invoked_ns, what()));
            }
        }
    }
}

/// The liveness violation, if any operation invoked in `window` (ns: the liveness
/// phase's second half) was not served, over every client's [`Service`] (each closed).
pub fn unserved<'a>(
    window: (u64, u64),
    services: impl Iterator<Item = &'a Service>,
) -> Option<Violation> {
    let (from, until) = window;
    let (mut invoked, mut unserved) = (0, 0);
    let mut first: Option<(u64, String)> = None;
    for s in services {
        invoked += s.invoked;
        unserved += s.unserved;
        if let Some(f) = &s.first_unserved {
            if first.as_ref().is_none_or(|x| f.0 < x.0) {
                first = Some(f.clone());
            }
        }
    }
    let (at_ns, what) = first?;
    let secs = |ns: u64| ns as f64 / 1e9;
    Some(Violation {
        invariant: InvariantId::LIVENESS,
        kind: "operations unserved after the heal",
        events: Vec::new(),
        at_ns: Some(at_ns),
        detail: format!(
            "{unserved} of {invoked} operations invoked from {:.1}s to {:.1}s (with every \
             fault healed, after time to recover) were not served; first: {what}",
            secs(from),
            secs(until),
        ),
    })
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
            service: Service::default(),
        }
    }

    /// Counts whether operations invoked from `from_ns` until `until_ns` are served.
    pub fn watch_service(&mut self, from_ns: u64, until_ns: u64) {
        self.service.from_ns = from_ns;
        self.service.until_ns = until_ns;
    }

    /// The run ended: an operation still in flight that the window counts was never
    /// served.
    pub fn close_service(&mut self) {
        if let Some(o) = &self.outstanding {
            let (process, op) = (self.process, &o.op);
            let what = || format!("process {process}: {op} got no answer by the run's end");
            self.service.ended(o.invoked_ns, false, what);
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
            invoked_ns: now_ns,
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
        // The error, if the system did not serve the operation (see `Service`).
        let unserved = match &result {
            Ok(_) | Err(ClientError::CasMismatch | ClientError::Rejected(_)) => None,
            Err(e) => Some(e.to_string()),
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
            Err(
                ClientError::CasMismatch | ClientError::Rejected(_) | ClientError::Unavailable(_),
            ) => (EventKind::Fail, None),
            Err(ClientError::Indeterminate(_)) => (EventKind::Info, None),
        };
        self.complete(now_ns, kind, output, unserved, history);
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
        let timed_out = Some("timed out".to_string());
        self.complete(now_ns, EventKind::Info, None, timed_out, history);
    }

    /// Records the operation in flight as ended `kind`; `unserved`: why the system did
    /// not serve it, if it did not.
    fn complete(
        &mut self,
        now_ns: u64,
        kind: EventKind,
        output: Option<<W::Op as Op>::Output>,
        unserved: Option<String>,
        history: &mut Vec<Event<W::Op>>,
    ) {
        let out = self
            .outstanding
            .take()
            .expect("completing an operation in flight");
        let (process, op) = (self.process, &out.op);
        let served = unserved.is_none();
        let what = || {
            let why = unserved.unwrap_or_default();
            format!("process {process}: {op} -> {kind} ({why}) at {now_ns} ns")
        };
        self.service.ended(out.invoked_ns, served, what);
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

    /// In the watched window, answers about the data count as served; unavailability,
    /// timeouts and operations left open do not; outside it nothing is counted.
    #[test]
    fn service_counts_only_the_window_and_only_real_answers() {
        let mut c = client(0);
        c.watch_service(10, 100);
        let mut h = Vec::new();
        let step = |c: &mut Client<KvWorkload>, h: &mut Vec<_>, at: u64, result| {
            let req = c.on_tick(at, RequestId(at), 3, h).req;
            c.on_reply(at + 1, req, 0, result, RequestId(at + 1000), 3, h);
        };
        step(
            &mut c,
            &mut h,
            5,
            Err(ClientError::Unavailable("before".into())),
        ); // not counted
        step(&mut c, &mut h, 20, Ok(KvOutput::Done));
        step(&mut c, &mut h, 30, Err(ClientError::CasMismatch));
        step(
            &mut c,
            &mut h,
            40,
            Err(ClientError::Rejected("key not found".into())),
        );
        step(
            &mut c,
            &mut h,
            50,
            Err(ClientError::Unavailable("no quorum".into())),
        );
        c.on_tick(60, RequestId(60), 3, &mut h);
        c.on_timeout(60 + 1_000_000_000, &mut h);
        step(&mut c, &mut h, 99, Ok(KvOutput::Done));
        c.on_tick(99, RequestId(99_000), 3, &mut h);
        c.close_service(); // in flight at the end: never served
        let s = &c.service;
        assert_eq!((s.invoked, s.unserved), (7, 3));
        let (at, what) = s.first_unserved.clone().expect("one");
        assert_eq!(at, 50);
        assert!(what.contains("unavailable: no quorum"), "{what}");
    }
}
