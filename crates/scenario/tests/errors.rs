//! Data-driven: each malformed scenario must fail with the right line, field and a
//! message saying what was expected; never a panic.

use protocol::InvariantId;
use scenario::{Catalog, SystemInfo};
use std::path::Path;

/// Two systems as they describe themselves: one serving kv operations, one a set, with
/// an invariant of its own.
fn catalog() -> Catalog {
    let builtin = InvariantId::BUILTIN.to_vec();
    let mut own = builtin.clone();
    own.push(InvariantId("two-holders"));
    Catalog::new(vec![
        SystemInfo {
            name: "raft",
            workload: "kv",
            ops: &["get", "put", "delete", "append", "cas"],
            invariants: builtin,
        },
        SystemInfo {
            name: "bully",
            workload: "set",
            ops: &["add", "read"],
            invariants: own,
        },
    ])
}

const GOOD: &str = r#"description = "ok"
systems = ["raft"]
nodes = 3
duration = "10s"
[workload]
clients = 1
rate = 10
[[timeline]]
at = "5s"
do = "crash"
target = "leader"
[expect]
raft = "pass"
"#;

/// (what to replace in GOOD, with what, expected line, expected field, message fragment)
const CASES: &[(&str, &str, usize, &str, &str)] = &[
    (
        "do = \"crash\"",
        "on = \"vote\"\ndo = \"crash\"",
        10,
        "timeline[0].on",
        "unknown event \"vote\"; expected one of role, send",
    ),
    (
        "do = \"crash\"",
        "message = \"Append\"\ndo = \"crash\"",
        10,
        "timeline[0].message",
        "`message` describes a trigger: expected `on` too",
    ),
    (
        "do = \"crash\"",
        "on = \"send\"\nrole = \"leader\"\ndo = \"crash\"",
        11,
        "timeline[0].role",
        "`role` is for `on = \"role\"`",
    ),
    (
        "do = \"crash\"",
        "on = \"role\"\ndo = \"crash\"",
        8,
        "timeline[0].role",
        "`on = \"role\"` needs `role`",
    ),
    (
        "do = \"crash\"",
        "on = \"role\"\nrole = \"king\"\ndo = \"crash\"",
        11,
        "timeline[0].role",
        "expected leader, candidate or follower",
    ),
    (
        "do = \"crash\"",
        "on = \"reply\"\ncount = 0\ndo = \"crash\"",
        11,
        "timeline[0].count",
        "expected a count of 1 or more",
    ),
    (
        "target = \"leader\"",
        "target = \"trigger\"",
        8,
        "timeline[0].target",
        "expected `on` too",
    ),
    (
        "do = \"crash\"",
        "on = \"persist\"\nevery = \"1s\"\ntimes = 2\ndo = \"crash\"",
        8,
        "timeline[0].every",
        "a triggered fault fires once",
    ),
    (
        "do = \"crash\"",
        "on = \"sync\"\nnode = \"trigger\"\ndo = \"crash\"",
        11,
        "timeline[0].node",
        "expected whose events count",
    ),
    (
        "nodes = 3",
        "nodes = 3\ncolour = 1",
        4,
        "colour",
        "unknown field `colour`",
    ),
    ("nodes = 3", "nodes = \"three\"", 3, "nodes", "invalid type"),
    (
        "nodes = 3",
        "nodes = 0",
        3,
        "nodes",
        "expected 1 to 9 nodes",
    ),
    (
        "duration = \"10s\"",
        "duration = \"10 seconds\"",
        4,
        "duration",
        "expected a duration",
    ),
    (
        "systems = [\"raft\"]",
        "systems = [\"paxos\"]",
        2,
        "systems",
        "known systems: raft, bully",
    ),
    (
        "raft = \"pass\"",
        "raft = \"fine\"",
        13,
        "expect.raft",
        "expected \"pass\" or invariant names",
    ),
    (
        "raft = \"pass\"",
        "bully = \"pass\"",
        12,
        "expect",
        "no expected verdict for system \"raft\"",
    ),
    (
        "raft = \"pass\"",
        "raft = \"pass\"\n[sometimes]\nraft = [\"eventual-progress\"]",
        15,
        "sometimes.raft",
        "expected \"pass\" or invariant names",
    ),
    (
        "raft = \"pass\"",
        "raft = [\"durability\"]\n[sometimes]\nraft = [\"convergence\", \"durability\"]",
        15,
        "sometimes.raft",
        "either always (in [expect]) or sometimes, not both",
    ),
    (
        "raft = \"pass\"",
        "raft = \"pass\"\n[sometimes]\npaxos = [\"durability\"]",
        15,
        "sometimes.paxos",
        "known systems: raft, bully",
    ),
    (
        "target = \"leader\"",
        "target = \"captain\"",
        11,
        "timeline[0].target",
        "expected leader, followers",
    ),
    (
        "target = \"leader\"",
        "target = \"n7\"",
        11,
        "timeline[0].target",
        "between n1 and n3",
    ),
    (
        "do = \"crash\"",
        "do = \"explode\"",
        10,
        "timeline[0].do",
        "unknown action \"explode\"",
    ),
    (
        "at = \"5s\"",
        "at = \"50s\"",
        9,
        "timeline[0].at",
        "within the scenario's duration",
    ),
    (
        "at = \"5s\"",
        "at = \"5s\"\nevery = \"1s\"",
        8,
        "timeline[0].times",
        "`every` needs `times`",
    ),
    (
        "rate = 10",
        "rate = 0",
        7,
        "workload.rate",
        "expected operations per second",
    ),
    (
        "[workload]",
        "[network]\nloss = 1.5\n[workload]",
        6,
        "network.loss",
        "probability between 0 and 1",
    ),
    (
        "[workload]",
        "[network]\nlatency = [\"0ms\", \"5ms\"]\n[workload]",
        6,
        "network.latency",
        "1ms <= min <= max",
    ),
    (
        "[workload]",
        "[params.nosuch]\nx = 1\n[workload]",
        5,
        "params",
        "unknown system \"nosuch\"",
    ),
    (
        "rate = 10",
        "rate = 10\nmix = { get = 1, acquire = 2 }",
        8,
        "workload.mix",
        "unknown operation \"acquire\"; expected operations of the systems here: get, put",
    ),
    (
        "rate = 10",
        "rate = 10\nkind = \"set\"",
        8,
        "workload.kind",
        "raft serves kv, not \"set\"",
    ),
    (
        "raft = \"pass\"",
        "raft = \"two-holders\"",
        13,
        "expect.raft",
        "expected \"pass\" or invariant names from: election-safety,",
    ),
];

#[test]
fn the_good_file_parses() {
    let sc = scenario::parse_str(GOOD, Path::new("good.toml"), &catalog()).expect("valid");
    assert_eq!(sc.name, "good");
    assert_eq!(sc.timeline.len(), 1);
    assert_eq!(sc.timeline[0].line, 8);
}

#[test]
fn malformed_files_name_line_field_and_expectation() {
    let mut failures = Vec::new();
    for (from, to, line, field, fragment) in CASES {
        assert!(GOOD.contains(from), "case {from:?} does not apply to GOOD");
        let text = GOOD.replacen(from, to, 1);
        match scenario::parse_str(&text, Path::new("bad.toml"), &catalog()) {
            Ok(_) => failures.push(format!("{to:?}: parsed without error")),
            Err(e) => {
                let shown = e.to_string();
                if e.line != *line
                    || e.field != *field
                    || !e.message.contains(fragment)
                    || !shown.starts_with("bad.toml:")
                {
                    failures.push(format!(
                        "{to:?}: got line {} field {:?}: {shown}",
                        e.line, e.field
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_system_s_own_invariant_and_operations_are_names_a_file_may_use() {
    let text = GOOD
        .replace("[\"raft\"]", "[\"bully\"]")
        .replace("rate = 10", "rate = 10\nmix = { add = 1 }\nkind = \"set\"")
        .replace("raft = \"pass\"", "bully = [\"two-holders\", \"set\"]");
    let sc = scenario::parse_str(&text, Path::new("own.toml"), &catalog()).expect("valid");
    let expected: std::collections::BTreeSet<InvariantId> =
        [InvariantId("two-holders"), InvariantId::SET].into();
    assert_eq!(sc.expect["bully"], scenario::Expect::Violates(expected));
    assert_eq!(sc.workload.kind.as_deref(), Some("set"));
    assert_eq!(sc.workload.spec().mix["add"], 1);
}
