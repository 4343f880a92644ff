//! Seeded generator of histories that are linearizable by construction: clients invoke
//! operations concurrently, and each operation takes effect on a sequential model at one
//! instant between its invocation and its completion. Used by the property tests and the
//! benchmark. Also: perturbations that make such a history certainly non-linearizable.
//!
//! Not a checker.

use crate::models::kv::{KvOp, KvOutput};
use crate::models::set::{SetOp, SetOutput};
use protocol::{Event, EventKind, History, Op};
use std::collections::{BTreeMap, BTreeSet};

/// SplitMix64: tiny, seeded, portable; enough for test workloads.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// Only get, put and cas (a register per key); otherwise every kv operation. Ignored
    /// by [`generate_set`].
    pub register: bool,
    pub clients: usize,
    pub keys: usize,
    /// Operations invoked in total.
    pub ops: usize,
    /// Chance (percent) that an operation ends `info` (applied or not, at random).
    pub info_percent: u64,
    pub seed: u64,
}

enum Client<O: Op> {
    Idle,
    Invoked(O),
    /// Took effect; completes with this kind and output.
    Done(O, EventKind, Option<O::Output>),
}

/// A sequential object the generated operations are applied to.
trait Truth {
    type Op: Op;
    /// The next operation; `serial` numbers it, `client` invokes it.
    fn draw(&self, rng: &mut Rng, cfg: &GenConfig, client: usize, serial: u64) -> Self::Op;
    /// Applies `op`; returns how it completes.
    fn apply(&mut self, op: &Self::Op) -> (EventKind, Option<<Self::Op as Op>::Output>);
}

#[derive(Default)]
struct KvTruth(BTreeMap<String, String>);

impl Truth for KvTruth {
    type Op = KvOp;

    fn draw(&self, rng: &mut Rng, cfg: &GenConfig, c: usize, serial: u64) -> KvOp {
        let key = format!("k{}", rng.below(cfg.keys.max(1) as u64));
        let value = format!("v{c}.{serial};");
        let roll = rng.below(100);
        match roll {
            _ if roll < 40 => KvOp::Get { key },
            _ if roll < 60 => KvOp::Put { key, value },
            _ if roll < 80 => {
                let current = self.0.get(&key).cloned();
                let expected = if rng.percent(60) {
                    current
                } else {
                    Some(format!(
                        "v{}.{};",
                        rng.below(cfg.clients as u64),
                        serial / 2
                    ))
                };
                KvOp::Cas {
                    key,
                    expected,
                    new: value,
                }
            }
            _ if cfg.register => KvOp::Put { key, value },
            _ if roll < 92 => KvOp::Append { key, value },
            _ => KvOp::Delete { key },
        }
    }

    fn apply(&mut self, op: &KvOp) -> (EventKind, Option<KvOutput>) {
        let done = (EventKind::Ok, Some(KvOutput::Done));
        match op {
            KvOp::Get { key } => (
                EventKind::Ok,
                Some(KvOutput::Value {
                    value: self.0.get(key).cloned(),
                    version: None,
                }),
            ),
            KvOp::Put { key, value } => {
                self.0.insert(key.clone(), value.clone());
                done
            }
            KvOp::Append { key, value } => {
                self.0.entry(key.clone()).or_default().push_str(value);
                done
            }
            KvOp::Delete { key } => {
                self.0.remove(key);
                done
            }
            KvOp::Cas { key, expected, new } => {
                if self.0.get(key) == expected.as_ref() {
                    self.0.insert(key.clone(), new.clone());
                    done
                } else {
                    (EventKind::Fail, None)
                }
            }
        }
    }
}

#[derive(Default)]
struct SetTruth(BTreeSet<u64>);

impl Truth for SetTruth {
    type Op = SetOp;

    fn draw(&self, rng: &mut Rng, cfg: &GenConfig, _c: usize, serial: u64) -> SetOp {
        // Drawn and unused, as the kv generator draws a key: one stream for both.
        let _key = rng.below(cfg.keys.max(1) as u64);
        if rng.below(100) < 70 {
            SetOp::Add { element: serial }
        } else {
            SetOp::Read
        }
    }

    fn apply(&mut self, op: &SetOp) -> (EventKind, Option<SetOutput>) {
        match op {
            SetOp::Add { element } => {
                self.0.insert(*element);
                (EventKind::Ok, Some(SetOutput::Done))
            }
            SetOp::Read => (EventKind::Ok, Some(SetOutput::Set(self.0.clone()))),
        }
    }
}

/// A linearizable kv (or, with `cfg.register`, register) history of `cfg.ops`
/// operations. Written values never contain `#`.
pub fn generate_kv(cfg: &GenConfig) -> History<KvOp> {
    generate(cfg, KvTruth::default())
}

/// A linearizable set history of `cfg.ops` operations.
pub fn generate_set(cfg: &GenConfig) -> History<SetOp> {
    generate(cfg, SetTruth::default())
}

fn generate<T: Truth>(cfg: &GenConfig, mut truth: T) -> History<T::Op> {
    let mut rng = Rng::new(cfg.seed);
    let mut clients: Vec<Client<T::Op>> = (0..cfg.clients).map(|_| Client::Idle).collect();
    let mut process: Vec<u64> = (0..cfg.clients as u64).collect();
    let mut next_process = cfg.clients as u64;
    let mut events = Vec::new();
    let mut started = 0;
    let mut serial = 0u64;
    let mut time_ns = 0u64;
    while started < cfg.ops || clients.iter().any(|c| !matches!(c, Client::Idle)) {
        time_ns += 1 + rng.below(1000);
        let c = rng.below(cfg.clients as u64) as usize;
        let p = process[c];
        let mut push = |kind, op, output| {
            events.push(Event {
                process: p,
                kind,
                op,
                output,
                time_ns,
            })
        };
        clients[c] = match std::mem::replace(&mut clients[c], Client::Idle) {
            Client::Idle if started < cfg.ops => {
                started += 1;
                serial += 1;
                let op = truth.draw(&mut rng, cfg, c, serial);
                push(EventKind::Invoke, op.clone(), None);
                Client::Invoked(op)
            }
            Client::Idle => Client::Idle,
            Client::Invoked(op) => {
                if rng.percent(cfg.info_percent) {
                    // Unknown outcome: it took effect or not, and the client never learns.
                    if rng.percent(50) {
                        truth.apply(&op);
                    }
                    Client::Done(op, EventKind::Info, None)
                } else {
                    let (kind, out) = truth.apply(&op);
                    Client::Done(op, kind, out)
                }
            }
            Client::Done(op, kind, out) => {
                push(kind, op, out);
                if kind == EventKind::Info {
                    // The old process may still have the operation in flight (Jepsen).
                    process[c] = next_process;
                    next_process += 1;
                }
                Client::Idle
            }
        };
        if started >= cfg.ops && rng.percent(1) {
            // Leave whatever is still in flight pending at the end, sometimes.
            break;
        }
    }
    History { events }
}

/// A copy of `h` with one `ok` read changed to return something that was never written
/// (a value containing `#`, or a set element never added), so it is certainly not
/// linearizable. `None` if `h` has no `ok` read.
pub fn perturb_read<O: Perturb>(h: &History<O>, seed: u64) -> Option<History<O>> {
    let reads: Vec<usize> = h
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::Ok && e.op.is_read())
        .map(|(i, _)| i)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let mut rng = Rng::new(seed);
    let i = reads[rng.below(reads.len() as u64) as usize];
    let mut h = h.clone();
    let e = &mut h.events[i];
    e.output = e.output.as_ref().map(O::never_read);
    Some(h)
}

/// Vocabularies whose reads [`perturb_read`] can falsify.
pub trait Perturb: Op {
    /// A read's output changed to show something no operation ever wrote.
    fn never_read(output: &Self::Output) -> Self::Output;
}

impl Perturb for KvOp {
    fn never_read(_: &KvOutput) -> KvOutput {
        KvOutput::Value {
            value: Some("#never-written".to_string()),
            version: None,
        }
    }
}

impl Perturb for SetOp {
    fn never_read(output: &SetOutput) -> SetOutput {
        let mut s = match output {
            SetOutput::Set(s) => s.clone(),
            SetOutput::Done => BTreeSet::new(),
        };
        s.insert(u64::MAX);
        SetOutput::Set(s)
    }
}
