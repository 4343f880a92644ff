//! Hand-driven tests: single nodes under `protocol::Harness` with exact effects, and a tiny
//! deterministic pump that runs three (or five) harnesses against each other.

use super::*;
use protocol::{replies, sends, Effect, Harness, Instant, OpOutput};
use std::collections::{BTreeMap, VecDeque};

type H = Harness<Raft>;
type Fx = Vec<Effect<Msg, Record>>;

fn params(pre_vote: bool) -> Params {
    Params::new().with("pre_vote", pre_vote)
}

fn node(id: u32, size: u32, pre_vote: bool) -> H {
    let mut h = H::new(id, size, &params(pre_vote));
    h.start(&Disk::new());
    h
}

fn put(key: &str, value: &str) -> ClientOp {
    ClientOp::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn get(key: &str) -> ClientOp {
    ClientOp::Get { key: key.into() }
}

fn position(fx: &Fx, pred: impl Fn(&Effect<Msg, Record>) -> bool) -> Option<usize> {
    fx.iter().position(pred)
}

fn is_send(e: &Effect<Msg, Record>) -> bool {
    matches!(e, Effect::Send { .. })
}

fn is_sync(e: &Effect<Msg, Record>) -> bool {
    matches!(e, Effect::Sync)
}

fn vote_request(term: u64, last_index: u64, last_term: u64) -> Msg {
    Msg::RequestVote {
        term: Term(term),
        last_log_index: LogIndex(last_index),
        last_log_term: Term(last_term),
        pre_vote: false,
    }
}

fn vote_granted(term: u64) -> Msg {
    Msg::VoteReply {
        term: Term(term),
        granted: true,
        pre_vote: false,
    }
}

fn matched(term: u64, index: u64, read_seq: u64) -> Msg {
    Msg::AppendReply {
        term: Term(term),
        result: AppendResult::Match {
            match_index: LogIndex(index),
        },
        read_seq,
    }
}

fn append(term: u64, prev: (u64, u64), entries: &[(u64, Option<ClientOp>)], commit: u64) -> Msg {
    Msg::AppendEntries {
        term: Term(term),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        entries: entries
            .iter()
            .map(|(t, op)| Entry {
                term: Term(*t),
                op: op.clone().map(std::sync::Arc::new),
            })
            .collect(),
        leader_commit: LogIndex(commit),
        read_seq: 0,
    }
}

/// n1 of a 3-node cluster, elected leader of term 1 with n2's vote (no pre-vote).
fn leader_of_three() -> H {
    let mut h = node(1, 3, false);
    h.timer(ELECTION_TIMER);
    let fx = h.message(2, vote_granted(1));
    assert!(h.node.is_leader());
    assert_eq!(sends(&fx).len(), 2, "the no-op goes to both peers");
    h
}

#[test]
fn follower_times_out_and_requests_votes_after_syncing_term_and_vote() {
    let mut h = node(1, 3, false);
    let fx = h.timer(ELECTION_TIMER);
    let meta = Effect::Persist {
        key: META_KEY.into(),
        value: Record::Meta {
            term: Term(1),
            voted_for: Some(NodeId(1)),
        },
    };
    let persist = position(&fx, |e| *e == meta).expect("term and self-vote persisted");
    let sync = position(&fx, is_sync).expect("synced");
    let first_send = position(&fx, is_send).expect("votes requested");
    assert!(persist < sync && sync < first_send, "{fx:#?}");
    assert_eq!(
        sends(&fx),
        vec![
            (NodeId(2), vote_request(1, 0, 0)),
            (NodeId(3), vote_request(1, 0, 0)),
        ]
    );
    assert!(fx.contains(&Effect::SetTimer {
        timer: ELECTION_TIMER,
        after: match fx.iter().find(|e| matches!(e, Effect::SetTimer { .. })) {
            Some(Effect::SetTimer { after, .. }) => *after,
            _ => unreachable!(),
        }
    }));
    assert_eq!(h.node.status().role, Role::Candidate);
    assert_eq!(h.node.term(), Term(1));
}

#[test]
fn election_timeouts_are_randomized_within_bounds() {
    let mut h = node(1, 3, false);
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        for e in h.timer(ELECTION_TIMER) {
            if let Effect::SetTimer { timer, after } = e {
                assert_eq!(timer, ELECTION_TIMER);
                assert!(after >= Duration::from_millis(300) && after < Duration::from_millis(600));
                seen.insert(after);
            }
        }
    }
    assert!(seen.len() > 10, "timeouts vary: {seen:?}");
}

#[test]
fn pre_vote_does_not_bump_the_term_until_a_majority_agrees() {
    let mut h = node(1, 3, true);
    let fx = h.timer(ELECTION_TIMER);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Persist { .. })));
    let pre = Msg::RequestVote {
        term: Term(1),
        last_log_index: LogIndex(0),
        last_log_term: Term(0),
        pre_vote: true,
    };
    assert_eq!(sends(&fx), vec![(NodeId(2), pre.clone()), (NodeId(3), pre)]);
    assert_eq!(h.node.term(), Term(0));

    let fx = h.message(
        2,
        Msg::VoteReply {
            term: Term(1),
            granted: true,
            pre_vote: true,
        },
    );
    assert_eq!(h.node.term(), Term(1));
    let sync = position(&fx, is_sync).expect("new term synced");
    let first_send = position(&fx, is_send).expect("real votes requested");
    assert!(sync < first_send);
    assert_eq!(sends(&fx)[0], (NodeId(2), vote_request(1, 0, 0)));
}

#[test]
fn pre_vote_is_refused_while_a_leader_is_alive() {
    let mut f = node(2, 3, true);
    f.message(1, append(1, (0, 0), &[], 0));
    f.advance(Duration::from_millis(100));
    let ask = Msg::RequestVote {
        term: Term(2),
        last_log_index: LogIndex(5),
        last_log_term: Term(1),
        pre_vote: true,
    };
    let fx = f.message(3, ask.clone());
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(3),
            Msg::VoteReply {
                term: Term(1),
                granted: false,
                pre_vote: true
            }
        )]
    );
    assert_eq!(f.node.term(), Term(1), "a pre-vote changes nothing");
    f.advance(Duration::from_millis(400));
    let fx = f.message(3, ask);
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(3),
            Msg::VoteReply {
                term: Term(2),
                granted: true,
                pre_vote: true
            }
        )]
    );
    assert_eq!(f.node.term(), Term(1));
    assert_eq!(f.node.voted_for(), None);
}

#[test]
fn a_node_grants_at_most_one_vote_per_term() {
    let mut h = node(1, 3, false);
    let fx = h.message(2, vote_request(1, 0, 0));
    let sync = position(&fx, is_sync).expect("vote synced");
    let send = position(&fx, is_send).expect("vote sent");
    assert!(
        sync < send,
        "the grant is durable before it leaves: {fx:#?}"
    );
    assert_eq!(sends(&fx), vec![(NodeId(2), vote_granted(1))]);
    assert_eq!(h.node.voted_for(), Some(NodeId(2)));

    let fx = h.message(3, vote_request(1, 0, 0));
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(3),
            Msg::VoteReply {
                term: Term(1),
                granted: false,
                pre_vote: false
            }
        )]
    );
    // A duplicate of the granted request is granted again, without another write.
    let fx = h.message(2, vote_request(1, 0, 0));
    assert_eq!(sends(&fx), vec![(NodeId(2), vote_granted(1))]);
    assert!(!fx.iter().any(|e| matches!(e, Effect::Persist { .. })));
    // A new term frees the vote.
    let fx = h.message(3, vote_request(2, 0, 0));
    assert_eq!(sends(&fx), vec![(NodeId(3), vote_granted(2))]);
}

#[test]
fn a_vote_is_refused_to_a_candidate_with_a_stale_log() {
    let mut h = node(1, 3, false);
    h.message(2, append(2, (0, 0), &[(1, None), (2, None)], 0));
    // Same last term, shorter log; then an older last term with a longer log.
    for ask in [vote_request(3, 1, 2), vote_request(4, 9, 1)] {
        let fx = h.message(3, ask);
        assert!(matches!(
            sends(&fx)[0].1,
            Msg::VoteReply { granted: false, .. }
        ));
    }
    assert_eq!(h.node.voted_for(), None);
    let fx = h.message(3, vote_request(5, 2, 2));
    assert_eq!(sends(&fx), vec![(NodeId(3), vote_granted(5))]);
}

#[test]
fn stale_term_messages_are_rejected() {
    let mut h = node(1, 3, false);
    h.message(2, vote_request(3, 0, 0));
    assert_eq!(h.node.term(), Term(3));

    let fx = h.message(3, append(2, (0, 0), &[(2, Some(put("x", "1")))], 1));
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(3),
            Msg::AppendReply {
                term: Term(3),
                result: AppendResult::StaleTerm,
                read_seq: 0
            }
        )]
    );
    assert_eq!(h.node.log().last_index(), LogIndex(0));
    assert_eq!(h.node.leader(), None);

    let fx = h.message(3, vote_request(2, 5, 2));
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(3),
            Msg::VoteReply {
                term: Term(3),
                granted: false,
                pre_vote: false
            }
        )]
    );
    assert_eq!(h.node.voted_for(), Some(NodeId(2)));
    assert!(!fx.iter().any(|e| matches!(e, Effect::Persist { .. })));
}

#[test]
fn a_leader_steps_down_on_a_newer_term() {
    let mut h = leader_of_three();
    h.client(7, put("x", "1"));
    let fx = h.message(
        2,
        Msg::AppendReply {
            term: Term(5),
            result: AppendResult::StaleTerm,
            read_seq: 0,
        },
    );
    assert!(!h.node.is_leader());
    assert_eq!(h.node.term(), Term(5));
    assert_eq!(
        replies(&fx),
        vec![(
            RequestId(7),
            Err(ClientError::Indeterminate("leadership lost".into()))
        )]
    );
}

#[test]
fn a_leader_commits_with_a_majority_only() {
    let mut h = H::new(1, 5, &params(false));
    h.start(&Disk::new());
    h.timer(ELECTION_TIMER);
    h.message(2, vote_granted(1));
    assert!(!h.node.is_leader(), "two of five is not a majority");
    h.message(3, vote_granted(1));
    assert!(h.node.is_leader());
    assert_eq!(h.node.status().commit, Some(LogIndex(0)));
    h.message(2, matched(1, 1, 0));
    assert_eq!(
        h.node.status().commit,
        Some(LogIndex(0)),
        "leader and one follower of five"
    );
    h.message(2, matched(1, 1, 0));
    assert_eq!(
        h.node.status().commit,
        Some(LogIndex(0)),
        "duplicates count once"
    );
    h.message(4, matched(1, 1, 0));
    assert_eq!(h.node.status().commit, Some(LogIndex(1)));
}

#[test]
fn a_leader_commits_by_counting_only_entries_of_its_own_term() {
    // n1 restarts holding an entry of term 1 and wins term 2.
    let mut disk = Disk::new();
    disk.insert(
        META_KEY.to_string(),
        Record::Meta {
            term: Term(1),
            voted_for: None,
        },
    );
    disk.insert(
        log_key(LogIndex(1)),
        Record::Entry {
            term: Term(1),
            op: Some(std::sync::Arc::new(put("x", "old"))),
        },
    );
    let mut h = H::new(1, 3, &params(false));
    h.start(&disk);
    h.timer(ELECTION_TIMER);
    h.message(2, vote_granted(2));
    assert!(h.node.is_leader());
    assert_eq!(h.node.log().last_index(), LogIndex(2), "old entry + no-op");

    // A majority holds the term-1 entry, which alone does not commit it (§5.4.2).
    h.message(2, matched(2, 1, 0));
    assert_eq!(h.node.status().commit, Some(LogIndex(0)));
    // Replicating the term-2 no-op commits both.
    h.message(2, matched(2, 2, 0));
    assert_eq!(h.node.status().commit, Some(LogIndex(2)));
    assert_eq!(
        h.node.state(),
        StateView::Kv([("x".to_string(), "old".to_string())].into())
    );
}

#[test]
fn a_leader_replies_to_a_write_only_after_commit() {
    let mut h = leader_of_three();
    let fx = h.client(7, put("x", "1"));
    assert!(replies(&fx).is_empty());
    let persist = position(
        &fx,
        |e| matches!(e, Effect::Persist { key, .. } if *key == log_key(LogIndex(2))),
    )
    .expect("entry persisted");
    let sync = position(&fx, is_sync).expect("entry synced");
    let send = position(&fx, is_send).expect("entry replicated");
    assert!(persist < sync && sync < send);

    // n2 has only the no-op: that commits index 1, not the write.
    let fx = h.message(2, matched(1, 1, 0));
    assert!(replies(&fx).is_empty());
    let fx = h.message(2, matched(1, 2, 0));
    assert_eq!(replies(&fx), vec![(RequestId(7), Ok(OpOutput::Done))]);
    // A late ack from n3 changes nothing.
    assert!(replies(&h.message(3, matched(1, 2, 0))).is_empty());
}

#[test]
fn a_cas_mismatch_is_reported_after_apply() {
    let mut h = leader_of_three();
    h.client(
        7,
        ClientOp::Cas {
            key: "x".into(),
            expected: Some("nope".into()),
            new: "1".into(),
        },
    );
    let fx = h.message(2, matched(1, 2, 0));
    assert_eq!(
        replies(&fx),
        vec![(RequestId(7), Err(ClientError::CasMismatch))]
    );
}

#[test]
fn a_read_index_read_waits_for_a_majority_heartbeat_round() {
    let mut h = leader_of_three();
    h.client(1, put("x", "1"));
    h.message(2, matched(1, 2, 0));

    let fx = h.client(2, get("x"));
    assert!(replies(&fx).is_empty(), "leadership not yet confirmed");
    let heartbeats = sends(&fx);
    assert_eq!(heartbeats.len(), 2);
    for (_, msg) in &heartbeats {
        assert!(matches!(msg, Msg::AppendEntries { read_seq: 1, .. }));
    }
    // An ack of an older round does not confirm this read.
    assert!(replies(&h.message(3, matched(1, 2, 0))).is_empty());
    let fx = h.message(3, matched(1, 2, 1));
    assert_eq!(
        replies(&fx),
        vec![(
            RequestId(2),
            Ok(OpOutput::Value {
                value: Some("1".into()),
                version: Some(2)
            })
        )]
    );
}

#[test]
fn a_read_waits_until_the_leader_commits_in_its_term() {
    let mut h = leader_of_three();
    let fx = h.client(2, get("x"));
    assert!(replies(&fx).is_empty());
    // Leadership confirmed, but the no-op is not committed yet.
    let fx = h.message(
        3,
        Msg::AppendReply {
            term: Term(1),
            result: AppendResult::Mismatch {
                rejected_prev: LogIndex(0),
                hint_index: LogIndex(1),
                hint_term: None,
            },
            read_seq: 1,
        },
    );
    assert!(replies(&fx).is_empty());
    let fx = h.message(2, matched(1, 1, 0));
    assert_eq!(
        replies(&fx),
        vec![(
            RequestId(2),
            Ok(OpOutput::Value {
                value: None,
                version: Some(0)
            })
        )]
    );
}

#[test]
fn reads_go_through_the_log_in_log_mode() {
    let mut h = H::new(1, 3, &params(false).with("reads", "log"));
    h.start(&Disk::new());
    h.timer(ELECTION_TIMER);
    h.message(2, vote_granted(1));
    let fx = h.client(2, get("x"));
    assert!(fx
        .iter()
        .any(|e| matches!(e, Effect::Persist { key, .. } if *key == log_key(LogIndex(2)))));
    let fx = h.message(2, matched(1, 2, 0));
    assert_eq!(
        replies(&fx),
        vec![(
            RequestId(2),
            Ok(OpOutput::Value {
                value: None,
                version: Some(0)
            })
        )]
    );
}

#[test]
fn a_non_leader_redirects_to_the_leader_it_knows() {
    let mut h = node(1, 3, false);
    let fx = h.client(9, put("x", "1"));
    assert_eq!(
        replies(&fx),
        vec![(RequestId(9), Err(ClientError::NotLeader { hint: None }))]
    );
    h.message(2, append(1, (0, 0), &[(1, None)], 0));
    for op in [put("x", "1"), get("x"), ClientOp::SetRead] {
        let fx = h.client(10, op);
        assert_eq!(
            fx,
            vec![Effect::Reply {
                req: RequestId(10),
                result: Err(ClientError::NotLeader {
                    hint: Some(NodeId(2))
                })
            }]
        );
    }
}

#[test]
fn a_follower_truncates_a_conflicting_suffix_and_hints_the_conflicting_term() {
    let mut h = node(3, 3, false);
    h.message(
        1,
        append(
            1,
            (0, 0),
            &[
                (1, None),
                (1, Some(put("a", "1"))),
                (1, Some(put("b", "1"))),
            ],
            1,
        ),
    );
    // A leader of term 2 probes at index 3 with a term the follower does not hold there.
    let fx = h.message(2, append(2, (3, 2), &[], 1));
    assert_eq!(
        sends(&fx),
        vec![(
            NodeId(2),
            Msg::AppendReply {
                term: Term(2),
                result: AppendResult::Mismatch {
                    rejected_prev: LogIndex(3),
                    hint_index: LogIndex(1),
                    hint_term: Some(Term(1)),
                },
                read_seq: 0
            }
        )]
    );
    let fx = h.message(2, append(2, (1, 1), &[(2, Some(put("c", "1")))], 2));
    let erase3 = position(&fx, |e| {
        *e == Effect::Erase {
            key: log_key(LogIndex(3)),
        }
    })
    .expect("old suffix erased");
    let erase2 = position(&fx, |e| {
        *e == Effect::Erase {
            key: log_key(LogIndex(2)),
        }
    })
    .expect("old suffix erased");
    let write2 = position(
        &fx,
        |e| matches!(e, Effect::Persist { key, .. } if *key == log_key(LogIndex(2))),
    )
    .expect("new entry written");
    assert!(
        erase2 < write2 && erase3 < write2,
        "erase before rewrite: {fx:#?}"
    );
    assert_eq!(h.node.log().last_index(), LogIndex(2));
    assert_eq!(h.node.log().term_at(LogIndex(2)), Some(Term(2)));
    assert_eq!(sends(&fx), vec![(NodeId(2), matched(2, 2, 0))]);
    assert_eq!(
        h.node.state(),
        StateView::Kv([("c".to_string(), "1".to_string())].into())
    );
}

#[test]
fn a_lagging_follower_catches_up_in_bounded_batches_without_waiting_for_heartbeats() {
    let mut h = leader_of_three();
    for i in 0..150 {
        h.client(i, put("k", &i.to_string()));
    }
    assert_eq!(h.node.log().last_index(), LogIndex(151));
    // n3 lost everything it was sent.
    let mut fx = h.message(
        3,
        Msg::AppendReply {
            term: Term(1),
            result: AppendResult::Mismatch {
                rejected_prev: LogIndex(151),
                hint_index: LogIndex(1),
                hint_term: None,
            },
            read_seq: 0,
        },
    );
    let mut batches = Vec::new();
    while let [(
        to,
        Msg::AppendEntries {
            prev_log_index,
            entries,
            ..
        },
    )] = &sends(&fx)[..]
    {
        assert_eq!(*to, NodeId(3));
        assert!(entries.len() <= MAX_ENTRIES_PER_APPEND);
        batches.push(entries.len());
        let matched_to = prev_log_index.0 + entries.len() as u64;
        fx = h.message(3, matched(1, matched_to, 0));
    }
    assert_eq!(batches, vec![64, 64, 23]);
    assert!(sends(&fx).is_empty(), "caught up: nothing more to send");
}

#[test]
fn a_leader_backs_up_a_whole_term_on_a_rejection() {
    let mut h = leader_of_three();
    for i in 0..3 {
        h.client(i, put("k", &i.to_string()));
    }
    // n3 never saw anything: it says so, and the leader resends from index 1.
    let fx = h.message(
        3,
        Msg::AppendReply {
            term: Term(1),
            result: AppendResult::Mismatch {
                rejected_prev: LogIndex(4),
                hint_index: LogIndex(1),
                hint_term: None,
            },
            read_seq: 0,
        },
    );
    match &sends(&fx)[..] {
        [(
            to,
            Msg::AppendEntries {
                prev_log_index,
                entries,
                ..
            },
        )] => {
            assert_eq!(*to, NodeId(3));
            assert_eq!(*prev_log_index, LogIndex(0));
            assert_eq!(entries.len(), 4);
        }
        other => panic!("expected one resend, got {other:?}"),
    }
    // The same rejection again (a duplicate) does not trigger a storm... it resends once
    // more at most, and a rejection at or below the match index is ignored.
    h.message(3, matched(1, 4, 0));
    let fx = h.message(
        3,
        Msg::AppendReply {
            term: Term(1),
            result: AppendResult::Mismatch {
                rejected_prev: LogIndex(4),
                hint_index: LogIndex(1),
                hint_term: None,
            },
            read_seq: 0,
        },
    );
    assert!(sends(&fx).is_empty());
}

/// Applies effects to a disk that, like the simulator's, keeps writes in a buffer until
/// a Sync makes them durable.
#[derive(Default, Clone)]
struct TestDisk {
    durable: Disk<Record>,
    buffered: Vec<Effect<Msg, Record>>,
}

impl TestDisk {
    fn absorb(&mut self, fx: &Fx) {
        for e in fx {
            match e {
                Effect::Persist { .. } | Effect::Erase { .. } => self.buffered.push(e.clone()),
                Effect::Sync => {
                    let buffered = std::mem::take(&mut self.buffered);
                    Self::apply(&mut self.durable, &buffered);
                }
                _ => {}
            }
        }
    }

    fn apply(disk: &mut Disk<Record>, writes: &[Effect<Msg, Record>]) {
        for w in writes {
            match w {
                Effect::Persist { key, value } => {
                    disk.insert(key.clone(), value.clone());
                }
                Effect::Erase { key } => {
                    disk.remove(key);
                }
                _ => unreachable!(),
            }
        }
    }

    /// What a crash leaves: the durable state plus the first `torn` buffered writes.
    fn crash(&self, torn: usize) -> Disk<Record> {
        let mut disk = self.durable.clone();
        Self::apply(&mut disk, &self.buffered[..torn.min(self.buffered.len())]);
        disk
    }
}

#[test]
fn restart_recovers_term_vote_and_log_from_what_was_synced() {
    let mut h = node(1, 3, false);
    let mut disk = TestDisk::default();
    disk.absorb(&h.message(2, vote_request(1, 0, 0)));
    disk.absorb(&h.message(
        2,
        append(1, (0, 0), &[(1, None), (1, Some(put("x", "1")))], 1),
    ));
    // A later call whose effects stop short of its Sync: the crash hits mid-handler.
    let fx = h.message(3, append(2, (1, 1), &[(2, Some(put("y", "2")))], 1));
    let sync = position(&fx, is_sync).expect("a sync");
    disk.absorb(&fx[..sync].to_vec());
    assert!(!disk.buffered.is_empty());

    let mut r = H::new(1, 3, &params(false));
    r.start(&disk.crash(0));
    assert_eq!(r.node.term(), Term(1));
    assert_eq!(r.node.voted_for(), Some(NodeId(2)));
    assert_eq!(r.node.log().last_index(), LogIndex(2));
    assert_eq!(r.node.log().term_at(LogIndex(2)), Some(Term(1)));
    assert_eq!(
        r.node.status().commit,
        Some(LogIndex(0)),
        "commit is volatile"
    );
    assert_eq!(r.node.status().role, Role::Follower);
    // The recovered vote still binds.
    let fx = r.message(3, vote_request(1, 9, 1));
    assert!(matches!(
        sends(&fx)[0].1,
        Msg::VoteReply { granted: false, .. }
    ));
    // Commit and state come back once a leader says so.
    r.message(2, append(1, (2, 1), &[], 2));
    assert_eq!(
        r.node.state(),
        StateView::Kv([("x".to_string(), "1".to_string())].into())
    );

    // Every torn prefix of the lost writes recovers a log that is a prefix of the old
    // history or of the new one, never a splice.
    for torn in 0..=disk.buffered.len() {
        let mut r = H::new(1, 3, &params(false));
        r.start(&disk.crash(torn));
        let log = r.node.log();
        let terms: Vec<_> = (1..=log.last_index().0)
            .map(|i| log.term_at(LogIndex(i)).unwrap().0)
            .collect();
        assert!(
            [vec![], vec![1], vec![1, 1], vec![1, 2]].contains(&terms),
            "torn at {torn}: {terms:?}"
        );
    }
}

#[test]
fn recovery_drops_entries_past_a_hole() {
    let mut disk = Disk::new();
    for (i, t) in [(1, 1), (2, 1), (4, 1)] {
        disk.insert(
            log_key(LogIndex(i)),
            Record::Entry {
                term: Term(t),
                op: None,
            },
        );
    }
    let mut h = H::new(1, 3, &params(false));
    let fx = h.start(&disk);
    assert_eq!(h.node.log().last_index(), LogIndex(2));
    let erase = position(&fx, |e| {
        *e == Effect::Erase {
            key: log_key(LogIndex(4)),
        }
    })
    .expect("stale entry erased so a later append cannot resurrect it");
    assert!(erase < position(&fx, is_sync).unwrap());
}

#[test]
fn params_are_checked() {
    assert!(Raft::config(&Params::new()).is_ok());
    assert!(Raft::config(&Params::new().with("heartbeat_msec", 10)).is_err());
    assert!(Raft::config(&Params::new().with("reads", "lease")).is_err());
    assert!(Raft::config(
        &Params::new()
            .with("election_timeout_min_ms", 500)
            .with("election_timeout_max_ms", 400)
    )
    .is_err());
    let c = Raft::config(&Params::new().with("reads", "log").with("pre_vote", false)).unwrap();
    assert_eq!(c.reads, ReadMode::Log);
    assert!(!c.pre_vote);
}

#[test]
fn a_single_node_cluster_elects_itself_and_commits_alone() {
    let mut h = H::new(1, 1, &params(true));
    h.start(&Disk::new());
    assert!(h.node.is_leader());
    let fx = h.client(1, ClientOp::SetAdd { element: 7 });
    assert_eq!(replies(&fx), vec![(RequestId(1), Ok(OpOutput::Done))]);
    let fx = h.client(2, ClientOp::SetRead);
    assert_eq!(
        replies(&fx),
        vec![(RequestId(2), Ok(OpOutput::Set([7].into())))]
    );
    assert_eq!(h.node.state(), StateView::Elements(vec![7]));
}

// ---- A tiny deterministic cluster --------------------------------------------------------

/// Bound on events one pump run may process, so a livelock fails instead of hanging.
const MAX_PUMP_STEPS: usize = 200_000;

struct Pump {
    nodes: Vec<Option<H>>,
    disks: Vec<TestDisk>,
    timers: Vec<BTreeMap<TimerId, Instant>>,
    queue: VecDeque<(u32, u32, Msg)>,
    now: Instant,
    replies: Vec<(u32, RequestId, ClientResult)>,
    /// Seeded chaos: drop/duplicate one message in `loss_in` (0: a perfect network).
    loss_in: u64,
    chaos: u64,
    params: Params,
    /// (term, leader) for every leadership ever observed: election safety.
    leaders: BTreeMap<Term, NodeId>,
    /// Nodes cut off from everyone: their messages, both ways, are dropped.
    isolated: BTreeSet<u32>,
    /// The next message this node handles crashes it part-way through its effects.
    crash_mid_handler: Option<u32>,
    /// Set adds acknowledged so far, and the union of every completed set read.
    acked_adds: BTreeSet<u64>,
    read_union: BTreeSet<u64>,
    /// Set reads in flight: what each must at least contain (linearizability: every add
    /// acknowledged, and every element read, before the read was invoked).
    reads_lower_bound: BTreeMap<RequestId, BTreeSet<u64>>,
}

impl Pump {
    fn new(size: u32, params: Params) -> Pump {
        let mut p = Pump {
            nodes: Vec::new(),
            disks: vec![TestDisk::default(); size as usize],
            timers: vec![BTreeMap::new(); size as usize],
            queue: VecDeque::new(),
            now: Instant::ZERO,
            replies: Vec::new(),
            loss_in: 0,
            chaos: 0,
            params,
            leaders: BTreeMap::new(),
            isolated: BTreeSet::new(),
            crash_mid_handler: None,
            acked_adds: BTreeSet::new(),
            read_union: BTreeSet::new(),
            reads_lower_bound: BTreeMap::new(),
        };
        for id in 1..=size {
            p.nodes.push(Some(H::new(id, size, &p.params)));
            p.boot(id);
        }
        p
    }

    fn seed(&mut self, seed: u64, loss_in: u64) {
        self.chaos = seed;
        self.loss_in = loss_in;
        for (i, n) in self.nodes.iter_mut().enumerate() {
            if let Some(h) = n {
                h.rng = rand_core::block::BlockRng::new(protocol::node::SplitMix(
                    seed.wrapping_mul(31).wrapping_add(i as u64),
                ));
            }
        }
    }

    fn rand(&mut self) -> u64 {
        self.chaos = self
            .chaos
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.chaos >> 33
    }

    fn boot(&mut self, id: u32) {
        let disk = self.disks[id as usize - 1].crash(0);
        let fx = self.h(id).start(&disk);
        self.absorb(id, fx);
    }

    fn h(&mut self, id: u32) -> &mut H {
        let now = self.now;
        let h = self.nodes[id as usize - 1].as_mut().expect("node is up");
        h.now = now;
        h
    }

    fn absorb(&mut self, id: u32, fx: Fx) {
        let i = id as usize - 1;
        self.disks[i].absorb(&fx);
        for e in fx {
            match e {
                Effect::Send { to, msg } => self.queue.push_back((id, to.0, msg)),
                Effect::SetTimer { timer, after } => {
                    self.timers[i].insert(timer, self.now + after);
                }
                Effect::CancelTimer { timer } => {
                    self.timers[i].remove(&timer);
                }
                Effect::Reply { req, result } => self.on_reply(id, req, result),
                _ => {}
            }
        }
        let status = self.h(id).node.status();
        if status.role == Role::Leader {
            let term = status.term.unwrap();
            let previous = self.leaders.insert(term, NodeId(id));
            assert!(
                previous.is_none_or(|p| p == NodeId(id)),
                "two leaders in {term}: {previous:?} and n{id}"
            );
        }
    }

    fn on_reply(&mut self, id: u32, req: RequestId, result: ClientResult) {
        if let Some(lower) = self.reads_lower_bound.remove(&req) {
            if let Ok(OpOutput::Set(got)) = &result {
                assert!(
                    lower.is_subset(got),
                    "stale read {req:?} from n{id}: missing {:?}",
                    lower.difference(got).collect::<Vec<_>>()
                );
                self.read_union.extend(got.iter().copied());
            }
        } else if result == Ok(OpOutput::Done) {
            // Adds carry their request id as the element.
            self.acked_adds.insert(req.0);
        }
        self.replies.push((id, req, result));
    }

    /// Delivers one message, or fires the earliest timer. False when nothing is left.
    fn step(&mut self) -> bool {
        if let Some((from, to, msg)) = self.queue.pop_front() {
            if self.nodes[to as usize - 1].is_none()
                || self.isolated.contains(&from)
                || self.isolated.contains(&to)
            {
                return true;
            }
            if self.crash_mid_handler == Some(to) {
                self.crash_mid_handler = None;
                let fx = self.h(to).message(from, msg);
                let cut = self.rand() as usize % (fx.len() + 1);
                self.absorb(to, fx[..cut].to_vec());
                let torn = self.rand() as usize % 4;
                self.crash(to, torn);
                return true;
            }
            if self.loss_in > 0 {
                match self.rand() % self.loss_in {
                    0 => return true,
                    1 => self.queue.push_back((from, to, msg.clone())),
                    2 => {
                        // Reorder: deliver later.
                        self.queue.push_back((from, to, msg));
                        return true;
                    }
                    _ => {}
                }
            }
            let fx = self.h(to).message(from, msg);
            self.absorb(to, fx);
            return true;
        }
        let next = self
            .timers
            .iter()
            .enumerate()
            .filter(|(i, _)| self.nodes[*i].is_some())
            .flat_map(|(i, ts)| ts.iter().map(move |(t, at)| (*at, i, *t)))
            .min();
        let Some((at, i, timer)) = next else {
            return false;
        };
        self.timers[i].remove(&timer);
        self.now = self.now.max(at);
        let id = i as u32 + 1;
        let fx = self.h(id).timer(timer);
        self.absorb(id, fx);
        true
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..MAX_PUMP_STEPS {
            let due = self.queue.is_empty()
                && self
                    .timers
                    .iter()
                    .flat_map(|t| t.values())
                    .all(|at| *at > end);
            if due || !self.step() {
                self.now = end;
                return;
            }
        }
        panic!("pump did not settle within {MAX_PUMP_STEPS} steps");
    }

    fn leaders(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .flatten()
            .filter(|h| h.node.is_leader())
            .map(|h| h.id.0)
            .collect()
    }

    fn client(&mut self, id: u32, req: u64, op: ClientOp) {
        if op == ClientOp::SetRead {
            let lower = self.acked_adds.union(&self.read_union).copied().collect();
            self.reads_lower_bound.insert(RequestId(req), lower);
        }
        let fx = self.h(id).client(req, op);
        self.absorb(id, fx);
    }

    fn crash(&mut self, id: u32, torn: usize) {
        let i = id as usize - 1;
        let survived = self.disks[i].crash(torn);
        self.disks[i] = TestDisk {
            durable: survived,
            buffered: Vec::new(),
        };
        self.nodes[i] = None;
        self.timers[i].clear();
    }

    fn restart(&mut self, id: u32) {
        let size = self.nodes.len() as u32;
        let mut h = H::new(id, size, &self.params);
        h.rng = rand_core::block::BlockRng::new(protocol::node::SplitMix(self.rand()));
        self.nodes[id as usize - 1] = Some(h);
        self.boot(id);
    }

    fn reply(&self, req: u64) -> Option<&ClientResult> {
        self.replies
            .iter()
            .find(|(_, r, _)| *r == RequestId(req))
            .map(|(_, _, res)| res)
    }
}

#[test]
fn three_nodes_elect_exactly_one_leader_and_replicate_a_put() {
    let mut c = Pump::new(3, Params::new());
    c.run_for(Duration::from_secs(2));
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    let leader = leaders[0];
    let term = c.h(leader).node.term();
    for id in 1..=3 {
        assert_eq!(c.h(id).node.term(), term, "all in the leader's term");
        assert_eq!(c.h(id).node.leader(), Some(NodeId(leader)));
    }

    c.client(leader, 1, put("x", "1"));
    c.run_for(Duration::from_millis(200));
    assert_eq!(c.reply(1), Some(&Ok(OpOutput::Done)));
    let want = StateView::Kv([("x".to_string(), "1".to_string())].into());
    for id in 1..=3 {
        assert_eq!(c.h(id).node.state(), want, "n{id} applied the put");
    }
    c.client(leader, 2, get("x"));
    c.run_for(Duration::from_millis(100));
    assert!(matches!(
        c.reply(2),
        Some(Ok(OpOutput::Value { value: Some(v), version: Some(2) })) if v == "1"
    ));
}

#[test]
fn a_crashed_leader_is_replaced_and_its_committed_write_survives() {
    let mut c = Pump::new(3, Params::new());
    c.run_for(Duration::from_secs(2));
    let old = c.leaders()[0];
    c.client(old, 1, put("x", "1"));
    c.run_for(Duration::from_millis(100));
    assert_eq!(c.reply(1), Some(&Ok(OpOutput::Done)));

    c.crash(old, 0);
    c.run_for(Duration::from_secs(2));
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    let new = leaders[0];
    assert_ne!(new, old);
    c.client(
        new,
        2,
        ClientOp::Append {
            key: "x".into(),
            value: "2".into(),
        },
    );
    c.restart(old);
    c.run_for(Duration::from_secs(1));
    assert_eq!(c.reply(2), Some(&Ok(OpOutput::Done)));
    let want = StateView::Kv([("x".to_string(), "12".to_string())].into());
    for id in 1..=3 {
        assert_eq!(c.h(id).node.state(), want, "n{id}");
    }
    assert_eq!(
        c.leaders(),
        vec![new],
        "pre-vote kept the restarted node from disrupting"
    );
}

/// Many seeds of a lossy, duplicating, reordering network with partitions and crashes
/// (mid-handler, torn disks included): one leader per term, committed prefixes agree,
/// set reads are linearizable, and every acknowledged add survives.
#[test]
fn chaos_keeps_raft_safe_across_seeds() {
    // RAFT_CHAOS_SEEDS=N sweeps more seeds by hand; the default keeps `cargo test` quick.
    let seeds = std::env::var("RAFT_CHAOS_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CHAOS_SEEDS);
    for seed in 0..seeds {
        for pre_vote in [true, false] {
            let size = if seed % 2 == 0 { 3 } else { 5 };
            let reads = if seed % 4 < 2 { "read_index" } else { "log" };
            let mut c = Pump::new(size, params(pre_vote).with("reads", reads));
            // Every third seed runs a much worse network (a quarter of messages dropped).
            c.seed(seed, if seed % 3 == 0 { 4 } else { 8 });
            let mut req = 0;
            for round in 0..CHAOS_ROUNDS {
                for _ in 0..4 {
                    // Mostly to whoever thinks it leads (stale leaders included), sometimes
                    // to anyone, to exercise redirects.
                    let leaders = c.leaders();
                    let target = if !leaders.is_empty() && (c.rand() & 3) != 0 {
                        leaders[c.rand() as usize % leaders.len()]
                    } else {
                        (c.rand() % u64::from(size)) as u32 + 1
                    };
                    if c.nodes[target as usize - 1].is_none() {
                        continue;
                    }
                    req += 1;
                    let op = if c.rand() % 3 == 1 {
                        ClientOp::SetRead
                    } else {
                        ClientOp::SetAdd { element: req }
                    };
                    c.client(target, req, op);
                }
                c.run_for(Duration::from_millis(100));
                // Crash only while a majority stays up, so the run makes progress too.
                let up = c.nodes.iter().flatten().count();
                let may_crash = up > size as usize / 2 + 1 && c.crash_mid_handler.is_none();
                match c.rand() % 10 {
                    0 if may_crash => {
                        let victim = (c.rand() % u64::from(size)) as u32 + 1;
                        if c.nodes[victim as usize - 1].is_some() {
                            let torn = c.rand() as usize % 4;
                            c.crash(victim, torn);
                        }
                    }
                    1 if may_crash => {
                        c.crash_mid_handler = Some((c.rand() % u64::from(size)) as u32 + 1)
                    }
                    2 | 3 => {
                        for id in 1..=size {
                            if c.nodes[id as usize - 1].is_none() {
                                c.restart(id);
                            }
                        }
                    }
                    4 => {
                        let victim = (c.rand() % u64::from(size)) as u32 + 1;
                        c.isolated.insert(victim);
                    }
                    5 | 6 => c.isolated.clear(),
                    _ => {}
                }
                if round % 5 == 0 {
                    check_agreement(&mut c, size, seed);
                }
            }
            // Heal: a perfect network, everyone up, until the cluster converges.
            c.loss_in = 0;
            c.isolated.clear();
            c.crash_mid_handler = None;
            for id in 1..=size {
                if c.nodes[id as usize - 1].is_none() {
                    c.restart(id);
                }
            }
            c.run_for(Duration::from_secs(5));
            check_agreement(&mut c, size, seed);
            assert_eq!(
                c.leaders().len(),
                1,
                "seed {seed}: one leader after healing"
            );
            // A final write commits everywhere, flushing every earlier entry.
            let leader = c.leaders()[0];
            c.client(leader, 1_000_000, ClientOp::SetAdd { element: 1_000_000 });
            c.run_for(Duration::from_secs(1));
            assert_eq!(c.reply(1_000_000), Some(&Ok(OpOutput::Done)), "seed {seed}");
            let states: Vec<_> = (1..=size).map(|id| c.h(id).node.state()).collect();
            assert!(
                states.windows(2).all(|w| w[0] == w[1]),
                "seed {seed}: {states:?}"
            );
            let present = states[0].distinct_elements();
            let missing: Vec<_> = c.acked_adds.difference(&present).collect();
            assert!(
                missing.is_empty(),
                "seed {seed}: acknowledged adds lost: {missing:?}"
            );
            assert!(
                c.read_union.is_subset(&present),
                "seed {seed}: read what was never added"
            );
            if std::env::var_os("RAFT_CHAOS_VERBOSE").is_some() {
                eprintln!(
                    "seed {seed} pre_vote {pre_vote} reads {reads}: terms {} acked {} present {} \
                     indeterminate {} replies {}",
                    c.leaders.len(),
                    c.acked_adds.len(),
                    present.len(),
                    c.replies
                        .iter()
                        .filter(|r| matches!(r.2, Err(ClientError::Indeterminate(_))))
                        .count(),
                    c.replies.len(),
                );
            }
        }
    }
}

/// Seeds the chaos test sweeps, each with and without pre-vote.
const CHAOS_SEEDS: u64 = 60;
/// Rounds of client load and faults per seed, 100ms of simulated time each.
const CHAOS_ROUNDS: u64 = 60;

/// Log matching on committed prefixes: any two live nodes agree on every entry both
/// have committed.
fn check_agreement(c: &mut Pump, size: u32, seed: u64) {
    let live: Vec<u32> = (1..=size)
        .filter(|id| c.nodes[*id as usize - 1].is_some())
        .collect();
    for a in &live {
        for b in &live {
            let (ca, cb) = (
                c.h(*a).node.status().commit.unwrap(),
                c.h(*b).node.status().commit.unwrap(),
            );
            let upto = ca.min(cb).0;
            for i in 1..=upto {
                let ea = c.h(*a).node.log().get(LogIndex(i)).cloned();
                let eb = c.h(*b).node.log().get(LogIndex(i)).cloned();
                assert_eq!(ea, eb, "seed {seed}: n{a} and n{b} differ at committed {i}");
            }
        }
    }
}
