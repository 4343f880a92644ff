//! The replicated state machine: a string key-value map.

use check::models::kv::{KvOp, KvOutput, KvState};
use protocol::{ClientError, ClientResult, LogIndex};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct StateMachine {
    kv: BTreeMap<String, String>,
    /// Index of the last entry that wrote each key (deletes included): the version a
    /// get reports, so session checkers can order reads.
    versions: BTreeMap<String, u64>,
}

impl StateMachine {
    /// Applies the committed entry at `index`. Reads through the log answer here too.
    pub fn apply(&mut self, index: LogIndex, op: &KvOp) -> ClientResult<KvOutput> {
        match op {
            KvOp::Get { .. } => self.read(op),
            KvOp::Put { key, value } => {
                self.write(index, key, Some(value.clone()));
                Ok(KvOutput::Done)
            }
            KvOp::Delete { key } => {
                self.write(index, key, None);
                Ok(KvOutput::Done)
            }
            KvOp::Append { key, value } => {
                // In place: the value only grows, and copying it per append is quadratic.
                self.bump_version(index, key);
                match self.kv.get_mut(key.as_str()) {
                    Some(current) => current.push_str(value),
                    None => {
                        self.kv.insert(key.clone(), value.clone());
                    }
                }
                Ok(KvOutput::Done)
            }
            KvOp::Cas { key, expected, new } => {
                if self.kv.get(key) == expected.as_ref() {
                    self.write(index, key, Some(new.clone()));
                    Ok(KvOutput::Done)
                } else {
                    Err(ClientError::CasMismatch)
                }
            }
        }
    }

    /// Answers a read from the applied state without changing anything.
    pub fn read(&self, op: &KvOp) -> ClientResult<KvOutput> {
        match op {
            KvOp::Get { key } => Ok(KvOutput::Value {
                value: self.kv.get(key).cloned(),
                // Never written: version 0, before every log index.
                version: Some(self.versions.get(key).copied().unwrap_or(0)),
            }),
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

    pub fn view(&self) -> KvState {
        KvState(self.kv.clone())
    }
}
