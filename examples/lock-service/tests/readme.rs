//! The workspace README shows this crate's code as what a user writes; every excerpt
//! there must be in the file it names, so the README cannot drift from code CI builds.
//!
//! An excerpt is a fenced block whose first line names a file of this crate
//! (`// examples/lock-service/src/ops.rs`, or `#` for TOML); a line `// ...` elides code
//! between two parts, which must appear in the file in that order.

use std::path::Path;

/// (file named, parts of the excerpt) for each excerpt of `readme`.
fn excerpts(readme: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("```") {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let Some(first) = block.first() else { continue };
        let named = first
            .strip_prefix("// ")
            .or_else(|| first.strip_prefix("# "))
            .and_then(|f| f.strip_prefix("examples/lock-service/"));
        let Some(file) = named else { continue };
        let parts = block[1..]
            .split(|l| l.trim() == "// ...")
            .map(|p| p.join("\n"))
            .collect();
        out.push((file.to_string(), parts));
    }
    out
}

#[test]
fn the_readme_excerpts_are_this_crate_s_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("../../README.md")).expect("README.md");
    let found = excerpts(&readme);
    assert!(
        found.len() >= 5,
        "the README shows {} excerpts",
        found.len()
    );
    for (file, parts) in found {
        let text = std::fs::read_to_string(root.join(&file))
            .unwrap_or_else(|e| panic!("README names {file}: {e}"));
        let mut from = 0;
        for part in parts {
            match text[from..].find(&part) {
                Some(at) => from += at + part.len(),
                None => panic!("README's excerpt of {file} is not in it (in order):\n{part}"),
            }
        }
    }
}

#[test]
fn an_excerpt_that_drifted_is_found() {
    let readme =
        "```rust\n// examples/lock-service/src/lib.rs\npub mod node;\n// ...\npub mod gone;\n```\n";
    let found = excerpts(readme);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, ["pub mod node;", "pub mod gone;"]);
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs");
    assert!(lib.contains(&found[0].1[0]) && !lib.contains(&found[0].1[1]));
}
