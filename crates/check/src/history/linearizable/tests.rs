//! The search's verdicts, and its parts held to their references.

use super::order::{by_invoke, entry_order, sort_nearly_sorted};
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
fn keys_are_independent_and_the_first_failure_or_all_reported() {
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
    let failing = |all_keys: bool, jobs: usize| {
        let opts = LinOptions {
            all_keys,
            jobs,
            ..LinOptions::default()
        };
        let v = check_linearizable(&b.0, &KvModel::default(), &opts).unwrap();
        let Verdict::NotLinearizable(c) = v else {
            panic!("{v}")
        };
        c.failures.into_iter().map(|f| f.key).collect::<Vec<_>>()
    };
    // Asked for every key, every failing key; otherwise the first, at any job count.
    assert_eq!(failing(true, 1), ["a", "b"]);
    assert_eq!(failing(true, 2), ["a", "b"]);
    assert_eq!(failing(false, 1), ["a"]);
    assert_eq!(failing(false, 2), ["a"]);
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
fn lazy_matches_eager<M: Model + Sync>(ops: &[Operation<M::Op>], model: &M) -> Verdict {
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
    // Either read can be the one no order places, depending on which order the search
    // (and its look-ahead) gives up on first.
    assert!(c.failures[0].blocked.contains("get x -> ok \""), "{c}");
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
                ..base.clone()
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
