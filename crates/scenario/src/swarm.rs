//! Swarm runs: a whole scenario drawn from one seed, for hunting bugs nobody wrote a
//! scenario for (swarm testing, Groce et al. 2012, as FoundationDB and TigerBeetle's VOPR
//! do). Each seed switches fault kinds on or off as a whole, so some seeds stress crashes
//! alone and others partitions with clock skew: a bug one kind of fault would mask shows
//! on the seeds where that kind is off.
//!
//! The draw also favours the shapes that hide bugs: constant latency (ties that random
//! delays break by luck), one operation dominating the mix over a single key, repeated
//! isolation of whoever leads, crashes close together, a bridge node that sees both sides
//! of a partition. Every swarm run ends with a liveness phase.
//!
//! The draw is a [`ScenarioBuilder`]: the caller builds it against its catalog, so a
//! swarm scenario is checked exactly as a file is, and exporting one is writing it out.

use crate::builder::ScenarioBuilder;
use crate::catalog::SystemInfo;
use crate::schema::{Action, ProtocolEvent, RoleName, Trigger};
use crate::selector::Selector;
use core::time::Duration;

/// How long a swarm run's liveness phase lasts: long enough for any election the seed
/// designs and raft run (timeouts of a few hundred ms, backoffs of seconds) to settle.
pub const LIVENESS: Duration = Duration::from_secs(20);

/// At most this many fault entries per run; bounded so a run stays seconds long.
pub const MAX_FAULTS: usize = 12;

/// Operations a run's clients may start, about: the rate is lowered to fit. A hunt's
/// speed is seeds per second, and a bug shows in a few hundred operations around a
/// fault; ten thousand appends to one key make every state a long list to copy and
/// compare, and judging one such run took seconds.
pub const MAX_OPERATIONS: f64 = 3_000.0;

/// The fault kinds a seed switches on or off as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    CrashRestart,
    CrashesCloseTogether,
    PauseResume,
    /// A majority/minority split, healed later.
    Split,
    IsolateOne,
    /// Whoever leads is isolated, again and again.
    IsolateLeaderRepeatedly,
    /// Two sides that only a bridge node joins.
    Bridge,
    OneWay,
    Flapping,
    LossBurst,
    LatencySpike,
    ClockJump,
    /// The leader crashes right after it acknowledges a client, inside that step.
    CrashOnAck,
    /// A node crashes right after its n-th disk write, before it syncs.
    CrashOnPersist,
    /// The leader crashes right after its n-th message.
    CrashOnSend,
    /// Whoever becomes leader (in a later term) is isolated at once.
    IsolateNewLeader,
}

impl Kind {
    pub const ALL: [Kind; 16] = [
        Kind::CrashRestart,
        Kind::CrashesCloseTogether,
        Kind::PauseResume,
        Kind::Split,
        Kind::IsolateOne,
        Kind::IsolateLeaderRepeatedly,
        Kind::Bridge,
        Kind::OneWay,
        Kind::Flapping,
        Kind::LossBurst,
        Kind::LatencySpike,
        Kind::ClockJump,
        Kind::CrashOnAck,
        Kind::CrashOnPersist,
        Kind::CrashOnSend,
        Kind::IsolateNewLeader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::CrashRestart => "crash-restart",
            Kind::CrashesCloseTogether => "crashes-close-together",
            Kind::PauseResume => "pause-resume",
            Kind::Split => "split",
            Kind::IsolateOne => "isolate-one",
            Kind::IsolateLeaderRepeatedly => "isolate-leader-repeatedly",
            Kind::Bridge => "bridge",
            Kind::OneWay => "one-way",
            Kind::Flapping => "flapping",
            Kind::LossBurst => "loss-burst",
            Kind::LatencySpike => "latency-spike",
            Kind::ClockJump => "clock-jump",
            Kind::CrashOnAck => "crash-on-ack",
            Kind::CrashOnPersist => "crash-on-persist",
            Kind::CrashOnSend => "crash-on-send",
            Kind::IsolateNewLeader => "isolate-new-leader",
        }
    }
}

/// The seed's own stream (SplitMix64): the scenario crate draws nothing else, and the
/// run's streams (`sim::run::stream`) never see this one, so a swarm scenario and the
/// run of it are independent functions of the same seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "an empty range {lo}..={hi}");
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize].clone()
    }
}

/// What a swarm draw may use of a system: its catalog entry, and the cluster sizes it
/// admits (asked of the system by the caller).
pub struct Space<'a> {
    pub system: &'a SystemInfo,
    /// Replica counts the system accepts, ascending; at least one.
    pub sizes: &'a [u32],
}

/// A swarm seed's scenario, and what the seed chose.
pub struct Swarm {
    /// Expected to pass; build it against the caller's catalog.
    pub builder: ScenarioBuilder,
    /// The fault kinds switched on.
    pub kinds: Vec<Kind>,
}

/// The scenario of swarm seed `seed` for `space.system`.
pub fn draw(seed: u64, space: &Space<'_>) -> Swarm {
    assert!(!space.sizes.is_empty(), "a system admits some cluster size");
    let mut d = Draw(seed ^ 0x5357_4152_4d00_0000);
    let nodes = draw_nodes(&mut d, space.sizes);
    let duration = d.ms(10_000, 40_000);
    let name = format!("swarm-{}-{seed}", space.system.name);
    let mut b = ScenarioBuilder::new(&name, nodes, duration)
        .description(&format!(
            "Swarm run {seed} of {}: drawn from the seed by `splitbrain hunt`.",
            space.system.name
        ))
        .system(space.system.name)
        .liveness(LIVENESS)
        .quiesce(Duration::from_secs(5))
        .seeds(1)
        .first_seed(seed)
        .pinned_seed(seed);
    let seconds = (duration + LIVENESS).as_secs_f64();
    b = workload(&mut d, b, space.system.ops, MAX_OPERATIONS / seconds);
    let (b, latency) = network(&mut d, b);
    let b = clock_and_disk(&mut d, b);
    let kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|_| d.chance(0.35)).collect();
    let at = Phase {
        nodes,
        duration,
        latency,
    };
    Swarm {
        builder: faults(&mut d, b, &kinds, &at),
        kinds,
    }
}

/// What a fault's entries must fit: the cluster, the fault phase, the usual latency.
struct Phase {
    nodes: u32,
    duration: Duration,
    latency: (Duration, Duration),
}

/// Mostly 3 and 5 replicas, where quorum bugs live; sometimes the others admitted.
fn draw_nodes(d: &mut Draw, sizes: &[u32]) -> u32 {
    let favoured: Vec<u32> = sizes
        .iter()
        .copied()
        .filter(|n| *n == 3 || *n == 5)
        .collect();
    let usable: Vec<u32> = sizes.iter().copied().filter(|n| *n <= 7).collect();
    match (favoured.is_empty(), usable.is_empty()) {
        (false, _) if d.chance(0.8) => d.pick(&favoured),
        (_, false) => d.pick(&usable),
        _ => sizes[0],
    }
}

/// `max_rate`: operations per second that keep the run within [`MAX_OPERATIONS`].
fn workload(d: &mut Draw, b: ScenarioBuilder, ops: &[&str], max_rate: f64) -> ScenarioBuilder {
    let clients = d.pick(&[1, 2, 3, 4, 5, 8, 12]);
    let rate: f64 = d.pick(&[5.0, 20.0, 50.0, 100.0, 200.0]);
    let rate = rate.min(max_rate.floor().max(1.0));
    // One key concentrates every operation on one register; many spread them thin.
    let keys = d.pick(&[1, 1, 2, 3, 5, 10]);
    let mut weights: Vec<(&str, u32)> = ops.iter().map(|op| (*op, d.range(0, 4) as u32)).collect();
    if d.chance(0.3) && !weights.is_empty() {
        // One operation dominates (a read-heavy load when it is the read).
        let i = d.range(0, weights.len() as u64 - 1) as usize;
        weights[i].1 = 20;
    }
    if weights.iter().all(|(_, w)| *w == 0) {
        weights.iter_mut().for_each(|(_, w)| *w = 1);
    }
    let mut b = b
        .clients(clients, rate)
        .keys(keys)
        .timeout(d.ms(300, 2_000));
    if !weights.is_empty() {
        b = b.mix(&weights);
    }
    b
}

/// The network settings, and the latency range they chose.
fn network(d: &mut Draw, b: ScenarioBuilder) -> (ScenarioBuilder, (Duration, Duration)) {
    let min = d.ms(1, 5);
    // Constant latency: every packet takes the same time, so ties happen.
    let max = if d.chance(0.15) {
        min
    } else {
        min + d.ms(1, 50)
    };
    let mut b = b.latency(min, max);
    if d.chance(0.25) {
        b = b.loss(d.range(1, 50) as f64 / 1000.0);
    }
    if d.chance(0.2) {
        b = b.duplicate(d.range(1, 50) as f64 / 1000.0);
    }
    if d.chance(0.2) {
        b = b.reorder(d.range(1, 200) as f64 / 1000.0);
    }
    (b, (min, max))
}

fn clock_and_disk(d: &mut Draw, b: ScenarioBuilder) -> ScenarioBuilder {
    let mut b = b;
    if d.chance(0.3) {
        b = b.clock_offset(d.ms(1, 2_000));
    }
    if d.chance(0.3) {
        b = b.clock_drift_ppm(d.pick(&[100, 1_000, 10_000, 50_000]));
    }
    if d.chance(0.3) {
        b = b.torn_writes();
    }
    b
}

/// Fault entries of the switched-on kinds at random times within the fault phase.
fn faults(d: &mut Draw, b: ScenarioBuilder, kinds: &[Kind], phase: &Phase) -> ScenarioBuilder {
    let mut b = b;
    if kinds.is_empty() {
        return b;
    }
    let events = d.range(1, 6) as usize;
    let mut entries = 0;
    for _ in 0..events {
        let kind = d.pick(kinds);
        let last = phase.duration.as_millis() as u64 * 3 / 4;
        let at = Duration::from_millis(d.range(500, last.max(500)));
        let added = fault(d, kind, at, phase);
        if entries + added.len() > MAX_FAULTS {
            break;
        }
        entries += added.len();
        for (at, action, when) in added {
            b = match when {
                When::Every(every, times) => b.every(at, every, times, action),
                When::At => b.at(at, action),
                When::On(trigger) => b.on(at, &trigger, action),
            };
        }
    }
    b
}

/// When an entry fires: at its time, repeatedly from it, or on an event after it.
enum When {
    At,
    Every(Duration, u32),
    On(Trigger),
}

type Entry = (Duration, Action, When);

/// The entries one fault of `kind` at `at` makes, all within `duration`.
fn fault(d: &mut Draw, kind: Kind, at: Duration, phase: &Phase) -> Vec<Entry> {
    let (nodes, duration) = (phase.nodes, phase.duration);
    let end = |after: Duration| (at + after).min(duration);
    let target = |d: &mut Draw| d.pick(&[Selector::Leader, Selector::Random, Selector::Leader]);
    match kind {
        Kind::CrashRestart => vec![
            (at, Action::Crash { target: target(d) }, When::At),
            (
                end(d.ms(100, 8_000)),
                Action::Restart {
                    target: Selector::Down,
                },
                When::At,
            ),
        ],
        Kind::CrashesCloseTogether => {
            let second = at + d.ms(1, 300);
            vec![
                (
                    at,
                    Action::Crash {
                        target: Selector::Leader,
                    },
                    When::At,
                ),
                (
                    second.min(duration),
                    Action::Crash {
                        target: Selector::Random,
                    },
                    When::At,
                ),
                (
                    end(d.ms(500, 6_000)),
                    Action::Restart {
                        target: Selector::Down,
                    },
                    When::At,
                ),
            ]
        }
        Kind::PauseResume => vec![
            (at, Action::Pause { target: target(d) }, When::At),
            (
                end(d.ms(100, 6_000)),
                Action::Resume {
                    target: Selector::Down,
                },
                When::At,
            ),
        ],
        Kind::Split => {
            let side = d.pick(&[Selector::Minority, Selector::LeaderSide, Selector::Majority]);
            vec![
                (at, Action::Partition { target: side }, When::At),
                (end(d.ms(500, 10_000)), Action::Heal, When::At),
            ]
        }
        Kind::IsolateOne => vec![
            (at, Action::Isolate { target: target(d) }, When::At),
            (end(d.ms(500, 8_000)), Action::Heal, When::At),
        ],
        Kind::IsolateLeaderRepeatedly => {
            let every = d.ms(1_000, 4_000);
            let held = every / 2;
            let times = d.range(2, 5) as u32;
            let fits = |t: u32| at + every * (t - 1) + held <= duration;
            let times = (1..=times).rev().find(|t| fits(*t)).unwrap_or(1);
            vec![
                (
                    at,
                    Action::Isolate {
                        target: Selector::Leader,
                    },
                    When::Every(every, times),
                ),
                (
                    (at + held).min(duration),
                    Action::Heal,
                    When::Every(every, times),
                ),
            ]
        }
        Kind::Bridge if nodes >= 3 => {
            let heal = end(d.ms(500, 8_000));
            bridge(d, at, heal, nodes)
        }
        Kind::Bridge | Kind::OneWay => vec![
            (
                at,
                Action::OneWay {
                    from: target(d),
                    to: Selector::Followers,
                },
                When::At,
            ),
            (end(d.ms(500, 8_000)), Action::Heal, When::At),
        ],
        Kind::Flapping => {
            let every = d.ms(200, 2_000);
            let times = d.range(2, 8) as u32;
            let fits = |t: u32| at + every * t <= duration;
            let times = (1..=times).rev().find(|t| fits(*t)).unwrap_or(1);
            vec![
                (
                    at,
                    Action::Partition {
                        target: Selector::Minority,
                    },
                    When::Every(every, times),
                ),
                (end(every / 2), Action::Heal, When::Every(every, times)),
            ]
        }
        Kind::LossBurst => vec![
            (
                at,
                Action::Loss {
                    rate: d.range(50, 500) as f64 / 1000.0,
                },
                When::At,
            ),
            (end(d.ms(500, 5_000)), Action::Loss { rate: 0.0 }, When::At),
        ],
        Kind::LatencySpike => {
            let min = d.ms(50, 300);
            vec![
                (
                    at,
                    Action::Latency {
                        min,
                        max: min + d.ms(0, 500),
                    },
                    When::At,
                ),
                (
                    end(d.ms(500, 5_000)),
                    Action::Latency {
                        min: phase.latency.0,
                        max: phase.latency.1,
                    },
                    When::At,
                ),
            ]
        }
        Kind::ClockJump => {
            let by = d.range(1, 10_000) as i64 * 1_000_000;
            let by_ns = if d.chance(0.5) { by } else { -by };
            vec![(
                at,
                Action::ClockJump {
                    target: target(d),
                    by_ns,
                },
                When::At,
            )]
        }
        Kind::CrashOnAck => {
            let restart = end(d.ms(500, 6_000));
            crash_on(
                at,
                restart,
                ProtocolEvent::Reply { ok: true },
                Selector::Leader,
                1,
            )
        }
        Kind::CrashOnPersist => {
            let count = d.range(1, 20) as u32;
            let restart = end(d.ms(500, 6_000));
            crash_on(at, restart, ProtocolEvent::Persist, Selector::Random, count)
        }
        Kind::CrashOnSend => {
            // Any node's messages: a voter's reply, a candidate's request, a leader's
            // append; restarted soon or late.
            let node = d.pick(&[Selector::Leader, Selector::Random, Selector::All]);
            let count = d.range(1, 50) as u32;
            let restart = end(d.ms(20, 6_000));
            let send = ProtocolEvent::Send {
                message: None,
                with: None,
            };
            crash_on(at, restart, send, node, count)
        }
        Kind::IsolateNewLeader => {
            let trigger = Trigger {
                event: ProtocolEvent::Role {
                    role: RoleName::Leader,
                    min_term: d.range(0, 3),
                },
                node: Selector::All,
                count: 1,
            };
            let target = Selector::Trigger;
            vec![
                (at, Action::Isolate { target }, When::On(trigger)),
                (end(d.ms(1_000, 8_000)), Action::Heal, When::At),
            ]
        }
    }
}

/// A crash of the node whose `count`-th `event` (from `node`) comes after `at`, right
/// after it; whatever is down restarts at `restart`.
fn crash_on(
    at: Duration,
    restart: Duration,
    event: ProtocolEvent,
    node: Selector,
    count: u32,
) -> Vec<Entry> {
    let trigger = Trigger { event, node, count };
    vec![
        (
            at,
            Action::Crash {
                target: Selector::Trigger,
            },
            When::On(trigger),
        ),
        (
            restart,
            Action::Restart {
                target: Selector::Down,
            },
            When::At,
        ),
    ]
}

/// Two halves that cannot reach each other, and one node in the middle that reaches
/// both: each half may believe the bridge is with it.
fn bridge(d: &mut Draw, at: Duration, heal: Duration, nodes: u32) -> Vec<Entry> {
    let bridge = d.range(1, nodes as u64) as u32;
    let others: Vec<u32> = (1..=nodes).filter(|n| *n != bridge).collect();
    let half = others.len() / 2;
    let (a, b) = others.split_at(half);
    let side = |ids: &[u32]| Selector::Nodes(ids.to_vec());
    vec![
        (
            at,
            Action::OneWay {
                from: side(a),
                to: side(b),
            },
            When::At,
        ),
        (
            at,
            Action::OneWay {
                from: side(b),
                to: side(a),
            },
            When::At,
        ),
        (heal, Action::Heal, When::At),
    ]
}
