//! Jepsen history formats, read as real tools write them, for the kv and set
//! vocabularies; and any history written as EDN ([`to_edn`], from what each operation
//! says of itself through [`Op`]) so Jepsen's own tools can check a run. The other EDN
//! forms Jepsen's checkers read (Knossos' independent registers, Elle's list-append
//! transactions) are in [`super::export`].
//!
//! Read:
//! - Jepsen's log of operations ([`parse_jepsen_log`]): `PROCESS :TYPE :F VALUE` after
//!   `jepsen.util - ` (log4j, Porcupine's etcd corpus) or `jepsen.util: ` (logback, with a
//!   timestamp and thread first), or alone on a line (Jepsen's `history.txt`); fields
//!   separated by any run of tabs or spaces.
//! - Jepsen EDN operation maps ([`parse_edn_history`]): any number per line or one over
//!   several, with comments, `#_`, commas, tagged records (`#jepsen.history.Op{...}`),
//!   optionally wrapped in one vector; a key as `:key`, as a `jepsen.independent` tuple
//!   (`:value [k v]`), or in an Elle transaction of one micro-op (`:f :txn`).
//!
//! Not a checker. Bad input yields an [`InputError`] naming the line and what was
//! expected there; nothing here panics on input.

use super::edn::{self, Edn};
use crate::models::kv::{KvOp, KvOutput};
use crate::models::set::{SetOp, SetOutput};
use protocol::{Datum, Event, EventKind, History, Op};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fmt::Write as _;

/// The key a single-register history (no `:key`) is filed under.
pub const REGISTER_KEY: &str = "r";

/// Input that could not be read as a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The file, when known.
    pub file: String,
    /// 1-based line; 0 when the problem is the file as a whole.
    pub line: usize,
    /// What was found and what was expected.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = if self.file.is_empty() {
            "<input>"
        } else {
            &self.file
        };
        if self.line == 0 {
            write!(f, "{file}: {}", self.message)
        } else {
            write!(f, "{file}:{}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for InputError {}

/// Which text format a history was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `INFO  jepsen.util - 0<TAB>:invoke<TAB>:read<TAB>nil`, and its variants.
    JepsenLog,
    /// `{:process 0, :type :invoke, :f :read, :value nil}`, and its variants.
    Edn,
}

/// A parsed history and, for each event, the line it came from (for EDN, the line its
/// map starts on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<O: Op> {
    pub history: History<O>,
    pub lines: Vec<usize>,
    pub format: Format,
}

/// Parses a kv (or register) history in either format: EDN when the first line that is
/// neither blank nor a `;` comment opens an EDN form (`{`, `[`, `(`, `#`), the Jepsen log
/// when any line holds an operation in that format.
pub fn parse_kv(text: &str) -> Result<Parsed<KvOp>, InputError> {
    match first_form(text)? {
        Some(Format::Edn) | None => parse_edn_history(text),
        Some(Format::JepsenLog) => parse_jepsen_log(text),
    }
}

/// Parses a set history (EDN; the log format holds registers only).
pub fn parse_set(text: &str) -> Result<Parsed<SetOp>, InputError> {
    match first_form(text)? {
        Some(Format::JepsenLog) => Err(err(
            first_line(text),
            "a Jepsen log line; expected EDN operation maps for a set history (the log \
             format holds register operations only)"
                .to_string(),
        )),
        _ => parse_edn_history(text),
    }
}

/// The 1-based number of the first non-blank line; 0 if there is none.
fn first_line(text: &str) -> usize {
    text.lines()
        .position(|l| !l.trim_start_matches('\u{feff}').trim().is_empty())
        .map_or(0, |p| p + 1)
}

/// The format `text` is in; `None` for input with nothing in it.
fn first_form(text: &str) -> Result<Option<Format>, InputError> {
    let mut seen = false;
    for l in text.lines() {
        let t = l.trim_start_matches('\u{feff}').trim();
        if t.is_empty() || t.starts_with(';') {
            continue;
        }
        let log = classify(l);
        // An operation after a logger's prefix decides it even when the prefix opens
        // with a bracket (`[jepsen worker 0] jepsen.util: ...`).
        if !seen && !matches!(log, LogLine::Op(_)) && t.starts_with(['{', '[', '(', '#']) {
            return Ok(Some(Format::Edn));
        }
        seen = true;
        // A Jepsen log opens with lines of other loggers; its first operation may come
        // much later.
        if matches!(log, LogLine::Op(_) | LogLine::Misplaced) {
            return Ok(Some(Format::JepsenLog));
        }
    }
    if seen {
        Err(err(
            first_line(text),
            format!("expected Jepsen log lines ({LOG_SHAPE}) or EDN operation maps ({EDN_SHAPE})"),
        ))
    } else {
        Ok(None)
    }
}

fn err(line: usize, message: String) -> InputError {
    InputError {
        file: String::new(),
        line,
        message,
    }
}

const LOG_SHAPE: &str = "`INFO  jepsen.util - PROCESS :TYPE :F VALUE`, fields separated by \
                         tabs or spaces, after any timestamp and thread name";
const EDN_SHAPE: &str = "`{:process 0, :type :invoke, :f :read, :value nil}`";

/// Tracks operations in flight per process, so completions repeat their invocation and a
/// busy process cannot invoke again.
struct Pairing<O> {
    busy: BTreeMap<u64, (O, usize)>,
}

impl<O: Op> Default for Pairing<O> {
    fn default() -> Self {
        Pairing {
            busy: BTreeMap::new(),
        }
    }
}

impl<O: Op> Pairing<O> {
    fn invoke(&mut self, line: usize, process: u64, op: &O) -> Result<(), InputError> {
        if let Some((other, at)) = self.busy.get(&process) {
            return Err(err(
                line,
                format!(
                    "process {process} invokes `{op}` while its `{other}` from line {at} is \
                     still in flight; expected a completion (:ok, :fail or :info) first"
                ),
            ));
        }
        self.busy.insert(process, (op.clone(), line));
        Ok(())
    }

    /// The invoked op that this completion (of function `f`) completes.
    fn complete(
        &mut self,
        line: usize,
        process: u64,
        f: &str,
        same: impl Fn(&O) -> bool,
    ) -> Result<O, InputError> {
        match self.busy.remove(&process) {
            None => Err(err(
                line,
                format!(
                    "completion of :{f} from process {process}, which has no operation in \
                     flight; expected an :invoke from that process first"
                ),
            )),
            Some((op, at)) if !same(&op) => Err(err(
                line,
                format!(
                    "process {process} completes :{f} but invoked `{op}` at line {at}; \
                     expected a completion of the invoked operation"
                ),
            )),
            Some((op, _)) => Ok(op),
        }
    }
}

fn kind_of(word: &str, line: usize) -> Result<EventKind, InputError> {
    match word {
        "invoke" => Ok(EventKind::Invoke),
        "ok" => Ok(EventKind::Ok),
        "fail" => Ok(EventKind::Fail),
        "info" => Ok(EventKind::Info),
        other => Err(err(
            line,
            format!("unknown type `{other}`; expected :invoke, :ok, :fail or :info"),
        )),
    }
}

/// A value that stands for a register value: an integer or string (`nil`: absent).
fn scalar(v: &Edn, line: usize, what: &str) -> Result<Option<String>, InputError> {
    match v {
        Edn::Nil => Ok(None),
        Edn::Int(i) => Ok(Some(i.to_string())),
        Edn::Str(s) => Ok(Some(s.clone())),
        other => Err(err(
            line,
            format!(
                "{what}: found {}, expected an integer, a string or nil",
                other.describe()
            ),
        )),
    }
}

/// What Jepsen's loggers put between a log line's prefix and an operation: log4j's
/// `INFO  jepsen.util - ` (Jepsen before 0.2, Porcupine's corpus) and logback's
/// `2021-02-26 23:39:01,300{GMT}\tINFO\t[jepsen worker 1] jepsen.util: ` (Jepsen 0.2 on,
/// Maelstrom).
const MARKERS: [&str; 2] = ["jepsen.util - ", "jepsen.util: "];

/// What one line of a Jepsen log is.
enum LogLine<'a> {
    /// `PROCESS :TYPE :F VALUE...`: after a `jepsen.util` marker, or a whole line as
    /// Jepsen's `history.txt` prints operations.
    Op(&'a str),
    /// An operation's fields, but after some other prefix (a mistyped logger name).
    Misplaced,
    /// Anything else.
    Other,
}

/// A field that can start an operation: a process number, or a keyword (`:nemesis`).
fn process_like(t: &str) -> bool {
    t.parse::<u64>().is_ok() || (t.len() > 1 && t.starts_with(':'))
}

/// Whether `tokens` start `PROCESS :TYPE :F`.
fn op_fields(tokens: &[&str]) -> bool {
    matches!(tokens, [p, t, f, ..]
        if process_like(p)
            && matches!(*t, ":invoke" | ":ok" | ":fail" | ":info")
            && f.starts_with(':'))
}

/// Where the first `jepsen.util` marker of `line` ends, if it has one. One search for the
/// common stem, then the marker's tail compared in place: most lines are operations, and
/// searching for each whole marker costs more than the rest of reading them.
fn after_marker(line: &str) -> Option<usize> {
    const STEM: &str = "jepsen.util";
    // By its first byte (a memchr), not by a substring searcher built per line.
    let mut from = 0;
    while let Some(i) = line[from..].find('j') {
        let at = from + i;
        let tail = &line[at..];
        if tail.starts_with(STEM) {
            if let Some(m) = MARKERS.iter().find(|m| tail.starts_with(*m)) {
                return Some(at + m.len());
            }
        }
        from = at + 1;
    }
    None
}

fn classify(line: &str) -> LogLine<'_> {
    let after = after_marker(line);
    if let Some(after) = after {
        let rest = &line[after..];
        let mut t = rest.split_whitespace();
        let (first, second) = (t.next().unwrap_or(""), t.next().unwrap_or(""));
        // jepsen.util also logs lines that are not operations (timing, retries): an
        // operation has a process and a keyword first, or at least its type second (then
        // a garbled process is reported rather than the line skipped).
        let op = (process_like(first) && second.starts_with(':'))
            || matches!(second, ":invoke" | ":ok" | ":fail" | ":info");
        return if op {
            LogLine::Op(rest)
        } else {
            LogLine::Other
        };
    }
    let body = line.trim_start_matches('\u{feff}').trim();
    let tokens: Vec<&str> = body.split_whitespace().collect();
    if op_fields(&tokens) {
        LogLine::Op(body)
    } else if (1..tokens.len()).any(|i| op_fields(&tokens[i..])) {
        LogLine::Misplaced
    } else {
        LogLine::Other
    }
}

/// The first whitespace-separated field of `s` and what follows it.
fn field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some(s.split_at(end))
}

/// Parses the Jepsen log format of a compare-and-set register (or of keyed registers,
/// whose values are `jepsen.independent` tuples `[k v]`).
///
/// Each operation is `PROCESS :TYPE :F VALUE`, its fields separated by any run of tabs or
/// spaces, after `jepsen.util - ` or `jepsen.util: ` and whatever the logger put before
/// (level, timestamp, thread), or alone on its line as in Jepsen's `history.txt`. VALUE
/// is one EDN form (it may hold spaces: `[1 2]`, `"a b"`); Jepsen prints the operation's
/// `:error` after it, which is ignored. The value of an `:info` or `:fail` is never used,
/// so anything is accepted there (`:timed-out`, `:net-timeout`, `nil`); a `:fail` whose
/// value or error is `:timed-out` is read as `:info`.
///
/// Other lines are skipped: a real `jepsen.log` interleaves operations with other
/// loggers' lines, stack traces and multi-line results, and a user pointing the checker
/// at it wants the operations. A line that holds an operation's fields after any other
/// prefix is an error rather than skipped, since dropping an operation silently would
/// change the verdict.
pub fn parse_jepsen_log(text: &str) -> Result<Parsed<KvOp>, InputError> {
    let mut b = Builder::default();
    let mut any_op_line = false;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let rest = match classify(raw) {
            LogLine::Op(rest) => rest,
            LogLine::Other => continue,
            LogLine::Misplaced => {
                return Err(err(
                    line,
                    format!(
                        "an operation's fields without `jepsen.util - ` or `jepsen.util: ` \
                         before them; expected {LOG_SHAPE}, or the fields alone on the line"
                    ),
                ))
            }
        };
        any_op_line = true;
        let mut fields = [""; 3];
        let mut value_text = rest;
        for (i, slot) in fields.iter_mut().enumerate() {
            let Some((f, after)) = field(value_text) else {
                return Err(err(
                    line,
                    format!("found {i} of the 4 fields; expected {LOG_SHAPE}"),
                ));
            };
            *slot = f;
            value_text = after;
        }
        let value_text = value_text.trim();
        if value_text.is_empty() {
            return Err(err(
                line,
                format!("found 3 of the 4 fields (no VALUE); expected {LOG_SHAPE}"),
            ));
        }
        let [proc_text, type_text, f_text] = fields;
        if proc_text == ":nemesis" {
            // Fault injection is not a client operation.
            continue;
        }
        let process: u64 = proc_text.parse().map_err(|_| {
            err(
                line,
                format!("process {proc_text:?}: expected a non-negative integer or :nemesis"),
            )
        })?;
        let Some(kind_word) = type_text.strip_prefix(':') else {
            return Err(err(
                line,
                format!("type {type_text:?}: expected :invoke, :ok, :fail or :info"),
            ));
        };
        let mut kind = kind_of(kind_word, line)?;
        let f = f_text.trim_start_matches(':');
        let (value, error) = match edn::parse_prefix(value_text) {
            Ok((v, end)) => (Some(v), value_text[end..].trim()),
            Err(_) if matches!(kind, EventKind::Info | EventKind::Fail) => (None, ""),
            Err(e) => {
                return Err(err(
                    line,
                    format!(
                        "value {value_text:?}, column {}: expected {}",
                        e.column, e.expected
                    ),
                ))
            }
        };
        // Per the corpus README, an operation that failed by timing out is indeterminate.
        let timed_out =
            matches!(&value, Some(Edn::Keyword(k)) if k == "timed-out") || error == ":timed-out";
        if kind == EventKind::Fail && (timed_out || (f == "cas" && observed_nothing(error))) {
            kind = EventKind::Info;
        }
        b.push(Raw {
            line,
            process,
            kind,
            f,
            key: None,
            value: value.as_ref(),
            map: &Edn::Nil,
            time_ns: line as u64,
        })?;
    }
    if !any_op_line && first_line(text) > 0 {
        return Err(err(
            first_line(text),
            format!("no operation on any line; expected {LOG_SHAPE}"),
        ));
    }
    Ok(b.finish(Format::JepsenLog))
}

/// Whether a failed cas's error says it observed nothing: a Maelstrom error
/// `[code "text"]` other than 20 (key does not exist) and 22 (precondition failed), such
/// as 11 (temporarily unavailable). A failed cas in a log is otherwise read as a compare
/// that did not match (etcd's convention, see `report`), which such a failure is not; read
/// as `:info` it constrains nothing it should not (it may have happened, though it did
/// not), so it can never raise a false violation.
fn observed_nothing(error: &str) -> bool {
    let Ok((Edn::Vector(items), _)) = edn::parse_prefix(error) else {
        return false;
    };
    matches!(items.first(), Some(Edn::Int(code)) if *code != 20 && *code != 22)
}

fn cas_pair(v: &Edn, line: usize) -> Result<(Option<String>, String), InputError> {
    match v {
        Edn::Vector(items) if items.len() == 2 => {
            let from = scalar(&items[0], line, "cas expected value")?;
            let to = scalar(&items[1], line, "cas new value")?
                .ok_or_else(|| err(line, "cas to nil: expected a value to write".to_string()))?;
            Ok((from, to))
        }
        other => Err(err(
            line,
            format!("cas value: found {}, expected [FROM TO]", other.describe()),
        )),
    }
}

/// An operation whose key travels in its `:value`, unwrapped: see [`ReadOp::keyed`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyed {
    /// The function, in the reader's canonical spelling (`get`, `put`, `cas`, `append`).
    pub f: &'static str,
    pub key: String,
    /// The value the operation would have as a plain register operation.
    pub value: Edn,
}

/// A vocabulary the EDN reader can build operations of.
pub trait ReadOp: Op {
    /// The operation invoked as `:f f` on `key` (the register's when absent) with
    /// `value`, or what was expected instead.
    fn invoke(f: &str, key: String, value: &Edn, line: usize) -> Result<Self, InputError>;
    /// Whether a completion of `:f f` on `key` completes `self`.
    fn completes(&self, f: &str, key: &str) -> bool;
    /// The output of an `ok` completion whose map is `map` and `:value` is `value`.
    fn ok_output(&self, value: &Edn, map: &Edn, line: usize) -> Result<Self::Output, InputError>;
    /// For an operation whose `:value` also carries its key (a `jepsen.independent`
    /// tuple, an Elle transaction), the key, function and plain value; `None` when the
    /// value is the operation's own. `has_key`: the map has a `:key`, which wins over a
    /// key in the value. The default: values never carry keys.
    fn keyed(
        _f: &str,
        _value: &Edn,
        _has_key: bool,
        _line: usize,
    ) -> Result<Option<Keyed>, InputError> {
        Ok(None)
    }
}

impl ReadOp for KvOp {
    fn invoke(f: &str, key: String, value: &Edn, line: usize) -> Result<KvOp, InputError> {
        let need = |what: &str| {
            scalar(value, line, what)?
                .ok_or_else(|| err(line, format!("{what} is nil; expected a value")))
        };
        Ok(match f {
            "read" | "get" => KvOp::Get { key },
            "write" | "put" => KvOp::Put {
                key,
                value: need("write value")?,
            },
            "append" => KvOp::Append {
                key,
                value: need("append value")?,
            },
            "delete" => KvOp::Delete { key },
            "cas" => {
                let (expected, new) = cas_pair(value, line)?;
                KvOp::Cas { key, expected, new }
            }
            other => {
                return Err(err(
                    line,
                    format!(
                        "unknown operation :{other} for the kv model; expected \
                         :get/:read, :put/:write, :append, :delete, :cas, or :txn of one \
                         append or read"
                    ),
                ))
            }
        })
    }

    fn completes(&self, f: &str, key: &str) -> bool {
        let same_f = matches!(
            (f, self),
            ("read" | "get", KvOp::Get { .. })
                | ("write" | "put", KvOp::Put { .. })
                | ("append", KvOp::Append { .. })
                | ("delete", KvOp::Delete { .. })
                | ("cas", KvOp::Cas { .. })
                | ("txn", KvOp::Append { .. } | KvOp::Get { .. })
        );
        same_f && self.key_str() == key
    }

    fn ok_output(&self, value: &Edn, map: &Edn, line: usize) -> Result<KvOutput, InputError> {
        Ok(match self {
            KvOp::Get { .. } => KvOutput::Value {
                value: scalar(value, line, "read value")?,
                version: match map.get("version") {
                    Some(Edn::Int(v)) if *v >= 0 => Some(*v as u64),
                    _ => None,
                },
            },
            _ => KvOutput::Done,
        })
    }

    /// `jepsen.independent` tuples, recognised by shape so a plain value is never
    /// misread: a read's or write's `[K V]` with V an integer, string or nil (a plain
    /// read or write value is never a vector), a cas's `[K [FROM TO]]` (a plain cas is
    /// `[FROM TO]` of scalars); K an integer or string. And Elle transactions of one
    /// micro-op (`:f :txn`), whatever `:key` says.
    fn keyed(
        f: &str,
        value: &Edn,
        has_key: bool,
        line: usize,
    ) -> Result<Option<Keyed>, InputError> {
        let f = match f {
            "txn" => return elle_micro_op(value, line).map(Some),
            "read" | "get" => "get",
            "write" | "put" => "put",
            "cas" => "cas",
            _ => return Ok(None),
        };
        if has_key {
            return Ok(None);
        }
        let Edn::Vector(pair) = value else {
            return Ok(None);
        };
        let [k, v] = pair.as_slice() else {
            return Ok(None);
        };
        let key = match k {
            Edn::Int(i) => i.to_string(),
            Edn::Str(s) => s.clone(),
            _ => return Ok(None),
        };
        let fits = if f == "cas" {
            matches!(v, Edn::Vector(_))
        } else {
            matches!(v, Edn::Nil | Edn::Int(_) | Edn::Str(_))
        };
        Ok(fits.then(|| Keyed {
            f,
            key,
            value: v.clone(),
        }))
    }
}

/// An Elle list-append transaction of one micro-op, as the kv operation it is: an
/// `[:append K V]` is an append of `" V"` (a space and the element, as the kv workload
/// appends tokens), an `[:r K [V1 V2]]` a read of `" V1 V2"`. A read of `nil` or `[]` is
/// of an absent key: Elle takes both for a list never appended to.
fn elle_micro_op(value: &Edn, line: usize) -> Result<Keyed, InputError> {
    const SHAPE: &str = "expected a transaction of one micro-op, [[:append K V]] or [[:r K V]]";
    let Edn::Vector(mops) = value else {
        return Err(err(
            line,
            format!("transaction value: found {}, {SHAPE}", value.describe()),
        ));
    };
    let [mop] = mops.as_slice() else {
        return Err(err(
            line,
            format!(
                "a transaction of {} micro-ops: {SHAPE} (each transaction is read as one kv \
                 operation, so one micro-op per transaction)",
                mops.len()
            ),
        ));
    };
    let parts = match mop {
        Edn::Vector(parts) if parts.len() == 3 => parts,
        other => {
            return Err(err(
                line,
                format!("micro-op: found {}, expected [F K V]", other.describe()),
            ))
        }
    };
    let key = match &parts[1] {
        Edn::Int(i) => i.to_string(),
        Edn::Str(s) => s.clone(),
        Edn::Keyword(k) => format!(":{k}"),
        other => {
            return Err(err(
                line,
                format!(
                    "micro-op key: found {}, expected an integer, string or keyword",
                    other.describe()
                ),
            ))
        }
    };
    let element = |v: &Edn| match v {
        Edn::Int(i) => Ok(i.to_string()),
        Edn::Str(s) if !s.contains(char::is_whitespace) => Ok(s.clone()),
        other => Err(err(
            line,
            format!(
                "list element {}: expected an integer or a string without whitespace (a list \
                 is read as its elements' space-separated tokens)",
                other.describe()
            ),
        )),
    };
    match &parts[0] {
        Edn::Keyword(f) | Edn::Str(f) if f == "append" => Ok(Keyed {
            f: "append",
            key,
            value: Edn::Str(format!(" {}", element(&parts[2])?)),
        }),
        Edn::Keyword(f) | Edn::Str(f) if f == "r" => {
            let value = match &parts[2] {
                Edn::Nil => Edn::Nil,
                Edn::Vector(items) if items.is_empty() => Edn::Nil,
                Edn::Vector(items) => {
                    let mut s = String::new();
                    for item in items {
                        s.push(' ');
                        s.push_str(&element(item)?);
                    }
                    Edn::Str(s)
                }
                other => {
                    return Err(err(
                        line,
                        format!(
                            "read of {}: expected a list [V1 V2 ...] or nil",
                            other.describe()
                        ),
                    ))
                }
            };
            Ok(Keyed {
                f: "get",
                key,
                value,
            })
        }
        other => Err(err(
            line,
            format!(
                "micro-op function {}: expected :append or :r (Elle's list-append)",
                other.describe()
            ),
        )),
    }
}

impl ReadOp for SetOp {
    fn invoke(f: &str, _key: String, value: &Edn, line: usize) -> Result<SetOp, InputError> {
        Ok(match f {
            "read" | "get" => SetOp::Read,
            "add" => SetOp::Add {
                element: match value {
                    Edn::Int(e) if *e >= 0 => *e as u64,
                    other => {
                        return Err(err(
                            line,
                            format!(
                                "add of {}: expected a non-negative integer",
                                other.describe()
                            ),
                        ))
                    }
                },
            },
            other => {
                return Err(err(
                    line,
                    format!("unknown operation :{other} for the set model; expected :add or :read"),
                ))
            }
        })
    }

    fn completes(&self, f: &str, _key: &str) -> bool {
        matches!(
            (f, self),
            ("read" | "get", SetOp::Read) | ("add", SetOp::Add { .. })
        )
    }

    fn ok_output(&self, value: &Edn, _map: &Edn, line: usize) -> Result<SetOutput, InputError> {
        Ok(match self {
            SetOp::Read => SetOutput::Set(set_value(value, line)?),
            SetOp::Add { .. } => SetOutput::Done,
        })
    }
}

/// One operation line or map, as read, before pairing.
struct Raw<'a> {
    line: usize,
    process: u64,
    kind: EventKind,
    f: &'a str,
    /// From `:key`.
    key: Option<String>,
    /// `None`: unreadable, which only an `:info` or `:fail` may be.
    value: Option<&'a Edn>,
    /// The whole map (`Edn::Nil` for a log line), for further fields.
    map: &'a Edn,
    time_ns: u64,
}

/// Builds a history from operations as read, pairing completions with invocations.
struct Builder<O: Op> {
    events: Vec<Event<O>>,
    lines: Vec<usize>,
    pairing: Pairing<O>,
}

impl<O: Op> Default for Builder<O> {
    fn default() -> Self {
        Builder {
            events: Vec::new(),
            lines: Vec::new(),
            pairing: Pairing::default(),
        }
    }
}

impl<O: ReadOp> Builder<O> {
    fn push(&mut self, raw: Raw<'_>) -> Result<(), InputError> {
        let Raw {
            line,
            process,
            kind,
            f,
            key,
            value,
            map,
            time_ns,
        } = raw;
        // An :info or :fail completes the operation its invocation named; its value is
        // never used, so whatever it holds (`:timed-out`, `:net-timeout`, nil, an error)
        // is no reason to reject the line.
        let unused = matches!(kind, EventKind::Info | EventKind::Fail);
        let value = value.unwrap_or(&Edn::Nil);
        let keyed = match O::keyed(f, value, key.is_some(), line) {
            Ok(k) => k,
            Err(_) if unused => None,
            Err(e) => return Err(e),
        };
        let (f, key, value) = match &keyed {
            Some(k) => (k.f, Some(k.key.clone()), &k.value),
            None => (f, key, value),
        };
        let mut output = None;
        let op = if kind == EventKind::Invoke {
            let key = key.unwrap_or_else(|| REGISTER_KEY.to_string());
            let op = O::invoke(f, key, value, line)?;
            self.pairing.invoke(line, process, &op)?;
            op
        } else {
            // A completion that names no key completes whatever its process invoked.
            let op = self.pairing.complete(line, process, f, |op| {
                op.completes(f, key.as_deref().or(op.key()).unwrap_or(REGISTER_KEY))
            })?;
            if kind == EventKind::Ok {
                output = Some(op.ok_output(value, map, line)?);
            }
            op
        };
        self.events.push(Event {
            process,
            kind,
            op,
            output,
            time_ns,
        });
        self.lines.push(line);
        Ok(())
    }

    fn finish(self, format: Format) -> Parsed<O> {
        Parsed {
            history: History {
                events: self.events,
            },
            lines: self.lines,
            format,
        }
    }
}

/// An EDN syntax error, at the line its form starts on.
fn edn_error(e: edn::EdnError) -> InputError {
    let at = if e.line == e.form_line {
        format!("column {}", e.column)
    } else {
        format!("at line {}, column {}", e.line, e.column)
    };
    err(e.form_line, format!("{at}: expected {}", e.expected))
}

/// Parses Jepsen EDN operation maps: any number per line or one over several lines,
/// with `;` comments, `#_` discards, commas anywhere, tagged records
/// (`#jepsen.history.Op{...}`), and optionally the whole history wrapped in one vector.
/// An operation's key is its `:key`, or travels in its value as a `jepsen.independent`
/// tuple (`{:f :write, :value [3 5]}` writes 5 to key "3") or an Elle transaction of one
/// micro-op (`{:f :txn, :value [[:append 3 5]]}`); see [`ReadOp::keyed`]. Operations of
/// the `:nemesis` process are skipped. Without `:time`, file order is time order.
pub fn parse_edn_history<O: ReadOp>(text: &str) -> Result<Parsed<O>, InputError> {
    read_edn(text, None)
}

/// As [`parse_edn_history`]; with `only_f`, every operation must have that `:f`.
pub(crate) fn read_edn<O: ReadOp>(
    text: &str,
    only_f: Option<(&str, &str)>,
) -> Result<Parsed<O>, InputError> {
    let mut b = Builder::default();
    let mut last_time = 0u64;
    for form in edn::items(text) {
        let form = form.map_err(edn_error)?;
        let line = form.line;
        let map = &form.value;
        if !matches!(map, Edn::Map(_)) {
            return Err(err(
                line,
                format!(
                    "found {}, expected an operation map {{:process P, :type T, :f F, ...}}",
                    map.describe()
                ),
            ));
        }
        let field = |name: &str| {
            map.get(name).ok_or_else(|| {
                err(
                    line,
                    format!("missing :{name}; expected it in every operation map"),
                )
            })
        };
        let process = match field("process")? {
            Edn::Int(p) if *p >= 0 => *p as u64,
            Edn::Keyword(k) if k == "nemesis" => continue,
            other => {
                return Err(err(
                    line,
                    format!(
                        ":process is {}, expected a non-negative integer or :nemesis",
                        other.describe()
                    ),
                ))
            }
        };
        let kind = match field("type")? {
            Edn::Keyword(k) | Edn::Str(k) => kind_of(k, line)?,
            other => {
                return Err(err(
                    line,
                    format!(":type is {}, expected a keyword", other.describe()),
                ))
            }
        };
        let f = match field("f")? {
            Edn::Keyword(k) | Edn::Str(k) => k.as_str(),
            other => {
                return Err(err(
                    line,
                    format!(":f is {}, expected a keyword", other.describe()),
                ))
            }
        };
        if let Some((want, what)) = only_f {
            if f != want {
                return Err(err(line, format!(":f is :{f}, expected :{want} ({what})")));
            }
        }
        let key = match map.get("key") {
            None | Some(Edn::Nil) => None,
            Some(k) => Some(scalar(k, line, ":key")?.unwrap_or_default()),
        };
        let time_ns = match map.get("time") {
            Some(Edn::Int(t)) if *t >= 0 => *t as u64,
            // Without times, file order is real-time order.
            _ => last_time.max(line as u64),
        };
        last_time = time_ns;
        b.push(Raw {
            line,
            process,
            kind,
            f,
            key,
            value: Some(map.get("value").unwrap_or(&Edn::Nil)),
            map,
            time_ns,
        })?;
    }
    Ok(b.finish(Format::Edn))
}

fn set_value(v: &Edn, line: usize) -> Result<BTreeSet<u64>, InputError> {
    let items = match v {
        Edn::Set(items) | Edn::Vector(items) => items,
        other => {
            return Err(err(
                line,
                format!(
                    "set read of {}: expected a set #{{...}} of integers",
                    other.describe()
                ),
            ))
        }
    };
    items
        .iter()
        .map(|x| match x {
            Edn::Int(e) if *e >= 0 => Ok(*e as u64),
            other => Err(err(
                line,
                format!(
                    "set element {}: expected a non-negative integer",
                    other.describe()
                ),
            )),
        })
        .collect()
}

/// `h` as Jepsen EDN operation maps, one per line: `:f` and `:key` from the operation,
/// `:value` from the invocation or, on `ok`, from the result (with its further fields),
/// readable by [`parse_edn_history`] for the kv and set vocabularies and by Jepsen's tools.
pub fn to_edn<O: Op>(h: &History<O>) -> String {
    let mut out = String::new();
    for e in &h.events {
        let (value, fields) = match &e.output {
            Some(output) => (e.op.output_value(output), e.op.output_fields(output)),
            None => (e.op.value(), Vec::new()),
        };
        let _ = write!(
            out,
            "{{:process {}, :type :{}, :f :{}",
            e.process,
            e.kind,
            e.op.f()
        );
        if let Some(k) = e.op.key() {
            out.push_str(", :key ");
            edn::write_str(&mut out, k);
        }
        out.push_str(", :value ");
        edn::write(&mut out, &Edn::from(&value));
        for (name, v) in fields {
            let _ = write!(out, ", :{name} ");
            edn::write(&mut out, &Edn::from(&v));
        }
        let _ = writeln!(out, ", :time {}}}", e.time_ns);
    }
    out
}

impl From<&Datum> for Edn {
    fn from(d: &Datum) -> Edn {
        match d {
            Datum::Nil => Edn::Nil,
            Datum::Int(i) => Edn::Int(*i),
            Datum::Str(s) => Edn::Str(s.clone()),
            Datum::Keyword(k) => Edn::Keyword(k.clone()),
            Datum::Vector(v) => Edn::Vector(v.iter().map(Edn::from).collect()),
            Datum::Set(v) => Edn::Set(v.iter().map(Edn::from).collect()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(lines: &[&str]) -> String {
        lines
            .iter()
            .map(|l| format!("INFO  jepsen.util - {l}\n"))
            .collect()
    }

    #[test]
    fn reads_the_etcd_log() {
        let text = log(&[
            "0\t:invoke\t:read\tnil",
            "1\t:invoke\t:cas\t[1 2]",
            "0\t:ok\t:read\t3",
            "1\t:fail\t:cas\t[1 2]",
            "2\t:invoke\t:write\t4",
            "2\t:info\t:write\t:timed-out",
        ]);
        let p = parse_jepsen_log(&text).unwrap();
        assert_eq!(p.format, Format::JepsenLog);
        assert_eq!(p.history.events.len(), 6);
        assert_eq!(
            p.history.events[2].output,
            Some(KvOutput::Value {
                value: Some("3".into()),
                version: None
            })
        );
        assert_eq!(p.history.events[3].kind, EventKind::Fail);
        assert_eq!(p.history.events[5].kind, EventKind::Info);
        assert_eq!(p.lines, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn log_lines_of_every_shape() {
        // A thread name first, jepsen.util messages that are not operations, a value with
        // spaces and an error after it.
        let text = "[jepsen worker 0] jepsen.util: 0 :invoke :read nil\n\
                    INFO  jepsen.util - Waiting for 3 nodes\n\
                    INFO  jepsen.util - 3 nodes ready\n\
                    [jepsen worker 0] jepsen.util: 0 :ok :read \"a b\"\t:stale?\n";
        let p = parse_kv(text).unwrap();
        assert_eq!(p.format, Format::JepsenLog);
        assert_eq!(p.lines, vec![1, 4]);
        assert_eq!(
            p.history.events[1].output,
            Some(KvOutput::Value {
                value: Some("a b".into()),
                version: None
            })
        );
    }

    #[test]
    fn maelstrom_failures_that_observed_nothing_constrain_nothing() {
        // 22: the compare did not match (a mismatch, as etcd's logs mean it); 11: the
        // node was unavailable, nothing was compared.
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[1 2]\t[22 \"precondition failed\"]\n\
                    INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\t[11 \"temporarily unavailable\"]\n";
        let p = parse_kv(text).unwrap();
        let kinds: Vec<EventKind> = p.history.events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Invoke,
                EventKind::Fail,
                EventKind::Invoke,
                EventKind::Info
            ]
        );
    }

    #[test]
    fn edn_detected_after_comments_and_in_lists() {
        let text = "; a history\n(#jepsen.history.Op{:process 0, :type :invoke, :f :read}\n \
                    {:process 0, :type :ok, :f :read, :value 1})";
        let p = parse_kv(text).unwrap();
        assert_eq!(p.format, Format::Edn);
        assert_eq!(p.lines, vec![2, 3]);
    }

    #[test]
    fn log_errors_name_the_line() {
        let cases = [
            (log(&["0\t:ok\t:read\t3"]), 1, "no operation in flight"),
            (
                log(&["0\t:invoke\t:read\tnil", "0\t:invoke\t:read\tnil"]),
                2,
                "still in flight",
            ),
            (
                log(&["0\t:invoke\t:frob\tnil"]),
                1,
                "unknown operation :frob",
            ),
            (log(&["0\t:invoke\t:read"]), 1, "found 3 of the 4 fields"),
            (log(&["x\t:invoke\t:read\tnil"]), 1, "non-negative integer"),
            (log(&["0\t:start\t:read\tnil"]), 1, "unknown type"),
            (log(&["0\t:invoke\t:cas\t[1]"]), 1, "expected [FROM TO]"),
            (log(&["0\t:invoke\t:cas\t[1 2"]), 1, "to close"),
            (
                log(&["0\t:invoke\t:read\tnil", "0\t:ok\t:write\t1"]),
                2,
                "invoked `get r`",
            ),
            (
                format!(
                    "{}INFO  jepsen.utl - 0\t:ok\t:read\tnil\n",
                    log(&["0\t:invoke\t:read\tnil"])
                ),
                2,
                "without `jepsen.util - `",
            ),
            ("garbage\nmore\n".to_string(), 1, "no operation on any line"),
        ];
        for (text, line, what) in cases {
            let e = parse_jepsen_log(&text).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(what), "{e} should mention {what:?}");
        }
    }

    #[test]
    fn edn_errors_name_the_line() {
        let cases = [
            (
                "{:process 0, :type :invoke, :f :get, :key \"a\"",
                1,
                "to close",
            ),
            ("{:process 0, :type :invoke, :key \"a\"}", 1, "missing :f"),
            (
                "{:process 0, :type :invoke, :f :zap, :key \"a\"}",
                1,
                "unknown operation :zap",
            ),
            (
                "\n{:process 0, :type :ok, :f :get, :key \"a\", :value \"\"}",
                2,
                "no operation",
            ),
            ("[1 2]", 1, "expected an operation map"),
            ("{:process -1, :type :invoke, :f :get}", 1, "non-negative"),
        ];
        for (text, line, what) in cases {
            let e = parse_edn_history::<KvOp>(text).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(what), "{e} should mention {what:?}");
        }
        let mut e = parse_kv("hello").unwrap_err();
        e.file = "h.txt".into();
        assert!(e
            .to_string()
            .starts_with("h.txt:1: expected Jepsen log lines"));
    }

    #[test]
    fn edn_round_trips() {
        let text = "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n\
                    {:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process 1, :type :ok, :f :get, :key \"4\", :value \"\", :version 3}\n\
                    {:process 2, :type :invoke, :f :cas, :key \"4\", :value [nil \"a\"]}\n\
                    {:process 2, :type :fail, :f :cas, :key \"4\", :value [nil \"a\"]}\n";
        let p = parse_edn_history::<KvOp>(text).unwrap();
        assert_eq!(p.history.events.len(), 6);
        let again = parse_edn_history::<KvOp>(&to_edn(&p.history)).unwrap();
        assert_eq!(again.history.events.len(), 6);
        for (a, b) in p.history.events.iter().zip(&again.history.events) {
            assert_eq!(
                (a.process, a.kind, &a.op, &a.output),
                (b.process, b.kind, &b.op, &b.output)
            );
        }
        let set = "{:process 0, :type :invoke, :f :add, :value 3}\n\
                   {:process 0, :type :ok, :f :add, :value 3}\n\
                   {:process 0, :type :invoke, :f :read, :value nil}\n\
                   {:process 0, :type :ok, :f :read, :value #{3}}\n";
        let p = parse_edn_history::<SetOp>(set).unwrap();
        let again = parse_edn_history::<SetOp>(&to_edn(&p.history)).unwrap();
        assert_eq!(again.history.events[3].output, p.history.events[3].output);
    }
}
