//! `splitbrain`: run scenarios, replay a seed, check a history, measure speed.
//!
//! Exit codes: 0 every verdict as expected, 1 an unexpected verdict (or an invalid
//! history), 2 bad input, 3 a history whose check ran out of time.

use clap::{Parser, Subcommand};
use sim::summary;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;

/// Allocation-heavy simulations run markedly faster on mimalloc than on glibc's malloc.
/// No run depends on addresses, so the allocator changes speed only, never a result.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3 (`mi_option_e` in its `mimalloc.h`, which
/// libmimalloc-sys 0.1.49, pinned by Cargo.lock, builds but does not name). Check the enum
/// when that crate is upgraded.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to hand freed pages back to the OS. Each run frees its cluster and
/// the next run allocates it again; with purging on, every such page came back through a
/// page fault that zeroed a 2 MiB huge page: ~2,200 faults and a tenth of the bench's wall
/// time (`perf stat -e page-faults`), against ~210 with purging off. Peak memory is the
/// same; the process keeps what it already had at its peak.
fn keep_freed_pages() {
    // SAFETY: sets a plain integer option; called first thing in `main`, before any other
    // thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[derive(Parser)]
#[command(
    name = "splitbrain",
    version,
    about = "Deterministic simulation testbed for replicated systems"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario file over its seeds.
    Run {
        file: PathBuf,
        /// Only this system (default: every system the file names).
        #[arg(long)]
        system: Option<String>,
        /// Run seeds 1..=N instead of the file's default count.
        #[arg(long)]
        seeds: Option<u64>,
        /// Run exactly this seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Replay one seed: a readable event log, the verdict and the digest.
    Replay {
        file: PathBuf,
        #[arg(long)]
        system: String,
        #[arg(long)]
        seed: u64,
        /// Also write the run's client history as Jepsen EDN to this file.
        #[arg(long, value_name = "FILE")]
        edn: Option<PathBuf>,
    },
    /// Every scenario in a folder, every system: the verdict matrix (the default command).
    Sweep {
        #[arg(default_value = "sim-scenarios")]
        dir: PathBuf,
    },
    /// Check a recorded history (Jepsen log or EDN) for linearizability or set semantics.
    CheckHistory {
        file: PathBuf,
        /// cas-register, kv or set.
        #[arg(long)]
        model: String,
        /// Give up with verdict `unknown` (exit 3) after this many seconds.
        #[arg(long, default_value_t = 60)]
        budget_s: u64,
    },
    /// Measure simulation speed on the standard workload.
    Bench {
        /// Seeds per round.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// Rounds, each the workload's seeds then the Endpoint ping-pong; the median round
        /// is reported, so one disturbed round on a shared machine does not skew it.
        #[arg(long, default_value_t = 5)]
        rounds: u64,
        /// Instead, time the history checkers over a corpus of Jepsen histories (default:
        /// `corpus`, the Porcupine histories shipped in crates/check/testdata) and a generated
        /// 10,000-operation history.
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "corpus")]
        histories: Option<PathBuf>,
    },
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    keep_freed_pages();
    let cli = Cli::parse();
    match cli.command {
        None => sweep(&default_dir()),
        Some(Command::Sweep { dir }) => sweep(&dir),
        Some(Command::Run {
            file,
            system,
            seeds,
            seed,
        }) => run(&file, system.as_deref(), seeds, seed),
        Some(Command::Replay {
            file,
            system,
            seed,
            edn,
        }) => replay(&file, &system, seed, edn.as_deref()),
        Some(Command::Bench {
            histories: Some(dir),
            ..
        }) => bench::histories(&dir),
        Some(Command::Bench {
            seeds,
            rounds,
            histories: None,
        }) => bench::bench(seeds, rounds),
        Some(Command::CheckHistory {
            file,
            model,
            budget_s,
        }) => check_history(&file, &model, budget_s),
    }
}

/// `sim-scenarios` beside the workspace, so `cargo run` works from any directory inside it.
fn default_dir() -> PathBuf {
    let here = Path::new("sim-scenarios");
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios")
}

fn check_system(name: &str) -> Result<(), String> {
    if sim::registry::SYSTEMS.contains(&name) {
        Ok(())
    } else {
        Err(format!(
            "unknown system {name:?}; known systems: {}",
            sim::registry::SYSTEMS.join(", ")
        ))
    }
}

fn run(file: &Path, system: Option<&str>, seeds: Option<u64>, seed: Option<u64>) -> ExitCode {
    let sc = match scenario::load(file, sim::registry::SYSTEMS) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    let systems: Vec<String> = match system {
        Some(s) => {
            if let Err(e) = check_system(s) {
                return bad_input(e);
            }
            vec![s.to_string()]
        }
        None => sc.systems.clone(),
    };
    let seed_list: Vec<u64> = match (seed, seeds) {
        (Some(k), _) => vec![k],
        (None, Some(n)) => (1..=n).collect(),
        (None, None) => summary::default_seeds(&sc),
    };
    let mut results = Vec::new();
    for s in &systems {
        match summary::run_seeds(&sc, s, &seed_list) {
            Ok(r) => results.push(r),
            Err(e) => return bad_input(e),
        }
    }
    print!("{}", summary::render(&sc, &results));
    if seed_list.len() > 1 {
        println!("\nhow often, over seeds 1..={}:", seed_list.len());
        print!("{}", summary::frequencies(&sc, &results));
    }
    if results.iter().all(|r| r.as_expected()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn replay(file: &Path, system: &str, seed: u64, edn: Option<&Path>) -> ExitCode {
    let sc = match scenario::load(file, sim::registry::SYSTEMS) {
        Ok(sc) => sc,
        Err(e) => return bad_input(e),
    };
    if let Err(e) = check_system(system) {
        return bad_input(e);
    }
    let report = match sim::run_system(system, &sc, seed, &sim::RunOptions { replay: true }) {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    for line in &report.log {
        println!("{line}");
    }
    if let Some(out) = edn {
        if let Err(e) = std::fs::write(out, report.history.to_edn()) {
            return bad_input(format!("{}: cannot write the history: {e}", out.display()));
        }
        println!(
            "history: {} events written to {} (Jepsen EDN)",
            report.history.events.len(),
            out.display()
        );
    }
    println!();
    for (node, state) in &report.final_states {
        println!("final {node}: digest {:016x}", state.digest());
    }
    if report.violations.is_empty() {
        println!("verdict: pass");
    }
    for v in &report.violations {
        println!("violation: {v}");
    }
    println!("digest: {:016x}", report.digest);
    let expected = sc
        .expect
        .get(system)
        .cloned()
        .unwrap_or(scenario::Expect::Pass);
    let as_expected = match expected {
        scenario::Expect::Pass => report.violations.is_empty(),
        scenario::Expect::Violates(_) => true,
    };
    if as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn check_history(file: &Path, model: &str, budget_s: u64) -> ExitCode {
    use check::history::report;
    let model: check::history::model::Model = match model.parse() {
        Ok(m) => m,
        Err(e) => return bad_input(e),
    };
    let result = report::check_history_file(file, model, std::time::Duration::from_secs(budget_s));
    match &result {
        Ok(r) => print!("{}", r.text),
        Err(e) => eprintln!("error: {e}"),
    }
    ExitCode::from(report::exit_code(&result) as u8)
}

fn sweep(dir: &Path) -> ExitCode {
    let scenarios = match scenario::load_dir(dir, sim::registry::SYSTEMS) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let mut all_expected = true;
    let mut rows = Vec::new();
    for sc in &scenarios {
        let mut cells = Vec::new();
        for system in sim::registry::SYSTEMS {
            if !sc.systems.iter().any(|s| s == system) {
                cells.push(None);
                continue;
            }
            match summary::run_seeds(sc, system, &summary::default_seeds(sc)) {
                Ok(r) => {
                    let cell = summary::Cell::of(sc, &r);
                    if cell.unexpected {
                        all_expected = false;
                        eprintln!(
                            "unexpected verdict: {} on {}: reproduce with\n  {}",
                            system,
                            sc.name,
                            cell.finding.as_ref().map_or_else(
                                || summary::reproduce(sc, system, sc.pinned_seed),
                                |(_, cmd)| cmd.clone()
                            )
                        );
                    }
                    cells.push(Some(cell));
                }
                Err(e) => return bad_input(e),
            }
        }
        rows.push((sc.name.clone(), cells));
    }
    print!("{}", summary::matrix(sim::registry::SYSTEMS, &rows));
    if all_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
