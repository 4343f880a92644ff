//! Jepsen history formats: reads the Jepsen log format (`INFO  jepsen.util - PROCESS<TAB>
//! :TYPE<TAB>:F<TAB>VALUE`, as in Porcupine's etcd corpus) and Jepsen EDN history maps
//! (one `{:process 0, :type :invoke, :f :get, :key "k", :value nil}` per line) for the kv
//! and set vocabularies, and writes any history as EDN ([`to_edn`], from what each
//! operation says of itself through [`Op`]) so Jepsen's own tools can check a run.
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
    /// `INFO  jepsen.util - 0<TAB>:invoke<TAB>:read<TAB>nil`
    JepsenLog,
    /// `{:process 0, :type :invoke, :f :read, :value nil}` per line.
    Edn,
}

/// A parsed history and, for each event, the line it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<O: Op> {
    pub history: History<O>,
    pub lines: Vec<usize>,
    pub format: Format,
}

/// Parses a kv (or register) history in either format, chosen by the first non-blank
/// line.
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
            text.lines()
                .position(|l| !l.trim().is_empty())
                .map_or(0, |p| p + 1),
            "a Jepsen log line; expected EDN operation maps for a set history (the log \
             format holds register operations only)"
                .to_string(),
        )),
        _ => parse_edn_history(text),
    }
}

/// The format the first non-blank line is in; `None` for empty input.
fn first_form(text: &str) -> Result<Option<Format>, InputError> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    match first {
        Some(l) if l.trim_start().starts_with('{') => Ok(Some(Format::Edn)),
        Some(l) if l.contains("jepsen.util - ") => Ok(Some(Format::JepsenLog)),
        Some(_) => Err(err(
            text.lines()
                .position(|l| !l.trim().is_empty())
                .map_or(0, |p| p + 1),
            "expected a Jepsen log line (`INFO  jepsen.util - PROCESS<TAB>:TYPE<TAB>:F<TAB>\
             VALUE`) or an EDN map (`{:process 0, :type :invoke, ...}`)"
                .to_string(),
        )),
        None => Ok(None),
    }
}

fn err(line: usize, message: String) -> InputError {
    InputError {
        file: String::new(),
        line,
        message,
    }
}

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

fn parse_value(text: &str, line: usize) -> Result<Edn, InputError> {
    edn::parse(text).map_err(|e| {
        err(
            line,
            format!(
                "value {text:?}, column {}: expected {}",
                e.column, e.expected
            ),
        )
    })
}

/// Parses the Jepsen log format of a single compare-and-set register.
pub fn parse_jepsen_log(text: &str) -> Result<Parsed<KvOp>, InputError> {
    const SHAPE: &str =
        "expected `INFO  jepsen.util - PROCESS<TAB>:TYPE<TAB>:F<TAB>VALUE` (F is :read, :write or :cas)";
    let mut events = Vec::new();
    let mut lines = Vec::new();
    let mut pairing = Pairing::default();
    let key = || REGISTER_KEY.to_string();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let Some((_, rest)) = raw.split_once("jepsen.util - ") else {
            return Err(err(line, SHAPE.to_string()));
        };
        let fields: Vec<&str> = rest.splitn(4, '\t').collect();
        if fields.len() != 4 {
            return Err(err(
                line,
                format!("found {} tab-separated fields; {SHAPE}", fields.len()),
            ));
        }
        let proc_text = fields[0].trim();
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
        let Some(kind_word) = fields[1].trim().strip_prefix(':') else {
            return Err(err(
                line,
                format!(
                    "type {:?}: expected :invoke, :ok, :fail or :info",
                    fields[1]
                ),
            ));
        };
        let mut kind = kind_of(kind_word, line)?;
        let f = fields[2].trim().trim_start_matches(':');
        let value = parse_value(fields[3].trim(), line)?;
        let timed_out = matches!(&value, Edn::Keyword(k) if k == "timed-out");
        let mut output = None;
        let op = if kind == EventKind::Invoke {
            let op = match f {
                "read" => KvOp::Get { key: key() },
                "write" => KvOp::Put {
                    key: key(),
                    value: scalar(&value, line, "write value")?.ok_or_else(|| {
                        err(line, "write of nil: expected an integer value".to_string())
                    })?,
                },
                "cas" => {
                    let (from, to) = cas_pair(&value, line)?;
                    KvOp::Cas {
                        key: key(),
                        expected: from,
                        new: to,
                    }
                }
                other => {
                    return Err(err(
                        line,
                        format!("unknown operation :{other}; expected :read, :write or :cas"),
                    ))
                }
            };
            pairing.invoke(line, process, &op)?;
            op
        } else {
            let op = pairing.complete(line, process, f, |op| {
                matches!(
                    (f, op),
                    ("read", KvOp::Get { .. })
                        | ("write", KvOp::Put { .. })
                        | ("cas", KvOp::Cas { .. })
                )
            })?;
            // Per the corpus README, a read that failed by timing out is indeterminate.
            if kind == EventKind::Fail && timed_out {
                kind = EventKind::Info;
            }
            if kind == EventKind::Ok {
                output = Some(match op {
                    KvOp::Get { .. } => KvOutput::Value {
                        value: scalar(&value, line, "read value")?,
                        version: None,
                    },
                    _ => KvOutput::Done,
                });
            }
            op
        };
        events.push(Event {
            process,
            kind,
            op,
            output,
            time_ns: line as u64,
        });
        lines.push(line);
    }
    Ok(Parsed {
        history: History { events },
        lines,
        format: Format::JepsenLog,
    })
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

/// A vocabulary the EDN reader can build operations of.
pub trait ReadOp: Op {
    /// The operation invoked as `:f f` on `key` (the register's when absent) with
    /// `value`, or what was expected instead.
    fn invoke(f: &str, key: String, value: &Edn, line: usize) -> Result<Self, InputError>;
    /// Whether a completion of `:f f` on `key` completes `self`.
    fn completes(&self, f: &str, key: &str) -> bool;
    /// The output of an `ok` completion whose map is `map` and `:value` is `value`.
    fn ok_output(&self, value: &Edn, map: &Edn, line: usize) -> Result<Self::Output, InputError>;
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
                         :get/:read, :put/:write, :append, :delete or :cas"
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

/// Parses Jepsen EDN history maps, one per line.
pub fn parse_edn_history<O: ReadOp>(text: &str) -> Result<Parsed<O>, InputError> {
    let mut events = Vec::new();
    let mut lines = Vec::new();
    let mut pairing = Pairing::default();
    let mut last_time = 0u64;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with(';') {
            continue;
        }
        let map = edn::parse(t).map_err(|e| {
            err(
                line,
                format!("column {}: expected {}", e.column, e.expected),
            )
        })?;
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
            Edn::Keyword(k) => kind_of(k, line)?,
            other => {
                return Err(err(
                    line,
                    format!(":type is {}, expected a keyword", other.describe()),
                ))
            }
        };
        let f = match field("f")? {
            Edn::Keyword(k) => k.clone(),
            other => {
                return Err(err(
                    line,
                    format!(":f is {}, expected a keyword", other.describe()),
                ))
            }
        };
        let key = match map.get("key") {
            None | Some(Edn::Nil) => REGISTER_KEY.to_string(),
            Some(k) => scalar(k, line, ":key")?.unwrap_or_default(),
        };
        let value = map.get("value").cloned().unwrap_or(Edn::Nil);
        let time_ns = match map.get("time") {
            Some(Edn::Int(t)) if *t >= 0 => *t as u64,
            // Without times, file order is real-time order.
            _ => last_time.max(line as u64),
        };
        last_time = time_ns;
        let mut output = None;
        let op = if kind == EventKind::Invoke {
            let op = O::invoke(&f, key, &value, line)?;
            pairing.invoke(line, process, &op)?;
            op
        } else {
            let op = pairing.complete(line, process, &f, |op| op.completes(&f, &key))?;
            if kind == EventKind::Ok {
                output = Some(op.ok_output(&value, &map, line)?);
            }
            op
        };
        events.push(Event {
            process,
            kind,
            op,
            output,
            time_ns,
        });
        lines.push(line);
    }
    Ok(Parsed {
        history: History { events },
        lines,
        format: Format::Edn,
    })
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
            (log(&["0\t:invoke\t:read"]), 1, "tab-separated fields"),
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
                format!("{}garbage\n", log(&["0\t:invoke\t:read\tnil"])),
                2,
                "expected `INFO",
            ),
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
            .starts_with("h.txt:1: expected a Jepsen log line"));
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
