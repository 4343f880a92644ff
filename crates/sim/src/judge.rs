//! The judgement of a finished run: what the harness observed during it (election
//! safety, a node's panic), then each invariant the system promised, in the order it
//! listed them. It runs after the simulation and outside madsim's runtime, where the
//! checkers' wall-clock budget is real; it knows no system, only the promises.

use crate::run::Prepared;
use crate::world::Simulation;
use protocol::{Budget, Finals, InvariantId, System, Undecided, Violation};
use std::time::Duration;

/// Checker budget per run. Histories here are a few thousand operations over a handful of
/// keys and check in milliseconds; the budget only bounds a pathological one. Memory: a
/// run's share, so that runs judged side by side stay within the machine.
pub const DEFAULT_BUDGET: Budget = Budget {
    time: Duration::from_secs(20),
    memory: 256 << 20,
};

/// What a run broke, and what could not be decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    pub violations: Vec<Violation>,
    pub undecided: Vec<Undecided>,
}

impl Judgement {
    /// The invariants violated, each once.
    pub fn violated(&self) -> std::collections::BTreeSet<InvariantId> {
        self.violations.iter().map(|v| v.invariant).collect()
    }
}

/// Judges `o`, a run of `p`, within `budget`.
pub fn judge<S: System>(p: &Prepared<S>, o: &Simulation<S>, budget: Budget) -> Judgement {
    let mut j = Judgement {
        violations: o.observed.clone(),
        undecided: Vec::new(),
    };
    if let Some(message) = &o.panic {
        // What the harness observed before the panic stays (above); the promises are not
        // judged on a run cut short, whose history and states are partial.
        j.violations.push(Violation {
            invariant: InvariantId::PANIC,
            kind: "a node panicked",
            events: Vec::new(),
            at_ns: None,
            detail: format!("a node panicked: {message}"),
        });
        return j;
    }
    let finals = Finals {
        history: &o.history,
        states: &o.finals,
        clients: o.clients,
        budget,
    };
    for invariant in &p.promises {
        match invariant.check(&finals) {
            Ok(found) => {
                assert!(
                    found.iter().all(|v| v.invariant == invariant.id()),
                    "an invariant reports violations of its own id"
                );
                j.violations.extend(found);
            }
            Err(undecided) => j.undecided.push(undecided),
        }
    }
    j
}
