//! TOML to [`Scenario`]. Two passes: serde checks shape and types (unknown fields are
//! errors, so a typo never silently falls back to a default), then [`validate`] checks
//! meaning (known systems, selectors, ranges) using the spans serde kept.

use crate::catalog::Catalog;
use crate::duration;
use crate::schema::*;
use crate::selector::Selector;
use protocol::{InvariantId, Params};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A mistake in a scenario file: where it is and what was expected there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file as a whole (unreadable, missing field).
    pub line: usize,
    /// The field at fault, as a dotted path where known (`timeline[2].target`).
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: String,
    systems: Spanned<Vec<Spanned<String>>>,
    nodes: Spanned<u32>,
    duration: Spanned<String>,
    liveness: Option<Spanned<String>>,
    quiesce: Option<Spanned<String>>,
    seeds: Option<Spanned<u64>>,
    first_seed: Option<u64>,
    pinned_seed: Option<u64>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    clock: RawClock,
    #[serde(default)]
    disk: RawDisk,
    workload: RawWorkload,
    #[serde(default)]
    timeline: Vec<Spanned<RawFault>>,
    expect: Spanned<BTreeMap<Spanned<String>, Spanned<RawExpect>>>,
    #[serde(default)]
    sometimes: BTreeMap<Spanned<String>, Spanned<Vec<String>>>,
    #[serde(default)]
    params: BTreeMap<Spanned<String>, BTreeMap<String, Spanned<toml::Value>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    latency: Option<Spanned<[String; 2]>>,
    distribution: Option<Spanned<String>>,
    loss: Option<Spanned<f64>>,
    duplicate: Option<Spanned<f64>>,
    reorder: Option<Spanned<f64>>,
    partition_kills_in_flight: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClock {
    max_offset: Option<Spanned<String>>,
    max_drift_ppm: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    #[serde(default)]
    torn_writes: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    kind: Option<Spanned<String>>,
    clients: Spanned<u32>,
    rate: Spanned<f64>,
    mix: Option<Spanned<BTreeMap<String, u32>>>,
    keys: Option<Spanned<u32>>,
    timeout: Option<Spanned<String>>,
    max_redirects: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<String>,
    #[serde(rename = "do")]
    action: Spanned<String>,
    target: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    by: Option<Spanned<String>>,
    rate: Option<Spanned<f64>>,
    latency: Option<Spanned<[String; 2]>>,
    every: Option<Spanned<String>>,
    times: Option<Spanned<u32>>,
    on: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    with: Option<Spanned<String>>,
    node: Option<Spanned<String>>,
    count: Option<Spanned<u32>>,
    role: Option<Spanned<String>>,
    term_at_least: Option<Spanned<u64>>,
    ok: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawExpect {
    One(String),
    Many(Vec<String>),
}

/// Reads and validates one file. `catalog` lists the systems a file may name.
pub fn load(path: &Path, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: 0,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse_str(&text, path, catalog)
}

/// Every `*.toml` in `dir`, sorted by name.
pub fn load_dir(dir: &Path, catalog: &Catalog) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError {
        file: dir.to_path_buf(),
        line: 0,
        field: String::new(),
        message: format!("cannot list scenarios: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths.iter().map(|p| load(p, catalog)).collect()
}

struct Ctx<'a> {
    text: &'a str,
    file: &'a Path,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err(
        &self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ScenarioError {
        ScenarioError {
            file: self.file.to_path_buf(),
            line: self.line_of(span.start),
            field: field.into(),
            message: message.into(),
        }
    }

    fn duration(
        &self,
        s: &Spanned<String>,
        field: &str,
    ) -> Result<core::time::Duration, ScenarioError> {
        duration::parse(s.get_ref()).map_err(|m| self.err(s.span(), field, format!("expected {m}")))
    }

    fn probability(&self, p: &Option<Spanned<f64>>, field: &str) -> Result<f64, ScenarioError> {
        match p {
            None => Ok(0.0),
            Some(p) if (0.0..=1.0).contains(p.get_ref()) => Ok(*p.get_ref()),
            Some(p) => Err(self.err(
                p.span(),
                field,
                format!(
                    "expected a probability between 0 and 1, found {}",
                    p.get_ref()
                ),
            )),
        }
    }
}

/// Parses `text` as if read from `file` (the name only labels errors).
pub fn parse_str(text: &str, file: &Path, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
    let cx = Ctx { text, file };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let line = if e.span().is_some() {
            cx.line_of(span.start)
        } else {
            0
        };
        ScenarioError {
            file: file.to_path_buf(),
            line,
            field: field_at(text, span.start),
            message: e.message().trim().to_string(),
        }
    })?;
    validate(&cx, raw, catalog)
}

/// The key written on the line where an error points, for errors serde reports by
/// position only.
fn field_at(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((key, _)) if !key.trim().starts_with('[') => key.trim().to_string(),
        _ => String::new(),
    }
}

fn validate(cx: &Ctx<'_>, raw: RawScenario, catalog: &Catalog) -> Result<Scenario, ScenarioError> {
    let known = &catalog.names()[..];
    let name = cx
        .file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let nodes = *raw.nodes.get_ref();
    if !(1..=9).contains(&nodes) {
        return Err(cx.err(
            raw.nodes.span(),
            "nodes",
            format!("expected 1 to 9 nodes, found {nodes}"),
        ));
    }

    let mut systems = Vec::new();
    for s in raw.systems.get_ref() {
        let listed: Vec<&str> = if s.get_ref() == "all" {
            known.to_vec()
        } else {
            vec![s.get_ref().as_str()]
        };
        for name in listed {
            if !known.contains(&name) {
                return Err(cx.err(
                    s.span(),
                    "systems",
                    format!(
                        "unknown system {name:?}; known systems: {}",
                        known.join(", ")
                    ),
                ));
            }
            if !systems.iter().any(|x: &String| x == name) {
                systems.push(name.to_string());
            }
        }
    }
    if systems.is_empty() {
        return Err(cx.err(
            raw.systems.span(),
            "systems",
            "expected at least one system",
        ));
    }

    let duration = cx.duration(&raw.duration, "duration")?;
    if duration.is_zero() {
        return Err(cx.err(
            raw.duration.span(),
            "duration",
            "expected a duration above zero",
        ));
    }
    let liveness = match &raw.liveness {
        Some(l) => match cx.duration(l, "liveness")? {
            d if d.is_zero() => {
                return Err(cx.err(l.span(), "liveness", "expected a duration above zero"))
            }
            d => Some(d),
        },
        None => None,
    };
    let quiesce = match &raw.quiesce {
        Some(q) => cx.duration(q, "quiesce")?,
        None => core::time::Duration::from_secs(10),
    };
    let seeds = match &raw.seeds {
        Some(s) if *s.get_ref() == 0 => {
            return Err(cx.err(s.span(), "seeds", "expected at least 1 seed"))
        }
        Some(s) => *s.get_ref(),
        None => 10,
    };

    let network = validate_network(cx, &raw.network)?;
    let clock = Clock {
        max_offset: match &raw.clock.max_offset {
            Some(o) => cx.duration(o, "clock.max_offset")?,
            None => core::time::Duration::ZERO,
        },
        max_drift_ppm: raw.clock.max_drift_ppm.unwrap_or(0),
    };
    let workload = validate_workload(cx, &raw.workload, catalog, &systems)?;

    let mut timeline = Vec::new();
    for (i, f) in raw.timeline.iter().enumerate() {
        timeline.push(validate_fault(cx, f, i, nodes, duration)?);
    }
    timeline.sort_by_key(|f| f.at);

    let mut expect = BTreeMap::new();
    for (sys, verdict) in raw.expect.get_ref() {
        if !known.contains(&sys.get_ref().as_str()) {
            return Err(cx.err(
                sys.span(),
                "expect",
                format!(
                    "unknown system {:?}; known systems: {}",
                    sys.get_ref(),
                    known.join(", ")
                ),
            ));
        }
        let field = format!("expect.{}", sys.get_ref());
        let ids = invariants_of(catalog, sys.get_ref());
        let e = match verdict.get_ref() {
            RawExpect::One(s) if s == "pass" => Expect::Pass,
            RawExpect::One(s) => Expect::Violates(check_invariants(
                cx,
                verdict.span(),
                &field,
                std::slice::from_ref(s),
                ids,
            )?),
            RawExpect::Many(list) if list.is_empty() => Expect::Pass,
            RawExpect::Many(list) => {
                Expect::Violates(check_invariants(cx, verdict.span(), &field, list, ids)?)
            }
        };
        expect.insert(sys.get_ref().clone(), e);
    }
    let mut sometimes = BTreeMap::new();
    for (sys, names) in &raw.sometimes {
        let field = format!("sometimes.{}", sys.get_ref());
        if !known.contains(&sys.get_ref().as_str()) {
            return Err(cx.err(
                sys.span(),
                &field,
                format!(
                    "unknown system {:?}; known systems: {}",
                    sys.get_ref(),
                    known.join(", ")
                ),
            ));
        }
        let ids = invariants_of(catalog, sys.get_ref());
        let set = check_invariants(cx, names.span(), &field, names.get_ref(), ids)?;
        if let Some(Expect::Violates(expected)) = expect.get(sys.get_ref()) {
            if let Some(both) = set.intersection(expected).next() {
                return Err(cx.err(
                    names.span(),
                    &field,
                    format!("expected {both:?} either always (in [expect]) or sometimes, not both"),
                ));
            }
        }
        sometimes.insert(sys.get_ref().clone(), set);
    }
    for s in &systems {
        if !expect.contains_key(s) {
            return Err(cx.err(raw.expect.span(), "expect", format!("no expected verdict for system {s:?}; write `{s} = \"pass\"` or the invariants it violates")));
        }
    }

    let mut params = BTreeMap::new();
    for (sys, table) in &raw.params {
        if !known.contains(&sys.get_ref().as_str()) {
            return Err(cx.err(
                sys.span(),
                "params",
                format!(
                    "unknown system {:?}; known systems: {}",
                    sys.get_ref(),
                    known.join(", ")
                ),
            ));
        }
        let mut p = Params::new();
        for (k, v) in table {
            let rendered = match v.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Float(f) => f.to_string(),
                _ => {
                    return Err(cx.err(
                        v.span(),
                        format!("params.{}.{k}", sys.get_ref()),
                        "expected a string, number or boolean",
                    ))
                }
            };
            p.0.insert(k.clone(), rendered);
        }
        params.insert(sys.get_ref().clone(), p);
    }

    Ok(Scenario {
        name,
        path: cx.file.to_path_buf(),
        description: raw.description.trim().to_string(),
        systems,
        nodes,
        duration,
        liveness,
        quiesce,
        seeds,
        first_seed: raw.first_seed.unwrap_or(1),
        pinned_seed: raw.pinned_seed.unwrap_or(1),
        network,
        clock,
        disk: Disk {
            torn_writes: raw.disk.torn_writes,
        },
        workload,
        timeline,
        expect,
        sometimes,
        params,
    })
}

/// The invariants `system` (a name the catalog knows) may report.
fn invariants_of<'c>(catalog: &'c Catalog, system: &str) -> &'c [InvariantId] {
    catalog.get(system).map_or(&[], |s| &s.invariants[..])
}

fn check_invariants(
    cx: &Ctx<'_>,
    span: Range<usize>,
    field: &str,
    names: &[String],
    known: &[InvariantId],
) -> Result<BTreeSet<InvariantId>, ScenarioError> {
    let mut out = BTreeSet::new();
    for n in names {
        let Some(id) = known.iter().find(|id| id.name() == n) else {
            let names: Vec<&str> = known.iter().map(|id| id.name()).collect();
            return Err(cx.err(
                span,
                field,
                format!(
                    "expected \"pass\" or invariant names from: {}; found {n:?}",
                    names.join(", ")
                ),
            ));
        };
        out.insert(*id);
    }
    Ok(out)
}

/// A `[min, max]` one-way delay range.
fn latency_range(
    cx: &Ctx<'_>,
    l: &Spanned<[String; 2]>,
    field: &str,
) -> Result<(core::time::Duration, core::time::Duration), ScenarioError> {
    let [lo, hi] = l.get_ref();
    let parse =
        |s: &str| duration::parse(s).map_err(|m| cx.err(l.span(), field, format!("expected {m}")));
    let (min, max) = (parse(lo)?, parse(hi)?);
    if min < core::time::Duration::from_millis(1) || max < min {
        return Err(cx.err(
            l.span(),
            field,
            "expected [min, max] with 1ms <= min <= max (latency has a 1 ms floor)",
        ));
    }
    Ok((min, max))
}

fn validate_network(cx: &Ctx<'_>, raw: &RawNetwork) -> Result<Network, ScenarioError> {
    let mut net = Network::default();
    if let Some(l) = &raw.latency {
        (net.latency_min, net.latency_max) = latency_range(cx, l, "network.latency")?;
    }
    if let Some(d) = &raw.distribution {
        net.distribution = match d.get_ref().as_str() {
            "uniform" => Distribution::Uniform,
            "exponential" => Distribution::Exponential,
            other => {
                return Err(cx.err(
                    d.span(),
                    "network.distribution",
                    format!("expected uniform or exponential, found {other:?}"),
                ))
            }
        };
    }
    net.loss = cx.probability(&raw.loss, "network.loss")?;
    net.duplicate = cx.probability(&raw.duplicate, "network.duplicate")?;
    net.reorder = cx.probability(&raw.reorder, "network.reorder")?;
    if let Some(k) = raw.partition_kills_in_flight {
        net.partition_kills_in_flight = k;
    }
    Ok(net)
}

/// The workload section; `systems` are the scenario's, all in `catalog`.
fn validate_workload(
    cx: &Ctx<'_>,
    raw: &RawWorkload,
    catalog: &Catalog,
    systems: &[String],
) -> Result<Workload, ScenarioError> {
    let infos: Vec<_> = systems.iter().filter_map(|s| catalog.get(s)).collect();
    let kind = match &raw.kind {
        None => None,
        Some(k) if k.get_ref() == "native" => None,
        Some(k) => {
            // Every system must serve it: a scenario does not silently run some systems
            // on another workload than the one it names.
            if let Some(other) = infos.iter().find(|s| s.workload != k.get_ref()) {
                return Err(cx.err(
                    k.span(),
                    "workload.kind",
                    format!(
                        "expected native or a workload every system here serves; {} serves \
                         {}, not {:?}",
                        other.name,
                        other.workload,
                        k.get_ref()
                    ),
                ));
            }
            Some(k.get_ref().clone())
        }
    };
    let clients = *raw.clients.get_ref();
    if !(1..=64).contains(&clients) {
        return Err(cx.err(
            raw.clients.span(),
            "workload.clients",
            format!("expected 1 to 64 clients, found {clients}"),
        ));
    }
    let rate = *raw.rate.get_ref();
    if !(rate > 0.0 && rate <= 10_000.0) {
        return Err(cx.err(
            raw.rate.span(),
            "workload.rate",
            format!("expected operations per second in (0, 10000], found {rate}"),
        ));
    }
    let mut mix = BTreeMap::new();
    if let Some(m) = &raw.mix {
        for (op, weight) in m.get_ref() {
            if !infos.iter().any(|s| s.ops.contains(&op.as_str())) {
                let served: Vec<String> = infos
                    .iter()
                    .map(|s| format!("{} ({})", s.ops.join(", "), s.name))
                    .collect();
                return Err(cx.err(
                    m.span(),
                    "workload.mix",
                    format!(
                        "unknown operation {op:?}; expected operations of the systems here: {}",
                        served.join("; ")
                    ),
                ));
            }
            mix.insert(op.clone(), *weight);
        }
        if mix.values().all(|w| *w == 0) {
            return Err(cx.err(
                m.span(),
                "workload.mix",
                "expected at least one operation with a weight above zero",
            ));
        }
    }
    let keys = match &raw.keys {
        Some(k) if *k.get_ref() == 0 => {
            return Err(cx.err(k.span(), "workload.keys", "expected at least 1 key"))
        }
        Some(k) => *k.get_ref(),
        None => 5,
    };
    let timeout = match &raw.timeout {
        Some(t) => cx.duration(t, "workload.timeout")?,
        None => core::time::Duration::from_secs(1),
    };
    Ok(Workload {
        kind,
        clients,
        rate_per_s: rate,
        mix,
        keys,
        timeout,
        max_redirects: raw.max_redirects.unwrap_or(3),
    })
}

fn validate_fault(
    cx: &Ctx<'_>,
    raw: &Spanned<RawFault>,
    index: usize,
    nodes: u32,
    duration: core::time::Duration,
) -> Result<Fault, ScenarioError> {
    let f = raw.get_ref();
    let field = |name: &str| format!("timeline[{index}].{name}");
    let at = cx.duration(&f.at, &field("at"))?;
    if at > duration {
        return Err(cx.err(
            f.at.span(),
            field("at"),
            format!(
                "expected a time within the scenario's duration ({})",
                duration::render(duration)
            ),
        ));
    }
    let selector = |s: &Option<Spanned<String>>, name: &str| -> Result<Selector, ScenarioError> {
        let s = s.as_ref().ok_or_else(|| {
            cx.err(
                raw.span(),
                field(name),
                format!("`{}` needs `{name}`", f.action.get_ref()),
            )
        })?;
        Selector::parse(s.get_ref(), nodes)
            .map_err(|m| cx.err(s.span(), field(name), format!("expected {m}")))
    };
    let action = match f.action.get_ref().as_str() {
        "crash" => Action::Crash {
            target: selector(&f.target, "target")?,
        },
        "restart" => Action::Restart {
            target: selector(&f.target, "target")?,
        },
        "pause" => Action::Pause {
            target: selector(&f.target, "target")?,
        },
        "resume" => Action::Resume {
            target: selector(&f.target, "target")?,
        },
        "isolate" => Action::Isolate {
            target: selector(&f.target, "target")?,
        },
        "partition" => Action::Partition {
            target: selector(&f.target, "target")?,
        },
        "one-way" => Action::OneWay {
            from: selector(&f.from, "from")?,
            to: selector(&f.to, "to")?,
        },
        "heal" => Action::Heal,
        "clock-jump" => {
            let by = f.by.as_ref().ok_or_else(|| {
                cx.err(
                    raw.span(),
                    field("by"),
                    "`clock-jump` needs `by`, e.g. by = \"-5s\"",
                )
            })?;
            let by_ns = duration::parse_signed_nanos(by.get_ref())
                .map_err(|m| cx.err(by.span(), field("by"), format!("expected {m}")))?;
            Action::ClockJump {
                target: selector(&f.target, "target")?,
                by_ns,
            }
        }
        "loss" => Action::Loss {
            rate: cx.probability(&f.rate, &field("rate"))?,
        },
        "latency" => {
            let l = f.latency.as_ref().ok_or_else(|| {
                cx.err(
                    raw.span(),
                    field("latency"),
                    "`latency` needs `latency`, e.g. latency = [\"50ms\", \"200ms\"]",
                )
            })?;
            let (min, max) = latency_range(cx, l, &field("latency"))?;
            Action::Latency { min, max }
        }
        other => {
            return Err(cx.err(
                f.action.span(),
                field("do"),
                format!(
                    "unknown action {other:?}; expected one of {}",
                    Action::NAMES
                ),
            ))
        }
    };
    let every = match &f.every {
        Some(e) => {
            let d = cx.duration(e, &field("every"))?;
            if d.is_zero() {
                return Err(cx.err(e.span(), field("every"), "expected a period above zero"));
            }
            Some(d)
        }
        None => None,
    };
    let times = match (&f.times, every) {
        (Some(t), Some(_)) if *t.get_ref() >= 1 => *t.get_ref(),
        (Some(t), _) => {
            return Err(cx.err(
                t.span(),
                field("times"),
                "expected `times` >= 1, together with `every`",
            ))
        }
        (None, Some(_)) => return Err(cx.err(raw.span(), field("times"), "`every` needs `times`")),
        (None, None) => 1,
    };
    let on = validate_trigger(cx, raw, index, nodes)?;
    if on.is_some() && every.is_some() {
        return Err(cx.err(
            raw.span(),
            field("every"),
            "a triggered fault fires once: expected no `every` with `on`",
        ));
    }
    let names_trigger = |s: &Selector| *s == Selector::Trigger;
    let targets_trigger = match &action {
        Action::Crash { target }
        | Action::Restart { target }
        | Action::Pause { target }
        | Action::Resume { target }
        | Action::Isolate { target }
        | Action::Partition { target }
        | Action::ClockJump { target, .. } => names_trigger(target),
        Action::OneWay { from, to } => names_trigger(from) || names_trigger(to),
        Action::Heal | Action::Loss { .. } | Action::Latency { .. } => false,
    };
    if targets_trigger && on.is_none() {
        return Err(cx.err(
            raw.span(),
            field("target"),
            "`trigger` names the node whose event fired a fault: expected `on` too",
        ));
    }
    Ok(Fault {
        at,
        action,
        every,
        times,
        line: cx.line_of(raw.span().start),
        on,
    })
}

/// The `on` of a fault and its fields; fields of a trigger without `on` are errors.
fn validate_trigger(
    cx: &Ctx<'_>,
    raw: &Spanned<RawFault>,
    index: usize,
    nodes: u32,
) -> Result<Option<Trigger>, ScenarioError> {
    let f = raw.get_ref();
    let field = |name: &str| format!("timeline[{index}].{name}");
    let Some(on) = &f.on else {
        let stray = [
            ("message", f.message.as_ref().map(|m| m.span())),
            ("with", f.with.as_ref().map(|m| m.span())),
            ("node", f.node.as_ref().map(|m| m.span())),
            ("count", f.count.as_ref().map(|m| m.span())),
            ("role", f.role.as_ref().map(|m| m.span())),
            ("term_at_least", f.term_at_least.as_ref().map(|m| m.span())),
            ("ok", f.ok.as_ref().map(|m| m.span())),
        ];
        if let Some((name, Some(span))) = stray.into_iter().find(|(_, s)| s.is_some()) {
            return Err(cx.err(
                span,
                field(name),
                format!("`{name}` describes a trigger: expected `on` too"),
            ));
        }
        return Ok(None);
    };
    let only = |name: &str, present: Option<Range<usize>>, event: &str| match present {
        Some(span) => Err(cx.err(
            span,
            field(name),
            format!("`{name}` is for `on = \"{event}\"`, not {:?}", on.get_ref()),
        )),
        None => Ok(()),
    };
    let event = match on.get_ref().as_str() {
        "role" => {
            let r = f
                .role
                .as_ref()
                .ok_or_else(|| cx.err(raw.span(), field("role"), "`on = \"role\"` needs `role`"))?;
            let role = match r.get_ref().as_str() {
                "leader" => RoleName::Leader,
                "candidate" => RoleName::Candidate,
                "follower" => RoleName::Follower,
                other => {
                    return Err(cx.err(
                        r.span(),
                        field("role"),
                        format!("expected leader, candidate or follower, found {other:?}"),
                    ))
                }
            };
            let min_term = f.term_at_least.as_ref().map_or(0, |t| *t.get_ref());
            ProtocolEvent::Role { role, min_term }
        }
        "send" => ProtocolEvent::Send {
            message: f.message.as_ref().map(|m| m.get_ref().clone()),
            with: f.with.as_ref().map(|m| m.get_ref().clone()),
        },
        "persist" => ProtocolEvent::Persist,
        "sync" => ProtocolEvent::Sync,
        "reply" => ProtocolEvent::Reply {
            ok: f.ok.as_ref().is_none_or(|o| *o.get_ref()),
        },
        other => {
            return Err(cx.err(
                on.span(),
                field("on"),
                format!(
                    "unknown event {other:?}; expected one of {}",
                    ProtocolEvent::NAMES
                ),
            ))
        }
    };
    if !matches!(event, ProtocolEvent::Role { .. }) {
        only("role", f.role.as_ref().map(|r| r.span()), "role")?;
        only(
            "term_at_least",
            f.term_at_least.as_ref().map(|r| r.span()),
            "role",
        )?;
    }
    if !matches!(event, ProtocolEvent::Send { .. }) {
        only("message", f.message.as_ref().map(|r| r.span()), "send")?;
        only("with", f.with.as_ref().map(|r| r.span()), "send")?;
    }
    if !matches!(event, ProtocolEvent::Reply { .. }) {
        only("ok", f.ok.as_ref().map(|r| r.span()), "reply")?;
    }
    let node = match &f.node {
        Some(n) => Selector::parse(n.get_ref(), nodes)
            .map_err(|m| cx.err(n.span(), field("node"), format!("expected {m}")))?,
        None => Selector::All,
    };
    if node == Selector::Trigger {
        let span = f.node.as_ref().map_or(raw.span(), |n| n.span());
        return Err(cx.err(
            span,
            field("node"),
            "expected whose events count, not `trigger`",
        ));
    }
    let count = match &f.count {
        Some(c) if *c.get_ref() == 0 => {
            return Err(cx.err(c.span(), field("count"), "expected a count of 1 or more"))
        }
        Some(c) => *c.get_ref(),
        None => 1,
    };
    Ok(Some(Trigger { event, node, count }))
}
