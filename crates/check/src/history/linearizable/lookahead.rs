//! Look-ahead: a configuration is dropped as soon as an operation the search must still
//! place cannot follow its state ([`Model::can_precede`]), rather than when the search
//! reaches that operation. Without it, concurrent appends are tried in every order until
//! a later read rules each order out: the search's work grows as the factorial of how
//! many overlap, and fifty clients appending to one key took it past its budget.
//!
//! Which operations must still come: the determinate operations whose returns lead the
//! entry list (they complete first). Between the state now and such an operation `r`,
//! only unplaced operations invoked before `r` completed can come. If none of them may
//! leave any state ([`Reset::Any`]), `r` can come only if the model says it can follow
//! the state now, or one of them resets the state to one it can follow ([`Reset::To`]:
//! with unique values, a read has one such put at most, so a put still to come no longer
//! blinds the look-ahead).

use super::order::Entries;
use super::search::NONE;
use super::Out;
use crate::history::ops::Operation;
use protocol::{Model, Outcome, Reset};

/// Returns leading the entry list that are checked at most: the operations most likely
/// to rule a state out are the next to complete. Appends between reads rule nothing out,
/// so the bound reaches past a run of them to the next reads; a reset ends the walk
/// sooner (see [`Lookahead::admits`]).
const WATCHED: usize = 32;

/// How many resets deep [`Lookahead::reachable`] asks whether a reset can take effect.
const ENABLER_DEPTH: usize = 3;

/// Backtracks before the look-ahead starts, by default. A search that seldom backtracks
/// (the usual one, over a correct system's history) would pay for it on every step and
/// gain nothing; one that keeps backtracking gains orders of magnitude. Starting late is
/// sound: the look-ahead only drops configurations that cannot lead to a linearization,
/// whenever it starts.
pub const LOOKAHEAD_AFTER: u32 = 256;

pub(super) struct Lookahead<S> {
    /// Operations that may leave any state ([`Reset::Any`]), and which are unplaced.
    any: Resets,
    /// Operations that leave a given state ([`Reset::To`]): (invocation, index in the
    /// group, that state), sorted.
    to: Vec<(usize, usize, S)>,
    /// For each operation, once it was watched: the operations in `to` that may come
    /// before it and leave a state it can follow. Few, when values are unique.
    enablers: Vec<Option<Box<[usize]>>>,
    placed: Vec<bool>,
    /// Whether any operation leaves the state to the look-ahead at all.
    active: bool,
    /// Backtracks left before the look-ahead starts (see [`LOOKAHEAD_AFTER`]).
    unarmed: u32,
    /// The determinate operations whose returns lead the list now, up to [`WATCHED`]:
    /// worked out once per configuration (when `fresh`), not once per candidate, into
    /// one buffer.
    watched: Vec<usize>,
    fresh: bool,
    /// What [`Lookahead::reachable`] found of each operation within one call of
    /// [`Lookahead::admits`] (one state, one `j`): without it, every enabler's enablers
    /// are asked again, and a history with many puts of the same value made the question
    /// cubic in them.
    known: Vec<Known>,
    /// Which call of [`Lookahead::admits`] the `known` entries of this one are from.
    generation: u32,
}

/// The answer is monotone in depth: reachable within `d + 1` resets implies within `d`
/// (each deeper level adds a condition). So one failing depth and one succeeding depth
/// decide every other.
#[derive(Clone, Copy)]
struct Known {
    generation: u32,
    /// Unreachable at this depth and every deeper one.
    fails_from: u8,
    /// Reachable at this depth and every shallower one, if any.
    holds_to: Option<u8>,
}

impl<S> Lookahead<S> {
    pub(super) fn new<M: Model<State = S>>(
        model: &M,
        ops: &[Operation<M::Op>],
        group: &[(usize, Outcome<Out<M>>)],
        after: u32,
    ) -> Lookahead<S> {
        let mut any = Vec::new();
        let mut to = Vec::new();
        let mut active = false;
        for (j, (i, outcome)) in group.iter().enumerate() {
            match model.resets(ops[*i].op, *outcome) {
                Reset::Any => any.push((ops[*i].invoke, j)),
                Reset::To(s) => to.push((ops[*i].invoke, j, s)),
                Reset::Never => active = true,
            }
        }
        to.sort_unstable_by_key(|t| (t.0, t.1));
        Lookahead {
            any: Resets::new(any, group.len()),
            to,
            enablers: (0..group.len()).map(|_| None).collect(),
            placed: vec![false; group.len()],
            active,
            unarmed: after,
            watched: Vec::with_capacity(WATCHED + 1),
            fresh: false,
            known: vec![
                Known {
                    generation: 0,
                    fails_from: u8::MAX,
                    holds_to: None,
                };
                group.len()
            ],
            generation: 0,
        }
    }

    /// Operation `j` was placed.
    pub(super) fn place(&mut self, j: usize) {
        self.any.set(j, true);
        self.placed[j] = true;
        self.fresh = false;
    }

    /// Operation `j` was taken back: the search backtracked.
    pub(super) fn unplace(&mut self, j: usize) {
        self.any.set(j, false);
        self.placed[j] = false;
        self.fresh = false;
        self.unarmed = self.unarmed.saturating_sub(1);
    }

    /// `Err(r)` if `state`, reached by placing `j`, cannot be followed by `r`, one of the
    /// determinate operations the search must place next.
    pub(super) fn admits<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Op>],
        group: &[(usize, Outcome<Out<M>>)],
        entries: &Entries,
        j: usize,
        state: &S,
    ) -> Result<(), usize> {
        if !self.active || self.unarmed > 0 {
            return Ok(());
        }
        self.generation = self.generation.wrapping_add(1);
        if !self.fresh {
            // One more than watched: `j` itself may lead.
            self.watched.clear();
            self.watched
                .extend(entries.leading_returns().take(WATCHED + 1));
            self.fresh = true;
        }
        for w in 0..self.watched.len().min(WATCHED + 1) {
            let r = self.watched[w];
            let (i, outcome) = &group[r];
            if r == j || matches!(outcome, Outcome::Unknown) {
                continue;
            }
            let complete = ops[*i].complete.unwrap_or(usize::MAX);
            // Returns come in completion order: once an operation that may leave any
            // state may come before one, it may come before every later one too.
            if self.any.unplaced_before(complete, j) {
                break;
            }
            if !self.reachable(model, ops, group, state, r, j, ENABLER_DEPTH) {
                return Err(r);
            }
        }
        Ok(())
    }

    /// Whether `r` can follow `state`: directly, or after a reset still to come that can
    /// itself take effect (a compare-and-set needs its expected value; ask again, at most
    /// `depth` resets deep, past which the answer is yes). `j`: just placed.
    #[allow(clippy::too_many_arguments)]
    fn reachable<M: Model<State = S>>(
        &mut self,
        model: &M,
        ops: &[Operation<M::Op>],
        group: &[(usize, Outcome<Out<M>>)],
        state: &S,
        r: usize,
        j: usize,
        depth: usize,
    ) -> bool {
        assert!(
            depth <= ENABLER_DEPTH,
            "depth counts down from ENABLER_DEPTH"
        );
        let d = depth as u8;
        let generation = self.generation;
        let known = &mut self.known[r];
        if known.generation != generation {
            *known = Known {
                generation,
                fails_from: u8::MAX,
                holds_to: None,
            };
        }
        if d >= known.fails_from {
            return false;
        }
        if known.holds_to.is_some_and(|h| d <= h) {
            return true;
        }
        let (i, outcome) = &group[r];
        let holds = model.can_precede(state, ops[*i].op, *outcome) || {
            let count = enablers_of(&mut self.enablers[r], &self.to, model, ops, group, r).len();
            // By index: the recursion needs `self` back between enablers.
            (0..count).any(|e| {
                let k = self.enablers[r].as_ref().map_or(NONE, |en| en[e]);
                k != j
                    && !self.placed[k]
                    && (depth == 0 || self.reachable(model, ops, group, state, k, j, depth - 1))
            })
        };
        let known = &mut self.known[r];
        if holds {
            known.holds_to = Some(known.holds_to.map_or(d, |h| h.max(d)));
        } else {
            known.fails_from = known.fails_from.min(d);
        }
        holds
    }
}

/// The resets to a given state (`to`) that may come before `r` (invoked before it
/// completes) and leave a state it can follow; worked out once, into `cached`.
fn enablers_of<'c, M: Model>(
    cached: &'c mut Option<Box<[usize]>>,
    to: &[(usize, usize, M::State)],
    model: &M,
    ops: &[Operation<M::Op>],
    group: &[(usize, Outcome<Out<M>>)],
    r: usize,
) -> &'c [usize] {
    let (i, outcome) = &group[r];
    let complete = ops[*i].complete.unwrap_or(usize::MAX);
    cached.get_or_insert_with(|| {
        to.iter()
            .take_while(|(invoke, _, _)| *invoke < complete)
            .filter(|(_, k, s)| *k != r && model.can_precede(s, ops[*i].op, *outcome))
            .map(|(_, k, _)| *k)
            .collect()
    })
}

/// The operations that may leave any state, by invocation, and which are placed. The
/// search places and takes back in last-in-first-out order, so the first unplaced one is
/// kept by a cursor that rarely moves far.
struct Resets {
    /// (invocation, index in the group), sorted.
    by_invoke: Vec<(usize, usize)>,
    /// Each group index's place in `by_invoke`, or `NONE` if it resets nothing.
    slot: Vec<usize>,
    placed: Vec<bool>,
    /// No unplaced reset comes before this place in `by_invoke`.
    first: usize,
}

impl Resets {
    fn new(mut by_invoke: Vec<(usize, usize)>, n: usize) -> Resets {
        by_invoke.sort_unstable();
        let mut slot = vec![NONE; n];
        for (k, (_, j)) in by_invoke.iter().enumerate() {
            slot[*j] = k;
        }
        Resets {
            placed: vec![false; by_invoke.len()],
            by_invoke,
            slot,
            first: 0,
        }
    }

    /// Group operation `j` is placed (or taken back): nothing if it resets nothing.
    fn set(&mut self, j: usize, placed: bool) {
        let k = self.slot[j];
        if k == NONE {
            return;
        }
        assert_ne!(
            self.placed[k], placed,
            "a reset placed twice or taken back twice"
        );
        self.placed[k] = placed;
        if !placed {
            self.first = self.first.min(k);
        }
        while self.first < self.placed.len() && self.placed[self.first] {
            self.first += 1;
        }
    }

    /// Whether an unplaced reset other than `j` was invoked before event `complete`.
    fn unplaced_before(&self, complete: usize, j: usize) -> bool {
        (self.first..self.by_invoke.len())
            .filter(|k| !self.placed[*k])
            .take(2)
            .any(|k| self.by_invoke[k].1 != j && self.by_invoke[k].0 < complete)
    }
}
