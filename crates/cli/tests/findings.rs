//! The headline finding of each seed design, pinned to its scenario and seed: the verdict
//! names the violated invariant with its distinctive detail, and the replay log shows the
//! events that make the violation (both masters' election lines, the push that never
//! arrived, the stale read and the write it missed). A change to a port, the harness or a
//! checker that loses one of these fails here with the command that replays it.

use splitbrain::{InvariantId, RunOptions, RunReport};
use splitbrain_cli::builtins;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A scenario file of sim-scenarios/, as the built-ins read it.
fn load(scenario: &str) -> splitbrain::Scenario {
    let path = workspace().join("sim-scenarios").join(scenario);
    scenario::load(&path, &builtins().catalog()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one pinned (scenario, system, seed) with the readable log kept.
fn replay(scenario: &str, system: &str, seed: u64) -> (RunReport, String) {
    let sc = load(scenario);
    let registry = builtins();
    let report = registry
        .run(
            system,
            &sc,
            seed,
            &RunOptions {
                replay: true,
                ..RunOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}"));
    (report, registry.reproduce(&sc, system, seed))
}

/// The detail of the first violation of `invariant`, or a failure naming what was found.
fn violation<'a>(r: &'a RunReport, invariant: InvariantId, repro: &str) -> &'a str {
    r.violations
        .iter()
        .find(|v| v.invariant == invariant)
        .map(|v| v.detail.as_str())
        .unwrap_or_else(|| {
            panic!(
                "no {invariant} violation; found {:?}\n  reproduce: {repro}",
                r.violated()
            )
        })
}

/// Simulated time of a log line (`"   25.000s n1 leader"`), in ms.
fn time_ms(line: &str) -> u64 {
    let t = line.split_whitespace().next().expect("time column");
    let secs: f64 = t.trim_end_matches('s').parse().expect("time in seconds");
    (secs * 1000.0).round() as u64
}

/// The node, key and last lost write of a durability detail such as
/// `n2: k0 = Some("c1-162"), but the last acknowledged write was put k0=c2-419` (when
/// several writes are listed, the last one).
fn lost_write(detail: &str) -> (String, String, String) {
    let (node, rest) = detail.split_once(": ").expect("`node: key = ...`");
    let key = rest.split(" = ").next().expect("`key = value`");
    let value = detail
        .rsplit(&format!("put {key}="))
        .next()
        .expect("a lost put")
        .trim_end_matches(|c: char| !c.is_alphanumeric());
    (node.to_string(), key.to_string(), value.to_string())
}

/// Log lines containing every one of `parts`.
fn lines<'a>(r: &'a RunReport, parts: &[&str]) -> Vec<&'a str> {
    r.log
        .iter()
        .map(String::as_str)
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

/// Bully (seeds 01/02): a push that fails for longer than the retry budget (10 attempts,
/// 5 s apart) is dropped; the isolated slave never gets the write, and meanwhile elects
/// itself because it misses the master's heartbeats (two masters).
#[test]
fn bully_drops_pushes_after_the_retry_budget_and_the_cut_slave_elects_itself() {
    let (r, repro) = replay("long-partition.toml", "bully", 1);
    let split = violation(&r, InvariantId::ELECTION_SAFETY, &repro);
    assert!(
        split.contains("n1 became master while n3 still acted as master"),
        "{split}"
    );
    let lost = violation(&r, InvariantId::DURABILITY, &repro);
    let element: u64 = lost
        .strip_prefix("n1: acknowledged add ")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected detail {lost:?}\n  reproduce: {repro}"));
    // The first push and all ten retries die on the cut link, then nothing more is sent.
    let doc = format!("element: {element},");
    let cut = lines(&r, &["n3 -x n1 partitioned: Replicate", &doc]);
    assert_eq!(cut.len(), 11, "{cut:#?}\n  reproduce: {repro}");
    let heal = lines(&r, &["s heal"]);
    assert_eq!(heal.len(), 1, "{heal:?}");
    assert!(
        time_ms(cut[10]) < time_ms(heal[0]),
        "retries outlived the cut"
    );
    assert!(
        lines(&r, &["n3 -> n1 Replicate", &doc]).is_empty(),
        "the write reached n1 after all\n  reproduce: {repro}"
    );
    // Both masters' election lines, the cut slave's while the master still leads.
    let n3 = lines(&r, &["n3 leader"]);
    let n1 = lines(&r, &["n1 leader"]);
    assert!(!n3.is_empty() && !n1.is_empty(), "{n3:?} {n1:?}");
    assert!(time_ms(n3[0]) < time_ms(n1[0]));
    assert!(
        lines(&r, &["n3 follower"])
            .iter()
            .all(|l| time_ms(l) > time_ms(heal[0])),
        "n3 stepped down before the heal: it was not a second master\n  reproduce: {repro}"
    );
}

/// Bully without unique write ids (seed 01): a push whose answer is lost is retried and
/// stored twice. With seed 02's unique ids the same seed stores nothing twice.
#[test]
fn bully_stores_a_retried_push_twice_unless_writes_carry_unique_ids() {
    let (r, repro) = replay("lost-reply-retry.toml", "bully", 1);
    let set = violation(&r, InvariantId::SET, &repro);
    let marker = "documents stored more than once [";
    let element: u64 = set
        .split(marker)
        .nth(1)
        .and_then(|s| s.split(" x").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no duplicate in {set:?}\n  reproduce: {repro}"));
    let node = &set[..set.find(':').expect("node prefix")];
    let doc = format!("element: {element},");
    let arrived = lines(&r, &[&format!("-> {node} Replicate"), &doc]);
    assert!(arrived.len() >= 2, "{arrived:#?}\n  reproduce: {repro}");
    // The first copy's answer was lost on the way back: that is why it was retried.
    let first_req = arrived[0]
        .split("req: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .expect("request id");
    let lost_reply = lines(
        &r,
        &[
            &format!("{node} -x "),
            &format!("lost: Replicated {{ req: {first_req} }}"),
        ],
    );
    assert_eq!(lost_reply.len(), 1, "reproduce: {repro}");

    let (u, repro) = replay("lost-reply-retry-unique-ids.toml", "bully", 1);
    let set = violation(&u, InvariantId::SET, &repro);
    assert!(!set.contains(marker), "{set}\n  reproduce: {repro}");
    assert!(lines(&u, &["write_id: None"]).is_empty());
}

/// Term bully (seed 03): the monitor keeps the global term in memory; restarted, it counts
/// from zero and gives term 1, which n3 held, to n2.
#[test]
fn term_bully_monitor_restart_reuses_a_term_for_another_coordinator() {
    let (r, repro) = replay("monitor-restart.toml", "term-bully", 1);
    let d = violation(&r, InvariantId::ELECTION_SAFETY, &repro);
    assert!(
        d.contains("n3 and n2 both leader in term 1"),
        "{d}\n  reproduce: {repro}"
    );
    let first = lines(&r, &["n3 leader t1"]);
    let restart = lines(&r, &["restart n4"]);
    let second = lines(&r, &["n2 leader t1"]);
    assert!(!first.is_empty() && !restart.is_empty() && !second.is_empty());
    assert!(time_ms(first[0]) < time_ms(restart[0]));
    assert!(time_ms(restart[0]) < time_ms(second[0]));
    // Before the restart the term had moved on: n2 led term 2.
    let term2 = lines(&r, &["n2 leader t2"]);
    assert!(!term2.is_empty() && time_ms(term2[0]) < time_ms(restart[0]));
}

/// Quorum-kv (seed 04): a strong read with R + W > N returns the first value any replica
/// has, and a follower whose term ran ahead ignores (yet acknowledges) the leader's pushes:
/// reads miss acknowledged writes.
#[test]
fn quorum_kv_strong_read_returns_a_value_older_than_an_acknowledged_write() {
    let (r, repro) = replay("quorum-strong-reads.toml", "quorum-kv", 1);
    let d = violation(&r, InvariantId::LINEARIZABILITY, &repro);
    assert!(d.contains("key \"k0\" is not linearizable"), "{d}");
    // The write: put k0=c2-220, acknowledged.
    let put = lines(&r, &["put k0=c2-220 (req "]);
    let req = put[0]
        .split("(req ")
        .nth(1)
        .and_then(|s| s.strip_suffix(')'))
        .expect("request id");
    let ack = lines(&r, &[&format!("reply req {req}: Ok(Done)")]);
    assert_eq!(
        ack.len(),
        1,
        "the write was not acknowledged\n  reproduce: {repro}"
    );
    // The stale read: a later read of k0 answered with the old value.
    let stale: Vec<&str> = lines(&r, &["Ok(Value { value: Some(\"c1-130\")"])
        .into_iter()
        .filter(|l| time_ms(l) > time_ms(ack[0]))
        .collect();
    assert!(
        !stale.is_empty(),
        "no stale read after the ack\n  reproduce: {repro}"
    );
}

/// Quorum-kv (seed 04): leadership is "lowest id", memory only; the restarted leader comes
/// back at term 1 while followers ran their terms up, so they ignore its pushes but answer
/// them 200, and its writes count as replicated.
#[test]
fn quorum_kv_followers_ahead_in_term_ack_pushes_they_ignore() {
    let (r, repro) = replay("master-crash.toml", "quorum-kv", 1);
    let d = violation(&r, InvariantId::DURABILITY, &repro);
    let (node, key, value) = lost_write(d);
    assert!(
        node != "n1" && d.contains("but the last acknowledged write was"),
        "{d}\n  reproduce: {repro}"
    );
    // The restarted leader pushed the write at term 1 ...
    let pushed = format!("\"{key}\": \"{value}\"");
    let push = lines(
        &r,
        &[&format!("n1 -> {node} Replicate"), "term: 1", &pushed],
    );
    assert!(
        !push.is_empty(),
        "no push of {key}={value} to {node}\n  reproduce: {repro}"
    );
    // ... to a follower whose term had already moved past it.
    let ahead = lines(&r, &[&format!("{node} follower t")])
        .into_iter()
        .filter(|l| !l.ends_with(" t1") && time_ms(l) < time_ms(push[0]))
        .count();
    assert!(
        ahead > 0,
        "{node}'s term was not ahead when the push came\n  reproduce: {repro}"
    );
}

/// Fragment failover (seed 05): recovery resolves by last-write-wins on the writers' own
/// clocks; the promoted node's clock ran a minute behind, so node 1 keeps its older rows
/// and the acknowledged failover writes are gone.
#[test]
fn fragment_failover_lww_with_a_slow_clock_discards_acknowledged_failover_writes() {
    let (r, repro) = replay("clock-skew-failover.toml", "fragment-failover", 1);
    let d = violation(&r, InvariantId::DURABILITY, &repro);
    let (node, key, value) = lost_write(d);
    assert_eq!(node, "n1", "{d}\n  reproduce: {repro}");
    let skew = lines(&r, &["clock n2,n3 -60.000s"]);
    let keeps = lines(&r, &[&format!("n1: lww keeps own {key} over log")]);
    assert!(!skew.is_empty() && !keeps.is_empty(), "reproduce: {repro}");
    // The discarded write was taken by the promoted node and acknowledged before recovery.
    let put = lines(&r, &[&format!("put {key}={value} (req ")]);
    assert!(put.iter().any(|l| l.contains("-> n3")), "{put:?}");
    assert!(time_ms(put[0]) < time_ms(keeps[0]));
}

/// Fragment failover (seed 05): node 1 never learns it was down; restarted, it takes writes
/// at once while nodes 2 and 3 still act as promoted masters until recovery demotes them.
#[test]
fn fragment_failover_returning_master_overlaps_the_promoted_nodes() {
    let (r, repro) = replay("master-crash.toml", "fragment-failover", 1);
    let d = violation(&r, InvariantId::ELECTION_SAFETY, &repro);
    assert!(
        d.contains("n1 became master while n2, n3 still acted as master"),
        "{d}\n  reproduce: {repro}"
    );
    let back = lines(&r, &["n1 leader"]);
    let n2 = lines(&r, &["n2 leader"]);
    let n3 = lines(&r, &["n3 leader"]);
    let demoted = lines(&r, &["n2 follower"]);
    assert!(!back.is_empty() && !n2.is_empty() && !n3.is_empty() && !demoted.is_empty());
    let t = time_ms(back[back.len() - 1]);
    assert!(time_ms(n2[0]) < t && time_ms(n3[0]) < t && t < time_ms(demoted[0]));
}

/// A scenario, and the same with raft's reads served locally (a deliberate mutation).
fn with_local_reads(scenario: &str) -> (splitbrain::Scenario, splitbrain::Scenario) {
    let sc = load(scenario);
    let mut broken = sc.clone();
    broken.params.insert(
        "raft".into(),
        splitbrain::Params::new().with("reads", "local"),
    );
    (sc, broken)
}

/// The harness catches a broken Raft: with `reads = "local"` (every node answers reads
/// from its own state, no read index) a leader stranded in a minority, or a lagging
/// follower, serves stale reads, and the linearizability checker must say so on a seed
/// where the default Raft passes.
#[test]
fn raft_with_local_reads_is_caught_by_the_linearizability_checker() {
    let (sc, broken) = with_local_reads("partition-minority-leader.toml");
    let registry = builtins();
    let opts = RunOptions::default();
    let caught = (1..=sc.seeds).find(|&seed| {
        let r = registry
            .run("raft", &broken, seed, &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        r.violated().contains(&InvariantId::LINEARIZABILITY)
    });
    let seed = caught.expect("local reads were never caught: the checker is blind to stale reads");
    let good = registry
        .run("raft", &sc, seed, &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        good.violations.is_empty(),
        "default raft fails seed {seed}: {:?}",
        good.violations
    );
}

/// A run whose history is not linearizable is decided, never left undecided, within a
/// small search bound: the judge's search holds at most 4 MiB (the default is 256 MiB),
/// over every seed of the scenario, and it finds the stale reads on some. The time bound
/// is only a guard; what bounds the search here is its memory.
#[test]
fn a_broken_raft_is_judged_within_a_small_search_bound() {
    let (sc, broken) = with_local_reads("partition-minority-leader.toml");
    let registry = builtins();
    let opts = RunOptions {
        budget: splitbrain::Budget {
            time: std::time::Duration::from_secs(30),
            memory: 4 << 20,
        },
        ..RunOptions::default()
    };
    let mut caught = 0;
    for seed in 1..=sc.seeds {
        let r = registry
            .run("raft", &broken, seed, &opts)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(r.undecided.is_empty(), "seed {seed}: {:?}", r.undecided);
        caught += usize::from(r.violated().contains(&InvariantId::LINEARIZABILITY));
    }
    assert!(caught > 0, "no seed of {} caught the stale reads", sc.seeds);
}

/// Quorum-kv (seed 04): `read_your_writes` reads `pendingWrites`, which nothing fills, so
/// it is a local read; once the leader restarts with empty memory, a client reads its own
/// acknowledged write as absent.
#[test]
fn quorum_kv_read_your_writes_misses_the_clients_own_write_after_a_restart() {
    let (r, repro) = replay("quorum-read-your-writes.toml", "quorum-kv", 1);
    let d = violation(&r, InvariantId::SESSION, &repro);
    // `... first: session C key "K": read your writes violated: read the key as absent
    // after its own acknowledged write ...; earlier: process P: put K=V -> ok ...`
    let field = |after: &str, end: char| -> String {
        let tail = d.split(after).nth(1).unwrap_or_else(|| panic!("{d}"));
        tail.split(end).next().expect("a field").to_string()
    };
    let client = field("first: session ", ' ');
    let key = field("key \"", '"');
    let put = format!("put {key}={}", field(&format!("put {key}="), ' '));
    assert!(
        d.contains("read your writes violated") && d.contains("read the key as absent"),
        "{d}\n  reproduce: {repro}"
    );
    let sent = lines(
        &r,
        &[&format!("client {client} -> "), &format!("{put} (req ")],
    );
    let req = sent
        .first()
        .and_then(|l| l.split("(req ").nth(1)?.strip_suffix(')'))
        .unwrap_or_else(|| panic!("client {client} never sent {put}\n  reproduce: {repro}"));
    let ack = lines(&r, &[&format!("reply req {req}: Ok(Done)")]);
    let restart = lines(&r, &["restart n1"]);
    assert!(ack.len() == 1 && restart.len() == 1, "reproduce: {repro}");
    // After the restart, the client reads the key and is told it does not exist.
    let absent = lines(
        &r,
        &[
            &format!("client {client} -> "),
            &format!(" get {key} (req "),
        ],
    )
    .into_iter()
    .filter(|l| time_ms(l) > time_ms(restart[0]))
    .filter_map(|l| l.split("(req ").nth(1)?.strip_suffix(')'))
    .any(|req| !lines(&r, &[&format!("reply req {req}: Ok(Value {{ value: None")]).is_empty());
    assert!(
        absent,
        "no read of {key} as absent by client {client}\n  reproduce: {repro}"
    );
}

/// The harness catches a Raft that never fsyncs (`sync = false`): the disk model loses
/// every unsynced write at a crash, so quick pairs of crashes let a node forget entries it
/// acknowledged and a leader without a committed entry is elected. Raft's own log-matching
/// assertion fires, and the run reports it as a `panic` violation instead of crashing.
#[test]
fn raft_without_fsync_is_caught_by_the_disk_model() {
    let sc = load("crash-pairs.toml");
    let registry = builtins();
    let mut broken = sc.clone();
    broken.params.insert(
        "raft".into(),
        splitbrain::Params::new().with("sync", "false"),
    );
    let opts = RunOptions::default();
    let r = registry
        .run("raft", &broken, 1, &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !r.violations.is_empty(),
        "raft without fsync passed crash-pairs seed 1: the crash model is blind to lost writes"
    );
    let good = registry
        .run("raft", &sc, 1, &opts)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        good.violations.is_empty(),
        "default raft fails: {:?}",
        good.violations
    );
}
