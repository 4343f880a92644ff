//! The search's list of call and return entries, in time order, and the lifting and
//! unlifting of an operation's pair as the search places it and backs out of it.

use super::search::NONE;
use crate::history::ops::Operation;
use protocol::{Op, Outcome};

/// The group's operations (invocation, index into `group`) by invocation, ties in group
/// order.
/// Already so when `ops` comes from [`operations`], which is checked rather than sorted.
pub(super) fn by_invoke<O: Op>(
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
pub(super) fn entry_order<O: Op>(
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
pub(super) fn sort_nearly_sorted<T: Ord + Copy>(v: &mut [T]) {
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

/// The entries as a doubly linked list: node 0 is the head sentinel; operation `j` has
/// its call at node `1 + 2j` and its return at `2 + 2j`, so a call's return is always the
/// node after it. Kept by hand for speed, so every change asserts the links it relies on.
pub(super) struct Entries {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl Entries {
    /// The list of `order` (every node but the head, once each).
    pub(super) fn new(order: &[usize]) -> Entries {
        let size = order.len() + 1;
        assert_eq!(size % 2, 1, "a call and a return per operation");
        let mut next = vec![NONE; size];
        let mut prev = vec![NONE; size];
        let mut last = 0;
        for &node in order {
            assert!(
                node > 0 && node < size && prev[node] == NONE,
                "node {node} once"
            );
            next[last] = node;
            prev[node] = last;
            last = node;
        }
        Entries { next, prev }
    }

    /// The first entry still in the list, or `NONE` when every one is lifted.
    pub(super) fn first(&self) -> usize {
        self.next[0]
    }

    /// The entry after `node`, or `NONE`.
    pub(super) fn after(&self, node: usize) -> usize {
        self.next[node]
    }

    /// The operations whose return entries lead the list, in order (each node's return
    /// is node `2 + 2j`): the next to complete among those not yet placed.
    pub(super) fn leading_returns(&self) -> impl Iterator<Item = usize> + '_ {
        let mut node = self.first();
        std::iter::from_fn(move || {
            while node != NONE {
                let here = node;
                node = self.next[node];
                if here.is_multiple_of(2) {
                    return Some((here - 2) / 2);
                }
            }
            None
        })
    }

    /// Removes call entry `call` and its return (the node after it).
    pub(super) fn lift(&mut self, call: usize) {
        let ret = call + 1;
        assert!(call % 2 == 1, "only a call is lifted, with its return");
        assert!(
            self.next[self.prev[call]] == call && self.next[self.prev[ret]] == ret,
            "lifting entries that are in the list"
        );
        let (next, prev) = (&mut self.next, &mut self.prev);
        next[prev[call]] = next[call];
        prev[next[call]] = prev[call];
        next[prev[ret]] = next[ret];
        if next[ret] != NONE {
            prev[next[ret]] = prev[ret];
        }
    }

    /// Puts back what [`Entries::lift`] removed, in reverse order: the search backs out
    /// of operations in the order it placed them, so each one's neighbours are as they
    /// were when it was lifted.
    pub(super) fn unlift(&mut self, call: usize) {
        let ret = call + 1;
        let (next, prev) = (&mut self.next, &mut self.prev);
        // Each entry's neighbours skip it exactly as they did right after it was lifted.
        let skipped = "unlifting in the reverse order of lifting";
        assert!(next[prev[ret]] == next[ret], "{skipped}");
        next[prev[ret]] = ret;
        if next[ret] != NONE {
            prev[next[ret]] = ret;
        }
        assert!(next[prev[call]] == next[call], "{skipped}");
        next[prev[call]] = call;
        prev[next[call]] = call;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entries from the head on.
    fn walk(e: &Entries) -> Vec<usize> {
        let mut out = Vec::new();
        let mut n = e.first();
        while n != NONE {
            out.push(n);
            n = e.after(n);
        }
        out
    }

    #[test]
    fn lifting_and_unlifting_in_reverse_restores_the_list() {
        // Three operations: 1 3 2 5 4 6 (op 1's call overlaps op 0's).
        let order = [1, 3, 2, 5, 4, 6];
        let mut e = Entries::new(&order);
        e.lift(3); // op 1: its call and return, apart
        assert_eq!(walk(&e), [1, 2, 5, 6]);
        e.lift(5); // op 2: adjacent to its return now
        assert_eq!(walk(&e), [1, 2]);
        e.lift(1);
        assert_eq!(walk(&e), Vec::<usize>::new());
        e.unlift(1);
        e.unlift(5);
        e.unlift(3);
        assert_eq!(walk(&e), order);
    }

    #[test]
    #[should_panic(expected = "unlifting in the reverse order of lifting")]
    fn unlifting_out_of_order_is_caught() {
        let mut e = Entries::new(&[1, 3, 2, 4]);
        e.lift(1);
        e.lift(3);
        e.unlift(1);
    }
}
