//! Architecture invariants that can be checked mechanically (ARCHITECTURE.md):
//! the pure crates never depend on madsim, tokio or the wall clock, and the dependency
//! graph points one way.

use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crates that must stay pure, and the one place each may touch the wall clock.
const PURE: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("systems", &[]),
    ("scenario", &[]),
    // The linearizability search budget: the only clock read, and it can only yield
    // `unknown`; its examples and benches time the checker on purpose.
    (
        "check",
        &[
            "src/history/linearizable.rs",
            "src/history/bench.rs",
            "examples/",
        ],
    ),
];

#[test]
fn pure_crates_never_depend_on_the_runtime_or_the_wall_clock() {
    let mut offences = Vec::new();
    for (krate, clock_allowed) in PURE {
        let root = crates_dir().join(krate);
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("manifest");
        for dep in ["madsim", "tokio", "sim."] {
            if manifest.lines().any(|l| l.trim_start().starts_with(dep)) {
                offences.push(format!("{krate}/Cargo.toml depends on {dep}"));
            }
        }
        let mut files = Vec::new();
        for sub in ["src", "examples", "benches"] {
            if root.join(sub).is_dir() {
                rust_files(&root.join(sub), &mut files);
            }
        }
        for f in files {
            let rel = f
                .strip_prefix(&root)
                .expect("under the crate")
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&f).expect("source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let clock = code.contains("Instant::now") || code.contains("SystemTime");
                if ["madsim::", "tokio::", "use madsim", "use tokio"]
                    .iter()
                    .any(|p| code.contains(p))
                {
                    offences.push(format!("{krate}/{rel}:{}: {}", n + 1, line.trim()));
                }
                if clock && !clock_allowed.iter().any(|a| rel.starts_with(a)) {
                    offences.push(format!(
                        "{krate}/{rel}:{}: wall clock: {}",
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "architecture invariants broken:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scanner_sees_real_sources() {
    let mut files = Vec::new();
    rust_files(&crates_dir().join("systems"), &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("raft/mod.rs")),
        "the walk must reach nested modules"
    );
}
