//! Hand-driven tests: single nodes under `protocol::Harness` with exact effects, and whole
//! clusters of three (or five) under `protocol::Cluster`, chaos included.

use super::*;
use protocol::{
    replies, sends, Cluster, Effect, Effects, Faults, Harness, InvariantId, NodeEffect, Reply,
    Storage,
};
use std::collections::BTreeMap;

type H = Harness<Raft>;
type Fx = Effects<Raft>;
type Fe = NodeEffect<Raft>;

fn params(pre_vote: bool) -> Params {
    Params::new().with("pre_vote", pre_vote)
}

fn node(id: u32, size: u32, pre_vote: bool) -> H {
    let mut h = H::new(id, size, &params(pre_vote));
    h.start(&Disk::new());
    h
}

fn put(key: &str, value: &str) -> KvOp {
    KvOp::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn get(key: &str) -> KvOp {
    KvOp::Get { key: key.into() }
}

/// The key a grow-only set lives under: Raft serves kv only, so a set is one key whose
/// value is its elements, each appended as ` <element>`.
const SET_KEY: &str = "s";

/// Adds `element` to the set under [`SET_KEY`].
fn add(element: u64) -> KvOp {
    KvOp::Append {
        key: SET_KEY.into(),
        value: format!(" {element}"),
    }
}

/// Reads the set under [`SET_KEY`].
fn read_set() -> KvOp {
    get(SET_KEY)
}

/// The elements a value of [`SET_KEY`] holds, in append order (absent: none).
fn elements(value: Option<&str>) -> Vec<u64> {
    value
        .unwrap_or("")
        .split_whitespace()
        .map(|t| t.parse().expect("only adds write the set key"))
        .collect()
}

fn position(fx: &Fx, pred: impl Fn(&Fe) -> bool) -> Option<usize> {
    fx.iter().position(pred)
}

fn is_send(e: &Fe) -> bool {
    matches!(e, Effect::Send { .. })
}

fn is_sync(e: &Fe) -> bool {
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

fn append(term: u64, prev: (u64, u64), entries: &[(u64, Option<KvOp>)], commit: u64) -> Msg {
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
        KvState([("x".to_string(), "old".to_string())].into())
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
    assert_eq!(replies(&fx), vec![(RequestId(7), Ok(KvOutput::Done))]);
    // A late ack from n3 changes nothing.
    assert!(replies(&h.message(3, matched(1, 2, 0))).is_empty());
}

#[test]
fn a_cas_mismatch_is_reported_after_apply() {
    let mut h = leader_of_three();
    h.client(
        7,
        KvOp::Cas {
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
            Ok(KvOutput::Value {
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
            Ok(KvOutput::Value {
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
            Ok(KvOutput::Value {
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
    for op in [put("x", "1"), get("x"), KvOp::Delete { key: "x".into() }] {
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
        KvState([("c".to_string(), "1".to_string())].into())
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

#[test]
fn restart_recovers_term_vote_and_log_from_what_was_synced() {
    let mut h = node(1, 3, false);
    let mut disk = Storage::new();
    disk.absorb(&h.message(2, vote_request(1, 0, 0)));
    disk.absorb(&h.message(
        2,
        append(1, (0, 0), &[(1, None), (1, Some(put("x", "1")))], 1),
    ));
    // A later call whose effects stop short of its Sync: the crash hits mid-handler.
    let fx = h.message(3, append(2, (1, 1), &[(2, Some(put("y", "2")))], 1));
    let sync = position(&fx, is_sync).expect("a sync");
    disk.absorb(&fx[..sync]);
    assert!(disk.buffered() > 0);

    let mut r = H::new(1, 3, &params(false));
    r.start(&disk.surviving(0));
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
        KvState([("x".to_string(), "1".to_string())].into())
    );

    // Every torn prefix of the lost writes recovers a log that is a prefix of the old
    // history or of the new one, never a splice.
    for torn in 0..=disk.buffered() {
        let mut r = H::new(1, 3, &params(false));
        r.start(&disk.surviving(torn));
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
fn describes_itself_as_the_linearizable_reference() {
    assert_eq!(Raft::NAME, "raft");
    let config = Raft::config(&Params::new()).unwrap();
    let shape = Raft::shape(&config, 5).unwrap();
    assert_eq!(
        shape,
        Shape {
            replicas: 5,
            extra: 0
        }
    );
    let ids: Vec<InvariantId> = Raft::promised(&config, &shape);
    assert_eq!(
        ids,
        vec![
            InvariantId::DURABILITY,
            InvariantId::CONVERGENCE,
            InvariantId::LINEARIZABILITY
        ]
    );
}

#[test]
fn a_single_node_cluster_elects_itself_and_commits_alone() {
    let mut h = H::new(1, 1, &params(true));
    h.start(&Disk::new());
    assert!(h.node.is_leader());
    let fx = h.client(1, add(7));
    assert_eq!(replies(&fx), vec![(RequestId(1), Ok(KvOutput::Done))]);
    let fx = h.client(2, read_set());
    assert_eq!(
        replies(&fx),
        vec![(
            RequestId(2),
            Ok(KvOutput::Value {
                value: Some(" 7".into()),
                version: Some(2)
            })
        )]
    );
    assert_eq!(
        h.node.state(),
        KvState([(SET_KEY.to_string(), " 7".to_string())].into())
    );
}

// ---- Whole clusters, under `protocol::Cluster` ---------------------------------------------

fn cluster(size: u32, params: &Params) -> Cluster<Raft> {
    Cluster::new(size, params)
}

/// A grow-only set kept under [`SET_KEY`], judged from the cluster's replies as they come:
/// a read returns at least every add acknowledged, and every element read, before it was
/// invoked (the lower bound linearizability sets), and every acknowledged add must survive.
#[derive(Default)]
struct SetChecks {
    /// Replies judged so far.
    judged: usize,
    /// Adds acknowledged so far (each element is the request id that added it), and the
    /// union of every completed read.
    acked_adds: BTreeSet<u64>,
    read_union: BTreeSet<u64>,
    /// Reads in flight: what each must at least contain.
    reads_lower_bound: BTreeMap<RequestId, BTreeSet<u64>>,
}

impl SetChecks {
    /// Sends `op` to node `id` as request `req`. Every earlier reply is judged first, so
    /// a read's lower bound holds exactly what completed before it was invoked.
    fn client(&mut self, c: &mut Cluster<Raft>, id: u32, req: u64, op: KvOp) {
        self.judge(c);
        if op == read_set() {
            let lower = self.acked_adds.union(&self.read_union).copied().collect();
            self.reads_lower_bound.insert(RequestId(req), lower);
        }
        c.client(id, req, op);
        self.judge(c);
    }

    /// Judges the replies that came since the last call, in order.
    fn judge(&mut self, c: &Cluster<Raft>) {
        for Reply { node, req, result } in &c.replies()[self.judged..] {
            if let Some(lower) = self.reads_lower_bound.remove(req) {
                if let Ok(KvOutput::Value { value, .. }) = result {
                    let got: BTreeSet<u64> = elements(value.as_deref()).into_iter().collect();
                    assert!(
                        lower.is_subset(&got),
                        "stale read {req:?} from n{node}: missing {:?}",
                        lower.difference(&got).collect::<Vec<_>>()
                    );
                    self.read_union.extend(got);
                }
            } else if *result == Ok(KvOutput::Done) {
                self.acked_adds.insert(req.0);
            }
        }
        self.judged = c.replies().len();
    }
}

#[test]
fn three_nodes_elect_exactly_one_leader_and_replicate_a_put() {
    let mut c = cluster(3, &Params::new());
    c.run_for(Duration::from_secs(2));
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1, "exactly one leader: {leaders:?}");
    let leader = leaders[0];
    let term = c.node(leader).term();
    for id in 1..=3 {
        assert_eq!(c.node(id).term(), term, "all in the leader's term");
        assert_eq!(c.node(id).leader(), Some(NodeId(leader)));
    }

    c.client(leader, 1, put("x", "1"));
    c.run_for(Duration::from_millis(200));
    assert_eq!(c.reply(1), Some(&Ok(KvOutput::Done)));
    let want = KvState([("x".to_string(), "1".to_string())].into());
    for id in 1..=3 {
        assert_eq!(c.node(id).state(), want, "n{id} applied the put");
    }
    c.client(leader, 2, get("x"));
    c.run_for(Duration::from_millis(100));
    assert!(matches!(
        c.reply(2),
        Some(Ok(KvOutput::Value { value: Some(v), version: Some(2) })) if v == "1"
    ));
}

#[test]
fn a_crashed_leader_is_replaced_and_its_committed_write_survives() {
    let mut c = cluster(3, &Params::new());
    c.run_for(Duration::from_secs(2));
    let old = c.leaders()[0];
    c.client(old, 1, put("x", "1"));
    c.run_for(Duration::from_millis(100));
    assert_eq!(c.reply(1), Some(&Ok(KvOutput::Done)));

    c.crash(old, 0);
    c.run_for(Duration::from_secs(2));
    let leaders = c.leaders();
    assert_eq!(leaders.len(), 1);
    let new = leaders[0];
    assert_ne!(new, old);
    c.client(
        new,
        2,
        KvOp::Append {
            key: "x".into(),
            value: "2".into(),
        },
    );
    c.restart(old);
    c.run_for(Duration::from_secs(1));
    assert_eq!(c.reply(2), Some(&Ok(KvOutput::Done)));
    let want = KvState([("x".to_string(), "12".to_string())].into());
    for id in 1..=3 {
        assert_eq!(c.node(id).state(), want, "n{id}");
    }
    assert_eq!(
        c.leaders(),
        vec![new],
        "pre-vote kept the restarted node from disrupting"
    );
}

/// Many seeds of a lossy, duplicating, reordering network with partitions and crashes
/// (mid-handler, torn disks included): one leader per term (checked by the cluster after
/// every handler), committed prefixes agree, set reads are linearizable, and every
/// acknowledged add survives. The set is appends to one key ([`add`], [`read_set`]),
/// each element the request id that added it.
#[test]
fn chaos_keeps_raft_safe_across_seeds() {
    // RAFT_CHAOS_SEEDS=N sweeps more seeds by hand; the default keeps `cargo test` quick.
    let seeds = std::env::var("RAFT_CHAOS_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CHAOS_SEEDS);
    let mut faults = Vec::new();
    for seed in 0..seeds {
        for pre_vote in [true, false] {
            faults.push(chaos_run(seed, pre_vote));
        }
    }
    // Every fault struck somewhere in the sweep, so the checks were put to the test.
    let struck = |count: fn(&Faults) -> u64| faults.iter().any(|f| count(f) > 0);
    assert!(struck(|f| f.dropped) && struck(|f| f.duplicated) && struck(|f| f.reordered));
    assert!(struck(|f| f.cut_off) && struck(|f| f.crashes) && struck(|f| f.mid_handler_crashes));
    assert!(
        struck(|f| f.writes_torn) && struck(|f| f.writes_lost),
        "{faults:?}"
    );
}

/// Seeds the chaos test sweeps, each with and without pre-vote.
const CHAOS_SEEDS: u64 = 60;
/// Rounds of client load and faults per seed, 100ms of simulated time each.
const CHAOS_ROUNDS: u64 = 60;

/// One chaos run; the faults that struck in it.
fn chaos_run(seed: u64, pre_vote: bool) -> Faults {
    let size = if seed.is_multiple_of(2) { 3 } else { 5 };
    let reads = if seed % 4 < 2 { "read_index" } else { "log" };
    let mut c = cluster(size, &params(pre_vote).with("reads", reads)).seeded(seed);
    // Every third seed runs a much worse network (a quarter of messages dropped).
    c.set_chaos(if seed.is_multiple_of(3) { 4 } else { 8 });
    // The test's own choices (targets, faults), apart from the cluster's streams.
    let mut rng = protocol::split_mix(seed);
    let mut pick = |n: u64| protocol::below(&mut rng, n);
    let mut set = SetChecks::default();
    let mut req = 0;
    for round in 0..CHAOS_ROUNDS {
        for _ in 0..4 {
            // Mostly to whoever thinks it leads (stale leaders included), sometimes to
            // anyone, to exercise redirects.
            let leaders = c.leaders();
            let target = if !leaders.is_empty() && pick(4) != 0 {
                leaders[pick(leaders.len() as u64) as usize]
            } else {
                pick(u64::from(size)) as u32 + 1
            };
            if !c.is_up(target) {
                continue;
            }
            req += 1;
            let op = if pick(3) == 1 { read_set() } else { add(req) };
            set.client(&mut c, target, req, op);
        }
        c.run_for(Duration::from_millis(100));
        // Crash only while a majority stays up, so the run makes progress too.
        let up = (1..=size).filter(|id| c.is_up(*id)).count();
        let pending = (1..=size).any(|id| c.crash_pending(id));
        let may_crash = up > size as usize / 2 + 1 && !pending;
        match pick(10) {
            0 if may_crash => {
                let victim = pick(u64::from(size)) as u32 + 1;
                if c.is_up(victim) {
                    c.crash(victim, pick(4) as usize);
                }
            }
            1 if may_crash => c.crash_mid_handler(pick(u64::from(size)) as u32 + 1),
            2 | 3 => {
                for id in 1..=size {
                    if !c.is_up(id) {
                        c.restart(id);
                    }
                }
            }
            4 => c.isolate(pick(u64::from(size)) as u32 + 1),
            5 | 6 => c.heal(),
            _ => {}
        }
        if round % 5 == 0 {
            check_agreement(&c, seed);
        }
    }
    // Heal: a perfect network, everyone up, until the cluster converges.
    c.quiesce();
    c.run_for(Duration::from_secs(5));
    check_agreement(&c, seed);
    assert_eq!(
        c.leaders().len(),
        1,
        "seed {seed}: one leader after healing"
    );
    // A final write commits everywhere, flushing every earlier entry.
    let leader = c.leaders()[0];
    set.client(&mut c, leader, 1_000_000, add(1_000_000));
    c.run_for(Duration::from_secs(1));
    set.judge(&c);
    assert_eq!(c.reply(1_000_000), Some(&Ok(KvOutput::Done)), "seed {seed}");
    let states: Vec<_> = (1..=size).map(|id| c.node(id).state()).collect();
    assert!(
        states.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: {states:?}"
    );
    let applied = elements(states[0].0.get(SET_KEY).map(String::as_str));
    let present: BTreeSet<u64> = applied.iter().copied().collect();
    assert_eq!(
        applied.len(),
        present.len(),
        "seed {seed}: an add applied twice: {applied:?}"
    );
    let missing: Vec<_> = set.acked_adds.difference(&present).collect();
    assert!(
        missing.is_empty(),
        "seed {seed}: acknowledged adds lost: {missing:?}"
    );
    assert!(
        set.read_union.is_subset(&present),
        "seed {seed}: read what was never added"
    );
    if std::env::var_os("RAFT_CHAOS_VERBOSE").is_some() {
        let replies = c.replies();
        let indeterminate = replies
            .iter()
            .filter(|r| matches!(r.result, Err(ClientError::Indeterminate(_))))
            .count();
        eprintln!(
            "seed {seed} pre_vote {pre_vote} reads {reads}: terms {} acked {} present {} \
             indeterminate {indeterminate} replies {}\n  {:?}",
            c.leaders_by_term().len(),
            set.acked_adds.len(),
            present.len(),
            replies.len(),
            c.faults(),
        );
    }
    *c.faults()
}

/// Log matching on committed prefixes: any two live nodes agree on every entry both
/// have committed.
fn check_agreement(c: &Cluster<Raft>, seed: u64) {
    let live: Vec<u32> = (1..=c.size()).filter(|id| c.is_up(*id)).collect();
    for a in &live {
        for b in &live {
            let (na, nb) = (c.node(*a), c.node(*b));
            let upto = na
                .status()
                .commit
                .unwrap()
                .min(nb.status().commit.unwrap())
                .0;
            for i in 1..=upto {
                let ea = na.log().get(LogIndex(i));
                let eb = nb.log().get(LogIndex(i));
                assert_eq!(ea, eb, "seed {seed}: n{a} and n{b} differ at committed {i}");
            }
        }
    }
}
