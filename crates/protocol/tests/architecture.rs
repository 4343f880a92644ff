//! Architecture invariants that can be checked mechanically (ARCHITECTURE.md):
//! the pure crates never depend on madsim, tokio or the wall clock, the dependency graph
//! points one way, and the harness names no system.

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
            "src/history/linearizable/mod.rs",
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

/// The workspace's crates and the only workspace crates each may depend on: dependencies
/// point one way, and the harness (`sim`, and the umbrella over it) never reaches the
/// built-in systems, which register through the public API like a user's.
const GRAPH: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("check", &["protocol"]),
    ("scenario", &["protocol"]),
    ("systems", &["protocol", "check"]),
    ("sim", &["protocol", "check", "scenario"]),
    // Real mode's driver knows only the node contract: no madsim, no harness.
    ("real", &["protocol"]),
    (
        "splitbrain",
        &["protocol", "check", "scenario", "sim", "real"],
    ),
    (
        "cli",
        &["splitbrain", "systems", "check", "scenario", "real"],
    ),
];

/// Workspace crates named in a manifest's dependency tables, dev-dependencies included.
fn workspace_deps(manifest: &str) -> Vec<String> {
    let crates: Vec<&str> = GRAPH.iter().map(|(c, _)| *c).collect();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line.contains("dependencies");
            continue;
        }
        let Some((name, _)) = line.split_once(['.', '=', ' ']) else {
            continue;
        };
        if in_deps && crates.contains(&name) {
            deps.push(name.to_string());
        }
    }
    deps
}

#[test]
fn dependencies_point_one_way_and_the_harness_never_reaches_the_systems() {
    let mut offences = Vec::new();
    for (krate, allowed) in GRAPH {
        let path = crates_dir().join(krate).join("Cargo.toml");
        let manifest =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for dep in workspace_deps(&manifest) {
            if !allowed.contains(&dep.as_str()) {
                offences.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

/// The built-in systems' names, which the harness must learn from the systems.
const SYSTEM_NAMES: &[&str] = &[
    "raft",
    "bully",
    "quorum-kv",
    "term-bully",
    "fragment-failover",
];

#[test]
fn the_harness_names_no_system() {
    let mut offences = Vec::new();
    for krate in ["sim", "splitbrain", "scenario", "check"] {
        let mut files = Vec::new();
        rust_files(&crates_dir().join(krate).join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("source");
            // Unit tests may name what they test; code may not.
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            for (n, line) in code.lines().enumerate() {
                let line = line.split("//").next().unwrap_or("");
                for name in SYSTEM_NAMES {
                    if line.contains(&format!("\"{name}\"")) {
                        offences.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                    }
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "a system named in harness code:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_graph_check_reads_real_manifests() {
    let cli = std::fs::read_to_string(crates_dir().join("cli/Cargo.toml")).expect("manifest");
    let deps = workspace_deps(&cli);
    assert!(deps.contains(&"systems".to_string()) && deps.contains(&"splitbrain".to_string()));
}
