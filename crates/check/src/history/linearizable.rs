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

use super::model::{KeyModel, MapModel, Model, Outcome, SeqModel, SetModel};
use super::ops::{operations, HistoryError, Operation};
use super::History;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;
use std::time::Duration;

/// How to check.
#[derive(Clone, Debug)]
pub struct LinOptions {
    /// Past this much wall-clock work the verdict is `Unknown`.
    pub budget: Duration,
    /// Check each key on its own (P-compositionality). Off only to measure what it saves.
    pub partition: bool,
    /// A missing key reads as `""` (Porcupine's kv lab).
    pub missing_reads_empty: bool,
    /// A `fail` cas ran its compare and found a different value, so it constrains the
    /// order like a read (etcd's `:fail :cas`, per the corpus README). Off: a `fail`
    /// only says the operation did not take effect (e.g. not leader), and is dropped.
    pub fail_cas_is_mismatch: bool,
}

impl Default for LinOptions {
    fn default() -> LinOptions {
        LinOptions {
            budget: Duration::from_secs(10),
            partition: true,
            missing_reads_empty: false,
            fail_cas_is_mismatch: false,
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
pub fn check_linearizable(
    h: &History,
    model: Model,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    let ops = operations(h)?;
    check_operations(&ops, model, opts)
}

/// Checks already-paired operations (see [`operations`]).
pub fn check_operations(
    ops: &[Operation],
    model: Model,
    opts: &LinOptions,
) -> Result<Verdict, HistoryError> {
    // Group by key; the set is one object, and so is the whole map when not partitioning.
    let mut groups: BTreeMap<String, Vec<(usize, Outcome)>> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        if !model.accepts(&o.op) {
            return Err(HistoryError {
                event: o.invoke,
                message: format!(
                    "`{}` is not an operation of the {model} model; expected {}",
                    o.op,
                    match model {
                        Model::CasRegister => "get, put (write) or cas",
                        Model::Kv => "get, put, append, delete or cas",
                        Model::Set => "add or read of the set",
                    }
                ),
            });
        }
        let Some(outcome) = Outcome::of(o, opts.fail_cas_is_mismatch) else {
            continue;
        };
        if outcome == Outcome::Unknown && o.op.is_read() {
            // A read whose result nobody saw neither changes nor constrains anything.
            continue;
        }
        let key = match (model, opts.partition) {
            (Model::Set, _) | (_, false) => String::new(),
            _ => o.op.key().unwrap_or_default().to_string(),
        };
        groups.entry(key).or_default().push((i, outcome));
    }
    let deadline = Deadline::after(opts.budget);
    let key_model = KeyModel {
        missing_reads_empty: opts.missing_reads_empty,
    };
    let mut failures = Vec::new();
    let mut undecided = Vec::new();
    for (key, group) in &groups {
        if !undecided.is_empty() {
            undecided.push(key.clone());
            continue;
        }
        let r = match (model, opts.partition) {
            (Model::Set, _) => search(&SetModel, ops, group, &deadline),
            (_, true) => search(&key_model, ops, group, &deadline),
            (_, false) => {
                let keys = group.iter().filter_map(|(i, _)| ops[*i].op.key());
                let map = MapModel::new(key_model, keys.map(str::to_string));
                search(&map, ops, group, &deadline)
            }
        };
        match r {
            Search::Ok => {}
            Search::TimedOut => undecided.push(key.clone()),
            Search::Fail(mut f) => {
                f.key = key.clone();
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

enum Search {
    Ok,
    Fail(KeyFailure),
    TimedOut,
}

const NONE: usize = usize::MAX;

/// A fixed-size bitset of linearized operations, hashed and compared whole.
#[derive(Clone, PartialEq, Eq, Hash)]
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

/// Lowe's memo of configurations already explored: (determinate set, state, whether the
/// last operation was indeterminate) -> the sets of indeterminate operations used to get
/// there. A configuration is skipped if an explored one had the same key and used a
/// subset of its indeterminate operations: every completion of the new one is a
/// completion of the old one (the extra indeterminate operations can be left out,
/// "never"), so the memo stays sound while the ways of placing indeterminate writes
/// collapse.
///
/// Laid out for speed: bitsets live in one arena, entries in one vector chained by
/// fingerprint, so a probe copies nothing and an entry costs no allocation beyond its
/// state.
struct Memo<S> {
    // A hash table is needed for speed; it is only probed, never iterated, so its order
    // cannot leak into any output.
    #[allow(clippy::disallowed_types)]
    heads: std::collections::HashMap<u64, usize, std::hash::BuildHasherDefault<Fx>>,
    entries: Vec<MemoEntry<S>>,
    /// Bitsets, `words` u64s each, referenced by offset.
    arena: Vec<u64>,
    words: usize,
}

struct MemoEntry<S> {
    det: usize,
    state: S,
    after_unknown: bool,
    /// Offsets of the indeterminate sets recorded under this key.
    unknown_sets: Vec<usize>,
    /// Next entry with the same fingerprint, or `NONE`.
    next: usize,
}

impl<S: Hash + Eq + Clone> Memo<S> {
    fn new(words: usize) -> Memo<S> {
        Memo {
            heads: Default::default(),
            entries: Vec::new(),
            arena: Vec::new(),
            words,
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

    /// Records a configuration; `false` if it, or one using fewer indeterminate
    /// operations, was already explored.
    fn insert(&mut self, det: &Bits, state: &S, after_unknown: bool, unknown: &Bits) -> bool {
        use std::hash::Hasher;
        let mut h = Fx::default();
        det.hash(&mut h);
        state.hash(&mut h);
        after_unknown.hash(&mut h);
        let fp = h.finish();
        let head = self.heads.get(&fp).copied().unwrap_or(NONE);
        let mut e = head;
        while e != NONE {
            let x = &self.entries[e];
            if x.after_unknown == after_unknown
                && self.bits(x.det) == &det.0[..]
                && x.state == *state
            {
                let covered = x.unknown_sets.iter().any(|&u| {
                    self.bits(u)
                        .iter()
                        .zip(&unknown.0)
                        .all(|(a, b)| a & !b == 0)
                });
                if covered {
                    return false;
                }
                let u = self.store(unknown);
                self.entries[e].unknown_sets.push(u);
                return true;
            }
            e = x.next;
        }
        let det_at = self.store(det);
        let unk_at = self.store(unknown);
        self.entries.push(MemoEntry {
            det: det_at,
            state: state.clone(),
            after_unknown,
            unknown_sets: vec![unk_at],
            next: head,
        });
        self.heads.insert(fp, self.entries.len() - 1);
        true
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

/// The Porcupine search over one sub-history. `group` lists (index into `ops`, outcome).
fn search<M: SeqModel>(
    model: &M,
    ops: &[Operation],
    group: &[(usize, Outcome)],
    deadline: &Deadline,
) -> Search
where
    M::State: Hash,
{
    let n = group.len();
    // Entries: node 0 is the head sentinel; op j has its call at node 1 + 2j and its
    // return at node 2 + 2j. Order them by time (event index); an indeterminate op returns
    // at infinity, after everything.
    let mut order: Vec<(usize, usize, usize)> = Vec::with_capacity(2 * n); // (time, tiebreak, node)
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
    // Between two consecutive returns, the calls may be tried in any order without
    // changing what the search explores. Try determinate operations first: an
    // indeterminate one is more often right left for later (or never), so the search
    // finds a linearization of a valid history sooner.
    let mut segment = 0;
    let mut keyed: Vec<(usize, bool, usize)> = Vec::with_capacity(order.len());
    for &(_, kind, node) in &order {
        if kind == 1 {
            keyed.push((segment, true, node));
            segment += 1;
        } else {
            let unknown = matches!(group[(node - 1) / 2].1, Outcome::Unknown);
            keyed.push((segment, unknown, node));
        }
    }
    // A stable sort keeps time order within each class, and a segment's return (marked
    // like an indeterminate call) stays last in its segment, where it already was.
    keyed.sort_by_key(|&(seg, unknown, _)| (seg, unknown));
    let order: Vec<(usize, usize, usize)> = keyed.into_iter().map(|(_, _, n)| (0, 0, n)).collect();
    let size = 1 + 2 * n;
    let mut next = vec![NONE; size];
    let mut prev = vec![NONE; size];
    let mut last = 0;
    for &(_, _, node) in &order {
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
    let mut last_of: BTreeMap<&protocol::ClientOp, usize> = BTreeMap::new();
    let mut by_invoke: Vec<usize> = (0..n).collect();
    by_invoke.sort_by_key(|j| ops[group[*j].0].invoke);
    for j in by_invoke {
        if matches!(group[j].1, Outcome::Unknown) {
            if let Some(t) = last_of.insert(&ops[group[j].0].op, j) {
                twin_before[j] = t;
            }
        }
    }
    let mut determinate_left = group
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Unknown))
        .count();
    // Linearized operations, split: determinate ones, and indeterminate ones.
    let mut linearized = Bits(vec![0; n.div_ceil(64)]);
    let mut unknown_used = Bits(vec![0; n.div_ceil(64)]);
    let mut memo: Memo<M::State> = Memo::new(n.div_ceil(64));
    let mut calls: Vec<(usize, M::State, bool)> = Vec::new();
    // Whether the last operation linearized was indeterminate (see the pruning rules).
    let mut after_unknown = false;
    let mut state = model.init();
    let mut entry = next[0];
    let mut steps: u64 = 0;
    // Deepest failure seen: (prefix of op indexes in group, blocked op, state).
    let mut best: Option<(Vec<usize>, usize, M::State)> = None;

    while next[0] != NONE {
        if determinate_left == 0 {
            return Search::Ok;
        }
        steps += 1;
        if steps & (CLOCK_EVERY - 1) == 0 && deadline.expired() {
            return Search::TimedOut;
        }
        if is_call(entry) {
            let j = op_of(entry);
            let (i, outcome) = &group[j];
            let mut advanced = false;
            let unknown = matches!(outcome, Outcome::Unknown);
            let twin_unused = twin_before[j] != NONE && !unknown_used.get(twin_before[j]);
            // Pruning rules, each sound by an exchange argument: any linearization that
            // breaks one can be shortened into one that keeps it, by leaving out an
            // indeterminate operation ("never"), or by using an earlier twin.
            // 1. Identical indeterminate operations are used in invocation order.
            // 2. An indeterminate operation that changes nothing is left out.
            // 3. Right after an indeterminate operation, the model may rule out some
            //    operations (`SeqModel::skip_after_unknown`): a blind overwrite (the
            //    indeterminate one can be left out) or a commuting determinate operation
            //    (the indeterminate one can move after it).
            // Rule 3 depends on the last operation, so the memo key includes it.
            if twin_unused || (after_unknown && model.skip_after_unknown(&ops[*i].op, outcome)) {
                // Skipped (rules 1, 3).
            } else if let Some(new_state) = model
                .step(&state, &ops[*i].op, outcome)
                .filter(|s| !unknown || *s != state)
            {
                // Mark it linearized in place; undone below if the memo says explored.
                if unknown {
                    unknown_used.set(j);
                } else {
                    linearized.set(j);
                }
                if memo.insert(&linearized, &new_state, unknown, &unknown_used) {
                    calls.push((entry, state, after_unknown));
                    state = new_state;
                    after_unknown = unknown;
                    if !unknown {
                        determinate_left -= 1;
                    }
                    lift(&mut next, &mut prev, entry);
                    entry = next[0];
                    advanced = true;
                }
            }
            if !advanced {
                if unknown {
                    unknown_used.clear(j);
                } else {
                    linearized.clear(j);
                }
                entry = next[entry];
            }
        } else {
            // A return: its operation had to be linearized by now. Backtrack.
            if best.as_ref().is_none_or(|b| calls.len() > b.0.len()) {
                let prefix = calls.iter().map(|(e, _, _)| op_of(*e)).collect();
                best = Some((prefix, op_of(entry), state.clone()));
            }
            let Some((call, old, was_after_unknown)) = calls.pop() else {
                break;
            };
            let j = op_of(call);
            state = old;
            after_unknown = was_after_unknown;
            if matches!(group[j].1, Outcome::Unknown) {
                unknown_used.clear(j);
            } else {
                linearized.clear(j);
                determinate_left += 1;
            }
            unlift(&mut next, &mut prev, call);
            entry = next[call];
        }
    }
    if next[0] == NONE || determinate_left == 0 {
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
    use crate::history::{Event, EventKind};
    use protocol::{ClientOp, OpOutput};

    /// Builds histories event by event.
    #[derive(Default)]
    struct B(History);

    impl B {
        fn ev(&mut self, p: u64, kind: EventKind, op: ClientOp, output: Option<OpOutput>) {
            let time_ns = self.0.events.len() as u64;
            self.0.events.push(Event {
                process: p,
                kind,
                op,
                output,
                time_ns,
            });
        }
        fn invoke(&mut self, p: u64, op: ClientOp) {
            self.ev(p, EventKind::Invoke, op, None);
        }
        fn done(&mut self, p: u64, kind: EventKind, op: ClientOp) {
            let out = (kind == EventKind::Ok).then_some(OpOutput::Done);
            self.ev(p, kind, op, out);
        }
        fn read(&mut self, p: u64, v: Option<&str>) {
            let out = OpOutput::Value {
                value: v.map(str::to_string),
                version: None,
            };
            self.ev(p, EventKind::Ok, get(), Some(out));
        }
    }

    fn get() -> ClientOp {
        ClientOp::Get { key: "x".into() }
    }
    fn put(v: &str) -> ClientOp {
        ClientOp::Put {
            key: "x".into(),
            value: v.into(),
        }
    }

    fn check(h: &History, opts: &LinOptions) -> Verdict {
        check_linearizable(h, Model::CasRegister, opts).unwrap()
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
        let cas = ClientOp::Cas {
            key: "x".into(),
            expected: None,
            new: "1".into(),
        };
        let mut b = B::default();
        b.invoke(1, cas.clone());
        b.done(1, EventKind::Fail, cas);
        // The register is absent, so a compare against absent cannot have failed.
        assert!(check(&b.0, &LinOptions::default()).is_linearizable());
        let mismatch = LinOptions {
            fail_cas_is_mismatch: true,
            ..LinOptions::default()
        };
        assert!(!check(&b.0, &mismatch).is_linearizable());
    }

    #[test]
    fn keys_are_independent_and_all_failures_reported() {
        let mut b = B::default();
        for key in ["a", "b"] {
            let w = ClientOp::Put {
                key: key.into(),
                value: "1".into(),
            };
            b.invoke(1, w.clone());
            b.done(1, EventKind::Ok, w);
            let r = ClientOp::Get { key: key.into() };
            b.invoke(1, r.clone());
            let out = OpOutput::Value {
                value: Some("2".into()),
                version: None,
            };
            b.ev(1, EventKind::Ok, r, Some(out));
        }
        let Verdict::NotLinearizable(c) =
            check_linearizable(&b.0, Model::Kv, &LinOptions::default()).unwrap()
        else {
            panic!()
        };
        let keys: Vec<&str> = c.failures.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn wrong_model_is_an_error() {
        let mut b = B::default();
        b.invoke(1, ClientOp::SetRead);
        let e = check_linearizable(&b.0, Model::Kv, &LinOptions::default()).unwrap_err();
        assert!(
            e.message.contains("not an operation of the kv model"),
            "{e}"
        );
    }
}
