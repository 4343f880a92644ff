//! `PeerMap`: a leader's per-peer state (next index, match index, read acks, last ack).
//!
//! A cluster has a handful of peers and the leader touches these maps on every reply, so
//! a short vector sorted by id, searched linearly, beats a `BTreeMap`'s node walk. It keeps
//! the `BTreeMap` order (ascending id), so anything iterating it behaves the same.

use protocol::NodeId;

/// Peers beyond this are a configuration error: clusters are a few nodes.
pub const MAX_PEERS: usize = 63;

#[derive(Clone, Debug)]
pub struct PeerMap<T> {
    /// Sorted by id, ids unique.
    slots: Vec<(NodeId, T)>,
}

impl<T> PeerMap<T> {
    pub fn get(&self, peer: NodeId) -> Option<&T> {
        self.slots.iter().find(|(p, _)| *p == peer).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, peer: NodeId) -> Option<&mut T> {
        self.slots
            .iter_mut()
            .find(|(p, _)| *p == peer)
            .map(|(_, v)| v)
    }

    /// Replaces the value of a known peer. A leader never learns new peers mid-term.
    pub fn set(&mut self, peer: NodeId, value: T) {
        *self.get_mut(peer).expect("a peer of this leader") = value;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.slots.iter().map(|(p, v)| (*p, v))
    }
}

impl<T> std::ops::Index<NodeId> for PeerMap<T> {
    type Output = T;
    fn index(&self, peer: NodeId) -> &T {
        self.get(peer).expect("a peer of this leader")
    }
}

impl<T> FromIterator<(NodeId, T)> for PeerMap<T> {
    fn from_iter<I: IntoIterator<Item = (NodeId, T)>>(iter: I) -> Self {
        let mut slots: Vec<(NodeId, T)> = iter.into_iter().collect();
        slots.sort_by_key(|(p, _)| *p);
        assert!(
            slots.windows(2).all(|w| w[0].0 != w[1].0),
            "a peer listed twice"
        );
        assert!(slots.len() <= MAX_PEERS, "{} peers", slots.len());
        PeerMap { slots }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_id_order_and_finds_each_peer() {
        let m: PeerMap<u64> = [(NodeId(3), 30), (NodeId(1), 10), (NodeId(2), 20)]
            .into_iter()
            .collect();
        let ids: Vec<NodeId> = m.iter().map(|(p, _)| p).collect();
        assert_eq!(ids, vec![NodeId(1), NodeId(2), NodeId(3)]);
        assert_eq!(m[NodeId(2)], 20);
        assert_eq!(m.get(NodeId(4)), None);
        let mut m = m;
        m.set(NodeId(3), 31);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), vec![10, 20, 31]);
    }

    #[test]
    #[should_panic(expected = "a peer listed twice")]
    fn rejects_a_duplicate_peer() {
        let _: PeerMap<u64> = [(NodeId(1), 1), (NodeId(1), 2)].into_iter().collect();
    }
}
