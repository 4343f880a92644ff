//! The command line as a user meets it: exit codes and the messages that go with them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn splitbrain(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn run_one_seed_as_expected_exits_0() {
    let (code, out, _) = splitbrain(&[
        "run",
        "sim-scenarios/master-crash.toml",
        "--system",
        "raft",
        "--seed",
        "3",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[raft] seeds 3..=3: pass"), "{out}");
}

#[test]
fn run_over_several_seeds_says_how_often_each_invariant_breaks() {
    let (code, out, _) = splitbrain(&[
        "run",
        "sim-scenarios/master-crash.toml",
        "--system",
        "bully",
        "--seeds",
        "2",
    ]);
    assert_eq!(code, 0, "{out}");
    let (_, how_often) = out
        .split_once("how often, over seeds 1..=2:\n")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        how_often.starts_with("[bully] at 10 default seeds: expect ")
            && how_often.contains("election-safety 2 of 2"),
        "{how_often}"
    );
}

#[test]
fn replay_prints_events_and_digest() {
    let (code, out, _) = splitbrain(&[
        "replay",
        "sim-scenarios/master-crash.toml",
        "--system",
        "raft",
        "--seed",
        "2",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("crash n"), "the log shows the fault");
    assert!(out.contains(" -> n"), "the log shows deliveries");
    let digest = out
        .lines()
        .find(|l| l.starts_with("digest: "))
        .expect("a digest line");
    let (_, again, _) = splitbrain(&[
        "replay",
        "sim-scenarios/master-crash.toml",
        "--system",
        "raft",
        "--seed",
        "2",
    ]);
    assert!(
        again.contains(digest),
        "the same seed replays to the same digest"
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let (code, _, err) = splitbrain(&["run", "no/such/file.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.toml: cannot read"), "{err}");

    let (code, _, err) = splitbrain(&["run", "sim-scenarios/master-crash.toml", "--system", "zab"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown system \"zab\"; known systems: raft"),
        "{err}"
    );

    let (code, _, err) = splitbrain(&["check-history", "Cargo.toml", "--model", "kv"]);
    assert_eq!(code, 2);
    assert!(err.contains("Cargo.toml:1: "), "{err}");
    assert!(err.contains("expected an operation map"), "{err}");

    let (code, _, err) = splitbrain(&["check-history", "Cargo.toml", "--model", "paxos"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown model"), "{err}");
}

#[test]
fn check_history_exit_codes_follow_the_verdict() {
    let corpus = "crates/check/testdata/porcupine";
    let (code, out, _) = splitbrain(&[
        "check-history",
        &format!("{corpus}/etcd/etcd_002.log"),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = splitbrain(&[
        "check-history",
        &format!("{corpus}/etcd/etcd_000.log"),
        "--model",
        "cas-register",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("Longest linearizable prefix"), "{out}");
}

#[test]
fn check_history_takes_its_bounds_from_flags() {
    let file = "crates/check/testdata/porcupine/kv/c10-bad.txt";
    // Every key asked for: more than one fails in this history.
    let (code, all, _) = splitbrain(&["check-history", file, "--model", "kv", "--all-keys"]);
    assert_eq!(code, 1, "{all}");
    let (code, first, _) = splitbrain(&["check-history", file, "--model", "kv", "--jobs", "2"]);
    assert_eq!(code, 1, "{first}");
    let failing = |out: &str| out.matches("is not linearizable").count();
    assert_eq!(failing(&first), 1, "{first}");
    assert!(failing(&all) > 1, "{all}");
    // A memory bound no search fits in: unknown, exit 3, naming the bound.
    let (code, out, _) =
        splitbrain(&["check-history", file, "--model", "kv", "--max-memory", "1K"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("memory bound reached"), "{out}");
    let (code, _, err) = splitbrain(&[
        "check-history",
        file,
        "--model",
        "kv",
        "--max-memory",
        "lots",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("expected bytes, or a number with K, M or G"),
        "{err}"
    );
}

#[test]
fn replay_writes_the_history_in_the_edn_form_asked_for() {
    let out = std::env::temp_dir().join(format!("splitbrain-cli-{}.edn", std::process::id()));
    let out_s = out.to_string_lossy().into_owned();
    // A get/put workload: Knossos' independent tuples, read back by check-history.
    let replay = |scenario: &str, form: &str| {
        splitbrain(&[
            "replay",
            scenario,
            "--system",
            "raft",
            "--seed",
            "1",
            "--edn",
            &out_s,
            "--edn-form",
            form,
        ])
    };
    let (code, stdout, err) = replay("sim-scenarios/quorum-read-repair.toml", "independent");
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("independent form"), "{stdout}");
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(
        text.contains(":value [\"k"),
        "{}",
        &text[..200.min(text.len())]
    );
    let (code, checked, _) = splitbrain(&["check-history", &out_s, "--model", "cas-register"]);
    assert_eq!(code, 0, "{checked}");
    // Appends are no register operations: refused, with what would do.
    let (code, _, err) = replay("sim-scenarios/master-crash.toml", "independent");
    assert_eq!(code, 2);
    assert!(err.contains("not a register operation"), "{err}");
    let _ = std::fs::remove_file(&out);
}

#[test]
fn a_hunt_exits_0_when_nothing_is_found_1_when_something_is_2_on_bad_input() {
    let (code, out, _) = splitbrain(&["hunt", "--system", "raft", "--seeds", "4", "--jobs", "2"]);
    assert_eq!(code, 0, "{out}");
    let (code, out, _) = splitbrain(&["hunt", "--system", "bully", "--seeds", "20", "--json"]);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let summary = lines.last().expect("a summary line");
    assert!(
        summary.starts_with("{\"type\":\"summary\",\"system\":\"bully\",\"runs\":20,"),
        "{summary}"
    );
    let findings = lines
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"finding\""))
        .count();
    assert!(findings > 0 && findings == lines.len() - 1, "{out}");
    // A hunt for a wall time runs a prefix of the seeds (how many depends on the machine).
    let (code, out, _) = splitbrain(&["hunt", "--system", "raft", "--time", "1s", "--json"]);
    assert_eq!(code, 0, "{out}");
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("{\"type\":\"summary\",\"system\":\"raft\",\"runs\":")
            && !summary.contains("\"runs\":0,"),
        "{summary}"
    );
    for bad in [
        &["hunt", "--system", "no-such-system"][..],
        &["hunt", "--system", "raft", "--time", "soon"],
        &["hunt", "--system", "raft", "--shard", "3/2"],
        &["hunt", "--system", "raft", "--param", "mutation=bogus"],
    ] {
        let (code, _, err) = splitbrain(bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}

#[test]
fn the_default_command_ends_with_one_summary_line() {
    let (code, out, _) = splitbrain(&[]);
    assert_eq!(code, 0, "{out}");
    let last = out.lines().last().unwrap_or_default();
    let words: Vec<&str> = last.split(' ').collect();
    assert!(
        matches!(
            words.as_slice(),
            [_, "scenarios,", _, "systems,", _, "runs,", "0", "surprises"]
        ),
        "{last}"
    );
}

#[test]
fn a_hunt_writes_one_report_per_distinct_failure() {
    let dir = std::env::temp_dir().join(format!("splitbrain-hunt-reports-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, out, err) = splitbrain(&[
        "hunt",
        "--system",
        "bully",
        "--seeds",
        "20",
        "--html",
        dir.to_str().expect("a utf-8 path"),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    let signatures = out.lines().filter(|l| l.contains(" seeds, first ")).count();
    let written: Vec<_> = std::fs::read_dir(&dir)
        .expect("the folder was made")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "html"))
        .collect();
    assert!(signatures > 0);
    assert_eq!(written.len(), signatures, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
