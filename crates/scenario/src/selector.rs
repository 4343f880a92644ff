//! Fault targets, named in a file and resolved against the cluster when the fault fires:
//! "the leader" means whoever leads at that instant of that seed.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// The node that leads now (highest term among claimants); if none leads, one node
    /// drawn from the seed.
    Leader,
    /// Every live node but the leader.
    Followers,
    /// The leader plus enough others to make a minority (the leader alone in 3 nodes).
    LeaderSide,
    /// A minority drawn from the seed (floor((n-1)/2) nodes).
    Minority,
    /// The complement of a minority.
    Majority,
    /// One node drawn from the seed.
    Random,
    /// Every node currently crashed (for restart) or paused (for resume).
    Down,
    All,
    /// Explicit nodes, 1-based: `n1`, `n2,n3`.
    Nodes(Vec<u32>),
    /// A system's extra node beyond the scenario's replicas (term-bully's monitor, the
    /// highest id); no node for systems without one. Explicit ids cannot name it, since
    /// a scenario's `nodes` counts replicas and every system must accept its selectors.
    Monitor,
    /// The node whose event fired a triggered fault (only with `on`).
    Trigger,
}

impl Selector {
    pub const NAMES: &'static str =
        "leader, followers, leader-side, minority, majority, random, down, all, monitor, trigger (with `on`), or nodes like n2 or n1,n3";

    /// `nodes` is the cluster size, to check explicit ids.
    pub fn parse(text: &str, nodes: u32) -> Result<Selector, String> {
        Ok(match text.trim() {
            "leader" => Selector::Leader,
            "followers" => Selector::Followers,
            "leader-side" => Selector::LeaderSide,
            "minority" => Selector::Minority,
            "majority" => Selector::Majority,
            "random" => Selector::Random,
            "down" => Selector::Down,
            "all" => Selector::All,
            "monitor" => Selector::Monitor,
            "trigger" => Selector::Trigger,
            list => {
                let mut ids = Vec::new();
                for part in list.split(',') {
                    let id = part
                        .trim()
                        .strip_prefix('n')
                        .and_then(|d| d.parse::<u32>().ok())
                        .ok_or_else(|| format!("{}; found {text:?}", Selector::NAMES))?;
                    if id == 0 || id > nodes {
                        return Err(format!("a node between n1 and n{nodes}, found n{id}"));
                    }
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids.sort_unstable();
                Selector::Nodes(ids)
            }
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Leader => f.write_str("leader"),
            Selector::Followers => f.write_str("followers"),
            Selector::LeaderSide => f.write_str("leader-side"),
            Selector::Minority => f.write_str("minority"),
            Selector::Majority => f.write_str("majority"),
            Selector::Random => f.write_str("random"),
            Selector::Down => f.write_str("down"),
            Selector::All => f.write_str("all"),
            Selector::Monitor => f.write_str("monitor"),
            Selector::Trigger => f.write_str("trigger"),
            Selector::Nodes(ids) => {
                let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_is_named_not_numbered_and_ids_stay_within_the_replicas() {
        assert_eq!(Selector::parse("monitor", 3), Ok(Selector::Monitor));
        assert_eq!(Selector::Monitor.to_string(), "monitor");
        assert_eq!(Selector::parse("n3,n1", 3), Ok(Selector::Nodes(vec![1, 3])));
        let err = Selector::parse("n4", 3).expect_err("n4 is no replica of 3");
        assert!(err.contains("between n1 and n3"), "{err}");
    }
}
