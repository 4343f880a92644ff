//! `splitbrain`: the built-in systems on the library's command line (see
//! `splitbrain::cli` for the commands and exit codes).

use std::path::Path;
use std::process::ExitCode;

/// Allocation-heavy simulations run markedly faster on mimalloc than on glibc's malloc.
/// No run depends on addresses, so the allocator changes speed only, never a result.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v3 (`mi_option_e` in its `mimalloc.h`, which
/// libmimalloc-sys 0.1.49, pinned by Cargo.lock, builds but does not name). Check the enum
/// when that crate is upgraded.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to hand freed pages back to the OS. Each run frees its cluster and
/// the next run allocates it again; with purging on, every such page came back through a
/// page fault that zeroed a 2 MiB huge page: ~2,200 faults and a tenth of the bench's wall
/// time (`perf stat -e page-faults`), against ~210 with purging off. Peak memory is the
/// same; the process keeps what it already had at its peak.
fn keep_freed_pages() {
    // SAFETY: sets a plain integer option; called first thing in `main`, before any other
    // thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// `sim-scenarios` beside the workspace, so `cargo run` works from any directory inside it.
fn default_dir() -> std::path::PathBuf {
    let here = Path::new("sim-scenarios");
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios")
}

fn main() -> ExitCode {
    keep_freed_pages();
    splitbrain::cli::Cli::new(splitbrain_cli::builtins())
        .real(splitbrain_cli::real_builtins())
        .scenarios(default_dir())
        .bench(splitbrain_cli::standard())
        .main()
}
