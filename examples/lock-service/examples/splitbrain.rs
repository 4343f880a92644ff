//! The splitbrain command line over the lock service: what a user's few-line `main`
//! gets (`run`, `replay`, the matrix, and real mode). Try
//! `cargo run -p lock-service --example splitbrain -- run sim-scenarios/stale-lease.toml`,
//! or for real: `... -- real sim-scenarios/two-replicas-recover.toml --system lease-lock`.

fn main() -> std::process::ExitCode {
    splitbrain::cli::Cli::new(lock_service::registry())
        .real(lock_service::real_systems())
        .scenarios(concat!(env!("CARGO_MANIFEST_DIR"), "/sim-scenarios"))
        .main()
}
