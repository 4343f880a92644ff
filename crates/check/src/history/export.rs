//! A kv history in the EDN forms Jepsen's checkers read, besides [`to_edn`] (Porcupine's
//! kv form, `:key` beside a plain `:value`, which stays the default):
//!
//! - [`to_edn_independent`]: a register history as `jepsen.independent` tuples
//!   (`:value [k v]`), the form `jepsen.independent/checker` splits by key for Knossos'
//!   cas-register.
//! - [`to_edn_elle_append`]: an append workload as Elle list-append transactions
//!   (`:f :txn, :value [[:append k v]]`).
//!
//! [`parse_edn_history`] (and so [`super::parse_kv`] and `check-history`) reads both back;
//! [`parse_elle_append`] reads only the second. In both forms a column (the keys; the
//! values or list elements) is written as integers when every entry in it is a decimal
//! integer as Rust and Clojure print one (`7`, not `07`), else as strings: Knossos'
//! registers and Elle's lists then hold integers as their own tests do, reading back
//! gives the same strings, and no checker compares an integer with a string.
//!
//! Not a checker.
//!
//! [`to_edn`]: super::jepsen::to_edn
//! [`parse_edn_history`]: super::jepsen::parse_edn_history

use super::edn::{self, Edn};
use super::jepsen::{read_edn, InputError, Parsed};
use crate::models::kv::{KvOp, KvOutput};
use protocol::{Event, History};
use std::fmt;
use std::fmt::Write as _;
use std::str::FromStr;

/// An event a form cannot express.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportError {
    /// The event's position in the history (0-based; its `:index`).
    pub event: usize,
    /// What the event is and what the form expected.
    pub message: String,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.event, self.message)
    }
}

impl std::error::Error for ExportError {}

/// Which EDN form to write a kv history in: what a `--edn` flag chooses between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EdnForm {
    /// Porcupine's kv form ([`to_edn`](super::jepsen::to_edn)): `:key "k"`, `:value "v"`.
    Kv,
    /// `jepsen.independent` tuples for Knossos ([`to_edn_independent`]).
    Independent,
    /// Elle list-append transactions ([`to_edn_elle_append`]).
    ElleAppend,
}

impl FromStr for EdnForm {
    type Err = String;
    fn from_str(s: &str) -> Result<EdnForm, String> {
        match s {
            "kv" => Ok(EdnForm::Kv),
            "independent" | "knossos" => Ok(EdnForm::Independent),
            "elle-append" | "elle" => Ok(EdnForm::ElleAppend),
            other => Err(format!(
                "unknown EDN form {other:?}; expected kv, independent (knossos) or \
                 elle-append (elle)"
            )),
        }
    }
}

impl fmt::Display for EdnForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EdnForm::Kv => "kv",
            EdnForm::Independent => "independent",
            EdnForm::ElleAppend => "elle-append",
        })
    }
}

/// `h` in `form`.
pub fn write_edn(h: &History<KvOp>, form: EdnForm) -> Result<String, ExportError> {
    match form {
        EdnForm::Kv => Ok(super::jepsen::to_edn(h)),
        EdnForm::Independent => to_edn_independent(h),
        EdnForm::ElleAppend => to_edn_elle_append(h),
    }
}

/// `s` as an integer if it is one as printed (`-3`, not `+3` or `03`).
fn decimal(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|i| i.to_string() == s)
}

/// An entry of a column written as integers (`ints`) or strings.
fn atom(s: &str, ints: bool) -> Edn {
    match decimal(s).filter(|_| ints) {
        Some(i) => Edn::Int(i),
        None => Edn::Str(s.to_string()),
    }
}

/// One operation map, in the field order Jepsen prints its `Op` records in.
fn write_op(out: &mut String, index: usize, e: &Event<KvOp>, f: &str, value: &Edn) {
    let _ = write!(
        out,
        "{{:index {index}, :time {}, :type :{}, :process {}, :f :{f}, :value ",
        e.time_ns, e.kind, e.process
    );
    edn::write(out, value);
    if let Some(KvOutput::Value {
        version: Some(v), ..
    }) = &e.output
    {
        let _ = write!(out, ", :version {v}");
    }
    out.push_str("}\n");
}

/// A register history (get, put and cas only) as `jepsen.independent` tuples, one map a
/// line: `{:index 0, :time 5, :type :invoke, :process 0, :f :read, :value [K nil]}`, a
/// write `[K V]`, a cas `[K [FROM TO]]` (FROM `nil`: absent), an ok read `[K V]`; `:fail`
/// and `:info` repeat their invocation's value. A read's `:version`, if any, follows.
/// Any other operation is an error naming the event.
pub fn to_edn_independent(h: &History<KvOp>) -> Result<String, ExportError> {
    let mut values = Vec::new();
    for (i, e) in h.events.iter().enumerate() {
        match &e.op {
            KvOp::Get { .. } => {}
            KvOp::Put { value, .. } => values.push(value),
            KvOp::Cas { expected, new, .. } => values.extend(expected.iter().chain([new])),
            other => {
                return Err(ExportError {
                    event: i,
                    message: format!(
                        "`{other}` is not a register operation; expected get, put or cas \
                         (Knossos' cas-register)"
                    ),
                })
            }
        }
        if let Some(KvOutput::Value { value: Some(v), .. }) = &e.output {
            values.push(v);
        }
    }
    let int_keys = h.events.iter().all(|e| decimal(e.op.key_str()).is_some());
    let int_values = values.iter().all(|v| decimal(v).is_some());
    let value = |v: &Option<String>| v.as_deref().map_or(Edn::Nil, |v| atom(v, int_values));
    let mut out = String::new();
    for (i, e) in h.events.iter().enumerate() {
        let (f, inner) = match (&e.op, &e.output) {
            (KvOp::Get { .. }, Some(KvOutput::Value { value: v, .. })) => ("read", value(v)),
            (KvOp::Get { .. }, _) => ("read", Edn::Nil),
            (KvOp::Put { value: v, .. }, _) => ("write", atom(v, int_values)),
            (KvOp::Cas { expected, new, .. }, _) => (
                "cas",
                Edn::Vector(vec![value(expected), atom(new, int_values)]),
            ),
            // Refused above.
            _ => continue,
        };
        let tuple = Edn::Vector(vec![atom(e.op.key_str(), int_keys), inner]);
        write_op(&mut out, i, e, f, &tuple);
    }
    Ok(out)
}

/// The elements of a list the kv workload builds by appending a space and a token:
/// `" c1-2 c0-5"` is `["c1-2", "c0-5"]`, `""` is `[]`. `None` if `v` is not such a list.
fn tokens(v: &str) -> Option<Vec<&str>> {
    if v.is_empty() {
        return Some(Vec::new());
    }
    let list: Vec<&str> = v.strip_prefix(' ')?.split(' ').collect();
    list.iter()
        .all(|t| !t.is_empty() && !t.contains(char::is_whitespace))
        .then_some(list)
}

/// An append workload (append and get only) as Elle list-append transactions of one
/// micro-op each, one map a line: an append `{..., :f :txn, :value [[:append K V]]}`, a
/// read `[[:r K nil]]` on invoke and `[[:r K [V1 V2 ...]]]` when ok.
///
/// Elle's lists are the kv workload's values read as what was appended: each append adds
/// a space and a whitespace-free token (` c1-2`), so the value `" c1-2 c0-5"` is the list
/// `["c1-2" "c0-5"]` and an append of `" c1-2"` appends the element `"c1-2"`. An append
/// or read value of any other shape is an error naming the event, since Elle could not
/// tell its elements apart. A read of an absent key is written `nil`, as Maelstrom's
/// list-append workload returns it (Elle takes `nil` and `[]` alike for a list never
/// appended to); a present empty value, which appends alone never make, as `[]`.
pub fn to_edn_elle_append(h: &History<KvOp>) -> Result<String, ExportError> {
    let shape = |i: usize, what: String| ExportError {
        event: i,
        message: format!(
            "{what}; expected a space and a whitespace-free token per element (the kv \
             workload's ` c1-2`), which Elle reads as list elements"
        ),
    };
    // Each event's list: an append's one element, an ok read's elements.
    let mut lists = Vec::with_capacity(h.events.len());
    for (i, e) in h.events.iter().enumerate() {
        lists.push(match (&e.op, &e.output) {
            (KvOp::Append { value, .. }, _) => match tokens(value) {
                Some(t) if t.len() == 1 => Some(t),
                _ => return Err(shape(i, format!("append value {value:?}"))),
            },
            (KvOp::Get { .. }, Some(KvOutput::Value { value: Some(v), .. })) => {
                Some(tokens(v).ok_or_else(|| shape(i, format!("read value {v:?}")))?)
            }
            (KvOp::Get { .. }, _) => None,
            (other, _) => {
                return Err(ExportError {
                    event: i,
                    message: format!(
                        "`{other}` is not a list-append operation; expected append or get \
                         (Elle's list-append)"
                    ),
                })
            }
        });
    }
    let int_keys = h.events.iter().all(|e| decimal(e.op.key_str()).is_some());
    let int_elements = lists
        .iter()
        .flatten()
        .flatten()
        .all(|t| decimal(t).is_some());
    let mut out = String::new();
    for (i, (e, list)) in h.events.iter().zip(&lists).enumerate() {
        let key = atom(e.op.key_str(), int_keys);
        let elements = |l: &Vec<&str>| l.iter().map(|t| atom(t, int_elements)).collect();
        let mop = match (&e.op, list) {
            (KvOp::Append { .. }, Some(l)) => {
                vec![Edn::Keyword("append".into()), key, atom(l[0], int_elements)]
            }
            (_, Some(l)) => {
                vec![Edn::Keyword("r".into()), key, Edn::Vector(elements(l))]
            }
            _ => vec![Edn::Keyword("r".into()), key, Edn::Nil],
        };
        write_op(&mut out, i, e, "txn", &Edn::Vector(vec![Edn::Vector(mop)]));
    }
    Ok(out)
}

/// Reads Elle list-append transactions of one micro-op each back into kv operations: an
/// `[:append K V]` is an append of `" V"`, an `[:r K [V1 V2]]` a read of `" V1 V2"`, a
/// read of `nil` or `[]` one of an absent key (Elle takes both for a list never appended
/// to). Every operation must be `:f :txn`; a transaction of several micro-ops is an error
/// (each is read as one kv operation). The rest is as [`parse_edn_history`] reads EDN.
///
/// [`parse_edn_history`]: super::jepsen::parse_edn_history
pub fn parse_elle_append(text: &str) -> Result<Parsed<KvOp>, InputError> {
    read_edn(text, Some(("txn", "an Elle list-append transaction")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EventKind;

    fn ev(process: u64, kind: EventKind, op: KvOp, output: Option<KvOutput>) -> Event<KvOp> {
        Event {
            process,
            kind,
            op,
            output,
            time_ns: 0,
        }
    }

    #[test]
    fn columns_are_integers_only_when_all_are() {
        let put = |k: &str, v: &str| KvOp::Put {
            key: k.into(),
            value: v.into(),
        };
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, put("3", "5"), None),
                ev(0, EventKind::Ok, put("3", "5"), Some(KvOutput::Done)),
            ],
        };
        let text = to_edn_independent(&h).unwrap();
        let first = edn::parse(text.lines().next().unwrap()).unwrap();
        assert_eq!(
            first.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(3), Edn::Int(5)]))
        );
        let h = History {
            events: vec![ev(0, EventKind::Invoke, put("3", "05"), None)],
        };
        let first = edn::parse(&to_edn_independent(&h).unwrap()).unwrap();
        assert_eq!(
            first.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(3), Edn::Str("05".into())]))
        );
    }

    #[test]
    fn what_a_form_cannot_say_is_an_error_naming_the_event() {
        let get = KvOp::Get { key: "a".into() };
        let append = |v: &str| KvOp::Append {
            key: "a".into(),
            value: v.into(),
        };
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, get.clone(), None),
                ev(1, EventKind::Invoke, append(" x"), None),
            ],
        };
        let e = to_edn_independent(&h).unwrap_err();
        assert_eq!(e.event, 1);
        assert!(e.message.contains("expected get, put or cas"), "{e}");
        assert!(to_edn_elle_append(&h).is_ok());
        let h = History {
            events: vec![ev(0, EventKind::Invoke, append("x y"), None)],
        };
        let e = to_edn_elle_append(&h).unwrap_err();
        assert_eq!(e.event, 0);
        assert!(e.message.contains("append value \"x y\""), "{e}");
        let h = History {
            events: vec![
                ev(0, EventKind::Invoke, get.clone(), None),
                ev(
                    0,
                    EventKind::Ok,
                    get,
                    Some(KvOutput::Value {
                        value: Some("ab".into()),
                        version: None,
                    }),
                ),
            ],
        };
        let e = to_edn_elle_append(&h).unwrap_err();
        assert_eq!(e.event, 1);
        assert!(e.message.contains("read value \"ab\""), "{e}");
    }

    #[test]
    fn forms_by_name() {
        for form in [EdnForm::Kv, EdnForm::Independent, EdnForm::ElleAppend] {
            assert_eq!(form.to_string().parse::<EdnForm>(), Ok(form));
        }
        assert!("porcupine".parse::<EdnForm>().is_err());
    }
}
