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

# The same seed as one HTML page: just report sim-scenarios/master-crash.toml bully 1
report FILE SYSTEM SEED:
    cargo run --release -- replay {{FILE}} --system {{SYSTEM}} --seed {{SEED}} --html {{SYSTEM}}-{{SEED}}.html

# Swarm seeds in parallel, a report per distinct failure: just hunt bully 1000
hunt SYSTEM SEEDS="1000":
    cargo run --release -- hunt --system {{SYSTEM}} --seeds {{SEEDS}} --jobs 2 --html hunt-{{SYSTEM}}

# The planted raft bugs, hunted: within how many seeds each is caught.
mutations SEEDS="2000":
    scripts/mutation-score.sh {{SEEDS}} 2

# The browser test (needs Chromium: apt-get install chromium).
browser:
    cargo test -p splitbrain-cli --test browser -- --ignored

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
    git status --short snapshots/ examples/*/snapshots/

# Simulation speed on the standard workload.
bench:
    cargo run --release -- bench
