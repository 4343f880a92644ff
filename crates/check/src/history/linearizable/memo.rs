//! Lowe's memo of the configurations the search has explored.

use super::search::{Bits, Placed, NONE};
use protocol::Model;
use std::borrow::Cow;
use std::hash::Hash;
use std::mem::size_of;

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
pub(super) struct Memo<S> {
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
    /// Bytes the entries' states and extra sets own, for the memory bound.
    owned: usize,
}

/// Where a configuration's key is in the memo: its fingerprint, and its entry or `NONE`.
#[derive(Clone, Copy)]
pub(super) struct Slot {
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
    pub(super) fn new(n: usize, dets: usize) -> Memo<S> {
        Memo {
            heads: Default::default(),
            entries: Vec::new(),
            arena: Vec::new(),
            words: n.div_ceil(64),
            with_dets: vec![0; dets + 1],
            owned: 0,
        }
    }

    /// The bytes the memo holds (its tables as allocated, and what entries own).
    pub(super) fn bytes(&self) -> usize {
        // A hash table slot: the key, the value and a control byte, rounded up.
        let head = size_of::<u64>() + size_of::<usize>() + 8;
        self.entries.capacity() * size_of::<MemoEntry<S>>()
            + self.arena.capacity() * size_of::<u64>()
            + self.heads.capacity() * head
            + self.owned
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
    /// many determinate operations), which needs no hashing, nor the state (`state`
    /// gives it only when asked: merging it may cost).
    pub(super) fn lookup<'s>(
        &self,
        p: &Placed,
        state: impl FnOnce() -> Cow<'s, S>,
        after_unknown: bool,
    ) -> Option<Slot>
    where
        S: 's,
    {
        if self.with_dets[p.dets] == 0 {
            return None;
        }
        let state = state();
        let fp = Memo::fingerprint(p, &state, after_unknown);
        let entry = self.find(fp, p, &state, after_unknown);
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
    pub(super) fn covers(&self, slot: Option<Slot>, p: &Placed) -> bool {
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
    pub(super) fn insert<M: Model<State = S>>(
        &mut self,
        p: &Placed,
        state: &S,
        after_unknown: bool,
        slot: Option<Slot>,
        model: &M,
    ) {
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
                Some(u) => {
                    let had = x.more.capacity();
                    x.more.push(u);
                    self.owned += (x.more.capacity() - had) * size_of::<usize>();
                }
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
        self.owned += model.heap_bytes(state);
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
