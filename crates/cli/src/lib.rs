//! The built-in systems, registered through the same public API a user has: the five
//! seed designs' ports and the reference raft, and the standard workload `bench`
//! measures (raft's).

use splitbrain::bench::Standard;
use splitbrain::Registry;

/// Every built-in system, in the order matrices list them.
pub fn builtins() -> Registry {
    Registry::new()
        .with::<systems::raft::Raft>()
        .with::<systems::bully::Bully>()
        .with::<systems::quorum_kv::QuorumKv>()
        .with::<systems::term_bully::TermBully>()
        .with::<systems::fragment_failover::FragmentFailover>()
}

/// The built-in systems real mode runs (`node`, `cluster`, `load`, `real`): all of them,
/// since their messages, records, operations and states derive serde.
pub fn real_builtins() -> splitbrain::live::Systems {
    splitbrain::live::Systems::new()
        .with::<systems::raft::Raft>()
        .with::<systems::bully::Bully>()
        .with::<systems::quorum_kv::QuorumKv>()
        .with::<systems::term_bully::TermBully>()
        .with::<systems::fragment_failover::FragmentFailover>()
}

/// The standard workload: 3-node raft, 60 s simulated, 3 clients at 50 ops/s in total,
/// 50 ms heartbeat, 1-10 ms latency, no faults.
pub const STANDARD: &str = r#"
description = "bench: the standard workload"
systems = ["raft"]
nodes = {nodes}
duration = "60s"
quiesce = "1s"
seeds = 1
[network]
latency = ["1ms", "10ms"]
[workload]
clients = 3
rate = 50
keys = 5
[params.raft]
heartbeat_ms = 50
[expect]
raft = "pass"
"#;

/// What `bench` measures for the built-ins.
pub fn standard() -> Standard {
    Standard {
        title: "{nodes}-node raft, 60 s simulated, 3 clients at 50 ops/s, 50 ms heartbeat, 1-10 ms latency"
            .to_string(),
        system: "raft".to_string(),
        scenario: STANDARD.to_string(),
    }
}
