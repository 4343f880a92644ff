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

use super::ops::{operations, HistoryError, Operation};
use protocol::{EventKind, History, Model, Op, Outcome};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

/// How to check. What the operations mean (a missing key reading as `""`, whether a
/// failed cas observed something, whether keys are checked apart) is the model's to say.
#[derive(Clone, Debug)]
pub struct LinOptions {
    /// Past this much wall-clock work the verdict is `Unknown`.
    pub budget: Duration,
}

impl Default for LinOptions {
    fn default() -> LinOptions {
        LinOptions {
            budget: Duration::from_secs(10),
        }
    }
}

/// The outcome of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Counterexample),
    /// The budget ran out before a verdict; says which keys were left undecided.
    Unknown {
        undecided: Vec<String>,
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
    /// Operations still open at that point that were tried before it and rejected.
    pub pending: Vec<String>,
}

/// How many prefix operations a rendering shows; the rest are elided.
const SHOWN_PREFIX: usize = 20;

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
            Verdict::Unknown { undecided } => writeln!(
                f,
                "unknown: time budget exceeded with {} key(s) undecided: {}",
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

    pub(crate) fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Deadline::now().checked_add(budget),
        }
    }

    pub(crate) fn expired(&self) -> bool {
        self.end.is_some_and(|end| Deadline::now() >= end)
    }
}

/// Steps of the search between two clock reads (a power of two: checked with a mask).
const CLOCK_EVERY: u64 = 1 << 10;

/// Checks `h` against `model`.
pub fn check_linearizable<M: Model>(
    h: &History<M::Op>,
    model: &M,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    let ops = operations(h)?;
    check_operations(&ops, model, opts)
}

/// Checks already-paired operations (see [`operations`]).
pub fn check_operations<M: Model>(
    ops: &[Operation<M::Op>],
    model: &M,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    check_with::<M, true>(ops, model, opts, &mut 0)
}

/// [`check_operations`], with the memo filled lazily (as the checker does) or on arrival
/// (the reference the tests hold it to, see [`search`]); adds the search steps taken to
/// `steps`.
fn check_with<M: Model, const LAZY: bool>(
    ops: &[Operation<M::Op>],
    model: &M,
    opts: &LinOptions,
    steps: &mut u64,
) -> Result<Verdict, HistoryError> {
    let groups = groups(ops, model)?;
    let deadline = Deadline::after(opts.budget);
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    for (key, group) in &groups {
        if !undecided.is_empty() {
            undecided.push(key.to_string());
            continue;
        }
        let r = search::<M, LAZY>(model, ops, group, &deadline, steps);
        match r {
            Search::Ok => {}
            Search::TimedOut => undecided.push(key.to_string()),
            Search::Fail(mut f) => {
                f.key = key.to_string();
                failures.push(f);
            }
        }
    }
    Ok(if !failures.is_empty() {
        // A violation found is definite even if other keys ran out of time.
        Verdict::NotLinearizable(Counterexample { failures })
    } else if !undecided.is_empty() {
        Verdict::Unknown { undecided }
    } else {
        Verdict::Linearizable
    })
}

/// What a model's step sees of an operation's output.
type Out<M> = <<M as Model>::Op as Op>::Output;

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

enum Search {
    Ok,
    Fail(KeyFailure),
    TimedOut,
}

const NONE: usize = usize::MAX;

/// A fixed-size bitset of linearized operations.
#[derive(Clone, PartialEq, Eq)]
struct Bits(Vec<u64>);

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
struct Placed {
    det: Bits,
    det_fp: u64,
    dets: usize,
    unknown: Bits,
    unknowns: usize,
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

    fn add(&mut self, j: usize, unknown: bool) {
        if unknown {
            self.unknown.set(j);
            self.unknowns += 1;
        } else {
            self.det.set(j);
            self.det_fp ^= zobrist(j);
            self.dets += 1;
        }
    }

    fn remove(&mut self, j: usize, unknown: bool) {
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

/// Lowe's memo of configurations already explored: (determinate set, state, whether the
/// last operation was indeterminate) -> the sets of indeterminate operations used to get
/// there. A configuration is skipped if an explored one had the same key and used a
/// subset of its indeterminate operations: every completion of the new one is a
/// completion of the old one (the extra indeterminate operations can be left out,
/// "never"), so the memo stays sound while the ways of placing indeterminate writes
/// collapse.
///
/// Laid out for speed: bitsets live in one arena, entries in one vector chained by
/// fingerprint, so a probe copies nothing; an empty indeterminate set is a flag (it
/// covers every other), and an entry's first set is kept inline, so an entry costs no
/// allocation beyond its state.
struct Memo<S> {
    // A hash table is needed for speed; it is only probed, never iterated, so its order
    // cannot leak into any output.
    #[allow(clippy::disallowed_types)]
    heads: std::collections::HashMap<u64, usize, std::hash::BuildHasherDefault<Fx>>,
    entries: Vec<MemoEntry<S>>,
    /// Bitsets, `words` u64s each, referenced by offset.
    arena: Vec<u64>,
    words: usize,
    /// Entries per number of determinate operations in their set. Every configuration
    /// the search reaches while it goes deeper than it ever backtracked from has a count
    /// with no entry, and is answered without hashing.
    with_dets: Vec<u32>,
}

/// Where a configuration's key is in the memo: its fingerprint, and its entry or `NONE`.
#[derive(Clone, Copy)]
struct Slot {
    fp: u64,
    entry: usize,
}

struct MemoEntry<S> {
    det: usize,
    state: S,
    after_unknown: bool,
    /// A configuration under this key was explored using no indeterminate operation.
    covers_all: bool,
    /// Offset of the first (nonempty) indeterminate set recorded under this key, or
    /// `NONE`; the others in `more`.
    first: usize,
    more: Vec<usize>,
    /// Next entry with the same fingerprint, or `NONE`.
    next: usize,
}

impl<S: Hash + Eq + Clone> Memo<S> {
    /// A memo for `n` operations, of which `dets` determinate.
    fn new(n: usize, dets: usize) -> Memo<S> {
        Memo {
            heads: Default::default(),
            entries: Vec::new(),
            arena: Vec::new(),
            words: n.div_ceil(64),
            with_dets: vec![0; dets + 1],
        }
    }

    fn bits(&self, at: usize) -> &[u64] {
        &self.arena[at..at + self.words]
    }

    fn store(&mut self, b: &Bits) -> usize {
        let at = self.arena.len();
        self.arena.extend_from_slice(&b.0);
        at
    }

    fn fingerprint(p: &Placed, state: &S, after_unknown: bool) -> u64 {
        use std::hash::Hasher;
        let mut h = Fx::default();
        h.write_u64(p.det_fp);
        state.hash(&mut h);
        h.write_u8(u8::from(after_unknown));
        h.finish()
    }

    /// Where this configuration's key is: `None` if no entry can have it (none has as
    /// many determinate operations), which needs no hashing.
    fn lookup(&self, p: &Placed, state: &S, after_unknown: bool) -> Option<Slot> {
        if self.with_dets[p.dets] == 0 {
            return None;
        }
        let fp = Memo::fingerprint(p, state, after_unknown);
        let entry = self.find(fp, p, state, after_unknown);
        Some(Slot { fp, entry })
    }

    /// The entry with this key, or `NONE`.
    fn find(&self, fp: u64, p: &Placed, state: &S, after_unknown: bool) -> usize {
        let mut e = self.heads.get(&fp).copied().unwrap_or(NONE);
        while e != NONE {
            let x = &self.entries[e];
            if x.after_unknown == after_unknown
                && self.bits(x.det) == &p.det.0[..]
                && x.state == *state
            {
                return e;
            }
            e = x.next;
        }
        NONE
    }

    /// Whether this configuration (at `slot`, from [`Memo::lookup`]), or one using fewer
    /// indeterminate operations, was recorded.
    fn covers(&self, slot: Option<Slot>, p: &Placed) -> bool {
        let Some(Slot { entry, .. }) = slot else {
            return false;
        };
        if entry == NONE {
            return false;
        }
        let x = &self.entries[entry];
        let subset = |u: usize| {
            self.bits(u)
                .iter()
                .zip(&p.unknown.0)
                .all(|(a, b)| a & !b == 0)
        };
        x.covers_all || (x.first != NONE && subset(x.first)) || x.more.iter().any(|&u| subset(u))
    }

    /// Records a configuration that [`Memo::covers`] said was new. `slot`: what
    /// [`Memo::lookup`] said for it then, still right if nothing with its key was recorded
    /// since.
    fn insert(&mut self, p: &Placed, state: &S, after_unknown: bool, slot: Option<Slot>) {
        let Slot { fp, entry: e } = slot.unwrap_or_else(|| {
            let fp = Memo::fingerprint(p, state, after_unknown);
            Slot {
                fp,
                entry: self.find(fp, p, state, after_unknown),
            }
        });
        let set = (p.unknowns > 0).then(|| self.store(&p.unknown));
        if e != NONE {
            let x = &mut self.entries[e];
            match set {
                None => x.covers_all = true,
                Some(u) if x.first == NONE => x.first = u,
                Some(u) => x.more.push(u),
            }
            return;
        }
        let det = self.store(&p.det);
        let next = self.heads.insert(fp, self.entries.len()).unwrap_or(NONE);
        self.entries.push(MemoEntry {
            det,
            state: state.clone(),
            after_unknown,
            covers_all: set.is_none(),
            first: set.unwrap_or(NONE),
            more: Vec::new(),
            next,
        });
        self.with_dets[p.dets] += 1;
    }
}

/// A fast multiplicative hasher (after rustc's FxHasher) with no random seed: the same
/// fingerprint on every run.
#[derive(Default)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }
    fn write_u8(&mut self, x: u8) {
        self.write_u64(u64::from(x));
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
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
fn search<M: Model, const LAZY: bool>(
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
    // Entries: node 0 is the head sentinel; op j has its call at node 1 + 2j and its
    // return at node 2 + 2j.
    let size = 1 + 2 * n;
    let mut next = vec![NONE; size];
    let mut prev = vec![NONE; size];
    let mut last = 0;
    for node in entry_order(ops, group, &unknown_op, &by_invoke) {
        next[last] = node;
        prev[node] = last;
        last = node;
    }
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
    let mut entry = next[0];
    // Deepest failure seen: (prefix of op indexes in group, blocked op, state).
    let mut best: Option<(Vec<usize>, usize, M::State)> = None;

    while next[0] != NONE {
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
            match stepped {
                Some(after) if !unknown || after.is_some() => {
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
                        lift(&mut next, &mut prev, entry);
                        entry = next[0];
                        advanced = true;
                    }
                }
                _ => {} // Impossible here, or skipped (rules 1 to 3).
            }
            if !advanced {
                entry = next[entry];
            }
        } else {
            // A return: its operation had to be linearized by now. Backtrack.
            if best.as_ref().is_none_or(|b| calls.len() > b.0.len()) {
                let prefix = calls.iter().map(|c| op_of(c.entry)).collect();
                best = Some((prefix, op_of(entry), state.clone()));
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
            unlift(&mut next, &mut prev, call.entry);
            entry = next[call.entry];
        }
    }
    if next[0] == NONE || placed.dets == dets {
        return Search::Ok;
    }
    let Some((prefix, blocked, st)) = best else {
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
        pending,
    })
}

/// The group's operations (invocation, index into `group`) by invocation, ties in group
/// order.
/// Already so when `ops` comes from [`operations`], which is checked rather than sorted.
fn by_invoke<O: Op>(
    ops: &[Operation<O>],
    group: &[(usize, Outcome<O::Output>)],
) -> Vec<(usize, usize)> {
    let mut calls: Vec<(usize, usize)> = (group.iter().enumerate())
        .map(|(j, (i, _))| (ops[*i].invoke, j))
        .collect();
    if !calls.is_sorted() {
        calls.sort_unstable();
    }
    calls
}

/// The search's list of call and return entries (call of op j: node 1 + 2j, return: 2 +
/// 2j), in time order: by event index, a call before a return at the same index, ties in
/// group order; an indeterminate op returns at infinity, after everything. Between two
/// consecutive returns, though, determinate calls come before indeterminate ones: the calls
/// of one such segment may be tried in any order without changing what the search
/// explores, and an indeterminate operation is more often right left for later (or never),
/// so the search finds a linearization of a valid history sooner.
///
/// Calls come from `by_invoke` and are merged with the returns sorted by completion.
fn entry_order<O: Op>(
    ops: &[Operation<O>],
    group: &[(usize, Outcome<O::Output>)],
    unknown_op: &[bool],
    by_invoke: &[(usize, usize)],
) -> Vec<usize> {
    let n = group.len();
    let mut returns: Vec<(usize, usize)> = Vec::with_capacity(n);
    for (j, (i, _)) in group.iter().enumerate() {
        if let Some(complete) = ops[*i].complete.filter(|_| !unknown_op[j]) {
            returns.push((complete, j));
        }
    }
    // In invocation order, the completions are nearly sorted already: each is out of
    // place only past operations it overlapped.
    sort_nearly_sorted(&mut returns);
    // Indeterminate operations return at infinity, in group order.
    returns.extend((0..n).filter(|j| unknown_op[*j]).map(|j| (usize::MAX, j)));
    let mut order = Vec::with_capacity(2 * n);
    let mut segment_unknown = Vec::new();
    let mut c = 0;
    for (time, j) in returns.into_iter().chain([(usize::MAX, NONE)]) {
        while c < n && by_invoke[c].0 <= time {
            let k = by_invoke[c].1;
            if unknown_op[k] {
                segment_unknown.push(1 + 2 * k);
            } else {
                order.push(1 + 2 * k);
            }
            c += 1;
        }
        if !segment_unknown.is_empty() {
            order.append(&mut segment_unknown);
        }
        // The last, `NONE`, only takes calls after every return (from a history whose
        // completions precede their invocations, which `operations` never makes).
        if j != NONE {
            order.push(2 + 2 * j);
        }
    }
    order
}

/// Sorts `v` by insertion, in time linear in its length and its inversions, falling back
/// to the general sort past a linear budget of moves.
fn sort_nearly_sorted<T: Ord + Copy>(v: &mut [T]) {
    let mut budget = 4 * v.len() + 64;
    for i in 1..v.len() {
        let x = v[i];
        let mut k = i;
        while k > 0 && v[k - 1] > x && budget > 0 {
            v[k] = v[k - 1];
            k -= 1;
            budget -= 1;
        }
        v[k] = x;
        if budget == 0 {
            v.sort_unstable();
            return;
        }
    }
}

/// Removes a call entry and its return entry (the return is always at node call + 1).
fn lift(next: &mut [usize], prev: &mut [usize], call: usize) {
    let ret = call + 1;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call];
    next[prev[ret]] = next[ret];
    if next[ret] != NONE {
        prev[next[ret]] = prev[ret];
    }
}

/// Puts back what [`lift`] removed, in reverse order.
fn unlift(next: &mut [usize], prev: &mut [usize], call: usize) {
    let ret = call + 1;
    next[prev[ret]] = ret;
    if next[ret] != NONE {
        prev[next[ret]] = ret;
    }
    next[prev[call]] = call;
    prev[next[call]] = call;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::kv::{KvModel, KvOp, KvOutput, MapModel};
    use crate::models::set::{SetModel, SetOp};
    use protocol::Event;

    /// Builds histories event by event.
    #[derive(Default)]
    struct B(History<KvOp>);

    impl B {
        fn ev(&mut self, p: u64, kind: EventKind, op: KvOp, output: Option<KvOutput>) {
            let time_ns = self.0.events.len() as u64;
            self.0.events.push(Event {
                process: p,
                kind,
                op,
                output,
                time_ns,
            });
        }
        fn invoke(&mut self, p: u64, op: KvOp) {
            self.ev(p, EventKind::Invoke, op, None);
        }
        fn done(&mut self, p: u64, kind: EventKind, op: KvOp) {
            let out = (kind == EventKind::Ok).then_some(KvOutput::Done);
            self.ev(p, kind, op, out);
        }
        fn read(&mut self, p: u64, v: Option<&str>) {
            let out = KvOutput::Value {
                value: v.map(str::to_string),
                version: None,
            };
            self.ev(p, EventKind::Ok, get(), Some(out));
        }
    }

    fn get() -> KvOp {
        KvOp::Get { key: "x".into() }
    }
    fn put(v: &str) -> KvOp {
        KvOp::Put {
            key: "x".into(),
            value: v.into(),
        }
    }

    fn check(h: &History<KvOp>, opts: &LinOptions) -> Verdict {
        check_linearizable(h, &KvModel::register(), opts).unwrap()
    }

    #[test]
    fn stale_read_after_write_is_caught() {
        let mut b = B::default();
        b.invoke(1, put("1"));
        b.done(1, EventKind::Ok, put("1"));
        b.invoke(2, get());
        b.read(2, None);
        let v = check(&b.0, &LinOptions::default());
        let Verdict::NotLinearizable(c) = v else {
            panic!("{v:?}")
        };
        assert_eq!(c.failures.len(), 1);
        assert!(c.failures[0].blocked.contains("get x -> ok nil"), "{c}");
        assert_eq!(c.failures[0].prefix.len(), 1);
        assert!(c.to_string().contains("key \"x\" is not linearizable"));
    }

    #[test]
    fn concurrent_read_may_see_either() {
        for seen in [None, Some("1")] {
            let mut b = B::default();
            b.invoke(1, put("1"));
            b.invoke(2, get());
            b.read(2, seen);
            b.done(1, EventKind::Ok, put("1"));
            assert_eq!(check(&b.0, &LinOptions::default()), Verdict::Linearizable);
        }
    }

    #[test]
    fn info_write_takes_effect_later_or_never_but_once() {
        let mut b = B::default();
        b.invoke(1, put("1"));
        b.done(1, EventKind::Info, put("1"));
        b.invoke(2, get());
        b.read(2, None);
        b.invoke(2, get());
        b.read(2, Some("1"));
        assert_eq!(check(&b.0, &LinOptions::default()), Verdict::Linearizable);
        b.invoke(2, get());
        b.read(2, None);
        assert!(!check(&b.0, &LinOptions::default()).is_linearizable());
    }

    #[test]
    fn failed_cas_constrains_only_when_asked() {
        let cas = KvOp::Cas {
            key: "x".into(),
            expected: None,
            new: "1".into(),
        };
        let mut b = B::default();
        b.invoke(1, cas.clone());
        b.done(1, EventKind::Fail, cas);
        // The register is absent, so a compare against absent cannot have failed.
        assert!(check(&b.0, &LinOptions::default()).is_linearizable());
        let mismatch = KvModel {
            fail_cas_is_mismatch: true,
            ..KvModel::register()
        };
        let v = check_linearizable(&b.0, &mismatch, &LinOptions::default()).unwrap();
        assert!(!v.is_linearizable());
    }

    #[test]
    fn keys_are_independent_and_all_failures_reported() {
        let mut b = B::default();
        for key in ["a", "b"] {
            let w = KvOp::Put {
                key: key.into(),
                value: "1".into(),
            };
            b.invoke(1, w.clone());
            b.done(1, EventKind::Ok, w);
            let r = KvOp::Get { key: key.into() };
            b.invoke(1, r.clone());
            let out = KvOutput::Value {
                value: Some("2".into()),
                version: None,
            };
            b.ev(1, EventKind::Ok, r, Some(out));
        }
        let Verdict::NotLinearizable(c) =
            check_linearizable(&b.0, &KvModel::default(), &LinOptions::default()).unwrap()
        else {
            panic!()
        };
        let keys: Vec<&str> = c.failures.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn wrong_model_is_an_error() {
        let mut b = B::default();
        b.invoke(1, KvOp::Delete { key: "x".into() });
        let e = check_linearizable(&b.0, &KvModel::register(), &LinOptions::default()).unwrap_err();
        assert!(
            e.message
                .contains("not an operation of the cas-register model"),
            "{e}"
        );
    }

    /// Checks with the lazy memo and with the reference that records on arrival: the
    /// verdicts (counterexamples included) and the steps taken must be the same.
    fn lazy_matches_eager<M: Model>(ops: &[Operation<M::Op>], model: &M) -> Verdict {
        let opts = LinOptions::default();
        let (mut lazy_steps, mut eager_steps) = (0, 0);
        let lazy = check_with::<M, true>(ops, model, &opts, &mut lazy_steps).unwrap();
        let eager = check_with::<M, false>(ops, model, &opts, &mut eager_steps).unwrap();
        assert_eq!(lazy, eager);
        assert_eq!(lazy_steps, eager_steps, "{lazy} {model:?} {}", ops.len());
        lazy
    }

    fn cas(from: Option<&str>, to: &str) -> KvOp {
        KvOp::Cas {
            key: "x".into(),
            expected: from.map(str::to_string),
            new: to.into(),
        }
    }

    /// Steps of the lazy search over `b`'s history as a cas register.
    fn steps(b: &B) -> (Verdict, u64) {
        let ops = operations(&b.0).unwrap();
        let register = KvModel::register();
        let v = lazy_matches_eager(&ops, &register);
        let mut steps = 0;
        check_with::<_, true>(&ops, &register, &LinOptions::default(), &mut steps).unwrap();
        (v, steps)
    }

    #[test]
    fn a_wrong_first_guess_is_backtracked_out_of() {
        // Two concurrent puts, then reads that need the later-invoked one first: the
        // search tries the invocation order, fails at the first read, and backs up.
        let mut b = B::default();
        b.invoke(1, put("1"));
        b.invoke(2, put("2"));
        b.done(1, EventKind::Ok, put("1"));
        b.done(2, EventKind::Ok, put("2"));
        b.invoke(1, get());
        b.read(1, Some("1"));
        let (v, backtracked) = steps(&b);
        assert_eq!(v, Verdict::Linearizable);
        assert!(backtracked > 3, "{backtracked} steps: no backtracking");
        // A later read of the other value leaves no order, however the search backs up.
        b.invoke(2, get());
        b.read(2, Some("2"));
        let (v, _) = steps(&b);
        let Verdict::NotLinearizable(c) = v else {
            panic!("{v:?}")
        };
        assert!(c.failures[0].blocked.contains("get x -> ok \"2\""), "{c}");
    }

    #[test]
    fn indeterminate_operations_back_to_a_state_on_the_path_are_pruned() {
        // put a, cas a->b, cas b->a, all of unknown outcome: linearizing all three returns
        // to the state after the first, which the path already covers. The read of z can
        // never be explained, so every order is tried.
        let mut b = B::default();
        for (p, op) in [
            (1, put("a")),
            (2, cas(Some("a"), "b")),
            (3, cas(Some("b"), "a")),
        ] {
            b.invoke(p, op.clone());
            b.done(p, EventKind::Info, op);
        }
        b.invoke(4, get());
        b.read(4, Some("a"));
        let (v, _) = steps(&b);
        assert_eq!(v, Verdict::Linearizable);
        b.invoke(4, get());
        b.read(4, Some("z"));
        let (v, _) = steps(&b);
        assert!(!v.is_linearizable(), "{v:?}");
    }

    /// Small random histories over a two-value register, mostly not linearizable and full
    /// of indeterminate operations, so the searches are exhaustive and prune a lot.
    fn random_history(seed: u64) -> History<KvOp> {
        let mut rng = crate::history::generate::Rng::new(seed);
        let mut b = B::default();
        let value = |r: u64| ["a", "b"][r as usize % 2];
        let mut open: Vec<Option<(u64, KvOp)>> = vec![None; 3];
        for _ in 0..6 + rng.below(14) {
            let c = rng.below(3) as usize;
            match open[c].take() {
                None => {
                    let p = c as u64;
                    let op = match rng.below(5) {
                        0 => get(),
                        1 | 2 => put(value(rng.below(2))),
                        3 => cas(Some(value(rng.below(2))), value(rng.below(2))),
                        _ => cas(None, value(rng.below(2))),
                    };
                    b.invoke(p, op.clone());
                    open[c] = Some((p, op));
                }
                Some((p, op)) => match (rng.below(10), &op) {
                    (0..=3, _) => b.done(p, EventKind::Info, op),
                    (4, _) => b.done(p, EventKind::Fail, op),
                    (_, KvOp::Get { .. }) => {
                        let v = [None, Some("a"), Some("b")][rng.below(3) as usize];
                        b.read(p, v);
                    }
                    _ => b.done(p, EventKind::Ok, op),
                },
            }
        }
        b.0
    }

    /// Random small-domain, generated and perturbed histories: (register only, history)
    /// for kv, and set histories.
    #[allow(clippy::type_complexity)]
    fn test_histories() -> (Vec<(bool, History<KvOp>)>, Vec<History<SetOp>>) {
        use crate::history::generate::{generate_kv, generate_set, perturb_read, GenConfig};
        let mut kv = Vec::new();
        let mut sets = Vec::new();
        for seed in 0..400 {
            kv.push((true, random_history(seed)));
        }
        for seed in 0..60u64 {
            let cfg = GenConfig {
                register: seed % 3 == 1,
                clients: 2 + (seed % 5) as usize,
                keys: 1 + (seed % 2) as usize,
                ops: 20 + (seed as usize * 7) % 60,
                info_percent: [0, 10, 30][(seed % 3) as usize],
                seed,
            };
            if seed % 3 == 2 {
                let h = generate_set(&cfg);
                sets.extend(perturb_read(&h, seed));
                sets.push(h);
            } else {
                let h = generate_kv(&cfg);
                kv.extend(perturb_read(&h, seed).map(|bad| (cfg.register, bad)));
                kv.push((cfg.register, h));
            }
        }
        (kv, sets)
    }

    fn count(verdicts: &mut [usize; 3], v: Verdict) {
        match v {
            Verdict::Linearizable => verdicts[0] += 1,
            Verdict::NotLinearizable(_) => verdicts[1] += 1,
            Verdict::Unknown { .. } => verdicts[2] += 1,
        }
    }

    #[test]
    fn the_lazy_memo_prunes_exactly_as_recording_on_arrival() {
        let mut verdicts = [0; 3];
        let (kv, sets) = test_histories();
        for (register, h) in &kv {
            let ops = operations(h).unwrap();
            let base = if *register {
                KvModel::register()
            } else {
                KvModel::default()
            };
            for fail_cas_is_mismatch in [false, true] {
                let model = KvModel {
                    fail_cas_is_mismatch,
                    ..base
                };
                count(&mut verdicts, lazy_matches_eager(&ops, &model));
            }
            let keys = ops.iter().map(|o| o.op.key_str().to_string());
            let map = MapModel::new(base, keys);
            count(&mut verdicts, lazy_matches_eager(&ops, &map));
        }
        for h in &sets {
            let ops = operations(h).unwrap();
            count(&mut verdicts, lazy_matches_eager(&ops, &SetModel));
        }
        assert!(verdicts[0] > 300 && verdicts[1] > 300, "{verdicts:?}");
        assert_eq!(verdicts[2], 0);
    }

    #[test]
    fn the_lazy_memo_prunes_exactly_as_recording_on_arrival_on_the_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine");
        let mut checked = 0;
        for (sub, model) in [
            (
                "etcd",
                KvModel {
                    fail_cas_is_mismatch: true,
                    ..KvModel::register()
                },
            ),
            ("kv", KvModel::default()),
        ] {
            let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .collect();
            names.sort();
            for path in names {
                let text = std::fs::read_to_string(&path).unwrap();
                let parsed = crate::history::jepsen::parse_kv(&text).unwrap();
                let ops = operations(&parsed.history).unwrap();
                lazy_matches_eager(&ops, &model);
                checked += 1;
            }
        }
        assert_eq!(checked, 54);
    }

    /// The entry order as first written: everything sorted by time, then each segment's
    /// determinate calls first by a stable sort.
    fn reference_order<O: Op>(
        ops: &[Operation<O>],
        group: &[(usize, Outcome<O::Output>)],
    ) -> Vec<usize> {
        let mut order: Vec<(usize, usize, usize)> = Vec::new();
        for (j, (i, outcome)) in group.iter().enumerate() {
            let o = &ops[*i];
            order.push((o.invoke, 0, 1 + 2 * j));
            let ret = match outcome {
                Outcome::Unknown => usize::MAX,
                _ => o.complete.unwrap_or(usize::MAX),
            };
            order.push((ret, 1, 2 + 2 * j));
        }
        order.sort_unstable();
        let mut segment = 0;
        let mut keyed: Vec<(usize, bool, usize)> = Vec::new();
        for &(_, kind, node) in &order {
            if kind == 1 {
                keyed.push((segment, true, node));
                segment += 1;
            } else {
                let unknown = matches!(group[(node - 1) / 2].1, Outcome::Unknown);
                keyed.push((segment, unknown, node));
            }
        }
        keyed.sort_by_key(|&(seg, unknown, _)| (seg, unknown));
        keyed.into_iter().map(|(_, _, n)| n).collect()
    }

    /// Compares the merged entry order with the reference over every group of `ops`, in
    /// invocation order and reversed (as a caller of `check_operations` may pass them).
    fn compare_orders<M: Model>(ops: &[Operation<M::Op>], model: &M) -> usize {
        let reversed: Vec<Operation<M::Op>> = ops.iter().rev().cloned().collect();
        let mut compared = 0;
        for ops in [ops, &reversed[..]] {
            for group in groups(ops, model).unwrap().values() {
                let unknown: Vec<bool> = group
                    .iter()
                    .map(|(_, o)| matches!(o, Outcome::Unknown))
                    .collect();
                let merged = entry_order(ops, group, &unknown, &by_invoke(ops, group));
                assert_eq!(merged, reference_order(ops, group));
                compared += 1;
            }
        }
        compared
    }

    #[test]
    fn entry_order_merges_as_sorting_did() {
        let mut compared = 0;
        let (kv, sets) = test_histories();
        for (_, h) in &kv {
            let ops = operations(h).unwrap();
            compared += compare_orders(&ops, &KvModel::default());
            let keys = ops.iter().map(|o| o.op.key_str().to_string());
            compared += compare_orders(&ops, &MapModel::new(KvModel::default(), keys));
        }
        for h in &sets {
            compared += compare_orders(&operations(h).unwrap(), &SetModel);
        }
        assert!(compared > 1000, "{compared}");
    }

    #[test]
    fn nearly_sorted_input_sorts_and_so_does_any_other() {
        let mut rng = crate::history::generate::Rng::new(3);
        for len in [0, 1, 2, 5, 40, 300] {
            for shuffle in [0, 2, len / 2, len * 4].map(|s| s * usize::from(len > 0)) {
                let mut v: Vec<u64> = (0..len as u64).map(|x| x / 2).collect();
                for _ in 0..shuffle {
                    let (a, b) = (rng.below(len as u64), rng.below(len as u64));
                    v.swap(a as usize, b as usize);
                }
                let mut sorted = v.clone();
                sorted.sort();
                sort_nearly_sorted(&mut v);
                assert_eq!(v, sorted);
            }
        }
        let mut reversed: Vec<u32> = (0..1000).rev().collect();
        sort_nearly_sorted(&mut reversed);
        assert!(reversed.is_sorted());
    }
}
