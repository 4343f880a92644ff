//! Every history of Porcupine's corpus gets the verdict Porcupine's own tests assert.

use check::history::{check_history_file, HistoryModel as Model, LinOptions, Verdict};
use std::path::Path;
use std::time::Duration;

#[test]
fn porcupine_corpus_verdicts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine");
    let verdicts = std::fs::read_to_string(dir.join("verdicts.txt")).expect("verdicts.txt");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (n, line) in verdicts.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (file, expected) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("verdicts.txt:{}: expected `PATH VERDICT`", n + 1));
        let model = if file.starts_with("etcd/") {
            Model::CasRegister
        } else {
            Model::Kv
        };
        let report = check_history_file(
            &dir.join(file),
            model,
            &LinOptions {
                budget: Duration::from_secs(60),
                ..LinOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let got = match report.verdict {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable(_) => "not-linearizable",
            Verdict::Unknown { .. } => "unknown",
        };
        if got != expected {
            wrong.push(format!("{file}: expected {expected}, got {got}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 54, "every corpus file has a verdict");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
