//! Per-node durable storage with explicit sync. Writes are buffered until `Sync`; a crash
//! loses every unsynced write or, with torn writes, keeps a random prefix of them, as a
//! file system that reorders nothing but stops mid-flush would.

use protocol::Disk as Surviving;
use rand_core::RngCore;

enum Op<R> {
    Put(String, R),
    Erase(String),
}

pub struct Disk<R> {
    /// What survived as of the last compaction.
    durable: Surviving<R>,
    /// Synced writes not yet folded into `durable`. Folding happens only when a node boots
    /// (or the list grows past [`MAX_SYNCED_LOG`]): a sync on the hot path is then a move,
    /// not a string-keyed tree insert per write.
    synced: Vec<Op<R>>,
    unsynced: Vec<Op<R>>,
}

/// Synced writes kept unfolded before they are folded into the tree, bounding memory.
pub const MAX_SYNCED_LOG: usize = 1 << 16;

/// A node that buffers more than this many writes without syncing is broken.
pub const MAX_UNSYNCED: usize = 1 << 20;

impl<R: Clone> Disk<R> {
    pub fn new() -> Disk<R> {
        Disk {
            durable: Surviving::new(),
            synced: Vec::new(),
            unsynced: Vec::new(),
        }
    }

    pub fn persist(&mut self, key: String, value: R) {
        assert!(
            self.unsynced.len() < MAX_UNSYNCED,
            "unbounded unsynced writes"
        );
        self.unsynced.push(Op::Put(key, value));
    }

    pub fn erase(&mut self, key: String) {
        assert!(
            self.unsynced.len() < MAX_UNSYNCED,
            "unbounded unsynced writes"
        );
        self.unsynced.push(Op::Erase(key));
    }

    pub fn sync(&mut self) {
        self.synced.append(&mut self.unsynced);
        if self.synced.len() > MAX_SYNCED_LOG {
            self.fold();
        }
    }

    fn fold(&mut self) {
        for op in self.synced.drain(..) {
            match op {
                Op::Put(k, v) => {
                    self.durable.insert(k, v);
                }
                Op::Erase(k) => {
                    self.durable.remove(&k);
                }
            }
        }
    }

    /// The crash: returns how many unsynced writes were lost.
    pub fn crash(&mut self, torn: bool, rng: &mut dyn RngCore) -> usize {
        let pending = self.unsynced.len();
        if torn && pending > 0 {
            let keep = (rng.next_u64() % (pending as u64 + 1)) as usize;
            self.unsynced.truncate(keep);
            self.sync();
            pending - keep
        } else {
            self.unsynced.clear();
            pending
        }
    }

    pub fn surviving(&mut self) -> &Surviving<R> {
        assert!(
            self.unsynced.is_empty(),
            "a node boots only from what survived"
        );
        self.fold();
        &self.durable
    }
}

impl<R: Clone> Default for Disk<R> {
    fn default() -> Self {
        Disk::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn crash_loses_unsynced_and_tears_a_prefix() {
        let mut d = Disk::new();
        d.persist("a".into(), 1);
        d.sync();
        d.persist("b".into(), 2);
        d.erase("a".into());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(d.crash(false, &mut rng), 2);
        assert_eq!(d.surviving().get("a"), Some(&1));
        assert_eq!(d.surviving().get("b"), None);

        let mut torn_kept_some = false;
        for seed in 0..20 {
            let mut d = Disk::new();
            d.persist("x".into(), 1);
            d.persist("y".into(), 2);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let lost = d.crash(true, &mut rng);
            let s = d.surviving();
            // A prefix survives: never y without x.
            assert!(!s.contains_key("y") || s.contains_key("x"));
            assert_eq!(2 - lost, s.len());
            torn_kept_some |= lost < 2;
        }
        assert!(torn_kept_some);
    }
}
