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

use crate::{bench, hunt};
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
        /// Also write the run as one self-contained HTML page: the nodes' space-time
        /// diagram, the clients' history and the verdicts.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
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
    /// Hunt for bugs: swarm seeds, each a whole scenario drawn from the seed (cluster
    /// size, workload, network, clocks, disk, which fault kinds are on), run in parallel.
    /// Exit 0 when nothing is found, 1 when something is, 2 on bad input.
    Hunt {
        #[arg(long)]
        system: String,
        /// Seeds in the whole hunt, over all shards (default 1000 unless --time).
        #[arg(long, conflicts_with = "time")]
        seeds: Option<u64>,
        /// Run seeds until this much wall time has passed: `90s`, `10m`, `2h`.
        #[arg(long, value_parser = parse_wall)]
        time: Option<std::time::Duration>,
        /// The hunt's first seed.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Runs at once, one thread each; digests and verdicts do not depend on it.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// `K/M`: run every M-th seed starting at the K-th, so M CI jobs share a hunt.
        #[arg(long, default_value = "1/1", value_parser = hunt::Shard::parse)]
        shard: hunt::Shard,
        /// One JSON line per finding and a summary line, on standard output.
        #[arg(long)]
        json: bool,
        /// Write one HTML report per distinct failure (its first seed) into this folder.
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
        /// Seconds each run's checkers may spend before the run is undecided.
        #[arg(long, default_value_t = 2.0)]
        budget_s: f64,
        /// A system parameter for every seed, `name=value` (repeatable), as
        /// `[params.<system>]` gives it: e.g. `--param mutation=forget-vote` for raft.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Write a swarm seed's scenario as a file that reproduces it.
    Export {
        #[arg(long)]
        system: String,
        #[arg(long)]
        seed: u64,
        /// The hunt's system parameters, `name=value` (repeatable).
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
    /// Make a failing scenario small: fewer faults, a shorter run, fewer clients, keys
    /// and nodes, a plainer network, while the same invariant still fails on the seed.
    Shrink {
        file: PathBuf,
        /// The system to shrink for (default: the file's first system expected to fail,
        /// else its first).
        #[arg(long)]
        system: Option<String>,
        /// The failing seed (default: the file's first default seed that fails).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the smallest file (default: FILE's name with `-shrunk`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also write the seed's report before and after shrinking into this folder.
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
    },
    /// Real mode: run one node of a system in this process, over TCP, on a real disk.
    Node(crate::live::cli::NodeArgs),
    /// Real mode: start a cluster of node processes on this machine and keep it running
    /// until Ctrl-C.
    Cluster(crate::live::cli::ClusterArgs),
    /// Real mode: a workload against a running cluster, judged by the same checkers as a
    /// simulation (exit 1 if anything is violated).
    Load(crate::live::cli::LoadArgs),
    /// Real mode: a scenario file for real: node processes, clients over TCP, and its
    /// timeline done by a real nemesis (kill -9, SIGSTOP, relays that cut and drop).
    Real(crate::live::cli::RealArgs),
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
    live: crate::live::Systems,
    scenarios: PathBuf,
    bench: Option<bench::Standard>,
}

impl Cli {
    pub fn new(registry: Registry) -> Cli {
        Cli {
            registry,
            live: crate::live::Systems::new(),
            scenarios: PathBuf::from("sim-scenarios"),
            bench: None,
        }
    }

    /// The systems real mode (`node`, `cluster`, `load`, `real`) can run: those whose
    /// messages, records, operations and states serialize ([`real::RealSystem`]).
    pub fn real(mut self, systems: crate::live::Systems) -> Cli {
        self.live = systems;
        self
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
                html,
            }) => {
                let edn = edn.as_deref().map(|path| (path, edn_form));
                self.replay(&file, &system, seed, edn, html.as_deref())
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
            Some(Command::Hunt {
                system,
                seeds,
                time,
                from,
                jobs,
                shard,
                json,
                html,
                budget_s,
                params,
            }) => {
                let limit = match (time, seeds) {
                    (Some(t), _) => hunt::Limit::Time(t),
                    (None, n) => hunt::Limit::Seeds(n.unwrap_or(1000)),
                };
                let plan = hunt::Plan {
                    system,
                    limit,
                    from,
                    jobs: jobs.max(1),
                    shard,
                    params,
                    budget: protocol::Budget {
                        time: std::time::Duration::from_secs_f64(budget_s.max(0.001)),
                        ..hunt::BUDGET
                    },
                };
                self.hunt(&plan, json, html.as_deref())
            }
            Some(Command::Export {
                system,
                seed,
                params,
            }) => match hunt::export(&self.registry, &system, seed, &params) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => bad_input(e),
            },
            Some(Command::Shrink {
                file,
                system,
                seed,
                out,
                html,
            }) => self.shrink(&file, system.as_deref(), seed, out, html.as_deref()),
            Some(Command::Node(a)) => crate::live::cli::node(&self.live, a),
            Some(Command::Cluster(a)) => crate::live::cli::cluster(&self.live, a),
            Some(Command::Load(a)) => crate::live::cli::load(&self.live, &self.registry, a),
            Some(Command::Real(a)) => crate::live::cli::real(&self.live, &self.registry, a),
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
        html: Option<&Path>,
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
        // The log opens with every parameter the run was derived from, defaults and a
        // swarm seed's draws included, as the file that would reproduce it.
        println!("# {} seed {seed}, {system}, as run:", sc.name);
        for line in scenario::ScenarioBuilder::from_scenario(&sc)
            .to_toml()
            .lines()
        {
            println!("#   {line}");
        }
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
        if let Some(out) = html {
            let page = crate::report::Page {
                scenario: &sc.name,
                system,
                seed,
                nodes: report.nodes,
                clients: sc.workload.clients,
            };
            if let Err(e) = std::fs::write(out, crate::report::html(&page, &report)) {
                return bad_input(format!("{}: cannot write the report: {e}", out.display()));
            }
            println!("report: {}", out.display());
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

    fn hunt(&self, plan: &hunt::Plan, json: bool, html: Option<&Path>) -> ExitCode {
        quiet_panics();
        match self.registry.sizes(&plan.system) {
            Err(e) => return bad_input(e),
            Ok(sizes) if sizes.is_empty() => {
                return bad_input(format!("{} admits no cluster of 1 to 9 nodes", plan.system))
            }
            Ok(_) => {}
        }
        // Parameters the system refuses are bad input, not a refusal per seed.
        let first =
            hunt::scenario(&self.registry, &plan.system, plan.from, &plan.params).and_then(|sc| {
                self.registry
                    .prepare(&plan.system, &sc)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = first {
            if !plan.params.is_empty() {
                return bad_input(e);
            }
        }
        let mut progress = Progress::new(plan.count());
        let done = hunt::hunt(&self.registry, plan, &mut |t| progress.show(t));
        progress.finish();
        let t = done.tally;
        let params: String = plan
            .params
            .iter()
            .map(|(n, v)| format!(" --param {n}={v}"))
            .collect();
        let reproduce = |seed: u64| {
            let cmd = self.registry.command();
            let sys = &plan.system;
            format!(
                "{cmd} export --system {sys} --seed {seed}{params} > found.toml && \
                 {cmd} replay found.toml --system {sys} --seed {seed}"
            )
        };
        let groups = hunt::groups(&done.outcomes);
        let rate = t.done as f64 / t.wall.as_secs_f64().max(1e-9);
        let speed = t.sim_ns as f64 / 1e9 / t.wall.as_secs_f64().max(1e-9);
        let seeds = match (done.outcomes.first(), done.outcomes.last()) {
            (Some(a), Some(b)) => format!("seeds {}..={}", a.seed, b.seed),
            _ => "no seeds".to_string(),
        };
        if json {
            for o in done.outcomes.iter().filter(|o| !o.violations.is_empty()) {
                println!(
                    "{}",
                    hunt::finding_json(&plan.system, o, &reproduce(o.seed))
                );
            }
            println!(
                "{{\"type\":\"summary\",\"system\":{},\"runs\":{},\"failed\":{},\"refused\":{},\"undecided\":{},\"signatures\":{},\"jobs\":{},\"shard\":\"{}/{}\",\"wall_s\":{:.3},\"seeds_per_s\":{:.2},\"sim_per_wall\":{:.1}}}",
                hunt::json_str(&plan.system),
                t.done, t.failed, t.refused, t.undecided, groups.len(), plan.jobs,
                plan.shard.index, plan.shard.count, t.wall.as_secs_f64(), rate, speed
            );
        } else {
            println!(
                "hunt {}: {} runs ({seeds}, shard {}/{}, {} jobs): {} failed, {} refused, {} undecided; \
                 {:.1}s wall, {rate:.1} seeds/s, {speed:.0}x simulated/wall",
                plan.system,
                t.done,
                plan.shard.index,
                plan.shard.count,
                plan.jobs,
                t.failed,
                t.refused,
                t.undecided,
                t.wall.as_secs_f64()
            );
            for g in &groups {
                println!(
                    "\n{} ({}): {} seeds, first {}\n  {}\n  reproduce: {}",
                    g.invariant,
                    g.kind,
                    g.seeds.len(),
                    g.seeds[0],
                    g.first,
                    reproduce(g.seeds[0])
                );
            }
            let undecided: Vec<String> = done
                .outcomes
                .iter()
                .filter(|o| !o.undecided.is_empty())
                .map(|o| o.seed.to_string())
                .collect();
            if !undecided.is_empty() {
                println!(
                    "\nundecided within {:.1}s of checking (neither found nor passed): seeds {}",
                    plan.budget.time.as_secs_f64(),
                    undecided.join(", ")
                );
            }
            if let Some(o) = done.outcomes.iter().find(|o| o.refused.is_some()) {
                println!(
                    "\n{} seeds refused by the system; first, seed {}: {}",
                    t.refused,
                    o.seed,
                    o.refused.as_deref().unwrap_or_default()
                );
            }
        }
        if let Some(dir) = html {
            if let Err(e) = self.hunt_reports(plan, &groups, dir) {
                return bad_input(e);
            }
        }
        exit(t.failed == 0)
    }

    /// One report per signature, of its first seed, replayed.
    fn hunt_reports(
        &self,
        plan: &hunt::Plan,
        groups: &[hunt::Group],
        dir: &Path,
    ) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for g in groups {
            let seed = g.seeds[0];
            let sc = hunt::scenario(&self.registry, &plan.system, seed, &plan.params)?;
            let name = format!("{}-{}-seed{seed}.html", plan.system, g.invariant);
            self.write_report(&sc, &plan.system, seed, &dir.join(name))?;
        }
        Ok(())
    }

    /// Replays `seed` of `sc` and writes its report to `out`.
    fn write_report(
        &self,
        sc: &scenario::Scenario,
        system: &str,
        seed: u64,
        out: &Path,
    ) -> Result<(), String> {
        let opts = RunOptions {
            replay: true,
            ..RunOptions::default()
        };
        let r = self
            .registry
            .run(system, sc, seed, &opts)
            .map_err(|e| e.to_string())?;
        let page = crate::report::Page {
            scenario: &sc.name,
            system,
            seed,
            nodes: r.nodes,
            clients: sc.workload.clients,
        };
        std::fs::write(out, crate::report::html(&page, &r))
            .map_err(|e| format!("{}: cannot write the report: {e}", out.display()))?;
        println!("report: {}", out.display());
        Ok(())
    }

    fn shrink(
        &self,
        file: &Path,
        system: Option<&str>,
        seed: Option<u64>,
        out: Option<PathBuf>,
        html: Option<&Path>,
    ) -> ExitCode {
        quiet_panics();
        let sc = match self.load(file) {
            Ok(sc) => sc,
            Err(code) => return code,
        };
        let failing = |s: &&String| {
            sc.expect
                .get(*s)
                .is_some_and(|e| *e != scenario::Expect::Pass)
        };
        let system = match system {
            Some(s) => s.to_string(),
            None => match sc.systems.iter().find(failing).or(sc.systems.first()) {
                Some(s) => s.clone(),
                None => return bad_input("the file names no system"),
            },
        };
        let seed = match seed {
            Some(k) => k,
            None => {
                let fails = |k: &u64| {
                    self.registry
                        .run(&system, &sc, *k, &RunOptions::default())
                        .is_ok_and(|r| !r.violations.is_empty())
                };
                match summary::default_seeds(&sc).into_iter().find(fails) {
                    Some(k) => k,
                    None => return bad_input(format!("no default seed of {} fails", sc.name)),
                }
            }
        };
        let shrunk = match crate::shrink::shrink(&self.registry, &sc, &system, seed) {
            Ok(s) => s,
            Err(e) => return bad_input(e),
        };
        let out = out.unwrap_or_else(|| file.with_file_name(format!("{}-shrunk.toml", sc.name)));
        let mut small = shrunk.scenario.clone();
        small.seeds = 1;
        small.first_seed = seed;
        small.pinned_seed = seed;
        let note = format!(
            "Shrunk by `{} shrink {} --system {system} --seed {seed}`: {} still fails.\n\
             before: {}\nafter:  {} ({} runs tried)",
            self.registry.command(),
            sim::registry::display_path(file),
            shrunk.invariant,
            shrunk.before,
            shrunk.after,
            shrunk.runs
        );
        // The original's opening comment (where it came from: an export says which swarm
        // seed) stays under the shrink's own.
        let original = std::fs::read_to_string(file).unwrap_or_default();
        let origin: Vec<&str> = original
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim_start())
            .collect();
        let mut builder = scenario::ScenarioBuilder::from_scenario(&small).comment(&note);
        if !origin.is_empty() {
            builder = builder.comment(&format!("From:\n{}", origin.join("\n")));
        }
        let text = builder.to_toml();
        if let Err(e) = std::fs::write(&out, text) {
            return bad_input(format!("{}: cannot write: {e}", out.display()));
        }
        println!("{note}");
        for v in &shrunk.violations {
            println!("violation: {v}");
        }
        println!("written to {}", out.display());
        if let Some(dir) = html {
            let pair = std::fs::create_dir_all(dir)
                .map_err(|e| format!("{}: {e}", dir.display()))
                .and_then(|()| {
                    let before = dir.join(format!("{}-before.html", sc.name));
                    self.write_report(&sc, &system, seed, &before)?;
                    let after = dir.join(format!("{}-after.html", sc.name));
                    self.write_report(&small, &system, seed, &after)
                });
            if let Err(e) = pair {
                return bad_input(e);
            }
        }
        ExitCode::SUCCESS
    }

    fn sweep(&self, dir: &Path) -> ExitCode {
        let scenarios = match scenario::load_dir(dir, &self.registry.catalog()) {
            Ok(s) => s,
            Err(e) => return bad_input(e),
        };
        let names = self.registry.names();
        let mut all_expected = true;
        let mut rows = Vec::new();
        let mut runs = 0;
        for sc in &scenarios {
            let mut cells = Vec::new();
            for system in &names {
                if !sc.systems.iter().any(|s| s == system) {
                    cells.push(None);
                    continue;
                }
                let seeds = summary::default_seeds(sc);
                runs += seeds.len();
                let r = match summary::run_seeds(&self.registry, sc, system, &seeds) {
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
        let surprises = rows
            .iter()
            .flat_map(|(_, cells)| cells.iter().flatten())
            .filter(|c| c.unexpected)
            .count();
        println!(
            "\n{} scenarios, {} systems, {runs} runs, {surprises} surprises",
            scenarios.len(),
            names.len()
        );
        exit(all_expected)
    }
}

/// A system's panic is a finding (its message is in the `panic` violation); in a hunt or
/// a shrink, thousands of them would bury the output in backtraces.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// `name=value`.
pub(crate) fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected name=value, found {text:?}")),
    }
}

/// `90s`, `10m`, `2h` or a bare number of seconds.
fn parse_wall(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .map(|n| std::time::Duration::from_secs(n * unit))
        .map_err(|_| format!("expected a wall time like 90s, 10m or 2h, found {text:?}"))
}

/// A hunt's progress on standard error: a bar on a terminal, a plain line every ten
/// seconds otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: std::time::Duration,
}

impl Progress {
    fn new(total: Option<u64>) -> Progress {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(n) => indicatif::ProgressBar::new(n),
                None => indicatif::ProgressBar::new_spinner(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} seeds, {msg}, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            bar,
            last_line: std::time::Duration::ZERO,
        }
    }

    fn show(&mut self, t: &hunt::Tally) {
        let secs = t.wall.as_secs_f64().max(1e-9);
        let msg = format!(
            "{:.1} seeds/s, {:.0}x simulated/wall, {} failed",
            t.done as f64 / secs,
            t.sim_ns as f64 / 1e9 / secs,
            t.failed
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(t.done);
                bar.set_message(msg);
            }
            None if t.wall >= self.last_line + std::time::Duration::from_secs(10) => {
                self.last_line = t.wall;
                eprintln!("hunt: {} seeds in {:.0}s, {msg}", t.done, secs);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn exit(as_expected: bool) -> ExitCode {
    if as_expected {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(crate) fn bad_input(message: impl std::fmt::Display) -> ExitCode {
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
