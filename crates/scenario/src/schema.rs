//! A validated scenario. Everything here has been checked by [`crate::parse`]; the harness
//! trusts it.

use crate::selector::Selector;
use core::time::Duration;
use protocol::{InvariantId, Params, WorkloadSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file stem: `master-crash` for `sim-scenarios/master-crash.toml`.
    pub name: String,
    pub path: PathBuf,
    pub description: String,
    /// Systems this scenario applies to, in file order.
    pub systems: Vec<String>,
    pub nodes: u32,
    /// How long clients and faults run.
    pub duration: Duration,
    /// With a liveness phase: after `duration` (the faults), everything is healed,
    /// restarted and resumed while clients keep going this long, and the system must
    /// serve again. Every operation invoked in the phase's second half (the first is the
    /// system's to recover in) must be served: `ok`, or a compare that did not match.
    pub liveness: Option<Duration>,
    /// After `duration` (and the liveness phase): faults are healed, crashed nodes
    /// restarted, clients stopped, and the cluster runs this long before final states are
    /// judged.
    pub quiesce: Duration,
    pub seeds: u64,
    /// The default seeds are `first_seed..first_seed + seeds` (1 unless the file says:
    /// an exported swarm run names the one seed it was found with).
    pub first_seed: u64,
    /// The seed whose timeline the snapshot shows.
    pub pinned_seed: u64,
    pub network: Network,
    pub clock: Clock,
    pub disk: Disk,
    pub workload: Workload,
    pub timeline: Vec<Fault>,
    pub expect: BTreeMap<String, Expect>,
    /// Per system, invariants that only a small share of seeds violate, so the default
    /// seeds may or may not show them (`[sometimes]` in the file). A verdict is as
    /// expected when it has every expected violation and nothing outside the expected and
    /// these: a rare finding neither fails the suite when the seeds miss it nor when a
    /// harness change lets them hit it.
    pub sometimes: BTreeMap<String, BTreeSet<InvariantId>>,
    /// Per-system parameters, passed to the system's `Node::config`.
    pub params: BTreeMap<String, Params>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// One-way delay, drawn per packet. madsim's timers have a 1 ms floor, so does this.
    pub latency_min: Duration,
    pub latency_max: Duration,
    pub distribution: Distribution,
    /// Probability a node-to-node packet is dropped.
    pub loss: f64,
    /// Probability a packet is delivered twice (the copy with its own delay).
    pub duplicate: f64,
    /// Probability a packet is held back by up to another `latency_max`, overtaking order.
    pub reorder: f64,
    /// Whether a partition also drops packets already in flight on the cut links.
    pub partition_kills_in_flight: bool,
}

impl Default for Network {
    fn default() -> Network {
        Network {
            latency_min: Duration::from_millis(1),
            latency_max: Duration::from_millis(10),
            distribution: Distribution::Uniform,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            partition_kills_in_flight: true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    Uniform,
    /// `latency_min` plus an exponential tail with mean (max - min) / 4, capped at max.
    Exponential,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Clock {
    /// Each node's clock starts offset by up to this much either way.
    pub max_offset: Duration,
    /// Each node's clock runs fast or slow by up to this many parts per million.
    pub max_drift_ppm: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Disk {
    /// On a crash, a random prefix of the unsynced writes survives instead of none.
    pub torn_writes: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// The workload every system of the scenario must serve by that name (`kv`, `set`);
    /// `None`: each runs its native one.
    pub kind: Option<String>,
    pub clients: u32,
    /// Total operations per simulated second, over all clients.
    pub rate_per_s: f64,
    /// Relative weights by operation name (`get`, `add`, ...); a system runs the ones
    /// its workload serves, or its default mix if it serves none of them.
    pub mix: BTreeMap<String, u32>,
    pub keys: u32,
    /// A client gives up on an operation after this long and records it as `info`.
    pub timeout: Duration,
    /// How many `NotLeader` redirects one operation may follow before it fails.
    pub max_redirects: u32,
}

impl Workload {
    /// What a system's workload is built from.
    pub fn spec(&self) -> WorkloadSpec {
        WorkloadSpec {
            clients: self.clients,
            keys: self.keys,
            mix: self.mix.clone(),
        }
    }
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            kind: None,
            clients: 3,
            rate_per_s: 50.0,
            mix: BTreeMap::new(),
            keys: 5,
            timeout: Duration::from_secs(1),
            max_redirects: 3,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub at: Duration,
    pub action: Action,
    /// Repeat every this long, `times` times in all (a flapping partition).
    pub every: Option<Duration>,
    pub times: u32,
    /// Line in the file, for messages about this fault.
    pub line: usize,
    /// Fire on a protocol event instead of at `at` (then `at` is when it is armed).
    pub on: Option<Trigger>,
}

/// A protocol event that fires a fault, as the harness sees it: the fault is done right
/// after the `count`-th matching event since `at`, before the node's next effect (so a
/// crash on a reply drops the sends the same handler emitted after it). It fires once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub event: ProtocolEvent,
    /// Whose events count: `leader` and `followers` are judged at each event, other
    /// selectors once, when the trigger is armed.
    pub node: Selector,
    pub count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolEvent {
    /// The node's role became `role` (in a term of at least `min_term`).
    Role { role: RoleName, min_term: u64 },
    /// The node sent a message of this kind (its variant name, as the replay log shows
    /// it: `AppendEntries`), or any message; and, if `with` is given, whose rendering in
    /// the replay log contains it (`granted: true`).
    Send {
        message: Option<String>,
        with: Option<String>,
    },
    /// The node wrote a record to its disk (not yet synced).
    Persist,
    /// The node synced its disk.
    Sync,
    /// The node answered a client: successfully (an acknowledgement), or with an error.
    Reply { ok: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleName {
    Leader,
    Candidate,
    Follower,
}

impl RoleName {
    pub fn name(self) -> &'static str {
        match self {
            RoleName::Leader => "leader",
            RoleName::Candidate => "candidate",
            RoleName::Follower => "follower",
        }
    }
}

impl ProtocolEvent {
    pub const NAMES: &'static str = "role, send, persist, sync, reply";
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Kill the node(s): memory is lost, unsynced disk writes lost (or torn).
    Crash {
        target: Selector,
    },
    Restart {
        target: Selector,
    },
    Pause {
        target: Selector,
    },
    Resume {
        target: Selector,
    },
    /// Cut the target off from every other node, both ways.
    Isolate {
        target: Selector,
    },
    /// Split the cluster in two: the target on one side, the rest on the other.
    Partition {
        target: Selector,
    },
    /// Drop packets from `from` to `to` only.
    OneWay {
        from: Selector,
        to: Selector,
    },
    /// Remove every partition.
    Heal,
    /// Step the target's clock by `by_ns` (negative: backwards).
    ClockJump {
        target: Selector,
        by_ns: i64,
    },
    /// Set the network's loss probability from now on.
    Loss {
        rate: f64,
    },
    /// Set every packet's one-way delay range from now on (a latency spike, or its end);
    /// the quiesce phase restores `[network]`'s.
    Latency {
        min: Duration,
        max: Duration,
    },
}

impl Action {
    pub const NAMES: &'static str =
        "crash, restart, pause, resume, isolate, partition, one-way, heal, clock-jump, loss, latency";

    /// The action's name as a file's `do` writes it.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Crash { .. } => "crash",
            Action::Restart { .. } => "restart",
            Action::Pause { .. } => "pause",
            Action::Resume { .. } => "resume",
            Action::Isolate { .. } => "isolate",
            Action::Partition { .. } => "partition",
            Action::OneWay { .. } => "one-way",
            Action::Heal => "heal",
            Action::ClockJump { .. } => "clock-jump",
            Action::Loss { .. } => "loss",
            Action::Latency { .. } => "latency",
        }
    }
}

/// The verdict a system should get over the scenario's seeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// No invariant is violated on any seed.
    Pass,
    /// Exactly these invariants are violated on at least one seed.
    Violates(BTreeSet<InvariantId>),
}
