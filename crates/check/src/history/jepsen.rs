//! Jepsen history formats: reads the Jepsen log format (`INFO  jepsen.util - PROCESS<TAB>
//! :TYPE<TAB>:F<TAB>VALUE`, as in Porcupine's etcd corpus) and Jepsen EDN history maps
//! (one `{:process 0, :type :invoke, :f :get, :key "k", :value nil}` per line), and writes
//! histories as EDN so Jepsen's own tools (Knossos, Elle) can check a run.
//!
//! Not a checker. Bad input yields an [`InputError`] naming the line and what was
//! expected there; nothing here panics on input.

use super::edn::{self, Edn};
use super::model::Model;
use super::{Event, EventKind, History};
use protocol::{ClientOp, OpOutput};
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
pub struct Parsed {
    pub history: History,
    pub lines: Vec<usize>,
    pub format: Format,
}

/// Parses either format, chosen by the first non-blank line. `model` decides what an
/// ambiguous `:read` means: a set read under [`Model::Set`], a register read otherwise.
pub fn parse_history(text: &str, model: Model) -> Result<Parsed, InputError> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    match first {
        Some(l) if l.trim_start().starts_with('{') => parse_edn_history(text, model),
        Some(l) if l.contains("jepsen.util - ") => parse_jepsen_log(text),
        Some(_) => Err(err(
            text.lines()
                .position(|l| !l.trim().is_empty())
                .map_or(0, |p| p + 1),
            "expected a Jepsen log line (`INFO  jepsen.util - PROCESS<TAB>:TYPE<TAB>:F<TAB>\
             VALUE`) or an EDN map (`{:process 0, :type :invoke, ...}`)"
                .to_string(),
        )),
        None => Ok(Parsed {
            history: History::default(),
            lines: Vec::new(),
            format: Format::Edn,
        }),
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
#[derive(Default)]
struct Pairing {
    busy: BTreeMap<u64, (ClientOp, usize)>,
}

impl Pairing {
    fn invoke(&mut self, line: usize, process: u64, op: &ClientOp) -> Result<(), InputError> {
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
        same: impl Fn(&ClientOp) -> bool,
    ) -> Result<ClientOp, InputError> {
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
pub fn parse_jepsen_log(text: &str) -> Result<Parsed, InputError> {
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
                "read" => ClientOp::Get { key: key() },
                "write" => ClientOp::Put {
                    key: key(),
                    value: scalar(&value, line, "write value")?.ok_or_else(|| {
                        err(line, "write of nil: expected an integer value".to_string())
                    })?,
                },
                "cas" => {
                    let (from, to) = cas_pair(&value, line)?;
                    ClientOp::Cas {
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
                    ("read", ClientOp::Get { .. })
                        | ("write", ClientOp::Put { .. })
                        | ("cas", ClientOp::Cas { .. })
                )
            })?;
            // Per the corpus README, a read that failed by timing out is indeterminate.
            if kind == EventKind::Fail && timed_out {
                kind = EventKind::Info;
            }
            if kind == EventKind::Ok {
                output = Some(match op {
                    ClientOp::Get { .. } => OpOutput::Value {
                        value: scalar(&value, line, "read value")?,
                        version: None,
                    },
                    _ => OpOutput::Done,
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

/// Parses Jepsen EDN history maps, one per line.
pub fn parse_edn_history(text: &str, model: Model) -> Result<Parsed, InputError> {
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
        let set = model == Model::Set;
        let mut output = None;
        let op = if kind == EventKind::Invoke {
            let need = |what: &str| {
                scalar(&value, line, what)?
                    .ok_or_else(|| err(line, format!("{what} is nil; expected a value")))
            };
            let op = match f.as_str() {
                "read" | "get" if set => ClientOp::SetRead,
                "add" if set => ClientOp::SetAdd {
                    element: match &value {
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
                "read" | "get" if !set => ClientOp::Get { key },
                "write" | "put" if !set => ClientOp::Put {
                    key,
                    value: need("write value")?,
                },
                "append" if !set => ClientOp::Append {
                    key,
                    value: need("append value")?,
                },
                "delete" if !set => ClientOp::Delete { key },
                "cas" if !set => {
                    let (expected, new) = cas_pair(&value, line)?;
                    ClientOp::Cas { key, expected, new }
                }
                other => {
                    return Err(err(
                        line,
                        format!(
                            "unknown operation :{other} for the {model} model; expected {}",
                            if set {
                                ":add or :read"
                            } else {
                                ":get/:read, :put/:write, :append, :delete or :cas"
                            }
                        ),
                    ))
                }
            };
            pairing.invoke(line, process, &op)?;
            op
        } else {
            let op = pairing.complete(line, process, &f, |op| {
                let same_f = matches!(
                    (f.as_str(), op),
                    ("read" | "get", ClientOp::Get { .. } | ClientOp::SetRead)
                        | ("write" | "put", ClientOp::Put { .. })
                        | ("append", ClientOp::Append { .. })
                        | ("delete", ClientOp::Delete { .. })
                        | ("cas", ClientOp::Cas { .. })
                        | ("add", ClientOp::SetAdd { .. })
                );
                same_f && op.key().is_none_or(|k| k == key)
            })?;
            if kind == EventKind::Ok {
                output = Some(match &op {
                    ClientOp::Get { .. } => OpOutput::Value {
                        value: scalar(&value, line, "read value")?,
                        version: match map.get("version") {
                            Some(Edn::Int(v)) if *v >= 0 => Some(*v as u64),
                            _ => None,
                        },
                    },
                    ClientOp::SetRead => OpOutput::Set(set_value(&value, line)?),
                    _ => OpOutput::Done,
                });
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

impl History {
    /// The history as Jepsen EDN operation maps, one per line, readable by
    /// [`parse_edn_history`] and by Jepsen's tools.
    pub fn to_edn(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            let (f, key, value) = match &e.op {
                ClientOp::Get { key } => ("read", Some(key), Edn::Nil),
                ClientOp::Put { key, value } => ("write", Some(key), Edn::Str(value.clone())),
                ClientOp::Delete { key } => ("delete", Some(key), Edn::Nil),
                ClientOp::Append { key, value } => ("append", Some(key), Edn::Str(value.clone())),
                ClientOp::Cas { key, expected, new } => (
                    "cas",
                    Some(key),
                    Edn::Vector(vec![
                        expected.clone().map_or(Edn::Nil, Edn::Str),
                        Edn::Str(new.clone()),
                    ]),
                ),
                ClientOp::SetAdd { element } => ("add", None, Edn::Int(*element as i64)),
                ClientOp::SetRead => ("read", None, Edn::Nil),
            };
            let mut version = None;
            let value = match &e.output {
                Some(OpOutput::Value { value, version: v }) => {
                    version = *v;
                    value.clone().map_or(Edn::Nil, Edn::Str)
                }
                Some(OpOutput::Set(s)) => Edn::Set(s.iter().map(|x| Edn::Int(*x as i64)).collect()),
                _ => value,
            };
            let _ = write!(out, "{{:process {}, :type :{}, :f :{f}", e.process, e.kind);
            if let Some(k) = key {
                out.push_str(", :key ");
                edn::write_str(&mut out, k);
            }
            out.push_str(", :value ");
            edn::write(&mut out, &value);
            if let Some(v) = version {
                let _ = write!(out, ", :version {v}");
            }
            let _ = writeln!(out, ", :time {}}}", e.time_ns);
        }
        out
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
            Some(OpOutput::Value {
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
            let e = parse_edn_history(text, Model::Kv).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.message.contains(what), "{e} should mention {what:?}");
        }
        let mut e = parse_history("hello", Model::Kv).unwrap_err();
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
        let p = parse_edn_history(text, Model::Kv).unwrap();
        assert_eq!(p.history.events.len(), 6);
        let again = parse_edn_history(&p.history.to_edn(), Model::Kv).unwrap();
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
        let p = parse_edn_history(set, Model::Set).unwrap();
        let again = parse_edn_history(&p.history.to_edn(), Model::Set).unwrap();
        assert_eq!(again.history.events[3].output, p.history.events[3].output);
    }
}
