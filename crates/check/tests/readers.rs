//! Data-driven: history files as real tools write them (`testdata/readers/`, one per
//! variant) must read as the events they hold and check end to end; malformed input must
//! fail at the right line with a message saying what was expected, never a panic; and
//! every EDN form the exporter writes must read back as the history it came from.

use check::history::generate::{generate_kv, GenConfig, Rng};
use check::history::{
    check_history_text, parse_elle_append, parse_kv, to_edn_elle_append, to_edn_independent,
    EventKind, Format, HistoryModel, InputError, LinOptions, Parsed,
};
use check::models::kv::{KvOp, KvOutput};
use protocol::{Event, History};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const BUDGET: Duration = Duration::from_secs(5);

fn opts() -> LinOptions {
    LinOptions {
        budget: BUDGET,
        ..LinOptions::default()
    }
}

fn read_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/readers")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn get(k: &str) -> KvOp {
    KvOp::Get { key: k.into() }
}

fn put(k: &str, v: &str) -> KvOp {
    KvOp::Put {
        key: k.into(),
        value: v.into(),
    }
}

fn cas(k: &str, from: &str, to: &str) -> KvOp {
    KvOp::Cas {
        key: k.into(),
        expected: Some(from.into()),
        new: to.into(),
    }
}

fn append(k: &str, v: &str) -> KvOp {
    KvOp::Append {
        key: k.into(),
        value: v.into(),
    }
}

/// An event as compared: process, kind, operation, output.
type Ev = (u64, EventKind, KvOp, Option<KvOutput>);

fn inv(p: u64, op: KvOp) -> Ev {
    (p, EventKind::Invoke, op, None)
}

fn done(p: u64, op: KvOp) -> Ev {
    (p, EventKind::Ok, op, Some(KvOutput::Done))
}

fn read(p: u64, k: &str, v: Option<&str>) -> Ev {
    let value = v.map(str::to_string);
    let output = KvOutput::Value {
        value,
        version: None,
    };
    (p, EventKind::Ok, get(k), Some(output))
}

fn info(p: u64, op: KvOp) -> Ev {
    (p, EventKind::Info, op, None)
}

fn fail(p: u64, op: KvOp) -> Ev {
    (p, EventKind::Fail, op, None)
}

fn events(p: &Parsed<KvOp>) -> Vec<Ev> {
    p.history
        .events
        .iter()
        .map(|e| (e.process, e.kind, e.op.clone(), e.output.clone()))
        .collect()
}

/// One file of a real-world variant: what it must read as.
struct Valid {
    file: &'static str,
    format: Format,
    model: HistoryModel,
    events: Vec<Ev>,
    /// The line each event came from; empty: not checked.
    lines: Vec<usize>,
}

fn valid_files() -> Vec<Valid> {
    let r = "r";
    vec![
        Valid {
            // Spaces (and mixed tabs and spaces) between fields, as a Go port of Jepsen's
            // logger prints them (`%-4d%-8s%-8s%s`).
            file: "log-spaces.log",
            format: Format::JepsenLog,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, get(r)),
                inv(1, put(r, "3")),
                done(1, put(r, "3")),
                read(0, r, Some("3")),
                inv(2, cas(r, "3", "4")),
                done(2, cas(r, "3", "4")),
                inv(0, get(r)),
                read(0, r, Some("4")),
            ],
            lines: (1..=8).collect(),
        },
        Valid {
            // Jepsen 0.2's logback lines: timestamp, level, thread, `jepsen.util: `; other
            // loggers' lines, a stack trace and a multi-line message between them; the
            // nemesis; an operation's error after its value.
            file: "log-timestamped.log",
            format: Format::JepsenLog,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, get(r)),
                inv(1, put(r, "1")),
                read(0, r, None),
                done(1, put(r, "1")),
                inv(2, cas(r, "1", "2")),
                info(2, cas(r, "1", "2")),
                inv(0, put(r, "3")),
                fail(0, put(r, "3")),
                inv(1, get(r)),
                read(1, r, Some("2")),
            ],
            lines: vec![6, 7, 8, 9, 12, 17, 18, 19, 20, 21],
        },
        Valid {
            // Whatever an :info holds: keywords, nil, a map, an unreadable Java object;
            // a :fail that timed out is an :info.
            file: "log-net-timeout.log",
            format: Format::JepsenLog,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, put(r, "1")),
                info(0, put(r, "1")),
                inv(1, cas(r, "1", "2")),
                info(1, cas(r, "1", "2")),
                inv(2, get(r)),
                info(2, get(r)),
                inv(3, put(r, "4")),
                info(3, put(r, "4")),
                inv(4, get(r)),
                info(4, get(r)),
                inv(5, get(r)),
                info(5, get(r)),
                inv(7, get(r)),
                read(7, r, Some("2")),
            ],
            lines: (1..=14).collect(),
        },
        Valid {
            // Maelstrom's lin-kv log: keyed registers as `jepsen.independent` tuples in
            // the log format, errors after values, a value with a space.
            file: "log-maelstrom-lin-kv.log",
            format: Format::JepsenLog,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(1, put("0", "2")),
                done(1, put("0", "2")),
                inv(0, get("0")),
                read(0, "0", Some("2")),
                inv(0, cas("8", "1", "2")),
                fail(0, cas("8", "1", "2")),
                inv(1, cas("0", "2", "3")),
                done(1, cas("0", "2", "3")),
                inv(2, put("8", "a b")),
                info(2, put("8", "a b")),
                inv(0, get("0")),
                read(0, "0", Some("3")),
            ],
            lines: (2..=13).collect(),
        },
        Valid {
            // Jepsen's history.txt: the fields alone on each line.
            file: "history.txt",
            format: Format::JepsenLog,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, put(r, "1")),
                done(0, put(r, "1")),
                inv(1, get(r)),
                read(1, r, Some("1")),
                inv(2, cas(r, "3", "4")),
                fail(2, cas(r, "3", "4")),
                inv(1, cas(r, "1", "5")),
                done(1, cas(r, "1", "5")),
            ],
            lines: vec![1, 2, 4, 5, 6, 7, 9, 10],
        },
        Valid {
            // Maps over several lines, comments, trailing commas, two maps on a line, a
            // `#_` discard: each event's line is where its map starts.
            file: "history-multiline.edn",
            format: Format::Edn,
            model: HistoryModel::Kv,
            events: vec![
                inv(0, put("x", "1")),
                done(0, put("x", "1")),
                inv(1, get("x")),
                read(1, "x", Some("1")),
                inv(2, cas("x", "1", "2")),
                done(2, cas("x", "1", "2")),
            ],
            lines: vec![3, 8, 9, 9, 11, 19],
        },
        Valid {
            // Jepsen 0.3's history.edn: every operation a `#jepsen.history.Op{...}`
            // record, with :index, nemesis operations, errors, a float and an #inst.
            file: "history-op-records.edn",
            format: Format::Edn,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, put(r, "3")),
                inv(1, get(r)),
                done(0, put(r, "3")),
                read(1, r, Some("3")),
                inv(0, cas(r, "3", "4")),
                info(0, cas(r, "3", "4")),
                inv(1, get(r)),
                read(1, r, Some("4")),
                inv(5, put(r, "1")),
                fail(5, put(r, "1")),
            ],
            lines: vec![1, 2, 3, 4, 7, 8, 9, 10, 11, 12],
        },
        Valid {
            // A history as one vector of maps, as Knossos' and Elle's test data hold them.
            file: "history-vector.edn",
            format: Format::Edn,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, put(r, "1")),
                done(0, put(r, "1")),
                inv(1, cas(r, "1", "2")),
                inv(2, get(r)),
                done(1, cas(r, "1", "2")),
                read(2, r, Some("2")),
            ],
            lines: (1..=6).collect(),
        },
        Valid {
            // `jepsen.independent` tuples: `[k v]` for reads and writes, `[k [from to]]`
            // for cas; a plain cas `[1 2]` is not a tuple, and `:key` wins.
            file: "history-independent.edn",
            format: Format::Edn,
            model: HistoryModel::CasRegister,
            events: vec![
                inv(0, put("3", "5")),
                inv(1, get("4")),
                done(0, put("3", "5")),
                read(1, "4", None),
                inv(0, cas("3", "5", "6")),
                inv(1, get("3")),
                done(0, cas("3", "5", "6")),
                read(1, "3", Some("6")),
                inv(2, cas(r, "1", "2")),
                fail(2, cas(r, "1", "2")),
                inv(2, cas("7", "1", "2")),
                fail(2, cas("7", "1", "2")),
                inv(0, put("k", "v w")),
                info(0, put("k", "v w")),
            ],
            lines: (1..=14).collect(),
        },
        Valid {
            // Elle list-append transactions of one micro-op: lists read as the kv
            // workload's space-separated tokens; `nil` and `[]` as absent.
            file: "history-elle.edn",
            format: Format::Edn,
            model: HistoryModel::Kv,
            events: vec![
                inv(0, append("1", " 1")),
                inv(1, get("1")),
                done(0, append("1", " 1")),
                read(1, "1", Some(" 1")),
                inv(0, append("1", " 2")),
                info(0, append("1", " 2")),
                inv(1, get("2")),
                read(1, "2", None),
                inv(1, get("1")),
                read(1, "1", Some(" 1 2")),
                inv(2, append(":x", " a")),
                done(2, append(":x", " a")),
                inv(2, get(":x")),
                read(2, ":x", Some(" a")),
            ],
            lines: (1..=14).collect(),
        },
    ]
}

#[test]
fn real_world_variants_read_as_their_events() {
    for v in valid_files() {
        let text = read_file(v.file);
        let p = parse_kv(&text).unwrap_or_else(|e| panic!("{}: {e}", v.file));
        assert_eq!(p.format, v.format, "{}", v.file);
        let got = events(&p);
        assert_eq!(got.len(), v.events.len(), "{}: {got:#?}", v.file);
        for (i, (g, want)) in got.iter().zip(&v.events).enumerate() {
            assert_eq!(g, want, "{}: event {i}", v.file);
        }
        if !v.lines.is_empty() {
            assert_eq!(p.lines, v.lines, "{}", v.file);
        }
    }
}

#[test]
fn real_world_variants_check_end_to_end() {
    for v in valid_files() {
        let text = read_file(v.file);
        let report = check_history_text(&text, v.model, &opts())
            .unwrap_or_else(|e| panic!("{}: {e}", v.file));
        assert!(
            report.verdict.is_linearizable(),
            "{}: {}",
            v.file,
            report.text
        );
    }
    // The Elle file is also what the Elle reader reads.
    let p = parse_elle_append(&read_file("history-elle.edn")).unwrap();
    assert_eq!(p.history.events.len(), 14);
}

/// Truncated anywhere, a valid file is read or refused, never a panic.
#[test]
fn truncated_files_never_panic() {
    for v in valid_files() {
        let text = read_file(v.file);
        for (cut, _) in text.char_indices() {
            let _ = parse_kv(&text[..cut]);
            let _ = parse_elle_append(&text[..cut]);
        }
    }
}

enum Reader {
    Kv,
    Elle,
}

/// (what, reader, input, expected line, message fragment)
const MALFORMED: &[(&str, Reader, &str, usize, &str)] = &[
    (
        "a map over several lines never closed: where it opened",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n\
         {:process 0,\n :type :ok,\n :f :get\n",
        2,
        "at line 5, column 1: expected `}` to close the map opened at line 2",
    ),
    (
        "a string never closed inside a map",
        Reader::Kv,
        "\n{:process 0,\n :type :invoke,\n :f :put,\n :value \"abc}\n",
        2,
        "a closing `\"` for the string opened at line 5",
    ),
    (
        "a key without a value",
        Reader::Kv,
        "{:process 0 :type :invoke :f}",
        1,
        "column 1: expected an even number of forms in this map",
    ),
    (
        "a stray closing bracket",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :get, :value nil}}",
        1,
        "column 49: expected a value, not the closing `}`",
    ),
    (
        "a bracket closing the wrong collection",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :cas, :value [1 2}}",
        1,
        "expected `]` to close the vector opened at column 45, not `}`",
    ),
    (
        "`#` with no tag",
        Reader::Kv,
        "# {:process 0}",
        1,
        "a tag name such as jepsen.history.Op",
    ),
    (
        "a discard with nothing to discard",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :get, :value nil}\n#_",
        2,
        "a form to discard after `#_`",
    ),
    (
        "a malformed number",
        Reader::Kv,
        "{:process 0x, :type :invoke, :f :get}",
        1,
        "column 11: expected a number",
    ),
    (
        "a vector-wrapped history never closed",
        Reader::Kv,
        "[{:process 0, :type :invoke, :f :get, :value nil}\n {:process 0, :type :ok, :f :get, :value nil}\n",
        1,
        "`]` to close the vector opened at line 1",
    ),
    (
        "an operation map without :f",
        Reader::Kv,
        "{:process 0,\n :type :invoke}",
        1,
        "missing :f",
    ),
    (
        "something other than a map",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :get, :value nil}\n:ok",
        2,
        "found the keyword :ok, expected an operation map",
    ),
    (
        "an independent write of nil",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :write, :value [3 nil]}",
        1,
        "write value is nil; expected a value",
    ),
    (
        "an independent cas without [FROM TO]",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :cas, :value [3 [1]]}",
        1,
        "cas value: found a vector, expected [FROM TO]",
    ),
    (
        "a completion on another key than its invocation",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :read, :value [3 nil]}\n\
         {:process 0, :type :ok, :f :read, :value [4 1]}",
        2,
        "invoked `get 3` at line 1",
    ),
    (
        "an Elle transaction of two micro-ops",
        Reader::Kv,
        "{:process 0, :type :invoke, :f :txn, :value [[:append 1 2] [:r 1 nil]]}",
        1,
        "a transaction of 2 micro-ops: expected a transaction of one micro-op",
    ),
    (
        "an Elle micro-op other than append or read",
        Reader::Elle,
        "{:process 0, :type :invoke, :f :txn, :value [[:w 1 2]]}",
        1,
        "micro-op function the keyword :w: expected :append or :r",
    ),
    (
        "an Elle list element with whitespace",
        Reader::Elle,
        "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n\
         {:process 0, :type :ok, :f :txn, :value [[:r 1 [\"a b\"]]]}",
        2,
        "list element the string \"a b\": expected an integer or a string without whitespace",
    ),
    (
        "an operation that is not a transaction, for the Elle reader",
        Reader::Elle,
        "{:process 0, :type :invoke, :f :read, :value nil}",
        1,
        ":f is :read, expected :txn (an Elle list-append transaction)",
    ),
    (
        "an operation's fields after another logger's name",
        Reader::Kv,
        "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n\
         INFO  jepsen.utl - 0\t:ok\t:read\tnil\n",
        2,
        "an operation's fields without `jepsen.util - ` or `jepsen.util: ` before them",
    ),
    (
        "a log line with three fields",
        Reader::Kv,
        "2016-03-08 19:01:12,394{GMT}\tINFO\t[jepsen worker 0] jepsen.util: 0  :invoke  :read",
        1,
        "found 3 of the 4 fields",
    ),
    (
        "an ok read whose value cannot be read",
        Reader::Kv,
        "INFO  jepsen.util - 0 :invoke :read nil\nINFO  jepsen.util - 0 :ok :read [1",
        2,
        "value \"[1\", column 3: expected `]` to close the vector opened at column 1",
    ),
    (
        "a write of a map",
        Reader::Kv,
        "INFO  jepsen.util - 0 :invoke :write {:a 1}",
        1,
        "write value: found a map, expected an integer, a string or nil",
    ),
    (
        "a log line cut short",
        Reader::Kv,
        "INFO  jepsen.core - Running test\nINFO  jepsen.util - 0\t:invoke\n",
        2,
        "found 2 of the 4 fields",
    ),
    (
        "a log of other loggers only",
        Reader::Kv,
        "INFO  jepsen.core - Running test\nINFO  jepsen.core - Run complete\n",
        1,
        "expected Jepsen log lines",
    ),
    (
        "neither format",
        Reader::Kv,
        "\n\nhello there\n",
        3,
        "expected Jepsen log lines",
    ),
];

#[test]
fn malformed_input_names_its_line_and_what_was_expected() {
    for (what, reader, text, line, fragment) in MALFORMED {
        let result = match reader {
            Reader::Kv => parse_kv(text),
            Reader::Elle => parse_elle_append(text),
        };
        let e: InputError = match result {
            Ok(p) => panic!("{what}: read {} events", p.history.events.len()),
            Err(e) => e,
        };
        assert_eq!(e.line, *line, "{what}: {e}");
        assert!(
            e.message.contains(fragment),
            "{what}: {e}\nshould contain: {fragment}"
        );
    }
}

/// Events compared as the exporters promise to keep them.
fn same_events(a: &History<KvOp>, b: &History<KvOp>, what: &str) {
    assert_eq!(a.events.len(), b.events.len(), "{what}");
    for (i, (x, y)) in a.events.iter().zip(&b.events).enumerate() {
        assert_eq!(
            (x.process, x.kind, &x.op, &x.output, x.time_ns),
            (y.process, y.kind, &y.op, &y.output, y.time_ns),
            "{what}: event {i}"
        );
    }
}

fn register_history(seed: u64) -> History<KvOp> {
    generate_kv(&GenConfig {
        register: true,
        clients: 4,
        keys: 3,
        ops: 150,
        info_percent: 10,
        seed,
    })
}

/// `h` with every key and value renamed to a decimal integer, so the exporters write
/// integer columns.
fn with_integers(h: &History<KvOp>) -> History<KvOp> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut name = |s: &String| -> String {
        let next = names.len().to_string();
        names.entry(s.clone()).or_insert(next).clone()
    };
    let events = h
        .events
        .iter()
        .map(|e| {
            let op = match &e.op {
                KvOp::Get { key } => KvOp::Get { key: name(key) },
                KvOp::Put { key, value } => KvOp::Put {
                    key: name(key),
                    value: name(value),
                },
                KvOp::Cas { key, expected, new } => KvOp::Cas {
                    key: name(key),
                    expected: expected.as_ref().map(&mut name),
                    new: name(new),
                },
                other => other.clone(),
            };
            let output = e.output.as_ref().map(|o| match o {
                KvOutput::Value { value, version } => KvOutput::Value {
                    value: value.as_ref().map(&mut name),
                    version: *version,
                },
                KvOutput::Done => KvOutput::Done,
            });
            Event {
                op,
                output,
                ..e.clone()
            }
        })
        .collect();
    History { events }
}

#[test]
fn independent_tuples_round_trip() {
    for seed in 0..6 {
        for (what, h) in [
            ("strings", register_history(seed)),
            ("integers", with_integers(&register_history(seed))),
        ] {
            let text = to_edn_independent(&h).unwrap();
            let what = format!("seed {seed}, {what}");
            let back = parse_kv(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
            assert_eq!(back.format, Format::Edn);
            same_events(&h, &back.history, &what);
            let report = check_history_text(&text, HistoryModel::CasRegister, &opts()).unwrap();
            assert!(report.verdict.is_linearizable(), "{what}: {}", report.text);
        }
    }
    // Integer columns are written as integers, so Knossos' registers hold numbers.
    let text = to_edn_independent(&with_integers(&register_history(0))).unwrap();
    let first = check::history::edn::parse(text.lines().next().unwrap()).unwrap();
    assert!(
        matches!(first.get("value"), Some(check::history::edn::Edn::Vector(v))
            if matches!(v[0], check::history::edn::Edn::Int(_))),
        "{first:?}"
    );
}

/// A linearizable append workload as the kv workload runs one: each append adds a space
/// and a token unique to it; reads return the appended tokens in order. Each operation
/// takes effect when it completes; some end `info` (applied or not) and their process is
/// retired, as Jepsen's are.
fn append_history(seed: u64, integer_tokens: bool) -> History<KvOp> {
    let mut rng = Rng::new(seed);
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let clients = 3;
    let mut process: Vec<u64> = (0..clients).collect();
    let mut next_process = clients;
    let mut in_flight: Vec<Option<KvOp>> = vec![None; clients as usize];
    let mut events = Vec::new();
    for t in 0..400u64 {
        let c = rng.below(clients) as usize;
        let p = process[c];
        let mut push = |kind, op, output| {
            events.push(Event {
                process: p,
                kind,
                op,
                output,
                time_ns: t,
            })
        };
        match in_flight[c].take() {
            None => {
                let key = rng.below(3).to_string();
                let op = if rng.percent(50) {
                    let token = if integer_tokens {
                        format!("{t}")
                    } else {
                        format!("c{c}-{t}")
                    };
                    append(&key, &format!(" {token}"))
                } else {
                    get(&key)
                };
                push(EventKind::Invoke, op.clone(), None);
                in_flight[c] = Some(op);
            }
            Some(op) => {
                let unknown = rng.percent(10);
                let applies = !unknown || rng.percent(50);
                let output = match &op {
                    KvOp::Append { key, value } => {
                        if applies {
                            state.entry(key.clone()).or_default().push_str(value);
                        }
                        KvOutput::Done
                    }
                    _ => KvOutput::Value {
                        value: state.get(op.key_str()).cloned(),
                        version: None,
                    },
                };
                if unknown {
                    push(EventKind::Info, op, None);
                    process[c] = next_process;
                    next_process += 1;
                } else {
                    push(EventKind::Ok, op, Some(output));
                }
            }
        }
    }
    History { events }
}

#[test]
fn elle_list_append_round_trips() {
    for seed in 0..6 {
        for integer_tokens in [false, true] {
            let h = append_history(seed, integer_tokens);
            let what = format!("seed {seed}, integer tokens {integer_tokens}");
            let text = to_edn_elle_append(&h).unwrap();
            for back in [parse_elle_append(&text), parse_kv(&text)] {
                let back = back.unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
                same_events(&h, &back.history, &what);
            }
            let report = check_history_text(&text, HistoryModel::Kv, &opts()).unwrap();
            assert!(report.verdict.is_linearizable(), "{what}: {}", report.text);
        }
    }
    // Elle's own shape: one micro-op per transaction, integer keys and, when every token
    // is one, integer elements.
    use check::history::edn::{parse, Edn};
    let text = to_edn_elle_append(&append_history(1, true)).unwrap();
    let ok_read = text
        .lines()
        .map(|l| parse(l).unwrap())
        .find(|m| {
            m.get("type") == Some(&Edn::Keyword("ok".into()))
                && matches!(m.get("value"), Some(Edn::Vector(mops))
                    if matches!(&mops[0], Edn::Vector(mop) if mop[0] == Edn::Keyword("r".into())
                        && matches!(&mop[2], Edn::Vector(l) if !l.is_empty())))
        })
        .expect("an ok read of a non-empty list");
    let Some(Edn::Vector(mops)) = ok_read.get("value") else {
        unreachable!()
    };
    let Edn::Vector(mop) = &mops[0] else {
        unreachable!()
    };
    assert_eq!(ok_read.get("f"), Some(&Edn::Keyword("txn".into())));
    assert!(matches!(mop[1], Edn::Int(_)), "{mop:?}");
    assert!(
        matches!(&mop[2], Edn::Vector(l) if l.iter().all(|x| matches!(x, Edn::Int(_)))),
        "{mop:?}"
    );
}
