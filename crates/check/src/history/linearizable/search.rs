//! The Wing & Gong search over one object's operations, with Lowe's memo and the pruning
//! rules that keep indeterminate operations from multiplying the orders tried.

use super::lookahead::Lookahead;
use super::memo::{Memo, Slot};
use super::order::{by_invoke, entry_order, Entries};
use super::{Deadline, KeyFailure, Limit, Out, CLOCK_EVERY, SHOWN_PREFIX};
use crate::history::ops::Operation;
use protocol::{Model, Outcome};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What the search over one object found.
pub(super) enum Answer {
    Linearizable,
    /// Not linearizable: why, and the deepest order found (places in the group), to
    /// describe its state again with a model that was not narrowed.
    Fail(KeyFailure, Vec<usize>),
    /// It reached a bound first.
    OutOf(Limit),
    /// An earlier object was found not linearizable, and no more was asked.
    Cancelled,
}

/// What bounds one object's search.
pub(super) struct Bound<'a> {
    pub(super) deadline: Deadline,
    /// Bytes the search may hold (its memo, its path, its tables).
    pub(super) memory: usize,
    /// Stop if an earlier object failed: (the first failing object so far, this one's
    /// place among them).
    pub(super) stop: Option<(&'a AtomicUsize, usize)>,
    /// Backtracks before the look-ahead starts (see `lookahead`).
    pub(super) lookahead_after: u32,
}

impl Bound<'_> {
    /// The bound reached, if any (`None` in the answer: cancelled).
    fn reached(&self, bytes: usize) -> Option<Option<Limit>> {
        if self
            .stop
            .is_some_and(|(first, me)| first.load(Ordering::Relaxed) < me)
        {
            Some(None)
        } else if bytes > self.memory {
            Some(Some(Limit::Memory))
        } else if self.deadline.expired() {
            Some(Some(Limit::Time))
        } else {
            None
        }
    }
}

pub(super) const NONE: usize = usize::MAX;

/// A fixed-size bitset of linearized operations.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Bits(pub(super) Vec<u64>);

impl Bits {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

/// A fixed pseudo-random word per operation (SplitMix64's finalizer), XORed into the
/// fingerprint of a set of operations as they come and go (Zobrist hashing), so the memo
/// hashes a set in O(1) rather than word by word.
fn zobrist(j: usize) -> u64 {
    let mut z = (j as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The operations linearized so far: determinate ones (with their Zobrist fingerprint and
/// count), and indeterminate ones (with their count).
pub(super) struct Placed {
    pub(super) det: Bits,
    pub(super) det_fp: u64,
    pub(super) dets: usize,
    pub(super) unknown: Bits,
    pub(super) unknowns: usize,
}

impl Placed {
    fn new(n: usize) -> Placed {
        Placed {
            det: Bits(vec![0; n.div_ceil(64)]),
            det_fp: 0,
            dets: 0,
            unknown: Bits(vec![0; n.div_ceil(64)]),
            unknowns: 0,
        }
    }

    /// Places operation `j` (which must not be placed yet).
    fn add(&mut self, j: usize, unknown: bool) {
        assert!(
            !self.det.get(j) && !self.unknown.get(j),
            "op {j} placed twice"
        );
        if unknown {
            self.unknown.set(j);
            self.unknowns += 1;
        } else {
            self.det.set(j);
            self.det_fp ^= zobrist(j);
            self.dets += 1;
        }
    }

    /// Takes back operation `j` (which must be placed, as `unknown` says).
    fn remove(&mut self, j: usize, unknown: bool) {
        let set = if unknown { &self.unknown } else { &self.det };
        assert!(set.get(j), "op {j} taken back but never placed");
        if unknown {
            self.unknown.clear(j);
            self.unknowns -= 1;
        } else {
            self.det.clear(j);
            self.det_fp ^= zobrist(j);
            self.dets -= 1;
        }
    }
}

/// An operation on the search path.
struct Call<S> {
    /// Its call entry.
    entry: usize,
    /// The state before it, if it changed the state.
    before: Option<S>,
    /// Whether the operation before it was indeterminate.
    after_unknown: bool,
    /// Where the configuration it reached is in the memo (see `search`).
    slot: Option<Slot>,
}

/// Whether linearizing an indeterminate operation, reaching state `after`, repeats a
/// configuration on the search path with the same determinate set, the same state and
/// also right after an indeterminate operation: one reached through the trailing run of
/// indeterminate operations on the path (any determinate one in between would make the
/// determinate sets differ). Such a configuration uses a subset of the new one's
/// indeterminate operations, so it covers the new one as in [`Memo::covers`]. `state`:
/// the state at the end of the path. States compare as the memo keeps them
/// ([`Model::merge`]).
fn repeats_on_path<M: Model>(
    model: &M,
    calls: &[Call<M::State>],
    unknown: &[bool],
    state: &M::State,
    after: &M::State,
) -> bool {
    let after = model.merge(after);
    let mut s = state;
    for c in calls.iter().rev() {
        if !unknown[(c.entry - 1) / 2] {
            return false;
        }
        if model.merge(s) == after {
            return true;
        }
        if let Some(b) = &c.before {
            s = b;
        }
    }
    false
}

/// The Porcupine search over one sub-history. `group` lists (index into `ops`, outcome).
/// Adds the steps taken to `total_steps`.
///
/// The memo is filled lazily (`LAZY`): a configuration is recorded when the search
/// backtracks out of it, not when it arrives. It prunes exactly what recording on arrival
/// (Lowe, Porcupine; `LAZY = false`, kept as the tests' reference) prunes, step for step:
/// the configurations recorded on arrival by any point are those the search has left and
/// those on its current path; the memo holds the first, and [`repeats_on_path`] checks the
/// second, which can only cover a new configuration that extends the path by
/// indeterminate operations alone. A search that never backtracks, the usual one over a
/// correct system's history, thus never hashes or stores a configuration.
pub(super) fn search<M: Model, const LAZY: bool>(
    model: &M,
    ops: &[Operation<M::Op>],
    group: &[(usize, Outcome<Out<M>>)],
    bound: &Bound,
    total_steps: &mut u64,
) -> Answer {
    let mut s = Searcher::<M, LAZY>::new(model, ops, group, bound.lookahead_after);
    let r = s.run(bound);
    *total_steps += s.steps;
    r
}

/// The deepest dead end seen: the reason a counterexample gives.
struct Best<S> {
    /// The operations placed (indexes in the group), in order.
    prefix: Vec<usize>,
    /// The operation that could not come next.
    blocked: usize,
    state: S,
    /// Whether the look-ahead found it.
    looked_ahead: bool,
}

/// One object's search in progress.
struct Searcher<'a, 'h, M: Model, const LAZY: bool> {
    model: &'a M,
    ops: &'a [Operation<'h, M::Op>],
    group: &'a [(usize, Outcome<'h, Out<M>>)],
    unknown_op: Vec<bool>,
    /// Each indeterminate operation's identical predecessor (rule 1), or `NONE`.
    twin_before: Vec<usize>,
    dets: usize,
    entries: Entries,
    placed: Placed,
    memo: Memo<M::State>,
    calls: Vec<Call<M::State>>,
    /// Whether the last operation linearized was indeterminate (see the pruning rules).
    after_unknown: bool,
    state: M::State,
    lookahead: Lookahead<M::State>,
    /// Operations refused in this configuration by the look-ahead, and by which
    /// operation that cannot follow them: the reason a counterexample gives.
    refused: Vec<(usize, usize)>,
    best: Option<Best<M::State>>,
    steps: u64,
    /// Bytes held besides the memo: the tables sized by the group, and the states the
    /// path keeps to back out to.
    fixed_bytes: usize,
    path_bytes: usize,
}

/// Bytes per operation of the tables a search keeps besides its memo and path states
/// (entries, bitsets, look-ahead, the path's own slots): an estimate on the high side.
const BYTES_PER_OP: usize = 160;

/// Backtracks before the look-ahead starts over `n` operations: `after`, or one per two
/// operations if that is more (a search that backtracks less is doing well without it,
/// and on long values each look costs); 0 means from the start.
fn arm_after(after: u32, n: usize) -> u32 {
    if after == 0 {
        0
    } else {
        after.max(u32::try_from(n / 2).unwrap_or(u32::MAX))
    }
}

fn is_call(node: usize) -> bool {
    node % 2 == 1
}

fn op_of(node: usize) -> usize {
    (node - 1) / 2
}

impl<'a, 'h, M: Model, const LAZY: bool> Searcher<'a, 'h, M, LAZY> {
    fn new(
        model: &'a M,
        ops: &'a [Operation<'h, M::Op>],
        group: &'a [(usize, Outcome<'h, Out<M>>)],
        lookahead_after: u32,
    ) -> Self {
        let n = group.len();
        let unknown_op: Vec<bool> = group
            .iter()
            .map(|(_, o)| matches!(o, Outcome::Unknown))
            .collect();
        let by_invoke = by_invoke(ops, group);
        let entries = Entries::new(&entry_order(ops, group, &unknown_op, &by_invoke));
        let twin_before = twins::<M>(ops, group, &unknown_op, &by_invoke);
        let dets = unknown_op.iter().filter(|u| !**u).count();
        Searcher {
            model,
            ops,
            group,
            twin_before,
            dets,
            entries,
            placed: Placed::new(n),
            memo: Memo::new(n, dets),
            // At most every operation deep: reserved, rather than copied as it grows.
            calls: Vec::with_capacity(n),
            after_unknown: false,
            state: model.init(),
            lookahead: Lookahead::new(model, ops, group, arm_after(lookahead_after, n)),
            refused: Vec::new(),
            best: None,
            steps: 0,
            fixed_bytes: n * BYTES_PER_OP,
            path_bytes: 0,
            unknown_op,
        }
    }

    fn bytes(&self) -> usize {
        self.fixed_bytes + self.path_bytes + self.memo.bytes()
    }

    fn run(&mut self, bound: &Bound) -> Answer {
        if self.bytes() > bound.memory {
            return Answer::OutOf(Limit::Memory); // Its tables alone would not fit.
        }
        let mut entry = self.entries.first();
        while self.entries.first() != NONE {
            if self.placed.dets == self.dets {
                return Answer::Linearizable;
            }
            self.steps += 1;
            if self.steps & (CLOCK_EVERY - 1) == 0 {
                // The memo grows by at most one entry a step: checked every so often, it
                // overshoots its bound by a few hundred entries at most.
                match bound.reached(self.bytes()) {
                    None => {}
                    Some(None) => return Answer::Cancelled,
                    Some(Some(limit)) => return Answer::OutOf(limit),
                }
            }
            entry = if is_call(entry) {
                self.try_call(entry)
            } else {
                match self.backtrack(entry) {
                    Some(next) => next,
                    None => break,
                }
            };
        }
        self.finish()
    }

    /// Tries to linearize the operation whose call is `entry`: the entry to go on from.
    fn try_call(&mut self, entry: usize) -> usize {
        let j = op_of(entry);
        let placed = self
            .step(j)
            .is_some_and(|after| self.place(entry, j, after));
        if placed {
            self.entries.first()
        } else {
            self.entries.after(entry)
        }
    }

    /// The state after operation `j` (`Some(None)`: unchanged), or `None` if it cannot
    /// come here or a pruning rule skips it.
    fn step(&mut self, j: usize) -> Option<Option<M::State>> {
        let (i, outcome) = &self.group[j];
        let op = self.ops[*i].op;
        let unknown = self.unknown_op[j];
        let twin = self.twin_before[j];
        // Pruning rules, each sound by an exchange argument: any linearization that
        // breaks one can be shortened into one that keeps it, by leaving out an
        // indeterminate operation ("never"), or by using an earlier twin.
        // 1. Identical indeterminate operations are used in invocation order.
        // 2. An indeterminate operation that changes nothing is left out.
        // 3. Right after an indeterminate operation, the model may rule out some
        //    operations (`Model::skip_after_unknown`): a blind overwrite (the
        //    indeterminate one can be left out) or a commuting determinate operation
        //    (the indeterminate one can move after it).
        // Rule 3 depends on the last operation, so the memo key includes it.
        if (twin != NONE && !self.placed.unknown.get(twin))
            || (self.after_unknown && self.model.skip_after_unknown(op, *outcome))
        {
            return None; // Rules 1, 3.
        }
        let after = match self.model.step(&self.state, op, *outcome)? {
            Cow::Borrowed(_) => None,
            Cow::Owned(s) if unknown && s == self.state => None,
            Cow::Owned(s) => Some(s),
        };
        // 4. A state some operation still to come cannot follow is a dead end. An
        // unchanged state passed the look-ahead when it was reached.
        match after {
            None if unknown => None, // Rule 2.
            None => Some(None),
            Some(after) => {
                let admits = self.lookahead.admits(
                    self.model,
                    self.ops,
                    self.group,
                    &self.entries,
                    j,
                    &after,
                );
                match admits {
                    Ok(()) => Some(Some(after)),
                    Err(r) => {
                        self.refused.push((j, r));
                        None
                    }
                }
            }
        }
    }

    /// Linearizes operation `j` (call `entry`), reaching `after` (`None`: the state as it
    /// is), unless the memo says that configuration was explored: whether it did.
    fn place(&mut self, entry: usize, j: usize, after: Option<M::State>) -> bool {
        let unknown = self.unknown_op[j];
        // Mark it linearized in place; undone below if already explored.
        self.placed.add(j, unknown);
        let reached = after.as_ref().unwrap_or(&self.state);
        let (model, calls, unknown_op) = (self.model, &self.calls, &self.unknown_op);
        let on_path =
            LAZY && unknown && repeats_on_path(model, calls, unknown_op, &self.state, reached);
        // What the memo keeps of the state (see `Model::merge`): merged only if looked up.
        let kept = || model.merge(reached);
        let slot = if on_path {
            None
        } else {
            self.memo.lookup(&self.placed, kept, unknown)
        };
        let explored = on_path || self.memo.covers(slot, &self.placed);
        if !LAZY && !explored {
            self.memo
                .insert(&self.placed, &kept(), unknown, slot, model);
        }
        if explored {
            self.placed.remove(j, unknown);
            return false;
        }
        let before = after.map(|s| std::mem::replace(&mut self.state, s));
        self.path_bytes += before.as_ref().map_or(0, |b| self.model.heap_bytes(b));
        self.calls.push(Call {
            entry,
            before,
            after_unknown: self.after_unknown,
            slot,
        });
        self.after_unknown = unknown;
        self.entries.lift(entry);
        self.lookahead.place(j);
        self.refused.clear();
        true
    }

    /// At return `entry`, whose operation had to be linearized by now: backs out of the
    /// last operation placed. The entry to go on from, or `None` if nothing is left to
    /// back out of.
    fn backtrack(&mut self, entry: usize) -> Option<usize> {
        self.note_dead_end(op_of(entry));
        let call = self.calls.pop()?;
        let j = op_of(call.entry);
        if LAZY {
            // Leaving the configuration: explored now (see `search`). Nothing with its
            // key was recorded since it was reached (what the search reached from it has
            // more operations, and the same determinate ones only by adding
            // indeterminate ones, which `repeats_on_path` stopped at this one), so the
            // slot looked up then still holds.
            let kept = self.model.merge(&self.state);
            (self.memo).insert(
                &self.placed,
                &kept,
                self.after_unknown,
                call.slot,
                self.model,
            );
        }
        if let Some(before) = call.before {
            self.path_bytes -= self.model.heap_bytes(&before);
            self.state = before;
        }
        self.after_unknown = call.after_unknown;
        self.placed.remove(j, self.unknown_op[j]);
        self.entries.unlift(call.entry);
        self.lookahead.unplace(j);
        self.refused.clear();
        Some(self.entries.after(call.entry))
    }

    /// Keeps the dead end at return `b` if it is the deepest yet. Refused by the
    /// look-ahead, `b` itself could come next: then the history breaks at the operation
    /// that could not follow it.
    fn note_dead_end(&mut self, b: usize) {
        let by = self.refused.iter().find(|(x, _)| *x == b).map(|(_, r)| *r);
        let depth = self.calls.len() + usize::from(by.is_some());
        if self.best.as_ref().is_some_and(|x| depth <= x.prefix.len()) {
            return;
        }
        let mut prefix: Vec<usize> = self.calls.iter().map(|c| op_of(c.entry)).collect();
        let (blocked, state) = match by {
            Some(r) => {
                prefix.push(b);
                let (i, outcome) = &self.group[b];
                let after = self.model.step(&self.state, self.ops[*i].op, *outcome);
                (r, after.map_or_else(|| self.state.clone(), Cow::into_owned))
            }
            None => (b, self.state.clone()),
        };
        self.best = Some(Best {
            prefix,
            blocked,
            state,
            looked_ahead: by.is_some(),
        });
    }

    /// The answer once the entries ran out or nothing was left to back out of.
    fn finish(&mut self) -> Answer {
        if self.entries.first() == NONE || self.placed.dets == self.dets {
            return Answer::Linearizable;
        }
        let Some(best) = self.best.take() else {
            return Answer::Linearizable;
        };
        let (ops, group) = (self.ops, self.group);
        let summary = |j: usize| ops[group[j].0].summary();
        // Operations whose call precedes the blocked return and which are not in the
        // prefix were open at that point.
        let in_prefix: BTreeSet<usize> = best.prefix.iter().copied().collect();
        let blocked_ret = ops[group[best.blocked].0].complete.unwrap_or(usize::MAX);
        let pending = (0..group.len())
            .filter(|j| *j != best.blocked && !in_prefix.contains(j))
            .filter(|j| ops[group[*j].0].invoke < blocked_ret)
            .take(SHOWN_PREFIX)
            .map(summary)
            .collect();
        let failure = KeyFailure {
            key: String::new(),
            prefix: best.prefix.iter().map(|j| summary(*j)).collect(),
            state: self.model.describe(&best.state),
            blocked: summary(best.blocked),
            looked_ahead: best.looked_ahead,
            pending,
            blocked_event: ops[group[best.blocked].0].invoke,
            prefix_events: best
                .prefix
                .iter()
                .map(|j| ops[group[*j].0].invoke)
                .collect(),
        };
        Answer::Fail(failure, best.prefix)
    }
}

/// Identical indeterminate operations are interchangeable: use them in invocation order.
/// If a linearization uses a later one while an earlier twin is unused, swapping them
/// gives another linearization (the earlier one was invoked sooner and neither ever
/// returns), so this loses nothing and spares the search k! orders of k twins. Each
/// indeterminate operation's twin invoked just before it, or `NONE`.
fn twins<M: Model>(
    ops: &[Operation<M::Op>],
    group: &[(usize, Outcome<Out<M>>)],
    unknown_op: &[bool],
    by_invoke: &[(usize, usize)],
) -> Vec<usize> {
    let mut twin_before = vec![NONE; group.len()];
    let mut last_of: BTreeMap<&M::Op, usize> = BTreeMap::new();
    for &(_, j) in by_invoke {
        if unknown_op[j] {
            if let Some(t) = last_of.insert(ops[group[j].0].op, j) {
                twin_before[j] = t;
            }
        }
    }
    twin_before
}
