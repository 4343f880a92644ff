# Thin recipes over cargo; every one is a plain cargo command you can type yourself.

# The whole suite: unit tests, scenario verdicts, snapshots, determinism.
test:
    cargo test

# Every scenario, every system, default seeds: the verdict matrix.
sweep:
    cargo run --release

# One scenario over its seeds: just run sim-scenarios/master-crash.toml --system raft
run FILE *ARGS:
    cargo run --release -- run {{FILE}} {{ARGS}}

# A readable event log of one seed: just replay sim-scenarios/master-crash.toml raft 7
replay FILE SYSTEM SEED:
    cargo run --release -- replay {{FILE}} --system {{SYSTEM}} --seed {{SEED}}

# Format, lint, test: what CI runs.
verify:
    bash .ci/run

# Apply formatting and clippy's machine-applicable fixes.
fix:
    cargo fmt --all
    cargo clippy --all-targets --fix --allow-dirty

# Re-record snapshots after a deliberate change; read every diff before committing.
snap:
    INSTA_UPDATE=always cargo test -p splitbrain-cli --test scenarios
    INSTA_UPDATE=always cargo test -p lock-service --test scenarios
    git diff --stat snapshots/ examples/*/snapshots/

# Simulation speed on the standard workload.
bench:
    cargo run --release -- bench
