//! What happened in a run: a digest of every event (the determinism fingerprint), a
//! compact timeline for snapshots (faults, role and term changes, write counts), and, in
//! replay mode, a readable line per event.

use protocol::Fnv;
use std::hash::Hash;

/// Timeline entries kept for a summary; a run that flaps beyond this is summarised.
pub const MAX_TIMELINE: usize = 400;

#[derive(Default)]
pub struct Trace {
    digest: Fnv,
    /// (simulated ns, text): faults and role changes, for summaries.
    pub timeline: Vec<(u64, String)>,
    pub timeline_dropped: usize,
    /// Every event as a line, only when replaying.
    pub log: Option<Vec<String>>,
    pub stats: Stats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub delivered: u64,
    pub dropped: u64,
    pub timers: u64,
    pub client_requests: u64,
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
            self.digest.write(&w.to_le_bytes());
        }
    }

    pub fn feed_hash(&mut self, value: &impl Hash) {
        let mut h = Fnv::default();
        value.hash(&mut h);
        self.feed(&[std::hash::Hasher::finish(&h)]);
    }

    pub fn digest(&self) -> u64 {
        self.digest.0
    }

    pub fn logging(&self) -> bool {
        self.log.is_some()
    }

    pub fn log(&mut self, now_ns: u64, line: impl FnOnce() -> String) {
        if let Some(log) = &mut self.log {
            log.push(format!("{:>10} {}", fmt_time(now_ns), line()));
        }
    }

    /// A timeline entry; also fed to the digest and the log.
    pub fn mark(&mut self, now_ns: u64, text: String) {
        self.feed(&[now_ns, text.len() as u64]);
        self.digest.write(text.as_bytes());
        self.log(now_ns, || text.clone());
        if self.timeline.len() < MAX_TIMELINE {
            self.timeline.push((now_ns, text));
        } else {
            self.timeline_dropped += 1;
        }
    }
}

/// `12.345s`: simulated time as summaries print it.
pub fn fmt_time(ns: u64) -> String {
    format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}
