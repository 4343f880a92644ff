//! The lock's client operations, its sequential model, its workload, and an invariant of
//! its own: everything splitbrain needs to know about what clients do, said here.

use splitbrain::{
    Datum, EventKind, Finals, Invariant, InvariantId, Model, Op, Outcome, ParamError, Undecided,
    Violation, Workload, WorkloadSpec,
};
use std::borrow::Cow;
use std::fmt;

/// A client is an owner; it acquires the one lock and releases it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LockOp {
    Acquire { owner: u32 },
    Release { owner: u32 },
}

/// What a successful operation returned.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LockOutput {
    /// The lock is the owner's; `token` grows with every grant (a fencing token).
    Granted {
        token: u64,
    },
    Released,
}

impl fmt::Display for LockOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockOp::Acquire { owner } => write!(f, "acquire by c{owner}"),
            LockOp::Release { owner } => write!(f, "release by c{owner}"),
        }
    }
}

impl Op for LockOp {
    type Output = LockOutput;

    fn f(&self) -> &'static str {
        match self {
            LockOp::Acquire { .. } => "acquire",
            LockOp::Release { .. } => "release",
        }
    }

    fn is_read(&self) -> bool {
        false
    }

    fn value(&self) -> Datum {
        match self {
            LockOp::Acquire { owner } | LockOp::Release { owner } => Datum::Int(i64::from(*owner)),
        }
    }

    fn output_value(&self, output: &LockOutput) -> Datum {
        match output {
            LockOutput::Granted { token } => Datum::Int(*token as i64),
            LockOutput::Released => self.value(),
        }
    }

    fn describe_output(&self, output: &LockOutput) -> String {
        match output {
            LockOutput::Granted { token } => format!("ok, token {token}"),
            LockOutput::Released => "ok".to_string(),
        }
    }
}

/// A mutex: at most one owner at a time. Acquiring a lock one already holds is granted
/// again (a client unsure whether its last acquire took effect asks again).
#[derive(Clone, Copy, Debug, Default)]
pub struct LockModel;

impl Model for LockModel {
    type Op = LockOp;
    /// The owner holding the lock.
    type State = Option<u32>;

    fn name(&self) -> &str {
        "lock"
    }

    fn init(&self) -> Option<u32> {
        None
    }

    fn step<'s>(
        &self,
        holder: &'s Option<u32>,
        op: &LockOp,
        outcome: Outcome<'_, LockOutput>,
    ) -> Option<Cow<'s, Option<u32>>> {
        let unknown = matches!(outcome, Outcome::Unknown);
        match (op, outcome) {
            (
                LockOp::Acquire { owner },
                Outcome::Ok(LockOutput::Granted { .. }) | Outcome::Unknown,
            ) => {
                match holder {
                    None => Some(Cow::Owned(Some(*owner))),
                    Some(h) if h == owner => Some(Cow::Borrowed(holder)),
                    // Held by another: a grant is impossible; an unknown one did nothing.
                    Some(_) => unknown.then_some(Cow::Borrowed(holder)),
                }
            }
            (LockOp::Release { owner }, Outcome::Ok(LockOutput::Released) | Outcome::Unknown) => {
                match holder {
                    Some(h) if h == owner => Some(Cow::Owned(None)),
                    _ => unknown.then_some(Cow::Borrowed(holder)),
                }
            }
            _ => None,
        }
    }

    fn describe(&self, holder: &Option<u32>) -> String {
        match holder {
            Some(h) => format!("held by c{h}"),
            None => "free".to_string(),
        }
    }
}

/// One client's operations: acquire, release, acquire, ... in turn, whatever came of the
/// last one. A client never knows for sure that it holds the lock (an acquire may time out
/// and still take effect), so it always releases after trying: a release of a lock it does
/// not hold is refused and changes nothing. The mix names the lock's operations
/// (`acquire`, `release`), but the turn decides which comes next.
#[derive(Clone, Debug)]
pub struct LockWorkload {
    owner: u32,
    release_next: bool,
}

impl LockWorkload {
    pub fn new(_spec: &WorkloadSpec, client: u32) -> Result<LockWorkload, ParamError> {
        Ok(LockWorkload {
            owner: client,
            release_next: false,
        })
    }
}

impl Workload for LockWorkload {
    type Op = LockOp;
    const NAME: &'static str = "lock";
    const OPS: &'static [&'static str] = &["acquire", "release"];

    fn next(&mut self, _rng: &mut dyn splitbrain::RngCore) -> LockOp {
        let owner = self.owner;
        let release = self.release_next;
        self.release_next = !release;
        if release {
            LockOp::Release { owner }
        } else {
            LockOp::Acquire { owner }
        }
    }
}

/// Fencing tokens order grants: a grant acknowledged before another was asked for
/// carries the smaller token. A resource that admits only the highest token seen is then
/// safe from a holder whose lease ran out (Kleppmann, "How to do distributed locking",
/// 2016).
pub const TOKEN_ORDER: InvariantId = InvariantId("token-order");

/// Checks [`TOKEN_ORDER`] on the history: every pair of acknowledged grants where one
/// completed before the other was invoked.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenOrder;

impl<S> Invariant<LockOp, S> for TokenOrder {
    fn id(&self) -> InvariantId {
        TOKEN_ORDER
    }

    fn check(&self, run: &Finals<'_, LockOp, S>) -> Result<Vec<Violation>, Undecided> {
        // (invoked, completed, token, owner) of every acknowledged grant.
        let mut invoked = std::collections::BTreeMap::new();
        let mut grants = Vec::new();
        for e in &run.history.events {
            match (e.kind, &e.op, &e.output) {
                (EventKind::Invoke, _, _) => {
                    invoked.insert(e.process, e.time_ns);
                }
                (EventKind::Ok, LockOp::Acquire { owner }, Some(LockOutput::Granted { token })) => {
                    grants.push((invoked[&e.process], e.time_ns, *token, *owner));
                }
                _ => {}
            }
        }
        Ok(first_inversion(&grants).into_iter().collect())
    }
}

/// The first grant whose token is not above that of a grant completed before it began.
fn first_inversion(grants: &[(u64, u64, u64, u32)]) -> Option<Violation> {
    // Grants in invocation order; the highest token among those completed before each.
    let mut by_invoke: Vec<&(u64, u64, u64, u32)> = grants.iter().collect();
    by_invoke.sort();
    let mut by_complete: Vec<&(u64, u64, u64, u32)> = grants.iter().collect();
    by_complete.sort_by_key(|g| g.1);
    let mut done = by_complete.iter().peekable();
    let mut highest: Option<&(u64, u64, u64, u32)> = None;
    for g in by_invoke {
        while let Some(d) = done.next_if(|d| d.1 < g.0) {
            if highest.is_none_or(|h| d.2 > h.2) {
                highest = Some(d);
            }
        }
        if let Some(h) = highest.filter(|h| g.2 <= h.2) {
            return Some(Violation {
                invariant: TOKEN_ORDER,
                kind: "a token granted after a higher one",
                events: Vec::new(),
                at_ns: Some(g.1),
                detail: format!(
                    "c{} was granted token {} after c{} had been granted token {}",
                    g.3, g.2, h.3, h.2
                ),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use splitbrain::checkers::{check_linearizable, LinOptions, Verdict};
    use splitbrain::{Event, History};

    fn event(
        process: u64,
        kind: EventKind,
        op: LockOp,
        output: Option<LockOutput>,
        t: u64,
    ) -> Event<LockOp> {
        Event {
            process,
            kind,
            op,
            output,
            time_ns: t,
        }
    }

    fn grant(p: u64, owner: u32, token: u64, from: u64, to: u64) -> [Event<LockOp>; 2] {
        let op = LockOp::Acquire { owner };
        [
            event(p, EventKind::Invoke, op.clone(), None, from),
            event(
                p,
                EventKind::Ok,
                op,
                Some(LockOutput::Granted { token }),
                to,
            ),
        ]
    }

    fn release(p: u64, owner: u32, from: u64, to: u64) -> [Event<LockOp>; 2] {
        let op = LockOp::Release { owner };
        [
            event(p, EventKind::Invoke, op.clone(), None, from),
            event(p, EventKind::Ok, op, Some(LockOutput::Released), to),
        ]
    }

    fn lin(events: Vec<Event<LockOp>>) -> bool {
        let h = History { events };
        check_linearizable(&h, &LockModel, &LinOptions::default())
            .expect("well formed")
            .is_linearizable()
    }

    #[test]
    fn two_holders_are_not_linearizable_and_a_handover_is() {
        let [a, b] = grant(0, 0, 1, 1, 2);
        let [c, d] = grant(1, 1, 2, 3, 4);
        assert!(!lin(vec![a.clone(), b.clone(), c.clone(), d.clone()]));
        let [r, s] = release(0, 0, 2, 3);
        let [c, d] = grant(1, 1, 2, 4, 5);
        assert!(lin(vec![a, b, r, s, c, d]));
        let _ = Verdict::Linearizable;
    }

    #[test]
    fn a_grant_after_a_higher_token_is_an_inversion() {
        let grants = [(1, 2, 5, 0), (3, 4, 3, 1)];
        let v = first_inversion(&grants).expect("token 3 came after token 5");
        assert_eq!(v.invariant, TOKEN_ORDER);
        assert_eq!(v.at_ns, Some(4));
        assert!(first_inversion(&[(1, 2, 3, 0), (3, 4, 5, 1)]).is_none());
        // Overlapping grants may carry either order.
        assert!(first_inversion(&[(1, 4, 5, 0), (2, 3, 3, 1)]).is_none());
    }

    #[test]
    fn a_client_acquires_and_releases_in_turn() {
        let mut w = LockWorkload::new(&WorkloadSpec::default(), 4).expect("valid");
        let mut rng = splitbrain::split_mix(1);
        let ops: Vec<LockOp> = (0..4).map(|_| w.next(&mut rng)).collect();
        let (a, r) = (LockOp::Acquire { owner: 4 }, LockOp::Release { owner: 4 });
        assert_eq!(ops, [a.clone(), r.clone(), a, r]);
    }
}
