//! Per-node clocks: an offset, a drift and step jumps on top of the one simulated time.
//! Nodes see only their own reading (through `Cx::now`), so leases and last-write-wins
//! meet skew exactly as they would in production.

/// A node's clock: `local = global + offset + global * drift_ppm / 1e6`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeClock {
    pub offset_ns: i64,
    pub drift_ppm: i64,
}

impl NodeClock {
    pub fn local(&self, global_ns: u64) -> u64 {
        if self.drift_ppm == 0 {
            // The common case, without the 128-bit arithmetic (same result).
            return (global_ns as i64).saturating_add(self.offset_ns).max(0) as u64;
        }
        let drift = (global_ns as i128 * self.drift_ppm as i128 / 1_000_000) as i64;
        (global_ns as i64)
            .saturating_add(self.offset_ns)
            .saturating_add(drift)
            .max(0) as u64
    }

    /// How much global time passes while this clock advances `local_ns`.
    pub fn to_global(&self, local_ns: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local_ns;
        }
        (local_ns as i128 * 1_000_000 / (1_000_000 + self.drift_ppm as i128)) as u64
    }

    pub fn jump(&mut self, by_ns: i64) {
        self.offset_ns = self.offset_ns.saturating_add(by_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew() {
        let c = NodeClock {
            offset_ns: -5,
            drift_ppm: 1000,
        };
        assert_eq!(c.local(1_000_000), 1_000_995);
        assert_eq!(c.to_global(1_001_000), 1_000_000);
        let mut c = NodeClock::default();
        c.jump(-10);
        assert_eq!(c.local(3), 0, "a clock stepped before zero reads zero");
        // The drift-free fast path agrees with the general formula.
        for (offset_ns, g) in [(0, 0), (7, 1_000_000_007), (-3, 2), (-9, 5), (i64::MAX, 1)] {
            let c = NodeClock {
                offset_ns,
                drift_ppm: 0,
            };
            let drift = i128::from(c.drift_ppm);
            let general = (g as i64)
                .saturating_add(offset_ns)
                .saturating_add((g as i128 * drift / 1_000_000) as i64)
                .max(0) as u64;
            assert_eq!(c.local(g), general);
            assert_eq!(
                c.to_global(g),
                (g as i128 * 1_000_000 / (1_000_000 + drift)) as u64
            );
        }
    }
}
