//! `splitbrain bench`: the figures the README and issue notes quote. Speed and memory are
//! measured here, never in timed tests.

use sim::{bench, Registry};

pub use sim::bench::{peak_rss_bytes, rss_bytes};
use std::path::Path;
use std::process::ExitCode;

/// The workload `bench` measures: a scenario for one system, written with a `{nodes}`
/// placeholder so the same workload also runs on five nodes for the memory figure.
#[derive(Clone, Debug)]
pub struct Standard {
    /// What the figures describe, for the first line of the output.
    pub title: String,
    pub system: String,
    /// Scenario TOML, `{nodes}` where the node count goes.
    pub scenario: String,
}

impl Standard {
    /// The first system of `registry` with its default parameters: 60 s simulated, 3
    /// clients at 50 ops/s, 1-10 ms latency, no faults.
    pub fn first_of(registry: &Registry) -> Option<Standard> {
        let system = registry.names().first()?.to_string();
        let scenario = format!(
            "description = \"bench: the standard workload\"\n\
             systems = [\"{system}\"]\nnodes = {{nodes}}\nduration = \"60s\"\nquiesce = \"1s\"\n\
             seeds = 1\n[network]\nlatency = [\"1ms\", \"10ms\"]\n\
             [workload]\nclients = 3\nrate = 50\nkeys = 5\n[expect]\n{system} = \"pass\"\n"
        );
        Some(Standard {
            title: format!(
                "{{nodes}}-node {system}, 60 s simulated, 3 clients at 50 ops/s, 1-10 ms latency"
            ),
            system,
            scenario,
        })
    }

    fn prepare(
        &self,
        registry: &Registry,
        nodes: u32,
    ) -> Result<Box<dyn sim::PreparedRun>, String> {
        let text = self.scenario.replace("{nodes}", &nodes.to_string());
        let sc = scenario::parse_str(&text, Path::new("<bench>"), &registry.catalog())
            .map_err(|e| e.to_string())?;
        registry
            .prepare(&self.system, &sc)
            .map_err(|e| e.to_string())
    }
}

/// One round: the workload's seeds, then both ping-pongs on the same machine state.
struct Round {
    workload: bench::WorkloadFigures,
    endpoint: bench::PingPongFigures,
    harness: bench::PingPongFigures,
}

/// Times `standard` in `rounds` rounds of `seeds` seeds and prints the median round.
pub fn workload(registry: &Registry, standard: &Standard, seeds: u64, rounds: u64) -> ExitCode {
    if seeds == 0 || rounds == 0 {
        eprintln!("error: --seeds and --rounds must be at least 1");
        return ExitCode::from(2);
    }
    let (big, three) = match (standard.prepare(registry, 5), standard.prepare(registry, 3)) {
        (Ok(big), Ok(three)) => (big, three),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: the bench workload: {e}");
            return ExitCode::from(2);
        }
    };
    // Memory first, while nothing else has grown the heap: one 60 s run of 5 nodes.
    let _ = bench::workload(&*big, 1);
    let rss = bench::peak_rss_bytes();
    // Warm up caches and the allocator so the first seed is not charged for them.
    let _ = bench::workload(&*three, 1);
    // Each round times the workload and then the Endpoint ping-pong, so both see the
    // same machine; rounds are ranked by the workload's speed and the median is shown.
    let mut measured: Vec<Round> = (0..rounds)
        .map(|_| Round {
            workload: bench::workload(&*three, seeds),
            endpoint: bench::endpoint_ping_pong(200_000),
            harness: bench::harness_ping_pong(200_000),
        })
        .collect();
    measured.sort_by(|a, b| {
        a.workload
            .sim_per_wall()
            .total_cmp(&b.workload.sim_per_wall())
    });
    let spread = (
        measured[0].workload.sim_per_wall(),
        measured[measured.len() - 1].workload.sim_per_wall(),
    );
    let violations: usize = measured.iter().map(|r| r.workload.violations).sum();
    let Round {
        workload: w,
        endpoint: e,
        harness: h,
    } = &measured[measured.len() / 2];
    println!(
        "standard workload: {}",
        standard.title.replace("{nodes}", "3")
    );
    println!("  rounds:                {rounds} of {seeds} seeds; the median round:");
    println!("  wall time:             {:.3} s", w.wall.as_secs_f64());
    println!("  seeds per second:      {:.1}", w.seeds_per_s());
    println!(
        "  simulated / wall:      {:.0}x (rounds ranged {:.0}x to {:.0}x)",
        w.sim_per_wall(),
        spread.0,
        spread.1
    );
    println!(
        "  delivered messages:    {} ({:.0} per simulated second: {} node to node, {} client requests and replies)",
        w.delivered,
        w.delivered as f64 / w.simulated.as_secs_f64(),
        w.node_messages,
        w.client_messages
    );
    println!("  messages per wall s:   {:.0}", w.messages_per_s());
    println!(
        "  driver wake-ups:       {} ({:.0} per simulated second)",
        w.wakeups,
        w.wakeups as f64 / w.simulated.as_secs_f64()
    );
    println!("  violations:            {violations} (all rounds)");
    println!("raw madsim Endpoint ping-pong, same round:");
    println!(
        "  messages:              {} in {:.3} s wall, {:.1} s simulated",
        e.messages,
        e.wall.as_secs_f64(),
        e.simulated.as_secs_f64()
    );
    println!("  messages per wall s:   {:.0}", e.messages_per_s());
    println!(
        "harness / Endpoint message rate: {:.2}x (the standard workload's deliveries, the system, clients, history and checks included)",
        w.messages_per_s() / e.messages_per_s()
    );
    println!("the same ping-pong through this harness (a trivial two-node system), same round:");
    println!(
        "  messages:              {} in {:.3} s wall, {:.1} s simulated",
        h.messages,
        h.wall.as_secs_f64(),
        h.simulated.as_secs_f64()
    );
    println!(
        "  messages per wall s:   {:.0} ({:.2}x Endpoint)",
        h.messages_per_s(),
        h.messages_per_s() / e.messages_per_s()
    );
    if let Some(rss) = rss {
        println!(
            "peak resident memory of the process after one 60 s 5-node run: {:.1} MB",
            rss as f64 / 1e6
        );
    }
    if violations > 0 {
        eprintln!("error: the measured system violated an invariant under the bench workload");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// `splitbrain bench --histories [DIR]`: the checkers' speed and memory per history and in
/// total; with `write`, the adversarial set written there first. Exit 1 if a verdict
/// contradicts one known beforehand.
pub fn histories(dir: &Path, rounds: usize, write: Option<&Path>) -> ExitCode {
    let dir = if dir.as_os_str() == "corpus" {
        Path::new(check::history::bench::CORPUS).to_path_buf()
    } else {
        dir.to_path_buf()
    };
    if !dir.is_dir() {
        eprintln!("error: {}: not a directory of histories", dir.display());
        return ExitCode::from(2);
    }
    if let Some(out) = write {
        match check::history::write_adversarial(out) {
            Ok(n) => println!("wrote {n} adversarial histories to {}", out.display()),
            Err(e) => {
                eprintln!("error: {}: {e}", out.display());
                return ExitCode::from(2);
            }
        }
    }
    let report = check::history::bench_histories(&dir, rounds);
    print!("{report}");
    if report.contradictions() > 0 {
        eprintln!("error: a verdict contradicts the one known beforehand");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
