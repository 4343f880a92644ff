//! Sequential specifications the linearizability checker tests histories against.
//!
//! Each model is a deterministic state machine: `step` says whether an operation with its
//! observed outcome is legal in a state, and the state after it (Herlihy & Wing 1990's
//! sequential specification; Porcupine's `Model`). Indeterminate outcomes are always
//! legal: the operation applies its effect as if it had succeeded.

use super::ops::Operation;
use super::EventKind;
use protocol::{ClientOp, OpOutput};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::str::FromStr;

/// Which specification a history is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    /// A compare-and-set register per key: get, put, cas (absent initially).
    CasRegister,
    /// A key-value map, one independent register per key: get, put, append, delete, cas.
    Kv,
    /// One grow-only set: add, read.
    Set,
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Model, String> {
        match s {
            "cas-register" => Ok(Model::CasRegister),
            "kv" => Ok(Model::Kv),
            "set" => Ok(Model::Set),
            other => Err(format!(
                "unknown model {other:?}; expected cas-register, kv or set"
            )),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Model::CasRegister => "cas-register",
            Model::Kv => "kv",
            Model::Set => "set",
        })
    }
}

impl Model {
    /// Whether `op` belongs to this model's vocabulary.
    pub fn accepts(&self, op: &ClientOp) -> bool {
        match self {
            Model::CasRegister => matches!(
                op,
                ClientOp::Get { .. } | ClientOp::Put { .. } | ClientOp::Cas { .. }
            ),
            Model::Kv => op.key().is_some(),
            Model::Set => matches!(op, ClientOp::SetAdd { .. } | ClientOp::SetRead),
        }
    }
}

/// How an operation ended, as far as the model is concerned. Borrows the operation's
/// output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    Ok(&'a OpOutput),
    /// A cas that definitely ran its compare and found it did not match: it changed
    /// nothing but tells us the value differed from `expected` (etcd's `:fail :cas`).
    Mismatch,
    /// Info, or pending at the end: any result, effect at any point or never.
    Unknown,
}

impl Outcome<'_> {
    /// The model's view of an operation; `None` for a failure that constrains nothing (it
    /// did not take effect and observed nothing), which the checker drops.
    pub fn of<'h>(o: &Operation<'h>, fail_cas_is_mismatch: bool) -> Option<Outcome<'h>> {
        match o.end {
            EventKind::Ok => Some(Outcome::Ok(o.output.unwrap_or(&OpOutput::Done))),
            EventKind::Info | EventKind::Invoke => Some(Outcome::Unknown),
            EventKind::Fail => match o.op {
                ClientOp::Cas { .. } if fail_cas_is_mismatch => Some(Outcome::Mismatch),
                _ => None,
            },
        }
    }
}

/// A sequential specification.
pub trait SeqModel {
    type State: Clone + Eq + Hash + Debug;
    fn init(&self) -> Self::State;
    /// The state after `op` with `outcome`, or `None` if that outcome is impossible here.
    /// Borrowed when the operation leaves the state as it was (a read, a cas that did not
    /// match): most steps of a search are reads, and they then copy nothing.
    fn step<'s>(
        &self,
        s: &'s Self::State,
        op: &ClientOp,
        outcome: &Outcome,
    ) -> Option<Cow<'s, Self::State>>;
    fn describe(&self, s: &Self::State) -> String;
    /// Whether the search may skip linearizing `op` right after an indeterminate
    /// operation `u`, because every such order can be rewritten without it: `op` blindly
    /// overwrites the state (then `u` had no visible effect and can be left out), or `op`
    /// is determinate and commutes with `u` (then `u` can move after it, which is always
    /// allowed since `u` never returns).
    fn skip_after_unknown(&self, _op: &ClientOp, _outcome: &Outcome) -> bool {
        false
    }
}

/// One key's value. With `missing_reads_empty` (Porcupine's kv lab), a missing key reads
/// as the empty string, so absent and `""` are the same state.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyModel {
    pub missing_reads_empty: bool,
}

impl KeyModel {
    fn norm(&self, v: Option<String>) -> Option<String> {
        match v {
            Some(s) if self.missing_reads_empty && s.is_empty() => None,
            v => v,
        }
    }

    fn same(&self, a: Option<&str>, b: Option<&str>) -> bool {
        if self.missing_reads_empty {
            a.unwrap_or("") == b.unwrap_or("")
        } else {
            a == b
        }
    }
}

impl SeqModel for KeyModel {
    type State = Option<String>;

    fn init(&self) -> Option<String> {
        None
    }

    fn step<'s>(
        &self,
        s: &'s Option<String>,
        op: &ClientOp,
        outcome: &Outcome,
    ) -> Option<Cow<'s, Option<String>>> {
        let unknown = matches!(outcome, Outcome::Unknown);
        let written = |v: &str| Cow::Owned(self.norm(Some(v.to_string())));
        match op {
            ClientOp::Get { .. } => match outcome {
                Outcome::Ok(OpOutput::Value { value, .. }) => self
                    .same(s.as_deref(), value.as_deref())
                    .then_some(Cow::Borrowed(s)),
                Outcome::Unknown => Some(Cow::Borrowed(s)),
                _ => None,
            },
            ClientOp::Put { value, .. } => {
                (unknown || matches!(outcome, Outcome::Ok(OpOutput::Done))).then(|| written(value))
            }
            ClientOp::Append { value, .. } => {
                (unknown || matches!(outcome, Outcome::Ok(OpOutput::Done))).then(|| {
                    let before = s.as_deref().unwrap_or_default();
                    let mut v = String::with_capacity(before.len() + value.len());
                    v.push_str(before);
                    v.push_str(value);
                    Cow::Owned(self.norm(Some(v)))
                })
            }
            ClientOp::Delete { .. } => (unknown || matches!(outcome, Outcome::Ok(OpOutput::Done)))
                .then_some(Cow::Owned(None)),
            ClientOp::Cas { expected, new, .. } => {
                let matched = self.same(s.as_deref(), expected.as_deref());
                match outcome {
                    Outcome::Ok(OpOutput::Done) => matched.then(|| written(new)),
                    Outcome::Mismatch => (!matched).then_some(Cow::Borrowed(s)),
                    Outcome::Unknown if matched => Some(written(new)),
                    Outcome::Unknown => Some(Cow::Borrowed(s)),
                    Outcome::Ok(_) => None,
                }
            }
            ClientOp::SetAdd { .. } | ClientOp::SetRead => None,
        }
    }

    fn skip_after_unknown(&self, op: &ClientOp, _outcome: &Outcome) -> bool {
        matches!(op, ClientOp::Put { .. } | ClientOp::Delete { .. })
    }

    fn describe(&self, s: &Option<String>) -> String {
        match s {
            Some(v) => format!("{v:?}"),
            None if self.missing_reads_empty => "\"\" (absent)".to_string(),
            None => "absent".to_string(),
        }
    }
}

/// The whole map as one object: used only to measure what partitioning per key saves.
/// Keys are numbered and values interned, so a state is a small vector of ids that is
/// cheap to clone, hash and compare; ids are handed out in the order the (deterministic)
/// search first produces each value.
#[derive(Debug, Default)]
pub struct MapModel {
    pub key: KeyModel,
    keys: Vec<String>,
    values: RefCell<Interner>,
    /// (value id before, write, outcome) -> value id after (`Err`: impossible), so a
    /// write seen before costs a lookup instead of building and interning a string.
    #[allow(clippy::type_complexity)]
    writes: RefCell<BTreeMap<(Option<u32>, ClientOp, u8), Result<Option<u32>, ()>>>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: BTreeMap<String, u32>,
    strings: Vec<String>,
}

impl MapModel {
    /// A map over exactly `keys`.
    pub fn new(key: KeyModel, keys: impl IntoIterator<Item = String>) -> MapModel {
        let keys: BTreeSet<String> = keys.into_iter().collect();
        MapModel {
            key,
            keys: keys.into_iter().collect(),
            values: RefCell::new(Interner::default()),
            writes: RefCell::new(BTreeMap::new()),
        }
    }

    fn intern(&self, v: Option<String>) -> Option<u32> {
        let v = v?;
        let mut t = self.values.borrow_mut();
        if let Some(id) = t.ids.get(&v) {
            return Some(*id);
        }
        let id = t.strings.len() as u32;
        t.strings.push(v.clone());
        t.ids.insert(v, id);
        Some(id)
    }

    fn value(&self, id: Option<u32>) -> Option<String> {
        id.map(|i| self.values.borrow().strings[i as usize].clone())
    }
}

impl SeqModel for MapModel {
    /// Value id per key (in key order); `None`: absent.
    type State = Vec<Option<u32>>;

    fn init(&self) -> Self::State {
        vec![None; self.keys.len()]
    }

    fn step<'s>(
        &self,
        s: &'s Self::State,
        op: &ClientOp,
        outcome: &Outcome,
    ) -> Option<Cow<'s, Self::State>> {
        let key = op.key()?;
        let k = self.keys.binary_search_by(|x| x.as_str().cmp(key)).ok()?;
        if let (ClientOp::Get { .. }, Outcome::Ok(OpOutput::Value { value, .. })) = (op, outcome) {
            // Reads are most steps: compare in place rather than copy the value out.
            let t = self.values.borrow();
            let cur = s[k].map(|id| t.strings[id as usize].as_str());
            return self
                .key
                .same(cur, value.as_deref())
                .then_some(Cow::Borrowed(s));
        }
        let kind = match outcome {
            Outcome::Ok(_) => 0,
            Outcome::Mismatch => 1,
            Outcome::Unknown => 2,
        };
        let memo_key = (s[k], op.clone(), kind);
        let known = self.writes.borrow().get(&memo_key).copied();
        let id = match known {
            Some(r) => r.ok()?,
            None => {
                let before = self.value(s[k]);
                let next = self.key.step(&before, op, outcome).map(Cow::into_owned);
                let r = next.map(|v| self.intern(v)).ok_or(());
                self.writes.borrow_mut().insert(memo_key, r);
                r.ok()?
            }
        };
        let mut s = s.clone();
        s[k] = id;
        Some(Cow::Owned(s))
    }

    fn describe(&self, s: &Self::State) -> String {
        let map: BTreeMap<&str, String> = self
            .keys
            .iter()
            .zip(s)
            .filter_map(|(k, id)| Some((k.as_str(), self.value(*id)?)))
            .collect();
        format!("{map:?}")
    }
}

/// A grow-only set of integers.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetModel;

impl SeqModel for SetModel {
    type State = BTreeSet<u64>;

    fn init(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }

    fn step<'s>(
        &self,
        s: &'s BTreeSet<u64>,
        op: &ClientOp,
        outcome: &Outcome,
    ) -> Option<Cow<'s, BTreeSet<u64>>> {
        match (op, outcome) {
            (ClientOp::SetAdd { element }, Outcome::Ok(OpOutput::Done) | Outcome::Unknown) => {
                let mut s = s.clone();
                s.insert(*element);
                Some(Cow::Owned(s))
            }
            (ClientOp::SetRead, Outcome::Ok(OpOutput::Set(read))) => {
                (read == s).then_some(Cow::Borrowed(s))
            }
            (ClientOp::SetRead, Outcome::Unknown) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }

    fn skip_after_unknown(&self, op: &ClientOp, outcome: &Outcome) -> bool {
        // Adds commute; only an indeterminate add after an indeterminate one is kept, so
        // that several can be placed before the read that sees them.
        matches!(op, ClientOp::SetAdd { .. }) && !matches!(outcome, Outcome::Unknown)
    }

    fn describe(&self, s: &BTreeSet<u64>) -> String {
        format!("{s:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read's outcome (leaked: a test's few bytes).
    fn get(v: Option<&str>) -> Outcome<'static> {
        Outcome::Ok(Box::leak(Box::new(OpOutput::Value {
            value: v.map(str::to_string),
            version: None,
        })))
    }

    /// The state after a step, owned or not.
    fn step(
        m: &KeyModel,
        s: &Option<String>,
        op: &ClientOp,
        o: &Outcome,
    ) -> Option<Option<String>> {
        m.step(s, op, o).map(Cow::into_owned)
    }

    #[test]
    fn register_steps() {
        let m = KeyModel::default();
        let k = || "k".to_string();
        let s = m.init();
        assert_eq!(
            step(&m, &s, &ClientOp::Get { key: k() }, &get(None)),
            Some(None)
        );
        assert_eq!(
            step(&m, &s, &ClientOp::Get { key: k() }, &get(Some(""))),
            None
        );
        let cas = ClientOp::Cas {
            key: k(),
            expected: None,
            new: "1".into(),
        };
        assert_eq!(
            step(&m, &s, &cas, &Outcome::Ok(&OpOutput::Done)),
            Some(Some("1".into()))
        );
        assert_eq!(step(&m, &s, &cas, &Outcome::Mismatch), None);
        assert_eq!(
            step(&m, &Some("2".into()), &cas, &Outcome::Mismatch),
            Some(Some("2".into()))
        );
        // What leaves the state alone borrows it.
        let two = Some("2".to_string());
        assert!(matches!(
            m.step(&two, &cas, &Outcome::Mismatch),
            Some(Cow::Borrowed(_))
        ));
        assert!(matches!(
            m.step(&two, &ClientOp::Get { key: k() }, &get(Some("2"))),
            Some(Cow::Borrowed(_))
        ));
        let empty = KeyModel {
            missing_reads_empty: true,
        };
        assert_eq!(
            step(&empty, &None, &ClientOp::Get { key: k() }, &get(Some(""))),
            Some(None)
        );
        let app = ClientOp::Append {
            key: k(),
            value: "ab".into(),
        };
        assert_eq!(
            step(&empty, &None, &app, &Outcome::Ok(&OpOutput::Done)),
            Some(Some("ab".into()))
        );
    }

    #[test]
    fn model_names_parse() {
        assert_eq!("kv".parse::<Model>(), Ok(Model::Kv));
        assert!("queue".parse::<Model>().unwrap_err().contains("expected"));
    }
}
