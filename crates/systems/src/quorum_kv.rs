//! `quorum-kv`: the "consistent store" of seed 04 (`04-quorum-consistency-store.md`),
//! ported from its TypeScript listing (the Python one agrees), flaws included.
//!
//! What the design does, and this port keeps:
//! - Everything lives in memory (`Map`): a crash loses the node's data, term and role.
//! - Every `election_timeout_ms` (6 s) a non-leader that heard no heartbeat for that long
//!   bumps its term; the lowest id among all configured nodes becomes leader, every other
//!   node sets `leaderId` to it and stays a follower. `lastHeartbeat` is not reset, so a
//!   follower cut off from the leader bumps its term every 6 s for as long as it lasts.
//! - The leader sends a heartbeat every `heartbeat_interval_ms` (2 s). Heartbeats and
//!   replication are accepted only with `term >= mine`; the leader never bumps its term
//!   again, so a follower whose term ran ahead (a partition, or a restarted leader back at
//!   term 1) ignores the leader forever.
//! - A write (leader only) applies locally, then pushes the *whole map* to every follower
//!   and waits for all of them. The follower answers 200 whether or not it applied it (a
//!   stale-term push is ignored but still acked), and merges the map entry by entry, so a
//!   deleted key is never removed on followers and an older snapshot that arrives late
//!   overwrites newer values. Acks + 1 >= `w` is "achievedQuorum".
//! - Deletes apply locally and push the map, ignoring the quorum outcome.
//! - Reads are served by any node. `eventual`: the local value. `strong`: ask every peer,
//!   add the local value last, and if at least `r` answered return the first value found
//!   (peers in id order, then local), otherwise the local value. `read_your_writes` reads
//!   `pendingWrites`, which nothing ever fills: it is the local value.
//! - `version` in `/internal/get` is 1 when the key exists, 0 otherwise: not a version, so
//!   `KvOutput::Value` carries `version: None`.
//!
//! Choices where the design is silent:
//! - The TypeScript election sorts `[nodeId, ...peers]` where peers are URLs, so no node
//!   ever matches the lowest entry; the design's own output and the seed README say node 1
//!   leads, so this port compares node ids (leader = lowest configured id).
//! - Request timeouts: the Python listing's `urlopen(timeout=1)`, `request_timeout_ms`
//!   (1 s); the TypeScript listing has none.
//! - A JS timer fires a little after its due time, so the election check is
//!   `since >= election_timeout` (a strict `>` would always miss the check that falls
//!   exactly on the deadline in simulation).
//! - Consistency is per request in the design (`?consistency=`); `KvOp::Get` has no
//!   such field, so `read_consistency` applies to every read.
//! - Put answers: quorum achieved → `Done`; not achieved → `Indeterminate` (applied on the
//!   leader, answered 200 with `achievedQuorum: false`). A non-leader answers 503 with
//!   `leaderId` → `NotLeader { hint }`. Delete of an absent key (404) → `Rejected`.
//! - `Append` and `Cas` are not in the design's API → `Rejected`.
//! - Read repair (`read_repair`, exercise 4): after a strong read that found a value, send
//!   that value to every answering node, the reader included, whose value differs. With no
//!   versions "newer" cannot be known, so the first value found is taken as newest; the
//!   repair is applied unconditionally (no term check).

use check::invariants::{Convergence, Durability, Linearizability, Sessions};
use check::models::kv::{KvModel, KvOp, KvOutput, KvState, KvWorkload};
use core::time::Duration;
use protocol::{
    ClientError, Cx, Disk, Instant, Node, NodeId, NodeStatus, ParamError, Params, Promises,
    RequestId, Role, Shape, System, Term, TimerId, WorkloadSpec,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadConsistency {
    Eventual,
    Strong,
    ReadYourWrites,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    pub request_timeout: Duration,
    pub w: usize,
    pub r: usize,
    pub read_consistency: ReadConsistency,
    pub read_repair: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// `/internal/heartbeat`; its answer is ignored by the sender, so it has none here.
    Heartbeat {
        term: u64,
    },
    /// `/internal/replicate`: the whole map.
    Replicate {
        req: u64,
        term: u64,
        data: BTreeMap<String, String>,
    },
    /// HTTP 200 for a replicate, sent whether or not the map was applied.
    ReplicateOk {
        req: u64,
    },
    /// `/internal/get`.
    Get {
        req: u64,
        key: String,
    },
    GetOk {
        req: u64,
        value: Option<String>,
    },
    /// Read repair: fire and forget.
    Repair {
        key: String,
        value: String,
    },
}

const ELECTION_TIMER: TimerId = TimerId(1);
const HEARTBEAT_TIMER: TimerId = TimerId(2);
/// Request timeouts use `REQUEST_TIMER_BASE + request number`.
const REQUEST_TIMER_BASE: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRole {
    Leader,
    Follower,
}

#[derive(Clone, Debug)]
enum OpKind {
    /// A put or delete (or the push on becoming leader, `client: None`).
    Write {
        client: Option<RequestId>,
        /// `Some(existed)` for a delete.
        delete_existed: Option<bool>,
        acks: usize,
    },
    StrongRead {
        client: RequestId,
        key: String,
        /// Per answering peer, its value; failed peers are absent.
        answers: BTreeMap<NodeId, Option<String>>,
    },
}

/// One `Promise.all` over the peers.
#[derive(Clone, Debug)]
struct Op {
    kind: OpKind,
    outstanding: BTreeSet<u64>,
}

pub struct QuorumKv {
    id: NodeId,
    cluster: Vec<NodeId>,
    config: Config,
    role: NodeRole,
    term: u64,
    data: BTreeMap<String, String>,
    leader_id: Option<NodeId>,
    last_heartbeat: Instant,
    next_req: u64,
    /// Bounded in time: each request leaves by its answer or its timeout timer.
    requests: BTreeMap<u64, (u64, NodeId)>,
    ops: BTreeMap<u64, Op>,
    next_op: u64,
}

type QCx<'a> = Cx<'a, QuorumKv>;

impl QuorumKv {
    /// Sends one request per peer and opens an op that settles when all have answered or
    /// timed out.
    fn fan_out(&mut self, cx: &mut QCx<'_>, kind: OpKind, msg: impl Fn(u64) -> Msg) {
        let op = self.next_op;
        self.next_op += 1;
        let mut outstanding = BTreeSet::new();
        let peers: Vec<NodeId> = cx.peers().collect();
        for peer in peers {
            let req = self.next_req;
            self.next_req += 1;
            outstanding.insert(req);
            self.requests.insert(req, (op, peer));
            cx.send(peer, msg(req));
            cx.set_timer(
                TimerId(REQUEST_TIMER_BASE + req),
                self.config.request_timeout,
            );
        }
        self.ops.insert(op, Op { kind, outstanding });
        self.maybe_finish(cx, op);
    }

    fn replicate(
        &mut self,
        cx: &mut QCx<'_>,
        client: Option<RequestId>,
        delete_existed: Option<bool>,
    ) {
        let data = self.data.clone();
        let term = self.term;
        let kind = OpKind::Write {
            client,
            delete_existed,
            acks: 0,
        };
        self.fan_out(cx, kind, |req| Msg::Replicate {
            req,
            term,
            data: data.clone(),
        });
    }

    fn start_election(&mut self, cx: &mut QCx<'_>) {
        self.term += 1;
        let lowest = *self.cluster.iter().min().expect("cluster is not empty");
        if lowest == self.id {
            self.role = NodeRole::Leader;
            self.leader_id = Some(self.id);
            cx.note(format!("became leader for term {}", self.term));
            self.replicate(cx, None, None);
        } else {
            self.role = NodeRole::Follower;
            self.leader_id = Some(lowest);
        }
    }

    /// One answer (`Some`) or timeout (`None`) for request `req`.
    fn settle(&mut self, cx: &mut QCx<'_>, req: u64, answer: Option<Option<String>>) {
        let Some((op_id, peer)) = self.requests.remove(&req) else {
            return;
        };
        cx.cancel_timer(TimerId(REQUEST_TIMER_BASE + req));
        let Some(op) = self.ops.get_mut(&op_id) else {
            return;
        };
        op.outstanding.remove(&req);
        match (&mut op.kind, answer) {
            (OpKind::Write { acks, .. }, Some(_)) => *acks += 1,
            (OpKind::StrongRead { answers, .. }, Some(value)) => {
                answers.insert(peer, value);
            }
            (_, None) => {}
        }
        self.maybe_finish(cx, op_id);
    }

    fn maybe_finish(&mut self, cx: &mut QCx<'_>, op_id: u64) {
        if !self
            .ops
            .get(&op_id)
            .is_some_and(|op| op.outstanding.is_empty())
        {
            return;
        }
        let op = self.ops.remove(&op_id).expect("checked above");
        match op.kind {
            OpKind::Write {
                client,
                delete_existed,
                acks,
            } => {
                let Some(client) = client else { return };
                let result = match delete_existed {
                    Some(true) => Ok(KvOutput::Done),
                    Some(false) => Err(ClientError::Rejected("key not found".into())),
                    None if acks + 1 >= self.config.w => Ok(KvOutput::Done),
                    None => Err(ClientError::Indeterminate(format!(
                        "applied on the leader; {} of {} nodes (W={})",
                        acks + 1,
                        self.cluster.len(),
                        self.config.w
                    ))),
                };
                cx.reply(client, result);
            }
            OpKind::StrongRead {
                client,
                key,
                answers,
            } => {
                let local = self.data.get(&key).cloned();
                let responses = answers.len() + 1;
                let value = if responses >= self.config.r {
                    // First value found: peers in id order, then the local one.
                    answers
                        .values()
                        .chain(std::iter::once(&local))
                        .find_map(|v| v.clone())
                } else {
                    local.clone()
                };
                if self.config.read_repair && responses >= self.config.r {
                    if let Some(found) = &value {
                        for (peer, v) in &answers {
                            if v.as_ref() != Some(found) {
                                cx.send(
                                    *peer,
                                    Msg::Repair {
                                        key: key.clone(),
                                        value: found.clone(),
                                    },
                                );
                            }
                        }
                        if local.as_ref() != Some(found) {
                            self.data.insert(key.clone(), found.clone());
                        }
                    }
                }
                cx.reply(
                    client,
                    Ok(KvOutput::Value {
                        value,
                        version: None,
                    }),
                );
            }
        }
    }

    fn not_leader(&self, cx: &mut QCx<'_>, req: RequestId) {
        let hint = self.leader_id.filter(|l| *l != self.id);
        cx.reply(req, Err(ClientError::NotLeader { hint }));
    }

    /// `handleHeartbeat` / the preamble of `handleReplication`.
    fn accept_leader(&mut self, cx: &mut QCx<'_>, from: NodeId, term: u64) -> bool {
        if term < self.term {
            return false;
        }
        self.term = term;
        self.last_heartbeat = cx.now();
        self.leader_id = Some(from);
        self.role = NodeRole::Follower;
        true
    }
}

impl Node for QuorumKv {
    type Msg = Msg;
    type Record = ();
    type Config = Config;
    type Op = KvOp;
    type State = KvState;

    fn config(params: &Params) -> Result<Config, ParamError> {
        const KNOWN: &[&str] = &[
            "heartbeat_interval_ms",
            "election_timeout_ms",
            "request_timeout_ms",
            "w",
            "r",
            "read_consistency",
            "read_repair",
        ];
        params.only(KNOWN)?;
        let read_consistency = match params
            .choice(
                "read_consistency",
                "eventual",
                &["eventual", "strong", "read_your_writes"],
            )?
            .as_str()
        {
            "strong" => ReadConsistency::Strong,
            "read_your_writes" => ReadConsistency::ReadYourWrites,
            _ => ReadConsistency::Eventual,
        };
        Ok(Config {
            heartbeat_interval: params.millis("heartbeat_interval_ms", 2000)?,
            election_timeout: params.millis("election_timeout_ms", 6000)?,
            request_timeout: params.millis("request_timeout_ms", 1000)?,
            // The design's WRITE_QUORUM / READ_QUORUM defaults.
            w: params.u64("w", 2)? as usize,
            r: params.u64("r", 1)? as usize,
            read_consistency,
            read_repair: params.bool("read_repair", false)?,
        })
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Self {
        QuorumKv {
            id,
            cluster: cluster.to_vec(),
            config: config.clone(),
            role: NodeRole::Follower,
            term: 0,
            data: BTreeMap::new(),
            leader_id: None,
            last_heartbeat: Instant::ZERO,
            next_req: 0,
            requests: BTreeMap::new(),
            ops: BTreeMap::new(),
            next_op: 0,
        }
    }

    fn on_start(&mut self, cx: &mut QCx<'_>, _disk: &Disk<()>) {
        // Nothing is on disk: the design keeps everything in memory.
        self.last_heartbeat = cx.now();
        cx.set_timer(ELECTION_TIMER, self.config.election_timeout);
        cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat_interval);
    }

    fn on_message(&mut self, cx: &mut QCx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Heartbeat { term } => {
                self.accept_leader(cx, from, term);
            }
            Msg::Replicate { req, term, data } => {
                if self.accept_leader(cx, from, term) {
                    self.data.extend(data);
                }
                cx.send(from, Msg::ReplicateOk { req });
            }
            Msg::ReplicateOk { req } => self.settle(cx, req, Some(None)),
            Msg::Get { req, key } => {
                let value = self.data.get(&key).cloned();
                cx.send(from, Msg::GetOk { req, value });
            }
            Msg::GetOk { req, value } => self.settle(cx, req, Some(value)),
            Msg::Repair { key, value } => {
                self.data.insert(key, value);
            }
        }
    }

    fn on_timer(&mut self, cx: &mut QCx<'_>, timer: TimerId) {
        match timer {
            ELECTION_TIMER => {
                let since = cx.now().saturating_since(self.last_heartbeat);
                if since >= self.config.election_timeout && self.role != NodeRole::Leader {
                    cx.note("election timeout");
                    self.start_election(cx);
                }
                cx.set_timer(ELECTION_TIMER, self.config.election_timeout);
            }
            HEARTBEAT_TIMER => {
                if self.role == NodeRole::Leader {
                    cx.broadcast(Msg::Heartbeat { term: self.term });
                }
                cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat_interval);
            }
            TimerId(t) if t >= REQUEST_TIMER_BASE => self.settle(cx, t - REQUEST_TIMER_BASE, None),
            _ => {}
        }
    }

    fn on_client(&mut self, cx: &mut QCx<'_>, req: RequestId, op: KvOp) {
        match op {
            KvOp::Put { key, value } => {
                if self.role != NodeRole::Leader {
                    return self.not_leader(cx, req);
                }
                self.data.insert(key, value);
                self.replicate(cx, Some(req), None);
            }
            KvOp::Delete { key } => {
                if self.role != NodeRole::Leader {
                    return self.not_leader(cx, req);
                }
                let existed = self.data.remove(&key).is_some();
                self.replicate(cx, Some(req), Some(existed));
            }
            KvOp::Get { key } => match self.config.read_consistency {
                ReadConsistency::Eventual | ReadConsistency::ReadYourWrites => {
                    let value = self.data.get(&key).cloned();
                    cx.reply(
                        req,
                        Ok(KvOutput::Value {
                            value,
                            version: None,
                        }),
                    );
                }
                ReadConsistency::Strong => {
                    let kind = OpKind::StrongRead {
                        client: req,
                        key: key.clone(),
                        answers: BTreeMap::new(),
                    };
                    self.fan_out(cx, kind, |r| Msg::Get {
                        req: r,
                        key: key.clone(),
                    });
                }
            },
            other => cx.reply(
                req,
                Err(ClientError::Rejected(format!(
                    "the store has get, put and delete only, not `{other}`"
                ))),
            ),
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: match self.role {
                NodeRole::Leader => Role::Leader,
                NodeRole::Follower => Role::Follower,
            },
            term: Some(Term(self.term)),
            commit: None,
            scope: NodeStatus::ALL,
        }
    }

    fn state(&self) -> KvState {
        KvState(self.data.clone())
    }
}

impl System for QuorumKv {
    const NAME: &'static str = "quorum-kv";
    type Workload = KvWorkload;

    fn workload(
        _config: &Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }

    /// Durability and convergence always: the design acknowledges writes and replicates
    /// them to every node. Linearizability only for strong reads that meet a write quorum
    /// (R + W > N), which is the design's stated reason for offering them (seed 04,
    /// "strong consistency"); sessions only for `read_your_writes`, which promises them by
    /// name. Eventual reads promise neither.
    fn promises(config: &Config, shape: &Shape) -> Promises<QuorumKv> {
        let mut promises: Promises<QuorumKv> = vec![Box::new(Durability), Box::new(Convergence)];
        if config.read_consistency == ReadConsistency::Strong
            && config.r + config.w > shape.replicas as usize
        {
            promises.push(Box::new(Linearizability(KvModel::default())));
        }
        if config.read_consistency == ReadConsistency::ReadYourWrites {
            promises.push(Box::new(Sessions));
        }
        promises
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{replies, sends, Harness, InvariantId};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn node(id: u32, params: &Params) -> Harness<QuorumKv> {
        let mut h = Harness::<QuorumKv>::new(id, 3, params);
        h.start(&Disk::new());
        h
    }

    fn leader(params: &Params) -> Harness<QuorumKv> {
        let mut h = node(1, params);
        h.advance(ms(6000));
        let fx = h.timer(ELECTION_TIMER);
        assert_eq!(sends(&fx).len(), 2, "pushes the map on becoming leader");
        assert_eq!(h.node.status().role, Role::Leader);
        assert_eq!(h.node.status().term, Some(Term(1)));
        // Let the initial pushes time out.
        h.timer(TimerId(REQUEST_TIMER_BASE));
        h.timer(TimerId(REQUEST_TIMER_BASE + 1));
        h
    }

    fn put(key: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    fn reqs(fx: &protocol::Effects<QuorumKv>) -> Vec<(NodeId, u64)> {
        sends(fx)
            .into_iter()
            .filter_map(|(to, m)| match m {
                Msg::Replicate { req, .. } | Msg::Get { req, .. } => Some((to, req)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn lowest_id_leads_and_others_wait_for_it() {
        let _ = leader(&Params::new());
        let mut n2 = node(2, &Params::new());
        n2.advance(ms(6000));
        let fx = n2.timer(ELECTION_TIMER);
        assert!(sends(&fx).is_empty());
        assert_eq!(n2.node.status().role, Role::Follower);
        assert_eq!(n2.node.status().term, Some(Term(1)));
        let fx = n2.client(1, put("a", "1"));
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(1),
                Err(ClientError::NotLeader {
                    hint: Some(NodeId(1))
                })
            )]
        );
    }

    #[test]
    fn a_write_acks_only_with_w_acks() {
        let params = Params::new().with("w", 3);
        let mut l = leader(&params);
        let fx = l.client(1, put("a", "1"));
        assert!(replies(&fx).is_empty());
        let r = reqs(&fx);
        assert_eq!(r.len(), 2);
        assert!(replies(&l.message(2, Msg::ReplicateOk { req: r[0].1 })).is_empty());
        let fx = l.message(3, Msg::ReplicateOk { req: r[1].1 });
        assert_eq!(replies(&fx), vec![(RequestId(1), Ok(KvOutput::Done))]);

        // One follower silent: 2 of 3 < W=3, applied on the leader but not acknowledged.
        let fx = l.client(2, put("a", "2"));
        let r = reqs(&fx);
        l.message(2, Msg::ReplicateOk { req: r[0].1 });
        let fx = l.timer(TimerId(REQUEST_TIMER_BASE + r[1].1));
        assert!(matches!(
            replies(&fx)[..],
            [(RequestId(2), Err(ClientError::Indeterminate(_)))]
        ));
        assert_eq!(
            l.node.state(),
            KvState([("a".to_string(), "2".to_string())].into())
        );
    }

    #[test]
    fn stale_term_push_is_ignored_but_still_acked() {
        let mut f = node(2, &Params::new());
        // Cut off from the leader for 12 s: two elections, term 2.
        f.advance(ms(6000));
        f.timer(ELECTION_TIMER);
        f.advance(ms(6000));
        f.timer(ELECTION_TIMER);
        assert_eq!(f.node.status().term, Some(Term(2)));
        let fx = f.message(
            1,
            Msg::Replicate {
                req: 5,
                term: 1,
                data: [("a".to_string(), "1".to_string())].into(),
            },
        );
        assert_eq!(sends(&fx), vec![(NodeId(1), Msg::ReplicateOk { req: 5 })]);
        assert_eq!(f.node.state(), KvState(BTreeMap::new()));
    }

    #[test]
    fn replication_merges_so_deletes_never_reach_followers() {
        let mut f = node(2, &Params::new());
        f.message(
            1,
            Msg::Replicate {
                req: 0,
                term: 1,
                data: [("a".to_string(), "1".to_string())].into(),
            },
        );
        f.message(
            1,
            Msg::Replicate {
                req: 1,
                term: 1,
                data: BTreeMap::new(),
            },
        );
        assert_eq!(
            f.node.state(),
            KvState([("a".to_string(), "1".to_string())].into())
        );
    }

    #[test]
    fn strong_read_takes_the_first_value_found() {
        let params = Params::new().with("read_consistency", "strong");
        let mut n3 = node(3, &params);
        n3.message(
            1,
            Msg::Replicate {
                req: 0,
                term: 1,
                data: [("k".to_string(), "new".to_string())].into(),
            },
        );
        let fx = n3.client(9, KvOp::Get { key: "k".into() });
        let r = reqs(&fx);
        assert_eq!(
            r.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![NodeId(1), NodeId(2)]
        );
        // n2 (stale) answers first in time, but n1 comes first in order.
        n3.message(
            2,
            Msg::GetOk {
                req: r[1].1,
                value: Some("old".into()),
            },
        );
        let fx = n3.message(
            1,
            Msg::GetOk {
                req: r[0].1,
                value: Some("older".into()),
            },
        );
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(9),
                Ok(KvOutput::Value {
                    value: Some("older".into()),
                    version: None
                })
            )]
        );
    }

    #[test]
    fn read_repair_spreads_the_first_value_found() {
        let params = Params::new()
            .with("read_consistency", "strong")
            .with("read_repair", true);
        let mut n3 = node(3, &params);
        let fx = n3.client(9, KvOp::Get { key: "k".into() });
        let r = reqs(&fx);
        // n1 timed out; n2 has a value; n3 has none.
        n3.message(
            2,
            Msg::GetOk {
                req: r[1].1,
                value: Some("v".into()),
            },
        );
        let fx = n3.timer(TimerId(REQUEST_TIMER_BASE + r[0].1));
        assert!(
            sends(&fx).is_empty(),
            "n2 already holds it, n1 did not answer"
        );
        assert_eq!(
            n3.node.state(),
            KvState([("k".to_string(), "v".to_string())].into())
        );
    }

    #[test]
    fn deletes_need_the_leader_and_an_existing_key() {
        let mut l = leader(&Params::new());
        let fx = l.client(1, KvOp::Delete { key: "x".into() });
        let r = reqs(&fx);
        l.message(2, Msg::ReplicateOk { req: r[0].1 });
        let fx = l.message(3, Msg::ReplicateOk { req: r[1].1 });
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(1),
                Err(ClientError::Rejected("key not found".into()))
            )]
        );
        let fx = l.client(
            2,
            KvOp::Append {
                key: "x".into(),
                value: "y".into(),
            },
        );
        assert!(matches!(
            replies(&fx)[..],
            [(RequestId(2), Err(ClientError::Rejected(_)))]
        ));
    }

    #[test]
    fn restarted_leader_comes_back_empty_and_behind() {
        let mut l = leader(&Params::new());
        l.client(1, put("a", "1"));
        let mut again = Harness::<QuorumKv>::new(1, 3, &Params::new());
        again.start(&Disk::new());
        assert_eq!(again.node.state(), KvState(BTreeMap::new()));
        assert_eq!(again.node.status().term, Some(Term(0)));
    }

    fn promise_ids(params: &Params, replicas: u32) -> Vec<InvariantId> {
        let config = QuorumKv::config(params).unwrap();
        let shape = QuorumKv::shape(&config, replicas).unwrap();
        QuorumKv::promised(&config, &shape)
    }

    #[test]
    fn promises_linearizability_only_for_strong_reads_over_a_write_quorum() {
        assert_eq!(QuorumKv::NAME, "quorum-kv");
        let base = vec![InvariantId::DURABILITY, InvariantId::CONVERGENCE];
        let with = |extra: InvariantId| {
            let mut ids = base.clone();
            ids.push(extra);
            ids
        };
        assert_eq!(promise_ids(&Params::new(), 3), base, "eventual reads");
        let strong = Params::new().with("read_consistency", "strong");
        // The defaults R=1, W=2: R + W = N = 3, a read may miss the write quorum.
        assert_eq!(promise_ids(&strong, 3), base);
        let overlapping = strong.clone().with("r", 2);
        assert_eq!(
            promise_ids(&overlapping, 3),
            with(InvariantId::LINEARIZABILITY)
        );
        assert_eq!(promise_ids(&overlapping, 5), base, "R + W = 4 < N = 5");
        let ryw = Params::new().with("read_consistency", "read_your_writes");
        assert_eq!(promise_ids(&ryw, 3), with(InvariantId::SESSION));
        assert_eq!(
            promise_ids(&ryw.with("r", 3).with("w", 3), 3),
            with(InvariantId::SESSION),
            "a quorum does not make read_your_writes linearizable: it reads locally"
        );
    }
}
