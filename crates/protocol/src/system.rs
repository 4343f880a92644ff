//! What a system says about itself: everything the harness knows of a system beyond its
//! handlers comes from here, so the harness never names a system.
//!
//! - [`System`]: the name, the cluster shape for a scenario, the native workload, and the
//!   promises (the invariants it must keep) in its configuration.
//! - [`Workload`]: a client's stream of operations.
//! - [`Invariant`]: one property judged on a finished run, with typed [`Violation`]s.

use crate::history::History;
use crate::ids::NodeId;
use crate::node::Node;
use crate::op::Op;
use crate::params::ParamError;
use core::time::Duration;
use rand_core::RngCore;
use std::collections::BTreeMap;
use std::fmt;

/// A system under test as the harness sees it: a [`Node`] that also describes itself.
///
/// ```ignore
/// impl System for MyNode {
///     const NAME: &'static str = "my-system";
///     type Workload = MyWorkload;
///     fn workload(_: &Config, spec: &WorkloadSpec, client: u32) -> Result<MyWorkload, ParamError> {
///         MyWorkload::new(spec, client)
///     }
///     fn promises(_: &Config, _: &Shape) -> Promises<Self> {
///         vec![Box::new(check::linearizable(MyModel))]
///     }
/// }
/// ```
pub trait System: Node {
    /// The name scenario files, the CLI and reports use.
    const NAME: &'static str;

    /// Invariants of the system's own (beyond [`InvariantId::BUILTIN`]) that its
    /// promises may report, so scenario files may expect them by name.
    const OWN_INVARIANTS: &'static [InvariantId] = &[];

    /// A client's stream of operations when a scenario runs the native workload.
    type Workload: Workload<Op = Self::Op>;

    /// The cluster for a scenario of `replicas` replicas, or why the system cannot run
    /// with that many. The default admits any number and adds no node.
    fn shape(_config: &Self::Config, replicas: u32) -> Result<Shape, ParamError> {
        Ok(Shape { replicas, extra: 0 })
    }

    /// Client `client`'s workload (of `spec.clients`), or why `spec` does not fit it (a
    /// mix weighting only operations it does not serve is no error: it runs its default
    /// mix).
    fn workload(
        config: &Self::Config,
        spec: &WorkloadSpec,
        client: u32,
    ) -> Result<Self::Workload, ParamError>;

    /// The invariants a run of this configuration must keep, in the order a report lists
    /// their violations. Election safety and a node's panic are judged for every system.
    fn promises(config: &Self::Config, shape: &Shape) -> Promises<Self>;

    /// The ids of [`System::promises`], in order: what a run of this configuration is
    /// judged by.
    fn promised(config: &Self::Config, shape: &Shape) -> Vec<InvariantId> {
        Self::promises(config, shape)
            .iter()
            .map(|i| i.id())
            .collect()
    }
}

/// A system's promises: invariants over its history and its replicas' final states.
pub type Promises<S> = Vec<Box<dyn Invariant<<S as Node>::Op, <S as Node>::State>>>;

/// The nodes a run starts: ids `1..=replicas` hold data; the `extra` nodes after them
/// (term-bully's monitor) take part but hold none, and the selector `monitor` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub replicas: u32,
    pub extra: u32,
}

impl Shape {
    /// Every node, replicas and extras.
    pub fn nodes(&self) -> u32 {
        self.replicas + self.extra
    }
}

/// What a scenario asks of a workload, for any vocabulary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub clients: u32,
    /// Distinct keys (objects) operations spread over, for vocabularies that have keys.
    pub keys: u32,
    /// Relative weights by operation name ([`Op::f`]); empty: the workload's default.
    pub mix: BTreeMap<String, u32>,
}

/// One client's operations. The harness calls [`Workload::next`] when the client is idle
/// and [`Workload::observe`] with every acknowledged result, so a workload can aim its
/// operations at what the client has seen (a cas expecting the value last read).
pub trait Workload: Send + 'static {
    type Op: Op;
    /// The workload's name, as a scenario's `workload.kind` writes it (`kv`, `set`).
    const NAME: &'static str;
    /// Every operation name a mix may weight.
    const OPS: &'static [&'static str];

    /// The next operation, drawn from `rng` (the client's own seeded stream).
    fn next(&mut self, rng: &mut dyn RngCore) -> Self::Op;

    /// `op` completed `ok` with `output`.
    fn observe(&mut self, _op: &Self::Op, _output: &<Self::Op as Op>::Output) {}
}

/// Which invariant was broken: one name shared by the checkers that report it, the
/// scenario files that expect it, and the summaries that show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InvariantId(pub &'static str);

impl InvariantId {
    /// At most one leader per term; without terms, one master at a time.
    pub const ELECTION_SAFETY: InvariantId = InvariantId("election-safety");
    /// No acknowledged write is missing from a replica's final state.
    pub const DURABILITY: InvariantId = InvariantId("durability");
    /// After healing and quiescing, replicas hold the same data.
    pub const CONVERGENCE: InvariantId = InvariantId("convergence");
    /// The history is linearizable over the system's model.
    pub const LINEARIZABILITY: InvariantId = InvariantId("linearizability");
    /// Jepsen's set checker on each replica.
    pub const SET: InvariantId = InvariantId("set");
    /// Monotonic reads and read-your-writes per client.
    pub const SESSION: InvariantId = InvariantId("session");
    /// A seed design's own consistency check on final states.
    pub const REPLICA_CONSISTENCY: InvariantId = InvariantId("replica-consistency");
    /// A node's own assertion failed: the run stopped there.
    pub const PANIC: InvariantId = InvariantId("panic");
    /// After the faults are healed and the system has had time to recover, it serves
    /// every client operation (a scenario's liveness phase).
    pub const LIVENESS: InvariantId = InvariantId("liveness");

    /// Every invariant the harness and the shared checkers report.
    pub const BUILTIN: &'static [InvariantId] = &[
        InvariantId::ELECTION_SAFETY,
        InvariantId::DURABILITY,
        InvariantId::CONVERGENCE,
        InvariantId::LINEARIZABILITY,
        InvariantId::SET,
        InvariantId::SESSION,
        InvariantId::REPLICA_CONSISTENCY,
        InvariantId::PANIC,
        InvariantId::LIVENESS,
    ];

    pub fn name(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for InvariantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// One broken invariant, with enough detail for a person to find it in the replay log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: InvariantId,
    /// What broke, in a few fixed words ("two leaders in one term"): a hunt groups its
    /// findings by invariant and kind, so a kind names a class of violation, never a value.
    pub kind: &'static str,
    /// The history's events that show it, by index (an operation by its invocation),
    /// the most telling first: for a linearizability failure, the operation no order can
    /// place, then the longest linearizable prefix. Reports highlight them.
    pub events: Vec<usize>,
    /// Simulated time (ns) of the first evidence, where there is one.
    pub at_ns: Option<u64>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.invariant)?;
        if let Some(t) = self.at_ns {
            write!(
                f,
                " at {}.{:03}s",
                t / 1_000_000_000,
                (t / 1_000_000) % 1000
            )?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// An invariant that could not be decided within its budget: not a violation, and not
/// a pass either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undecided {
    pub invariant: InvariantId,
    pub reason: String,
}

impl fmt::Display for Undecided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} undecided: {}", self.invariant, self.reason)
    }
}

/// What a finished run hands its invariants.
pub struct Finals<'a, O: Op, S> {
    pub history: &'a History<O>,
    /// The final data of each live replica, in id order.
    pub states: &'a [(NodeId, S)],
    /// Clients in the run: after an `info` client `c` continues as process
    /// `c + clients`, so a session is a process modulo this.
    pub clients: u32,
    /// How much work a checker may spend.
    pub budget: Budget,
}

/// Bounds on a checker's work; past one, an invariant answers [`Undecided`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Wall-clock time (checkers run outside the simulation, on the real clock).
    pub time: Duration,
    /// Bytes a checker's search may hold at once.
    pub memory: usize,
}

/// One property of a finished run.
pub trait Invariant<O: Op, S>: Send + Sync {
    fn id(&self) -> InvariantId;

    /// The violations found (none: it holds), or why it could not be decided.
    fn check(&self, run: &Finals<'_, O, S>) -> Result<Vec<Violation>, Undecided>;
}
