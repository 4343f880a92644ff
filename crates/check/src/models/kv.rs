//! A key-value store: get, put, delete, append and compare-and-set over string keys and
//! values. Its sequential model checks each key as an independent register (a
//! compare-and-set register is the same model restricted to get, put and cas); the whole
//! map as one object ([`MapModel`]) exists only to measure what per-key checking saves.
//!
//! The workload writes values that are whitespace-free tokens unique per operation
//! (`c<client>-<n>`; appends add ` c<client>-<n>`), which is what lets the durability
//! checker find an append's token inside a value.

use protocol::{below, Data, Datum, Model, Op, Outcome, ParamError, Reset, Workload, WorkloadSpec};
use rand_core::RngCore;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub type Key = String;
pub type Value = String;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvModel {
    pub missing_reads_empty: bool,
    /// A `fail` cas ran its compare and found a different value, so it constrains the
    /// order like a read (etcd's `:fail :cas`, per the corpus README). Off: a `fail` only
    /// says the operation did not take effect (e.g. not leader), and is dropped.
    pub fail_cas_is_mismatch: bool,
    /// Only get, put and cas: a compare-and-set register per key.
    pub register: bool,
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
}

impl Model for KvModel {
    type Op = KvOp;
    type State = Option<String>;

    fn name(&self) -> &str {
        if self.register {
            "cas-register"
        } else {
            "kv"
        }
    }

    fn init(&self) -> Option<String> {
        None
    }

    fn step<'s>(
        &self,
        s: &'s Option<String>,
        op: &KvOp,
        outcome: Outcome<'_, KvOutput>,
    ) -> Option<Cow<'s, Option<String>>> {
        let unknown = matches!(outcome, Outcome::Unknown);
        let done = unknown || matches!(outcome, Outcome::Ok(KvOutput::Done));
        let written = |v: &str| Cow::Owned(self.norm(Some(v.to_string())));
        match op {
            KvOp::Get { .. } => match outcome {
                Outcome::Ok(KvOutput::Value { value, .. }) => self
                    .same(s.as_deref(), value.as_deref())
                    .then_some(Cow::Borrowed(s)),
                Outcome::Unknown => Some(Cow::Borrowed(s)),
                _ => None,
            },
            KvOp::Put { value, .. } => done.then(|| written(value)),
            KvOp::Append { value, .. } => done.then(|| {
                let before = s.as_deref().unwrap_or_default();
                let mut v = String::with_capacity(before.len() + value.len());
                v.push_str(before);
                v.push_str(value);
                Cow::Owned(self.norm(Some(v)))
            }),
            KvOp::Delete { .. } => done.then_some(Cow::Owned(None)),
            KvOp::Cas { expected, new, .. } => {
                let matched = self.same(s.as_deref(), expected.as_deref());
                match outcome {
                    Outcome::Ok(KvOutput::Done) => matched.then(|| written(new)),
                    Outcome::Failed => (!matched).then_some(Cow::Borrowed(s)),
                    Outcome::Unknown if matched => Some(written(new)),
                    Outcome::Unknown => Some(Cow::Borrowed(s)),
                    Outcome::Ok(_) => None,
                }
            }
        }
    }

    fn describe(&self, s: &Option<String>) -> String {
        match s {
            Some(v) => format!("{v:?}"),
            None if self.missing_reads_empty => "\"\" (absent)".to_string(),
            None => "absent".to_string(),
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

    /// Between resets only appends change a value, and an append only extends it: a value
    /// read (or compared by a cas that succeeded) later must extend the state now.
    fn can_precede(
        &self,
        s: &Option<String>,
        later: &KvOp,
        outcome: Outcome<'_, KvOutput>,
    ) -> bool {
        let seen = match (later, outcome) {
            (KvOp::Get { .. }, Outcome::Ok(KvOutput::Value { value, .. })) => value,
            (KvOp::Cas { expected, .. }, Outcome::Ok(KvOutput::Done)) => expected,
            _ => return true,
        };
        match (s.as_deref(), seen.as_deref()) {
            // Absent becomes present by an append; present never becomes absent again,
            // unless absent and empty are one (then only the empty value stays so).
            (_, Some(later)) => later.starts_with(s.as_deref().unwrap_or_default()),
            (None, None) => true,
            (Some(now), None) => self.missing_reads_empty && now.is_empty(),
        }
    }

    fn resets(&self, op: &KvOp, outcome: Outcome<'_, KvOutput>) -> Reset<Option<String>> {
        match (op, outcome) {
            // A cas whose compare failed left the state as it was.
            (_, Outcome::Failed) | (KvOp::Get { .. } | KvOp::Append { .. }, _) => Reset::Never,
            (KvOp::Put { value, .. }, _) => Reset::To(Some(value.clone())),
            (KvOp::Cas { new, .. }, _) => Reset::To(Some(new.clone())),
            (KvOp::Delete { .. }, _) => Reset::To(None),
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
    values: RefCell<Interner>,
    /// (value id before, write, outcome) -> value id after (`Err`: impossible), so a
    /// write seen before costs a lookup instead of building and interning a string.
    #[allow(clippy::type_complexity)]
    writes: RefCell<BTreeMap<(Option<u32>, KvOp, u8), Result<Option<u32>, ()>>>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: BTreeMap<String, u32>,
    strings: Vec<String>,
}

impl MapModel {
    /// A map over exactly `keys`.
    pub fn new(key: KvModel, keys: impl IntoIterator<Item = String>) -> MapModel {
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
            let t = self.values.borrow();
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
        m.step(s, op, o).map(Cow::into_owned)
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
        let s = m.init();
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
        let two = Some("2".to_string());
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
