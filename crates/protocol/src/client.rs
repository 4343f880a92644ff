//! Client operations and their results.
//!
//! Two workloads share one vocabulary: a key-value store (get, put, delete, append, cas)
//! and a grow-only set (add, read). A compare-and-set register is the kv model on one key.

use std::collections::BTreeSet;
use std::fmt;

pub type Key = String;
pub type Value = String;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientOp {
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
    SetAdd {
        element: u64,
    },
    SetRead,
}

impl ClientOp {
    /// The key the operation touches; set operations all touch the one set.
    pub fn key(&self) -> Option<&str> {
        match self {
            ClientOp::Get { key }
            | ClientOp::Put { key, .. }
            | ClientOp::Delete { key }
            | ClientOp::Append { key, .. }
            | ClientOp::Cas { key, .. } => Some(key),
            ClientOp::SetAdd { .. } | ClientOp::SetRead => None,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, ClientOp::Get { .. } | ClientOp::SetRead)
    }
}

impl fmt::Display for ClientOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientOp::Get { key } => write!(f, "get {key}"),
            ClientOp::Put { key, value } => write!(f, "put {key}={value}"),
            ClientOp::Delete { key } => write!(f, "delete {key}"),
            ClientOp::Append { key, value } => write!(f, "append {key}+={value}"),
            ClientOp::Cas { key, expected, new } => {
                write!(
                    f,
                    "cas {key} {}->{new}",
                    expected.as_deref().unwrap_or("nil")
                )
            }
            ClientOp::SetAdd { element } => write!(f, "add {element}"),
            ClientOp::SetRead => write!(f, "read-set"),
        }
    }
}

/// What a successful operation returned.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpOutput {
    /// A write (put, delete, append, cas, add) took effect.
    Done,
    /// A get: the value (`None`: absent) and, where the system exposes one, its version,
    /// which the session-guarantee checkers order reads by.
    Value {
        value: Option<Value>,
        version: Option<u64>,
    },
    /// A set read: every element present.
    Set(BTreeSet<u64>),
}

/// Why an operation did not succeed, as the node told the client.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientError {
    /// Definitely not applied: ask `hint` (the node's idea of the leader) instead.
    NotLeader { hint: Option<crate::NodeId> },
    /// Definitely not applied: a cas whose compare did not match.
    CasMismatch,
    /// Definitely not applied, for a reason the system states (e.g. quorum unreachable
    /// before anything was written).
    Rejected(String),
    /// Outcome unknown: the node may or may not have applied it (e.g. a write applied
    /// locally whose replication quorum was not reached). Recorded as `info`.
    Indeterminate(String),
}

pub type ClientResult = Result<OpOutput, ClientError>;
