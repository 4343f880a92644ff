//! `splitbrain bench`: simulation speed on the standard workload, and madsim's own
//! Endpoint measured in the same process for comparison.
//!
//! Wall-clock reads are the point here, so this is the one module allowed them; nothing
//! it measures feeds back into a run.
#![allow(clippy::disallowed_methods)]

use crate::registry::PreparedRun;
use crate::run::RunOptions;
use protocol::{Datum, Op, System, Workload, WorkloadSpec};
use scenario::{Catalog, Scenario};
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct WorkloadFigures {
    pub seeds: u64,
    pub wall: Duration,
    pub simulated: Duration,
    /// Messages delivered: node to node, plus client requests and replies (clients are
    /// endpoints of the harness like nodes; the issue's ~380 per simulated second counts
    /// them too).
    pub delivered: u64,
    pub node_messages: u64,
    pub client_messages: u64,
    pub wakeups: u64,
    pub violations: usize,
}

impl WorkloadFigures {
    pub fn seeds_per_s(&self) -> f64 {
        self.seeds as f64 / self.wall.as_secs_f64()
    }
    pub fn sim_per_wall(&self) -> f64 {
        self.simulated.as_secs_f64() / self.wall.as_secs_f64()
    }
    pub fn messages_per_s(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64()
    }
}

/// Runs a prepared workload on seeds 1..=seeds, checks included.
pub fn workload(prepared: &dyn PreparedRun, seeds: u64) -> WorkloadFigures {
    let opts = RunOptions::default();
    let start = Instant::now();
    let mut simulated = Duration::ZERO;
    let mut node_messages = 0;
    let mut client_messages = 0;
    let mut violations = 0;
    let mut wakeups = 0;
    for seed in 1..=seeds {
        let r = prepared.run(seed, &opts);
        simulated += Duration::from_nanos(r.end_ns);
        node_messages += r.stats.delivered;
        client_messages += r.stats.client_requests + r.stats.client_replies;
        wakeups += r.stats.wakeups;
        violations += r.violations.len();
    }
    WorkloadFigures {
        seeds,
        wall: start.elapsed(),
        simulated,
        delivered: node_messages + client_messages,
        node_messages,
        client_messages,
        wakeups,
        violations,
    }
}

#[derive(Clone, Debug)]
pub struct PingPongFigures {
    pub messages: u64,
    pub wall: Duration,
    pub simulated: Duration,
}

impl PingPongFigures {
    pub fn messages_per_s(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64()
    }
}

/// Raw madsim: two nodes bounce a small packet over `madsim::net::Endpoint`.
pub fn endpoint_ping_pong(messages: u64) -> PingPongFigures {
    use madsim::net::Endpoint;
    use std::net::SocketAddr;
    let rt = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
    let start = Instant::now();
    let simulated = rt.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        let a: SocketAddr = "10.0.0.1:1".parse().expect("literal address");
        let b: SocketAddr = "10.0.0.2:1".parse().expect("literal address");
        let ponger = handle.create_node().ip(b.ip()).build();
        let pinger = handle.create_node().ip(a.ip()).build();
        ponger.spawn(async move {
            let ep = Endpoint::bind(b).await.expect("bind");
            let mut buf = [0u8; 16];
            loop {
                let (n, from) = ep.recv_from(1, &mut buf).await.expect("recv");
                ep.send_to(from, 1, &buf[..n]).await.expect("send");
            }
        });
        let t0 = madsim::time::TimeHandle::current().elapsed();
        pinger
            .spawn(async move {
                madsim::time::sleep(Duration::from_millis(1)).await;
                let ep = Endpoint::bind(a).await.expect("bind");
                let mut buf = [0u8; 16];
                for i in 0..messages / 2 {
                    ep.send_to(b, 1, &i.to_le_bytes()).await.expect("send");
                    ep.recv_from(1, &mut buf).await.expect("recv");
                }
            })
            .await
            .expect("pinger");
        madsim::time::TimeHandle::current().elapsed() - t0
    });
    PingPongFigures {
        messages: messages / 2 * 2,
        wall: start.elapsed(),
        simulated,
    }
}

/// The harness's ping-pong: two nodes, latency 1-10 ms as in the standard workload, no
/// clients (the file must name one; it is taken away below).
const PING_PONG: &str = r#"
description = "bench: a ball between two nodes"
systems = ["ping-pong"]
nodes = 2
duration = "1s"
quiesce = "1ms"
[network]
latency = ["1ms", "10ms"]
[workload]
clients = 1
rate = 1
[expect]
ping-pong = "pass"
"#;

/// The same ping-pong as [`endpoint_ping_pong`], through this harness: two nodes of a
/// trivial system bounce one message, delivered by the world's mailboxes and drivers.
/// No clients, no history, nothing to judge: the transport alone, against madsim's
/// Endpoint doing the same.
pub fn harness_ping_pong(messages: u64) -> PingPongFigures {
    let mut sc: Scenario =
        scenario::parse_str(PING_PONG, Path::new("<bench>"), &Catalog::of::<PingPong>())
            .expect("the built-in ping-pong scenario is valid");
    sc.workload.clients = 0;
    // About 5.5 ms a message on average.
    sc.duration = Duration::from_micros(5_500 * messages);
    let prepared = crate::run::prepare::<PingPong>(&sc).expect("the ping-pong takes any scenario");
    let start = Instant::now();
    let r = crate::run::run(&prepared, 1, &RunOptions::default());
    let wall = start.elapsed();
    let j = r.judgement;
    assert!(j.violations.is_empty(), "{:?}", j.violations);
    PingPongFigures {
        messages: r.simulation.stats.delivered,
        wall,
        simulated: Duration::from_nanos(r.simulation.end_ns),
    }
}

/// Node 1 serves, node 2 returns every ball at once.
struct PingPong {
    id: protocol::NodeId,
}

/// The ping-pong serves no client operation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum NoOp {}

impl fmt::Display for NoOp {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl Op for NoOp {
    type Output = ();
    fn f(&self) -> &'static str {
        match *self {}
    }
    fn is_read(&self) -> bool {
        match *self {}
    }
    fn value(&self) -> Datum {
        match *self {}
    }
}

/// A workload for no clients.
struct Idle;

impl Workload for Idle {
    type Op = NoOp;
    const NAME: &'static str = "none";
    const OPS: &'static [&'static str] = &[];
    fn next(&mut self, _: &mut dyn rand_core::RngCore) -> NoOp {
        unreachable!("the ping-pong has no clients")
    }
}

impl protocol::Node for PingPong {
    type Msg = u64;
    type Record = ();
    type Config = ();
    type Op = NoOp;
    type State = ();

    fn config(_: &protocol::Params) -> Result<(), protocol::ParamError> {
        Ok(())
    }
    fn new(id: protocol::NodeId, _: &[protocol::NodeId], _: &()) -> PingPong {
        PingPong { id }
    }
    fn on_start(&mut self, cx: &mut protocol::Cx<'_, Self>, _: &protocol::Disk<()>) {
        if self.id == protocol::NodeId(1) {
            cx.send(protocol::NodeId(2), 0);
        }
    }
    fn on_message(&mut self, cx: &mut protocol::Cx<'_, Self>, from: protocol::NodeId, n: u64) {
        cx.send(from, n + 1);
    }
    fn on_timer(&mut self, _: &mut protocol::Cx<'_, Self>, _: protocol::TimerId) {}
    fn on_client(&mut self, _: &mut protocol::Cx<'_, Self>, _: protocol::RequestId, op: NoOp) {
        match op {}
    }
    fn status(&self) -> protocol::NodeStatus {
        protocol::NodeStatus {
            role: protocol::Role::Follower,
            term: None,
            commit: None,
            scope: protocol::NodeStatus::ALL,
        }
    }
    fn state(&self) {}
}

impl System for PingPong {
    const NAME: &'static str = "ping-pong";
    type Workload = Idle;
    fn workload(_: &(), _: &WorkloadSpec, _: u32) -> Result<Idle, protocol::ParamError> {
        Ok(Idle)
    }
    fn promises(_: &(), _: &protocol::Shape) -> protocol::Promises<Self> {
        Vec::new()
    }
}

/// The process's memory: measured where the checkers measure theirs.
pub use check::measure::{peak_rss_bytes, rss_bytes};
