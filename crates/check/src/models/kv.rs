//! A key-value store: get, put, delete, append and compare-and-set over string keys and
//! values. Its sequential model checks each key as an independent register (a
//! compare-and-set register is the same model restricted to get, put and cas); the whole
//! map as one object ([`MapModel`]) exists only to measure what per-key checking saves.
//!
//! The workload writes values that are whitespace-free tokens unique per operation
//! (`c<client>-<n>`; appends add ` c<client>-<n>`), which is what lets the durability
//! checker find an append's token inside a value.

use protocol::{
    below, Data, Datum, Ended, Model, Op, Outcome, ParamError, Reset, Workload, WorkloadSpec,
};
use rand_core::RngCore;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

pub type Key = String;
pub type Value = String;

#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum KvOp {
    Get {
        key: Key,
    },
    Put {
        key: Key,
        value: Value,
    },
    Delete {
        key: Key,
    },
    /// Appends `value` to the key's current value (absent reads as empty).
    Append {
        key: Key,
        value: Value,
    },
    /// Writes `new` if the key holds `expected` (`None`: absent); fails otherwise.
    Cas {
        key: Key,
        expected: Option<Value>,
        new: Value,
    },
}

/// What a successful kv operation returned.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum KvOutput {
    /// A write (put, delete, append, cas) took effect.
    Done,
    /// A get: the value (`None`: absent) and, where the system exposes one, its version,
    /// which the session-guarantee checkers order reads by.
    Value {
        value: Option<Value>,
        version: Option<u64>,
    },
}

impl KvOp {
    pub fn key_str(&self) -> &str {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Delete { key }
            | KvOp::Append { key, .. }
            | KvOp::Cas { key, .. } => key,
        }
    }

    /// Whether the operation replaces the key's value outright (an append only adds).
    pub fn is_overwrite(&self) -> bool {
        matches!(
            self,
            KvOp::Put { .. } | KvOp::Delete { .. } | KvOp::Cas { .. }
        )
    }
}

impl fmt::Display for KvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvOp::Get { key } => write!(f, "get {key}"),
            KvOp::Put { key, value } => write!(f, "put {key}={value}"),
            KvOp::Delete { key } => write!(f, "delete {key}"),
            KvOp::Append { key, value } => write!(f, "append {key}+={value}"),
            KvOp::Cas { key, expected, new } => {
                write!(
                    f,
                    "cas {key} {}->{new}",
                    expected.as_deref().unwrap_or("nil")
                )
            }
        }
    }
}

fn opt_str(v: &Option<String>) -> Datum {
    v.clone().map_or(Datum::Nil, Datum::Str)
}

impl Op for KvOp {
    type Output = KvOutput;

    fn f(&self) -> &'static str {
        match self {
            KvOp::Get { .. } => "get",
            KvOp::Put { .. } => "put",
            KvOp::Delete { .. } => "delete",
            KvOp::Append { .. } => "append",
            KvOp::Cas { .. } => "cas",
        }
    }

    fn key(&self) -> Option<&str> {
        Some(self.key_str())
    }

    fn is_read(&self) -> bool {
        matches!(self, KvOp::Get { .. })
    }

    fn value(&self) -> Datum {
        match self {
            KvOp::Get { .. } | KvOp::Delete { .. } => Datum::Nil,
            KvOp::Put { value, .. } | KvOp::Append { value, .. } => Datum::Str(value.clone()),
            KvOp::Cas { expected, new, .. } => {
                Datum::Vector(vec![opt_str(expected), Datum::Str(new.clone())])
            }
        }
    }

    fn output_value(&self, output: &KvOutput) -> Datum {
        match output {
            KvOutput::Value { value, .. } => opt_str(value),
            KvOutput::Done => self.value(),
        }
    }

    fn output_fields(&self, output: &KvOutput) -> Vec<(&'static str, Datum)> {
        match output {
            KvOutput::Value {
                version: Some(v), ..
            } => vec![("version", Datum::Int(*v as i64))],
            _ => Vec::new(),
        }
    }

    fn describe_output(&self, output: &KvOutput) -> String {
        match output {
            KvOutput::Done => "ok".to_string(),
            KvOutput::Value { value, version } => {
                let v = value
                    .as_deref()
                    .map_or("nil".to_string(), |v| format!("{v:?}"));
                match version {
                    Some(n) => format!("ok {v} (version {n})"),
                    None => format!("ok {v}"),
                }
            }
        }
    }
}

/// A replica's key-value data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct KvState(pub BTreeMap<Key, Value>);

impl Data for KvState {
    fn difference(&self, other: &KvState) -> String {
        let (x, y) = (&self.0, &other.0);
        let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            if x.get(k) != y.get(k) {
                return format!("key {k}: {:?} vs {:?}", x.get(k), y.get(k));
            }
        }
        "same keys and values".into()
    }
}

/// One key's value, checked key by key. With `missing_reads_empty` (Porcupine's kv lab),
/// a missing key reads as the empty string, so absent and `""` are the same state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvModel {
    pub missing_reads_empty: bool,
    /// A `fail` cas ran its compare and found a different value, so it constrains the
    /// order like a read (etcd's `:fail :cas`, per the corpus README). Off: a `fail` only
    /// says the operation did not take effect (e.g. not leader), and is dropped.
    pub fail_cas_is_mismatch: bool,
    /// Only get, put and cas: a compare-and-set register per key.
    pub register: bool,
    /// What one key's history shows, once narrowed to it ([`Model::narrow`]); the
    /// default, nothing, for a model given to the checker.
    pub narrowing: Narrowed,
}

/// A narrowing ([`KvModel::narrowing`]): made only by [`Model::narrow`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Narrowed(Option<Arc<Narrowing>>);

/// A key's state in the search.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    Absent,
    Value(String),
    /// Some value that no read or compare-and-set of the history shows, nor any value
    /// appends could make of it: what a narrowed model's memo keeps for every such
    /// value ([`Model::merge`]). Which one does not matter: from any of them no read or
    /// cas that succeeded can follow, appends keep it unseen and a blind overwrite leads
    /// on alike; so orders of writes nobody saw, which all end in such values, are
    /// explored once.
    Unseen,
}

impl KeyState {
    /// The value, for a state of a model that was not narrowed (never [`KeyState::Unseen`]).
    pub fn value(&self) -> Option<&str> {
        match self {
            KeyState::Absent => None,
            KeyState::Value(v) => Some(v),
            KeyState::Unseen => unreachable!("only a narrowed model reaches an unseen value"),
        }
    }
}

/// What a key's history shows ([`KvModel::narrow`]).
#[derive(Debug, PartialEq, Eq)]
struct Narrowing {
    /// Every value a read returns or a compare-and-set compares with, sorted, none a
    /// prefix of another kept. A value can still be seen while it is a prefix of one of
    /// them: only appends change a value between overwrites, and they only extend it.
    seen: Vec<String>,
    /// What indeterminate writes wrote (a put's value, an append's suffix, a cas's new
    /// value) where no seen value contains it: the search leaves them out. By hash,
    /// sorted, with the strings to confirm a hit (steps ask often).
    unseen_writes: Vec<(u64, String)>,
}

/// Values scanned at most ([`KvModel::narrow`]): past it, indeterminate writes stay in.
const SCAN_BUDGET: usize = 1 << 26;

/// Longest value a narrowed step folds into [`KeyState::Unseen`] (see `KvModel::fold`).
const FOLD_MAX: usize = 256;

/// How a step leaves the state.
enum Next {
    Same,
    To(Option<String>),
}

impl KvModel {
    /// The compare-and-set register: get, put and cas.
    pub fn register() -> KvModel {
        KvModel {
            register: true,
            ..KvModel::default()
        }
    }

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

    /// The state holding `v`.
    fn state_of(&self, v: Option<String>) -> KeyState {
        match self.norm(v) {
            None => KeyState::Absent,
            Some(v) => KeyState::Value(v),
        }
    }

    /// `s`, or [`KeyState::Unseen`] if narrowed, nothing can see it and that is cheap to
    /// tell. Folding in the step, not only in the memo ([`Model::merge`]), lets the
    /// search treat appends to an unseen value as changing nothing; a long value is left
    /// for the memo to merge, as telling costs a comparison per byte.
    fn fold(&self, s: KeyState) -> KeyState {
        match (&s, self.narrowing.0.as_ref()) {
            (KeyState::Value(v), Some(n)) if v.len() <= FOLD_MAX && !n.may_see(v) => {
                KeyState::Unseen
            }
            _ => s,
        }
    }

    /// What `op` writes, if it writes a value.
    fn written(op: &KvOp) -> Option<&str> {
        match op {
            KvOp::Put { value, .. } | KvOp::Append { value, .. } => Some(value),
            KvOp::Cas { new, .. } => Some(new),
            KvOp::Get { .. } | KvOp::Delete { .. } => None,
        }
    }

    /// A step from a known value (`None`: absent).
    fn step_value(
        &self,
        now: Option<&str>,
        op: &KvOp,
        outcome: Outcome<'_, KvOutput>,
    ) -> Option<Next> {
        let unknown = matches!(outcome, Outcome::Unknown);
        let done = unknown || matches!(outcome, Outcome::Ok(KvOutput::Done));
        match op {
            KvOp::Get { .. } => match outcome {
                Outcome::Ok(KvOutput::Value { value, .. }) => {
                    self.same(now, value.as_deref()).then_some(Next::Same)
                }
                Outcome::Unknown => Some(Next::Same),
                _ => None,
            },
            KvOp::Put { value, .. } => done.then(|| Next::To(Some(value.clone()))),
            KvOp::Append { value, .. } => done.then(|| {
                let before = now.unwrap_or_default();
                let mut v = String::with_capacity(before.len() + value.len());
                v.push_str(before);
                v.push_str(value);
                Next::To(Some(v))
            }),
            KvOp::Delete { .. } => done.then_some(Next::To(None)),
            KvOp::Cas { expected, new, .. } => {
                let matched = self.same(now, expected.as_deref());
                match outcome {
                    Outcome::Ok(KvOutput::Done) => matched.then(|| Next::To(Some(new.clone()))),
                    Outcome::Failed => (!matched).then_some(Next::Same),
                    Outcome::Unknown if matched => Some(Next::To(Some(new.clone()))),
                    Outcome::Unknown => Some(Next::Same),
                    Outcome::Ok(_) => None,
                }
            }
        }
    }

    /// A step from [`KeyState::Unseen`]: whatever the value is, no read or cas that
    /// succeeded can have seen it (what they saw is seen), a failed or indeterminate cas
    /// did not match it, appends keep it unseen, and a blind overwrite leads on.
    fn step_unseen(op: &KvOp, outcome: Outcome<'_, KvOutput>) -> Option<Next> {
        let done = matches!(outcome, Outcome::Unknown | Outcome::Ok(KvOutput::Done));
        match (op, outcome) {
            (KvOp::Get { .. } | KvOp::Cas { .. }, Outcome::Ok(_)) => None,
            (KvOp::Get { .. } | KvOp::Cas { .. } | KvOp::Append { .. }, _) => Some(Next::Same),
            (KvOp::Put { value, .. }, _) => done.then(|| Next::To(Some(value.clone()))),
            (KvOp::Delete { .. }, _) => done.then_some(Next::To(None)),
        }
    }
}

impl Narrowing {
    /// What `ops` (one key's) show.
    fn of(ops: &[Ended<'_, KvOp>], fail_observes: bool) -> Narrowing {
        let mut seen: Vec<String> = Vec::new();
        for (op, outcome) in ops {
            match (op, outcome) {
                (KvOp::Get { .. }, Outcome::Ok(KvOutput::Value { value: Some(v), .. }))
                | (
                    KvOp::Cas {
                        expected: Some(v), ..
                    },
                    _,
                ) => seen.push(v.clone()),
                _ => {}
            }
        }
        seen.sort_unstable();
        seen.dedup();
        // A value that is a prefix of the next adds nothing to either question asked.
        let mut kept: Vec<String> = Vec::with_capacity(seen.len());
        for v in seen.into_iter().rev() {
            if !kept.last().is_some_and(|next| next.starts_with(&v)) {
                kept.push(v);
            }
        }
        kept.reverse();
        // With failures that observe, leaving a write out could make one match: keep all.
        let failures = fail_observes && ops.iter().any(|(_, o)| matches!(o, Outcome::Failed));
        let unknown_writes: Vec<&str> = ops
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Unknown))
            .filter_map(|(op, _)| KvModel::written(op))
            .filter(|w| !w.is_empty())
            .collect();
        let scanned = kept.iter().map(String::len).sum::<usize>() * unknown_writes.len();
        let mut unseen_writes: Vec<(u64, String)> = if failures || scanned > SCAN_BUDGET {
            Vec::new()
        } else {
            (unknown_writes.into_iter())
                .filter(|w| !kept.iter().any(|v| v.contains(w)))
                .map(|w| (hash(w), w.to_string()))
                .collect()
        };
        unseen_writes.sort_unstable();
        unseen_writes.dedup();
        Narrowing {
            seen: kept,
            unseen_writes,
        }
    }

    /// Whether `v`, or a value appends make of it, is seen.
    fn may_see(&self, v: &str) -> bool {
        let at = self.seen.partition_point(|s| s.as_str() < v);
        self.seen.get(at).is_some_and(|s| s.starts_with(v))
    }

    fn unseen_write(&self, w: &str) -> bool {
        if self.unseen_writes.is_empty() {
            return false;
        }
        let h = hash(w);
        let at = self.unseen_writes.partition_point(|x| x.0 < h);
        (self.unseen_writes[at..].iter())
            .take_while(|x| x.0 == h)
            .any(|x| x.1 == w)
    }
}

/// A string's FNV-1a hash: fixed, so the same on every run.
fn hash(w: &str) -> u64 {
    w.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Model for KvModel {
    type Op = KvOp;
    type State = KeyState;

    fn name(&self) -> &str {
        if self.register {
            "cas-register"
        } else {
            "kv"
        }
    }

    fn init(&self) -> KeyState {
        KeyState::Absent
    }

    fn step<'s>(
        &self,
        s: &'s KeyState,
        op: &KvOp,
        outcome: Outcome<'_, KvOutput>,
    ) -> Option<Cow<'s, KeyState>> {
        let unseen_write = || {
            let n = self.narrowing.0.as_ref();
            KvModel::written(op).is_some_and(|w| n.is_some_and(|n| n.unseen_write(w)))
        };
        let next = if matches!(outcome, Outcome::Unknown) && unseen_write() {
            // Nothing could have seen it: left out (see `Narrowing::unseen_writes`).
            Some(Next::Same)
        } else {
            match s {
                KeyState::Absent => self.step_value(None, op, outcome),
                KeyState::Value(v) => self.step_value(Some(v), op, outcome),
                KeyState::Unseen => KvModel::step_unseen(op, outcome),
            }
        };
        Some(match next? {
            Next::Same => Cow::Borrowed(s),
            Next::To(v) => Cow::Owned(self.fold(self.state_of(v))),
        })
    }

    fn describe(&self, s: &KeyState) -> String {
        match s {
            KeyState::Value(v) => format!("{v:?}"),
            KeyState::Absent if self.missing_reads_empty => "\"\" (absent)".to_string(),
            KeyState::Absent => "absent".to_string(),
            KeyState::Unseen => "a value that no read or compare-and-set shows".to_string(),
        }
    }

    /// Values no operation of the key's history shows are one state to the memo.
    fn merge<'s>(&self, s: &'s KeyState) -> Cow<'s, KeyState> {
        match (s, self.narrowing.0.as_ref()) {
            (KeyState::Value(v), Some(n)) if !n.may_see(v) => Cow::Owned(KeyState::Unseen),
            _ => Cow::Borrowed(s),
        }
    }

    fn heap_bytes(&self, s: &KeyState) -> usize {
        match s {
            KeyState::Value(v) => v.capacity(),
            KeyState::Absent | KeyState::Unseen => 0,
        }
    }

    fn accepts(&self, op: &KvOp) -> bool {
        !self.register || matches!(op, KvOp::Get { .. } | KvOp::Put { .. } | KvOp::Cas { .. })
    }

    fn vocabulary(&self) -> String {
        if self.register {
            "get, put (write) or cas".to_string()
        } else {
            "get, put, append, delete or cas".to_string()
        }
    }

    fn fail_observes(&self, op: &KvOp) -> bool {
        self.fail_cas_is_mismatch && matches!(op, KvOp::Cas { .. })
    }

    fn skip_after_unknown(&self, op: &KvOp, _outcome: Outcome<'_, KvOutput>) -> bool {
        matches!(op, KvOp::Put { .. } | KvOp::Delete { .. })
    }

    /// Values no operation of the key's history shows merge into [`KeyState::Unseen`], and
    /// indeterminate writes that no read or compare could have seen are left out: their
    /// value, or appended suffix, occurs in no value seen. (A write's effect lasts until
    /// an overwrite, and everything between sees a value containing what it wrote; so
    /// any order with such a write in stays an order without it.)
    fn narrow(&self, ops: &[Ended<'_, KvOp>]) -> Option<KvModel> {
        Some(KvModel {
            narrowing: Narrowed(Some(Arc::new(Narrowing::of(
                ops,
                self.fail_cas_is_mismatch,
            )))),
            ..self.clone()
        })
    }

    /// Between resets only appends change a value, and an append only extends it: a value
    /// read (or compared by a cas that succeeded) later must extend the state now.
    fn can_precede(&self, s: &KeyState, later: &KvOp, outcome: Outcome<'_, KvOutput>) -> bool {
        let seen = match (later, outcome) {
            (KvOp::Get { .. }, Outcome::Ok(KvOutput::Value { value, .. })) => value,
            // Indeterminate: asked as if it took effect (see `Model::can_precede`).
            (KvOp::Cas { expected, .. }, Outcome::Ok(KvOutput::Done) | Outcome::Unknown) => {
                expected
            }
            _ => return true,
        };
        let now = match s {
            KeyState::Absent => None,
            KeyState::Value(v) => Some(v.as_str()),
            KeyState::Unseen => return false,
        };
        match (now, seen.as_deref()) {
            // Absent becomes present by an append; present never becomes absent again,
            // unless absent and empty are one (then only the empty value stays so).
            (_, Some(later)) => later.starts_with(now.unwrap_or_default()),
            (None, None) => true,
            (Some(now), None) => self.missing_reads_empty && now.is_empty(),
        }
    }

    fn resets(&self, op: &KvOp, outcome: Outcome<'_, KvOutput>) -> Reset<KeyState> {
        match (op, outcome) {
            // A cas whose compare failed left the state as it was.
            (_, Outcome::Failed) | (KvOp::Get { .. } | KvOp::Append { .. }, _) => Reset::Never,
            (KvOp::Put { value, .. }, _) => Reset::To(self.state_of(Some(value.clone()))),
            (KvOp::Cas { new, .. }, _) => Reset::To(self.state_of(Some(new.clone()))),
            (KvOp::Delete { .. }, _) => Reset::To(KeyState::Absent),
        }
    }
}

/// The whole map as one object: used only to measure what partitioning per key saves.
/// Keys are numbered and values interned, so a state is a small vector of ids that is
/// cheap to clone, hash and compare; ids are handed out in the order the (deterministic)
/// search first produces each value.
#[derive(Debug, Default)]
pub struct MapModel {
    pub key: KvModel,
    keys: Vec<String>,
    values: Mutex<Interner>,
    /// (value id before, write, outcome) -> value id after (`Err`: impossible), so a
    /// write seen before costs a lookup instead of building and interning a string.
    #[allow(clippy::type_complexity)]
    writes: Mutex<BTreeMap<(Option<u32>, KvOp, u8), Result<Option<u32>, ()>>>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: BTreeMap<String, u32>,
    strings: Vec<String>,
}

/// A lock on one of the map model's tables (locks, not cells: a model may be shared by
/// the threads checking keys apart, though this one is one object and never is).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("no step panics while it holds a table")
}

impl MapModel {
    /// A map over exactly `keys`.
    pub fn new(key: KvModel, keys: impl IntoIterator<Item = String>) -> MapModel {
        let keys: BTreeSet<String> = keys.into_iter().collect();
        MapModel {
            key,
            keys: keys.into_iter().collect(),
            values: Mutex::new(Interner::default()),
            writes: Mutex::new(BTreeMap::new()),
        }
    }

    fn intern(&self, v: Option<String>) -> Option<u32> {
        let v = v?;
        let mut t = lock(&self.values);
        if let Some(id) = t.ids.get(&v) {
            return Some(*id);
        }
        let id = t.strings.len() as u32;
        t.strings.push(v.clone());
        t.ids.insert(v, id);
        Some(id)
    }

    fn value(&self, id: Option<u32>) -> Option<String> {
        id.map(|i| lock(&self.values).strings[i as usize].clone())
    }
}

impl Model for MapModel {
    /// Value id per key (in key order); `None`: absent.
    type Op = KvOp;
    type State = Vec<Option<u32>>;

    fn name(&self) -> &str {
        self.key.name()
    }

    fn init(&self) -> Self::State {
        vec![None; self.keys.len()]
    }

    fn step<'s>(
        &self,
        s: &'s Self::State,
        op: &KvOp,
        outcome: Outcome<'_, KvOutput>,
    ) -> Option<Cow<'s, Self::State>> {
        let key = op.key_str();
        let k = self.keys.binary_search_by(|x| x.as_str().cmp(key)).ok()?;
        if let (KvOp::Get { .. }, Outcome::Ok(KvOutput::Value { value, .. })) = (op, outcome) {
            // Reads are most steps: compare in place rather than copy the value out.
            let t = lock(&self.values);
            let cur = s[k].map(|id| t.strings[id as usize].as_str());
            return self
                .key
                .same(cur, value.as_deref())
                .then_some(Cow::Borrowed(s));
        }
        let kind = match outcome {
            Outcome::Ok(_) => 0,
            Outcome::Failed => 1,
            Outcome::Unknown => 2,
        };
        let memo_key = (s[k], op.clone(), kind);
        let known = lock(&self.writes).get(&memo_key).copied();
        let id = match known {
            Some(r) => r.ok()?,
            None => {
                let before = self.key.state_of(self.value(s[k]));
                let next = self.key.step(&before, op, outcome).map(Cow::into_owned);
                let r = next
                    .map(|v| self.intern(v.value().map(str::to_string)))
                    .ok_or(());
                lock(&self.writes).insert(memo_key, r);
                r.ok()?
            }
        };
        let mut s = s.clone();
        s[k] = id;
        Some(Cow::Owned(s))
    }

    fn heap_bytes(&self, s: &Self::State) -> usize {
        s.capacity() * std::mem::size_of::<Option<u32>>()
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

    /// The whole map is one object.
    fn partition<'o>(&self, _op: &'o KvOp) -> Option<&'o str> {
        None
    }

    fn accepts(&self, op: &KvOp) -> bool {
        self.key.accepts(op)
    }

    fn vocabulary(&self) -> String {
        self.key.vocabulary()
    }

    fn fail_observes(&self, op: &KvOp) -> bool {
        self.key.fail_observes(op)
    }
}

/// Every operation a kv mix may weight.
pub const OPS: &[&str] = &["get", "put", "delete", "append", "cas"];

/// The mix when a scenario names none of the kv operations.
const DEFAULT_MIX: &[(&str, u32)] = &[("get", 4), ("put", 4), ("append", 1), ("cas", 1)];

/// One client's kv operations: a weighted mix over `keys` keys, values unique per
/// client and operation, and each cas expecting the value the client last saw.
#[derive(Clone, Debug)]
pub struct KvWorkload {
    client: u32,
    mix: Vec<(&'static str, u32)>,
    total: u64,
    keys: u32,
    counter: u64,
    /// Last value this client saw per key, so a cas has a plausible `expected`.
    seen: BTreeMap<String, Option<String>>,
}

/// The weights of `spec.mix` over `ops`, in name order (zero weights and names `ops` does
/// not serve left out), or `default` when that leaves nothing.
pub fn mix_of(
    spec: &WorkloadSpec,
    ops: &'static [&'static str],
    default: &[(&'static str, u32)],
) -> Vec<(&'static str, u32)> {
    let mix: Vec<(&'static str, u32)> = spec
        .mix
        .iter()
        .filter(|(_, w)| **w > 0)
        .filter_map(|(name, w)| ops.iter().find(|o| **o == name).map(|o| (*o, *w)))
        .collect();
    if mix.is_empty() {
        default.to_vec()
    } else {
        mix
    }
}

/// Picks an entry of `mix` by weight; `total` is the sum of the weights.
pub fn pick(rng: &mut dyn RngCore, mix: &[(&'static str, u32)], total: u64) -> &'static str {
    let mut pick = below(rng, total);
    for (name, w) in mix {
        if pick < u64::from(*w) {
            return name;
        }
        pick -= u64::from(*w);
    }
    unreachable!("a draw below the total weight falls on an entry")
}

impl KvWorkload {
    pub fn new(spec: &WorkloadSpec, client: u32) -> Result<KvWorkload, ParamError> {
        if spec.keys == 0 {
            return Err(ParamError {
                name: "workload.keys".into(),
                value: "0".into(),
                expected: "at least 1 key".into(),
            });
        }
        let mix = mix_of(spec, OPS, DEFAULT_MIX);
        Ok(KvWorkload {
            client,
            total: mix.iter().map(|(_, w)| u64::from(*w)).sum(),
            mix,
            keys: spec.keys,
            counter: 0,
            seen: BTreeMap::new(),
        })
    }
}

/// Appends `n` in decimal, as `{n}` would format it (this runs per operation).
fn push_decimal(s: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(std::str::from_utf8(&digits[i..]).expect("ASCII digits"));
}

/// `seen[key] = value`, copying the key only the first time it is seen.
fn remember(seen: &mut BTreeMap<String, Option<String>>, key: &str, value: Option<String>) {
    match seen.get_mut(key) {
        Some(slot) => *slot = value,
        None => {
            seen.insert(key.to_string(), value);
        }
    }
}

impl Workload for KvWorkload {
    type Op = KvOp;
    const NAME: &'static str = "kv";
    const OPS: &'static [&'static str] = OPS;

    fn next(&mut self, rng: &mut dyn RngCore) -> KvOp {
        let chosen = pick(rng, &self.mix, self.total);
        self.counter += 1;
        // `k<n>` and `c<client>-<counter>`, built by hand rather than with `format!`.
        let mut key = String::with_capacity(8);
        key.push('k');
        push_decimal(&mut key, below(rng, u64::from(self.keys)));
        let mut value = String::with_capacity(16);
        value.push('c');
        push_decimal(&mut value, u64::from(self.client));
        value.push('-');
        push_decimal(&mut value, self.counter);
        match chosen {
            "get" => KvOp::Get { key },
            "put" => KvOp::Put { key, value },
            "delete" => KvOp::Delete { key },
            // A leading space keeps every appended token separable from what was there.
            "append" => KvOp::Append {
                key,
                value: {
                    let mut spaced = String::with_capacity(value.len() + 1);
                    spaced.push(' ');
                    spaced.push_str(&value);
                    spaced
                },
            },
            "cas" => {
                let expected = self.seen.get(&key).cloned().flatten();
                KvOp::Cas {
                    key,
                    expected,
                    new: value,
                }
            }
            other => unreachable!("the mix holds kv operations only, not {other:?}"),
        }
    }

    fn observe(&mut self, op: &KvOp, output: &KvOutput) {
        match (op, output) {
            (KvOp::Get { key }, KvOutput::Value { value, .. }) => {
                remember(&mut self.seen, key, value.clone())
            }
            (
                KvOp::Put { key, value }
                | KvOp::Cas {
                    key, new: value, ..
                },
                _,
            ) => remember(&mut self.seen, key, Some(value.clone())),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(
        m: &KvModel,
        s: &Option<String>,
        op: &KvOp,
        o: Outcome<'_, KvOutput>,
    ) -> Option<Option<String>> {
        let s = m.state_of(s.clone());
        m.step(&s, op, o).map(|s| s.value().map(str::to_string))
    }

    fn read(v: Option<&str>) -> KvOutput {
        KvOutput::Value {
            value: v.map(str::to_string),
            version: None,
        }
    }

    #[test]
    fn register_steps() {
        let m = KvModel::default();
        let k = || "k".to_string();
        let s = None;
        let get = KvOp::Get { key: k() };
        assert_eq!(step(&m, &s, &get, Outcome::Ok(&read(None))), Some(None));
        assert_eq!(step(&m, &s, &get, Outcome::Ok(&read(Some("")))), None);
        let cas = KvOp::Cas {
            key: k(),
            expected: None,
            new: "1".into(),
        };
        assert_eq!(
            step(&m, &s, &cas, Outcome::Ok(&KvOutput::Done)),
            Some(Some("1".into()))
        );
        assert_eq!(step(&m, &s, &cas, Outcome::Failed), None);
        assert_eq!(
            step(&m, &Some("2".into()), &cas, Outcome::Failed),
            Some(Some("2".into()))
        );
        // What leaves the state alone borrows it.
        let two = KeyState::Value("2".to_string());
        assert!(matches!(
            m.step(&two, &cas, Outcome::Failed),
            Some(Cow::Borrowed(_))
        ));
        assert!(matches!(
            m.step(&two, &get, Outcome::Ok(&read(Some("2")))),
            Some(Cow::Borrowed(_))
        ));
        let empty = KvModel {
            missing_reads_empty: true,
            ..KvModel::default()
        };
        assert_eq!(
            step(&empty, &None, &get, Outcome::Ok(&read(Some("")))),
            Some(None)
        );
        let app = KvOp::Append {
            key: k(),
            value: "ab".into(),
        };
        assert_eq!(
            step(&empty, &None, &app, Outcome::Ok(&KvOutput::Done)),
            Some(Some("ab".into()))
        );
    }

    #[test]
    fn the_register_accepts_get_put_and_cas_only() {
        let r = KvModel::register();
        assert_eq!(r.name(), "cas-register");
        assert!(r.accepts(&KvOp::Get { key: "a".into() }));
        assert!(!r.accepts(&KvOp::Delete { key: "a".into() }));
        assert!(KvModel::default().accepts(&KvOp::Delete { key: "a".into() }));
    }

    #[test]
    fn a_mix_of_other_operations_runs_the_default_mix() {
        let spec = |mix: &[(&str, u32)]| WorkloadSpec {
            clients: 1,
            keys: 1,
            mix: mix.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        };
        assert_eq!(mix_of(&spec(&[("add", 3)]), OPS, DEFAULT_MIX), DEFAULT_MIX);
        assert_eq!(
            mix_of(
                &spec(&[("put", 2), ("get", 1), ("cas", 0)]),
                OPS,
                DEFAULT_MIX
            ),
            [("get", 1), ("put", 2)]
        );
        assert!(
            KvWorkload::new(&WorkloadSpec::default(), 0).is_err(),
            "no keys"
        );
    }

    #[test]
    fn push_decimal_formats_like_display() {
        for n in [0, 1, 9, 10, 42, 1_000_000, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn a_cas_expects_what_the_client_last_saw() {
        let spec = WorkloadSpec {
            clients: 1,
            keys: 1,
            mix: [("cas".to_string(), 1)].into(),
        };
        let mut w = KvWorkload::new(&spec, 0).unwrap();
        let mut rng = protocol::split_mix(3);
        w.observe(&KvOp::Get { key: "k0".into() }, &read(Some("c9-1")));
        let KvOp::Cas { expected, new, .. } = w.next(&mut rng) else {
            panic!("a cas-only mix")
        };
        assert_eq!((expected.as_deref(), new.as_str()), (Some("c9-1"), "c0-1"));
    }
}
