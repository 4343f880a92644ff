//! A mailbox: the events waiting for one node, in (arrival time, sequence number) order.
//! The heap sifts small keys while the events themselves wait in a slab, so a push or pop
//! moves 24 bytes however large the message.

use protocol::{RequestId, TimerId};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Events waiting in one mailbox; beyond this a run is broken (a message storm).
pub const MAX_MAILBOX: usize = 1 << 20;

/// What waits in a node's mailbox: a packet from another node (stamped with its link's
/// epoch, so a partition kills it in flight), a timer's firing, or a client's request.
pub enum NodeEvent<M, O> {
    Msg { from: usize, msg: M, epoch: u32 },
    Timer { timer: TimerId, generation: u64 },
    Client { req: RequestId, op: O },
}

/// An event taken off the mailbox, with the time it was due.
pub struct Pending<E> {
    pub at_ns: u64,
    pub event: E,
}

/// A heap entry: the ordering key and where the event waits in the mailbox's slab.
/// Events stay put while the heap sifts 24-byte keys.
struct Key {
    at_ns: u64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ns, self.seq) == (other.at_ns, other.seq)
    }
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ns, other.seq).cmp(&(self.at_ns, self.seq))
    }
}

pub struct Mailbox<E> {
    heap: BinaryHeap<Key>,
    /// The queued events, by slot; `None` in a free slot.
    slab: Vec<Option<E>>,
    free: Vec<u32>,
}

impl<E> Default for Mailbox<E> {
    fn default() -> Self {
        Mailbox::new()
    }
}

impl<E> Mailbox<E> {
    pub fn new() -> Mailbox<E> {
        Mailbox {
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn push(&mut self, at_ns: u64, seq: u64, event: E) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(event);
                slot
            }
            None => {
                self.slab.push(Some(event));
                (self.slab.len() - 1) as u32
            }
        };
        self.heap.push(Key { at_ns, seq, slot });
    }

    /// When the earliest queued event is due.
    pub fn next_at(&self) -> Option<u64> {
        self.heap.peek().map(|k| k.at_ns)
    }

    pub fn pop_due(&mut self, now_ns: u64) -> Option<Pending<E>> {
        if self.heap.peek().is_some_and(|k| k.at_ns <= now_ns) {
            let key = self.heap.pop().expect("peeked");
            let event = self.slab[key.slot as usize]
                .take()
                .expect("a queued key has its event");
            self.free.push(key.slot);
            Some(Pending {
                at_ns: key.at_ns,
                event,
            })
        } else {
            None
        }
    }
}
