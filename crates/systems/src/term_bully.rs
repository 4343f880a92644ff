//! `term-bully`: the term-based bully of seed 03 (`03-term-bully-mongo.md`), ported as it
//! is written, flaws included.
//!
//! The design is one monitor process driving three MongoDB databases. Here the cluster's
//! highest id is the monitor (n4 in the standard cluster of 4) and every other node is a
//! database (n1..n3); the databases are passive and do only what the monitor's calls do.
//!
//! What the design does, and this port keeps:
//! - Each database stores its term durably (the `Metadata` document: persist + sync),
//!   initialised to 0 by the monitor's first connection. Documents written to it are
//!   durable too. Databases never talk to each other: there is no data replication.
//! - The monitor keeps `globalTerm`, the coordinator and each database's `alive`/`term` in
//!   memory (lost on its crash: a restarted monitor counts terms from 0 again).
//! - At boot the monitor connects to every database, then every `monitor_interval_ms`
//!   (10 s) reconnects to each in turn (ids descending, one after another) and reads its
//!   term; if there is no coordinator or it failed to reconnect, it elects.
//! - Election: `globalTerm++`; for each live database, highest id first, if its term is
//!   below the highest live term it "syncs" — copies the *term* of the previous
//!   coordinator (even a dead one), no data — and is skipped; the first that is not below
//!   becomes coordinator and it and every other live database get `term = globalTerm`.
//!   Nothing guarantees `globalTerm` exceeds the stored terms, so after a monitor restart
//!   terms go backwards and a term number is reused by another coordinator.
//! - Writes go to the coordinator only, if the monitor believes it alive (its belief is up
//!   to one interval old); none at all while there is no coordinator.
//!
//! Choices where the design is silent:
//! - Clients talk to the monitor (the design's own writer loop lives there; it replaces the
//!   design's random write every 7 s). A database asked directly answers `NotLeader`
//!   hinting the monitor.
//! - A set read ([`SetOp::Read`]) reads the coordinator's documents (the design has no
//!   read path).
//! - A write the coordinator does not confirm within `request_timeout_ms` (1 s) is
//!   `Indeterminate` (the design logs "Write failed" after a save that may have happened);
//!   no coordinator → `Rejected`.
//! - Mongo connect/query timeouts: `request_timeout_ms` (1 s; mongoose's 30 s default would
//!   make reconnect rounds overlap, so config requires one round, a timeout per database,
//!   to fit in the interval).
//! - The design awaits each term update in turn, and a failed one throws out of the
//!   election, skipping the rest. Here the term updates are sent together and their
//!   outcome ignored; the next reconnect reads the real stored terms either way.
//! - The databases' role in [`Node::status`] mirrors the monitor: each connection and term
//!   update tells the database whether the monitor routes writes to it (`Leader`) or not.
//!   A restarted database reports `Follower` until the monitor's next contact.

use check::invariants::{Convergence, Durability, SetSemantics};
use check::models::set::{Elements, SetOp, SetOutput, SetWorkload};
use core::time::Duration;
use protocol::{
    ClientError, Cx, Disk, Node, NodeId, NodeStatus, ParamError, Params, Promises, RequestId, Role,
    Shape, System, Term, TimerId, WorkloadSpec,
};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Config {
    pub monitor_interval: Duration,
    pub request_timeout: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Record {
    /// The `Metadata { key: 'term' }` document.
    Term(u64),
    /// A `Test` document.
    Doc(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Monitor → database: (re)connect and read the term. `coordinator` only feeds status.
    Connect {
        req: u64,
        coordinator: bool,
    },
    Connected {
        req: u64,
        term: u64,
    },
    /// `Metadata.updateOne({ key: 'term' }, { term })`; the outcome is not awaited.
    SetTerm {
        term: u64,
        coordinator: bool,
    },
    Write {
        req: u64,
        element: u64,
    },
    Written {
        req: u64,
    },
    Read {
        req: u64,
    },
    ReadOk {
        req: u64,
        elements: Vec<u64>,
    },
}

const CYCLE_TIMER: TimerId = TimerId(1);
const REQUEST_TIMER_BASE: u64 = 1 << 32;
const TERM_KEY: &str = "meta/term";

#[derive(Clone, Copy, Debug, Default)]
struct DbView {
    alive: bool,
    term: u64,
}

/// One `connectDBs()`: databases visited one after another.
#[derive(Clone, Debug)]
struct ConnectRound {
    order: Vec<NodeId>,
    next: usize,
    req: Option<u64>,
    /// The boot connection does not elect; the interval's does.
    elect_after: bool,
}

#[derive(Clone, Debug)]
enum Pending {
    Connect,
    Write(RequestId),
    Read(RequestId),
}

#[derive(Debug)]
struct Monitor {
    config: Config,
    dbs: BTreeMap<NodeId, DbView>,
    coordinator: Option<NodeId>,
    global_term: u64,
    round: Option<ConnectRound>,
    next_req: u64,
    /// Bounded in time: each entry leaves by its answer or its timeout timer.
    pending: BTreeMap<u64, (NodeId, Pending)>,
}

#[derive(Debug, Default)]
struct Database {
    term: Option<u64>,
    docs: Vec<u64>,
    next_doc_seq: u64,
    coordinator: bool,
}

#[derive(Debug)]
enum Part {
    Monitor(Monitor),
    Database(Database),
}

pub struct TermBully {
    monitor_id: NodeId,
    part: Part,
}

type TCx<'a> = Cx<'a, TermBully>;

impl Monitor {
    fn request(
        &mut self,
        cx: &mut TCx<'_>,
        to: NodeId,
        pending: Pending,
        msg: impl FnOnce(u64) -> Msg,
    ) -> u64 {
        let req = self.next_req;
        self.next_req += 1;
        self.pending.insert(req, (to, pending));
        cx.send(to, msg(req));
        cx.set_timer(
            TimerId(REQUEST_TIMER_BASE + req),
            self.config.request_timeout,
        );
        req
    }

    fn start_round(&mut self, cx: &mut TCx<'_>, elect_after: bool) {
        // `databases` is listed 3, 2, 1 in the design.
        let order: Vec<NodeId> = self.dbs.keys().rev().copied().collect();
        self.round = Some(ConnectRound {
            order,
            next: 0,
            req: None,
            elect_after,
        });
        self.connect_next(cx);
    }

    fn connect_next(&mut self, cx: &mut TCx<'_>) {
        let Some(round) = self.round.as_mut() else {
            return;
        };
        if let Some(&db) = round.order.get(round.next) {
            round.next += 1;
            let coordinator = self.coordinator == Some(db);
            let req = self.request(cx, db, Pending::Connect, |req| Msg::Connect {
                req,
                coordinator,
            });
            self.round.as_mut().expect("round is open").req = Some(req);
            return;
        }
        let round = self.round.take().expect("round is open");
        if !round.elect_after {
            // `setInterval` is started once the boot connection is done.
            cx.set_timer(CYCLE_TIMER, self.config.monitor_interval);
            return;
        }
        let coordinator_alive = self
            .coordinator
            .is_some_and(|c| self.dbs.get(&c).is_some_and(|v| v.alive));
        if coordinator_alive {
            return;
        }
        cx.note("coordinator down or missing, triggering election");
        self.elect(cx);
    }

    fn highest_live_term(&self) -> u64 {
        self.dbs
            .values()
            .filter(|v| v.alive)
            .map(|v| v.term)
            .max()
            .unwrap_or(0)
    }

    fn elect(&mut self, cx: &mut TCx<'_>) {
        self.global_term += 1;
        let alive: Vec<NodeId> = self
            .dbs
            .iter()
            .rev()
            .filter(|(_, v)| v.alive)
            .map(|(id, _)| *id)
            .collect();
        for &db in &alive {
            let highest = self.highest_live_term();
            if self.dbs[&db].term < highest {
                // Sync: copy the old coordinator's term, dead or not; no data moves.
                if let Some(master) = self.coordinator {
                    let term = self.dbs[&master].term;
                    self.dbs.get_mut(&db).expect("known db").term = term;
                    cx.send(
                        db,
                        Msg::SetTerm {
                            term,
                            coordinator: false,
                        },
                    );
                    cx.note(format!("{db} synced term {term} from {master}"));
                }
                continue;
            }
            let term = self.global_term;
            self.coordinator = Some(db);
            cx.note(format!("new coordinator {db}, term {term}"));
            // The coordinator's update first, then the others', as the design awaits them.
            let others = alive.iter().copied().filter(|o| *o != db);
            for other in std::iter::once(db).chain(others) {
                self.dbs.get_mut(&other).expect("known db").term = term;
                cx.send(
                    other,
                    Msg::SetTerm {
                        term,
                        coordinator: other == db,
                    },
                );
            }
            return;
        }
        cx.note("no eligible coordinator found");
        self.coordinator = None;
    }

    fn settle(&mut self, cx: &mut TCx<'_>, req: u64, answer: Option<Msg>) {
        let Some((db, pending)) = self.pending.remove(&req) else {
            return;
        };
        cx.cancel_timer(TimerId(REQUEST_TIMER_BASE + req));
        match (pending, answer) {
            (Pending::Connect, answer) => {
                let view = self.dbs.get_mut(&db).expect("known db");
                match answer {
                    Some(Msg::Connected { term, .. }) => {
                        view.alive = true;
                        view.term = term;
                    }
                    _ => view.alive = false,
                }
                if self.round.as_ref().and_then(|r| r.req) == Some(req) {
                    self.connect_next(cx);
                }
            }
            (Pending::Write(client), Some(_)) => cx.reply(client, Ok(SetOutput::Done)),
            (Pending::Write(client), None) => cx.reply(
                client,
                Err(ClientError::Indeterminate(format!(
                    "write to coordinator {db} failed"
                ))),
            ),
            (Pending::Read(client), Some(Msg::ReadOk { elements, .. })) => {
                cx.reply(client, Ok(SetOutput::Set(elements.into_iter().collect())))
            }
            (Pending::Read(client), _) => cx.reply(
                client,
                Err(ClientError::Indeterminate(format!(
                    "read from coordinator {db} failed"
                ))),
            ),
        }
    }

    fn on_client(&mut self, cx: &mut TCx<'_>, req: RequestId, op: SetOp) {
        let coordinator = self
            .coordinator
            .filter(|c| self.dbs.get(c).is_some_and(|v| v.alive));
        let Some(db) = coordinator else {
            cx.reply(
                req,
                Err(ClientError::Unavailable("no coordinator available".into())),
            );
            return;
        };
        match op {
            SetOp::Add { element } => {
                self.request(cx, db, Pending::Write(req), |r| Msg::Write {
                    req: r,
                    element,
                });
            }
            SetOp::Read => {
                self.request(cx, db, Pending::Read(req), |r| Msg::Read { req: r });
            }
        }
    }
}

impl Database {
    fn on_message(&mut self, cx: &mut TCx<'_>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Connect { req, coordinator } => {
                self.coordinator = coordinator;
                let term = match self.term {
                    Some(t) => t,
                    None => {
                        cx.persist(TERM_KEY, Record::Term(0));
                        cx.sync();
                        self.term = Some(0);
                        0
                    }
                };
                cx.send(from, Msg::Connected { req, term });
            }
            Msg::SetTerm { term, coordinator } => {
                self.coordinator = coordinator;
                self.term = Some(term);
                cx.persist(TERM_KEY, Record::Term(term));
                cx.sync();
            }
            Msg::Write { req, element } => {
                cx.persist(
                    format!("doc/{:020}", self.next_doc_seq),
                    Record::Doc(element),
                );
                cx.sync();
                self.next_doc_seq += 1;
                self.docs.push(element);
                cx.send(from, Msg::Written { req });
            }
            Msg::Read { req } => {
                let elements = self.docs.clone();
                cx.send(from, Msg::ReadOk { req, elements });
            }
            Msg::Connected { .. } | Msg::Written { .. } | Msg::ReadOk { .. } => {}
        }
    }
}

impl Node for TermBully {
    type Msg = Msg;
    type Record = Record;
    type Config = Config;
    type Op = SetOp;
    type State = Elements;

    fn config(params: &Params) -> Result<Config, ParamError> {
        const KNOWN: &[&str] = &["monitor_interval_ms", "request_timeout_ms"];
        params.only(KNOWN)?;
        let config = Config {
            monitor_interval: params.millis("monitor_interval_ms", 10_000)?,
            request_timeout: params.millis("request_timeout_ms", 1000)?,
        };
        // A reconnect round (three databases, one timeout each) must end before the next.
        if config.request_timeout * 3 >= config.monitor_interval {
            return Err(ParamError {
                name: "request_timeout_ms".into(),
                value: config.request_timeout.as_millis().to_string(),
                expected: "under a third of monitor_interval_ms (rounds must not overlap)".into(),
            });
        }
        Ok(config)
    }

    fn new(id: NodeId, cluster: &[NodeId], config: &Config) -> Self {
        let monitor_id = *cluster.iter().max().expect("cluster is not empty");
        assert!(
            cluster.len() >= 2,
            "term-bully needs a monitor and a database"
        );
        let part = if id == monitor_id {
            Part::Monitor(Monitor {
                config: config.clone(),
                dbs: cluster
                    .iter()
                    .filter(|n| **n != monitor_id)
                    .map(|n| (*n, DbView::default()))
                    .collect(),
                coordinator: None,
                global_term: 0,
                round: None,
                next_req: 0,
                pending: BTreeMap::new(),
            })
        } else {
            Part::Database(Database::default())
        };
        TermBully { monitor_id, part }
    }

    fn on_start(&mut self, cx: &mut TCx<'_>, disk: &Disk<Record>) {
        match &mut self.part {
            Part::Monitor(m) => m.start_round(cx, false),
            Part::Database(d) => {
                for (key, record) in disk {
                    match record {
                        Record::Term(t) if key == TERM_KEY => d.term = Some(*t),
                        Record::Doc(e) => {
                            let seq = key
                                .strip_prefix("doc/")
                                .and_then(|s| s.parse::<u64>().ok())
                                .unwrap_or(0);
                            d.docs.push(*e);
                            d.next_doc_seq = d.next_doc_seq.max(seq + 1);
                        }
                        Record::Term(_) => {}
                    }
                }
            }
        }
    }

    fn on_message(&mut self, cx: &mut TCx<'_>, from: NodeId, msg: Msg) {
        match &mut self.part {
            Part::Database(d) => d.on_message(cx, from, msg),
            Part::Monitor(m) => match msg {
                Msg::Connected { req, .. } | Msg::Written { req } | Msg::ReadOk { req, .. } => {
                    m.settle(cx, req, Some(msg))
                }
                _ => {}
            },
        }
    }

    fn on_timer(&mut self, cx: &mut TCx<'_>, timer: TimerId) {
        let Part::Monitor(m) = &mut self.part else {
            return;
        };
        match timer {
            CYCLE_TIMER => {
                cx.set_timer(CYCLE_TIMER, m.config.monitor_interval);
                // Config keeps a round shorter than the interval, so none is open here.
                if m.round.is_none() {
                    m.start_round(cx, true);
                }
            }
            TimerId(t) if t >= REQUEST_TIMER_BASE => m.settle(cx, t - REQUEST_TIMER_BASE, None),
            _ => {}
        }
    }

    fn on_client(&mut self, cx: &mut TCx<'_>, req: RequestId, op: SetOp) {
        match &mut self.part {
            Part::Monitor(m) => m.on_client(cx, req, op),
            Part::Database(_) => cx.reply(
                req,
                Err(ClientError::NotLeader {
                    hint: Some(self.monitor_id),
                }),
            ),
        }
    }

    fn status(&self) -> NodeStatus {
        match &self.part {
            Part::Monitor(_) => NodeStatus {
                role: Role::Observer,
                term: None,
                commit: None,
                scope: NodeStatus::ALL,
            },
            Part::Database(d) => NodeStatus {
                role: if d.coordinator {
                    Role::Leader
                } else {
                    Role::Follower
                },
                term: Some(Term(d.term.unwrap_or(0))),
                commit: None,
                scope: NodeStatus::ALL,
            },
        }
    }

    fn state(&self) -> Elements {
        match &self.part {
            // Never read: the monitor is the shape's extra node, not a replica.
            Part::Monitor(_) => Elements::default(),
            Part::Database(d) => {
                let mut items = d.docs.clone();
                items.sort_unstable();
                Elements(items)
            }
        }
    }
}

impl System for TermBully {
    const NAME: &'static str = "term-bully";
    type Workload = SetWorkload;

    /// The replicas are the databases; the monitor comes on top as the highest id, which
    /// is how a node tells whether it is the monitor (in `new`).
    fn shape(_config: &Config, replicas: u32) -> Result<Shape, ParamError> {
        Ok(Shape { replicas, extra: 1 })
    }

    fn workload(
        _config: &Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<SetWorkload, ParamError> {
        SetWorkload::new(spec, client)
    }

    /// What a client of the design expects of a document store: acknowledged documents
    /// kept, the same documents everywhere once healed, set semantics. The design has no
    /// replication, so convergence is expected to fail: that is a finding, not a reason
    /// to promise less.
    fn promises(_config: &Config, _shape: &Shape) -> Promises<TermBully> {
        vec![
            Box::new(Durability),
            Box::new(Convergence),
            Box::new(SetSemantics),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{replies, sends, Effect, Effects, Harness, InvariantId};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn connect_req(fx: &Effects<TermBully>) -> Option<(NodeId, u64)> {
        sends(fx).into_iter().find_map(|(to, m)| match m {
            Msg::Connect { req, .. } => Some((to, req)),
            _ => None,
        })
    }

    /// Answers one reconnect round: `terms` per database in visiting order (3, 2, 1);
    /// `None` lets that connection time out. Returns the effects of the round's last step.
    fn answer_round(
        h: &mut Harness<TermBully>,
        first: Effects<TermBully>,
        terms: [Option<u64>; 3],
    ) -> Effects<TermBully> {
        let mut fx = first;
        for (expected, term) in [3, 2, 1].into_iter().zip(terms) {
            let (to, req) = connect_req(&fx).expect("next connect");
            assert_eq!(to, NodeId(expected), "databases are visited 3, 2, 1");
            fx = match term {
                Some(term) => h.message(expected, Msg::Connected { req, term }),
                None => {
                    h.advance(ms(1000));
                    h.timer(TimerId(REQUEST_TIMER_BASE + req))
                }
            };
        }
        fx
    }

    fn set_terms(fx: &Effects<TermBully>) -> Vec<(NodeId, u64, bool)> {
        sends(fx)
            .into_iter()
            .filter_map(|(to, m)| match m {
                Msg::SetTerm { term, coordinator } => Some((to, term, coordinator)),
                _ => None,
            })
            .collect()
    }

    /// A monitor (n4) booted against databases with the given terms, then one interval.
    fn monitor_after_first_election(
        terms: [Option<u64>; 3],
    ) -> (Harness<TermBully>, Effects<TermBully>) {
        let mut m = Harness::<TermBully>::new(4, 4, &Params::new());
        let fx = m.start(&Disk::new());
        let fx = answer_round(&mut m, fx, terms);
        assert!(
            set_terms(&fx).is_empty(),
            "the boot connection does not elect"
        );
        assert!(fx.contains(&Effect::SetTimer {
            timer: CYCLE_TIMER,
            after: ms(10_000)
        }));
        m.advance(ms(10_000));
        let fx = m.timer(CYCLE_TIMER);
        let fx = answer_round(&mut m, fx, terms);
        (m, fx)
    }

    #[test]
    fn monitor_elects_the_highest_live_database_and_bumps_the_global_term() {
        let (m, fx) = monitor_after_first_election([Some(0), Some(0), Some(0)]);
        assert_eq!(
            set_terms(&fx),
            vec![
                (NodeId(3), 1, true),
                (NodeId(2), 1, false),
                (NodeId(1), 1, false)
            ]
        );
        assert_eq!(m.node.status().role, Role::Observer);
    }

    #[test]
    fn a_stale_database_syncs_only_the_term_and_is_passed_over() {
        let (mut m, _) = monitor_after_first_election([Some(0), Some(0), Some(0)]);
        // Next interval: coordinator 3 is dead, 2 came back with an old term 0.
        m.advance(ms(10_000));
        let fx = m.timer(CYCLE_TIMER);
        let fx = answer_round(&mut m, fx, [None, Some(0), Some(1)]);
        assert_eq!(
            set_terms(&fx),
            vec![
                // 2 copies dead coordinator 3's term (1) and is skipped...
                (NodeId(2), 1, false),
                // ...so 1, not below the highest live term, wins term 2.
                (NodeId(1), 2, true),
                (NodeId(2), 2, false),
            ]
        );

        // The database side of a sync: the term is stored, the documents are untouched.
        let mut d = Harness::<TermBully>::new(2, 4, &Params::new());
        d.start(&Disk::new());
        d.message(4, Msg::Write { req: 0, element: 7 });
        let fx = d.message(
            4,
            Msg::SetTerm {
                term: 1,
                coordinator: false,
            },
        );
        assert_eq!(
            fx,
            vec![
                Effect::Persist {
                    key: TERM_KEY.into(),
                    value: Record::Term(1)
                },
                Effect::Sync
            ]
        );
        assert_eq!(d.node.state(), Elements(vec![7]));
        assert_eq!(d.node.status().term, Some(Term(1)));
    }

    #[test]
    fn writes_go_to_the_coordinator_only() {
        let mut m = Harness::<TermBully>::new(4, 4, &Params::new());
        let fx = m.start(&Disk::new());
        answer_round(&mut m, fx, [Some(0), Some(0), Some(0)]);
        // Booted, not yet elected: no coordinator.
        let fx = m.client(1, SetOp::Add { element: 1 });
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(1),
                Err(ClientError::Unavailable("no coordinator available".into()))
            )]
        );
        let (mut m, _) = monitor_after_first_election([Some(0), Some(0), Some(0)]);
        let fx = m.client(2, SetOp::Add { element: 5 });
        let sent = sends(&fx);
        assert_eq!(sent.len(), 1);
        let (to, Msg::Write { req, element: 5 }) = sent[0].clone() else {
            panic!("expected a write, got {sent:?}");
        };
        assert_eq!(to, NodeId(3));
        let fx = m.message(3, Msg::Written { req });
        assert_eq!(replies(&fx), vec![(RequestId(2), Ok(SetOutput::Done))]);
        // An unconfirmed write may have happened.
        let fx = m.client(3, SetOp::Add { element: 6 });
        let Some((_, Msg::Write { req, .. })) = sends(&fx).first().cloned() else {
            panic!("expected a write");
        };
        m.advance(ms(1000));
        let fx = m.timer(TimerId(REQUEST_TIMER_BASE + req));
        assert!(matches!(
            replies(&fx)[..],
            [(RequestId(3), Err(ClientError::Indeterminate(_)))]
        ));
        // A database asked directly points at the monitor.
        let mut d = Harness::<TermBully>::new(3, 4, &Params::new());
        d.start(&Disk::new());
        let fx = d.client(4, SetOp::Read);
        assert_eq!(
            replies(&fx),
            vec![(
                RequestId(4),
                Err(ClientError::NotLeader {
                    hint: Some(NodeId(4))
                })
            )]
        );
    }

    #[test]
    fn a_restarted_monitor_counts_terms_from_zero_again() {
        // Databases already at term 5: the fresh monitor's global term is 1.
        let (_, fx) = monitor_after_first_election([Some(5), Some(5), Some(5)]);
        assert_eq!(
            set_terms(&fx),
            vec![
                (NodeId(3), 1, true),
                (NodeId(2), 1, false),
                (NodeId(1), 1, false)
            ]
        );
    }

    #[test]
    fn database_initialises_its_term_and_keeps_it_across_restart() {
        let mut d = Harness::<TermBully>::new(1, 4, &Params::new());
        d.start(&Disk::new());
        let fx = d.message(
            4,
            Msg::Connect {
                req: 0,
                coordinator: false,
            },
        );
        assert_eq!(
            fx,
            vec![
                Effect::Persist {
                    key: TERM_KEY.into(),
                    value: Record::Term(0)
                },
                Effect::Sync,
                Effect::Send {
                    to: NodeId(4),
                    msg: Msg::Connected { req: 0, term: 0 }
                }
            ]
        );
        let disk: Disk<Record> = [
            (TERM_KEY.to_string(), Record::Term(3)),
            ("doc/00000000000000000000".to_string(), Record::Doc(8)),
        ]
        .into();
        let mut r = Harness::<TermBully>::new(1, 4, &Params::new());
        r.start(&disk);
        assert_eq!(r.node.status().term, Some(Term(3)));
        assert_eq!(r.node.status().role, Role::Follower);
        assert_eq!(r.node.state(), Elements(vec![8]));
    }

    #[test]
    fn describes_itself_with_the_monitor_as_an_extra_highest_node() {
        assert_eq!(TermBully::NAME, "term-bully");
        let config = TermBully::config(&Params::new()).unwrap();
        let shape = TermBully::shape(&config, 3).unwrap();
        assert_eq!(
            shape,
            Shape {
                replicas: 3,
                extra: 1
            }
        );
        // The extra node is the one that makes itself the monitor; the replicas are not.
        let nodes = shape.nodes();
        let monitor = Harness::<TermBully>::new(nodes, nodes, &Params::new());
        assert_eq!(monitor.node.status().role, Role::Observer);
        for id in 1..=shape.replicas {
            let db = Harness::<TermBully>::new(id, nodes, &Params::new());
            assert_ne!(db.node.status().role, Role::Observer, "n{id}");
        }
        let ids: Vec<InvariantId> = TermBully::promised(&config, &shape);
        assert_eq!(
            ids,
            vec![
                InvariantId::DURABILITY,
                InvariantId::CONVERGENCE,
                InvariantId::SET
            ]
        );
    }
}
