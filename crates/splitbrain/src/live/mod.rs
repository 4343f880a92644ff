//! Real mode's harness: the systems that can leave the simulation, and what is done to a
//! live cluster of them. The driver a node runs is the `real` crate's; this is the other
//! side: starting node processes, the workload over TCP, the nemesis, the judgement.
//!
//! - [`Systems`]: the [`RealSystem`]s a command line can run for real, by name;
//!   [`test_main`]: real mode from a user's own `cargo test`, the test binary being its
//!   own node program.
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
pub use nemesis::Done;

use protocol::{Budget, Params};
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

/// Ports for nodes on `host`, one per node, free when chosen. They come from below the
/// kernel's ephemeral range (32768 and up by default), which every `bind(port 0)` draws
/// from: this harness's relays, a client socket or another test binding port 0 between
/// the choice and the node's own bind cannot take them (a CI run saw a relay do just
/// that). Two harnesses choosing the same port in that window still can; their starts
/// are spread by the process id and the clock.
pub(crate) fn free_ports(host: std::net::IpAddr, n: usize) -> Result<Vec<SocketAddr>, String> {
    const LOW: u64 = 20_000;
    const SPAN: u64 = 12_000;
    let start = u64::from(std::process::id()).wrapping_mul(131) ^ spread();
    let mut held = Vec::with_capacity(n);
    for step in 0..SPAN {
        if held.len() == n {
            break;
        }
        // 7,919 is prime to the span: the steps visit every port once.
        let port = (LOW + start.wrapping_add(step * 7_919) % SPAN) as u16;
        if let Ok(listener) = std::net::TcpListener::bind((host, port)) {
            held.push(listener);
        }
    }
    if held.len() < n {
        return Err(format!(
            "fewer than {n} free ports on {host} in {LOW}..{}",
            LOW + SPAN
        ));
    }
    held.iter()
        .map(|l| l.local_addr().map_err(|e| e.to_string()))
        .collect()
}

/// Spreads concurrent harnesses' port choices apart (real mode is not seeded).
#[allow(clippy::disallowed_methods)] // which free port a real cluster gets does not matter
fn spread() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
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
            // Bounded: whatever holds the port may accept and never answer.
            let answer = tokio::time::timeout(Duration::from_millis(500), ask).await;
            if answer.ok().flatten().is_some() {
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

/// For a test binary that starts its own nodes (real mode from a user's `cargo test`,
/// with no binary of the user's): when this process was started as `PROGRAM node ...`,
/// runs the node and returns its exit code; otherwise `None`. [`test_main`] is the whole
/// `main` of such a test target.
pub fn node_if_asked(systems: Systems) -> Option<std::process::ExitCode> {
    // Both: `cargo test node` (a filter) must not turn the test binary into a node.
    let asked = std::env::var_os(procs::STARTED_AS_NODE).is_some()
        && std::env::args_os().nth(1).is_some_and(|a| a == "node");
    asked.then(|| {
        crate::cli::Cli::new(sim::Registry::new())
            .real(systems)
            .main()
    })
}

/// The `main` of a test target with `harness = false` that runs real-mode tests whose
/// nodes are processes of this same binary (pass `std::env::current_exe()` as
/// [`LiveOptions::program`]): started as a node, it is one; otherwise it runs `tests`
/// one after another, each a named function that panics on failure. It speaks enough of
/// libtest's command line for cargo and nextest: `--list` (`name: test` lines; none with
/// `--ignored`), a name filter (`--exact` to match whole names), other flags ignored.
pub fn test_main(
    systems: impl FnOnce() -> Systems,
    tests: &[(&str, fn())],
) -> std::process::ExitCode {
    use std::process::ExitCode;
    if let Some(code) = node_if_asked(systems()) {
        return code;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listing, chosen) = choose(&args, tests);
    if listing {
        chosen.iter().for_each(|(name, _)| println!("{name}: test"));
        return ExitCode::SUCCESS;
    }
    let mut failed = Vec::new();
    let total = chosen.len();
    println!("\nrunning {total} tests");
    for (name, test) in chosen {
        let ok = std::panic::catch_unwind(test).is_ok();
        println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
        if !ok {
            failed.push(*name);
        }
    }
    let verdict = if failed.is_empty() { "ok" } else { "FAILED" };
    println!(
        "\ntest result: {verdict}. {} passed; {} failed\n",
        total - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failures: {}", failed.join(", "));
        ExitCode::from(101)
    }
}

/// What libtest's arguments ask of `tests`: whether to list (rather than run), and which.
fn choose<'a, T>(args: &[String], tests: &'a [(&'a str, T)]) -> (bool, Vec<&'a (&'a str, T)>) {
    let flag = |f: &str| args.iter().any(|a| a == f);
    // The first word that is neither a flag nor a flag's value.
    const VALUED: &[&str] = &[
        "--format",
        "--skip",
        "--test-threads",
        "--color",
        "--logfile",
        "-Z",
    ];
    let filter = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || !VALUED.contains(&args[i - 1].as_str())))
        .map(|(_, a)| a);
    let chosen = tests
        .iter()
        .filter(|(name, _)| match filter {
            None => true,
            Some(f) if flag("--exact") => name == f,
            Some(f) => name.contains(f.as_str()),
        })
        // None is ignored: a listing of ignored tests is empty.
        .filter(|_| !(flag("--list") && flag("--ignored")))
        .collect();
    (flag("--list"), chosen)
}

/// Parameters as `Params`.
pub fn params(pairs: &[(String, String)]) -> Params {
    pairs.iter().fold(Params::new(), |p, (k, v)| p.with(k, v))
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn libtest_arguments_choose_tests_as_cargo_and_nextest_pass_them() {
        let tests = [("fenced_lock", 1), ("unfenced_lock", 2)];
        let names = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            let (list, chosen) = choose(&args, &tests);
            (list, chosen.iter().map(|t| t.0).collect::<Vec<_>>())
        };
        assert_eq!(names(&[]), (false, vec!["fenced_lock", "unfenced_lock"]));
        assert_eq!(names(&["unfenced"]), (false, vec!["unfenced_lock"]));
        assert_eq!(
            names(&["fenced"]),
            (false, vec!["fenced_lock", "unfenced_lock"])
        );
        assert_eq!(
            names(&["fenced_lock", "--exact", "--nocapture"]),
            (false, vec!["fenced_lock"])
        );
        assert_eq!(
            names(&["--list", "--format", "terse"]),
            (true, vec!["fenced_lock", "unfenced_lock"]),
            "`terse` is --format's value, not a filter"
        );
        assert_eq!(
            names(&["--list", "--format", "terse", "--ignored"]),
            (true, vec![])
        );
    }
}
