//! Linearizability (Herlihy & Wing 1990), decided by the Wing & Gong 1993 search with
//! Lowe's 2017 memoization of (set of linearized operations, model state), as Porcupine
//! implements it: a doubly linked list of call and return entries ordered by real time;
//! linearizing an operation "lifts" its call and return out of the list, backtracking
//! "unlifts" them; a cache of (bitset, state) prunes configurations already explored
//! (extended: a configuration using a superset of another's indeterminate operations is
//! pruned too, see `search`).
//! Histories are split per key first (P-compositionality, Horn & Kroening 2015): a
//! history is linearizable iff each key's sub-history is.
//!
//! Indeterminate operations (`info`, or pending at the end) get a return time of
//! infinity and may be linearized at any point after their call, or never: once every
//! determinate operation is placed, the rest are left out.
//!
//! - this file: what a check is asked and answers, and the split into objects;
//! - [`keys`]: the objects checked apart, each within its share of the bounds;
//! - [`search`]: the search over one object's operations;
//! - [`memo`]: the configurations it has explored;
//! - [`lookahead`]: states an operation still to come cannot follow, dropped early;
//! - [`order`]: the list of call and return entries it walks, in time order.

mod keys;
mod lookahead;
mod memo;
mod order;
mod search;
#[cfg(test)]
mod tests;

use super::ops::{operations, HistoryError, Operation};
use protocol::{EventKind, History, Model, Op, Outcome};
use search::Answer;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

pub use lookahead::LOOKAHEAD_AFTER;

/// How to check. What the operations mean (a missing key reading as `""`, whether a
/// failed cas observed something, whether keys are checked apart) is the model's to say.
#[derive(Clone, Debug)]
pub struct LinOptions {
    /// Past this much wall-clock work the verdict is `Unknown`.
    pub budget: Duration,
    /// Bytes the search may hold at once, over every key searched at once; past it the
    /// verdict is `Unknown`.
    pub max_memory: usize,
    /// Check every key; otherwise stop at the first, in key order, that is not
    /// linearizable.
    pub all_keys: bool,
    /// Keys searched at once, one thread each. The verdict does not depend on it.
    pub jobs: usize,
    /// Backtracks a key's search makes before its look-ahead starts, at least; one per
    /// two of its operations if that is more ([`LOOKAHEAD_AFTER`]; 0: from the start;
    /// `u32::MAX`: never). Only tests and measurements change it.
    pub lookahead_after: u32,
}

/// The default memory bound of a check: 512 MiB.
pub const MAX_MEMORY: usize = 512 << 20;

impl Default for LinOptions {
    fn default() -> LinOptions {
        LinOptions {
            budget: Duration::from_secs(10),
            max_memory: MAX_MEMORY,
            all_keys: false,
            jobs: 1,
            lookahead_after: LOOKAHEAD_AFTER,
        }
    }
}

/// A bound a search can reach before its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Time,
    Memory,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Time => "time budget",
            Limit::Memory => "memory bound",
        })
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Counterexample),
    /// A bound was reached before a verdict: which keys were left undecided, and the
    /// bound (memory, if any key reached it).
    Unknown {
        undecided: Vec<String>,
        limit: Limit,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }
}

/// Every key whose sub-history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counterexample {
    pub failures: Vec<KeyFailure>,
}

/// Why one key's sub-history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFailure {
    /// The key (empty for a single register or the set).
    pub key: String,
    /// The longest order of operations the search found consistent with the model, each
    /// rendered by [`Operation::summary`].
    pub prefix: Vec<String>,
    /// The model state after the prefix.
    pub state: String,
    /// The operation that had to be placed next (its response had arrived) but was
    /// inconsistent with every order tried.
    pub blocked: String,
    /// Whether the model's look-ahead found `blocked` cannot come: not next, and not
    /// after any operation that may come before it either.
    pub looked_ahead: bool,
    /// Operations still open at that point that were tried before it and rejected.
    pub pending: Vec<String>,
    /// `blocked`'s invocation, as an index into the history's events.
    pub blocked_event: usize,
    /// The prefix's invocations, as indexes into the history's events, in its order.
    pub prefix_events: Vec<usize>,
}

/// How many prefix operations a rendering shows; the rest are elided.
pub(super) const SHOWN_PREFIX: usize = 20;

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for k in &self.failures {
            let name = if k.key.is_empty() {
                "the object".to_string()
            } else {
                format!("key {:?}", k.key)
            };
            writeln!(f, "{name} is not linearizable.")?;
            writeln!(
                f,
                "  Longest linearizable prefix: {} operations, leaving state {}:",
                k.prefix.len(),
                k.state
            )?;
            let skip = k.prefix.len().saturating_sub(SHOWN_PREFIX);
            if skip > 0 {
                writeln!(f, "    ... {skip} earlier operations")?;
            }
            for (i, p) in k.prefix.iter().enumerate().skip(skip) {
                writeln!(f, "    {:>4}. {p}", i + 1)?;
            }
            writeln!(f, "  Cannot place next: {}", k.blocked)?;
            writeln!(
                f,
                "    (its response arrived, so it must come next or after an operation still \
                 open, but no such order matches the model)"
            )?;
            if k.looked_ahead {
                writeln!(
                    f,
                    "    (nor after any operation that may come before it: none can lead the \
                     state to what it saw)"
                )?;
            }
            if !k.pending.is_empty() {
                writeln!(f, "  Also open then: ")?;
                for p in &k.pending {
                    writeln!(f, "    - {p}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Linearizable => writeln!(f, "linearizable"),
            Verdict::NotLinearizable(c) => {
                writeln!(f, "NOT linearizable")?;
                write!(f, "{c}")
            }
            Verdict::Unknown { undecided, limit } => writeln!(
                f,
                "unknown: {limit} reached with {} key(s) undecided: {}",
                undecided.len(),
                undecided
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A wall-clock deadline for checker work.
pub(crate) struct Deadline {
    end: Option<std::time::Instant>,
}

impl Deadline {
    /// The one wall-clock read of the checkers. It bounds how long a check may run; it
    /// never decides a verdict other than `Unknown`, and nothing deterministic (a
    /// simulation, its trace) depends on it.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn now() -> std::time::Instant {
        std::time::Instant::now()
    }

    /// `budget` from now (never, if that is past the clock's range).
    pub(crate) fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Deadline::now().checked_add(budget),
        }
    }

    /// A `1 / turns` share of the time left before this deadline, from now.
    pub(crate) fn share(&self, turns: u32) -> Deadline {
        let Some(end) = self.end else {
            return Deadline { end: None };
        };
        let now = Deadline::now();
        let rest = end.saturating_duration_since(now);
        Deadline {
            end: Some(now + rest / turns.max(1)),
        }
    }

    pub(crate) fn expired(&self) -> bool {
        self.end.is_some_and(|end| Deadline::now() >= end)
    }
}

/// Steps of the search between two clock reads (a power of two: checked with a mask).
pub(super) const CLOCK_EVERY: u64 = 1 << 10;

/// Checks `h` against `model`.
pub fn check_linearizable<M: Model + Sync>(
    h: &History<M::Op>,
    model: &M,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    let ops = operations(h)?;
    check_operations(&ops, model, opts)
}

/// Checks already-paired operations (see [`operations`]).
pub fn check_operations<M: Model + Sync>(
    ops: &[Operation<M::Op>],
    model: &M,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    check_with::<M, true>(ops, model, opts, &mut 0)
}

/// [`check_operations`], with the memo filled lazily (as the checker does) or on arrival
/// (the reference the tests hold it to, see [`search`]); adds the search steps taken to
/// `steps`.
fn check_with<M: Model + Sync, const LAZY: bool>(
    ops: &[Operation<M::Op>],
    model: &M,
    opts: &LinOptions,
    steps: &mut u64,
) -> Result<Verdict, HistoryError> {
    let groups: Vec<(&str, Group<Out<M>>)> = groups(ops, model)?.into_iter().collect();
    let answers = keys::check_keys::<M, LAZY>(model, ops, &groups, opts);
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    let mut limit = Limit::Time;
    for ((key, _), a) in groups.iter().zip(answers) {
        let Some(a) = a else { continue };
        *steps += a.steps;
        match a.answer {
            Answer::Linearizable | Answer::Cancelled => {}
            Answer::OutOf(l) => {
                undecided.push(key.to_string());
                if l == Limit::Memory {
                    limit = l;
                }
            }
            Answer::Fail(mut f, _) => {
                f.key = key.to_string();
                failures.push(f);
            }
        }
    }
    if !opts.all_keys {
        failures.truncate(1);
    }
    Ok(if !failures.is_empty() {
        // A violation found is definite even if other keys ran out of their bounds.
        Verdict::NotLinearizable(Counterexample { failures })
    } else if !undecided.is_empty() {
        Verdict::Unknown { undecided, limit }
    } else {
        Verdict::Linearizable
    })
}

/// What a model's step sees of an operation's output.
pub(super) type Out<M> = <<M as Model>::Op as Op>::Output;

/// A sub-history: (index into the operations, outcome), in the operations' order.
type Group<'a, T> = Vec<(usize, Outcome<'a, T>)>;

/// The model's view of how an operation ended; `None` for a failure that constrains
/// nothing (it did not take effect and observed nothing), which the checker drops.
fn outcome_of<'h, M: Model>(model: &M, o: &Operation<'h, M::Op>) -> Option<Outcome<'h, Out<M>>> {
    match o.end {
        EventKind::Ok => Some(Outcome::Ok(
            o.output.expect("an ok operation has its output"),
        )),
        EventKind::Info | EventKind::Invoke => Some(Outcome::Unknown),
        EventKind::Fail => model.fail_observes(o.op).then_some(Outcome::Failed),
    }
}

/// The operations to check, by the model's partition (one object when it has none);
/// failures that constrain nothing, and indeterminate reads, left out.
#[allow(clippy::type_complexity)]
fn groups<'h, M: Model>(
    ops: &[Operation<'h, M::Op>],
    model: &M,
) -> Result<BTreeMap<&'h str, Group<'h, Out<M>>>, HistoryError> {
    let mut groups: BTreeMap<&str, Group<Out<M>>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        if !model.accepts(o.op) {
            return Err(HistoryError {
                event: o.invoke,
                message: format!(
                    "`{}` is not an operation of the {} model; expected {}",
                    o.op,
                    model.name(),
                    model.vocabulary()
                ),
            });
        }
        let Some(outcome) = outcome_of(model, o) else {
            continue;
        };
        if matches!(outcome, Outcome::Unknown) && o.op.is_read() {
            // A read whose result nobody saw neither changes nor constrains anything.
            continue;
        }
        let key = model.partition(o.op).unwrap_or_default();
        groups.entry(key).or_default().push((i, outcome));
    }
    Ok(groups)
}
