//! The `splitbrain` command line, for any registry of systems: the built-in binary and a
//! user's five-line `main` share it.
//!
//! ```no_run
//! use splitbrain::{cli, Registry};
//! # struct MySystem;
//! fn main() -> std::process::ExitCode {
//!     # let registry = Registry::new();
//!     // let registry = Registry::new().with::<MySystem>();
//!     cli::Cli::new(registry).main()
//! }
//! ```
//!
//! Exit codes: 0 every verdict as expected, 1 an unexpected verdict (or an invalid
//! history), 2 bad input, 3 a history whose check ran out of time.

use crate::bench;
use clap::{Parser, Subcommand};
use sim::{summary, Registry, RunOptions};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "splitbrain",
    version,
    about = "Deterministic simulation testbed for replicated systems"
)]
struct Args {
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
        /// The EDN's form: `kv` (Porcupine's kv maps, any operations), `independent`
        /// (jepsen.independent `[k v]` tuples, for Knossos) or `elle-append` (Elle
        /// list-append transactions); the last two for kv histories.
        #[arg(long, default_value = "kv", requires = "edn")]
        edn_form: check::history::EdnForm,
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
        /// Give up with verdict `unknown` (exit 3) rather than let the search hold more
        /// memory than this: bytes, or with a K, M or G suffix (binary units).
        #[arg(long, default_value = "512M", value_parser = parse_size)]
        max_memory: usize,
        /// Check every key, rather than stop at the first that is not linearizable.
        #[arg(long)]
        all_keys: bool,
        /// Keys checked at once, one thread each; the verdict does not depend on it.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
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
        /// Instead, time the history checkers, per history (median of the rounds) with
        /// peak memory: over a corpus of Jepsen histories (default: `corpus`, the
        /// Porcupine histories shipped in crates/check/testdata), the adversarial set, and
        /// a generated 10,000-operation history.
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = "corpus")]
        histories: Option<PathBuf>,
        /// With --histories: also write the adversarial set to this folder as kv EDN
        /// files with their verdicts, for other checkers to read.
        #[arg(long, value_name = "DIR", requires = "histories")]
        write_adversarial: Option<PathBuf>,
    },
}

/// The command line over `registry`.
pub struct Cli {
    registry: Registry,
    scenarios: PathBuf,
    bench: Option<bench::Standard>,
}

impl Cli {
    pub fn new(registry: Registry) -> Cli {
        Cli {
            registry,
            scenarios: PathBuf::from("sim-scenarios"),
            bench: None,
        }
    }

    /// Where `splitbrain` with no command finds its scenarios (default `sim-scenarios`).
    pub fn scenarios(mut self, dir: impl Into<PathBuf>) -> Cli {
        self.scenarios = dir.into();
        self
    }

    /// The workload `bench` measures (default: the first registered system with its
    /// default parameters, see [`bench::Standard`]).
    pub fn bench(mut self, standard: bench::Standard) -> Cli {
        self.bench = Some(standard);
        self
    }

    /// Parses the process's arguments and runs the command.
    pub fn main(self) -> ExitCode {
        let args = Args::parse();
        self.dispatch(args.command)
    }

    fn dispatch(self, command: Option<Command>) -> ExitCode {
        match command {
            None => self.sweep(&self.scenarios),
            Some(Command::Sweep { dir }) => self.sweep(&dir),
            Some(Command::Run {
                file,
                system,
                seeds,
                seed,
            }) => self.run(&file, system.as_deref(), seeds, seed),
            Some(Command::Replay {
                file,
                system,
                seed,
                edn,
                edn_form,
            }) => {
                let edn = edn.as_deref().map(|path| (path, edn_form));
                self.replay(&file, &system, seed, edn)
            }
            Some(Command::Bench {
                histories: Some(dir),
                write_adversarial,
                rounds,
                ..
            }) => bench::histories(&dir, rounds as usize, write_adversarial.as_deref()),
            Some(Command::Bench {
                histories: None,
                seeds,
                rounds,
                ..
            }) => {
                let standard = match &self.bench {
                    Some(s) => s.clone(),
                    None => match bench::Standard::first_of(&self.registry) {
                        Some(s) => s,
                        None => return bad_input("no system registered to measure"),
                    },
                };
                bench::workload(&self.registry, &standard, seeds, rounds)
            }
            Some(Command::CheckHistory {
                file,
                model,
                budget_s,
                max_memory,
                all_keys,
                jobs,
            }) => {
                let opts = check::history::LinOptions {
                    budget: std::time::Duration::from_secs(budget_s),
                    max_memory,
                    all_keys,
                    jobs: jobs.max(1),
                    ..check::history::LinOptions::default()
                };
                check_history(&file, &model, &opts)
            }
        }
    }

    fn load(&self, file: &Path) -> Result<scenario::Scenario, ExitCode> {
        scenario::load(file, &self.registry.catalog()).map_err(bad_input)
    }

    fn run(
        &self,
        file: &Path,
        system: Option<&str>,
        seeds: Option<u64>,
        seed: Option<u64>,
    ) -> ExitCode {
        let sc = match self.load(file) {
            Ok(sc) => sc,
            Err(code) => return code,
        };
        let systems: Vec<String> = match system {
            Some(s) => vec![s.to_string()],
            None => sc.systems.clone(),
        };
        let seed_list: Vec<u64> = match (seed, seeds) {
            (Some(k), _) => vec![k],
            (None, Some(n)) => (1..=n).collect(),
            (None, None) => summary::default_seeds(&sc),
        };
        let mut results = Vec::new();
        for s in &systems {
            match summary::run_seeds(&self.registry, &sc, s, &seed_list) {
                Ok(r) => results.push(r),
                Err(e) => return bad_input(e),
            }
        }
        print!("{}", summary::render(&sc, &results));
        if seed_list.len() > 1 {
            println!("\nhow often, over seeds 1..={}:", seed_list.len());
            print!("{}", summary::frequencies(&sc, &results));
        }
        exit(results.iter().all(|r| r.as_expected()))
    }

    fn replay(
        &self,
        file: &Path,
        system: &str,
        seed: u64,
        edn: Option<(&Path, check::history::EdnForm)>,
    ) -> ExitCode {
        let sc = match self.load(file) {
            Ok(sc) => sc,
            Err(code) => return code,
        };
        let opts = RunOptions {
            replay: true,
            ..RunOptions::default()
        };
        let report = match self.registry.run(system, &sc, seed, &opts) {
            Ok(r) => r,
            Err(e) => return bad_input(e),
        };
        for line in &report.log {
            println!("{line}");
        }
        if let Some((out, form)) = edn {
            let text = match edn_text(report.history.as_ref(), form) {
                Ok(t) => t,
                Err(e) => return bad_input(e),
            };
            if let Err(e) = std::fs::write(out, text) {
                return bad_input(format!("{}: cannot write the history: {e}", out.display()));
            }
            println!(
                "history: {} events written to {} (Jepsen EDN, {form} form)",
                report.history.events(),
                out.display()
            );
        }
        println!();
        for (node, digest) in &report.final_digests {
            println!("final {node}: digest {digest:016x}");
        }
        if report.violations.is_empty() {
            println!("verdict: pass");
        }
        for v in &report.violations {
            println!("violation: {v}");
        }
        for u in &report.undecided {
            println!("undecided: {u}");
        }
        println!("digest: {:016x}", report.digest);
        // The same rule as `run`, for one seed: nothing outside what the file expects.
        let expected = sc
            .expect
            .get(system)
            .cloned()
            .unwrap_or(scenario::Expect::Pass);
        let sometimes = sc.sometimes.get(system).cloned().unwrap_or_default();
        let all_defaults = summary::default_seeds(&sc) == [seed];
        exit(summary::as_expected(
            &expected,
            &sometimes,
            &report.violated(),
            all_defaults,
        ))
    }

    fn sweep(&self, dir: &Path) -> ExitCode {
        let scenarios = match scenario::load_dir(dir, &self.registry.catalog()) {
            Ok(s) => s,
            Err(e) => return bad_input(e),
        };
        let names = self.registry.names();
        let mut all_expected = true;
        let mut rows = Vec::new();
        for sc in &scenarios {
            let mut cells = Vec::new();
            for system in &names {
                if !sc.systems.iter().any(|s| s == system) {
                    cells.push(None);
                    continue;
                }
                let r = match summary::run_seeds(
                    &self.registry,
                    sc,
                    system,
                    &summary::default_seeds(sc),
                ) {
                    Ok(r) => r,
                    Err(e) => return bad_input(e),
                };
                let cell = summary::Cell::of(&r);
                if cell.unexpected {
                    all_expected = false;
                    let cmd = cell.finding.as_ref().map_or_else(
                        || self.registry.reproduce(sc, system, sc.pinned_seed),
                        |(_, cmd)| cmd.clone(),
                    );
                    eprintln!(
                        "unexpected verdict: {system} on {}: reproduce with\n  {cmd}",
                        sc.name
                    );
                }
                cells.push(Some(cell));
            }
            rows.push((sc.name.clone(), cells));
        }
        print!("{}", summary::matrix(&names, &rows));
        exit(all_expected)
    }
}

fn exit(as_expected: bool) -> ExitCode {
    if as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn bad_input(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// `history` as EDN in `form`: any history in the kv form; the others need kv operations.
fn edn_text(
    history: &dyn sim::RecordedHistory,
    form: check::history::EdnForm,
) -> Result<String, String> {
    use check::history::{write_edn, EdnForm, History};
    use check::models::kv::KvOp;
    if form == EdnForm::Kv {
        return Ok(history.to_edn());
    }
    let Some(kv) = history.as_any().downcast_ref::<History<KvOp>>() else {
        return Err(format!(
            "the {form} form writes kv histories (get, put, append, cas); this system's \
             operations are others: use --edn-form kv"
        ));
    };
    write_edn(kv, form).map_err(|e| format!("cannot write the {form} form: {e}"))
}

/// A size in bytes: digits, then optionally K, M or G (binary units).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected bytes, or a number with K, M or G"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?}: too large"))
}

fn check_history(file: &Path, model: &str, opts: &check::history::LinOptions) -> ExitCode {
    use check::history::report;
    let model: check::history::HistoryModel = match model.parse() {
        Ok(m) => m,
        Err(e) => return bad_input(e),
    };
    let result = report::check_history_file(file, model, opts);
    match &result {
        Ok(r) => print!("{}", r.text),
        Err(e) => eprintln!("error: {e}"),
    }
    ExitCode::from(report::exit_code(&result) as u8)
}
