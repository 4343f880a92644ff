//! Wire messages between Raft replicas.

use super::log::Entry;
use protocol::{LogIndex, Term};

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// A vote request. With `pre_vote` (thesis §9.6) `term` is the term the sender *would*
    /// campaign in; neither side changes its term or vote for a pre-vote.
    RequestVote {
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
        pre_vote: bool,
    },
    /// `term` is the voter's term, or for a granted pre-vote the term that was asked for.
    VoteReply {
        term: Term,
        granted: bool,
        pre_vote: bool,
    },
    AppendEntries {
        term: Term,
        prev_log_index: LogIndex,
        prev_log_term: Term,
        entries: Vec<Entry>,
        leader_commit: LogIndex,
        /// The leader's read-confirmation round at send time; echoed back so a read-index
        /// read knows a majority still followed this leader after the read arrived.
        read_seq: u64,
    },
    AppendReply {
        term: Term,
        result: AppendResult,
        read_seq: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AppendResult {
    /// The follower's log matches the leader's through `match_index` (and that is durable).
    Match { match_index: LogIndex },
    /// The consistency check failed at `rejected_prev`. The follower's hint for where to
    /// retry: `hint_term` is its term at `rejected_prev` (if it has that entry) and
    /// `hint_index` the first index of that term, or its last index + 1 when its log is
    /// shorter.
    Mismatch {
        rejected_prev: LogIndex,
        hint_index: LogIndex,
        hint_term: Option<Term>,
    },
    /// The request's term was stale; the reply's term tells the sender the current one.
    StaleTerm,
}
