//! The one-call entry point for `splitbrain check-history FILE --model M`: read a Jepsen
//! history file, check it, and say what to print and which exit code to return.

use super::jepsen::{parse_kv, parse_set, Format, InputError, Parsed};
use super::linearizable::{check_operations, LinOptions, Verdict};
use super::ops::{operations, Operation};
use super::set::check_set;
use crate::models::kv::{KvModel, KvOp, KvOutput, MapModel};
use crate::models::set::{SetModel, SetOp};
use protocol::{EventKind, Model, Op};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// Which specification a history file is checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HistoryModel {
    /// A compare-and-set register per key: get, put, cas (absent initially).
    CasRegister,
    /// A key-value map, one independent register per key: get, put, append, delete, cas.
    Kv,
    /// One grow-only set: add, read.
    Set,
}

impl FromStr for HistoryModel {
    type Err = String;
    fn from_str(s: &str) -> Result<HistoryModel, String> {
        match s {
            "cas-register" => Ok(HistoryModel::CasRegister),
            "kv" => Ok(HistoryModel::Kv),
            "set" => Ok(HistoryModel::Set),
            other => Err(format!(
                "unknown model {other:?}; expected cas-register, kv or set"
            )),
        }
    }
}

impl fmt::Display for HistoryModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HistoryModel::CasRegister => "cas-register",
            HistoryModel::Kv => "kv",
            HistoryModel::Set => "set",
        })
    }
}

/// Exit code for a history that could not be read.
pub const EXIT_BAD_INPUT: i32 = 2;

/// The result of checking one history file.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub verdict: Verdict,
    /// Operations checked.
    pub ops: usize,
    /// Human-readable: what was checked and the verdict, with a counterexample if any.
    pub text: String,
}

impl CheckReport {
    /// 0 valid, 1 invalid, 3 unknown (budget exceeded).
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Linearizable => 0,
            Verdict::NotLinearizable(_) => 1,
            Verdict::Unknown { .. } => 3,
        }
    }
}

/// The process exit code for a check: the report's, or 2 for bad input.
pub fn exit_code(r: &Result<CheckReport, InputError>) -> i32 {
    match r {
        Ok(report) => report.exit_code(),
        Err(_) => EXIT_BAD_INPUT,
    }
}

/// Reads, parses and checks `path` against `model`, as `opts` says.
pub fn check_history_file(
    path: &Path,
    model: HistoryModel,
    opts: &LinOptions,
) -> Result<CheckReport, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InputError {
        file: file.clone(),
        line: 0,
        message: format!("cannot read: {e}; expected a readable UTF-8 history file"),
    })?;
    check_history_text(&text, model, opts).map_err(|mut e| {
        e.file = file;
        e
    })
}

/// As [`check_history_file`], for text already in memory.
pub fn check_history_text(
    text: &str,
    model: HistoryModel,
    opts: &LinOptions,
) -> Result<CheckReport, InputError> {
    check_text(text, model, opts, true)
}

/// As [`check_history_text`]; `partition: false` checks a kv map as one object (only to
/// measure what per-key partitioning saves).
pub(crate) fn check_text(
    text: &str,
    model: HistoryModel,
    opts: &LinOptions,
    partition: bool,
) -> Result<CheckReport, InputError> {
    match model {
        HistoryModel::Set => {
            let parsed = parse_set(text)?;
            let ops = numbered(&parsed)?;
            let mut report = judge(&parsed, &ops, &SetModel, opts, "")?;
            if ops.iter().any(|o| *o.op == SetOp::Read) {
                if let Ok(set) = check_set(&parsed.history, None) {
                    report.text.push_str(&set.to_string());
                    if !set.valid() && report.verdict.is_linearizable() {
                        report.verdict =
                            Verdict::NotLinearizable(super::linearizable::Counterexample {
                                failures: Vec::new(),
                            });
                    }
                }
            }
            Ok(report)
        }
        HistoryModel::CasRegister | HistoryModel::Kv => {
            let parsed = parse_kv(text)?;
            let ops = numbered(&parsed)?;
            let kv = KvModel {
                missing_reads_empty: parsed.format == Format::Edn && !reads_nil(&ops),
                // The etcd log convention (corpus README): a failed cas ran its compare.
                fail_cas_is_mismatch: parsed.format == Format::JepsenLog,
                register: model == HistoryModel::CasRegister,
                ..KvModel::default()
            };
            let note = if kv.missing_reads_empty && !kv.register {
                ", missing keys read as \"\""
            } else {
                ""
            };
            if partition {
                judge(&parsed, &ops, &kv, opts, note)
            } else {
                let keys = ops.iter().map(|o| o.op.key_str().to_string());
                judge(&parsed, &ops, &MapModel::new(kv.clone(), keys), opts, note)
            }
        }
    }
}

/// The operations of `parsed`, their events numbered by their line in the file, so a
/// counterexample points into it. Lines grow with event order, so the real-time order the
/// checker uses is unchanged.
fn numbered<O: Op>(parsed: &Parsed<O>) -> Result<Vec<Operation<'_, O>>, InputError> {
    let line_of = |event: usize| parsed.lines.get(event).copied().unwrap_or(0);
    let mut ops = operations(&parsed.history).map_err(|e| InputError {
        file: String::new(),
        line: line_of(e.event),
        message: e.message.clone(),
    })?;
    for o in &mut ops {
        o.invoke = line_of(o.invoke).saturating_sub(1);
        o.complete = o.complete.map(|c| line_of(c).saturating_sub(1));
    }
    Ok(ops)
}

/// Checks `ops` against `model` and says so in words; `note` qualifies the model.
fn judge<O: Op, M: Model<Op = O> + Sync>(
    parsed: &Parsed<O>,
    ops: &[Operation<'_, O>],
    model: &M,
    opts: &LinOptions,
    note: &str,
) -> Result<CheckReport, InputError> {
    let verdict = check_operations(ops, model, opts).map_err(|e| InputError {
        file: String::new(),
        line: e.event + 1,
        message: e.message.clone(),
    })?;
    let text = format!(
        "{} operations ({} events; event numbers below are line numbers), model {}{note}: \
         {verdict}",
        ops.len(),
        parsed.history.events.len(),
        model.name(),
    );
    Ok(CheckReport {
        verdict,
        ops: ops.len(),
        text,
    })
}

/// Whether any read returned nil: then absent reads as nil, not as `""`. Porcupine's kv
/// lab histories never do, since there a missing key reads as the empty string.
fn reads_nil(ops: &[Operation<'_, KvOp>]) -> bool {
    ops.iter().any(|o| {
        o.end == EventKind::Ok && matches!(o.output, Some(KvOutput::Value { value: None, .. }))
    })
}
