//! What happened in a run: a digest of every event (the determinism fingerprint), a
//! typed timeline (faults, role and term changes) rendered to text only for output, and,
//! in replay mode, a readable line per event.

use protocol::{NodeId, Role, Term};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Timeline entries kept for a summary; a run that flaps beyond this is summarised.
pub const MAX_TIMELINE: usize = 400;

/// The digest's hash: word-at-a-time multiply-rotate, several times faster than a
/// byte-wise hash on messages, and stable for a given build (which is what a digest
/// compares: the same binary, the same seed).
#[derive(Clone, Copy, Debug)]
pub struct Mix(pub u64);

impl Default for Mix {
    fn default() -> Mix {
        Mix(0x243f_6a88_85a3_08d3)
    }
}

impl Mix {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8-byte chunk")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(last) ^ (rest.len() as u64) << 56);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.word(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.word(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.word(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.word(i as u64);
    }
}

/// One entry of a run's timeline: something the nemesis did, or a node's role or term
/// changing.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    Crash {
        node: NodeId,
        unsynced_lost: usize,
    },
    Restart {
        node: NodeId,
    },
    Pause {
        node: NodeId,
    },
    Resume {
        node: NodeId,
    },
    Isolate {
        nodes: Vec<NodeId>,
    },
    /// The cluster split in two.
    Partition {
        side: Vec<NodeId>,
        rest: Vec<NodeId>,
    },
    /// Packets from `from` to `to` dropped (a lone node on one side is not named on the
    /// other too).
    Cut {
        from: Vec<NodeId>,
        to: Vec<NodeId>,
    },
    Heal,
    ClockJump {
        nodes: Vec<NodeId>,
        by_ns: i64,
    },
    Loss {
        rate: f64,
    },
    Latency {
        min_ns: u64,
        max_ns: u64,
    },
    /// The faults end: the network heals, every node runs again; clients stop, or go on
    /// through a liveness phase.
    Quiesce {
        liveness: bool,
    },
    /// A liveness phase ends: clients stop.
    ClientsStop,
    /// A node's event completed a trigger's count; its fault follows.
    Triggered {
        node: NodeId,
        event: String,
        count: u32,
    },
    /// A node's role or term changed.
    Role {
        node: NodeId,
        role: Role,
        term: Option<Term>,
    },
}

impl Mark {
    /// Whether the nemesis (or the quiesce phase) made it, as opposed to a node or a
    /// trigger.
    pub fn is_fault(&self) -> bool {
        // A trigger announces the fault that follows it; it is not one itself.
        !matches!(self, Mark::Role { .. } | Mark::Triggered { .. })
    }
}

fn nodes(ids: &[NodeId]) -> String {
    ids.iter()
        .map(NodeId::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::Crash {
                node,
                unsynced_lost: 0,
            } => write!(f, "crash {node}"),
            Mark::Crash {
                node,
                unsynced_lost,
            } => write!(f, "crash {node} ({unsynced_lost} unsynced writes lost)"),
            Mark::Restart { node } => write!(f, "restart {node}"),
            Mark::Pause { node } => write!(f, "pause {node}"),
            Mark::Resume { node } => write!(f, "resume {node}"),
            Mark::Isolate { nodes: ids } => write!(f, "isolate {}", nodes(ids)),
            Mark::Partition { side, rest } => {
                write!(f, "partition {} | {}", nodes(side), nodes(rest))
            }
            Mark::Cut { from, to } => write!(f, "cut {} -> {}", nodes(from), nodes(to)),
            Mark::Heal => f.write_str("heal"),
            Mark::ClockJump { nodes: ids, by_ns } => {
                let sign = if *by_ns < 0 { "-" } else { "+" };
                write!(
                    f,
                    "clock {} {sign}{}",
                    nodes(ids),
                    fmt_time(by_ns.unsigned_abs())
                )
            }
            Mark::Loss { rate } => write!(f, "loss {rate}"),
            Mark::Triggered { node, event, count } => {
                write!(f, "trigger: {node} {event}")?;
                if *count > 1 {
                    write!(f, " (event {count})")?;
                }
                Ok(())
            }
            Mark::Latency { min_ns, max_ns } => write!(
                f,
                "latency {}ms..{}ms",
                min_ns / 1_000_000,
                max_ns / 1_000_000
            ),
            Mark::Quiesce { liveness: false } => {
                f.write_str("quiesce: clients stop, network heals, nodes restart")
            }
            Mark::Quiesce { liveness: true } => f.write_str(
                "faults end: network heals, nodes restart; clients go on (liveness phase)",
            ),
            Mark::ClientsStop => f.write_str("liveness phase ends: clients stop"),
            Mark::Role { node, role, term } => {
                write!(f, "{node} {role}")?;
                match term {
                    Some(t) => write!(f, " {t}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[derive(Default)]
pub struct Trace {
    digest: Mix,
    /// (simulated ns, entry): faults and role changes, for summaries.
    timeline: Vec<(u64, Mark)>,
    timeline_dropped: usize,
    /// Every event as a line with its simulated time, only when replaying. Clients'
    /// steps are logged when the world runs them, which can be ahead of the clock (see
    /// `world`), so [`Trace::take_log`] puts the lines in time order.
    log: Option<Vec<(u64, String)>>,
    pub stats: Stats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Node-to-node messages handed to a live node.
    pub delivered: u64,
    pub dropped: u64,
    pub timers: u64,
    /// Client requests handed to a live node.
    pub client_requests: u64,
    /// Node replies handed to their client.
    pub client_replies: u64,
    /// Times a driver task was polled (one per madsim timer that fired, plus spurious).
    pub wakeups: u64,
}

impl Trace {
    pub fn new(replay: bool) -> Trace {
        Trace {
            log: replay.then(Vec::new),
            ..Trace::default()
        }
    }

    pub fn feed(&mut self, words: &[u64]) {
        for w in words {
            self.digest.word(*w);
        }
    }

    pub fn feed_hash(&mut self, value: &impl Hash) {
        value.hash(&mut self.digest);
    }

    pub fn digest(&self) -> u64 {
        self.digest.0
    }

    pub fn logging(&self) -> bool {
        self.log.is_some()
    }

    // Inlined so that outside replays (no log) a call costs one test, not a call.
    #[inline]
    pub fn log(&mut self, now_ns: u64, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push((now_ns, format!("{:>10} {}", fmt_time(now_ns), line())));
        }
    }

    /// The log in time order (lines at one instant keep the order they were written in);
    /// empty unless replaying.
    pub fn take_log(&mut self) -> Vec<String> {
        let mut log = self.log.take().unwrap_or_default();
        log.sort_by_key(|(ns, _)| *ns);
        log.into_iter().map(|(_, line)| line).collect()
    }

    /// A timeline entry; also fed to the digest (as the text it renders to, so the
    /// digest covers exactly what a reader of the timeline sees) and the log.
    pub fn mark(&mut self, now_ns: u64, mark: Mark) {
        let text = mark.to_string();
        self.feed(&[now_ns, text.len() as u64]);
        self.digest.write(text.as_bytes());
        self.log(now_ns, || text);
        if self.timeline.len() < MAX_TIMELINE {
            self.timeline.push((now_ns, mark));
        } else {
            self.timeline_dropped += 1;
        }
    }

    /// The timeline so far, and how many entries past [`MAX_TIMELINE`] were dropped.
    pub fn take_timeline(&mut self) -> (Vec<(u64, Mark)>, usize) {
        (std::mem::take(&mut self.timeline), self.timeline_dropped)
    }
}

/// `12.345s`: simulated time as summaries print it.
pub fn fmt_time(ns: u64) -> String {
    format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}
