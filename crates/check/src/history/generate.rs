//! Seeded generator of histories that are linearizable by construction: clients invoke
//! operations concurrently, and each operation takes effect on a sequential model at one
//! instant between its invocation and its completion. Used by the property tests and the
//! benchmark. Also: perturbations that make such a history certainly non-linearizable.
//!
//! Not a checker.

use super::model::Model;
use super::{Event, EventKind, History};
use protocol::{ClientOp, OpOutput};
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
    pub model: Model,
    pub clients: usize,
    pub keys: usize,
    /// Operations invoked in total.
    pub ops: usize,
    /// Chance (percent) that an operation ends `info` (applied or not, at random).
    pub info_percent: u64,
    pub seed: u64,
}

enum Client {
    Idle,
    Invoked(ClientOp),
    /// Took effect; completes with this kind and output.
    Done(ClientOp, EventKind, Option<OpOutput>),
}

/// The sequential object the generated operations are applied to.
#[derive(Default)]
struct Truth {
    kv: BTreeMap<String, String>,
    set: BTreeSet<u64>,
}

impl Truth {
    /// Applies `op`; returns how it completes.
    fn apply(&mut self, op: &ClientOp) -> (EventKind, Option<OpOutput>) {
        let done = (EventKind::Ok, Some(OpOutput::Done));
        match op {
            ClientOp::Get { key } => (
                EventKind::Ok,
                Some(OpOutput::Value {
                    value: self.kv.get(key).cloned(),
                    version: None,
                }),
            ),
            ClientOp::Put { key, value } => {
                self.kv.insert(key.clone(), value.clone());
                done
            }
            ClientOp::Append { key, value } => {
                self.kv.entry(key.clone()).or_default().push_str(value);
                done
            }
            ClientOp::Delete { key } => {
                self.kv.remove(key);
                done
            }
            ClientOp::Cas { key, expected, new } => {
                if self.kv.get(key) == expected.as_ref() {
                    self.kv.insert(key.clone(), new.clone());
                    done
                } else {
                    (EventKind::Fail, None)
                }
            }
            ClientOp::SetAdd { element } => {
                self.set.insert(*element);
                done
            }
            ClientOp::SetRead => (EventKind::Ok, Some(OpOutput::Set(self.set.clone()))),
        }
    }
}

/// A linearizable history of `cfg.ops` operations. Written values never contain `#`.
pub fn generate(cfg: &GenConfig) -> History {
    let mut rng = Rng::new(cfg.seed);
    let mut truth = Truth::default();
    let mut clients: Vec<Client> = (0..cfg.clients).map(|_| Client::Idle).collect();
    let mut process: Vec<u64> = (0..cfg.clients as u64).collect();
    let mut next_process = cfg.clients as u64;
    let mut events = Vec::new();
    let mut started = 0;
    let mut serial = 0u64;
    let mut time_ns = 0u64;
    let keys = cfg.keys.max(1) as u64;
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
                let key = format!("k{}", rng.below(keys));
                let value = format!("v{c}.{serial};");
                let roll = rng.below(100);
                let op = match cfg.model {
                    Model::Set if roll < 70 => ClientOp::SetAdd { element: serial },
                    Model::Set => ClientOp::SetRead,
                    _ if roll < 40 => ClientOp::Get { key },
                    _ if roll < 60 => ClientOp::Put { key, value },
                    _ if roll < 80 => {
                        let current = truth.kv.get(&key).cloned();
                        let expected = if rng.percent(60) {
                            current
                        } else {
                            Some(format!(
                                "v{}.{};",
                                rng.below(cfg.clients as u64),
                                serial / 2
                            ))
                        };
                        ClientOp::Cas {
                            key,
                            expected,
                            new: value,
                        }
                    }
                    Model::CasRegister => ClientOp::Put { key, value },
                    _ if roll < 92 => ClientOp::Append { key, value },
                    _ => ClientOp::Delete { key },
                };
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
pub fn perturb_read(h: &History, seed: u64) -> Option<History> {
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
    e.output = Some(match &e.output {
        Some(OpOutput::Set(s)) => {
            let mut s = s.clone();
            s.insert(u64::MAX);
            OpOutput::Set(s)
        }
        _ => OpOutput::Value {
            value: Some("#never-written".to_string()),
            version: None,
        },
    });
    Some(h)
}
