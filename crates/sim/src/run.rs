//! One run, in one direction: a scenario is prepared for a system ([`prepare`]: its
//! configuration parsed once, its shape, workload and promises), simulated with a seed
//! ([`simulate`]: history, final states, typed trace), then judged ([`crate::judge`]).
//! [`run`] does all three.

use crate::driver::{Driver, Endpoint};
use crate::judge::{judge, Judgement, DEFAULT_BUDGET};
use crate::nemesis::Nemesis;
use crate::world::{Phases, Shared, Simulation, World};
use madsim::runtime::{Handle, Runtime};
use protocol::{Budget, History, ParamError, Params, Promises, Shape, System, WorkloadSpec};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use scenario::{Action, Scenario};
use std::cell::RefCell;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Keep a readable line per event (replay); slower.
    pub replay: bool,
    /// What the judge's checkers may spend ([`DEFAULT_BUDGET`] by default).
    pub budget: Budget,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            replay: false,
            budget: DEFAULT_BUDGET,
        }
    }
}

/// A named stream of the run's randomness: one seed derives everything.
pub fn stream(seed: u64, label: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(label);
    rng
}

/// The streams a seed splits into.
pub mod streams {
    pub const NET: u64 = 1;
    pub const FAULTS: u64 = 2;
    pub const CLOCKS: u64 = 3;
    pub const NODE: u64 = 100;
    pub const CLIENT: u64 = 1000;
}

/// A scenario made ready for system `S`: everything a run and its judge need, worked out
/// once for any number of seeds.
pub struct Prepared<S: System> {
    pub scenario: Scenario,
    pub config: S::Config,
    pub shape: Shape,
    pub workload: WorkloadSpec,
    pub promises: Promises<S>,
}

impl<S: System> Prepared<S> {
    /// Client `c`'s workload (every client's was built once by [`prepare`]).
    pub fn client_workload(&self, c: u32) -> S::Workload {
        S::workload(&self.config, &self.workload, c)
            .unwrap_or_else(|e| unreachable!("client {c}'s workload was checked: {e}"))
    }
}

/// Which part of a scenario a system refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Its parameters (`[params.<system>]`).
    Params,
    /// Its cluster size (`nodes`).
    Shape,
    /// Its workload (`[workload]`).
    Workload,
}

/// A run that could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunError {
    UnknownSystem {
        name: String,
        known: Vec<&'static str>,
    },
    /// The system refused the scenario.
    Refused {
        scenario: String,
        system: String,
        part: Refused,
        error: ParamError,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::UnknownSystem { name, known } => write!(
                f,
                "unknown system {name:?}; known systems: {}",
                known.join(", ")
            ),
            RunError::Refused {
                scenario,
                system,
                part,
                error,
            } => {
                let at = match part {
                    Refused::Params => format!("params.{system}"),
                    Refused::Shape => format!("nodes (for {system})"),
                    Refused::Workload => format!("workload (for {system})"),
                };
                write!(f, "{scenario}: {at}: {error}")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Prepares `sc` for `S`: parses its parameters, asks its shape and every client's
/// workload, and collects its promises; whatever `S` refuses is an error value.
pub fn prepare<S: System>(sc: &Scenario) -> Result<Prepared<S>, RunError> {
    let refused = |part, error| RunError::Refused {
        scenario: sc.path.display().to_string(),
        system: S::NAME.to_string(),
        part,
        error,
    };
    let empty = Params::new();
    let params = sc.params.get(S::NAME).unwrap_or(&empty);
    let config = S::config(params).map_err(|e| refused(Refused::Params, e))?;
    let shape = S::shape(&config, sc.nodes).map_err(|e| refused(Refused::Shape, e))?;
    // A shape may add nodes of the system's own, never change the scenario's replicas:
    // selectors and final states count on them.
    assert_eq!(
        shape.replicas,
        sc.nodes,
        "{}::shape changed a scenario's replicas; it may only add extra nodes",
        S::NAME
    );
    let workload = sc.workload.spec();
    for c in 0..workload.clients {
        S::workload(&config, &workload, c).map_err(|e| refused(Refused::Workload, e))?;
    }
    let promises = S::promises(&config, &shape);
    Ok(Prepared {
        scenario: sc.clone(),
        config,
        shape,
        workload,
        promises,
    })
}

/// A simulation and its judgement.
pub struct Run<S: System> {
    pub simulation: Simulation<S>,
    pub judgement: Judgement,
}

/// Simulates `p` with `seed` and judges the result within `opts.budget`.
pub fn run<S: System>(p: &Prepared<S>, seed: u64, opts: &RunOptions) -> Run<S> {
    let simulation = simulate(p, seed, opts);
    let judgement = judge(p, &simulation, opts.budget);
    Run {
        simulation,
        judgement,
    }
}

/// Simulates `p` with `seed`: madsim seeded with it, one madsim node per node and per
/// client, the nemesis on the main task. A node's own assertion failing (raft's
/// "truncating a committed entry") is a finding about the system, not a crash of the
/// testbed: it comes back as the simulation's `panic`, for the judge to report.
pub fn simulate<S: System>(p: &Prepared<S>, seed: u64, opts: &RunOptions) -> Simulation<S> {
    let rt = Runtime::with_seed_and_config(seed, madsim::Config::default());
    let replay = opts.replay;
    // The world is made inside the runtime (it holds madsim's clock); this slot keeps it
    // reachable if a node panics, so what the run saw before the panic is not lost.
    let slot: WorldSlot<S> = RefCell::new(None);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { play(p, seed, replay, &slot).await })
    }));
    match outcome {
        Ok(o) => o,
        Err(payload) => panicked(p, seed, payload, slot.take()),
    }
}

type WorldSlot<S> = RefCell<Option<Shared<S>>>;

async fn play<S: System>(
    p: &Prepared<S>,
    seed: u64,
    replay: bool,
    slot: &WorldSlot<S>,
) -> Simulation<S> {
    let sc = &p.scenario;
    let handle = Handle::current();
    let time = madsim::time::TimeHandle::current();
    let world: Shared<S> = Arc::new(Mutex::new(World::new(p, seed, replay, time)));
    *slot.borrow_mut() = Some(world.clone());
    let nodes = spawn_drivers(
        &world,
        &handle,
        p.shape.nodes() as usize,
        sc.workload.clients,
    );
    world
        .lock()
        .expect("world")
        .attach(handle.clone(), nodes.clone());
    let nemesis = Nemesis::new(world.clone(), handle, nodes);
    for (at, action) in timeline(sc) {
        if at <= sc.duration {
            nemesis.sleep_until(at).await;
            nemesis.act(action);
        }
    }
    // The faults end: everything healed, restarted and resumed; clients go on through
    // a liveness phase if there is one, then stop by themselves.
    let phases = Phases::of(sc);
    nemesis.sleep_until(phases.faults).await;
    nemesis.quiesce();
    if phases.clients_stop > phases.faults {
        nemesis.sleep_until(phases.clients_stop).await;
        world.lock().expect("world").mark_clients_stop();
    }
    nemesis.sleep_until(phases.end).await;
    let simulation = world.lock().expect("world").finish(seed);
    simulation
}

/// One madsim node per node (named `n1`, ...) and per client, each running a driver;
/// returns the nodes' madsim ids.
fn spawn_drivers<S: System>(
    world: &Shared<S>,
    handle: &Handle,
    nodes: usize,
    clients: u32,
) -> Vec<madsim::task::NodeId> {
    let mut ids = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let w = Arc::downgrade(world);
        let node = handle
            .create_node()
            .name(format!("n{}", i + 1))
            .init(move || Driver::new(w.clone(), Endpoint::Node(i)))
            .build();
        ids.push(node.id());
    }
    for c in 0..clients as usize {
        let w = Arc::downgrade(world);
        handle
            .create_node()
            .name(format!("client{c}"))
            .init(move || Driver::new(w.clone(), Endpoint::Client(c)))
            .build();
    }
    ids
}

/// The timed faults, with repeats unrolled, in time order (stable for equal times);
/// triggered ones are the world's (see `world::trigger`).
fn timeline(sc: &Scenario) -> Vec<(Duration, &Action)> {
    let mut faults: Vec<(Duration, &Action)> = Vec::new();
    for f in sc.timeline.iter().filter(|f| f.on.is_none()) {
        for k in 0..f.times {
            faults.push((f.at + f.every.unwrap_or_default() * k, &f.action));
        }
    }
    faults.sort_by_key(|(at, _)| *at);
    faults
}

/// What a caught panic said.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// What is left of a run a node's panic stopped: the run until then, if the world was
/// made, else only the message.
fn panicked<S: System>(
    p: &Prepared<S>,
    seed: u64,
    payload: Box<dyn std::any::Any + Send>,
    world: Option<Shared<S>>,
) -> Simulation<S> {
    let message = panic_message(payload.as_ref());
    if let Some(world) = world {
        // The panic happened under the world's lock: the poison says so, and is expected.
        let mut w = world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        return w.salvage(seed, message);
    }
    Simulation {
        seed,
        // No trace survives a panic; the digest says so rather than faking one.
        digest: 0,
        history: History::default(),
        finals: Vec::new(),
        observed: Vec::new(),
        timeline: Vec::new(),
        timeline_dropped: 0,
        log: Vec::new(),
        stats: Default::default(),
        end_ns: 0,
        clients: p.scenario.workload.clients,
        wires: Default::default(),
        panic: Some(message),
    }
}
