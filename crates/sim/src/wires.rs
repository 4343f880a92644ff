//! What a report draws, recorded only when replaying: every node-to-node message as a
//! wire from its send to its arrival (and what became of it), every timer that fired and
//! every note a node wrote. Runs outside replay record nothing here.

use std::collections::{BTreeMap, VecDeque};

/// Wires kept for a report; a run past this is drawn in part (the rest counted). A 60 s,
/// 5-node run sends about 25,000.
pub const MAX_WIRES: usize = 200_000;

/// Notes and timer firings kept, each.
pub const MAX_MARKS: usize = 100_000;

/// What became of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Delivered,
    /// Dropped when sent: `lost` (the network's loss) or `partitioned`.
    DroppedAtSend(&'static str),
    /// A partition cut its link while it flew.
    DiedInFlight,
    /// Its destination was down when it arrived.
    ArrivedDown,
    /// Still flying when the run ended.
    InFlight,
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::DroppedAtSend("lost") => "lost",
            Fate::DroppedAtSend(_) => "partitioned",
            Fate::DiedInFlight => "died-in-flight",
            Fate::ArrivedDown => "arrived-down",
            Fate::InFlight => "in-flight",
        }
    }
}

/// One message, by node index (0-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wire {
    pub from: u32,
    pub to: u32,
    pub sent_ns: u64,
    /// When it was due (the send time for one dropped at send).
    pub arrive_ns: u64,
    /// Its kind, as the replay log begins it (`AppendEntries`).
    pub kind: String,
    /// Its rendering in the replay log.
    pub text: String,
    /// The network's second copy of a message.
    pub duplicate: bool,
    pub fate: Fate,
}

/// A node's note or timer, at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMark {
    pub node: u32,
    pub at_ns: u64,
    pub text: String,
}

#[derive(Default)]
pub struct Wires {
    pub wires: Vec<Wire>,
    pub timers: Vec<NodeMark>,
    pub notes: Vec<NodeMark>,
    /// Wires, notes and timers past their bounds.
    pub dropped: usize,
    /// Wires still flying, by (from, to, due): matched at delivery, first sent first.
    flying: BTreeMap<(u32, u32, u64), VecDeque<usize>>,
}

impl Wires {
    /// A message sent at `sent_ns`: dropped (`arrivals` empty, `why` says) or due at each
    /// arrival (a second one is the duplicate).
    pub fn sent(
        &mut self,
        from: usize,
        to: usize,
        sent_ns: u64,
        debug: &str,
        fate: Result<&[u64], &'static str>,
    ) {
        let kind = crate::world::kind_of(debug).to_string();
        let wire = |arrive_ns, duplicate, fate| Wire {
            from: from as u32,
            to: to as u32,
            sent_ns,
            arrive_ns,
            kind: kind.clone(),
            text: debug.to_string(),
            duplicate,
            fate,
        };
        match fate {
            Err(why) => {
                self.push(wire(sent_ns, false, Fate::DroppedAtSend(why)));
            }
            Ok(arrivals) => {
                for (i, &at) in arrivals.iter().enumerate() {
                    if let Some(index) = self.push(wire(at, i > 0, Fate::InFlight)) {
                        let key = (from as u32, to as u32, at);
                        self.flying.entry(key).or_default().push_back(index);
                    }
                }
            }
        }
    }

    /// The message from `from` to `to` due at `at_ns` met `fate`.
    pub fn arrived(&mut self, from: usize, to: usize, at_ns: u64, fate: Fate) {
        let key = (from as u32, to as u32, at_ns);
        let Some(queue) = self.flying.get_mut(&key) else {
            return; // past the bound when sent
        };
        if let Some(index) = queue.pop_front() {
            self.wires[index].fate = fate;
        }
        if queue.is_empty() {
            self.flying.remove(&key);
        }
    }

    pub fn timer(&mut self, node: usize, at_ns: u64, timer: u64) {
        if self.timers.len() < MAX_MARKS {
            let text = format!("timer {timer}");
            self.timers.push(NodeMark {
                node: node as u32,
                at_ns,
                text,
            });
        } else {
            self.dropped += 1;
        }
    }

    pub fn note(&mut self, node: usize, at_ns: u64, text: &str) {
        if self.notes.len() < MAX_MARKS {
            let text = text.to_string();
            self.notes.push(NodeMark {
                node: node as u32,
                at_ns,
                text,
            });
        } else {
            self.dropped += 1;
        }
    }

    fn push(&mut self, wire: Wire) -> Option<usize> {
        if self.wires.len() >= MAX_WIRES {
            self.dropped += 1;
            return None;
        }
        self.wires.push(wire);
        Some(self.wires.len() - 1)
    }
}
