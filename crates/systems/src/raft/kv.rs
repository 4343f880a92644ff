//! The replicated state machine: a string key-value map plus a grow-only set.

use protocol::{ClientError, ClientOp, ClientResult, LogIndex, OpOutput, StateView};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default)]
pub struct StateMachine {
    kv: BTreeMap<String, String>,
    /// Index of the last entry that wrote each key (deletes included): the version a
    /// get reports, so session checkers can order reads.
    versions: BTreeMap<String, u64>,
    set: BTreeSet<u64>,
    /// Whether a set operation went through the log. Only applied entries flip it, so every
    /// replica that applied the same prefix reports the same kind of [`StateView`].
    set_used: bool,
}

impl StateMachine {
    /// Applies the committed entry at `index`. Reads through the log answer here too.
    pub fn apply(&mut self, index: LogIndex, op: &ClientOp) -> ClientResult {
        match op {
            ClientOp::Get { .. } => self.read(op),
            ClientOp::SetRead => {
                self.set_used = true;
                self.read(op)
            }
            ClientOp::Put { key, value } => {
                self.write(index, key, Some(value.clone()));
                Ok(OpOutput::Done)
            }
            ClientOp::Delete { key } => {
                self.write(index, key, None);
                Ok(OpOutput::Done)
            }
            ClientOp::Append { key, value } => {
                // In place: the value only grows, and copying it per append is quadratic.
                self.bump_version(index, key);
                match self.kv.get_mut(key.as_str()) {
                    Some(current) => current.push_str(value),
                    None => {
                        self.kv.insert(key.clone(), value.clone());
                    }
                }
                Ok(OpOutput::Done)
            }
            ClientOp::Cas { key, expected, new } => {
                if self.kv.get(key) == expected.as_ref() {
                    self.write(index, key, Some(new.clone()));
                    Ok(OpOutput::Done)
                } else {
                    Err(ClientError::CasMismatch)
                }
            }
            ClientOp::SetAdd { element } => {
                self.set_used = true;
                self.set.insert(*element);
                Ok(OpOutput::Done)
            }
        }
    }

    /// Answers a read from the applied state without changing anything.
    pub fn read(&self, op: &ClientOp) -> ClientResult {
        match op {
            ClientOp::Get { key } => Ok(OpOutput::Value {
                value: self.kv.get(key).cloned(),
                // Never written: version 0, before every log index.
                version: Some(self.versions.get(key).copied().unwrap_or(0)),
            }),
            ClientOp::SetRead => Ok(OpOutput::Set(self.set.clone())),
            _ => panic!("read() called with a write: {op}"),
        }
    }

    fn write(&mut self, index: LogIndex, key: &str, value: Option<String>) {
        self.bump_version(index, key);
        match value {
            // An existing key keeps its allocation; only a new one is copied.
            Some(v) => match self.kv.get_mut(key) {
                Some(slot) => *slot = v,
                None => {
                    self.kv.insert(key.to_string(), v);
                }
            },
            None => {
                self.kv.remove(key);
            }
        }
    }

    /// Records that the entry at `index` wrote `key`.
    fn bump_version(&mut self, index: LogIndex, key: &str) {
        match self.versions.get_mut(key) {
            Some(v) => {
                assert!(*v < index.0, "writes apply in log order");
                *v = index.0;
            }
            None => {
                self.versions.insert(key.to_string(), index.0);
            }
        }
    }

    /// Kv unless a set operation was ever applied; then the set's elements, sorted.
    pub fn view(&self) -> StateView {
        if self.set_used {
            StateView::Elements(self.set.iter().copied().collect())
        } else {
            StateView::Kv(self.kv.clone())
        }
    }
}
