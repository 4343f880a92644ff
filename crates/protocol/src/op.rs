//! Client operations: the trait a system's operation vocabulary implements, and how an
//! operation can end.
//!
//! A system serves its own operations (a kv store's get and put, a lock's acquire and
//! release). The harness needs only what [`Op`] says of them: a name for workload mixes
//! and history files, the independent object each touches, whether it only reads, and how
//! Jepsen's history files write it. The sequential model that judges them is a
//! [`crate::Model`].

use std::fmt::{self, Debug, Display};
use std::hash::Hash;

/// One client operation of a system's vocabulary, and what it returns when it succeeds.
///
/// `Display` renders the operation in logs and counterexamples (`put k0=c2-7`), so it
/// should say everything that tells two operations apart.
pub trait Op: Clone + Debug + Display + Eq + Ord + Hash + Send + Sync + 'static {
    /// What a successful operation returned.
    type Output: Clone + Debug + Eq + Hash + Send + Sync + 'static;

    /// The function's name as a workload mix and Jepsen's `:f` write it (`"get"`,
    /// `"acquire"`).
    fn f(&self) -> &'static str;

    /// The independent object the operation touches, if it touches one: operations on
    /// different keys never constrain each other, so checkers judge each key alone
    /// (P-compositionality). `None`: the whole state is one object.
    fn key(&self) -> Option<&str> {
        None
    }

    /// Whether the operation only observes, changing nothing. An unacknowledged read
    /// constrains nothing, and summaries count acknowledged writes apart from reads.
    fn is_read(&self) -> bool;

    /// The invocation's `:value` in a Jepsen history. The default is the display text.
    fn value(&self) -> Datum {
        Datum::Str(self.to_string())
    }

    /// The `:value` of an `ok` completion that returned `output`. The default is its
    /// debug text.
    fn output_value(&self, output: &Self::Output) -> Datum {
        Datum::Str(format!("{output:?}"))
    }

    /// Further fields an `ok` completion's map carries (a read's `:version`).
    fn output_fields(&self, _output: &Self::Output) -> Vec<(&'static str, Datum)> {
        Vec::new()
    }

    /// A short rendering of an `ok` result for reports: `ok "c1-3" (version 4)`.
    fn describe_output(&self, output: &Self::Output) -> String {
        format!("ok {output:?}")
    }
}

/// Data as Jepsen's history files hold it (a subset of EDN): what an operation and its
/// result look like there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Datum {
    Nil,
    Int(i64),
    Str(String),
    Keyword(String),
    Vector(Vec<Datum>),
    Set(Vec<Datum>),
}

/// Why an operation did not succeed, as the node told the client. The same for every
/// vocabulary: it decides how the history records the attempt.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ClientError {
    /// Definitely not applied: ask `hint` (the node's idea of the leader) instead.
    NotLeader { hint: Option<crate::NodeId> },
    /// Definitely not applied: a compare-and-set whose compare did not match. Recorded
    /// as `fail`; a model may still read it as an observation (see
    /// [`crate::Model::fail_observes`]).
    CasMismatch,
    /// Definitely not applied: the operation itself was refused (an absent key, a lock
    /// held by another, an operation the system does not offer). An answer: a liveness
    /// phase counts it as served.
    Rejected(String),
    /// Definitely not applied: the system cannot serve it now (no coordinator, no
    /// quorum before anything was written, too much in flight). A liveness phase counts
    /// it as not served.
    Unavailable(String),
    /// Outcome unknown: the node may or may not have applied it (e.g. a write applied
    /// locally whose replication quorum was not reached). Recorded as `info`.
    Indeterminate(String),
}

impl Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotLeader { hint: Some(h) } => write!(f, "not leader (try {h})"),
            ClientError::NotLeader { hint: None } => f.write_str("not leader"),
            ClientError::CasMismatch => f.write_str("cas mismatch"),
            ClientError::Rejected(why) => write!(f, "rejected: {why}"),
            ClientError::Unavailable(why) => write!(f, "unavailable: {why}"),
            ClientError::Indeterminate(why) => write!(f, "indeterminate: {why}"),
        }
    }
}

/// A node's answer to one request.
pub type ClientResult<T> = Result<T, ClientError>;
