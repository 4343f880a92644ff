//! Adversarial kv histories, of the kind that makes a linearizability search work hard:
//! many clients (10 to 100), long overlapping operations, appends and compare-and-sets
//! whose every order gives a different value, a fifth to a half of operations ending
//! `info`, and one injected anomaly (a stale read, a lost write, a duplicated append) on
//! one key, or none. Also [`brute_force`], an oracle independent of the search: it tries
//! every order of the whole map's operations, with no memo, no pruning and no split by
//! key, so it can only judge small histories; the property tests hold the search to it.
//!
//! Not a checker (the oracle is for tests).

use super::generate::Rng;
use super::ops::{operations, Operation};
use crate::models::kv::{KvOp, KvOutput};
use protocol::{Event, EventKind, History, Op};
use std::collections::BTreeMap;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdversarialConfig {
    pub clients: usize,
    pub keys: usize,
    /// Operations invoked in total.
    pub ops: usize,
    /// Chance (percent) that an operation ends `info` (applied or not, at random).
    pub info_percent: u64,
    /// Chance (percent) per step that an operation in flight takes effect, and then that
    /// it completes: low values make operations long and overlapping.
    pub step_percent: u64,
    /// The operations drawn, by weight: get, put, append, cas.
    pub mix: [u32; 4],
    pub anomaly: Option<Anomaly>,
    pub seed: u64,
}

/// A way for one key's history to stop being linearizable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anomaly {
    /// A read returns the value its key held before a write acknowledged before the read
    /// was invoked.
    StaleRead,
    /// An acknowledged append never takes effect, and a read invoked after it completed
    /// misses it.
    LostWrite,
    /// An append takes effect twice, and a read shows its token twice.
    DuplicatedAppend,
}

impl Anomaly {
    /// A short name, for file names.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::StaleRead => "stale",
            Anomaly::LostWrite => "lost",
            Anomaly::DuplicatedAppend => "dup",
        }
    }

    pub const ALL: [Anomaly; 3] = [
        Anomaly::StaleRead,
        Anomaly::LostWrite,
        Anomaly::DuplicatedAppend,
    ];
}

impl AdversarialConfig {
    /// The case that used to take the search down: 50 clients, appends and reads over 10
    /// keys, about 2,000 operations, a quarter `info`.
    pub fn fifty_clients(anomaly: Option<Anomaly>, seed: u64) -> AdversarialConfig {
        AdversarialConfig {
            clients: 50,
            keys: 10,
            ops: 2000,
            info_percent: 25,
            step_percent: 30,
            mix: [1, 0, 1, 0],
            anomaly,
            seed,
        }
    }
}

/// The benchmark's adversarial set: each of 10, 50 and 100 clients, with appends and
/// reads alone or every kind of operation, a fifth or a half `info`, and no anomaly or
/// each one; about 2,000 operations over 10 keys each. Named for what it holds, e.g.
/// `c50-append-i20-lost`.
pub fn adversarial_set() -> Vec<(String, AdversarialConfig)> {
    let mut set = Vec::new();
    for clients in [10, 50, 100] {
        for (mix_name, mix) in [("append", [1, 0, 1, 0]), ("mixed", [3, 1, 3, 1])] {
            for info_percent in [20, 50] {
                for anomaly in [None].into_iter().chain(Anomaly::ALL.map(Some)) {
                    let name = format!(
                        "c{clients}-{mix_name}-i{info_percent}-{}",
                        anomaly.map_or("none", Anomaly::name)
                    );
                    let cfg = AdversarialConfig {
                        clients,
                        mix,
                        info_percent,
                        anomaly,
                        seed: set.len() as u64 + 1,
                        ..AdversarialConfig::fifty_clients(None, 0)
                    };
                    set.push((name, cfg));
                }
            }
        }
    }
    set
}

/// A client's operation: when it was invoked, and, once it took effect (or, `info`,
/// maybe not), how it completes.
enum Client {
    Idle,
    Invoked(KvOp, u64),
    Applied(KvOp, u64, EventKind, Option<KvOutput>),
}

/// The anomaly's progress on its key.
struct Plant {
    anomaly: Option<Anomaly>,
    key: String,
    /// A lost append: when it was acknowledged, once it was.
    lost_acked_at: Option<u64>,
    /// Whether the lost append was chosen (it completes later).
    lost_chosen: bool,
    /// The lost append: (client, when invoked).
    lost_op: Option<(usize, u64)>,
    /// The key's overwrites (put, cas) that may have taken effect: (client, invoked,
    /// completed; `None` while in flight, and for ever once `info`). One that did not
    /// complete before the lost append began may come after it, and a later read may
    /// then legitimately miss the append.
    overwrites: Vec<(usize, u64, Option<u64>)>,
    /// Whether a read shows the anomaly: the history is then not linearizable.
    shown: bool,
}

/// What the generator knows of its history's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No anomaly took place: the history is linearizable.
    Linearizable,
    /// A read shows the anomaly: the planted key's sub-history is not linearizable.
    NotLinearizable,
    /// The anomaly took place but no read is sure to show it (an overwrite may have come
    /// between, a compare-and-set may have seen it): only a checker can tell.
    Either,
}

impl Expect {
    /// As verdicts are written: `linearizable`, `not-linearizable`, or `either`.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Linearizable => "linearizable",
            Expect::NotLinearizable => "not-linearizable",
            Expect::Either => "either",
        }
    }
}

/// A history per `cfg`, and what is known of its verdict.
pub fn adversarial(cfg: &AdversarialConfig) -> (History<KvOp>, Expect) {
    let mut rng = Rng::new(cfg.seed);
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut clients: Vec<Client> = (0..cfg.clients).map(|_| Client::Idle).collect();
    let mut process: Vec<u64> = (0..cfg.clients as u64).collect();
    let mut next_process = cfg.clients as u64;
    let mut events: Vec<Event<KvOp>> = Vec::new();
    let (mut started, mut serial, mut time_ns) = (0usize, 0u64, 0u64);
    let keys = cfg.keys.max(1) as u64;
    let mut plant = Plant {
        anomaly: cfg.anomaly,
        key: format!("k{}", rng.below(keys)),
        lost_acked_at: None,
        lost_chosen: false,
        lost_op: None,
        overwrites: Vec::new(),
        shown: false,
    };
    let mut acked: BTreeMap<String, Vec<Acked>> = BTreeMap::new();
    // Each write in flight's value before and after it took effect, by (client, invoked).
    let mut effect_of: BTreeMap<(usize, u64), (Option<String>, Option<String>)> = BTreeMap::new();
    while started < cfg.ops || clients.iter().any(|c| !matches!(c, Client::Idle)) {
        time_ns += 1 + rng.below(100);
        let c = rng.below(cfg.clients as u64) as usize;
        let p = process[c];
        clients[c] = match std::mem::replace(&mut clients[c], Client::Idle) {
            Client::Idle if started < cfg.ops => {
                started += 1;
                serial += 1;
                let op = draw(&mut rng, cfg, &map, c, serial, keys);
                if op.key_str() == plant.key && op.is_overwrite() {
                    plant.overwrites.push((c, time_ns, None));
                }
                events.push(event(p, EventKind::Invoke, op.clone(), None, time_ns));
                Client::Invoked(op, time_ns)
            }
            Client::Idle => Client::Idle,
            Client::Invoked(op, at) if rng.percent(cfg.step_percent) => {
                let info = rng.percent(cfg.info_percent);
                let before = map.get(op.key_str()).cloned();
                let was_lost = plant.lost_chosen;
                let (kind, out) = take_effect(&mut rng, &mut map, &mut plant, &op, info);
                effect_of.insert((c, at), (before, map.get(op.key_str()).cloned()));
                if plant.lost_chosen && !was_lost {
                    plant.lost_op = Some((c, at));
                }
                Client::Applied(op, at, kind, out)
            }
            Client::Invoked(op, at) => Client::Invoked(op, at),
            Client::Applied(op, at, kind, mut out) if rng.percent(cfg.step_percent) => {
                let key = op.key_str().to_string();
                let (before, after) = effect_of.remove(&(c, at)).unwrap_or_default();
                if kind == EventKind::Ok && !op.is_read() {
                    acked.entry(key.clone()).or_default().push(Acked {
                        invoked: at,
                        completed: time_ns,
                        before,
                        after,
                    });
                    if plant.lost_op == Some((c, at)) {
                        plant.lost_acked_at = Some(time_ns);
                    }
                }
                if let Some(KvOutput::Value { value, .. }) = &mut out {
                    plant.read(&key, at, value, &acked);
                }
                if key == plant.key && op.is_overwrite() {
                    plant.completed(c, at, kind, time_ns);
                }
                events.push(event(p, kind, op, out, time_ns));
                if kind == EventKind::Info {
                    // The old process may still have the operation in flight (Jepsen).
                    process[c] = next_process;
                    next_process += 1;
                }
                Client::Idle
            }
            Client::Applied(op, at, kind, out) => Client::Applied(op, at, kind, out),
        };
    }
    let expect = if plant.shown {
        Expect::NotLinearizable
    } else if plant.happened() {
        Expect::Either
    } else {
        Expect::Linearizable
    };
    (History { events }, expect)
}

/// `op` takes effect on `map` (an `info` one only maybe), with the planted anomaly where
/// it is due: how the operation completes.
fn take_effect(
    rng: &mut Rng,
    map: &mut BTreeMap<String, String>,
    plant: &mut Plant,
    op: &KvOp,
    info: bool,
) -> (EventKind, Option<KvOutput>) {
    if info && rng.percent(50) {
        return (EventKind::Info, None); // an unknown outcome that did not take effect
    }
    let planted_append = !info
        && op.key_str() == plant.key
        && matches!(op, KvOp::Append { .. })
        && !plant.happened();
    let r = match plant.anomaly {
        Some(Anomaly::LostWrite) if planted_append => {
            plant.lost_chosen = true;
            (EventKind::Ok, Some(KvOutput::Done)) // acknowledged, never applied
        }
        Some(Anomaly::DuplicatedAppend) if planted_append => {
            apply(map, op);
            plant.lost_chosen = true; // marks the anomaly as under way
            apply(map, op)
        }
        _ => apply(map, op),
    };
    if info {
        (EventKind::Info, None)
    } else {
        r
    }
}

impl Plant {
    /// An overwrite of the key by `c`, invoked `at`, ended `kind` at `now`: one that
    /// failed took no effect; one that ended `info` may take effect at any time.
    fn completed(&mut self, c: usize, at: u64, kind: EventKind, now: u64) {
        let mine = |o: &(usize, u64, Option<u64>)| (o.0, o.1) == (c, at);
        match kind {
            EventKind::Ok => self
                .overwrites
                .iter_mut()
                .filter(|o| mine(o))
                .for_each(|o| {
                    o.2 = Some(now);
                }),
            EventKind::Fail => self.overwrites.retain(|o| !mine(o)),
            EventKind::Info | EventKind::Invoke => {}
        }
    }

    /// Whether the anomaly was planted (it may not have shown yet).
    fn happened(&self) -> bool {
        self.lost_chosen || self.shown
    }

    /// An `ok` read of `key`, invoked at `invoked`, that returned `value`: makes it the
    /// anomaly's evidence where it can be.
    fn read(
        &mut self,
        key: &str,
        invoked: u64,
        value: &mut Option<String>,
        acked: &BTreeMap<String, Vec<Acked>>,
    ) {
        if self.shown || key != self.key {
            return;
        }
        match self.anomaly {
            Some(Anomaly::StaleRead) => {
                if let Some(stale) = settled_stale(acked.get(key), invoked) {
                    if stale != *value {
                        *value = stale;
                        self.shown = true;
                    }
                }
            }
            Some(Anomaly::LostWrite) => {
                // The lost append's token never appears: a read begun after it was
                // acknowledged must have shown it, unless an overwrite came between.
                let began = self.lost_op.map_or(0, |(_, at)| at);
                let may_follow = |o: &(usize, u64, Option<u64>)| o.2.is_none_or(|c| c > began);
                self.shown = self.lost_acked_at.is_some_and(|at| at < invoked)
                    && !self.overwrites.iter().any(may_follow);
            }
            Some(Anomaly::DuplicatedAppend) => {
                self.shown = value.as_deref().is_some_and(has_a_token_twice);
            }
            None => {}
        }
    }
}

/// An acknowledged write to a key.
struct Acked {
    invoked: u64,
    completed: u64,
    /// The key's value just before and just after it took effect.
    before: Option<String>,
    after: Option<String>,
}

/// A value no read invoked at `invoked` may return: the one before the last write `w`
/// acknowledged by then. It comes back only if what made it (values and tokens are
/// unique: one operation) comes after `w`; so only when that finished before `w` began
/// (or the key was absent, and nothing deletes).
fn settled_stale(writes: Option<&Vec<Acked>>, invoked: u64) -> Option<Option<String>> {
    let writes = writes?;
    let w = writes.iter().rev().find(|w| w.completed < invoked)?;
    let settled = match &w.before {
        None => true,
        Some(_) => writes
            .iter()
            .any(|p| p.after == w.before && p.completed < w.invoked),
    };
    settled.then(|| w.before.clone())
}

fn has_a_token_twice(v: &str) -> bool {
    let mut tokens: Vec<&str> = v.split_whitespace().collect();
    let n = tokens.len();
    tokens.sort_unstable();
    tokens.dedup();
    tokens.len() < n
}

/// Applies `op` to `map`: how it completes.
fn apply(map: &mut BTreeMap<String, String>, op: &KvOp) -> (EventKind, Option<KvOutput>) {
    let done = (EventKind::Ok, Some(KvOutput::Done));
    match op {
        KvOp::Get { key } => (
            EventKind::Ok,
            Some(KvOutput::Value {
                value: map.get(key).cloned(),
                version: None,
            }),
        ),
        KvOp::Put { key, value } => {
            map.insert(key.clone(), value.clone());
            done
        }
        KvOp::Append { key, value } => {
            map.entry(key.clone()).or_default().push_str(value);
            done
        }
        KvOp::Delete { key } => {
            map.remove(key);
            done
        }
        KvOp::Cas { key, expected, new } => {
            if map.get(key) == expected.as_ref() {
                map.insert(key.clone(), new.clone());
                done
            } else {
                (EventKind::Fail, None)
            }
        }
    }
}

fn draw(
    rng: &mut Rng,
    cfg: &AdversarialConfig,
    map: &BTreeMap<String, String>,
    c: usize,
    serial: u64,
    keys: u64,
) -> KvOp {
    let key = format!("k{}", rng.below(keys));
    let value = format!("c{c}-{serial}");
    let total: u32 = cfg.mix.iter().sum();
    let mut roll = rng.below(u64::from(total.max(1))) as u32;
    let mut pick = 0;
    for (i, w) in cfg.mix.iter().enumerate() {
        if roll < *w {
            pick = i;
            break;
        }
        roll -= w;
    }
    match pick {
        0 => KvOp::Get { key },
        1 => KvOp::Put { key, value },
        2 => KvOp::Append {
            key,
            value: format!(" {value}"),
        },
        _ => {
            // Mostly what the key holds now, so cas often succeeds; sometimes stale.
            let expected = if rng.percent(70) {
                map.get(&key).cloned()
            } else {
                None
            };
            KvOp::Cas {
                key,
                expected,
                new: value,
            }
        }
    }
}

fn event(
    process: u64,
    kind: EventKind,
    op: KvOp,
    output: Option<KvOutput>,
    time_ns: u64,
) -> Event<KvOp> {
    Event {
        process,
        kind,
        op,
        output,
        time_ns,
    }
}

/// Operations the oracle judges at most: it tries every order.
pub const ORACLE_MAX_OPS: usize = 12;

/// Whether `h` is linearizable as one key-value map, decided by trying every order of its
/// operations that respects real time, each indeterminate one placed somewhere or left
/// out. `None` past [`ORACLE_MAX_OPS`] operations. Shares nothing with the search but the
/// pairing of events into operations. A failed cas constrains the order (its compare did
/// not match) if `fail_cas_observes`; otherwise it is dropped, as the search's default kv
/// model drops it.
pub fn brute_force(h: &History<KvOp>, fail_cas_observes: bool) -> Option<bool> {
    let keep = |o: &Operation<KvOp>| {
        o.end != EventKind::Fail || (fail_cas_observes && matches!(o.op, KvOp::Cas { .. }))
    };
    let ops: Vec<Operation<KvOp>> = operations(h).ok()?.into_iter().filter(keep).collect();
    if ops.len() > ORACLE_MAX_OPS {
        return None;
    }
    let mut placed = vec![false; ops.len()];
    Some(extend(&ops, &mut placed, &BTreeMap::new()))
}

/// Whether the placed operations, leaving `map`, extend to a whole linearization.
fn extend(ops: &[Operation<KvOp>], placed: &mut [bool], map: &BTreeMap<String, String>) -> bool {
    let open = |placed: &[bool], i: usize| !placed[i] && !ops[i].indeterminate();
    if !(0..ops.len()).any(|i| open(placed, i)) {
        return true; // the rest are indeterminate: they may never have happened
    }
    let complete = |j: usize| ops[j].complete.unwrap_or(usize::MAX);
    for i in 0..ops.len() {
        if placed[i] {
            continue;
        }
        // Next only if no determinate operation still open completed before it began.
        if (0..ops.len()).any(|j| open(placed, j) && complete(j) < ops[i].invoke) {
            continue;
        }
        let mut after = map.clone();
        let (kind, out) = apply(&mut after, ops[i].op);
        // As it ended: ok with what it returned, or failed (a cas that did not match).
        let consistent = ops[i].indeterminate()
            || (kind == ops[i].end
                && match (ops[i].output, &out) {
                    (Some(seen), Some(got)) => seen == got,
                    _ => true,
                });
        if !consistent {
            continue;
        }
        placed[i] = true;
        let found = extend(ops, placed, &after);
        placed[i] = false;
        if found {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_tells_a_stale_read_from_a_concurrent_one() {
        let put = KvOp::Put {
            key: "k".into(),
            value: "a".into(),
        };
        let get = KvOp::Get { key: "k".into() };
        let read = |v: Option<&str>| {
            Some(KvOutput::Value {
                value: v.map(str::to_string),
                version: None,
            })
        };
        let history = |gap: bool| History {
            events: if gap {
                vec![
                    event(0, EventKind::Invoke, put.clone(), None, 1),
                    event(0, EventKind::Ok, put.clone(), Some(KvOutput::Done), 2),
                    event(1, EventKind::Invoke, get.clone(), None, 3),
                    event(1, EventKind::Ok, get.clone(), read(None), 4),
                ]
            } else {
                vec![
                    event(0, EventKind::Invoke, put.clone(), None, 1),
                    event(1, EventKind::Invoke, get.clone(), None, 2),
                    event(1, EventKind::Ok, get.clone(), read(None), 3),
                    event(0, EventKind::Ok, put.clone(), Some(KvOutput::Done), 4),
                ]
            },
        };
        assert_eq!(brute_force(&history(false), false), Some(true));
        assert_eq!(brute_force(&history(true), false), Some(false));
    }

    #[test]
    fn every_anomaly_finds_its_chance_on_the_fifty_client_case() {
        for anomaly in Anomaly::ALL {
            let shown = (1..=5)
                .filter(|&seed| {
                    let cfg = AdversarialConfig::fifty_clients(Some(anomaly), seed);
                    adversarial(&cfg).1 == Expect::NotLinearizable
                })
                .count();
            assert!(shown >= 4, "{anomaly:?} shown on {shown} of 5 seeds");
        }
    }
}
