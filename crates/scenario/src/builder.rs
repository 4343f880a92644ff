//! Scenarios built in code, for a test that wants one without a file. The builder writes
//! the scenario as the TOML a file would hold ([`ScenarioBuilder::to_toml`]) and parses it
//! with the same rules, so a scenario built in code is checked exactly as a file is, and
//! can be saved as one.

use crate::catalog::Catalog;
use crate::parse::{parse_str, ScenarioError};
use crate::schema::{
    Action, Distribution, Expect, Network, ProtocolEvent, Scenario, Trigger, Workload,
};
use crate::selector::Selector;
use core::time::Duration;
use protocol::InvariantId;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// A scenario under construction. Unset fields take the defaults a file's would.
#[derive(Clone, Debug)]
pub struct ScenarioBuilder {
    /// Comment lines at the file's head (where a generated scenario came from).
    comments: Vec<String>,
    name: String,
    description: String,
    systems: Vec<String>,
    nodes: u32,
    duration: Duration,
    liveness: Option<Duration>,
    quiesce: Option<Duration>,
    seeds: Option<u64>,
    first_seed: Option<u64>,
    pinned_seed: Option<u64>,
    /// Lines of the `[network]`, `[clock]` and `[disk]` tables, in order.
    network: Vec<String>,
    clock: Vec<String>,
    disk: Vec<String>,
    workload: Vec<String>,
    timeline: Vec<String>,
    expect: BTreeMap<String, String>,
    sometimes: BTreeMap<String, String>,
    params: BTreeMap<String, Vec<String>>,
}

/// `d` as a scenario file writes it, exactly.
fn dur(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns.is_multiple_of(1_000_000) {
        format!("\"{}ms\"", ns / 1_000_000)
    } else {
        format!("\"{ns}ns\"")
    }
}

fn quoted(s: &str) -> String {
    // TOML basic strings escape like Rust's debug rendering for what scenarios hold.
    format!("{s:?}")
}

fn names(ids: &[InvariantId]) -> String {
    let list: Vec<String> = ids.iter().map(|i| quoted(i.name())).collect();
    format!("[{}]", list.join(", "))
}

impl ScenarioBuilder {
    /// A scenario called `name` (its snapshot's name) for `nodes` replicas, running
    /// `duration`.
    pub fn new(name: &str, nodes: u32, duration: Duration) -> ScenarioBuilder {
        ScenarioBuilder {
            comments: Vec::new(),
            name: name.to_string(),
            description: name.to_string(),
            systems: Vec::new(),
            nodes,
            duration,
            liveness: None,
            quiesce: None,
            seeds: None,
            first_seed: None,
            pinned_seed: None,
            network: Vec::new(),
            clock: Vec::new(),
            disk: Vec::new(),
            workload: vec!["clients = 3".into(), "rate = 50".into()],
            timeline: Vec::new(),
            expect: BTreeMap::new(),
            sometimes: BTreeMap::new(),
            params: BTreeMap::new(),
        }
    }

    /// Every setting of `sc` written out, defaults included, so the file says all a run
    /// of it depends on and parses back to the same scenario: how a swarm run is exported
    /// and how a shrunk one is saved.
    pub fn from_scenario(sc: &Scenario) -> ScenarioBuilder {
        let mut b = ScenarioBuilder::new(&sc.name, sc.nodes, sc.duration)
            .description(&sc.description)
            .seeds(sc.seeds)
            .first_seed(sc.first_seed)
            .pinned_seed(sc.pinned_seed)
            .quiesce(sc.quiesce);
        b.systems = sc.systems.clone();
        b.liveness = sc.liveness;
        b.network = network_lines(&sc.network);
        b.clock = vec![
            format!("max_offset = {}", dur(sc.clock.max_offset)),
            format!("max_drift_ppm = {}", sc.clock.max_drift_ppm),
        ];
        b.disk = vec![format!("torn_writes = {}", sc.disk.torn_writes)];
        b.workload = workload_lines(&sc.workload);
        for f in &sc.timeline {
            let repeat = f.every.map(|e| (e, f.times));
            b = b.fault(f.at, f.action.clone(), repeat, f.on.as_ref());
        }
        for (system, verdict) in &sc.expect {
            let ids: Vec<InvariantId> = match verdict {
                Expect::Pass => Vec::new(),
                Expect::Violates(ids) => ids.iter().copied().collect(),
            };
            b = b.expect(system, &ids);
        }
        for (system, ids) in &sc.sometimes {
            b = b.sometimes(system, &ids.iter().copied().collect::<Vec<_>>());
        }
        for (system, params) in &sc.params {
            for (name, value) in &params.0 {
                b = b.param(system, name, value);
            }
        }
        b
    }

    /// A comment line at the file's head.
    pub fn comment(mut self, text: &str) -> Self {
        self.comments.extend(
            text.lines()
                .map(|l| format!("# {l}").trim_end().to_string()),
        );
        self
    }

    pub fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }

    /// Adds `system`, expected to pass unless [`ScenarioBuilder::expect`] says otherwise.
    pub fn system(mut self, system: &str) -> Self {
        self.systems.push(system.to_string());
        self.expect
            .entry(system.to_string())
            .or_insert_with(|| quoted("pass"));
        self
    }

    /// A liveness phase of `d` after the faults (see [`crate::Scenario::liveness`]).
    pub fn liveness(mut self, d: Duration) -> Self {
        self.liveness = Some(d);
        self
    }

    pub fn quiesce(mut self, d: Duration) -> Self {
        self.quiesce = Some(d);
        self
    }

    pub fn seeds(mut self, n: u64) -> Self {
        self.seeds = Some(n);
        self
    }

    /// The default seeds start here instead of at 1.
    pub fn first_seed(mut self, seed: u64) -> Self {
        self.first_seed = Some(seed);
        self
    }

    pub fn pinned_seed(mut self, seed: u64) -> Self {
        self.pinned_seed = Some(seed);
        self
    }

    pub fn latency(mut self, min: Duration, max: Duration) -> Self {
        self.network
            .push(format!("latency = [{}, {}]", dur(min), dur(max)));
        self
    }

    pub fn loss(mut self, p: f64) -> Self {
        self.network.push(format!("loss = {p:?}"));
        self
    }

    pub fn duplicate(mut self, p: f64) -> Self {
        self.network.push(format!("duplicate = {p:?}"));
        self
    }

    pub fn reorder(mut self, p: f64) -> Self {
        self.network.push(format!("reorder = {p:?}"));
        self
    }

    pub fn clock_offset(mut self, max: Duration) -> Self {
        self.clock.push(format!("max_offset = {}", dur(max)));
        self
    }

    pub fn clock_drift_ppm(mut self, max: u64) -> Self {
        self.clock.push(format!("max_drift_ppm = {max}"));
        self
    }

    pub fn torn_writes(mut self) -> Self {
        self.disk.push("torn_writes = true".into());
        self
    }

    /// Clients and their total rate (operations per simulated second).
    pub fn clients(mut self, clients: u32, rate_per_s: f64) -> Self {
        self.workload
            .retain(|l| !l.starts_with("clients") && !l.starts_with("rate"));
        self.workload.push(format!("clients = {clients}"));
        self.workload.push(format!("rate = {rate_per_s:?}"));
        self
    }

    pub fn keys(mut self, keys: u32) -> Self {
        self.workload.push(format!("keys = {keys}"));
        self
    }

    pub fn timeout(mut self, d: Duration) -> Self {
        self.workload.push(format!("timeout = {}", dur(d)));
        self
    }

    /// Relative weights by operation name.
    pub fn mix(mut self, weights: &[(&str, u32)]) -> Self {
        let entries: Vec<String> = weights
            .iter()
            .map(|(op, w)| format!("{} = {w}", quoted(op)))
            .collect();
        self.workload
            .push(format!("mix = {{ {} }}", entries.join(", ")));
        self
    }

    /// `action` at `at`.
    pub fn at(self, at: Duration, action: Action) -> Self {
        self.fault(at, action, None, None)
    }

    /// `action` right after `trigger`'s event, armed from `at`.
    pub fn on(self, at: Duration, trigger: &Trigger, action: Action) -> Self {
        self.fault(at, action, None, Some(trigger))
    }

    /// `action` at `at`, then every `every`, `times` times in all.
    pub fn every(self, at: Duration, every: Duration, times: u32, action: Action) -> Self {
        self.fault(at, action, Some((every, times)), None)
    }

    fn fault(
        mut self,
        at: Duration,
        action: Action,
        repeat: Option<(Duration, u32)>,
        on: Option<&Trigger>,
    ) -> Self {
        let mut t = format!("[[timeline]]\nat = {}\n", dur(at));
        if let Some(trigger) = on {
            t.push_str(&trigger_toml(trigger));
        }
        t.push_str(&action_toml(&action));
        if let Some((every, times)) = repeat {
            let _ = write!(t, "every = {}\ntimes = {times}\n", dur(every));
        }
        self.timeline.push(t);
        self
    }

    /// `system` must violate exactly `invariants` on some default seed (none: pass).
    pub fn expect(mut self, system: &str, invariants: &[InvariantId]) -> Self {
        let v = if invariants.is_empty() {
            quoted("pass")
        } else {
            names(invariants)
        };
        self.expect.insert(system.to_string(), v);
        self
    }

    /// `system` may violate `invariants` on some seeds.
    pub fn sometimes(mut self, system: &str, invariants: &[InvariantId]) -> Self {
        self.sometimes.insert(system.to_string(), names(invariants));
        self
    }

    /// A parameter for `system`'s configuration.
    pub fn param(mut self, system: &str, name: &str, value: impl ToString) -> Self {
        self.params
            .entry(system.to_string())
            .or_default()
            .push(format!("{name} = {}", quoted(&value.to_string())));
        self
    }

    /// The scenario as a file would hold it.
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        for c in &self.comments {
            let _ = writeln!(t, "{c}");
        }
        let systems: Vec<String> = self.systems.iter().map(|s| quoted(s)).collect();
        let _ = writeln!(t, "description = {}", quoted(&self.description));
        let _ = writeln!(t, "systems = [{}]", systems.join(", "));
        let _ = writeln!(t, "nodes = {}", self.nodes);
        let _ = writeln!(t, "duration = {}", dur(self.duration));
        if let Some(l) = self.liveness {
            let _ = writeln!(t, "liveness = {}", dur(l));
        }
        if let Some(q) = self.quiesce {
            let _ = writeln!(t, "quiesce = {}", dur(q));
        }
        if let Some(n) = self.seeds {
            let _ = writeln!(t, "seeds = {n}");
        }
        if let Some(s) = self.first_seed {
            let _ = writeln!(t, "first_seed = {s}");
        }
        if let Some(s) = self.pinned_seed {
            let _ = writeln!(t, "pinned_seed = {s}");
        }
        for (table, lines) in [
            ("network", &self.network),
            ("clock", &self.clock),
            ("disk", &self.disk),
            ("workload", &self.workload),
        ] {
            if table == "workload" || !lines.is_empty() {
                let _ = writeln!(t, "\n[{table}]\n{}", lines.join("\n"));
            }
        }
        for f in &self.timeline {
            let _ = write!(t, "\n{f}");
        }
        let _ = writeln!(t, "\n[expect]");
        for (s, v) in &self.expect {
            let _ = writeln!(t, "{} = {v}", quoted(s));
        }
        if !self.sometimes.is_empty() {
            let _ = writeln!(t, "\n[sometimes]");
            for (s, v) in &self.sometimes {
                let _ = writeln!(t, "{} = {v}", quoted(s));
            }
        }
        for (s, lines) in &self.params {
            let _ = writeln!(t, "\n[params.{}]\n{}", quoted(s), lines.join("\n"));
        }
        t
    }

    /// The scenario, checked as a file named `<name>.toml` would be against `catalog`.
    pub fn build(&self, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
        parse_str(
            &self.to_toml(),
            Path::new(&format!("{}.toml", self.name)),
            catalog,
        )
    }
}

fn network_lines(n: &Network) -> Vec<String> {
    let distribution = match n.distribution {
        Distribution::Uniform => "uniform",
        Distribution::Exponential => "exponential",
    };
    vec![
        format!("latency = [{}, {}]", dur(n.latency_min), dur(n.latency_max)),
        format!("distribution = {}", quoted(distribution)),
        format!("loss = {:?}", n.loss),
        format!("duplicate = {:?}", n.duplicate),
        format!("reorder = {:?}", n.reorder),
        format!(
            "partition_kills_in_flight = {}",
            n.partition_kills_in_flight
        ),
    ]
}

fn workload_lines(w: &Workload) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(kind) = &w.kind {
        lines.push(format!("kind = {}", quoted(kind)));
    }
    lines.push(format!("clients = {}", w.clients));
    lines.push(format!("rate = {:?}", w.rate_per_s));
    if !w.mix.is_empty() {
        let entries: Vec<String> = w
            .mix
            .iter()
            .map(|(op, weight)| format!("{} = {weight}", quoted(op)))
            .collect();
        lines.push(format!("mix = {{ {} }}", entries.join(", ")));
    }
    lines.push(format!("keys = {}", w.keys));
    lines.push(format!("timeout = {}", dur(w.timeout)));
    lines.push(format!("max_redirects = {}", w.max_redirects));
    lines
}

/// A trigger's fields, as a file writes them.
fn trigger_toml(t: &Trigger) -> String {
    let mut out = String::new();
    match &t.event {
        ProtocolEvent::Role { role, min_term } => {
            let _ = write!(out, "on = \"role\"\nrole = \"{}\"\n", role.name());
            if *min_term > 0 {
                let _ = writeln!(out, "term_at_least = {min_term}");
            }
        }
        ProtocolEvent::Send { message, with } => {
            out.push_str("on = \"send\"\n");
            if let Some(m) = message {
                let _ = writeln!(out, "message = {}", quoted(m));
            }
            if let Some(w) = with {
                let _ = writeln!(out, "with = {}", quoted(w));
            }
        }
        ProtocolEvent::Persist => out.push_str("on = \"persist\"\n"),
        ProtocolEvent::Sync => out.push_str("on = \"sync\"\n"),
        ProtocolEvent::Reply { ok } => {
            out.push_str("on = \"reply\"\n");
            if !ok {
                out.push_str("ok = false\n");
            }
        }
    }
    if t.node != Selector::All {
        let _ = writeln!(out, "node = \"{}\"", t.node);
    }
    if t.count != 1 {
        let _ = writeln!(out, "count = {}", t.count);
    }
    out
}

/// A fault's fields after `at`, as a file writes them.
fn action_toml(action: &Action) -> String {
    let verb = action.verb();
    let fields = match action {
        Action::Crash { target: s }
        | Action::Restart { target: s }
        | Action::Pause { target: s }
        | Action::Resume { target: s }
        | Action::Isolate { target: s }
        | Action::Partition { target: s } => format!("target = \"{s}\"\n"),
        Action::OneWay { from, to } => format!("from = \"{from}\"\nto = \"{to}\"\n"),
        Action::Heal => String::new(),
        Action::ClockJump { target: s, by_ns } => {
            format!("target = \"{s}\"\nby = \"{by_ns}ns\"\n")
        }
        Action::Loss { rate } => format!("rate = {rate:?}\n"),
        Action::Latency { min, max } => format!("latency = [{}, {}]\n", dur(*min), dur(*max)),
    };
    format!("do = \"{verb}\"\n{fields}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::SystemInfo;

    fn catalog() -> Catalog {
        Catalog::new(vec![SystemInfo {
            name: "lock",
            workload: "lock",
            ops: &["acquire", "release"],
            invariants: InvariantId::BUILTIN.to_vec(),
        }])
    }

    #[test]
    fn a_built_scenario_is_the_file_it_writes() {
        let b = ScenarioBuilder::new("skew", 3, Duration::from_secs(20))
            .system("lock")
            .seeds(4)
            .latency(Duration::from_millis(2), Duration::from_micros(5_500))
            .clock_offset(Duration::from_millis(50))
            .clients(2, 20.0)
            .mix(&[("acquire", 3), ("release", 1)])
            .at(
                Duration::from_secs(5),
                Action::ClockJump {
                    target: Selector::Leader,
                    by_ns: -3_000_000_000,
                },
            )
            .every(
                Duration::from_secs(8),
                Duration::from_millis(1500),
                3,
                Action::Isolate {
                    target: Selector::Nodes(vec![1, 3]),
                },
            )
            .expect("lock", &[InvariantId::LINEARIZABILITY])
            .param("lock", "lease_ms", 800);
        let sc = b.build(&catalog()).expect("valid");
        assert_eq!(sc.name, "skew");
        assert_eq!(sc.network.latency_max, Duration::from_micros(5_500));
        assert_eq!(sc.workload.mix["acquire"], 3);
        assert_eq!(sc.timeline.len(), 2);
        assert_eq!(
            sc.timeline[0].action,
            Action::ClockJump {
                target: Selector::Leader,
                by_ns: -3_000_000_000
            }
        );
        assert_eq!(sc.timeline[1].times, 3);
        assert_eq!(
            sc.expect["lock"],
            Expect::Violates([InvariantId::LINEARIZABILITY].into())
        );
        assert_eq!(sc.params["lock"].0["lease_ms"], "800");
        // Written out and read back, it is the same scenario.
        let again = parse_str(&b.to_toml(), Path::new("skew.toml"), &catalog()).expect("valid");
        assert_eq!(again.timeline, sc.timeline);
    }

    #[test]
    fn a_built_scenario_is_checked_as_a_file_is() {
        let e = ScenarioBuilder::new("bad", 3, Duration::from_secs(5))
            .system("lock")
            .mix(&[("acquire", 1), ("fly", 1)])
            .build(&catalog())
            .expect_err("no system here flies");
        assert_eq!(e.field, "workload.mix");
        assert!(e.message.contains("unknown operation \"fly\""), "{e}");
    }
}
