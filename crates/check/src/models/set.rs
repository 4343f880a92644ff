//! A grow-only set of integers: add and read. Systems that store documents (the bully
//! designs) serve it; Jepsen's set checker and durability judge its replicas.

use super::kv::{mix_of, pick};
use protocol::{below, Data, Datum, Model, Op, Outcome, ParamError, Reset, Workload, WorkloadSpec};
use rand_core::RngCore;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

/// Elements are `client * ELEMENT_SPACE + n`, unique across clients.
pub const ELEMENT_SPACE: u64 = 1_000_000;

#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SetOp {
    Add { element: u64 },
    Read,
}

/// What a successful set operation returned.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum SetOutput {
    /// An add took effect.
    Done,
    /// A read: every element present.
    Set(BTreeSet<u64>),
}

impl fmt::Display for SetOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetOp::Add { element } => write!(f, "add {element}"),
            SetOp::Read => f.write_str("read-set"),
        }
    }
}

impl Op for SetOp {
    type Output = SetOutput;

    fn f(&self) -> &'static str {
        match self {
            SetOp::Add { .. } => "add",
            SetOp::Read => "read",
        }
    }

    fn is_read(&self) -> bool {
        matches!(self, SetOp::Read)
    }

    fn value(&self) -> Datum {
        match self {
            SetOp::Add { element } => Datum::Int(*element as i64),
            SetOp::Read => Datum::Nil,
        }
    }

    fn output_value(&self, output: &SetOutput) -> Datum {
        match output {
            SetOutput::Set(s) => Datum::Set(s.iter().map(|x| Datum::Int(*x as i64)).collect()),
            SetOutput::Done => self.value(),
        }
    }

    fn describe_output(&self, output: &SetOutput) -> String {
        match output {
            SetOutput::Done => "ok".to_string(),
            SetOutput::Set(s) => format!("ok {s:?}"),
        }
    }
}

/// A replica's documents: a multiset, sorted, so a document stored twice appears twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Elements(pub Vec<u64>);

impl Elements {
    pub fn distinct(&self) -> BTreeSet<u64> {
        self.0.iter().copied().collect()
    }
}

impl Data for Elements {
    fn difference(&self, other: &Elements) -> String {
        let (x, y) = (&self.0, &other.0);
        let only_a: Vec<&u64> = x.iter().filter(|e| !y.contains(e)).take(5).collect();
        let only_b: Vec<&u64> = y.iter().filter(|e| !x.contains(e)).take(5).collect();
        format!(
            "{} vs {} elements; only in the first {only_a:?}, only in the second {only_b:?}",
            x.len(),
            y.len()
        )
    }
}

/// The set's sequential specification.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetModel;

impl Model for SetModel {
    type Op = SetOp;
    type State = BTreeSet<u64>;

    fn name(&self) -> &str {
        "set"
    }

    fn init(&self) -> BTreeSet<u64> {
        BTreeSet::new()
    }

    fn step<'s>(
        &self,
        s: &'s BTreeSet<u64>,
        op: &SetOp,
        outcome: Outcome<'_, SetOutput>,
    ) -> Option<Cow<'s, BTreeSet<u64>>> {
        match (op, outcome) {
            (SetOp::Add { element }, Outcome::Ok(SetOutput::Done) | Outcome::Unknown) => {
                let mut s = s.clone();
                s.insert(*element);
                Some(Cow::Owned(s))
            }
            (SetOp::Read, Outcome::Ok(SetOutput::Set(read))) => {
                (read == s).then_some(Cow::Borrowed(s))
            }
            (SetOp::Read, Outcome::Unknown) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }

    fn vocabulary(&self) -> String {
        "add or read of the set".to_string()
    }

    /// A B-tree spends about twice an element's size on each.
    fn heap_bytes(&self, s: &BTreeSet<u64>) -> usize {
        s.len() * 2 * std::mem::size_of::<u64>()
    }

    /// Adds only grow the set: a set read later must contain the set now.
    fn can_precede(
        &self,
        s: &BTreeSet<u64>,
        later: &SetOp,
        outcome: Outcome<'_, SetOutput>,
    ) -> bool {
        match (later, outcome) {
            (SetOp::Read, Outcome::Ok(SetOutput::Set(read))) => s.is_subset(read),
            _ => true,
        }
    }

    fn resets(&self, _op: &SetOp, _outcome: Outcome<'_, SetOutput>) -> Reset<BTreeSet<u64>> {
        Reset::Never
    }

    fn skip_after_unknown(&self, op: &SetOp, outcome: Outcome<'_, SetOutput>) -> bool {
        // Adds commute; only an indeterminate add after an indeterminate one is kept, so
        // that several can be placed before the read that sees them.
        matches!(op, SetOp::Add { .. }) && !matches!(outcome, Outcome::Unknown)
    }
}

/// Every operation a set mix may weight.
pub const OPS: &[&str] = &["add", "read"];

/// The mix when a scenario names none of the set operations.
const DEFAULT_MIX: &[(&str, u32)] = &[("add", 4), ("read", 1)];

/// One client's set operations: adds of elements unique to the client, and reads.
#[derive(Clone, Debug)]
pub struct SetWorkload {
    client: u32,
    mix: Vec<(&'static str, u32)>,
    total: u64,
    keys: u32,
    counter: u64,
}

impl SetWorkload {
    pub fn new(spec: &WorkloadSpec, client: u32) -> Result<SetWorkload, ParamError> {
        let mix = mix_of(spec, OPS, DEFAULT_MIX);
        Ok(SetWorkload {
            client,
            total: mix.iter().map(|(_, w)| u64::from(*w)).sum(),
            mix,
            keys: spec.keys,
            counter: 0,
        })
    }
}

impl Workload for SetWorkload {
    type Op = SetOp;
    const NAME: &'static str = "set";
    const OPS: &'static [&'static str] = OPS;

    fn next(&mut self, rng: &mut dyn RngCore) -> SetOp {
        let chosen = pick(rng, &self.mix, self.total);
        self.counter += 1;
        // A key is drawn as the kv workload draws one, though the set has none: a
        // client's stream of draws is the same for both, so the histories of set systems
        // stay those recorded when both workloads were one.
        let _ = below(rng, u64::from(self.keys));
        match chosen {
            "add" => SetOp::Add {
                element: u64::from(self.client) * ELEMENT_SPACE + self.counter,
            },
            "read" => SetOp::Read,
            other => unreachable!("the mix holds set operations only, not {other:?}"),
        }
    }
}
