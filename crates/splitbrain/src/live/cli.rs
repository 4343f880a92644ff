//! Real mode on the command line: `node`, `cluster`, `load` and `real`. Exit codes as
//! the rest: 0 nothing violated, 1 something was, 2 bad input (or a cluster that would
//! not start).

use super::load::LoadReport;
use super::procs::{Launch, Procs};
use super::{LiveOptions, Plan, Systems};
use crate::cli::{bad_input, parse_param};
use protocol::{Budget, NodeId};
use real::NodeOptions;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

fn parse_duration(text: &str) -> Result<Duration, String> {
    scenario::duration::parse(text)
}

/// `a,b,c` socket addresses, in node-id order.
fn parse_addrs(text: &str) -> Result<Vec<SocketAddr>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("expected an address like 127.0.0.1:7101, found {s:?}"))
        })
        .collect()
}

/// `get=2,put=1`.
fn parse_mix(text: &str) -> Result<Vec<(String, u32)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (name, weight) = s
                .split_once('=')
                .ok_or_else(|| format!("expected op=weight, found {s:?}"))?;
            let weight = weight
                .trim()
                .parse()
                .map_err(|_| format!("expected a whole weight in {s:?}"))?;
            Ok((name.trim().to_string(), weight))
        })
        .collect()
}

#[derive(clap::Args)]
pub struct NodeArgs {
    #[arg(long)]
    system: String,
    /// This node's id, 1-based.
    #[arg(long)]
    id: u32,
    /// Every node's address in id order (this one's included), comma-separated.
    #[arg(long, value_parser = parse_addrs)]
    peers: std::vec::Vec<SocketAddr>,
    /// Where to listen (default: this node's entry in --peers).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The data directory (made if missing; refused if another node's).
    #[arg(long)]
    data: PathBuf,
    /// The cluster's name: connections naming another are refused.
    #[arg(long, default_value = "splitbrain")]
    cluster: String,
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

#[derive(clap::Args)]
pub struct ClusterArgs {
    #[arg(long)]
    system: String,
    /// Replicas (a system's extra nodes, such as a monitor, are added).
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    /// Each node's data directory is `DIR/n<id>`, its log `DIR/n<id>/node.log`.
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "splitbrain")]
    name: String,
    /// The first node's port; the others follow it. 0: free ports the system picks.
    #[arg(long, default_value_t = 7101)]
    port: u16,
    /// The address to listen on. Anything but loopback needs --public: these nodes
    /// have no authentication.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long)]
    public: bool,
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

#[derive(clap::Args)]
pub struct LoadArgs {
    #[arg(long)]
    system: String,
    /// Every node's address in id order, comma-separated (as `cluster` prints them).
    #[arg(long, value_parser = parse_addrs)]
    cluster: std::vec::Vec<SocketAddr>,
    /// The cluster's name.
    #[arg(long, default_value = "splitbrain")]
    name: String,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Take the workload (clients, rate, keys, mix, timeout) from this scenario file;
    /// the flags below override it.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    #[arg(long)]
    clients: Option<u32>,
    /// Operations per second over all clients.
    #[arg(long)]
    rate: Option<f64>,
    #[arg(long)]
    keys: Option<u32>,
    /// Operation weights, `get=2,put=1`.
    #[arg(long, value_parser = parse_mix)]
    mix: Option<std::vec::Vec<(String, u32)>>,
    /// A client gives up on an operation after this long (recorded as `info`).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// After the load, before final states are read.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    settle: Duration,
    /// Seeds the clients' operation streams.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long = "param", value_parser = parse_param)]
    params: Vec<(String, String)>,
    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args)]
pub struct RealArgs {
    file: PathBuf,
    #[arg(long)]
    system: String,
    /// Seeds the clients' operations and the nemesis's draws (the cluster itself is real).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the nodes' data directories go (default: a fresh folder under the system's
    /// temporary directory, removed after a passing run).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Added to the scenario's quiesce before final states are read.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    settle: Duration,
    #[command(flatten)]
    out: Output,
}

#[derive(clap::Args)]
pub struct Output {
    /// Also write the client history as Jepsen EDN to this file.
    #[arg(long, value_name = "FILE")]
    edn: Option<PathBuf>,
    /// One JSON line on standard output instead of the text report (throughput,
    /// latency, violations), for CI.
    #[arg(long)]
    json: bool,
    /// Seconds the checkers may spend before an invariant is undecided.
    #[arg(long, default_value_t = 60.0)]
    budget_s: f64,
}

impl Output {
    fn budget(&self) -> Budget {
        Budget {
            time: Duration::from_secs_f64(self.budget_s.max(0.001)),
            memory: 1 << 30,
        }
    }
}

pub fn node(systems: &Systems, a: NodeArgs) -> ExitCode {
    let Some(own) = a.peers.get(a.id.wrapping_sub(1) as usize) else {
        return bad_input(format!(
            "--id {} is not one of the {} nodes --peers lists",
            a.id,
            a.peers.len()
        ));
    };
    let opts = NodeOptions {
        cluster: a.cluster,
        id: NodeId(a.id),
        listen: a.listen.unwrap_or(*own),
        peers: a.peers,
        data: a.data,
        params: super::params(&a.params),
    };
    match systems.node(&a.system, opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => bad_input(e),
    }
}

pub fn cluster(systems: &Systems, a: ClusterArgs) -> ExitCode {
    if !a.host.is_loopback() && !a.public {
        return bad_input(format!(
            "--host {} is not loopback: nodes have no authentication, so listening there \
             needs --public",
            a.host
        ));
    }
    let n = match systems.nodes(&a.system, a.nodes, &super::params(&a.params)) {
        Ok(n) => n,
        Err(e) => return bad_input(e),
    };
    let listen: Vec<SocketAddr> = if a.port == 0 {
        match super::free_ports(a.host, n as usize) {
            Ok(l) => l,
            Err(e) => return bad_input(e),
        }
    } else {
        (0..n)
            .map(|i| SocketAddr::new(a.host, a.port.saturating_add(i as u16)))
            .collect()
    };
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return bad_input(format!("cannot find this program: {e}")),
    };
    let launch = Launch {
        program,
        system: a.system.clone(),
        cluster: a.name.clone(),
        peers: vec![listen.clone(); n as usize],
        listen: listen.clone(),
        data: a.data.clone(),
        params: a.params.clone(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return bad_input(format!("a runtime: {e}")),
    };
    // Before any node starts: a Ctrl-C from then on stops them all.
    let stop = {
        let _inside = runtime.enter();
        match real::terminated() {
            Ok(stop) => stop,
            Err(e) => return bad_input(format!("signal handlers: {e}")),
        }
    };
    let mut procs = match Procs::start(launch) {
        Ok(p) => p,
        Err(e) => return bad_input(format!("starting nodes: {e}")),
    };
    for (i, addr) in listen.iter().enumerate() {
        let log = a.data.join(format!("n{}/node.log", i + 1));
        println!("n{} {addr} (log {})", i + 1, log.display());
    }
    let addrs: Vec<String> = listen.iter().map(|a| a.to_string()).collect();
    println!(
        "load it with: splitbrain load --system {} --name {} --cluster {}",
        a.system,
        a.name,
        addrs.join(",")
    );
    println!("Ctrl-C stops every node");
    runtime.block_on(watch_until_stopped(&mut procs, stop));
    procs.stop(Duration::from_secs(3));
    ExitCode::SUCCESS
}

/// Until SIGINT/SIGTERM, saying when a node exits by itself.
async fn watch_until_stopped(procs: &mut Procs, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                for (idx, how) in procs.exited() {
                    eprintln!("n{} exited ({how}); its log ends:\n{}", idx + 1, procs.log_tail(idx, 8));
                }
            }
        }
    }
}

pub fn load(systems: &Systems, registry: &sim::Registry, a: LoadArgs) -> ExitCode {
    let mut workload = match &a.scenario {
        Some(file) => match scenario::load(file, &registry.catalog()) {
            Ok(sc) => sc.workload,
            Err(e) => return bad_input(e),
        },
        None => scenario::Workload::default(),
    };
    workload.clients = a.clients.unwrap_or(workload.clients).max(1);
    workload.rate_per_s = a.rate.unwrap_or(workload.rate_per_s);
    workload.keys = a.keys.unwrap_or(workload.keys).max(1);
    workload.timeout = a.timeout.unwrap_or(workload.timeout);
    if let Some(mix) = &a.mix {
        workload.mix = mix.iter().cloned().collect();
    }
    if workload.rate_per_s <= 0.0 {
        return bad_input(format!(
            "--rate {}: expected more than 0",
            workload.rate_per_s
        ));
    }
    let plan = Plan {
        cluster: a.name.clone(),
        addrs: a.cluster.clone(),
        params: super::params(&a.params),
        workload,
        duration: a.duration,
        settle: a.settle,
        seed: a.seed,
        budget: a.out.budget(),
        watched: None,
    };
    match systems.load(&a.system, &plan) {
        Ok(report) => finish(&report, &a.out),
        Err(e) => bad_input(e),
    }
}

pub fn real(systems: &Systems, registry: &sim::Registry, a: RealArgs) -> ExitCode {
    let sc = match scenario::load(&a.file, &registry.catalog()) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    let program = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return bad_input(format!("cannot find this program: {e}")),
    };
    let (data, temporary) = match &a.data {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("splitbrain-real-{}", std::process::id())),
            true,
        ),
    };
    let opts = LiveOptions {
        program,
        data: data.clone(),
        seed: a.seed,
        budget: a.out.budget(),
        settle: a.settle,
    };
    println!(
        "{} on {} for real: {} nodes, {} of faults, data in {}",
        sc.name,
        a.system,
        sc.nodes,
        scenario::duration::render(sc.duration),
        data.display()
    );
    let code = match systems.scenario(&a.system, &sc, &opts) {
        Ok(report) => {
            let code = finish(&report, &a.out);
            if let Some(expect) = sc.expect.get(&a.system) {
                println!("{}", against(expect, &report));
            }
            code
        }
        Err(e) => bad_input(e),
    };
    if temporary && code == ExitCode::SUCCESS {
        let _ = std::fs::remove_dir_all(&data);
    }
    code
}

/// The real verdict beside the scenario's expectation for the simulation. A real run is
/// one run, not the file's seeds: a finding the simulation sees on some seeds may not
/// show, and that is no failure of real mode.
fn against(expect: &scenario::Expect, r: &LoadReport) -> String {
    let expected = match expect {
        scenario::Expect::Pass => Default::default(),
        scenario::Expect::Violates(ids) => ids.clone(),
    };
    let got = r.violated();
    let names = |ids: &std::collections::BTreeSet<protocol::InvariantId>| {
        let v: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.join(", ")
        }
    };
    if got == expected {
        format!(
            "as in simulation, where the file expects {} violated",
            names(&expected)
        )
    } else {
        format!(
            "the file expects {} violated in simulation; this real run: {}",
            names(&expected),
            names(&got)
        )
    }
}

/// Prints the report; exit 1 if anything was violated.
fn finish(r: &LoadReport, out: &Output) -> ExitCode {
    if out.json {
        println!("{}", json(r));
    } else {
        print!("{}", summary(r));
    }
    if let Some(path) = &out.edn {
        if let Err(e) = std::fs::write(path, r.history.to_edn()) {
            return bad_input(format!("{}: {e}", path.display()));
        }
        if !out.json {
            println!("history: {}", path.display());
        }
    }
    if r.violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The report as one JSON object: what `summary` says, as numbers.
pub fn json(r: &LoadReport) -> String {
    use crate::hunt::{json_str, violation_json};
    let (ok, fail, info) = r.history.outcomes();
    let secs = r.wall.as_secs_f64().max(1e-9);
    let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
    let latency = r.latency.map_or("null".to_string(), |l| {
        format!(
            "{{\"p50_ms\":{},\"p99_ms\":{},\"max_ms\":{}}}",
            ms(l.p50),
            ms(l.p99),
            ms(l.max)
        )
    });
    let violations: Vec<String> = r.violations.iter().map(violation_json).collect();
    let undecided: Vec<String> = r
        .undecided
        .iter()
        .map(|u| {
            format!(
                "{{\"invariant\":{},\"reason\":{}}}",
                json_str(u.invariant.name()),
                json_str(&u.reason)
            )
        })
        .collect();
    format!(
        "{{\"system\":{},\"seconds\":{:.3},\"ok\":{ok},\"fail\":{fail},\"info\":{info},\"ops_per_s\":{:.1},\"latency\":{latency},\"messages\":{},\"messages_per_s\":{:.1},\"states_read\":{},\"replicas\":{},\"violations\":[{}],\"undecided\":[{}]}}",
        json_str(r.system),
        secs,
        (ok + fail + info) as f64 / secs,
        r.messages,
        r.messages as f64 / secs,
        r.states_read,
        r.replicas,
        violations.join(","),
        undecided.join(",")
    )
}

/// The report as text: throughput, latency, then the verdict.
pub fn summary(r: &LoadReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let (ok, fail, info) = r.history.outcomes();
    let secs = r.wall.as_secs_f64().max(1e-9);
    let _ = writeln!(
        s,
        "{}: {} operations in {:.1}s ({:.0}/s): {ok} ok, {fail} fail, {info} info",
        r.system,
        ok + fail + info,
        secs,
        (ok + fail + info) as f64 / secs
    );
    if let Some(l) = r.latency {
        let _ = writeln!(
            s,
            "latency of ok operations: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            l.p50.as_secs_f64() * 1e3,
            l.p99.as_secs_f64() * 1e3,
            l.max.as_secs_f64() * 1e3
        );
    }
    let _ = writeln!(
        s,
        "messages between nodes: {} ({:.0}/s); final states read from {} of {} replicas",
        r.messages,
        r.messages as f64 / secs,
        r.states_read,
        r.replicas
    );
    for note in &r.notes {
        let _ = writeln!(s, "note: {note}");
    }
    for v in &r.violations {
        let _ = writeln!(s, "VIOLATED {} ({}): {}", v.invariant, v.kind, v.detail);
    }
    for u in &r.undecided {
        let _ = writeln!(s, "undecided {}: {}", u.invariant, u.reason);
    }
    if r.violations.is_empty() {
        let _ = writeln!(s, "verdict: pass");
    } else {
        let ids: Vec<String> = r.violated().iter().map(|i| i.to_string()).collect();
        let _ = writeln!(s, "verdict: violates {}", ids.join(", "));
    }
    s
}
