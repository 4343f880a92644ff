//! Linearizability (Herlihy & Wing 1990) of a run's client history over the model the
//! system promises: every operation appears to take effect at one instant between its
//! invocation and its completion, in an order the model's sequential specification
//! allows. The search itself is [`crate::history::linearizable`].

use crate::history::linearizable::{check_linearizable, LinOptions, Verdict};
use protocol::{Finals, Invariant, InvariantId, Model, Undecided, Violation};

/// The history is linearizable over `M`. A search that runs out of its budget is
/// [`Undecided`], never a pass.
#[derive(Clone, Debug)]
pub struct Linearizability<M>(pub M);

impl<M, S> Invariant<M::Op, S> for Linearizability<M>
where
    M: Model + Send + Sync,
{
    fn id(&self) -> InvariantId {
        InvariantId::LINEARIZABILITY
    }

    fn check(&self, run: &Finals<'_, M::Op, S>) -> Result<Vec<Violation>, Undecided> {
        let opts = LinOptions {
            budget: run.budget.time,
            max_memory: run.budget.memory,
            ..LinOptions::default()
        };
        let undecided = |reason| Undecided {
            invariant: InvariantId::LINEARIZABILITY,
            reason,
        };
        match check_linearizable(run.history, &self.0, &opts) {
            Ok(Verdict::Linearizable) => Ok(Vec::new()),
            Ok(Verdict::NotLinearizable(cx)) => Ok(vec![Violation {
                invariant: InvariantId::LINEARIZABILITY,
                kind: "no linearization",
                events: cx
                    .failures
                    .first()
                    .map(|f| {
                        let mut events = vec![f.blocked_event];
                        events.extend(&f.prefix_events);
                        events
                    })
                    .unwrap_or_default(),
                at_ns: None,
                detail: cx.to_string(),
            }]),
            Ok(Verdict::Unknown {
                undecided: keys,
                limit,
            }) => Err(undecided(format!(
                "the search reached its {limit} on keys {keys:?}"
            ))),
            // The workload issued what the model does not know: the system's
            // description is inconsistent, which no search can judge.
            Err(e) => Err(undecided(format!(
                "the history does not fit the {} model: {e}",
                self.0.name()
            ))),
        }
    }
}
