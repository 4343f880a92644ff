//! The simulated network between nodes: per-packet latency, loss, duplication, reordering,
//! and partitions (symmetric or one-way) that can also kill packets already in flight.
//!
//! Client links are modelled apart (see `client`): clients sit beside every node and are
//! never partitioned, so a partition tests the replicas, not the clients' connectivity.

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use scenario::{Distribution, Network as NetworkSpec};

/// At most two copies of a packet arrive (the original and one duplicate).
pub const MAX_COPIES: usize = 2;

pub struct Net {
    spec: NetworkSpec,
    /// The scenario's delay range, which a latency fault changes until the quiesce.
    base_latency: (core::time::Duration, core::time::Duration),
    loss: f64,
    n: usize,
    /// `cut[from * n + to]`: packets from `from` to `to` are dropped.
    cut: Vec<bool>,
    /// Bumped when a link is cut; a packet stamped with an older epoch died in flight.
    epoch: Vec<u32>,
    rng: ChaCha8Rng,
}

/// Where a packet stands when it is sent.
pub enum Transmit {
    /// Dropped at send: the link is cut, or the packet was lost.
    Dropped(&'static str),
    /// Arrives after these delays (nanoseconds), stamped with the link's epoch.
    Arrives {
        delays: [Option<u64>; MAX_COPIES],
        epoch: u32,
    },
}

impl Net {
    pub fn new(spec: NetworkSpec, n: usize, rng: ChaCha8Rng) -> Net {
        Net {
            loss: spec.loss,
            base_latency: (spec.latency_min, spec.latency_max),
            spec,
            n,
            cut: vec![false; n * n],
            epoch: vec![0; n * n],
            rng,
        }
    }

    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One-way delay in nanoseconds, at least `latency_min` (>= 1 ms).
    pub fn latency(&mut self) -> u64 {
        let lo = self.spec.latency_min.as_nanos() as u64;
        let hi = self.spec.latency_max.as_nanos() as u64;
        let base = match self.spec.distribution {
            Distribution::Uniform => lo + (self.unit() * (hi - lo) as f64) as u64,
            Distribution::Exponential => {
                let mean = (hi - lo) as f64 / 4.0;
                let tail = -mean * (1.0 - self.unit()).ln();
                lo + (tail as u64).min(hi - lo)
            }
        };
        if self.spec.reorder > 0.0 && self.unit() < self.spec.reorder {
            base + (self.unit() * hi as f64) as u64
        } else {
            base
        }
    }

    pub fn transmit(&mut self, from: usize, to: usize) -> Transmit {
        let link = from * self.n + to;
        if self.cut[link] {
            return Transmit::Dropped("partitioned");
        }
        if self.loss > 0.0 && self.unit() < self.loss {
            return Transmit::Dropped("lost");
        }
        let first = self.latency();
        let second = if self.spec.duplicate > 0.0 && self.unit() < self.spec.duplicate {
            Some(self.latency())
        } else {
            None
        };
        Transmit::Arrives {
            delays: [Some(first), second],
            epoch: self.epoch[link],
        }
    }

    /// Whether a packet stamped `epoch` at send may be delivered now.
    pub fn deliverable(&self, from: usize, to: usize, epoch: u32) -> bool {
        let link = from * self.n + to;
        !self.cut[link] && (!self.spec.partition_kills_in_flight || self.epoch[link] == epoch)
    }

    pub fn cut(&mut self, from: usize, to: usize) {
        let link = from * self.n + to;
        if !self.cut[link] {
            self.cut[link] = true;
            self.epoch[link] += 1;
        }
    }

    /// Cuts every link between `side` and the rest, both ways.
    pub fn split(&mut self, side: &[usize]) {
        for a in 0..self.n {
            for b in 0..self.n {
                if side.contains(&a) != side.contains(&b) {
                    self.cut(a, b);
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.iter_mut().for_each(|c| *c = false);
    }

    pub fn set_loss(&mut self, rate: f64) {
        self.loss = rate;
    }

    /// Every packet's one-way delay range from now on.
    pub fn set_latency(&mut self, min: core::time::Duration, max: core::time::Duration) {
        assert!(
            min >= core::time::Duration::from_millis(1) && max >= min,
            "a latency range the parser checked"
        );
        self.spec.latency_min = min;
        self.spec.latency_max = max;
    }

    pub fn restore_latency(&mut self) {
        let (min, max) = self.base_latency;
        self.set_latency(min, max);
    }

    pub fn is_partitioned(&self) -> bool {
        self.cut.iter().any(|c| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;
    use std::time::Duration;

    fn net(spec: NetworkSpec) -> Net {
        Net::new(spec, 3, ChaCha8Rng::seed_from_u64(7))
    }

    fn arrives(t: Transmit) -> ([Option<u64>; MAX_COPIES], u32) {
        match t {
            Transmit::Arrives { delays, epoch } => (delays, epoch),
            Transmit::Dropped(why) => panic!("dropped: {why}"),
        }
    }

    #[test]
    fn latency_stays_within_its_bounds_for_both_distributions() {
        for distribution in [Distribution::Uniform, Distribution::Exponential] {
            let spec = NetworkSpec {
                latency_min: Duration::from_millis(2),
                latency_max: Duration::from_millis(9),
                distribution,
                ..NetworkSpec::default()
            };
            let mut n = net(spec);
            let (mut lo, mut hi) = (u64::MAX, 0);
            for _ in 0..10_000 {
                let l = n.latency();
                lo = lo.min(l);
                hi = hi.max(l);
            }
            assert!(
                lo >= 2_000_000 && hi <= 9_000_000,
                "{distribution:?}: {lo}..{hi}"
            );
            assert!(
                hi - lo > 5_000_000,
                "{distribution:?} barely spreads: {lo}..{hi}"
            );
        }
    }

    #[test]
    fn a_partition_drops_new_packets_and_kills_those_in_flight() {
        let mut n = net(NetworkSpec::default());
        let (_, epoch) = arrives(n.transmit(0, 1));
        assert!(n.deliverable(0, 1, epoch));
        n.split(&[0]);
        assert!(matches!(n.transmit(0, 1), Transmit::Dropped("partitioned")));
        assert!(matches!(n.transmit(1, 0), Transmit::Dropped("partitioned")));
        assert!(
            !n.deliverable(0, 1, epoch),
            "in flight when the link was cut"
        );
        n.heal();
        assert!(
            !n.deliverable(0, 1, epoch),
            "a healed link does not revive a dead packet"
        );
        let (_, fresh) = arrives(n.transmit(0, 1));
        assert!(n.deliverable(0, 1, fresh));
        // Links between nodes on the same side were never cut.
        let (_, other) = arrives(n.transmit(1, 2));
        assert!(n.deliverable(1, 2, other));
    }

    #[test]
    fn in_flight_packets_survive_when_the_scenario_says_so() {
        let mut n = net(NetworkSpec {
            partition_kills_in_flight: false,
            ..NetworkSpec::default()
        });
        let (_, epoch) = arrives(n.transmit(0, 1));
        n.cut(0, 1);
        assert!(!n.deliverable(0, 1, epoch), "still cut: nothing crosses");
        n.heal();
        assert!(n.deliverable(0, 1, epoch), "delivered after the heal");
    }

    #[test]
    fn one_way_cuts_only_one_direction() {
        let mut n = net(NetworkSpec::default());
        n.cut(0, 1);
        assert!(matches!(n.transmit(0, 1), Transmit::Dropped(_)));
        arrives(n.transmit(1, 0));
        assert!(n.is_partitioned());
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let mut n = net(NetworkSpec {
            loss: 0.25,
            duplicate: 0.5,
            ..NetworkSpec::default()
        });
        let (mut lost, mut doubled) = (0, 0);
        for _ in 0..20_000 {
            match n.transmit(0, 1) {
                Transmit::Dropped(_) => lost += 1,
                Transmit::Arrives { delays, .. } => doubled += usize::from(delays[1].is_some()),
            }
        }
        assert!(
            (4_500..5_500).contains(&lost),
            "lost {lost} of 20000 at 25%"
        );
        assert!(
            (7_000..8_000).contains(&doubled),
            "doubled {doubled} of ~15000 at 50%"
        );
    }
}
