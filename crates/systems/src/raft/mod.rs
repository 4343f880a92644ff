//! The reference Raft: a correct implementation every scenario must pass on every seed, so
//! a violation reported against it is a bug in Raft or in the harness.
//!
//! Choices, and why:
//! - **Elections**: randomized timeouts in `[election_timeout_min_ms, election_timeout_max_ms)`,
//!   drawn afresh on every reset. With `pre_vote` (thesis §9.6) a node first asks whether it
//!   could win without bumping its term, and a voter refuses while it has heard from a
//!   leader within the minimum timeout; so a partitioned node that rejoins cannot depose a
//!   healthy leader.
//! - **Check quorum**: a leader that has not heard from a majority within the maximum
//!   election timeout steps down, so clients of a leader stranded in a minority learn it.
//! - **Replication**: AppendEntries with the consistency check; the leader advances
//!   `next_index` optimistically (pipelining) and a rejection carries a fast-backup hint
//!   (conflicting term and its first index), so one round trip skips a whole term.
//!   At most [`MAX_ENTRIES_PER_APPEND`] entries travel in one message.
//! - **Commit**: a leader commits by counting replicas only for entries of its own term
//!   (§5.4.2) and appends a no-op on election so that happens promptly.
//! - **Durability**: term, vote and entries are persisted under `meta` and
//!   `log/{index:020}`, and a `Sync` is emitted before any message or reply that depends
//!   on them (every send and reply goes through one flush point). A truncation erases
//!   the old suffix before writing the new one, and recovery keeps only the contiguous,
//!   term-monotonic prefix and erases the rest, so a torn crash can never splice two
//!   histories together.
//! - **Clients**: writes go through the log; the accepting leader replies once the entry
//!   is applied. If it loses leadership or the entry is overwritten first, the reply is
//!   `Indeterminate`. Followers redirect with `NotLeader`.
//! - **Reads**: `reads = "read_index"` records `max(commit, no-op index)` (so the leader
//!   has committed in its term), confirms leadership with a heartbeat round acknowledged by
//!   a majority after the read arrived, and answers once applied that far. `reads = "log"`
//!   sends reads through the log like writes. `reads = "local"` is a deliberate mutation,
//!   *unsafe*: every node, leader or follower, answers a read at once from its own applied
//!   state, so a lagging follower or a deposed leader returns stale values. It exists only
//!   to show the harness catches a broken Raft (`crates/sim/tests/findings.rs`).
//! - **State**: the applied key-value map ([`KvState`]). Raft serves [`KvOp`] only: a
//!   grow-only set is appends to one key (as the chaos test writes it), so a set
//!   vocabulary would only add a second state machine.
//! - **Roles**: a pre-candidate reports [`Role::Candidate`], though its term is unchanged.
//!
//! Params: `heartbeat_ms` (50), `election_timeout_min_ms` (300), `election_timeout_max_ms`
//! (600), `pre_vote` (true), `reads` (`read_index` | `log` | `local`, unsafe), `sync`
//! (true; false is unsafe), `mutation` (`none`, or a planted bug: see [`Mutation`]); any
//! other name is an error.
//!
//! Volatile state (commit index, applied state machine) is not persisted; after a restart
//! it is rebuilt by re-applying the log as the commit index is learned again.

mod kv;
mod log;
mod messages;
mod peers;
#[cfg(test)]
mod tests;

pub use self::log::{log_key, Entry, Log};
pub use kv::StateMachine;
pub use messages::{AppendResult, Msg};
use peers::PeerMap;

use check::invariants::{Convergence, Durability, Linearizability};
use check::models::kv::{KvModel, KvOp, KvOutput, KvState, KvWorkload};
use core::time::Duration;
use protocol::{
    ClientError, ClientResult, Cx, Disk, LogIndex, Node, NodeId, NodeStatus, Op, ParamError,
    Params, Promises, RequestId, Role, Shape, System, Term, TimerId, WorkloadSpec,
};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

/// Fires on a follower or candidate that heard nothing from a leader for a random timeout.
pub const ELECTION_TIMER: TimerId = TimerId(1);
/// Fires on a leader every `heartbeat_ms`.
pub const HEARTBEAT_TIMER: TimerId = TimerId(2);

/// Bound on client writes a leader holds waiting for commit; beyond it writes are rejected.
pub const MAX_PENDING_WRITES: usize = 4096;
/// Bound on read-index reads waiting for confirmation; beyond it reads are rejected.
pub const MAX_PENDING_READS: usize = 4096;
/// Bound on entries in one AppendEntries message.
pub const MAX_ENTRIES_PER_APPEND: usize = 64;

/// Disk key of the term and vote.
pub const META_KEY: &str = "meta";

/// Every parameter name [`Raft`] accepts.
pub const PARAMS: &[&str] = &[
    "heartbeat_ms",
    "election_timeout_min_ms",
    "election_timeout_max_ms",
    "pre_vote",
    "reads",
    "sync",
    "mutation",
];

/// Planted bugs, each one a real implementer ships (`mutation = "..."`), so a hunt's
/// mutation score can be measured: `scripts/mutation-score.sh` hunts each and counts the
/// seeds until the first finding. `none` is the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    None,
    /// A vote is granted without the election restriction: a candidate whose log is
    /// behind can win and overwrite committed entries.
    VoteIgnoresLog,
    /// Entries of earlier terms are committed by counting replicas (Raft paper, figure 8).
    CommitOldTerms,
    /// A quorum of half the cluster, rounded down: two sides of a split both win.
    QuorumOffByOne,
    /// A write is acknowledged when the leader appends it, before it commits.
    AckOnAppend,
    /// A vote is kept only in memory: a restarted node votes again in the same term.
    ForgetVote,
    /// An AppendEntries from an older term is accepted: a deposed leader still writes.
    AcceptStaleLeader,
}

impl Mutation {
    pub const NAMES: &'static [&'static str] = &[
        "none",
        "vote-ignores-log",
        "commit-old-terms",
        "quorum-off-by-one",
        "ack-on-append",
        "forget-vote",
        "accept-stale-leader",
    ];

    fn parse(name: &str) -> Mutation {
        match name {
            "vote-ignores-log" => Mutation::VoteIgnoresLog,
            "commit-old-terms" => Mutation::CommitOldTerms,
            "quorum-off-by-one" => Mutation::QuorumOffByOne,
            "ack-on-append" => Mutation::AckOnAppend,
            "forget-vote" => Mutation::ForgetVote,
            "accept-stale-leader" => Mutation::AcceptStaleLeader,
            _ => Mutation::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    ReadIndex,
    Log,
    /// Unsafe: answer from local applied state without confirming leadership.
    Local,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    pub pre_vote: bool,
    pub reads: ReadMode,
    /// Unsafe when false: never fsync, so a crash forgets votes and acknowledged entries.
    /// A deliberate mutation, to show the harness's disk model catches it.
    pub sync: bool,
    /// A planted bug, or none.
    pub mutation: Mutation,
}

/// What Raft writes to disk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Record {
    Meta {
        term: Term,
        voted_for: Option<NodeId>,
    },
    Entry {
        term: Term,
        op: Option<Arc<KvOp>>,
    },
}

#[derive(Clone, Debug)]
struct LeaderState {
    next_index: PeerMap<LogIndex>,
    match_index: PeerMap<LogIndex>,
    /// Highest read round each peer acknowledged in this term.
    read_acks: PeerMap<u64>,
    /// When each peer last answered in this term (check quorum).
    last_ack_at: PeerMap<protocol::Instant>,
    /// The no-op appended on election; reads wait until it is applied.
    noop_index: LogIndex,
}

#[derive(Clone, Debug)]
enum RoleState {
    Follower,
    PreCandidate { votes: BTreeSet<NodeId> },
    Candidate { votes: BTreeSet<NodeId> },
    Leader(LeaderState),
}

#[derive(Clone, Debug)]
struct PendingRead {
    req: RequestId,
    op: KvOp,
    read_index: LogIndex,
    /// The read round started after this read arrived.
    seq: u64,
}

type RaftCx<'a> = Cx<'a, Raft>;

pub struct Raft {
    id: NodeId,
    cluster: Vec<NodeId>,
    config: Config,

    // Persistent.
    current_term: Term,
    voted_for: Option<NodeId>,
    log: Log,

    // Volatile.
    commit_index: LogIndex,
    last_applied: LogIndex,
    role: RoleState,
    leader: Option<NodeId>,
    leader_seen_at: Option<protocol::Instant>,
    sm: StateMachine,
    /// Writes this node accepted as leader: index -> (term it was appended in, request).
    /// Writes this leader appended and has not yet answered, by log index ascending
    /// (a leader only appends at the end, and applies in index order).
    pending_writes: VecDeque<(LogIndex, Term, RequestId)>,
    pending_reads: VecDeque<PendingRead>,
    /// The leader's current read-confirmation round.
    read_seq: u64,
    /// Persist/Erase effects were emitted that no Sync has covered yet.
    unsynced: bool,
}

impl Node for Raft {
    type Msg = Msg;
    type Record = Record;
    type Config = Config;
    type Op = KvOp;
    type State = KvState;

    fn config(params: &Params) -> Result<Config, ParamError> {
        params.only(PARAMS)?;
        let config = Config {
            heartbeat: params.millis("heartbeat_ms", 50)?,
            election_timeout_min: params.millis("election_timeout_min_ms", 300)?,
            election_timeout_max: params.millis("election_timeout_max_ms", 600)?,
            pre_vote: params.bool("pre_vote", true)?,
            reads: match params
                .choice("reads", "read_index", &["read_index", "log", "local"])?
                .as_str()
            {
                "log" => ReadMode::Log,
                "local" => ReadMode::Local,
                _ => ReadMode::ReadIndex,
            },
            sync: params.bool("sync", true)?,
            mutation: Mutation::parse(&params.choice("mutation", "none", Mutation::NAMES)?),
        };
        if config.heartbeat.is_zero() {
            return Err(ParamError {
                name: "heartbeat_ms".into(),
                value: "0".into(),
                expected: "a positive number of milliseconds".into(),
            });
        }
        if config.election_timeout_max < config.election_timeout_min
            || config.election_timeout_min <= config.heartbeat
        {
            return Err(ParamError {
                name: "election_timeout_max_ms".into(),
                value: config.election_timeout_max.as_millis().to_string(),
                expected: format!(
                    "election_timeout_min_ms ({}) > heartbeat_ms ({}) and <= election_timeout_max_ms",
                    config.election_timeout_min.as_millis(),
                    config.heartbeat.as_millis()
                ),
            });
        }
        Ok(config)
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Raft {
        assert!(cluster.contains(&id), "a node is part of its cluster");
        Raft {
            id,
            cluster: cluster.to_vec(),
            config: config.clone(),
            current_term: Term(0),
            voted_for: None,
            log: Log::default(),
            commit_index: LogIndex(0),
            last_applied: LogIndex(0),
            role: RoleState::Follower,
            leader: None,
            leader_seen_at: None,
            sm: StateMachine::default(),
            pending_writes: VecDeque::new(),
            pending_reads: VecDeque::new(),
            read_seq: 0,
            unsynced: false,
        }
    }

    fn on_start(&mut self, cx: &mut RaftCx<'_>, disk: &Disk<Record>) {
        self.recover(cx, disk);
        self.flush(cx);
        cx.note(format!(
            "started in {} with {} entries",
            self.current_term,
            self.log.last_index().0
        ));
        self.reset_election_timer(cx);
        if self.cluster.len() == 1 {
            // Nobody else can elect us; do not wait a timeout for it.
            self.on_election_timeout(cx);
        }
    }

    fn on_message(&mut self, cx: &mut RaftCx<'_>, from: NodeId, msg: Msg) {
        assert!(from != self.id && self.cluster.contains(&from));
        match msg {
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote: true,
            } => self.on_pre_vote_request(cx, from, term, last_log_index, last_log_term),
            Msg::RequestVote {
                term,
                last_log_index,
                last_log_term,
                pre_vote: false,
            } => self.on_vote_request(cx, from, term, last_log_index, last_log_term),
            Msg::VoteReply {
                term,
                granted,
                pre_vote,
            } => self.on_vote_reply(cx, from, term, granted, pre_vote),
            Msg::AppendEntries {
                term,
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
                read_seq,
            } => self.on_append_entries(
                cx,
                from,
                term,
                (prev_log_index, prev_log_term),
                entries,
                leader_commit,
                read_seq,
            ),
            Msg::AppendReply {
                term,
                result,
                read_seq,
            } => self.on_append_reply(cx, from, term, result, read_seq),
        }
        self.check_invariants();
    }

    fn on_timer(&mut self, cx: &mut RaftCx<'_>, timer: TimerId) {
        match timer {
            ELECTION_TIMER => self.on_election_timeout(cx),
            HEARTBEAT_TIMER => self.on_heartbeat(cx),
            other => panic!("unknown timer {other:?}"),
        }
        self.check_invariants();
    }

    fn on_client(&mut self, cx: &mut RaftCx<'_>, req: RequestId, op: KvOp) {
        if op.is_read() && self.config.reads == ReadMode::Local {
            let result = self.sm.read(&op);
            self.reply(cx, req, result);
            return;
        }
        if !self.is_leader() {
            let hint = self.leader;
            self.reply(cx, req, Err(ClientError::NotLeader { hint }));
            return;
        }
        if op.is_read() && self.config.reads == ReadMode::ReadIndex {
            self.start_read(cx, req, op);
        } else {
            self.start_write(cx, req, op);
        }
        self.check_invariants();
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: match self.role {
                RoleState::Follower => Role::Follower,
                RoleState::PreCandidate { .. } | RoleState::Candidate { .. } => Role::Candidate,
                RoleState::Leader(_) => Role::Leader,
            },
            term: Some(self.current_term),
            commit: Some(self.commit_index),
            scope: NodeStatus::ALL,
        }
    }

    fn state(&self) -> KvState {
        self.sm.view()
    }
}

impl System for Raft {
    const NAME: &'static str = "raft";
    type Workload = KvWorkload;

    fn workload(
        _config: &Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }

    /// The reference must keep everything: no acknowledged write lost, replicas equal once
    /// healed, and every history linearizable, reads included (`reads = "local"` breaks
    /// that on purpose, so the promise stands for it too).
    fn promises(_config: &Config, _shape: &Shape) -> Promises<Raft> {
        vec![
            Box::new(Durability),
            Box::new(Convergence),
            Box::new(Linearizability(KvModel::default())),
        ]
    }
}

impl Raft {
    pub fn term(&self) -> Term {
        self.current_term
    }

    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }

    pub fn log(&self) -> &Log {
        &self.log
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.role, RoleState::Leader(_))
    }

    fn majority(&self) -> usize {
        if self.config.mutation == Mutation::QuorumOffByOne {
            return (self.cluster.len() / 2).max(1);
        }
        self.cluster.len() / 2 + 1
    }

    fn peers(&self) -> Vec<NodeId> {
        self.cluster
            .iter()
            .copied()
            .filter(|n| *n != self.id)
            .collect()
    }

    // ---- Durability -------------------------------------------------------------------

    /// Rebuilds term, vote and log from what survived on disk.
    fn recover(&mut self, cx: &mut RaftCx<'_>, disk: &Disk<Record>) {
        assert!(self.log.last_index().0 == 0 && self.current_term == Term(0));
        if let Some(Record::Meta { term, voted_for }) = disk.get(META_KEY) {
            self.current_term = *term;
            self.voted_for = *voted_for;
        }
        // Keep the contiguous, term-monotonic prefix. A torn write can leave a hole (an
        // erase that landed, one that did not) or stale entries past it; those were never
        // acknowledged in this shape, and must go before new appends could fill the hole.
        let mut intact = true;
        for (key, record) in disk.range("log/".to_string()..) {
            let Some(index) = log::parse_log_key(key) else {
                break;
            };
            let Record::Entry { term, op } = record else {
                panic!("{key} holds a non-entry record");
            };
            intact =
                intact && index.0 == self.log.last_index().0 + 1 && *term >= self.log.last_term();
            if intact {
                self.log.append(Entry {
                    term: *term,
                    op: op.clone(),
                });
            } else {
                cx.erase(key.clone());
                self.unsynced = true;
            }
        }
        if self.log.last_term() > self.current_term {
            // Meta is written before the entries that depend on it, so this needs a disk
            // that reordered writes; stay safe anyway: adopt the term and refuse to vote in it.
            self.current_term = self.log.last_term();
            self.voted_for = Some(self.id);
            self.persist_meta(cx);
        }
    }

    fn persist_meta(&mut self, cx: &mut RaftCx<'_>) {
        cx.persist(
            META_KEY,
            Record::Meta {
                term: self.current_term,
                voted_for: self.voted_for,
            },
        );
        self.unsynced = true;
    }

    fn append_to_log(&mut self, cx: &mut RaftCx<'_>, entry: Entry) -> LogIndex {
        let index = self.log.append(entry.clone());
        cx.persist(
            log_key(index),
            Record::Entry {
                term: entry.term,
                op: entry.op,
            },
        );
        self.unsynced = true;
        index
    }

    /// Drops `from..` from the log and the disk. Erases go out before any new entry is
    /// persisted, so a torn crash leaves a prefix of either history, never a splice.
    fn truncate_log(&mut self, cx: &mut RaftCx<'_>, from: LogIndex) {
        assert!(
            from > self.commit_index,
            "truncating committed entry {} (commit {})",
            from.0,
            self.commit_index.0
        );
        assert!(!self.is_leader(), "a leader never truncates its log");
        for i in from.0..=self.log.last_index().0 {
            cx.erase(log_key(LogIndex(i)));
        }
        self.unsynced = true;
        self.log.truncate_from(from);
        // A pending write at a truncated index was overwritten: its fate is unknown to us.
        let keep = self.pending_writes.partition_point(|w| w.0 < from);
        let dropped: Vec<_> = self.pending_writes.drain(keep..).collect();
        for (_, _, req) in dropped {
            self.reply(
                cx,
                req,
                Err(ClientError::Indeterminate("log entry overwritten".into())),
            );
        }
    }

    /// The one point before every message and reply: makes buffered writes durable first.
    fn flush(&mut self, cx: &mut RaftCx<'_>) {
        if self.unsynced {
            if self.config.sync {
                cx.sync();
            }
            self.unsynced = false;
        }
    }

    fn send(&mut self, cx: &mut RaftCx<'_>, to: NodeId, msg: Msg) {
        self.flush(cx);
        cx.send(to, msg);
    }

    fn reply(&mut self, cx: &mut RaftCx<'_>, req: RequestId, result: ClientResult<KvOutput>) {
        self.flush(cx);
        cx.reply(req, result);
    }

    // ---- Roles and terms --------------------------------------------------------------

    fn reset_election_timer(&mut self, cx: &mut RaftCx<'_>) {
        let after = cx.random_duration(
            self.config.election_timeout_min,
            self.config.election_timeout_max,
        );
        cx.set_timer(ELECTION_TIMER, after);
    }

    /// Becomes a follower in `term` (which must not be older). Adopting a newer term clears
    /// the vote; leaving leadership settles every pending client request.
    fn become_follower(&mut self, cx: &mut RaftCx<'_>, term: Term, leader: Option<NodeId>) {
        assert!(term >= self.current_term, "terms never go back");
        if term > self.current_term {
            self.current_term = term;
            self.voted_for = None;
            self.persist_meta(cx);
        }
        let was_leader = self.is_leader();
        self.role = RoleState::Follower;
        self.leader = leader;
        if was_leader {
            cx.note(format!("stepped down in {}", self.current_term));
            cx.cancel_timer(HEARTBEAT_TIMER);
            self.reset_election_timer(cx);
            self.settle_pending(cx);
        }
    }

    /// Answers every pending request of a leader that is no longer one.
    fn settle_pending(&mut self, cx: &mut RaftCx<'_>) {
        assert!(!self.is_leader());
        let writes = std::mem::take(&mut self.pending_writes);
        for (_, _, req) in writes {
            self.reply(
                cx,
                req,
                Err(ClientError::Indeterminate("leadership lost".into())),
            );
        }
        let reads = std::mem::take(&mut self.pending_reads);
        let hint = self.leader;
        for read in reads {
            // A read has no effect, so an unanswered one is definitely not applied.
            self.reply(cx, read.req, Err(ClientError::NotLeader { hint }));
        }
    }

    fn on_election_timeout(&mut self, cx: &mut RaftCx<'_>) {
        if self.is_leader() {
            // A timer armed before this node won; leaders do not time out.
            return;
        }
        self.leader = None;
        if self.config.pre_vote {
            self.start_pre_vote(cx);
        } else {
            self.start_election(cx);
        }
    }

    fn start_pre_vote(&mut self, cx: &mut RaftCx<'_>) {
        self.role = RoleState::PreCandidate {
            votes: BTreeSet::from([self.id]),
        };
        self.reset_election_timer(cx);
        if self.majority() == 1 {
            self.start_election(cx);
            return;
        }
        self.request_votes(cx, Term(self.current_term.0 + 1), true);
    }

    fn start_election(&mut self, cx: &mut RaftCx<'_>) {
        self.current_term = Term(self.current_term.0 + 1);
        self.voted_for = Some(self.id);
        self.persist_meta(cx);
        self.role = RoleState::Candidate {
            votes: BTreeSet::from([self.id]),
        };
        self.leader = None;
        cx.note(format!("campaigning in {}", self.current_term));
        self.reset_election_timer(cx);
        if self.majority() == 1 {
            self.flush(cx);
            self.become_leader(cx);
            return;
        }
        self.request_votes(cx, self.current_term, false);
    }

    /// Asks every peer for its vote (or, with `pre_vote`, whether it would give it) in
    /// `term`, offering this node's last log position for the up-to-date check (§5.4.1).
    fn request_votes(&mut self, cx: &mut RaftCx<'_>, term: Term, pre_vote: bool) {
        let msg = Msg::RequestVote {
            term,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
        };
        for peer in self.peers() {
            self.send(cx, peer, msg.clone());
        }
    }

    fn become_leader(&mut self, cx: &mut RaftCx<'_>) {
        assert!(matches!(self.role, RoleState::Candidate { .. }));
        assert_eq!(self.voted_for, Some(self.id), "a leader voted for itself");
        let next = LogIndex(self.log.last_index().0 + 1);
        let peers = self.peers();
        self.role = RoleState::Leader(LeaderState {
            next_index: peers.iter().map(|p| (*p, next)).collect(),
            match_index: peers.iter().map(|p| (*p, LogIndex(0))).collect(),
            read_acks: peers.iter().map(|p| (*p, 0)).collect(),
            last_ack_at: peers.iter().map(|p| (*p, cx.now())).collect(),
            noop_index: next,
        });
        self.leader = Some(self.id);
        assert!(self.pending_writes.is_empty() && self.pending_reads.is_empty());
        cx.note(format!("became leader in {}", self.current_term));
        cx.cancel_timer(ELECTION_TIMER);
        let term = self.current_term;
        let noop = self.append_to_log(cx, Entry { term, op: None });
        assert_eq!(noop, next);
        self.flush(cx);
        self.broadcast_append(cx);
        cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat);
        self.advance_commit(cx);
    }

    fn on_heartbeat(&mut self, cx: &mut RaftCx<'_>) {
        let RoleState::Leader(leader) = &self.role else {
            // A timer armed before this node stepped down.
            return;
        };
        let now = cx.now();
        let heard = leader
            .last_ack_at
            .values()
            .filter(|at| now.saturating_since(**at) < self.config.election_timeout_max)
            .count();
        if heard + 1 < self.majority() {
            cx.note("lost contact with a majority");
            self.become_follower(cx, self.current_term, None);
            return;
        }
        self.broadcast_append(cx);
        cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat);
    }

    // ---- Votes ------------------------------------------------------------------------

    fn on_pre_vote_request(
        &mut self,
        cx: &mut RaftCx<'_>,
        from: NodeId,
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        // Refuse while a leader is known to be alive (thesis §9.6): the asker is the one
        // out of touch, and a real election would only depose a working leader.
        let leader_alive = self.is_leader()
            || (self.leader.is_some()
                && self.leader_seen_at.is_some_and(|at| {
                    cx.now().saturating_since(at) < self.config.election_timeout_min
                }));
        let up_to_date = self.config.mutation == Mutation::VoteIgnoresLog
            || self.log.is_behind_or_equal(last_log_index, last_log_term);
        let granted = term > self.current_term && !leader_alive && up_to_date;
        let term = if granted { term } else { self.current_term };
        self.send(
            cx,
            from,
            Msg::VoteReply {
                term,
                granted,
                pre_vote: true,
            },
        );
    }

    fn on_vote_request(
        &mut self,
        cx: &mut RaftCx<'_>,
        from: NodeId,
        term: Term,
        last_log_index: LogIndex,
        last_log_term: Term,
    ) {
        if term > self.current_term {
            self.become_follower(cx, term, None);
        }
        let up_to_date = self.config.mutation == Mutation::VoteIgnoresLog
            || self.log.is_behind_or_equal(last_log_index, last_log_term);
        let granted =
            term == self.current_term && self.voted_for.is_none_or(|v| v == from) && up_to_date;
        if granted {
            assert!(!self.is_leader(), "a leader has voted for itself");
            if self.voted_for.is_none() {
                self.voted_for = Some(from);
                if self.config.mutation != Mutation::ForgetVote {
                    self.persist_meta(cx);
                }
            }
            self.reset_election_timer(cx);
        }
        let term = self.current_term;
        self.send(
            cx,
            from,
            Msg::VoteReply {
                term,
                granted,
                pre_vote: false,
            },
        );
    }

    fn on_vote_reply(
        &mut self,
        cx: &mut RaftCx<'_>,
        from: NodeId,
        term: Term,
        granted: bool,
        pre_vote: bool,
    ) {
        if term > self.current_term && !(pre_vote && granted) {
            self.become_follower(cx, term, None);
            return;
        }
        if !granted {
            return;
        }
        let majority = self.majority();
        let next_term = Term(self.current_term.0 + 1);
        match &mut self.role {
            RoleState::PreCandidate { votes } if pre_vote && term == next_term => {
                votes.insert(from);
                if votes.len() >= majority {
                    self.start_election(cx);
                }
            }
            RoleState::Candidate { votes } if !pre_vote && term == self.current_term => {
                votes.insert(from);
                if votes.len() >= majority {
                    self.become_leader(cx);
                }
            }
            _ => {}
        }
    }

    // ---- Replication ------------------------------------------------------------------

    fn broadcast_append(&mut self, cx: &mut RaftCx<'_>) {
        // The peers in cluster order, as `peers()` lists them, without collecting them
        // (this runs on every write, read and heartbeat).
        for i in 0..self.cluster.len() {
            let peer = self.cluster[i];
            if peer != self.id {
                self.send_append(cx, peer);
            }
        }
    }

    /// Sends `peer` everything from its `next_index` (bounded), and advances `next_index`
    /// past it optimistically; a loss shows up as a rejection that moves it back.
    fn send_append(&mut self, cx: &mut RaftCx<'_>, peer: NodeId) {
        let RoleState::Leader(leader) = &mut self.role else {
            panic!("only a leader sends AppendEntries");
        };
        let next = leader.next_index[peer];
        let prev = LogIndex(next.0 - 1);
        let prev_term = self.log.term_at(prev).expect("next_index <= last + 1");
        let entries = self.log.slice(next, MAX_ENTRIES_PER_APPEND);
        leader
            .next_index
            .set(peer, LogIndex(next.0 + entries.len() as u64));
        let msg = Msg::AppendEntries {
            term: self.current_term,
            prev_log_index: prev,
            prev_log_term: prev_term,
            entries,
            leader_commit: self.commit_index,
            read_seq: self.read_seq,
        };
        self.send(cx, peer, msg);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append_entries(
        &mut self,
        cx: &mut RaftCx<'_>,
        from: NodeId,
        term: Term,
        (prev_index, prev_term): (LogIndex, Term),
        entries: Vec<Entry>,
        leader_commit: LogIndex,
        read_seq: u64,
    ) {
        if term < self.current_term && self.config.mutation != Mutation::AcceptStaleLeader {
            let current = self.current_term;
            self.send(
                cx,
                from,
                Msg::AppendReply {
                    term: current,
                    result: AppendResult::StaleTerm,
                    read_seq,
                },
            );
            return;
        }
        assert!(
            !(term == self.current_term && self.is_leader()),
            "two leaders in {term}: {} and {from}",
            self.id
        );
        if term > self.current_term || !matches!(self.role, RoleState::Follower) {
            self.become_follower(cx, term, Some(from));
        }
        if let Some(known) = self.leader {
            assert_eq!(known, from, "two leaders in {term}");
        }
        self.leader = Some(from);
        self.leader_seen_at = Some(cx.now());
        self.reset_election_timer(cx);

        let result = match self.log.term_at(prev_index) {
            None => AppendResult::Mismatch {
                rejected_prev: prev_index,
                hint_index: LogIndex(self.log.last_index().0 + 1),
                hint_term: None,
            },
            Some(t) if t != prev_term => AppendResult::Mismatch {
                rejected_prev: prev_index,
                hint_index: self.log.first_index_of_term_run(prev_index),
                hint_term: Some(t),
            },
            Some(_) => {
                let match_index = LogIndex(prev_index.0 + entries.len() as u64);
                for (offset, entry) in entries.into_iter().enumerate() {
                    let index = LogIndex(prev_index.0 + 1 + offset as u64);
                    match self.log.term_at(index) {
                        Some(t) if t == entry.term => continue,
                        Some(_) => self.truncate_log(cx, index),
                        None => {}
                    }
                    let appended = self.append_to_log(cx, entry);
                    assert_eq!(appended, index);
                }
                // Only the prefix the leader just vouched for is known to match its log.
                let new_commit = leader_commit.min(match_index);
                if new_commit > self.commit_index {
                    self.commit_index = new_commit;
                    self.apply_committed(cx);
                }
                AppendResult::Match { match_index }
            }
        };
        let current = self.current_term;
        self.send(
            cx,
            from,
            Msg::AppendReply {
                term: current,
                result,
                read_seq,
            },
        );
    }

    fn on_append_reply(
        &mut self,
        cx: &mut RaftCx<'_>,
        from: NodeId,
        term: Term,
        result: AppendResult,
        read_seq: u64,
    ) {
        if term > self.current_term {
            self.become_follower(cx, term, None);
            return;
        }
        let now = cx.now();
        let RoleState::Leader(leader) = &mut self.role else {
            return;
        };
        if term < self.current_term || result == AppendResult::StaleTerm {
            // StaleTerm answered an AppendEntries from an older term of ours: it says
            // nothing about this term (and its term can equal ours only after we moved on).
            return;
        }
        // Any reply in our term shows `from` still followed us when it answered.
        leader.last_ack_at.set(from, now);
        let acked = leader.read_acks.get_mut(from).expect("peer");
        *acked = (*acked).max(read_seq);
        match result {
            AppendResult::StaleTerm => unreachable!("filtered above"),
            AppendResult::Match { match_index } => {
                assert!(match_index <= self.log.last_index());
                let m = leader.match_index.get_mut(from).expect("peer");
                *m = (*m).max(match_index);
                let next = leader.next_index.get_mut(from).expect("peer");
                *next = (*next).max(LogIndex(match_index.0 + 1));
                let behind = *next <= self.log.last_index();
                self.advance_commit(cx);
                if behind {
                    // A follower catching up gets its next batch now, not a heartbeat later.
                    self.send_append(cx, from);
                }
            }
            AppendResult::Mismatch {
                rejected_prev,
                hint_index,
                hint_term,
            } => {
                let matched = leader.match_index[from];
                if rejected_prev <= matched {
                    // Stale: a later reply already showed a longer match.
                    self.answer_reads(cx);
                    return;
                }
                let hinted =
                    match hint_term.and_then(|t| self.log.last_index_of_term(t, rejected_prev)) {
                        Some(last_of_term) => LogIndex(last_of_term.0 + 1),
                        None => hint_index,
                    };
                // Retry strictly below the rejected probe, never below what is matched.
                let retry = hinted.min(rejected_prev).max(LogIndex(matched.0 + 1));
                if retry < leader.next_index[from] {
                    leader.next_index.set(from, retry);
                    self.send_append(cx, from);
                }
            }
        }
        self.answer_reads(cx);
    }

    /// Commits the highest current-term index a majority holds (§5.4.2: counting replicas
    /// commits only entries of the leader's own term; earlier ones commit with them).
    fn advance_commit(&mut self, cx: &mut RaftCx<'_>) {
        let RoleState::Leader(leader) = &self.role else {
            return;
        };
        assert!(
            !self.unsynced,
            "the leader's own entries are durable before it counts itself"
        );
        let mut index = self.log.last_index();
        while index > self.commit_index {
            let old_term = self.log.term_at(index) != Some(self.current_term);
            if old_term && self.config.mutation != Mutation::CommitOldTerms {
                break;
            }
            let holders = 1 + leader.match_index.values().filter(|m| **m >= index).count();
            if holders >= self.majority() {
                self.commit_index = index;
                self.apply_committed(cx);
                break;
            }
            index = LogIndex(index.0 - 1);
        }
    }

    fn apply_committed(&mut self, cx: &mut RaftCx<'_>) {
        assert!(self.commit_index <= self.log.last_index());
        while self.last_applied < self.commit_index {
            let index = LogIndex(self.last_applied.0 + 1);
            let entry = self.log.get(index).expect("committed entries exist");
            let entry_term = entry.term;
            let result = match &entry.op {
                Some(op) => self.sm.apply(index, op),
                None => Ok(KvOutput::Done),
            };
            self.last_applied = index;
            // Pending writes sit at indexes not yet applied, so the first is at or after
            // this one.
            assert!(self.pending_writes.front().is_none_or(|w| w.0 >= index));
            if let Some((_, term, req)) = self.pending_writes.pop_front_if(|w| w.0 == index) {
                let result = if term == entry_term {
                    result
                } else {
                    Err(ClientError::Indeterminate("log entry overwritten".into()))
                };
                self.reply(cx, req, result);
            }
        }
        self.answer_reads(cx);
    }

    // ---- Clients ----------------------------------------------------------------------

    fn start_write(&mut self, cx: &mut RaftCx<'_>, req: RequestId, op: KvOp) {
        assert!(self.is_leader());
        if self.pending_writes.len() >= MAX_PENDING_WRITES {
            self.reply(
                cx,
                req,
                Err(ClientError::Unavailable("too many writes in flight".into())),
            );
            return;
        }
        let term = self.current_term;
        let index = self.append_to_log(
            cx,
            Entry {
                term,
                op: Some(Arc::new(op)),
            },
        );
        assert!(
            self.pending_writes.back().is_none_or(|w| w.0 < index),
            "one request per fresh index, appended in order"
        );
        if self.config.mutation == Mutation::AckOnAppend {
            self.flush(cx);
            self.reply(cx, req, Ok(KvOutput::Done));
            self.broadcast_append(cx);
            return self.advance_commit(cx);
        }
        self.pending_writes.push_back((index, term, req));
        // Durable here before counting itself toward the majority.
        self.flush(cx);
        self.broadcast_append(cx);
        self.advance_commit(cx);
    }

    fn start_read(&mut self, cx: &mut RaftCx<'_>, req: RequestId, op: KvOp) {
        let RoleState::Leader(leader) = &self.role else {
            panic!("reads start on a leader");
        };
        let noop_index = leader.noop_index;
        if self.pending_reads.len() >= MAX_PENDING_READS {
            self.reply(
                cx,
                req,
                Err(ClientError::Unavailable("too many reads in flight".into())),
            );
            return;
        }
        // Everything committed when the read arrived is at or below the commit index or
        // the no-op (the leader holds all committed entries, all before its no-op).
        let read_index = self.commit_index.max(noop_index);
        self.read_seq += 1;
        self.pending_reads.push_back(PendingRead {
            req,
            op,
            read_index,
            seq: self.read_seq,
        });
        self.broadcast_append(cx);
        self.answer_reads(cx);
    }

    /// The highest read round a majority (this leader included) has acknowledged.
    fn confirmed_read_seq(&self) -> u64 {
        let RoleState::Leader(leader) = &self.role else {
            return 0;
        };
        // The majority-th largest; on the stack for the usual small cluster.
        let kth = |acks: &mut [u64]| {
            acks.sort_unstable_by(|a, b| b.cmp(a));
            acks[self.majority() - 1]
        };
        let n = leader.read_acks.len() + 1;
        if n <= 16 {
            let mut acks = [0u64; 16];
            for (slot, v) in acks.iter_mut().zip(leader.read_acks.values()) {
                *slot = *v;
            }
            acks[n - 1] = self.read_seq;
            kth(&mut acks[..n])
        } else {
            let mut acks: Vec<u64> = leader.read_acks.values().copied().collect();
            acks.push(self.read_seq);
            kth(&mut acks)
        }
    }

    fn answer_reads(&mut self, cx: &mut RaftCx<'_>) {
        if !self.is_leader() {
            assert!(self.pending_reads.is_empty());
            return;
        }
        let confirmed = self.confirmed_read_seq();
        // Rounds and read indexes both grow along the queue, so the first read that
        // must wait blocks the rest.
        while let Some(read) = self.pending_reads.front() {
            if read.seq > confirmed || read.read_index > self.last_applied {
                break;
            }
            let read = self.pending_reads.pop_front().expect("front exists");
            let result = self.sm.read(&read.op);
            self.reply(cx, read.req, result);
        }
    }

    fn check_invariants(&self) {
        assert!(self.last_applied <= self.commit_index);
        assert!(self.commit_index <= self.log.last_index());
        assert!(self.pending_writes.len() <= MAX_PENDING_WRITES);
        assert!(self.pending_reads.len() <= MAX_PENDING_READS);
        match &self.role {
            RoleState::Leader(leader) => {
                assert_eq!(self.leader, Some(self.id));
                assert_eq!(self.voted_for, Some(self.id));
                for (peer, next) in leader.next_index.iter() {
                    assert!(*next > leader.match_index[peer]);
                    assert!(next.0 <= self.log.last_index().0 + 1);
                }
            }
            RoleState::Candidate { votes } => {
                assert_eq!(self.voted_for, Some(self.id));
                assert!(votes.len() < self.majority());
            }
            RoleState::PreCandidate { votes } => assert!(votes.len() < self.majority()),
            RoleState::Follower => {
                assert!(self.pending_writes.is_empty() && self.pending_reads.is_empty())
            }
        }
        if !self.is_leader() {
            assert!(self.pending_writes.is_empty());
        }
    }
}
