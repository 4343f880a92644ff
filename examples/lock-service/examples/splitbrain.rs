//! The splitbrain command line over the lock service: what a user's five-line `main`
//! gets (`run`, `replay`, the matrix). Try
//! `cargo run -p lock-service --example splitbrain -- run sim-scenarios/stale-lease.toml`.

fn main() -> std::process::ExitCode {
    splitbrain::cli::Cli::new(lock_service::registry())
        .scenarios(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios"))
        .main()
}
