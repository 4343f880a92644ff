//! The in-memory replicated log and how it maps onto disk keys.
//!
//! Index 1 is the first entry; index 0 is the empty prefix with term 0, so the
//! AppendEntries consistency check needs no special case for "from the beginning".

use check::models::kv::KvOp;
use protocol::{LogIndex, Term};
use std::sync::Arc;

/// One log slot. `op` is `None` for the no-op a leader appends on election, which lets
/// it commit (and so learn the commit point of) every entry from earlier terms (§5.4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub term: Term,
    /// Shared: one operation is held by the log, the disk record and every AppendEntries
    /// that carries it; cloning an entry copies a pointer, not the operation's strings.
    /// (`Arc` hashes, compares and prints as the operation itself.)
    pub op: Option<Arc<KvOp>>,
}

/// Disk key of the entry at `index`; zero-padded so the disk map reads back in log order.
///
/// Written by hand: this runs on every append, and `format!` with zero padding costs
/// several times more. The text is exactly `format!("log/{:020}", index.0)` (a `u64` has
/// at most 20 digits).
pub fn log_key(index: LogIndex) -> String {
    let mut digits = [b'0'; 20];
    let mut n = index.0;
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let mut key = String::with_capacity(4 + digits.len());
    key.push_str("log/");
    key.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
    key
}

/// Parses a key written by [`log_key`]; `None` for any other key.
pub fn parse_log_key(key: &str) -> Option<LogIndex> {
    key.strip_prefix("log/")?.parse().ok().map(LogIndex)
}

#[derive(Clone, Debug, Default)]
pub struct Log {
    /// `entries[i]` holds log index `i + 1`.
    entries: Vec<Entry>,
}

impl Log {
    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.entries.len() as u64)
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(Term(0), |e| e.term)
    }

    /// Term of the entry at `index`; `Term(0)` at index 0; `None` past the end.
    pub fn term_at(&self, index: LogIndex) -> Option<Term> {
        if index.0 == 0 {
            return Some(Term(0));
        }
        self.get(index).map(|e| e.term)
    }

    pub fn get(&self, index: LogIndex) -> Option<&Entry> {
        if index.0 == 0 {
            return None;
        }
        self.entries.get((index.0 - 1) as usize)
    }

    /// Appends and returns the new entry's index.
    pub fn append(&mut self, entry: Entry) -> LogIndex {
        // Terms in a Raft log never decrease; a violation means a leader or a follower
        // spliced entries from different histories.
        assert!(
            entry.term >= self.last_term(),
            "log terms must not decrease: appending {} after {}",
            entry.term,
            self.last_term()
        );
        self.entries.push(entry);
        self.last_index()
    }

    /// Drops `from` and everything after it.
    pub fn truncate_from(&mut self, from: LogIndex) {
        assert!(from.0 >= 1, "index 0 is the empty prefix, not an entry");
        assert!(from <= self.last_index(), "truncating past the end");
        self.entries.truncate((from.0 - 1) as usize);
    }

    /// Up to `max` entries starting at `from` (which may be one past the end).
    pub fn slice(&self, from: LogIndex, max: usize) -> Vec<Entry> {
        assert!(from.0 >= 1 && from.0 <= self.last_index().0 + 1);
        let start = (from.0 - 1) as usize;
        let end = self.entries.len().min(start + max);
        self.entries[start..end].to_vec()
    }

    /// First index of the run of entries with `term` that contains `index` (fast backup:
    /// the follower names the whole conflicting term so the leader skips it in one step).
    pub fn first_index_of_term_run(&self, index: LogIndex) -> LogIndex {
        let term = self.term_at(index).expect("index is inside the log");
        let mut first = index;
        while first.0 > 1 && self.term_at(LogIndex(first.0 - 1)) == Some(term) {
            first = LogIndex(first.0 - 1);
        }
        first
    }

    /// Last index at or before `at_most` holding `term`, if any.
    pub fn last_index_of_term(&self, term: Term, at_most: LogIndex) -> Option<LogIndex> {
        let mut i = at_most.min(self.last_index());
        while i.0 >= 1 {
            let t = self.term_at(i).expect("inside the log");
            if t == term {
                return Some(i);
            }
            if t < term {
                // Terms only grow along the log, so nothing earlier can match.
                return None;
            }
            i = LogIndex(i.0 - 1);
        }
        None
    }

    /// Election restriction (§5.4.1): a log ending at (`last_index`, `last_term`) is at least
    /// as up to date as this one.
    pub fn is_behind_or_equal(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_key_is_zero_padded_to_twenty_digits() {
        for i in [0, 1, 9, 10, 12_345, 99_999_999_999, u64::MAX / 3, u64::MAX] {
            assert_eq!(log_key(LogIndex(i)), format!("log/{i:020}"));
            assert_eq!(parse_log_key(&log_key(LogIndex(i))), Some(LogIndex(i)));
        }
    }
}
