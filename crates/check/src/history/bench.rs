//! Times the history checkers, reading included (as a user runs them), per history and
//! in total: over the Porcupine corpus (with and without per-key partitioning for the kv
//! files), over the adversarial set ([`adversarial_set`]), and over a generated
//! 10,000-operation history. Each time is the median of a few rounds; each peak is the
//! process's resident memory while that history was checked. Wall-clock readings here
//! are measurements printed for a person; they never feed a verdict.
//!
//! Not a checker.

use super::adversarial::{adversarial, adversarial_set};
use super::generate::{generate_kv, GenConfig};
use super::jepsen::{to_edn, InputError};
use super::linearizable::{Deadline, LinOptions, Verdict};
use super::report::{check_text, CheckReport, HistoryModel};
use crate::measure::{peak_rss_bytes, reset_peak};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Porcupine's corpus as this crate ships it (MIT; `verdicts.txt` holds Porcupine's own
/// verdicts).
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/porcupine");

/// Budget per history: `check-history`'s default, so "decided" here means decided there.
const BUDGET: Duration = Duration::from_secs(60);

/// One history, timed.
#[derive(Clone, Debug)]
pub struct BenchLine {
    pub name: String,
    pub ops: usize,
    pub verdict: String,
    /// The verdict known beforehand (Porcupine's, or the generator's), if any.
    pub expected: Option<String>,
    /// The median over the rounds.
    pub time: Duration,
    /// Peak resident memory of the process while it was checked.
    pub peak: Option<u64>,
    /// The same check without per-key partitioning (kv files only), once.
    pub unpartitioned: Option<(String, Duration)>,
}

impl BenchLine {
    /// Whether the verdict contradicts the one known beforehand.
    pub fn contradicts(&self) -> bool {
        self.expected
            .as_ref()
            .is_some_and(|e| e != "either" && *e != self.verdict)
    }
}

/// Timings over a corpus, the adversarial set and a generated history.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub corpus: Vec<BenchLine>,
    pub adversarial: Vec<BenchLine>,
    pub generated: BenchLine,
    /// Files that could not be read or parsed.
    pub errors: Vec<String>,
}

impl BenchReport {
    fn lines(&self) -> impl Iterator<Item = &BenchLine> {
        (self.corpus.iter())
            .chain(&self.adversarial)
            .chain([&self.generated])
    }

    /// Histories left `unknown`.
    pub fn unknown(&self) -> usize {
        self.lines().filter(|l| l.verdict == "unknown").count()
    }

    /// Histories whose verdict contradicts the one known beforehand.
    pub fn contradictions(&self) -> usize {
        self.lines().filter(|l| l.contradicts()).count()
    }

    /// The highest peak of any history.
    pub fn peak(&self) -> Option<u64> {
        self.lines().filter_map(|l| l.peak).max()
    }
}

fn per_sec(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64().max(1e-9)
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

impl fmt::Display for BenchLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = if self.contradicts() {
            "  CONTRADICTS"
        } else {
            ""
        };
        write!(
            f,
            "{:<26} {:>6} ops  {:<17} {:>9.3} ms {:>10.0} ops/s",
            self.name,
            self.ops,
            self.verdict,
            ms(self.time),
            per_sec(self.ops, self.time),
        )?;
        if let Some(p) = self.peak {
            write!(f, "  peak {:>6.1} MB", p as f64 / 1e6)?;
        }
        if let Some((v, t)) = &self.unpartitioned {
            write!(f, "   unpartitioned: {v} in {:.3} ms", ms(*t))?;
        }
        write!(f, "{flag}")
    }
}

/// The total line of a group of histories.
fn total(f: &mut fmt::Formatter<'_>, what: &str, lines: &[BenchLine]) -> fmt::Result {
    let time: Duration = lines.iter().map(|l| l.time).sum();
    let ops: usize = lines.iter().map(|l| l.ops).sum();
    let slowest = lines.iter().max_by_key(|l| l.time);
    writeln!(
        f,
        "{what} total: {} histories, {ops} ops in {:.3} ms ({:.0} ops/s); slowest {} in {:.3} ms",
        lines.len(),
        ms(time),
        per_sec(ops, time),
        slowest.map_or("-", |l| l.name.as_str()),
        slowest.map_or(0.0, |l| ms(l.time)),
    )
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.corpus {
            writeln!(f, "{l}")?;
        }
        total(f, "corpus", &self.corpus)?;
        for l in &self.adversarial {
            writeln!(f, "{l}")?;
        }
        total(f, "adversarial", &self.adversarial)?;
        writeln!(f, "{}", self.generated)?;
        writeln!(
            f,
            "unknown: {}; contradicting a known verdict: {}; highest peak: {}",
            self.unknown(),
            self.contradictions(),
            self.peak().map_or("not measured".to_string(), |p| format!(
                "{:.1} MB",
                p as f64 / 1e6
            )),
        )?;
        for e in &self.errors {
            writeln!(f, "error: {e}")?;
        }
        Ok(())
    }
}

fn verdict_name(v: &Verdict) -> String {
    match v {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not-linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
    .to_string()
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Deadline::now();
    let r = f();
    (r, Deadline::now() - start)
}

/// Reads and checks `text` `rounds` times: the last result, the median time and the
/// peak memory over the rounds.
fn measure(
    text: &str,
    model: HistoryModel,
    opts: &LinOptions,
    rounds: usize,
) -> (Result<CheckReport, InputError>, Duration, Option<u64>) {
    reset_peak();
    let mut times = Vec::with_capacity(rounds);
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let (r, t) = timed(|| check_text(text, model, opts, true));
        times.push(t);
        last = Some(r);
    }
    times.sort_unstable();
    let r = last.expect("at least one round");
    (r, times[times.len() / 2], peak_rss_bytes())
}

fn opts() -> LinOptions {
    LinOptions {
        budget: BUDGET,
        ..LinOptions::default()
    }
}

/// Every history: the corpus under `dir` (`etcd/*.log` as cas registers, `kv/*.txt` as
/// kv, in name order, with the verdicts in `dir/verdicts.txt`), the adversarial set, and
/// a generated 10,000-operation kv history; each checked `rounds` times.
pub fn bench_histories(dir: &Path, rounds: usize) -> BenchReport {
    let mut errors = Vec::new();
    let mut corpus = bench_corpus(dir, rounds, &mut errors);
    let adversarial = adversarial_set()
        .into_iter()
        .map(|(name, cfg)| {
            let (h, expect) = adversarial(&cfg);
            text_line(
                name,
                &to_edn(&h),
                HistoryModel::Kv,
                Some(expect.name()),
                rounds,
            )
        })
        .collect();
    let generated = bench_generated(rounds);
    // Last: the whole map as one object takes far more memory, which the allocator keeps.
    unpartitioned(dir, &mut corpus);
    BenchReport {
        corpus,
        adversarial,
        generated,
        errors,
    }
}

/// Times each kv file of the corpus checked as one object (once): what per-key
/// partitioning saves.
fn unpartitioned(dir: &Path, corpus: &mut [BenchLine]) {
    for line in corpus.iter_mut().filter(|l| l.name.starts_with("kv/")) {
        let Ok(text) = std::fs::read_to_string(dir.join(&line.name)) else {
            continue;
        };
        let (r, t) = timed(|| check_text(&text, HistoryModel::Kv, &opts(), false));
        let v = r.map_or("error".to_string(), |r| verdict_name(&r.verdict));
        line.unpartitioned = Some((v, t));
    }
}

/// One history's line, checked from its text; an unreadable one says why instead.
fn text_line(
    name: String,
    text: &str,
    model: HistoryModel,
    expected: Option<&str>,
    rounds: usize,
) -> BenchLine {
    let (r, time, peak) = measure(text, model, &opts(), rounds);
    let (ops, verdict) = match r {
        Ok(r) => (r.ops, verdict_name(&r.verdict)),
        Err(e) => (0, format!("error: {e}")),
    };
    BenchLine {
        name,
        ops,
        verdict,
        expected: expected.map(str::to_string),
        time,
        peak,
        unpartitioned: None,
    }
}

/// The corpus files under `dir`.
fn bench_corpus(dir: &Path, rounds: usize, errors: &mut Vec<String>) -> Vec<BenchLine> {
    let verdicts = std::fs::read_to_string(dir.join("verdicts.txt")).unwrap_or_default();
    let known = |name: &str| {
        (verdicts.lines())
            .filter_map(|l| l.split_once(char::is_whitespace))
            .find(|(file, _)| *file == name)
            .map(|(_, v)| v.trim())
    };
    let mut lines = Vec::new();
    for name in corpus_files(dir) {
        let model = if name.starts_with("etcd/") {
            HistoryModel::CasRegister
        } else {
            HistoryModel::Kv
        };
        let text = match std::fs::read_to_string(dir.join(&name)) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{name}: {e}"));
                continue;
            }
        };
        lines.push(text_line(name.clone(), &text, model, known(&name), rounds));
    }
    lines
}

/// `etcd/*.log` and `kv/*.txt` under `dir`, in name order.
fn corpus_files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for (sub, ext) in [("etcd", "log"), ("kv", "txt")] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(ext) {
                names.push(format!("{sub}/{name}"));
            }
        }
    }
    names.sort();
    names
}

/// A generated linearizable history of 10,000 operations (10 clients, 5 keys, 5% info).
pub fn bench_generated(rounds: usize) -> BenchLine {
    let h = generate_kv(&GenConfig {
        register: false,
        clients: 10,
        keys: 5,
        ops: 10_000,
        info_percent: 5,
        seed: 1,
    });
    let name = "generated kv 10k".to_string();
    text_line(
        name,
        &to_edn(&h),
        HistoryModel::Kv,
        Some("linearizable"),
        rounds,
    )
}

/// Writes the adversarial set under `dir` as kv EDN files (`NAME.edn`, the form
/// Porcupine's kv tests read) with `verdicts.txt` (what the generator knows: linearizable,
/// not-linearizable, or either), for other checkers to read. The number of files.
pub fn write_adversarial(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut verdicts = String::new();
    let set = adversarial_set();
    for (name, cfg) in &set {
        let (h, expect) = adversarial(cfg);
        std::fs::write(dir.join(format!("{name}.edn")), to_edn(&h))?;
        verdicts.push_str(&format!("{name}.edn {}\n", expect.name()));
    }
    std::fs::write(dir.join("verdicts.txt"), verdicts)?;
    Ok(set.len())
}
