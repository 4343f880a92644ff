//! Property tests on adversarial histories (`history::adversarial`): many small ones,
//! judged by the search and by the brute-force oracle, which must agree; and large ones,
//! which the search must decide within a small budget and a memory bound.

use check::history::adversarial::{
    adversarial, adversarial_set, brute_force, AdversarialConfig, Anomaly, Expect,
};
use check::history::generate::Rng;
use check::history::{check_linearizable, Limit, LinOptions, Verdict};
use check::models::kv::{KvModel, KvOp, KvOutput, MapModel};
use protocol::{EventKind, History, Op};
use std::time::Duration;

/// A small adversarial configuration per seed: few enough operations for the oracle, with
/// every mix of operations, a fifth to a half `info`, and any anomaly.
fn small(seed: u64) -> AdversarialConfig {
    let mut rng = Rng::new(seed);
    let mixes = [
        [1, 0, 1, 0],
        [3, 1, 3, 1],
        [2, 2, 0, 2],
        [1, 1, 1, 1],
        [1, 0, 0, 2],
    ];
    let anomaly = match rng.below(4) {
        0 => None,
        a => Some(Anomaly::ALL[a as usize - 1]),
    };
    AdversarialConfig {
        clients: 2 + rng.below(4) as usize,
        keys: 1 + rng.below(2) as usize,
        ops: 4 + rng.below(6) as usize,
        info_percent: 20 + rng.below(31),
        step_percent: 20 + rng.below(60),
        mix: mixes[rng.below(mixes.len() as u64) as usize],
        anomaly,
        seed,
    }
}

/// `h` with one `ok` read returning what another read of its key returned: a stale or
/// future value, which may or may not still fit some order. `None` without two reads.
fn swap_read(h: &History<KvOp>, seed: u64) -> Option<History<KvOp>> {
    let reads: Vec<usize> = (h.events.iter().enumerate())
        .filter(|(_, e)| e.kind == EventKind::Ok && e.op.is_read())
        .map(|(i, _)| i)
        .collect();
    let mut rng = Rng::new(seed);
    let a = *reads.get(rng.below(reads.len() as u64) as usize)?;
    let same_key: Vec<usize> = (reads.iter().copied())
        .filter(|b| *b != a && h.events[*b].op.key_str() == h.events[a].op.key_str())
        .collect();
    let b = *same_key.get(rng.below(same_key.len() as u64) as usize)?;
    let mut out = h.clone();
    out.events[a].output = h.events[b].output.clone();
    Some(out)
}

fn linearizable(h: &History<KvOp>, fail_cas_observes: bool, opts: &LinOptions) -> bool {
    let model = KvModel {
        fail_cas_is_mismatch: fail_cas_observes,
        ..KvModel::default()
    };
    match check_linearizable(h, &model, opts).unwrap() {
        Verdict::Linearizable => true,
        Verdict::NotLinearizable(_) => false,
        Verdict::Unknown { .. } => panic!("a small history ran out of its budget"),
    }
}

#[test]
fn the_search_agrees_with_the_oracle_on_thousands_of_small_histories() {
    // Look-ahead from the first step, and as the checker runs it (it starts late), on
    // the history as generated and with a read swapped; failed cas observing or not.
    let eager = LinOptions {
        lookahead_after: 0,
        ..LinOptions::default()
    };
    let usual = LinOptions::default();
    let (mut judged, mut not_linearizable) = (0, 0);
    for seed in 0..1500 {
        let (h, expect) = adversarial(&small(seed));
        for h in [Some(h.clone()), swap_read(&h, seed)].into_iter().flatten() {
            for fail_observes in [false, true] {
                let Some(truth) = brute_force(&h, fail_observes) else {
                    continue;
                };
                for opts in [&eager, &usual] {
                    let found = linearizable(&h, fail_observes, opts);
                    assert_eq!(found, truth, "seed {seed}, fail observes: {fail_observes}");
                }
                judged += 1;
                not_linearizable += usize::from(!truth);
            }
        }
        if expect == Expect::NotLinearizable {
            assert!(!linearizable(&h, false, &usual), "seed {seed}: planted");
        }
    }
    // Both verdicts, often: the comparison means something.
    assert!(judged > 3000, "{judged} judged");
    assert!(
        not_linearizable > judged / 10 && not_linearizable < judged * 9 / 10,
        "{not_linearizable} of {judged} not linearizable"
    );
}

/// The verdict on the large set, and whether it came within `limit`.
fn large_verdict(h: &History<KvOp>, opts: &LinOptions) -> Verdict {
    check_linearizable(h, &KvModel::default(), opts).unwrap()
}

#[test]
fn every_large_adversarial_history_is_decided_within_a_small_bound() {
    // A tenth of a second and 64 MiB each; the benchmark measures what they take.
    let opts = LinOptions {
        budget: Duration::from_secs(2),
        max_memory: 64 << 20,
        ..LinOptions::default()
    };
    for (name, cfg) in adversarial_set() {
        let (h, expect) = adversarial(&cfg);
        let v = large_verdict(&h, &opts);
        match (expect, &v) {
            (_, Verdict::Unknown { .. }) => panic!("{name}: {v}"),
            (Expect::Linearizable, Verdict::NotLinearizable(_))
            | (Expect::NotLinearizable, Verdict::Linearizable) => panic!("{name}: {v}"),
            _ => {}
        }
    }
}

#[test]
fn the_verdict_does_not_depend_on_the_job_count() {
    for (name, cfg) in adversarial_set().into_iter().step_by(5) {
        let (h, _) = adversarial(&cfg);
        let verdicts: Vec<Verdict> = [1, 2, 4]
            .map(|jobs| {
                let opts = LinOptions {
                    jobs,
                    all_keys: name.ends_with("-none"),
                    ..LinOptions::default()
                };
                large_verdict(&h, &opts)
            })
            .into();
        assert_eq!(verdicts[0], verdicts[1], "{name}");
        assert_eq!(verdicts[0], verdicts[2], "{name}");
    }
}

#[test]
fn a_memory_bound_reached_says_unknown_and_names_the_keys() {
    // The whole map as one object (no split by key, so no narrowing to one key's values)
    // makes the search remember many configurations; it stops at its bound.
    let (h, _) = adversarial(&AdversarialConfig::fifty_clients(
        Some(Anomaly::LostWrite),
        3,
    ));
    let keys = h.events.iter().map(|e| e.op.key_str().to_string());
    let map = MapModel::new(KvModel::default(), keys);
    let opts = LinOptions {
        budget: Duration::from_secs(60),
        max_memory: 2 << 20,
        ..LinOptions::default()
    };
    match check_linearizable(&h, &map, &opts).unwrap() {
        Verdict::Unknown { undecided, limit } => {
            assert_eq!(limit, Limit::Memory);
            assert_eq!(undecided, [""]); // the one object
        }
        v => panic!("expected unknown, got {v}"),
    }
    // Per key, a bound smaller than a key's tables leaves every key undecided, by name.
    let tiny = LinOptions {
        max_memory: 4 << 10,
        ..LinOptions::default()
    };
    match large_verdict(&h, &tiny) {
        Verdict::Unknown { undecided, limit } => {
            assert_eq!(limit, Limit::Memory);
            assert_eq!(undecided.len(), 10, "{undecided:?}");
        }
        v => panic!("expected unknown, got {v}"),
    }
}

#[test]
fn a_read_swapped_on_a_large_history_is_judged_as_on_a_small_one() {
    // Not a verdict to expect, only one to reach: no swap leaves the search undecided.
    let opts = LinOptions {
        budget: Duration::from_secs(2),
        max_memory: 64 << 20,
        ..LinOptions::default()
    };
    for (name, cfg) in adversarial_set().into_iter().step_by(3) {
        let (h, _) = adversarial(&cfg);
        let swapped = swap_read(&h, cfg.seed).expect("large histories read");
        let v = large_verdict(&swapped, &opts);
        assert!(!matches!(v, Verdict::Unknown { .. }), "{name}: {v}");
    }
}

#[test]
fn an_output_is_what_the_oracle_compares() {
    // The oracle itself: a read of a value never written is never linearizable.
    let (mut h, _) = adversarial(&small(7));
    let read = (h.events.iter_mut())
        .find(|e| e.kind == EventKind::Ok && e.op.is_read())
        .expect("a read");
    read.output = Some(KvOutput::Value {
        value: Some("never written".into()),
        version: None,
    });
    assert_eq!(brute_force(&h, false), Some(false));
}
