//! The one-call entry point for `splitbrain check-history FILE --model M`: read a Jepsen
//! history file, check it, and say what to print and which exit code to return.

use super::jepsen::{parse_history, Format, InputError};
use super::linearizable::{check_operations, LinOptions, Verdict};
use super::model::Model;
use super::ops::{operations, Operation};
use super::set::check_set;
use super::EventKind;
use protocol::{ClientOp, OpOutput};
use std::path::Path;
use std::time::Duration;

/// Exit code for a history that could not be read.
pub const EXIT_BAD_INPUT: i32 = 2;

/// The result of checking one history file.
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub verdict: Verdict,
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

/// Reads, parses and checks `path` against `model` within `budget`.
pub fn check_history_file(
    path: &Path,
    model: Model,
    budget: Duration,
) -> Result<CheckReport, InputError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| InputError {
        file: file.clone(),
        line: 0,
        message: format!("cannot read: {e}; expected a readable UTF-8 history file"),
    })?;
    check_history_text(&text, model, budget).map_err(|mut e| {
        e.file = file;
        e
    })
}

/// As [`check_history_file`], for text already in memory.
pub fn check_history_text(
    text: &str,
    model: Model,
    budget: Duration,
) -> Result<CheckReport, InputError> {
    check_text(text, model, budget, true)
}

/// As [`check_history_text`]; `partition: false` checks the map as one object (only to
/// measure what per-key partitioning saves).
pub(crate) fn check_text(
    text: &str,
    model: Model,
    budget: Duration,
    partition: bool,
) -> Result<CheckReport, InputError> {
    let parsed = parse_history(text, model)?;
    let line_of = |event: usize| parsed.lines.get(event).copied().unwrap_or(0);
    let mut ops = operations(&parsed.history).map_err(|e| InputError {
        file: String::new(),
        line: line_of(e.event),
        message: e.message.clone(),
    })?;
    // Number events by their line in the file, so a counterexample points into it. Lines
    // grow with event order, so the real-time order the checker uses is unchanged.
    for o in &mut ops {
        o.invoke = line_of(o.invoke).saturating_sub(1);
        o.complete = o.complete.map(|c| line_of(c).saturating_sub(1));
    }
    let opts = LinOptions {
        budget,
        partition,
        missing_reads_empty: parsed.format == Format::Edn && !reads_nil(&ops),
        // The etcd log convention (corpus README): a failed cas ran its compare.
        fail_cas_is_mismatch: parsed.format == Format::JepsenLog,
    };
    let verdict = check_operations(&ops, model, &opts).map_err(|e| InputError {
        file: String::new(),
        line: e.event + 1,
        message: e.message.clone(),
    })?;
    let mut text = format!(
        "{} operations ({} events; event numbers below are line numbers), model {model}{}: \
         {verdict}",
        ops.len(),
        parsed.history.events.len(),
        if opts.missing_reads_empty && model == Model::Kv {
            ", missing keys read as \"\""
        } else {
            ""
        },
    );
    let mut verdict = verdict;
    if model == Model::Set && ops.iter().any(|o| *o.op == ClientOp::SetRead) {
        if let Ok(set) = check_set(&parsed.history, None) {
            text.push_str(&set.to_string());
            if !set.valid() && verdict.is_linearizable() {
                verdict = Verdict::NotLinearizable(super::linearizable::Counterexample {
                    failures: Vec::new(),
                });
            }
        }
    }
    Ok(CheckReport { verdict, text })
}

/// Whether any read returned nil: then absent reads as nil, not as `""`. Porcupine's kv
/// lab histories never do, since there a missing key reads as the empty string.
fn reads_nil(ops: &[Operation]) -> bool {
    ops.iter().any(|o| {
        o.end == EventKind::Ok && matches!(o.output, Some(OpOutput::Value { value: None, .. }))
    })
}
