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
