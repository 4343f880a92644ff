//! The objects (keys) of a history, checked apart. Each key's search gets a share of the
//! time left (so one hard key never starves the rest) and of the memory; keys that ran
//! out of their share get what the others left over, in a second round. With `jobs` above
//! one, keys are searched on that many threads at once, each search on one thread. Unless
//! every key is asked for, checking stops at the first key, in key order, that is not
//! linearizable; which key that is does not depend on `jobs`.

use super::search::{search, Answer, Bound};
use super::{Deadline, Group, Limit, LinOptions, Out};
use crate::history::ops::Operation;
use protocol::{Ended, Model, Outcome};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One key's answer and the search steps it took.
pub(super) struct KeyAnswer {
    pub(super) answer: Answer,
    pub(super) steps: u64,
}

/// What every round shares.
struct Shared<'a, 'h, M: Model> {
    model: &'a M,
    ops: &'a [Operation<'h, M::Op>],
    groups: &'a [(&'h str, Group<'h, Out<M>>)],
    opts: &'a LinOptions,
    /// When the whole check's budget ends.
    end: Deadline,
    /// The first key (by place) found not linearizable so far, or `usize::MAX`.
    first_failure: AtomicUsize,
}

/// Each key's answer, by place in `groups` (`None`: not searched, as an earlier key
/// failed).
pub(super) fn check_keys<M: Model + Sync, const LAZY: bool>(
    model: &M,
    ops: &[Operation<M::Op>],
    groups: &[(&str, Group<Out<M>>)],
    opts: &LinOptions,
) -> Vec<Option<KeyAnswer>> {
    let shared = Shared {
        model,
        ops,
        groups,
        opts,
        end: Deadline::after(opts.budget),
        first_failure: AtomicUsize::new(usize::MAX),
    };
    let mut answers: Vec<Option<KeyAnswer>> = (0..groups.len()).map(|_| None).collect();
    let all: Vec<usize> = (0..groups.len()).collect();
    for (k, a) in round::<M, LAZY>(&shared, &all) {
        answers[k] = Some(a);
    }
    // Keys that ran out of their share try again with what the others left.
    let first = shared.first_failure.load(Ordering::Relaxed);
    let retry: Vec<usize> = (answers.iter().enumerate())
        .filter(|(k, a)| *k < first && matches!(a, Some(a) if is_timeout(&a.answer)))
        .map(|(k, _)| k)
        .collect();
    if !retry.is_empty() && !shared.expired() {
        for (k, a) in round::<M, LAZY>(&shared, &retry) {
            let steps = answers[k].as_ref().map_or(0, |x| x.steps);
            answers[k] = Some(KeyAnswer {
                answer: a.answer,
                steps: steps + a.steps,
            });
        }
    }
    answers
}

fn is_timeout(a: &Answer) -> bool {
    matches!(a, Answer::OutOf(Limit::Time))
}

impl<M: Model> Shared<'_, '_, M> {
    fn expired(&self) -> bool {
        self.end.expired()
    }

    /// The deadline for a key started now, with `left` keys (it included) still to start
    /// on `workers` threads: an equal share of the time left.
    fn deadline(&self, left: usize, workers: usize) -> Deadline {
        let turns = u32::try_from(left.div_ceil(workers)).unwrap_or(u32::MAX);
        self.end.share(turns)
    }
}

/// Searches `keys` (places in `groups`), in order, on up to `opts.jobs` threads.
fn round<M: Model + Sync, const LAZY: bool>(
    shared: &Shared<M>,
    keys: &[usize],
) -> Vec<(usize, KeyAnswer)> {
    let workers = shared.opts.jobs.clamp(1, keys.len().max(1));
    let next = AtomicUsize::new(0);
    if workers == 1 {
        return work::<M, LAZY>(shared, keys, &next, 1);
    }
    let out = Mutex::new(Vec::new());
    // Threads check independent keys, each search on one thread with its own memo; the
    // answers are put back in key order, so nothing a verdict says depends on them.
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mine = work::<M, LAZY>(shared, keys, &next, workers);
                out.lock()
                    .expect("no worker panics holding it")
                    .extend(mine);
            });
        }
    });
    let mut out = out.into_inner().expect("no worker panicked holding it");
    out.sort_unstable_by_key(|(k, _)| *k);
    out
}

/// One worker: takes the next key until none is left.
fn work<M: Model, const LAZY: bool>(
    shared: &Shared<M>,
    keys: &[usize],
    next: &AtomicUsize,
    workers: usize,
) -> Vec<(usize, KeyAnswer)> {
    let mut out = Vec::new();
    loop {
        let at = next.fetch_add(1, Ordering::Relaxed);
        let Some(&k) = keys.get(at) else {
            return out;
        };
        let first = &shared.first_failure;
        if !shared.opts.all_keys && first.load(Ordering::Relaxed) < k {
            continue; // An earlier key failed: no more is asked.
        }
        let bound = Bound {
            deadline: shared.deadline(keys.len() - at, workers),
            memory: shared.opts.max_memory / workers,
            stop: (!shared.opts.all_keys).then_some((first, k)),
            lookahead_after: shared.opts.lookahead_after,
        };
        let mut steps = 0;
        let answer = search_key::<M, LAZY>(shared, k, &bound, &mut steps);
        if matches!(answer, Answer::Fail(..)) {
            first.fetch_min(k, Ordering::Relaxed);
        }
        out.push((k, KeyAnswer { answer, steps }));
    }
}

/// One key's search, over its model narrowed to it.
fn search_key<M: Model, const LAZY: bool>(
    shared: &Shared<M>,
    k: usize,
    bound: &Bound,
    steps: &mut u64,
) -> Answer {
    let (ops, group) = (shared.ops, &shared.groups[k].1);
    let view: Vec<Ended<M::Op>> = group.iter().map(|(i, o)| (ops[*i].op, *o)).collect();
    let narrowed = shared.model.narrow(&view);
    let model = narrowed.as_ref().unwrap_or(shared.model);
    match search::<M, LAZY>(model, ops, group, bound, steps) {
        // A narrowed model may describe the state as one of many it merged: say which.
        Answer::Fail(mut f, path) if narrowed.is_some() => {
            if let Some(state) = describe_path(shared.model, ops, group, &path) {
                f.state = state;
            }
            Answer::Fail(f, path)
        }
        a => a,
    }
}

/// The state after the operations at `path` (places in `group`), as `model` describes
/// it; `None` if `model` refuses that order.
fn describe_path<M: Model>(
    model: &M,
    ops: &[Operation<M::Op>],
    group: &[(usize, Outcome<Out<M>>)],
    path: &[usize],
) -> Option<String> {
    let mut s = model.init();
    for &j in path {
        let (i, outcome) = &group[j];
        s = model.step(&s, ops[*i].op, *outcome)?.into_owned();
    }
    Some(model.describe(&s))
}
