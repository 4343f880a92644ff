//! The Wing & Gong search over one object's operations, with Lowe's memo and the pruning
//! rules that keep indeterminate operations from multiplying the orders tried.

use super::lookahead::Lookahead;
use super::memo::{Memo, Slot};
use super::order::{by_invoke, entry_order, Entries};
use super::{Deadline, KeyFailure, Out, CLOCK_EVERY, SHOWN_PREFIX};
use crate::history::ops::Operation;
use protocol::{Model, Outcome};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::Hash;

pub(super) enum Search {
    Ok,
    Fail(KeyFailure),
    TimedOut,
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
/// the state at the end of the path.
fn repeats_on_path<S: Eq>(calls: &[Call<S>], unknown: &[bool], state: &S, after: &S) -> bool {
    let mut s = state;
    for c in calls.iter().rev() {
        if !unknown[(c.entry - 1) / 2] {
            return false;
        }
        if s == after {
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
    deadline: &Deadline,
    total_steps: &mut u64,
) -> Search
where
    M::State: Hash,
{
    let mut steps: u64 = 0;
    let r = search_steps::<M, LAZY>(model, ops, group, deadline, &mut steps);
    *total_steps += steps;
    r
}

fn search_steps<M: Model, const LAZY: bool>(
    model: &M,
    ops: &[Operation<M::Op>],
    group: &[(usize, Outcome<Out<M>>)],
    deadline: &Deadline,
    steps: &mut u64,
) -> Search
where
    M::State: Hash,
{
    let n = group.len();
    let unknown_op: Vec<bool> = group
        .iter()
        .map(|(_, o)| matches!(o, Outcome::Unknown))
        .collect();
    let by_invoke = by_invoke(ops, group);
    let mut entries = Entries::new(&entry_order(ops, group, &unknown_op, &by_invoke));
    let is_call = |node: usize| node % 2 == 1;
    let op_of = |node: usize| (node - 1) / 2;

    // Identical indeterminate operations are interchangeable: use them in invocation
    // order. If a linearization uses a later one while an earlier twin is unused, swapping
    // them gives another linearization (the earlier one was invoked sooner and neither
    // ever returns), so this loses nothing and spares the search k! orders of k twins.
    let mut twin_before = vec![NONE; n];
    let mut last_of: BTreeMap<&M::Op, usize> = BTreeMap::new();
    for &(_, j) in &by_invoke {
        if unknown_op[j] {
            if let Some(t) = last_of.insert(ops[group[j].0].op, j) {
                twin_before[j] = t;
            }
        }
    }
    let dets = unknown_op.iter().filter(|u| !**u).count();
    let mut placed = Placed::new(n);
    let mut memo: Memo<M::State> = Memo::new(n, dets);
    // At most every operation deep: reserved, rather than copied as it grows.
    let mut calls: Vec<Call<M::State>> = Vec::with_capacity(n);
    // Whether the last operation linearized was indeterminate (see the pruning rules).
    let mut after_unknown = false;
    let mut state = model.init();
    let mut entry = entries.first();
    let mut lookahead = Lookahead::new(model, ops, group);
    // Operations refused in this configuration by the look-ahead, and by which operation
    // that cannot follow them: the reason a counterexample gives.
    let mut refused: Vec<(usize, usize)> = Vec::new();
    // Deepest failure seen: (prefix of op indexes in group, blocked op, state, whether
    // the look-ahead found it).
    let mut best: Option<(Vec<usize>, usize, M::State, bool)> = None;

    while entries.first() != NONE {
        if placed.dets == dets {
            return Search::Ok;
        }
        *steps += 1;
        if *steps & (CLOCK_EVERY - 1) == 0 && deadline.expired() {
            return Search::TimedOut;
        }
        if is_call(entry) {
            let j = op_of(entry);
            let (i, outcome) = &group[j];
            let op = ops[*i].op;
            let mut advanced = false;
            let unknown = unknown_op[j];
            let twin_unused = twin_before[j] != NONE && !placed.unknown.get(twin_before[j]);
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
            let stepped =
                if twin_unused || (after_unknown && model.skip_after_unknown(op, *outcome)) {
                    None // Skipped (rules 1, 3).
                } else {
                    match model.step(&state, op, *outcome) {
                        None => None,
                        // `Some(None)`: the state stays as it is.
                        Some(Cow::Borrowed(_)) => Some(None),
                        Some(Cow::Owned(s)) if unknown && s == state => Some(None),
                        Some(Cow::Owned(s)) => Some(Some(s)),
                    }
                };
            // 4. A state some operation still to come cannot follow is a dead end.
            let stepped = match stepped {
                // An unchanged state passed the look-ahead when it was reached.
                Some(None) if !unknown => Some(None),
                Some(Some(after)) => {
                    let reached = &after;
                    match lookahead.admits(model, ops, group, &entries, j, reached) {
                        Ok(()) => Some(Some(after)),
                        Err(r) => {
                            refused.push((j, r));
                            None
                        }
                    }
                }
                _ => None,
            };
            // `None`: impossible here, or skipped (rules 1 to 4).
            if let Some(after) = stepped {
                // Mark it linearized in place; undone below if already explored.
                placed.add(j, unknown);
                let reached = after.as_ref().unwrap_or(&state);
                let on_path =
                    LAZY && unknown && repeats_on_path(&calls, &unknown_op, &state, reached);
                let slot = if on_path {
                    None
                } else {
                    memo.lookup(&placed, reached, unknown)
                };
                let explored = on_path || memo.covers(slot, &placed);
                if !LAZY && !explored {
                    memo.insert(&placed, reached, unknown, slot);
                }
                if explored {
                    placed.remove(j, unknown);
                } else {
                    let before = after.map(|s| std::mem::replace(&mut state, s));
                    calls.push(Call {
                        entry,
                        before,
                        after_unknown,
                        slot,
                    });
                    after_unknown = unknown;
                    entries.lift(entry);
                    lookahead.place(j);
                    refused.clear();
                    entry = entries.first();
                    advanced = true;
                }
            }
            if !advanced {
                entry = entries.after(entry);
            }
        } else {
            // A return: its operation had to be linearized by now. Backtrack.
            let b = op_of(entry);
            // Refused by the look-ahead, `b` itself could come next: then the history
            // breaks at the operation that could not follow it.
            let by = refused.iter().find(|(x, _)| *x == b).map(|(_, r)| *r);
            let depth = calls.len() + usize::from(by.is_some());
            if best.as_ref().is_none_or(|x| depth > x.0.len()) {
                let mut prefix: Vec<usize> = calls.iter().map(|c| op_of(c.entry)).collect();
                let (blocked, at) = match by {
                    Some(r) => {
                        prefix.push(b);
                        let (i, outcome) = &group[b];
                        let after = model.step(&state, ops[*i].op, *outcome);
                        (r, after.map_or_else(|| state.clone(), Cow::into_owned))
                    }
                    None => (b, state.clone()),
                };
                best = Some((prefix, blocked, at, by.is_some()));
            }
            let Some(call) = calls.pop() else {
                break;
            };
            let j = op_of(call.entry);
            if LAZY {
                // Leaving the configuration: explored now (see above). Nothing with its
                // key was recorded since it was reached (what the search reached from it
                // has more operations, and the same determinate ones only by adding
                // indeterminate ones, which `repeats_on_path` stopped at this one), so
                // the slot looked up then still holds.
                memo.insert(&placed, &state, after_unknown, call.slot);
            }
            if let Some(before) = call.before {
                state = before;
            }
            after_unknown = call.after_unknown;
            placed.remove(j, unknown_op[j]);
            entries.unlift(call.entry);
            lookahead.unplace(j);
            refused.clear();
            entry = entries.after(call.entry);
        }
    }
    if entries.first() == NONE || placed.dets == dets {
        return Search::Ok;
    }
    let Some((prefix, blocked, st, looked_ahead)) = best else {
        return Search::Ok;
    };
    // Ops whose call precedes the blocked return and which are not in the prefix were
    // open at that point.
    let in_prefix: std::collections::BTreeSet<usize> = prefix.iter().copied().collect();
    let blocked_ret = ops[group[blocked].0].complete.unwrap_or(usize::MAX);
    let pending = (0..n)
        .filter(|j| *j != blocked && !in_prefix.contains(j))
        .filter(|j| ops[group[*j].0].invoke < blocked_ret)
        .take(SHOWN_PREFIX)
        .map(|j| ops[group[j].0].summary())
        .collect();
    Search::Fail(KeyFailure {
        key: String::new(),
        prefix: prefix.iter().map(|j| ops[group[*j].0].summary()).collect(),
        state: model.describe(&st),
        blocked: ops[group[blocked].0].summary(),
        looked_ahead,
        pending,
    })
}
