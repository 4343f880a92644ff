//! `bully`: the bully cluster of seeds 01 (`01-bully-cluster-node.md`) and 02
//! (`02-push-replication.md`), ported as it is written, flaws included.
//!
//! What the design does, and this port keeps:
//! - Every node pings every other node every `heartbeat_interval_ms` (3 s) and records when
//!   each answered. Right after sending (before this round's pongs arrive) a slave that
//!   knows a master checks it: no pong from the master for more than `heartbeat_timeout_ms`
//!   (5 s) starts an election. A node that never learned a master (`currentMaster` null)
//!   never checks, so if the highest node is down at boot nobody is ever elected.
//! - Bully election without terms: ask every higher id; if none answers, become master and
//!   announce `new-master` to everyone (fire and forget). A node receiving `election`
//!   answers OK and starts its own election. `new-master` is obeyed from anyone, lower ids
//!   included, and a master never steps down otherwise: two masters can coexist.
//! - The highest id starts an election 2 s after boot (`initial_election_ms`).
//! - A write on a master: stored locally (Mongo: durable, so persist + sync), acked to the
//!   client, then pushed to each slave. A failed push joins an in-memory retry queue;
//!   every `retry_interval_ms` (5 s) the whole queue is pushed again, a success leaves the
//!   queue, a failure counts an attempt and an item with `retry_attempts` (10) failures is
//!   dropped. The queue is lost on crash.
//! - The retry worker rebuilds the queue from the round it started with
//!   (`queue = await Promise.all(queue.map(..))`): a push that fails while a round is in
//!   flight is enqueued into the array that the round then overwrites, so it is lost.
//! - A slave applies every push it receives. Without `unique_ids` (01, and 02's first
//!   listing) a push whose reply was lost and is retried stores the document twice. With
//!   `unique_ids` (02's "unique dataId") each write carries an id and a repeated id is
//!   skipped, so apply is idempotent.
//! - Reads are served by any node from its own documents, master or not.
//!
//! Choices where the design is silent:
//! - HTTP requests become request/response messages. axios sets no timeout; a request to
//!   a dead or partitioned node fails after `request_timeout_ms` (1 s), which stands for
//!   both "connection refused" and a timed-out connect. It must be shorter than the retry
//!   interval so retry rounds never overlap (config rejects otherwise); the design's
//!   overlapping rounds sharing item objects are therefore not modelled (should a clock
//!   step make a tick fire while a round is still open, that tick is skipped).
//! - A write to a non-master gets `NotLeader` with the node's current master as hint (the
//!   design answers 403 without a hint; the hint only saves clients a search).
//! - A write id (with `unique_ids`) is `cx.random_u64()`, standing for the UUID.
//! - The client vocabulary is the set's ([`SetOp`]): the design stores documents, and a
//!   read returns every document's element, so a stored duplicate reads as one.
//! - A pong that arrives late still counts as a heartbeat (axios would resolve late too).
//! - Documents are stored under `doc/<seq>`; `seq` restarts above the highest on disk.

use check::invariants::{AllDocumentsEqual, Convergence, Durability, SetSemantics};
use check::models::set::{Elements, SetOp, SetOutput, SetWorkload};
use core::time::Duration;
use protocol::{
    ClientError, Cx, Disk, Node, NodeId, NodeStatus, ParamError, Params, Promises, RequestId, Role,
    Shape, System, TimerId, WorkloadSpec,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub struct Config {
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub initial_election: Duration,
    pub retry_interval: Duration,
    /// Failed retries after which a queued push is dropped (the design's `attempts < 10`).
    pub retry_attempts: u32,
    pub request_timeout: Duration,
    pub unique_ids: bool,
}

/// One document as Mongo stores it: its content and, with `unique_ids`, its write id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Doc {
    pub element: u64,
    pub write_id: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// `GET /ping`.
    Ping,
    Pong,
    /// `POST /election`; `req` pairs the OK with the asking election.
    Election {
        req: u64,
    },
    ElectionOk {
        req: u64,
    },
    /// `POST /new-master`; its ack is ignored by the sender, so it has none here.
    NewMaster,
    /// `POST /replicate`.
    Replicate {
        req: u64,
        doc: Doc,
    },
    Replicated {
        req: u64,
    },
}

const HEARTBEAT_TIMER: TimerId = TimerId(1);
const RETRY_TIMER: TimerId = TimerId(2);
const INITIAL_ELECTION_TIMER: TimerId = TimerId(3);
/// Request timeouts use `REQUEST_TIMER_BASE + request number`.
const REQUEST_TIMER_BASE: u64 = 1 << 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeRole {
    Master,
    Slave,
}

#[derive(Clone, Debug)]
struct RetryItem {
    slave: NodeId,
    doc: Doc,
    attempts: u32,
}

/// What an outstanding request is waiting for.
#[derive(Clone, Debug)]
enum Pending {
    Election {
        election: u64,
    },
    /// The first push of a write; on failure it joins the retry queue.
    Push {
        slave: NodeId,
        doc: Doc,
    },
    /// A push made by the retry round; `index` into the round's items.
    RetryPush {
        index: usize,
    },
}

/// One `Promise.allSettled` over the higher nodes.
#[derive(Clone, Debug, Default)]
struct ElectionRound {
    outstanding: BTreeSet<u64>,
    responded: bool,
}

/// One run of the retry worker: the queue it started from, and which pushes are open.
#[derive(Clone, Debug)]
struct RetryRound {
    items: Vec<Option<RetryItem>>,
    outstanding: BTreeSet<u64>,
}

pub struct Bully {
    id: NodeId,
    cluster: Vec<NodeId>,
    config: Config,
    role: NodeRole,
    current_master: Option<NodeId>,
    last_heartbeat: BTreeMap<NodeId, protocol::Instant>,
    docs: Vec<Doc>,
    next_doc_seq: u64,
    queue: Vec<RetryItem>,
    retry_round: Option<RetryRound>,
    next_req: u64,
    /// Bounded in time: every entry is removed by its reply or by its request timer.
    pending: BTreeMap<u64, Pending>,
    elections: BTreeMap<u64, ElectionRound>,
    next_election: u64,
}

type BCx<'a> = Cx<'a, Bully>;

impl Bully {
    /// Sends a request built from its number and arms its timeout.
    fn request(
        &mut self,
        cx: &mut BCx<'_>,
        to: NodeId,
        pending: Pending,
        msg: impl FnOnce(u64) -> Msg,
    ) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, pending);
        cx.send(to, msg(req));
        cx.set_timer(
            TimerId(REQUEST_TIMER_BASE + req),
            self.config.request_timeout,
        );
        req
    }

    fn start_election(&mut self, cx: &mut BCx<'_>) {
        let higher: Vec<NodeId> = self
            .cluster
            .iter()
            .copied()
            .filter(|n| *n > self.id)
            .collect();
        if higher.is_empty() {
            self.become_master(cx);
            return;
        }
        cx.note("starting election");
        let election = self.next_election;
        self.next_election += 1;
        let mut round = ElectionRound::default();
        for n in higher {
            let req = self.request(cx, n, Pending::Election { election }, |req| Msg::Election {
                req,
            });
            round.outstanding.insert(req);
        }
        self.elections.insert(election, round);
    }

    fn become_master(&mut self, cx: &mut BCx<'_>) {
        self.role = NodeRole::Master;
        self.current_master = Some(self.id);
        cx.note("became master");
        cx.broadcast(Msg::NewMaster);
    }

    /// One election request settled (answered or failed).
    fn election_settled(&mut self, cx: &mut BCx<'_>, election: u64, req: u64, ok: bool) {
        let Some(round) = self.elections.get_mut(&election) else {
            return;
        };
        round.outstanding.remove(&req);
        round.responded |= ok;
        if round.outstanding.is_empty() {
            let responded = round.responded;
            self.elections.remove(&election);
            if !responded {
                self.become_master(cx);
            }
        }
    }

    fn store(&mut self, cx: &mut BCx<'_>, doc: Doc) {
        cx.persist(format!("doc/{:020}", self.next_doc_seq), doc.clone());
        cx.sync();
        self.next_doc_seq += 1;
        self.docs.push(doc);
    }

    fn detect_failure(&mut self, cx: &mut BCx<'_>) {
        let Some(master) = self.current_master else {
            return;
        };
        if master == self.id {
            return;
        }
        // `lastHeartbeat[id] || 0`: never heard from counts as long ago.
        let overdue = match self.last_heartbeat.get(&master) {
            None => true,
            Some(last) => cx.now().saturating_since(*last) > self.config.heartbeat_timeout,
        };
        if overdue {
            cx.note(format!("master {master} missed heartbeats"));
            self.start_election(cx);
        }
    }

    fn start_retry_round(&mut self, cx: &mut BCx<'_>) {
        // A round outlives the interval only if the clock steps past both its request
        // timeouts and the next tick at once; the design would then run two rounds over
        // one queue. This port skips the tick instead (see the module doc).
        if self.queue.is_empty() || self.retry_round.is_some() {
            return;
        }
        let items: Vec<RetryItem> = self.queue.clone();
        let mut round = RetryRound {
            items: items.iter().cloned().map(Some).collect(),
            outstanding: BTreeSet::new(),
        };
        for (index, item) in items.into_iter().enumerate() {
            let req = self.request(cx, item.slave, Pending::RetryPush { index }, |req| {
                Msg::Replicate { req, doc: item.doc }
            });
            round.outstanding.insert(req);
        }
        self.retry_round = Some(round);
    }

    fn retry_settled(&mut self, req: u64, index: usize, ok: bool) {
        let Some(round) = self.retry_round.as_mut() else {
            return;
        };
        round.outstanding.remove(&req);
        if ok {
            round.items[index] = None;
        } else if let Some(item) = round.items[index].as_mut() {
            item.attempts += 1;
        }
        if round.outstanding.is_empty() {
            let round = self.retry_round.take().expect("round is open");
            // The design reassigns the queue from the round: anything enqueued meanwhile
            // is overwritten, and items at the attempt bound are dropped.
            let bound = self.config.retry_attempts;
            self.queue = round
                .items
                .into_iter()
                .flatten()
                .filter(|i| i.attempts < bound)
                .collect();
        }
    }

    fn settle(&mut self, cx: &mut BCx<'_>, req: u64, ok: bool) {
        let Some(pending) = self.pending.remove(&req) else {
            return;
        };
        cx.cancel_timer(TimerId(REQUEST_TIMER_BASE + req));
        match pending {
            Pending::Election { election } => self.election_settled(cx, election, req, ok),
            Pending::Push { slave, doc } => {
                if !ok {
                    self.queue.push(RetryItem {
                        slave,
                        doc,
                        attempts: 0,
                    });
                }
            }
            Pending::RetryPush { index } => self.retry_settled(req, index, ok),
        }
    }
}

impl Node for Bully {
    type Msg = Msg;
    type Record = Doc;
    type Config = Config;
    type Op = SetOp;
    type State = Elements;

    fn config(params: &Params) -> Result<Config, ParamError> {
        const KNOWN: &[&str] = &[
            "heartbeat_interval_ms",
            "heartbeat_timeout_ms",
            "initial_election_ms",
            "retry_interval_ms",
            "retry_attempts",
            "request_timeout_ms",
            "unique_ids",
        ];
        params.only(KNOWN)?;
        let config = Config {
            heartbeat_interval: params.millis("heartbeat_interval_ms", 3000)?,
            heartbeat_timeout: params.millis("heartbeat_timeout_ms", 5000)?,
            initial_election: params.millis("initial_election_ms", 2000)?,
            retry_interval: params.millis("retry_interval_ms", 5000)?,
            retry_attempts: params.u64("retry_attempts", 10)? as u32,
            request_timeout: params.millis("request_timeout_ms", 1000)?,
            unique_ids: params.bool("unique_ids", false)?,
        };
        if config.request_timeout >= config.retry_interval {
            return Err(ParamError {
                name: "request_timeout_ms".into(),
                value: config.request_timeout.as_millis().to_string(),
                expected: "less than retry_interval_ms (overlapping retry rounds are not modelled)"
                    .into(),
            });
        }
        Ok(config)
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Self {
        Bully {
            id,
            cluster: cluster.to_vec(),
            config: config.clone(),
            role: NodeRole::Slave,
            current_master: None,
            last_heartbeat: BTreeMap::new(),
            docs: Vec::new(),
            next_doc_seq: 0,
            queue: Vec::new(),
            retry_round: None,
            next_req: 0,
            pending: BTreeMap::new(),
            elections: BTreeMap::new(),
            next_election: 0,
        }
    }

    fn on_start(&mut self, cx: &mut BCx<'_>, disk: &Disk<Doc>) {
        for (key, doc) in disk {
            if let Some(seq) = key.strip_prefix("doc/").and_then(|s| s.parse::<u64>().ok()) {
                self.docs.push(doc.clone());
                self.next_doc_seq = self.next_doc_seq.max(seq + 1);
            }
        }
        cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat_interval);
        cx.set_timer(RETRY_TIMER, self.config.retry_interval);
        if self.cluster.iter().max() == Some(&self.id) {
            cx.set_timer(INITIAL_ELECTION_TIMER, self.config.initial_election);
        }
    }

    fn on_message(&mut self, cx: &mut BCx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ping => cx.send(from, Msg::Pong),
            Msg::Pong => {
                self.last_heartbeat.insert(from, cx.now());
            }
            Msg::Election { req } => {
                cx.send(from, Msg::ElectionOk { req });
                self.start_election(cx);
            }
            Msg::ElectionOk { req } => self.settle(cx, req, true),
            Msg::NewMaster => {
                cx.note(format!("new master {from}"));
                self.current_master = Some(from);
                self.role = NodeRole::Slave;
            }
            Msg::Replicate { req, doc } => {
                let duplicate = self.config.unique_ids
                    && doc.write_id.is_some()
                    && self.docs.iter().any(|d| d.write_id == doc.write_id);
                if !duplicate {
                    self.store(cx, doc);
                }
                cx.send(from, Msg::Replicated { req });
            }
            Msg::Replicated { req } => self.settle(cx, req, true),
        }
    }

    fn on_timer(&mut self, cx: &mut BCx<'_>, timer: TimerId) {
        match timer {
            HEARTBEAT_TIMER => {
                cx.set_timer(HEARTBEAT_TIMER, self.config.heartbeat_interval);
                cx.broadcast(Msg::Ping);
                self.detect_failure(cx);
            }
            RETRY_TIMER => {
                cx.set_timer(RETRY_TIMER, self.config.retry_interval);
                self.start_retry_round(cx);
            }
            INITIAL_ELECTION_TIMER => self.start_election(cx),
            TimerId(t) if t >= REQUEST_TIMER_BASE => self.settle(cx, t - REQUEST_TIMER_BASE, false),
            _ => {}
        }
    }

    fn on_client(&mut self, cx: &mut BCx<'_>, req: RequestId, op: SetOp) {
        match op {
            SetOp::Add { element } => {
                if self.role != NodeRole::Master {
                    let hint = self.current_master.filter(|m| *m != self.id);
                    cx.reply(req, Err(ClientError::NotLeader { hint }));
                    return;
                }
                let write_id = self.config.unique_ids.then(|| cx.random_u64());
                let doc = Doc { element, write_id };
                self.store(cx, doc.clone());
                cx.reply(req, Ok(SetOutput::Done));
                let slaves: Vec<NodeId> = cx.peers().collect();
                for slave in slaves {
                    let pending = Pending::Push {
                        slave,
                        doc: doc.clone(),
                    };
                    let doc = doc.clone();
                    self.request(cx, slave, pending, |req| Msg::Replicate { req, doc });
                }
            }
            SetOp::Read => {
                let set = self.docs.iter().map(|d| d.element).collect();
                cx.reply(req, Ok(SetOutput::Set(set)));
            }
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: match self.role {
                NodeRole::Master => Role::Leader,
                NodeRole::Slave => Role::Follower,
            },
            term: None,
            commit: None,
            scope: NodeStatus::ALL,
        }
    }

    fn state(&self) -> Elements {
        let mut items: Vec<u64> = self.docs.iter().map(|d| d.element).collect();
        items.sort_unstable();
        Elements(items)
    }
}

impl System for Bully {
    const NAME: &'static str = "bully";
    type Workload = SetWorkload;

    fn workload(
        _config: &Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<SetWorkload, ParamError> {
        SetWorkload::new(spec, client)
    }

    /// What the seeds claim: acknowledged documents are kept and end up on every node;
    /// "all documents equal" is seed 01's own `verifyConsistency.js`, which also counts a
    /// document stored twice; set semantics is what a client of a document store expects.
    fn promises(_config: &Config, _shape: &Shape) -> Promises<Bully> {
        vec![
            Box::new(Durability),
            Box::new(Convergence),
            Box::new(AllDocumentsEqual),
            Box::new(SetSemantics),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{replies, sends, Cluster, Effect, Harness, InvariantId};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn node(id: u32, params: &Params) -> Harness<Bully> {
        let mut h = Harness::<Bully>::new(id, 3, params);
        h.start(&Disk::new());
        h
    }

    /// Makes `h` master by letting its initial election (highest id) run.
    fn master3(params: &Params) -> Harness<Bully> {
        let mut h = node(3, params);
        h.advance(ms(2000));
        let fx = h.timer(INITIAL_ELECTION_TIMER);
        assert_eq!(
            sends(&fx),
            vec![(NodeId(1), Msg::NewMaster), (NodeId(2), Msg::NewMaster)]
        );
        assert_eq!(h.node.status().role, Role::Leader);
        h
    }

    fn replicate_reqs(fx: &Effects) -> Vec<(NodeId, u64, Doc)> {
        sends(fx)
            .into_iter()
            .filter_map(|(to, m)| match m {
                Msg::Replicate { req, doc } => Some((to, req, doc)),
                _ => None,
            })
            .collect()
    }

    type Effects = protocol::Effects<Bully>;

    #[test]
    fn slave_that_misses_heartbeats_elects_and_highest_id_wins() {
        let mut n1 = node(1, &Params::new());
        n1.message(3, Msg::NewMaster);
        n1.advance(ms(3000));
        let fx = n1.timer(HEARTBEAT_TIMER);
        // Never heard from master 3: overdue at once; asks the higher nodes 2 and 3.
        let asked: Vec<NodeId> = sends(&fx)
            .into_iter()
            .filter(|(_, m)| matches!(m, Msg::Election { .. }))
            .map(|(to, _)| to)
            .collect();
        assert_eq!(asked, vec![NodeId(2), NodeId(3)]);
        // Node 2 answers; 3 is dead and times out: 1 stays a slave.
        let fx = n1.message(2, Msg::ElectionOk { req: 0 });
        assert!(sends(&fx).is_empty());
        n1.advance(ms(1000));
        let fx = n1.timer(TimerId(REQUEST_TIMER_BASE + 1));
        assert!(sends(&fx).is_empty());
        assert_eq!(n1.node.status().role, Role::Follower);

        // Node 2 received the election: answers OK, asks 3, and wins when 3 is silent.
        let mut n2 = node(2, &Params::new());
        let fx = n2.message(1, Msg::Election { req: 0 });
        assert_eq!(
            sends(&fx),
            vec![
                (NodeId(1), Msg::ElectionOk { req: 0 }),
                (NodeId(3), Msg::Election { req: 0 })
            ]
        );
        n2.advance(ms(1000));
        let fx = n2.timer(TimerId(REQUEST_TIMER_BASE));
        assert_eq!(
            sends(&fx),
            vec![(NodeId(1), Msg::NewMaster), (NodeId(3), Msg::NewMaster)]
        );
        assert_eq!(n2.node.status().role, Role::Leader);
        assert_eq!(n2.node.status().term, None);
    }

    #[test]
    fn heartbeats_within_timeout_keep_the_master() {
        let mut n1 = node(1, &Params::new());
        n1.message(3, Msg::NewMaster);
        n1.advance(ms(3000));
        n1.message(3, Msg::Pong);
        n1.advance(ms(3000));
        let fx = n1.timer(HEARTBEAT_TIMER);
        assert_eq!(
            sends(&fx),
            vec![(NodeId(2), Msg::Ping), (NodeId(3), Msg::Ping)]
        );
        // 6 s without a pong is past the 5 s timeout.
        n1.advance(ms(3000));
        let fx = n1.timer(HEARTBEAT_TIMER);
        assert!(sends(&fx)
            .iter()
            .any(|(_, m)| matches!(m, Msg::Election { .. })));
    }

    #[test]
    fn master_acks_before_pushing_and_slaves_refuse_writes() {
        let mut m = master3(&Params::new());
        let fx = m.client(7, SetOp::Add { element: 42 });
        let reply_at = fx
            .iter()
            .position(|e| matches!(e, Effect::Reply { .. }))
            .unwrap();
        let sync_at = fx.iter().position(|e| matches!(e, Effect::Sync)).unwrap();
        let first_push = fx
            .iter()
            .position(|e| matches!(e, Effect::Send { .. }))
            .unwrap();
        assert!(sync_at < reply_at && reply_at < first_push);
        assert_eq!(replies(&fx), vec![(RequestId(7), Ok(SetOutput::Done))]);
        let pushes = replicate_reqs(&fx);
        assert_eq!(pushes.len(), 2);
        assert_eq!(m.node.state(), Elements(vec![42]));

        let mut s = node(1, &Params::new());
        s.message(3, Msg::NewMaster);
        let fx = s.client(1, SetOp::Add { element: 1 });
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(1),
                Err(ClientError::NotLeader {
                    hint: Some(NodeId(3))
                })
            )]
        );
    }

    #[test]
    fn failed_push_is_retried_every_5s_and_dropped_after_10_attempts() {
        let mut m = master3(&Params::new());
        let fx = m.client(1, SetOp::Add { element: 5 });
        let pushes = replicate_reqs(&fx);
        // Slave 2 acks; slave 1 never does.
        m.message(2, Msg::Replicated { req: pushes[1].1 });
        m.advance(ms(1000));
        m.timer(TimerId(REQUEST_TIMER_BASE + pushes[0].1));
        let mut retries = 0;
        for _ in 0..12 {
            m.advance(ms(4000));
            let fx = m.timer(RETRY_TIMER);
            let again = replicate_reqs(&fx);
            if again.is_empty() {
                continue;
            }
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].0, NodeId(1));
            assert_eq!(
                fx.iter()
                    .find_map(|e| match e {
                        Effect::SetTimer { timer, after } if *timer == RETRY_TIMER => Some(*after),
                        _ => None,
                    })
                    .unwrap(),
                ms(5000)
            );
            retries += 1;
            m.advance(ms(1000));
            m.timer(TimerId(REQUEST_TIMER_BASE + again[0].1));
        }
        assert_eq!(retries, 10);
        assert!(m.node.queue.is_empty());
    }

    #[test]
    fn push_failing_during_a_retry_round_is_lost() {
        let mut m = master3(&Params::new());
        let fx = m.client(1, SetOp::Add { element: 5 });
        let p = replicate_reqs(&fx);
        m.message(2, Msg::Replicated { req: p[1].1 });
        m.advance(ms(1000));
        m.timer(TimerId(REQUEST_TIMER_BASE + p[0].1));
        // Round starts with item 5 in flight; a new write's push to 1 fails meanwhile.
        m.advance(ms(4000));
        let round = replicate_reqs(&m.timer(RETRY_TIMER));
        let fx = m.client(2, SetOp::Add { element: 6 });
        let p = replicate_reqs(&fx);
        m.message(2, Msg::Replicated { req: p[1].1 });
        m.advance(ms(500));
        m.timer(TimerId(REQUEST_TIMER_BASE + p[0].1));
        assert_eq!(m.node.queue.len(), 2);
        m.advance(ms(500));
        m.timer(TimerId(REQUEST_TIMER_BASE + round[0].1));
        // The round overwrote the queue: only element 5 is still queued.
        let queued: Vec<u64> = m.node.queue.iter().map(|i| i.doc.element).collect();
        assert_eq!(queued, vec![5]);
    }

    #[test]
    fn retried_push_duplicates_without_unique_ids() {
        let mut s = node(1, &Params::new());
        let doc = Doc {
            element: 9,
            write_id: None,
        };
        s.message(
            3,
            Msg::Replicate {
                req: 0,
                doc: doc.clone(),
            },
        );
        // The ack was lost, the master retried.
        s.message(3, Msg::Replicate { req: 4, doc });
        assert_eq!(s.node.state(), Elements(vec![9, 9]));
        let fx = s.client(1, SetOp::Read);
        assert_eq!(
            replies(&fx),
            vec![(RequestId(1), Ok(SetOutput::Set([9].into_iter().collect())))]
        );
    }

    #[test]
    fn unique_ids_make_apply_idempotent_and_survive_restart() {
        let params = Params::new().with("unique_ids", true);
        let mut s = node(1, &params);
        let doc = Doc {
            element: 9,
            write_id: Some(77),
        };
        let fx = s.message(
            3,
            Msg::Replicate {
                req: 0,
                doc: doc.clone(),
            },
        );
        let fx2 = s.message(
            3,
            Msg::Replicate {
                req: 1,
                doc: doc.clone(),
            },
        );
        assert_eq!(sends(&fx2), vec![(NodeId(3), Msg::Replicated { req: 1 })]);
        assert_eq!(s.node.state(), Elements(vec![9]));
        // Restart: documents come back from disk, memory (master, queue) does not.
        let disk: Disk<Doc> = fx
            .iter()
            .filter_map(|e| match e {
                Effect::Persist { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect();
        let mut r = Harness::<Bully>::new(1, 3, &params);
        r.start(&disk);
        assert_eq!(r.node.state(), Elements(vec![9]));
        assert_eq!(r.node.current_master, None);
    }

    #[test]
    fn a_node_that_never_learned_a_master_never_elects() {
        // Node 3 (the only self-starter) is down at boot: nodes 1 and 2 wait forever.
        let mut n2 = node(2, &Params::new());
        for _ in 0..10 {
            n2.advance(ms(3000));
            let fx = n2.timer(HEARTBEAT_TIMER);
            assert!(sends(&fx).iter().all(|(_, m)| *m == Msg::Ping));
        }
        assert_eq!(n2.node.status().role, Role::Follower);
    }

    #[test]
    fn a_master_obeys_new_master_from_a_lower_id() {
        let mut m = master3(&Params::new());
        m.message(1, Msg::NewMaster);
        assert_eq!(m.node.status().role, Role::Follower);
    }

    #[test]
    fn a_cluster_elects_the_highest_id_replicates_and_fails_over() {
        let mut c = Cluster::<Bully>::new(3, &Params::new());
        c.run_for(ms(2500));
        assert_eq!(c.leaders(), [3]);
        c.client(3, 1, SetOp::Add { element: 42 });
        c.run_for(ms(100));
        assert_eq!(c.reply(1), Some(&Ok(SetOutput::Done)));
        for id in 1..=3 {
            assert_eq!(c.node(id).state(), Elements(vec![42]), "n{id}");
        }
        let redirect = ClientError::NotLeader {
            hint: Some(NodeId(3)),
        };
        c.client(1, 2, SetOp::Add { element: 7 });
        assert_eq!(c.reply(2), Some(&Err(redirect)));

        // The master dies: the next highest id takes over once heartbeats go missing.
        c.crash(3, 0);
        c.run_for(ms(10_000));
        assert_eq!(c.leaders(), [2]);
        // Back up, 3 runs its initial election again and 2 obeys: no terms to refuse it.
        c.restart(3);
        c.run_for(ms(2500));
        assert_eq!(c.leaders(), [3]);
        assert_eq!(
            c.node(3).state(),
            Elements(vec![42]),
            "its document was synced"
        );
    }

    #[test]
    fn describes_itself_as_the_seeds_document_store() {
        assert_eq!(Bully::NAME, "bully");
        let config = Bully::config(&Params::new()).unwrap();
        let shape = Bully::shape(&config, 3).unwrap();
        assert_eq!(
            shape,
            Shape {
                replicas: 3,
                extra: 0
            }
        );
        let ids: Vec<InvariantId> = Bully::promised(&config, &shape);
        assert_eq!(
            ids,
            vec![
                InvariantId::DURABILITY,
                InvariantId::CONVERGENCE,
                InvariantId::REPLICA_CONSISTENCY,
                InvariantId::SET
            ]
        );
    }
}
