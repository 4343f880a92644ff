//! The CLI entry point: exit codes, and bad input reported as `file:line: expected ...`.

use check::history::{check_history_file, exit_code, HistoryModel as Model, LinOptions};
use std::path::PathBuf;
use std::time::Duration;

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn opts() -> LinOptions {
    LinOptions {
        budget: Duration::from_secs(10),
        ..LinOptions::default()
    }
}

#[test]
fn exit_codes() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine");
    let ok = check_history_file(
        &corpus.join("etcd/etcd_002.log"),
        Model::CasRegister,
        &opts(),
    );
    assert_eq!(exit_code(&ok), 0);
    let bad = check_history_file(&corpus.join("kv/c01-bad.txt"), Model::Kv, &opts());
    assert_eq!(exit_code(&bad), 1);
    assert!(bad.unwrap().text.contains("Cannot place next"));
    let missing = check_history_file(&corpus.join("nope.txt"), Model::Kv, &opts());
    assert_eq!(exit_code(&missing), 2);
    assert!(missing
        .unwrap_err()
        .to_string()
        .contains("nope.txt: cannot read"));
}

#[test]
fn bad_input_names_file_and_line() {
    let p = temp(
        "busy.edn",
        "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n\
         \n\
         {:process 0, :type :invoke, :f :get, :key \"b\", :value nil}\n",
    );
    let r = check_history_file(&p, Model::Kv, &opts());
    assert_eq!(exit_code(&r), 2);
    let msg = r.unwrap_err().to_string();
    assert!(
        msg.ends_with(
            "busy.edn:3: process 0 invokes `get b` while its `get a` from line 1 is still in \
             flight; expected a completion (:ok, :fail or :info) first"
        ),
        "{msg}"
    );
    let p = temp(
        "model.edn",
        "{:process 0, :type :invoke, :f :append, :key \"a\", :value \"x\"}\n",
    );
    let msg = check_history_file(&p, Model::CasRegister, &opts())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("model.edn:1: `append a+=x` is not an operation of the cas-register model"),
        "{msg}"
    );
}

#[test]
fn unknown_within_budget() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine");
    // A zero budget either decides before the first clock read or says unknown; it never
    // says valid for a history that is not.
    for f in ["etcd/etcd_000.log", "etcd/etcd_002.log"] {
        let zero = LinOptions {
            budget: Duration::ZERO,
            ..LinOptions::default()
        };
        let r = check_history_file(&corpus.join(f), Model::CasRegister, &zero).unwrap();
        assert!(matches!(r.exit_code(), 0 | 1 | 3));
        if f.ends_with("000.log") {
            assert_ne!(r.exit_code(), 0);
        }
    }
}
