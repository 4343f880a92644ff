//! Clients: each issues operations at a steady rate, one at a time, follows `NotLeader`
//! redirects, gives up after a timeout, and records what it saw as a Jepsen-style history
//! (invoke, then ok, fail or info) stamped with simulated time.
//!
//! Clients are never partitioned from the cluster (they sit beside every node) and never
//! crash; a request sent to a crashed node is lost and ends as `info` at the timeout.

use check::history::{Event, EventKind};
use protocol::{ClientError, ClientOp, ClientResult, RequestId};
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use scenario::{Workload, WorkloadKind};
use std::collections::BTreeMap;

/// Set elements are `client * ELEMENT_SPACE + n`, unique across clients.
pub const ELEMENT_SPACE: u64 = 1_000_000;

pub struct Client {
    pub index: u32,
    clients: u32,
    /// Jepsen process id; after an `info` the client continues as a new process.
    pub process: u64,
    pub interval_ns: u64,
    kind: WorkloadKind,
    mix: Vec<(String, u32)>,
    keys: u32,
    timeout_ns: u64,
    max_redirects: u32,
    pub outstanding: Option<Outstanding>,
    /// Node index the client believes leads; requests go there first.
    pub leader_guess: Option<usize>,
    counter: u64,
    /// Last value this client saw per key, so cas has a plausible `expected`.
    seen: BTreeMap<String, Option<String>>,
    pub rng: ChaCha8Rng,
    /// The next tick: ticks fall every `interval_ns` from a per-client phase.
    pub next_tick_ns: u64,
}

/// `seen[key] = value`, copying the key only the first time it is seen.
fn remember(seen: &mut BTreeMap<String, Option<String>>, key: &str, value: Option<String>) {
    match seen.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            seen.insert(key.to_string(), value);
        }
    }
}

/// Appends `n` in decimal, as `{n}` would format it.
fn push_decimal(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

pub struct Outstanding {
    pub req: RequestId,
    pub op: ClientOp,
    pub target: usize,
    pub redirects: u32,
    pub deadline_ns: u64,
}

/// A request for the world to send: `op` as `req` to node `target`.
pub struct Request {
    pub req: RequestId,
    pub op: ClientOp,
    pub target: usize,
}

/// What the world should do for a client after a reply.
pub enum Action {
    /// Follow a redirect.
    Send(Request),
    /// The operation completed (and is recorded); nothing to send.
    Done,
}

impl Client {
    pub fn new(index: u32, workload: &Workload, kind: WorkloadKind, rng: ChaCha8Rng) -> Client {
        let mut mix: Vec<(String, u32)> =
            workload.mix.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let allowed: &[&str] = if kind == WorkloadKind::Set {
            scenario::SET_OPS
        } else {
            scenario::KV_OPS
        };
        mix.retain(|(op, w)| *w > 0 && allowed.contains(&op.as_str()));
        if mix.is_empty() {
            mix = match kind {
                WorkloadKind::Set => vec![("add".into(), 4), ("read".into(), 1)],
                _ => vec![
                    ("get".into(), 4),
                    ("put".into(), 4),
                    ("append".into(), 1),
                    ("cas".into(), 1),
                ],
            };
        }
        let per_client = workload.rate_per_s / f64::from(workload.clients);
        Client {
            index,
            clients: workload.clients,
            process: u64::from(index),
            interval_ns: (1e9 / per_client) as u64,
            kind,
            mix,
            keys: workload.keys,
            timeout_ns: workload.timeout.as_nanos() as u64,
            max_redirects: workload.max_redirects,
            outstanding: None,
            leader_guess: None,
            counter: 0,
            seen: BTreeMap::new(),
            rng,
            next_tick_ns: 0,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.rng.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn next_op(&mut self) -> ClientOp {
        let total: u64 = self.mix.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut pick = self.below(total);
        let mut chosen = 0;
        for (i, (_, w)) in self.mix.iter().enumerate() {
            if pick < u64::from(*w) {
                chosen = i;
                break;
            }
            pick -= u64::from(*w);
        }
        self.counter += 1;
        // Built by hand rather than with `format!` (this runs per operation); the text is
        // the same: `k<n>` and `c<client>-<counter>`.
        let mut key = String::with_capacity(8);
        key.push('k');
        push_decimal(&mut key, self.below(u64::from(self.keys)));
        let mut value = String::with_capacity(16);
        value.push('c');
        push_decimal(&mut value, u64::from(self.index));
        value.push('-');
        push_decimal(&mut value, self.counter);
        match self.mix[chosen].0.as_str() {
            "get" => ClientOp::Get { key },
            "put" => ClientOp::Put { key, value },
            "delete" => ClientOp::Delete { key },
            // A leading space keeps every appended token separable from what was there before.
            "append" => ClientOp::Append {
                key,
                value: {
                    let mut spaced = String::with_capacity(value.len() + 1);
                    spaced.push(' ');
                    spaced.push_str(&value);
                    spaced
                },
            },
            "cas" => {
                let expected = self.seen.get(&key).cloned().flatten();
                ClientOp::Cas {
                    key,
                    expected,
                    new: value,
                }
            }
            "add" => ClientOp::SetAdd {
                element: u64::from(self.index) * ELEMENT_SPACE + self.counter,
            },
            "read" => ClientOp::SetRead,
            other => unreachable!("scenario validation admits no operation {other:?}"),
        }
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

    /// A tick of an idle client: starts its next operation.
    pub fn on_tick(
        &mut self,
        now_ns: u64,
        req: RequestId,
        nodes: usize,
        history: &mut Vec<Event>,
    ) -> Request {
        assert!(self.outstanding.is_none(), "one operation at a time");
        let op = self.next_op();
        let target = match self.leader_guess {
            Some(l) => l,
            None => self.below(nodes as u64) as usize,
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
        result: ClientResult,
        next_req: RequestId,
        nodes: usize,
        history: &mut Vec<Event>,
    ) -> Option<Action> {
        let out = match &self.outstanding {
            Some(o) if o.req == req => o,
            _ => return None, // late reply to an attempt already abandoned
        };
        let (kind, output) = match result {
            Ok(output) => {
                self.leader_guess = Some(from);
                if let (ClientOp::Get { key }, protocol::OpOutput::Value { value, .. }) =
                    (&out.op, &output)
                {
                    remember(&mut self.seen, key, value.clone());
                }
                if let ClientOp::Put { key, value }
                | ClientOp::Cas {
                    key, new: value, ..
                } = &out.op
                {
                    remember(&mut self.seen, key, Some(value.clone()));
                }
                (EventKind::Ok, Some(output))
            }
            Err(ClientError::NotLeader { hint }) => {
                let redirects = out.redirects;
                if redirects < self.max_redirects {
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
    pub fn on_timeout(&mut self, now_ns: u64, history: &mut Vec<Event>) {
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
        output: Option<protocol::OpOutput>,
        history: &mut Vec<Event>,
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

    pub fn kind(&self) -> WorkloadKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{NodeId, OpOutput};
    use rand_core::SeedableRng;

    fn client(max_redirects: u32) -> Client {
        let workload = Workload {
            kind: WorkloadKind::Kv,
            clients: 1,
            rate_per_s: 10.0,
            mix: BTreeMap::new(),
            keys: 1,
            timeout: std::time::Duration::from_secs(1),
            max_redirects,
        };
        Client::new(0, &workload, WorkloadKind::Kv, ChaCha8Rng::seed_from_u64(1))
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
            c.on_reply(2, req, 0, Ok(OpOutput::Done), RequestId(9), 3, &mut history)
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

    #[test]
    fn push_decimal_formats_like_display() {
        for n in [0, 1, 9, 10, 42, 1_000_000, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }
}
