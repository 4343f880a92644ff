//! Faults fired by protocol events ("crash the leader right after its 2nd append", "crash
//! the master after it acknowledges a write and before its pushes leave"): the world
//! sees every effect a node emits and every role change, so it counts the matching
//! events and does the fault right after the one that completes the count, inside the
//! node's step. A crash of the stepping node then drops the effects the same handler
//! emitted after the event, as a process dying at that instant would.

use super::World;
use crate::trace::Mark;
use protocol::{Role, System};
use scenario::{Action, ProtocolEvent, RoleName, Scenario, Selector, Trigger};

/// One triggered fault, armed from `from_ns`.
pub struct Armed {
    trigger: Trigger,
    action: Action,
    from_ns: u64,
    seen: u32,
    fired: bool,
    /// Whose events count, for selectors resolved once (all but leader, followers, all
    /// and explicit nodes, which are judged at each event): resolved when first needed.
    fixed: Option<Vec<usize>>,
}

/// The scenario's triggered faults.
#[derive(Default)]
pub struct Triggers {
    armed: Vec<Armed>,
    /// Whether any counts sends: only then is a message's kind worked out.
    sends: bool,
}

impl Triggers {
    pub fn of(sc: &Scenario) -> Triggers {
        let armed: Vec<Armed> = sc
            .timeline
            .iter()
            .filter_map(|f| {
                Some(Armed {
                    trigger: f.on.clone()?,
                    action: f.action.clone(),
                    from_ns: f.at.as_nanos() as u64,
                    seen: 0,
                    fired: false,
                    fixed: None,
                })
            })
            .collect();
        let sends = armed
            .iter()
            .any(|a| matches!(a.trigger.event, ProtocolEvent::Send { .. }));
        Triggers { armed, sends }
    }

    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// The fault phase is over: nothing fires any more.
    pub fn disarm(&mut self) {
        self.armed.clear();
        self.sends = false;
    }

    pub fn counts_sends(&self) -> bool {
        self.sends
    }
}

/// An event as the world saw it.
pub enum Seen<'a> {
    Role {
        role: Role,
        term: u64,
    },
    /// The message as the replay log renders it.
    Send {
        debug: &'a str,
    },
    Persist,
    Sync,
    Reply {
        ok: bool,
    },
}

impl Seen<'_> {
    fn matches(&self, event: &ProtocolEvent) -> bool {
        match (self, event) {
            (
                Seen::Role { role, term },
                ProtocolEvent::Role {
                    role: want,
                    min_term,
                },
            ) => {
                let same = matches!(
                    (role, want),
                    (Role::Leader, RoleName::Leader)
                        | (Role::Candidate, RoleName::Candidate)
                        | (Role::Follower, RoleName::Follower)
                );
                same && term >= min_term
            }
            (Seen::Send { debug }, ProtocolEvent::Send { message, with }) => {
                message.as_deref().is_none_or(|m| m == kind_of(debug))
                    && with.as_deref().is_none_or(|w| debug.contains(w))
            }
            (Seen::Persist, ProtocolEvent::Persist) | (Seen::Sync, ProtocolEvent::Sync) => true,
            (Seen::Reply { ok }, ProtocolEvent::Reply { ok: want }) => ok == want,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Seen::Role { role, term } => format!("became {role} in term {term}"),
            Seen::Send { debug } => format!("sent {}", kind_of(debug)),
            Seen::Persist => "persisted".to_string(),
            Seen::Sync => "synced".to_string(),
            Seen::Reply { ok: true } => "acknowledged a client".to_string(),
            Seen::Reply { ok: false } => "refused a client".to_string(),
        }
    }
}

/// A message's kind: its variant's name, as `Debug` begins it (`AppendEntries { .. }`).
pub fn kind_of(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(debug.len());
    &debug[..end]
}

impl<S: System> World<S> {
    /// Node `idx` did `seen`: counts it for every armed trigger it matches, and does
    /// the fault of each whose count it completes.
    pub(super) fn seen(&mut self, idx: usize, seen: Seen<'_>) {
        let now = self.now_ns();
        for t in 0..self.triggers.armed.len() {
            let a = &self.triggers.armed[t];
            if a.fired || now < a.from_ns || !seen.matches(&a.trigger.event) {
                continue;
            }
            if !self.counts(t, idx) {
                continue;
            }
            let a = &mut self.triggers.armed[t];
            a.seen += 1;
            if a.seen < a.trigger.count {
                continue;
            }
            a.fired = true;
            let action = a.action.clone();
            let mark = Mark::Triggered {
                node: self.cluster[idx],
                event: seen.describe(),
                count: a.trigger.count,
            };
            self.trace.mark(now, mark);
            self.trigger_node = Some(idx);
            self.act(&action);
            self.trigger_node = None;
        }
    }

    /// Whether node `idx`'s events count for trigger `t`.
    fn counts(&mut self, t: usize, idx: usize) -> bool {
        let node = self.triggers.armed[t].trigger.node.clone();
        match node {
            Selector::All => true,
            Selector::Leader => self.leader() == Some(idx),
            Selector::Followers => self.leader() != Some(idx),
            Selector::Nodes(ids) => ids.contains(&(idx as u32 + 1)),
            other => {
                if self.triggers.armed[t].fixed.is_none() {
                    let fixed = self.resolve(&other);
                    self.triggers.armed[t].fixed = Some(fixed);
                }
                self.triggers.armed[t]
                    .fixed
                    .as_ref()
                    .is_some_and(|f| f.contains(&idx))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_s_kind_is_its_variant_name() {
        assert_eq!(kind_of("AppendEntries { term: 3 }"), "AppendEntries");
        assert_eq!(kind_of("Push(Doc { id: 1 })"), "Push");
        assert_eq!(kind_of("Heartbeat"), "Heartbeat");
        assert_eq!(kind_of(""), "");
    }
}
