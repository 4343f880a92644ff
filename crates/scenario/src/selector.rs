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

/// The cluster as a selector sees it when its fault fires (node indexes, 0-based).
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    pub nodes: usize,
    /// Nodes `replicas..nodes` are a system's extras (the `monitor`).
    pub replicas: usize,
    /// The node that leads now, if one does.
    pub leader: Option<usize>,
    /// Crashed or paused nodes.
    pub down: &'a [usize],
    /// The node whose event fired a triggered fault.
    pub trigger: Option<usize>,
}

impl Selector {
    /// The nodes this selector names in `view` (in order, each once), drawing what it
    /// leaves to chance with `next` (a fault stream in simulation, anything in real
    /// mode): the one resolution the simulator and real mode's nemesis share.
    pub fn resolve(&self, view: &View<'_>, next: &mut dyn FnMut() -> u64) -> Vec<usize> {
        let n = view.nodes;
        let all = || (0..n).collect::<Vec<usize>>();
        let minority = n.saturating_sub(1) / 2;
        let mut picked = match self {
            Selector::All => all(),
            Selector::Monitor => (view.replicas..n).collect(),
            Selector::Trigger => view.trigger.into_iter().collect(),
            Selector::Nodes(ids) => ids.iter().map(|i| *i as usize - 1).collect(),
            Selector::Down => view.down.to_vec(),
            Selector::Random => draw(next, 1, all()),
            Selector::Minority => draw(next, minority.max(1), all()),
            Selector::Majority => {
                let minority = draw(next, minority.max(1), all());
                (0..n).filter(|i| !minority.contains(i)).collect()
            }
            Selector::Leader => match view.leader {
                Some(l) => vec![l],
                None => draw(next, 1, all()),
            },
            Selector::Followers => (0..n).filter(|i| Some(*i) != view.leader).collect(),
            Selector::LeaderSide => {
                let l = view.leader.unwrap_or(0);
                let others: Vec<usize> = (0..n).filter(|i| *i != l).collect();
                let mut side = draw(next, minority.saturating_sub(1), others);
                side.push(l);
                side
            }
        };
        picked.sort_unstable();
        picked.dedup();
        picked
    }
}

/// `k` nodes drawn from `pool` with `next`, in id order.
pub fn draw(next: &mut dyn FnMut() -> u64, k: usize, mut pool: Vec<usize>) -> Vec<usize> {
    let mut out = Vec::new();
    while out.len() < k && !pool.is_empty() {
        let i = (next() % pool.len() as u64) as usize;
        out.push(pool.remove(i));
    }
    out.sort_unstable();
    out
}
