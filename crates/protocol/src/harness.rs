//! Drives one node by hand in unit tests: each call hands back exactly the effects it
//! emitted, so a test asserts a handler's behaviour effect by effect.

use crate::ids::{NodeId, RequestId, TimerId};
use crate::node::{Cx, Disk, Effect, Effects, Node};
use crate::op::ClientResult;
use crate::params::Params;
use crate::time::Instant;
use core::time::Duration;

/// One node, its clock and a seeded rng.
pub struct Harness<N: Node> {
    pub node: N,
    pub id: NodeId,
    pub cluster: Vec<NodeId>,
    pub now: Instant,
    pub rng: rand_core::block::BlockRng<SplitMix>,
}

/// A tiny deterministic generator for hand-driven tests (no extra dependency).
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl rand_core::block::BlockRngCore for SplitMix {
    type Item = u32;
    // Four words, not two: `BlockRng::next_u64` on an exhausted buffer generates and then
    // starts at index 2, which asserts the buffer holds more than two words.
    type Results = [u32; 4];
    fn generate(&mut self, out: &mut [u32; 4]) {
        for pair in out.chunks_exact_mut(2) {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            pair[0] = z as u32;
            pair[1] = (z >> 32) as u32;
        }
    }
}

/// A SplitMix stream seeded with `seed`.
pub fn split_mix(seed: u64) -> rand_core::block::BlockRng<SplitMix> {
    rand_core::block::BlockRng::new(SplitMix(seed))
}

impl<N: Node> Harness<N> {
    /// Node `id` of a cluster of `size` nodes (ids 1..=size), built from `params`.
    pub fn new(id: u32, size: u32, params: &Params) -> Harness<N> {
        let config = N::config(params).expect("test params are valid");
        Harness::with_config(id, size, &config)
    }

    /// As [`Harness::new`], from a parsed configuration.
    pub fn with_config(id: u32, size: u32, config: &N::Config) -> Harness<N> {
        let cluster: Vec<NodeId> = (1..=size).map(NodeId).collect();
        let id = NodeId(id);
        Harness {
            node: N::new(id, &cluster, config),
            id,
            cluster,
            now: Instant::ZERO,
            rng: split_mix(u64::from(id.0)),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    fn call(&mut self, f: impl FnOnce(&mut N, &mut Cx<'_, N>)) -> Effects<N> {
        let mut effects = Vec::new();
        let mut cx = Cx::new(
            self.id,
            &self.cluster,
            self.now,
            &mut self.rng,
            &mut effects,
        );
        f(&mut self.node, &mut cx);
        effects
    }

    pub fn start(&mut self, disk: &Disk<N::Record>) -> Effects<N> {
        self.call(|n, cx| n.on_start(cx, disk))
    }

    pub fn message(&mut self, from: u32, msg: N::Msg) -> Effects<N> {
        self.call(|n, cx| n.on_message(cx, NodeId(from), msg))
    }

    pub fn timer(&mut self, timer: TimerId) -> Effects<N> {
        self.call(|n, cx| n.on_timer(cx, timer))
    }

    pub fn client(&mut self, req: u64, op: N::Op) -> Effects<N> {
        self.call(|n, cx| n.on_client(cx, RequestId(req), op))
    }
}

/// The messages among `effects`, in order.
pub fn sends<M: Clone, R, T>(effects: &[Effect<M, R, T>]) -> Vec<(NodeId, M)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

/// The client replies among `effects`, in order.
pub fn replies<M, R, T: Clone>(effects: &[Effect<M, R, T>]) -> Vec<(RequestId, ClientResult<T>)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { req, result } => Some((*req, result.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_mix;
    use rand_core::RngCore;

    #[test]
    fn harness_rng_serves_u64s_and_u32s() {
        let mut rng = split_mix(1);
        let a = rng.next_u64();
        let _ = rng.next_u32();
        let b = rng.next_u64();
        let c = rng.next_u64();
        assert!(a != b && b != c);
    }
}
