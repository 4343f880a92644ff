//! `fragment-failover`: the MySQL master/fragment design of seed 05
//! (`05-fragment-failover-mysql.md`), ported as it is written, flaws included.
//!
//! What the design does, and this port keeps:
//! - Node 1 is master for every write; it never learns it was "down", so it takes writes
//!   whenever a client reaches it (a partitioned node 1 keeps writing: split brain).
//! - Every write is one transaction: the rider row and one log entry (`pending`, stamped
//!   with the writing node's own clock) — MySQL, so persist + sync before the answer.
//! - Nodes 2 and 3 pull pending logs from node 1 in batches of `batch_size` (100), apply
//!   them idempotently (upsert the full row / delete by key) and mark them `replicated`
//!   on node 1. There is one status column per log, not one per replica.
//! - Nodes 2 and 3 check node 1 every `health_interval_ms` (5 s); `health_failures` (3)
//!   consecutive failures mark it down and the node promotes itself: node 2 then takes
//!   writes for courier JNT, node 3 for every other courier, each logging them in its own
//!   log. Nodes 2 and 3 never talk to each other.
//! - When node 1 answers again, recovery: node 1 pulls all pending logs of the promoted
//!   node, applies them by last-write-wins on the logs' timestamps (the writers' own,
//!   skewed clocks, at `timestamp_granularity_ms`), marks them replicated there, and
//!   demotes it. Recovered writes are applied, not re-logged.
//! - Replicas apply what they pull unconditionally (no LWW on their side): node 1's
//!   pending pre-crash logs, pulled once it is back, overwrite a replica's newer failover
//!   write of the same rider, while node 1 may have kept that failover write by LWW.
//! - Log ids come from per-node ranges (node 1 from 1, node 2 from 1,000,000, node 3 from
//!   2,000,000); rider ids are the client's keys.
//!
//! Choices where the design is silent:
//! - The cluster is exactly nodes 1, 2 and 3 (the design's three VMs): the system's shape
//!   refuses any other size, and a node built in another cluster panics.
//! - Roles live in each process: nodes 2 and 3 run the health check themselves and route
//!   writes by their own view; a node asked for a write it does not take answers
//!   `NotLeader` with the node it believes takes it.
//! - Fragments (`fragments`, default true): "Node 2+3 fragment writers", reads "fallback to
//!   Node 2+3 merge" and the consistency check "Node 1 data matches Node 2+3 combined"
//!   read as horizontal fragments: node 2 pulls only JNT logs, node 3 only the others, so
//!   node 2 and node 3 hold disjoint fragments whose union should equal node 1. With
//!   `fragments = false` both pull every pending log, and the single status column means
//!   whichever marks a log replicated first hides it from the other.
//! - Encoding: `Put { key: rider id, value }` where `value` is `k=v` pairs separated by `;`
//!   and `courier=<name>` names the courier (`courier=JNT;name=Ann`). No courier field
//!   counts as a non-JNT courier. A delete routes by the courier of the row it deletes;
//!   deleting an absent rider is `Rejected` (404), with no log.
//! - Replicas pull every `pull_interval_ms` (5 s), one batch per pull, one pull at a time.
//! - Requests (health, pull) fail after `request_timeout_ms` (1 s).
//! - A promoted node asks node 1 to recover (a `Recover` message) on each successful
//!   health check until node 1 demotes it; node 1 runs one recovery per source at a time.
//!   Writes a promoted node takes after node 1's last recovery pull and before the
//!   demotion stay pending on it: nothing pulls them again.
//! - LWW compares a recovered log's timestamp with the timestamp of the write that produced
//!   node 1's current row; a strictly newer log wins, a tie keeps node 1's row, an absent
//!   row (never written or deleted) always loses to the log. Timestamps are whole
//!   `timestamp_granularity_ms` (default 1000: MySQL `TIMESTAMP` without fractional
//!   seconds).
//! - Replicas always serve reads from their own rows; node 1 serves every read.
//! - Deadlock retries (two, with backoff) are not ported: one handler call is one
//!   transaction, so transactions never interleave. `Append`/`Cas` are not in the design's
//!   API → `Rejected`.

use check::invariants::{durability, replica_consistency};
use check::models::kv::{KvOp, KvOutput, KvState, KvWorkload};
use core::time::Duration;
use protocol::{
    ClientError, Cx, Disk, Finals, Invariant, InvariantId, Node, NodeId, NodeStatus, ParamError,
    Params, Promises, RequestId, Role, Shape, System, TimerId, Undecided, Violation, WorkloadSpec,
};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
pub struct Config {
    pub batch_size: usize,
    pub health_interval: Duration,
    pub health_failures: u32,
    pub pull_interval: Duration,
    pub request_timeout: Duration,
    pub timestamp_granularity_ms: u64,
    pub fragments: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LogStatus {
    Pending,
    Replicated,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LogEntry {
    pub id: u64,
    pub origin: NodeId,
    pub rider: String,
    pub old_value: Option<String>,
    /// `None`: a delete.
    pub new_value: Option<String>,
    pub courier: String,
    /// Milliseconds on the writer's clock, at the configured granularity.
    pub timestamp_ms: u64,
    pub status: LogStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub value: String,
    /// Timestamp of the log entry that produced this row.
    pub timestamp_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Record {
    Row(Row),
    Log(LogEntry),
}

/// Which pending logs a pull asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Filter {
    Jnt,
    NotJnt,
    All,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// `SELECT 1`.
    Health {
        req: u64,
    },
    HealthOk {
        req: u64,
    },
    /// Pending logs, oldest first, at most `batch_size`.
    Pull {
        req: u64,
        filter: Filter,
    },
    Logs {
        req: u64,
        entries: Vec<LogEntry>,
    },
    /// `UPDATE Logs SET status = 'replicated'`; not awaited.
    MarkReplicated {
        ids: Vec<u64>,
    },
    /// Promoted replica → node 1: "you are back, catch up from me".
    Recover,
    /// Node 1 → promoted replica, after catching up from it.
    Demote,
}

const HEALTH_TIMER: TimerId = TimerId(1);
const PULL_TIMER: TimerId = TimerId(2);
const REQUEST_TIMER_BASE: u64 = 1 << 32;
/// Width of each node's log id range.
const ID_RANGE: u64 = 1_000_000;
/// Bound on the batches one recovery pulls; far above any run's log count.
const MAX_RECOVERY_BATCHES: usize = 10_000;
const MASTER: NodeId = NodeId(1);
const JNT_NODE: NodeId = NodeId(2);
const OTHERS_NODE: NodeId = NodeId(3);
const SCOPE_JNT: u64 = 1;
const SCOPE_OTHERS: u64 = 2;

#[derive(Clone, Debug)]
enum Pending {
    Health,
    Pull,
    /// Node 1 pulling a promoted replica's logs; `batches` pulled so far.
    Recovery {
        batches: usize,
    },
}

pub struct FragmentFailover {
    id: NodeId,
    config: Config,
    rows: BTreeMap<String, Row>,
    log: BTreeMap<u64, LogEntry>,
    next_log_id: u64,
    /// Replicas: consecutive failed health checks, and whether node 1 is deemed down.
    failures: u32,
    promoted: bool,
    pull_in_flight: bool,
    /// Node 1: sources with a recovery under way.
    recovering: BTreeSet<NodeId>,
    next_req: u64,
    /// Bounded in time: each entry leaves by its answer or its timeout timer.
    pending: BTreeMap<u64, (NodeId, Pending)>,
}

type FCx<'a> = Cx<'a, FragmentFailover>;

/// The `courier=` field of an encoded rider value.
pub fn courier_of(value: &str) -> &str {
    value
        .split(';')
        .find_map(|field| field.strip_prefix("courier="))
        .unwrap_or("")
}

fn is_jnt(courier: &str) -> bool {
    courier == "JNT"
}

fn row_key(rider: &str) -> String {
    format!("row/{rider}")
}

fn log_key(id: u64) -> String {
    format!("log/{id:020}")
}

impl FragmentFailover {
    fn filter(&self) -> Filter {
        match (self.config.fragments, self.id) {
            (false, _) => Filter::All,
            (true, JNT_NODE) => Filter::Jnt,
            (true, _) => Filter::NotJnt,
        }
    }

    /// The node that takes writes for `courier` while node 1 is down.
    fn failover_owner(courier: &str) -> NodeId {
        if is_jnt(courier) {
            JNT_NODE
        } else {
            OTHERS_NODE
        }
    }

    fn request(
        &mut self,
        cx: &mut FCx<'_>,
        to: NodeId,
        pending: Pending,
        msg: impl FnOnce(u64) -> Msg,
    ) {
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, (to, pending));
        cx.send(to, msg(req));
        cx.set_timer(
            TimerId(REQUEST_TIMER_BASE + req),
            self.config.request_timeout,
        );
    }

    fn timestamp(&self, cx: &FCx<'_>) -> u64 {
        let g = self.config.timestamp_granularity_ms.max(1);
        cx.now().as_millis() / g * g
    }

    /// Sets or removes a row (durably, the caller syncs).
    fn put_row(&mut self, cx: &mut FCx<'_>, rider: &str, value: Option<String>, timestamp_ms: u64) {
        match value {
            Some(value) => {
                let row = Row {
                    value,
                    timestamp_ms,
                };
                cx.persist(row_key(rider), Record::Row(row.clone()));
                self.rows.insert(rider.to_string(), row);
            }
            None => {
                cx.erase(row_key(rider));
                self.rows.remove(rider);
            }
        }
    }

    /// One write transaction: the row and its log entry, atomically and durably.
    fn write(&mut self, cx: &mut FCx<'_>, rider: String, new_value: Option<String>) {
        let old_value = self.rows.get(&rider).map(|r| r.value.clone());
        let courier = new_value
            .as_deref()
            .or(old_value.as_deref())
            .map(courier_of)
            .unwrap_or("")
            .to_string();
        let timestamp_ms = self.timestamp(cx);
        let entry = LogEntry {
            id: self.next_log_id,
            origin: self.id,
            rider: rider.clone(),
            old_value,
            new_value: new_value.clone(),
            courier,
            timestamp_ms,
            status: LogStatus::Pending,
        };
        self.next_log_id += 1;
        self.put_row(cx, &rider, new_value, timestamp_ms);
        cx.persist(log_key(entry.id), Record::Log(entry.clone()));
        cx.sync();
        self.log.insert(entry.id, entry);
    }

    fn pending_batch(&self, filter: Filter) -> Vec<LogEntry> {
        self.log
            .values()
            .filter(|e| e.status == LogStatus::Pending)
            .filter(|e| match filter {
                Filter::All => true,
                Filter::Jnt => is_jnt(&e.courier),
                Filter::NotJnt => !is_jnt(&e.courier),
            })
            .take(self.config.batch_size)
            .cloned()
            .collect()
    }

    fn mark_replicated(&mut self, cx: &mut FCx<'_>, ids: &[u64]) {
        let mut changed = false;
        for id in ids {
            if let Some(entry) = self.log.get_mut(id) {
                entry.status = LogStatus::Replicated;
                cx.persist(log_key(*id), Record::Log(entry.clone()));
                changed = true;
            }
        }
        if changed {
            cx.sync();
        }
    }

    /// Who takes this write, by this node's view; `None`: this node does.
    fn write_owner(&self, courier: &str) -> Option<NodeId> {
        if self.id == MASTER {
            return None;
        }
        if !self.promoted {
            return Some(MASTER);
        }
        let owner = Self::failover_owner(courier);
        (owner != self.id).then_some(owner)
    }

    fn on_logs(
        &mut self,
        cx: &mut FCx<'_>,
        from: NodeId,
        pending: Pending,
        entries: Vec<LogEntry>,
    ) {
        let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
        match pending {
            Pending::Pull => {
                self.pull_in_flight = false;
                // Idempotent apply: the full row snapshot, or delete by key.
                for e in &entries {
                    self.put_row(cx, &e.rider, e.new_value.clone(), e.timestamp_ms);
                }
                if !entries.is_empty() {
                    cx.sync();
                    cx.send(from, Msg::MarkReplicated { ids });
                }
            }
            Pending::Recovery { batches } => {
                let mut applied = false;
                for e in &entries {
                    let wins = match self.rows.get(&e.rider) {
                        None => true,
                        Some(row) => e.timestamp_ms > row.timestamp_ms,
                    };
                    if wins {
                        self.put_row(cx, &e.rider, e.new_value.clone(), e.timestamp_ms);
                        applied = true;
                    } else {
                        cx.note(format!("lww keeps own {} over log {}", e.rider, e.id));
                    }
                }
                if applied {
                    cx.sync();
                }
                if !entries.is_empty() {
                    cx.send(from, Msg::MarkReplicated { ids });
                }
                let batches = batches + 1;
                if entries.len() >= self.config.batch_size && batches < MAX_RECOVERY_BATCHES {
                    self.request(cx, from, Pending::Recovery { batches }, |req| Msg::Pull {
                        req,
                        filter: Filter::All,
                    });
                } else {
                    self.recovering.remove(&from);
                    cx.note(format!("recovered from {from}, demoting it"));
                    cx.send(from, Msg::Demote);
                }
            }
            Pending::Health => {}
        }
    }

    fn settle(&mut self, cx: &mut FCx<'_>, req: u64, answer: Option<Msg>) {
        let Some((from, pending)) = self.pending.remove(&req) else {
            return;
        };
        cx.cancel_timer(TimerId(REQUEST_TIMER_BASE + req));
        match (pending, answer) {
            (Pending::Health, Some(_)) => {
                self.failures = 0;
                if self.promoted {
                    cx.send(MASTER, Msg::Recover);
                }
            }
            (Pending::Health, None) => {
                self.failures += 1;
                if self.failures >= self.config.health_failures && !self.promoted {
                    self.promoted = true;
                    cx.note("node 1 down: promoted for my couriers");
                }
            }
            (pending, Some(Msg::Logs { entries, .. })) => self.on_logs(cx, from, pending, entries),
            (Pending::Pull, _) => self.pull_in_flight = false,
            (Pending::Recovery { .. }, _) => {
                // Abandoned; the replica asks again on its next good health check.
                self.recovering.remove(&from);
            }
        }
    }
}

impl Node for FragmentFailover {
    type Msg = Msg;
    type Record = Record;
    type Config = Config;
    type Op = KvOp;
    type State = KvState;

    fn config(params: &Params) -> Result<Config, ParamError> {
        const KNOWN: &[&str] = &[
            "batch_size",
            "health_interval_ms",
            "health_failures",
            "pull_interval_ms",
            "request_timeout_ms",
            "timestamp_granularity_ms",
            "fragments",
        ];
        params.only(KNOWN)?;
        Ok(Config {
            batch_size: params.u64("batch_size", 100)?.max(1) as usize,
            health_interval: params.millis("health_interval_ms", 5000)?,
            health_failures: params.u64("health_failures", 3)? as u32,
            pull_interval: params.millis("pull_interval_ms", 5000)?,
            request_timeout: params.millis("request_timeout_ms", 1000)?,
            timestamp_granularity_ms: params.u64("timestamp_granularity_ms", 1000)?,
            fragments: params.bool("fragments", true)?,
        })
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Self {
        assert_eq!(
            cluster,
            &[MASTER, JNT_NODE, OTHERS_NODE],
            "fragment-failover is a cluster of exactly nodes 1, 2 and 3"
        );
        FragmentFailover {
            id,
            config: config.clone(),
            rows: BTreeMap::new(),
            log: BTreeMap::new(),
            next_log_id: u64::from(id.0 - 1) * ID_RANGE + 1,
            failures: 0,
            promoted: false,
            pull_in_flight: false,
            recovering: BTreeSet::new(),
            next_req: 0,
            pending: BTreeMap::new(),
        }
    }

    fn on_start(&mut self, cx: &mut FCx<'_>, disk: &Disk<Record>) {
        for (key, record) in disk {
            match record {
                Record::Row(row) => {
                    if let Some(rider) = key.strip_prefix("row/") {
                        self.rows.insert(rider.to_string(), row.clone());
                    }
                }
                Record::Log(entry) => {
                    self.next_log_id = self.next_log_id.max(entry.id + 1);
                    self.log.insert(entry.id, entry.clone());
                }
            }
        }
        if self.id != MASTER {
            cx.set_timer(HEALTH_TIMER, self.config.health_interval);
            cx.set_timer(PULL_TIMER, self.config.pull_interval);
        }
    }

    fn on_message(&mut self, cx: &mut FCx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Health { req } => cx.send(from, Msg::HealthOk { req }),
            Msg::HealthOk { req } => self.settle(cx, req, Some(msg)),
            Msg::Pull { req, filter } => {
                let entries = self.pending_batch(filter);
                cx.send(from, Msg::Logs { req, entries });
            }
            Msg::Logs { req, .. } => self.settle(cx, req, Some(msg)),
            Msg::MarkReplicated { ids } => self.mark_replicated(cx, &ids),
            Msg::Recover => {
                if self.id == MASTER && self.recovering.insert(from) {
                    cx.note(format!("catching up from {from}"));
                    self.request(cx, from, Pending::Recovery { batches: 0 }, |req| {
                        Msg::Pull {
                            req,
                            filter: Filter::All,
                        }
                    });
                }
            }
            Msg::Demote => {
                if self.promoted {
                    cx.note("demoted");
                }
                self.promoted = false;
                self.failures = 0;
            }
        }
    }

    fn on_timer(&mut self, cx: &mut FCx<'_>, timer: TimerId) {
        match timer {
            HEALTH_TIMER => {
                cx.set_timer(HEALTH_TIMER, self.config.health_interval);
                self.request(cx, MASTER, Pending::Health, |req| Msg::Health { req });
            }
            PULL_TIMER => {
                cx.set_timer(PULL_TIMER, self.config.pull_interval);
                if !self.pull_in_flight {
                    self.pull_in_flight = true;
                    let filter = self.filter();
                    self.request(cx, MASTER, Pending::Pull, |req| Msg::Pull { req, filter });
                }
            }
            TimerId(t) if t >= REQUEST_TIMER_BASE => self.settle(cx, t - REQUEST_TIMER_BASE, None),
            _ => {}
        }
    }

    fn on_client(&mut self, cx: &mut FCx<'_>, req: RequestId, op: KvOp) {
        match op {
            KvOp::Get { key } => {
                let value = self.rows.get(&key).map(|r| r.value.clone());
                cx.reply(
                    req,
                    Ok(KvOutput::Value {
                        value,
                        version: None,
                    }),
                );
            }
            KvOp::Put { key, value } => {
                if let Some(owner) = self.write_owner(courier_of(&value)) {
                    cx.reply(req, Err(ClientError::NotLeader { hint: Some(owner) }));
                    return;
                }
                self.write(cx, key, Some(value));
                cx.reply(req, Ok(KvOutput::Done));
            }
            KvOp::Delete { key } => {
                let Some(row) = self.rows.get(&key) else {
                    cx.reply(req, Err(ClientError::Rejected("rider not found".into())));
                    return;
                };
                if let Some(owner) = self.write_owner(courier_of(&row.value)) {
                    cx.reply(req, Err(ClientError::NotLeader { hint: Some(owner) }));
                    return;
                }
                self.write(cx, key, None);
                cx.reply(req, Ok(KvOutput::Done));
            }
            other => cx.reply(
                req,
                Err(ClientError::Rejected(format!(
                    "the riders API has get, put and delete only, not `{other}`"
                ))),
            ),
        }
    }

    fn status(&self) -> NodeStatus {
        NodeStatus {
            role: if self.id == MASTER || self.promoted {
                Role::Leader
            } else {
                Role::Follower
            },
            term: None,
            commit: None,
            // Failover splits the riders by courier: node 2 masters JNT, node 3 the rest.
            // Node 1 masters everything, so it conflicts with either.
            scope: match self.id {
                JNT_NODE => SCOPE_JNT,
                OTHERS_NODE => SCOPE_OTHERS,
                _ => NodeStatus::ALL,
            },
        }
    }

    fn state(&self) -> KvState {
        KvState(
            self.rows
                .iter()
                .map(|(k, r)| (k.clone(), r.value.clone()))
                .collect(),
        )
    }
}

impl System for FragmentFailover {
    const NAME: &'static str = "fragment-failover";
    type Workload = KvWorkload;

    /// The design is three VMs, and its roles are fixed node ids (master 1, JNT 2,
    /// others 3): no other size means anything.
    fn shape(_config: &Config, replicas: u32) -> Result<Shape, ParamError> {
        if replicas != 3 {
            return Err(ParamError {
                name: "nodes".into(),
                value: replicas.to_string(),
                expected: "3 (the design has exactly a master and two replicas)".into(),
            });
        }
        Ok(Shape { replicas, extra: 0 })
    }

    fn workload(
        _config: &Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<KvWorkload, ParamError> {
        KvWorkload::new(spec, client)
    }

    /// The design's own notion of a replica: node 1 holds everything, nodes 2 and 3 one
    /// fragment each, so every node holding the same data (convergence) is not promised.
    fn promises(_config: &Config, _shape: &Shape) -> Promises<FragmentFailover> {
        vec![Box::new(FragmentDurability), Box::new(FragmentConsistency)]
    }
}

/// The fragment a rider's row belongs to, by its courier: the node that takes its writes
/// in failover, and so the one whose value counts when fragments disagree.
fn fragment_owner(value: &str) -> NodeId {
    FragmentFailover::failover_owner(courier_of(value))
}

/// A live node's final data, as [`Finals::states`] lists it.
type Replica = (NodeId, KvState);

/// Node 1's final state, if it is live, and the fragments (every other live node's).
fn master_and_fragments(states: &[Replica]) -> (Option<&Replica>, Vec<Replica>) {
    let master = states.iter().find(|(n, _)| *n == MASTER);
    let fragments = states
        .iter()
        .filter(|(n, _)| *n != MASTER)
        .cloned()
        .collect();
    (master, fragments)
}

/// Durability as seed 05's design reads its data: no acknowledged write is missing from
/// node 1, nor from nodes 2 and 3 combined (the design's reads "fallback to Node 2+3
/// merge", so the fragments together are one replica, named "n2+n3"). Judging each
/// fragment alone would report every write of the other fragment as lost.
#[derive(Clone, Copy, Debug, Default)]
pub struct FragmentDurability;

impl Invariant<KvOp, KvState> for FragmentDurability {
    fn id(&self) -> InvariantId {
        InvariantId::DURABILITY
    }

    fn check(&self, run: &Finals<'_, KvOp, KvState>) -> Result<Vec<Violation>, Undecided> {
        let (master, fragments) = master_and_fragments(run.states);
        let (combined, _) = replica_consistency::combine(&fragments, fragment_owner);
        let combined = KvState(combined);
        let mut views: Vec<(String, &KvState)> = Vec::new();
        if let Some((n, s)) = master {
            views.push((n.to_string(), s));
        }
        let names: Vec<String> = fragments.iter().map(|(n, _)| n.to_string()).collect();
        views.push((names.join("+"), &combined));
        Ok(durability::kv_views(run.history, &views))
    }
}

/// Seed 05's own consistency check, "Node 1 data matches Node 2+3 combined": node 1
/// equals the union of the fragments, and no key is held differently by two fragments.
/// Judged only while node 1 is live: without it there is nothing to compare against.
#[derive(Clone, Copy, Debug, Default)]
pub struct FragmentConsistency;

impl Invariant<KvOp, KvState> for FragmentConsistency {
    fn id(&self) -> InvariantId {
        InvariantId::REPLICA_CONSISTENCY
    }

    fn check(&self, run: &Finals<'_, KvOp, KvState>) -> Result<Vec<Violation>, Undecided> {
        let (master, fragments) = master_and_fragments(run.states);
        Ok(master
            .and_then(|m| {
                replica_consistency::master_matches_fragments(m, &fragments, fragment_owner)
            })
            .into_iter()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{replies, sends, Effects, Harness};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn node(id: u32, params: &Params) -> Harness<FragmentFailover> {
        let mut h = Harness::<FragmentFailover>::new(id, 3, params);
        h.start(&Disk::new());
        h
    }

    fn put(rider: &str, value: &str) -> KvOp {
        KvOp::Put {
            key: rider.into(),
            value: value.into(),
        }
    }

    fn logs_in(fx: &Effects<FragmentFailover>) -> Vec<LogEntry> {
        sends(fx)
            .into_iter()
            .find_map(|(_, m)| match m {
                Msg::Logs { entries, .. } => Some(entries),
                _ => None,
            })
            .expect("a Logs answer")
    }

    fn request_id(fx: &Effects<FragmentFailover>) -> u64 {
        sends(fx)
            .into_iter()
            .find_map(|(_, m)| match m {
                Msg::Health { req } | Msg::Pull { req, .. } => Some(req),
                _ => None,
            })
            .expect("a request")
    }

    /// Fails `n` health checks of a replica.
    fn fail_health(h: &mut Harness<FragmentFailover>, n: u32) {
        for _ in 0..n {
            h.advance(ms(4000));
            let fx = h.timer(HEALTH_TIMER);
            let req = request_id(&fx);
            h.advance(ms(1000));
            h.timer(TimerId(REQUEST_TIMER_BASE + req));
        }
    }

    #[test]
    fn courier_is_parsed_from_the_value() {
        assert_eq!(courier_of("courier=JNT;name=Ann"), "JNT");
        assert_eq!(courier_of("name=Bo;courier=LBCD"), "LBCD");
        assert_eq!(courier_of("name=Cy"), "");
    }

    #[test]
    fn replicas_pull_their_fragment_in_batches_and_mark_it_replicated() {
        let params = Params::new().with("batch_size", 2);
        let mut n1 = node(1, &params);
        for (i, c) in ["JNT", "LBCD", "JNT", "JNT"].iter().enumerate() {
            let fx = n1.client(i as u64, put(&format!("r{i}"), &format!("courier={c}")));
            assert_eq!(
                replies(&fx),
                vec![(RequestId(i as u64), Ok(KvOutput::Done))]
            );
        }
        // Node 2 asks for JNT logs: the first two of the three, oldest first.
        let fx = n1.message(
            2,
            Msg::Pull {
                req: 0,
                filter: Filter::Jnt,
            },
        );
        let batch = logs_in(&fx);
        assert_eq!(batch.iter().map(|e| e.id).collect::<Vec<_>>(), vec![1, 3]);

        let mut n2 = node(2, &params);
        n2.advance(ms(5000));
        let fx = n2.timer(PULL_TIMER);
        assert_eq!(
            sends(&fx),
            vec![(
                MASTER,
                Msg::Pull {
                    req: 0,
                    filter: Filter::Jnt
                }
            )]
        );
        let fx = n2.message(
            1,
            Msg::Logs {
                req: 0,
                entries: batch.clone(),
            },
        );
        assert_eq!(
            sends(&fx),
            vec![(MASTER, Msg::MarkReplicated { ids: vec![1, 3] })]
        );
        // Applying the same batch again changes nothing (idempotent).
        let before = n2.node.state();
        n2.node.pull_in_flight = true;
        n2.node.pending.insert(9, (MASTER, Pending::Pull));
        n2.message(
            1,
            Msg::Logs {
                req: 9,
                entries: batch,
            },
        );
        assert_eq!(n2.node.state(), before);

        n1.message(2, Msg::MarkReplicated { ids: vec![1, 3] });
        let fx = n1.message(
            2,
            Msg::Pull {
                req: 1,
                filter: Filter::Jnt,
            },
        );
        assert_eq!(
            logs_in(&fx).iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![4]
        );
    }

    #[test]
    fn one_status_column_hides_a_log_from_the_other_replica_without_fragments() {
        let params = Params::new().with("fragments", false);
        let mut n1 = node(1, &params);
        n1.client(0, put("r", "courier=JNT"));
        n1.message(2, Msg::MarkReplicated { ids: vec![1] });
        let fx = n1.message(
            3,
            Msg::Pull {
                req: 0,
                filter: Filter::All,
            },
        );
        assert!(logs_in(&fx).is_empty());
    }

    #[test]
    fn three_failed_health_checks_flip_to_partitioned_writes() {
        let mut n2 = node(2, &Params::new());
        let fx = n2.client(0, put("r", "courier=JNT"));
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(0),
                Err(ClientError::NotLeader { hint: Some(MASTER) })
            )]
        );
        fail_health(&mut n2, 2);
        assert_eq!(n2.node.status().role, Role::Follower);
        fail_health(&mut n2, 1);
        assert_eq!(n2.node.status().role, Role::Leader);

        let fx = n2.client(1, put("r", "courier=JNT;name=Ann"));
        assert_eq!(replies(&fx), vec![(RequestId(1), Ok(KvOutput::Done))]);
        // Node 2's log ids come from its own range.
        assert_eq!(
            n2.node.log.keys().copied().collect::<Vec<_>>(),
            vec![1_000_001]
        );
        let fx = n2.client(2, put("s", "courier=LBCD"));
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(2),
                Err(ClientError::NotLeader {
                    hint: Some(OTHERS_NODE)
                })
            )]
        );

        let mut n3 = node(3, &Params::new());
        fail_health(&mut n3, 3);
        let fx = n3.client(3, put("s", "courier=LBCD"));
        assert_eq!(replies(&fx), vec![(RequestId(3), Ok(KvOutput::Done))]);
        let fx = n3.client(4, put("t", "courier=JNT"));
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(4),
                Err(ClientError::NotLeader {
                    hint: Some(JNT_NODE)
                })
            )]
        );

        // A good check while promoted asks node 1 to recover; a health answer resets.
        n2.advance(ms(5000));
        let fx = n2.timer(HEALTH_TIMER);
        let req = request_id(&fx);
        let fx = n2.message(1, Msg::HealthOk { req });
        assert_eq!(sends(&fx), vec![(MASTER, Msg::Recover)]);
        n2.message(1, Msg::Demote);
        assert_eq!(n2.node.status().role, Role::Follower);
    }

    #[test]
    fn node_one_resolves_by_last_write_wins_on_skewed_timestamps() {
        let mut n1 = node(1, &Params::new());
        // Node 1's clock runs ahead: its write of r is stamped 20 s.
        n1.advance(ms(20_000));
        n1.client(0, put("r", "courier=JNT;v=old"));
        n1.client(1, put("q", "courier=JNT;v=old"));

        // Node 1 comes back; node 2 (clock behind) wrote r at 15 s and q at 25 s.
        let fx = n1.message(2, Msg::Recover);
        assert_eq!(
            sends(&fx),
            vec![(
                JNT_NODE,
                Msg::Pull {
                    req: 0,
                    filter: Filter::All
                }
            )]
        );
        let entry = |id, rider: &str, ts| LogEntry {
            id,
            origin: JNT_NODE,
            rider: rider.into(),
            old_value: None,
            new_value: Some("courier=JNT;v=new".into()),
            courier: "JNT".into(),
            timestamp_ms: ts,
            status: LogStatus::Pending,
        };
        let fx = n1.message(
            2,
            Msg::Logs {
                req: 0,
                entries: vec![entry(1_000_001, "r", 15_000), entry(1_000_002, "q", 25_000)],
            },
        );
        assert_eq!(
            sends(&fx),
            vec![
                (
                    JNT_NODE,
                    Msg::MarkReplicated {
                        ids: vec![1_000_001, 1_000_002]
                    }
                ),
                (JNT_NODE, Msg::Demote)
            ]
        );
        // r: node 2's later write lost to node 1's skewed stamp; q: node 2's won.
        assert_eq!(
            n1.node.state(),
            KvState(
                [
                    ("q".to_string(), "courier=JNT;v=new".to_string()),
                    ("r".to_string(), "courier=JNT;v=old".to_string())
                ]
                .into()
            )
        );
    }

    #[test]
    fn rows_and_logs_survive_restart_and_ids_continue() {
        let mut n1 = node(1, &Params::new());
        let fx = n1.client(0, put("r", "courier=JNT"));
        let disk: Disk<Record> = fx
            .iter()
            .filter_map(|e| match e {
                protocol::Effect::Persist { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect();
        let mut again = Harness::<FragmentFailover>::new(1, 3, &Params::new());
        again.start(&disk);
        assert_eq!(again.node.state(), n1.node.state());
        again.client(1, put("s", "courier=LBCD"));
        assert_eq!(
            again.node.log.keys().copied().collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn describes_itself_as_exactly_three_nodes_judged_by_fragments() {
        assert_eq!(FragmentFailover::NAME, "fragment-failover");
        let config = FragmentFailover::config(&Params::new()).unwrap();
        let err = FragmentFailover::shape(&config, 5).unwrap_err();
        assert_eq!(err.name, "nodes");
        assert_eq!(err.value, "5");
        let shape = FragmentFailover::shape(&config, 3).unwrap();
        assert_eq!(
            shape,
            Shape {
                replicas: 3,
                extra: 0
            }
        );
        let ids: Vec<InvariantId> = FragmentFailover::promised(&config, &shape);
        assert_eq!(
            ids,
            vec![InvariantId::DURABILITY, InvariantId::REPLICA_CONSISTENCY]
        );
    }

    fn kv(pairs: &[(&str, &str)]) -> KvState {
        KvState(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Each put invoked and acknowledged in turn by one process.
    fn acked_puts(puts: &[(&str, &str)]) -> protocol::History<KvOp> {
        let mut events = Vec::new();
        for (rider, value) in puts {
            for (kind, output) in [
                (protocol::EventKind::Invoke, None),
                (protocol::EventKind::Ok, Some(KvOutput::Done)),
            ] {
                events.push(protocol::Event {
                    process: 0,
                    kind,
                    op: put(rider, value),
                    output,
                    time_ns: 10 * events.len() as u64,
                });
            }
        }
        protocol::History { events }
    }

    fn judge(history: &protocol::History<KvOp>, states: &[(NodeId, KvState)]) -> Vec<Violation> {
        let run = Finals {
            history,
            states,
            clients: 1,
            budget: protocol::Budget {
                time: Duration::from_secs(1),
                memory: 64 << 20,
            },
        };
        let mut out = FragmentDurability.check(&run).unwrap();
        out.extend(FragmentConsistency.check(&run).unwrap());
        out
    }

    #[test]
    fn fragments_are_judged_together_against_node_1() {
        let (jnt, lbcd) = ("courier=JNT;v=1", "courier=LBCD;v=2");
        let history = acked_puts(&[("a", jnt), ("b", lbcd)]);
        let whole = kv(&[("a", jnt), ("b", lbcd)]);
        // Disjoint fragments that together equal node 1: nothing lost, consistent.
        let healthy = [
            (MASTER, whole.clone()),
            (JNT_NODE, kv(&[("a", jnt)])),
            (OTHERS_NODE, kv(&[("b", lbcd)])),
        ];
        assert_eq!(judge(&history, &healthy), vec![]);

        // Node 3 lost its fragment's write: lost from "n2+n3", and node 1 differs.
        let lost = [
            (MASTER, whole),
            (JNT_NODE, kv(&[("a", jnt)])),
            (OTHERS_NODE, kv(&[])),
        ];
        let found = judge(&history, &lost);
        let ids: Vec<InvariantId> = found.iter().map(|v| v.invariant).collect();
        assert_eq!(
            ids,
            vec![InvariantId::DURABILITY, InvariantId::REPLICA_CONSISTENCY]
        );
        assert!(found[0].detail.starts_with("n2+n3: "), "{}", found[0]);

        // Without node 1 there is nothing to compare the fragments with.
        let no_master = [
            (JNT_NODE, kv(&[("a", jnt)])),
            (OTHERS_NODE, kv(&[("b", lbcd)])),
        ];
        assert_eq!(judge(&history, &no_master), vec![]);
    }
}
