//! What happened in a run: a digest of every event (the determinism fingerprint), a
//! compact timeline for snapshots (faults, role and term changes, write counts), and, in
//! replay mode, a readable line per event.

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

#[derive(Default)]
pub struct Trace {
    digest: Mix,
    /// (simulated ns, text): faults and role changes, for summaries.
    pub timeline: Vec<(u64, String)>,
    pub timeline_dropped: usize,
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
