//! Real mode's harness: the systems that can leave the simulation, and what is done to a
//! live cluster of them. The driver a node runs is the `real` crate's; this is the other
//! side: starting node processes, the workload over TCP, the nemesis, the judgement.
//!
//! - [`Systems`]: the [`RealSystem`]s a command line can run for real, by name.
//! - [`procs`]: node processes (start, `kill -9`, SIGSTOP/SIGCONT, restart, stop).
//! - [`relay`]: a relay on every link, so partitions and loss need no root.
//! - [`observe`]: every node's reported status, judged for election safety as it changes.
//! - [`load`]: the simulator's clients over TCP, then final states and the promises.
//! - [`nemesis`]: a scenario's timeline done to the live cluster.
//! - [`cli`]: the `node`, `cluster`, `load` and `real` commands.

pub mod cli;
pub mod load;
pub mod nemesis;
pub mod observe;
pub mod procs;
pub mod relay;

pub use load::{LoadReport, Plan};

use protocol::{Budget, Params, Violation};
use real::{NodeOptions, RealError, RealSystem};
use scenario::Scenario;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The systems a command line can run for real, by name.
#[derive(Default)]
pub struct Systems {
    entries: Vec<Box<dyn Entry>>,
}

impl Systems {
    pub fn new() -> Systems {
        Systems::default()
    }

    pub fn with<S: RealSystem>(mut self) -> Systems {
        assert!(
            self.entries.iter().all(|e| e.name() != S::NAME),
            "{} registered twice",
            S::NAME
        );
        self.entries.push(Box::new(Typed::<S>(PhantomData)));
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.name()).collect()
    }

    fn entry(&self, system: &str) -> Result<&dyn Entry, String> {
        self.entries
            .iter()
            .find(|e| e.name() == system)
            .map(|e| &**e)
            .ok_or_else(|| {
                format!(
                    "no system {system:?} runs for real here; expected one of: {}",
                    self.names().join(", ")
                )
            })
    }

    /// How many nodes a cluster of `replicas` replicas has (a system's extra nodes
    /// added).
    pub fn nodes(&self, system: &str, replicas: u32, params: &Params) -> Result<u32, String> {
        self.entry(system)?.nodes(replicas, params)
    }

    /// Runs one node until SIGINT or SIGTERM (the `node` command).
    pub fn node(&self, system: &str, opts: NodeOptions) -> Result<(), String> {
        self.entry(system)?.node(opts).map_err(|e| e.to_string())
    }

    /// A load against a running cluster (the `load` command).
    pub fn load(&self, system: &str, plan: &Plan) -> Result<LoadReport, String> {
        let entry = self.entry(system)?;
        runtime()?.block_on(entry.load(plan))
    }

    /// A scenario for real (the `real` command): starts the cluster, runs the workload
    /// and the timeline, stops the cluster, judges.
    pub fn scenario(
        &self,
        system: &str,
        sc: &Scenario,
        opts: &LiveOptions,
    ) -> Result<LoadReport, String> {
        let entry = self.entry(system)?;
        runtime()?.block_on(entry.scenario(sc, opts))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))
}

/// Where and how a scenario runs for real.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// The binary whose `node` command runs a node (the user's own, or `splitbrain`).
    pub program: PathBuf,
    /// Nodes' data directories go under it (`n1`, `n2`, ...).
    pub data: PathBuf,
    pub seed: u64,
    pub budget: Budget,
    /// Added to the scenario's quiesce before final states are read: real elections
    /// and catch-up take real time.
    pub settle: Duration,
}

/// A system's real-mode operations, its type erased.
trait Entry: Send + Sync {
    fn name(&self) -> &'static str;
    fn node(&self, opts: NodeOptions) -> Result<(), RealError>;
    fn nodes(&self, replicas: u32, params: &Params) -> Result<u32, String>;
    fn load<'a>(
        &'a self,
        plan: &'a Plan,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LoadReport, String>> + 'a>>;
    fn scenario<'a>(
        &'a self,
        sc: &'a Scenario,
        opts: &'a LiveOptions,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LoadReport, String>> + 'a>>;
}

struct Typed<S>(PhantomData<fn() -> S>);

impl<S: RealSystem> Entry for Typed<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn node(&self, opts: NodeOptions) -> Result<(), RealError> {
        real::run::<S>(opts)
    }

    fn nodes(&self, replicas: u32, params: &Params) -> Result<u32, String> {
        let config = S::config(params).map_err(|e| e.to_string())?;
        let shape = S::shape(&config, replicas).map_err(|e| e.to_string())?;
        Ok(shape.nodes())
    }

    fn load<'a>(
        &'a self,
        plan: &'a Plan,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LoadReport, String>> + 'a>> {
        Box::pin(load::load::<S, _, _>(plan, |_| async {
            nemesis::Acted::default()
        }))
    }

    fn scenario<'a>(
        &'a self,
        sc: &'a Scenario,
        opts: &'a LiveOptions,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<LoadReport, String>> + 'a>> {
        Box::pin(scenario::<S>(sc, opts))
    }
}

/// Free ports on `host`, one per node: bound and released, so a node can take it. (A race
/// with another process is possible and shows as a node that cannot listen.)
pub(crate) fn free_ports(host: std::net::IpAddr, n: usize) -> Result<Vec<SocketAddr>, String> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind((host, 0)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("no free port on {host}: {e}"))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map_err(|e| e.to_string()))
        .collect()
}

async fn scenario<S: RealSystem>(sc: &Scenario, opts: &LiveOptions) -> Result<LoadReport, String> {
    let notes = nemesis::check(sc)?;
    let params = sc.params.get(S::NAME).cloned().unwrap_or_default();
    let config = S::config(&params).map_err(|e| e.to_string())?;
    let shape = S::shape(&config, sc.nodes).map_err(|e| e.to_string())?;
    let n = shape.nodes() as usize;
    let listen = free_ports([127, 0, 0, 1].into(), n)?;
    let relays = relay::Relays::start(&listen)
        .await
        .map_err(|e| format!("relays: {e}"))?;
    let cluster = format!("{}-{}", sc.name, opts.seed);
    let launch = procs::Launch {
        program: opts.program.clone(),
        system: S::NAME.to_string(),
        cluster: cluster.clone(),
        listen: listen.clone(),
        peers: relays.addrs.clone(),
        data: opts.data.clone(),
        params: params
            .0
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    let mut procs = procs::Procs::start(launch).map_err(|e| format!("starting nodes: {e}"))?;
    ready::<S>(&cluster, &listen).await?;
    let run_for = sc.duration + sc.liveness.unwrap_or_default();
    let plan = Plan {
        cluster: cluster.clone(),
        addrs: listen.clone(),
        params,
        workload: sc.workload.clone(),
        duration: run_for,
        settle: sc.quiesce + opts.settle,
        seed: opts.seed,
        budget: opts.budget,
        // As in simulation: the liveness phase's second half must be served.
        watched: sc.liveness.map(|l| (sc.duration + l / 2, run_for)),
    };
    let nemesis = nemesis::Nemesis::new(
        sc,
        &mut procs,
        &relays,
        shape.replicas as usize,
        cluster,
        listen,
        opts.seed,
        sc.duration,
    );
    let mut report =
        load::load::<S, _, _>(
            &plan,
            |observer| async move { nemesis.run(&observer).await },
        )
        .await?;
    report.notes.splice(0..0, notes);
    procs.stop(Duration::from_secs(2));
    Ok(report)
}

/// Waits until every node answers, or says which did not.
async fn ready<S: RealSystem>(cluster: &str, addrs: &[SocketAddr]) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for (idx, addr) in addrs.iter().enumerate() {
        loop {
            let ask = async {
                let mut conn = real::net::Conn::connect(*addr, cluster).await.ok()?;
                conn.send(&real::Request::<S::Op>::Stats).await.ok()?;
                conn.recv::<real::wire::ResponseOf<S>>()
                    .await
                    .ok()
                    .flatten()
            };
            if ask.await.is_some() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("n{} did not come up on {addr}", idx + 1));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// A violation list's invariants, for a summary line.
pub fn violated(violations: &[Violation]) -> Vec<String> {
    let ids: std::collections::BTreeSet<String> =
        violations.iter().map(|v| v.invariant.to_string()).collect();
    ids.into_iter().collect()
}

/// Parameters as `Params`.
pub fn params(pairs: &[(String, String)]) -> Params {
    pairs.iter().fold(Params::new(), |p, (k, v)| p.with(k, v))
}
