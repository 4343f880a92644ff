//! Session guarantees (Terry et al. 1994): monotonic reads and read-your-writes per
//! client, for any vocabulary whose reads report what they saw
//! ([`VersionedRead`]). The checker is [`crate::history::session`]; a client is one
//! session across the processes it runs as (a new one after each `info`).

use crate::history::session::{check_sessions, VersionedRead};
use protocol::{Finals, Invariant, InvariantId, Undecided, Violation};
use std::collections::BTreeMap;

/// Monotonic reads and read-your-writes hold for every client.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sessions;

impl<O: VersionedRead, S> Invariant<O, S> for Sessions {
    fn id(&self) -> InvariantId {
        InvariantId::SESSION
    }

    fn check(&self, run: &Finals<'_, O, S>) -> Result<Vec<Violation>, Undecided> {
        // A client continues as a new process after an `info` (process + clients), and
        // stays one session throughout.
        let clients = u64::from(run.clients.max(1));
        let client_of: BTreeMap<u64, u64> = run
            .history
            .events
            .iter()
            .map(|e| (e.process, e.process % clients))
            .collect();
        let r = check_sessions(run.history, Some(&client_of))
            .unwrap_or_else(|e| panic!("the harness recorded a malformed history: {e}"));
        if r.valid() {
            return Ok(Vec::new());
        }
        Ok(vec![Violation {
            invariant: InvariantId::SESSION,
            kind: r.violations[0].guarantee.name(),
            events: Vec::new(),
            at_ns: None,
            // The first broken guarantee in full (the read and the operation it
            // contradicts), the rest counted: enough to find it in the replay log.
            detail: format!(
                "{} of {} reads break a session guarantee; first: {}",
                r.violations.len(),
                r.reads_checked,
                r.violations[0].to_string().trim_end().replace('\n', "; ")
            ),
        }])
    }
}
