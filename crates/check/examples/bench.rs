//! Times the history checkers: `cargo run --release --example bench -p check [DIR]`
//! (DIR defaults to the crate's copy of Porcupine's corpus).
use std::path::PathBuf;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/porcupine"));
    print!("{}", check::history::bench_histories(&dir, 5));
}
