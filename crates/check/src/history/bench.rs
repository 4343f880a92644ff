//! Times the linearizability checker over the Porcupine corpus (per file, with and
//! without per-key partitioning for the kv files) and over a generated 10,000-operation
//! history (10 clients, 5 keys). Wall-clock readings here are measurements printed for a
//! person; they never feed a verdict.
//!
//! Not a checker.

use super::generate::{generate_kv, GenConfig};
use super::jepsen::InputError;
use super::linearizable::{check_linearizable, Deadline, LinOptions, Verdict};
use super::ops::operations;
use super::report::{check_text, HistoryModel};
use crate::models::kv::KvModel;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// Porcupine's corpus as this crate ships it (MIT; `verdicts.txt` holds Porcupine's own
/// verdicts).
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/porcupine");

/// Budget per history in the benchmark: generous, so a slow check shows as slow rather
/// than as `unknown`.
const BUDGET: Duration = Duration::from_secs(60);

/// One timed check.
#[derive(Clone, Debug)]
pub struct BenchLine {
    pub name: String,
    pub ops: usize,
    pub verdict: String,
    pub time: Duration,
    /// The same check without per-key partitioning (kv files only).
    pub unpartitioned: Option<(String, Duration)>,
}

/// Timings over a corpus and a generated history.
#[derive(Clone, Debug)]
pub struct BenchReport {
    pub files: Vec<BenchLine>,
    pub generated: BenchLine,
    /// Files that could not be read or parsed.
    pub errors: Vec<String>,
}

impl BenchReport {
    pub fn total_time(&self) -> Duration {
        self.files.iter().map(|l| l.time).sum()
    }

    pub fn total_ops(&self) -> usize {
        self.files.iter().map(|l| l.ops).sum()
    }
}

fn per_sec(ops: usize, t: Duration) -> f64 {
    ops as f64 / t.as_secs_f64().max(1e-9)
}

impl fmt::Display for BenchLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<22} {:>6} ops  {:<17} {:>10.3} ms  {:>12.0} ops/s",
            self.name,
            self.ops,
            self.verdict,
            self.time.as_secs_f64() * 1e3,
            per_sec(self.ops, self.time)
        )?;
        if let Some((v, t)) = &self.unpartitioned {
            write!(
                f,
                "   unpartitioned: {v} in {:.3} ms",
                t.as_secs_f64() * 1e3
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.files {
            writeln!(f, "{l}")?;
        }
        writeln!(
            f,
            "corpus total: {} files, {} ops in {:.3} ms ({:.0} ops/s)",
            self.files.len(),
            self.total_ops(),
            self.total_time().as_secs_f64() * 1e3,
            per_sec(self.total_ops(), self.total_time())
        )?;
        let slowest_etcd = self
            .files
            .iter()
            .filter(|l| l.name.starts_with("etcd/"))
            .map(|l| l.time)
            .max()
            .unwrap_or_default();
        writeln!(
            f,
            "slowest etcd history: {:.3} ms",
            slowest_etcd.as_secs_f64() * 1e3
        )?;
        writeln!(f, "generated: {}", self.generated)?;
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

/// Checks every `etcd/*.log` (cas-register) and `kv/*.txt` (kv) file under `dir`, in
/// name order, then a generated 10,000-operation kv history.
pub fn bench_corpus(dir: &Path) -> BenchReport {
    let mut names = Vec::new();
    for (sub, ext) in [("etcd", "log"), ("kv", "txt")] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(ext) {
                    names.push(format!("{sub}/{name}"));
                }
            }
        }
    }
    names.sort();
    let opts = LinOptions {
        budget: BUDGET,
        ..LinOptions::default()
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for name in names {
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
        let ops = text.lines().filter(|l| l.contains("invoke")).count();
        let (r, time) = timed(|| check_text(&text, model, &opts, true));
        let verdict = match r {
            Ok(r) => verdict_name(&r.verdict),
            Err(e) => {
                errors.push(
                    InputError {
                        file: name.clone(),
                        ..e
                    }
                    .to_string(),
                );
                continue;
            }
        };
        let unpartitioned = (model == HistoryModel::Kv).then(|| {
            let (r, t) = timed(|| check_text(&text, model, &opts, false));
            (
                r.map_or("error".to_string(), |r| verdict_name(&r.verdict)),
                t,
            )
        });
        files.push(BenchLine {
            name,
            ops,
            verdict,
            time,
            unpartitioned,
        });
    }
    BenchReport {
        files,
        generated: bench_generated(),
        errors,
    }
}

/// A generated linearizable history of 10,000 operations (10 clients, 5 keys, 5% info).
pub fn bench_generated() -> BenchLine {
    let h = generate_kv(&GenConfig {
        register: false,
        clients: 10,
        keys: 5,
        ops: 10_000,
        info_percent: 5,
        seed: 1,
    });
    let ops = operations(&h).map_or(0, |o| o.len());
    let opts = LinOptions {
        budget: BUDGET,
        ..LinOptions::default()
    };
    let (r, time) = timed(|| check_linearizable(&h, &KvModel::default(), &opts));
    BenchLine {
        name: "generated kv 10k".to_string(),
        ops,
        verdict: r.map_or("error".to_string(), |v| verdict_name(&v)),
        time,
        unpartitioned: None,
    }
}
