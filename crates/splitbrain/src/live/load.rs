//! A workload against a live cluster, and its judgement by the same checkers as a
//! simulation: the simulator's own clients (`sim::client::Client`, sans-IO) over TCP,
//! the history stamped with the real monotonic clock, every node's status watched for
//! election safety, final states read from the nodes after a settle, and the system's
//! promises judged over them (and liveness over a window, as a simulation's liveness
//! phase is).

use super::nemesis::{Acted, Done};
use super::observe::Observer;
use protocol::{
    Budget, ClientError, ClientResult, Event, Finals, History, InvariantId, NodeId, Output, Params,
    Shape, System, Undecided, Violation,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use real::net::Conn;
use real::wire::{Request, Response, ResponseOf, Stats};
use real::RealSystem;
use sim::client::{Action, Client, Request as ClientRequest, Service};
use sim::RecordedHistory;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

/// A load run: where the cluster is, what to send it, for how long.
#[derive(Clone, Debug)]
pub struct Plan {
    pub cluster: String,
    /// Every node, in id order (replicas, then a system's extra nodes).
    pub addrs: Vec<SocketAddr>,
    pub params: Params,
    pub workload: scenario::Workload,
    pub duration: Duration,
    /// After the load (and the nemesis's heal): the cluster runs this long before final
    /// states are read.
    pub settle: Duration,
    /// Derives the clients' operation streams (the cluster's behaviour is not seeded).
    pub seed: u64,
    /// A liveness window (from the start): every operation invoked in it must be served,
    /// as in a simulation's liveness phase (its second half).
    pub watched: Option<(Duration, Duration)>,
    pub budget: Budget,
}

/// Operation latency of acknowledged operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// What a load run saw and how it was judged.
pub struct LoadReport {
    pub system: &'static str,
    pub violations: Vec<Violation>,
    pub undecided: Vec<Undecided>,
    pub history: Box<dyn RecordedHistory>,
    /// From the first invocation to the last completion.
    pub wall: Duration,
    pub latency: Option<Latency>,
    /// Messages the nodes sent one another during the run (their own counters; a
    /// restarted node's count starts again).
    pub messages: u64,
    /// Replicas whose final state was read, of how many.
    pub states_read: usize,
    pub replicas: usize,
    /// What the nemesis did, in order.
    pub faults: Vec<Done>,
    /// What else the harness noticed (a node that did not answer at the end).
    pub notes: Vec<String>,
}

impl LoadReport {
    pub fn violated(&self) -> std::collections::BTreeSet<InvariantId> {
        self.violations.iter().map(|v| v.invariant).collect()
    }
}

/// How many of `n` nodes are replicas for `S` with this configuration.
pub fn shape_of<S: System>(config: &S::Config, n: usize) -> Result<Shape, String> {
    (1..=n as u32)
        .filter_map(|r| S::shape(config, r).ok())
        .find(|s| s.nodes() as usize == n)
        .ok_or_else(|| format!("{} cannot run as a cluster of {n} nodes", S::NAME))
}

/// Runs the load while `nemesis` acts on the cluster (it is handed the live statuses and
/// must have healed whatever it did when it completes), then settles and judges.
pub async fn load<S, N, F>(plan: &Plan, nemesis: N) -> Result<LoadReport, String>
where
    S: RealSystem,
    N: FnOnce(Arc<Observer>) -> F,
    F: Future<Output = Acted>,
{
    let config = S::config(&plan.params).map_err(|e| e.to_string())?;
    let shape = shape_of::<S>(&config, plan.addrs.len())?;
    let replicas = shape.replicas as usize;
    let observer = Arc::new(Observer::new(plan.addrs.len()));
    let watchers: Vec<_> = (0..plan.addrs.len())
        .map(|idx| {
            let (addr, cluster, observer) =
                (plan.addrs[idx], plan.cluster.clone(), observer.clone());
            tokio::spawn(async move { watch::<S>(idx, addr, &cluster, &observer).await })
        })
        .collect();
    fresh::<S>(plan, &config, replicas).await?;
    let before = stats::<S>(plan, &mut Vec::new()).await;
    let history = Arc::new(Mutex::new(Vec::new()));
    let start = observer.start();
    let mut tasks = Vec::new();
    for c in 0..plan.workload.clients {
        let workload = S::workload(&config, &plan.workload.spec(), c).map_err(|e| e.to_string())?;
        let rng = ChaCha8Rng::seed_from_u64(plan.seed ^ (u64::from(c) << 32) ^ 0x10ad);
        let mut client = Client::new(c, &plan.workload, workload, rng);
        client.start_at(0);
        if let Some((from, until)) = plan.watched {
            client.watch_service(from.as_nanos() as u64, until.as_nanos() as u64);
        }
        let run = Run {
            addrs: plan.addrs[..replicas].to_vec(),
            cluster: plan.cluster.clone(),
            start,
            end_ns: plan.duration.as_nanos() as u64,
            history: history.clone(),
        };
        tasks.push(tokio::spawn(async move { run.client::<S>(client).await }));
    }
    let acted = nemesis(observer.clone()).await;
    let mut services = Vec::new();
    for t in tasks {
        services.push(t.await.map_err(|e| format!("a client task failed: {e}"))?);
    }
    let wall = start.elapsed();
    sleep(plan.settle).await;
    let mut notes = Vec::new();
    let finals = final_states::<S>(plan, replicas, &mut notes).await;
    let after = stats::<S>(plan, &mut notes).await;
    for w in watchers {
        w.abort();
    }
    let events = std::mem::take(&mut *history.lock().expect("no client panicked"));
    let history = History { events };
    let mut violations = observer.election_violations();
    violations.extend(acted.violations);
    let window = plan
        .watched
        .map(|(from, until)| (from.as_nanos() as u64, until.as_nanos() as u64));
    violations.extend(window.and_then(|w| sim::client::unserved(w, services.iter())));
    let finals_view = Finals {
        history: &history,
        states: &finals,
        clients: plan.workload.clients,
        budget: plan.budget,
    };
    let mut undecided = Vec::new();
    for invariant in S::promises(&config, &shape) {
        match invariant.check(&finals_view) {
            Ok(v) => violations.extend(v),
            Err(u) => undecided.push(u),
        }
    }
    Ok(LoadReport {
        system: S::NAME,
        violations,
        undecided,
        latency: latency(&history),
        history: Box::new(history),
        wall,
        messages: after.sent.saturating_sub(before.sent),
        states_read: finals.len(),
        faults: acted.done,
        replicas,
        notes,
    })
}

/// What one client task needs.
struct Run<O: protocol::Op> {
    addrs: Vec<SocketAddr>,
    cluster: String,
    start: Instant,
    end_ns: u64,
    history: Arc<Mutex<Vec<Event<O>>>>,
}

/// How one attempt at an operation ended.
enum Attempt<T> {
    Reply(ClientResult<T>),
    /// Never reached the node: definitely not applied.
    NotSent,
    /// The deadline passed with no answer (or the connection broke after the request
    /// went out): the outcome is unknown.
    Timeout,
}

impl<O: protocol::Op> Run<O> {
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Runs one client until the load's end; what it served in the liveness window.
    async fn client<S: RealSystem<Op = O>>(self, mut client: Client<S::Workload>) -> Service {
        let nodes = self.addrs.len();
        let mut conns: Vec<Option<Conn>> = (0..nodes).map(|_| None).collect();
        let mut next_req = 1u64;
        let mut req = move || {
            next_req += 1;
            protocol::RequestId(next_req)
        };
        loop {
            let tick = client.tick_at_or_after(self.now_ns());
            if tick >= self.end_ns {
                client.close_service();
                return client.service;
            }
            sleep_until(self.start + Duration::from_nanos(tick)).await;
            let mut r = {
                let mut h = self.history.lock().expect("no client panicked");
                client.on_tick(self.now_ns(), req(), nodes, &mut h)
            };
            loop {
                let deadline =
                    self.start + Duration::from_nanos(client.deadline_ns().expect("in flight"));
                let result = match self
                    .attempt::<S>(&mut conns[r.target], r.target, &r, deadline)
                    .await
                {
                    Attempt::Reply(result) => result,
                    Attempt::NotSent => Err(ClientError::NotLeader { hint: None }),
                    Attempt::Timeout => {
                        sleep_until(deadline).await;
                        let mut h = self.history.lock().expect("no client panicked");
                        client.on_timeout(self.now_ns(), &mut h);
                        break;
                    }
                };
                let mut h = self.history.lock().expect("no client panicked");
                let next = req();
                match client.on_reply(self.now_ns(), r.req, r.target, result, next, nodes, &mut h) {
                    Some(Action::Send(again)) => r = again,
                    _ => break,
                }
            }
        }
    }

    async fn attempt<S: RealSystem<Op = O>>(
        &self,
        conn: &mut Option<Conn>,
        target: usize,
        r: &ClientRequest<O>,
        deadline: Instant,
    ) -> Attempt<Output<S>> {
        if conn.is_none() {
            match timeout_at(deadline, Conn::connect(self.addrs[target], &self.cluster)).await {
                Ok(Ok(c)) => *conn = Some(c),
                Ok(Err(_)) => {
                    // Refused: the node is down. Not applied; a pause before the next
                    // node keeps a client from spinning through a dead cluster.
                    sleep(Duration::from_millis(10)).await;
                    return Attempt::NotSent;
                }
                Err(_) => return Attempt::Timeout,
            }
        }
        let c = conn.as_mut().expect("connected above");
        let request = Request::Op {
            id: r.req.0,
            op: r.op.clone(),
        };
        match timeout_at(deadline, c.send(&request)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                // The kernel took none of it whole: the node cannot decode a partial frame.
                *conn = None;
                return Attempt::NotSent;
            }
            Err(_) => {
                // A paused node's buffers filled up; the frame may be whole in them.
                *conn = None;
                return Attempt::Timeout;
            }
        }
        loop {
            match timeout_at(deadline, c.recv::<ResponseOf<S>>()).await {
                Err(_) => return Attempt::Timeout,
                Ok(Ok(Some(Response::Reply { id, result }))) if id == r.req.0 => {
                    return Attempt::Reply(result)
                }
                Ok(Ok(Some(_))) => {} // a late answer to an abandoned attempt
                Ok(Ok(None) | Err(_)) => {
                    *conn = None;
                    return Attempt::Timeout;
                }
            }
        }
    }
}

/// Watches node `idx`'s status for the whole run, reconnecting across restarts.
async fn watch<S: RealSystem>(idx: usize, addr: SocketAddr, cluster: &str, observer: &Observer) {
    loop {
        if let Ok(mut conn) = Conn::connect(addr, cluster).await {
            if conn.send(&Request::<S::Op>::Watch).await.is_ok() {
                while let Ok(Some(response)) = conn.recv::<ResponseOf<S>>().await {
                    if let Response::Status(status) = response {
                        observer.observe(idx, Some(status));
                    }
                }
            }
            observer.observe(idx, None);
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// One request and its answer, within `within`.
async fn ask<S: RealSystem>(
    addr: SocketAddr,
    cluster: &str,
    request: Request<S::Op>,
    within: Duration,
) -> Result<ResponseOf<S>, String> {
    let exchange = async {
        let mut conn = Conn::connect(addr, cluster)
            .await
            .map_err(|e| e.to_string())?;
        conn.send(&request).await.map_err(|e| e.to_string())?;
        conn.recv::<ResponseOf<S>>()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "closed the connection".to_string())
    };
    timeout(within, exchange)
        .await
        .map_err(|_| format!("no answer within {within:?}"))?
}

const ASK: Duration = Duration::from_secs(3);

async fn final_states<S: RealSystem>(
    plan: &Plan,
    replicas: usize,
    notes: &mut Vec<String>,
) -> Vec<(NodeId, S::State)> {
    let mut out = Vec::new();
    for idx in 0..replicas {
        match ask::<S>(plan.addrs[idx], &plan.cluster, Request::State, ASK).await {
            Ok(Response::State(state)) => out.push((NodeId(idx as u32 + 1), state)),
            Ok(_) => notes.push(format!("n{}: answered State with something else", idx + 1)),
            Err(why) => notes.push(format!("n{}: no final state: {why}", idx + 1)),
        }
    }
    out
}

/// Waits (up to [`UP`]) until every replica answers, then refuses a cluster whose
/// replicas already hold data: every checker judges from an empty start (a read of a key
/// nobody wrote this run must see nothing), so a second load on the same cluster would
/// be judged against what the first one wrote.
async fn fresh<S: RealSystem>(
    plan: &Plan,
    config: &S::Config,
    replicas: usize,
) -> Result<(), String> {
    let ids: Vec<NodeId> = (1..=plan.addrs.len() as u32).map(NodeId).collect();
    let deadline = Instant::now() + UP;
    let states = loop {
        let mut unreachable = Vec::new();
        let states = final_states::<S>(plan, replicas, &mut unreachable).await;
        match unreachable.first() {
            None => break states,
            Some(why) if Instant::now() > deadline => {
                return Err(format!("the cluster is not up: {why}"))
            }
            Some(_) => sleep(Duration::from_millis(100)).await,
        }
    };
    for (id, state) in states {
        if state != S::new(id, &ids, config).state() {
            return Err(format!(
                "{id} already holds data, and the checkers judge from an empty start: load a \
                 fresh cluster (`cluster` with a new --data folder)"
            ));
        }
    }
    Ok(())
}

/// How long `load` waits for a cluster just started to answer.
const UP: Duration = Duration::from_secs(10);

/// Every node's counters, summed (a node that does not answer counts nothing).
async fn stats<S: RealSystem>(plan: &Plan, notes: &mut Vec<String>) -> Stats {
    let mut sum = Stats::default();
    for (idx, addr) in plan.addrs.iter().enumerate() {
        match ask::<S>(*addr, &plan.cluster, Request::Stats, ASK).await {
            Ok(Response::Stats(s)) => {
                sum.sent += s.sent;
                sum.received += s.received;
                sum.requests += s.requests;
            }
            Ok(_) => {}
            Err(why) => notes.push(format!("n{}: no counters: {why}", idx + 1)),
        }
    }
    sum
}

fn latency<O: protocol::Op>(history: &History<O>) -> Option<Latency> {
    use protocol::EventKind;
    let mut invoked = std::collections::BTreeMap::new();
    let mut took = Vec::new();
    for e in &history.events {
        match e.kind {
            EventKind::Invoke => {
                invoked.insert(e.process, e.time_ns);
            }
            EventKind::Ok => {
                if let Some(at) = invoked.remove(&e.process) {
                    took.push(e.time_ns - at);
                }
            }
            _ => {
                invoked.remove(&e.process);
            }
        }
    }
    took.sort_unstable();
    let at = |q: f64| Duration::from_nanos(took[((took.len() - 1) as f64 * q).round() as usize]);
    (!took.is_empty()).then(|| Latency {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    })
}
