//! Session guarantees (Terry et al. 1994, "Session Guarantees for Weakly Consistent
//! Replicated Data"): per client session,
//! - *monotonic reads*: once a session has read a version of a key, its later reads of
//!   that key never return an older version;
//! - *read your writes*: once a session's write to a key is acknowledged, its later reads
//!   of that key reflect it.
//!
//! Works for any vocabulary whose reads say what they saw ([`VersionedRead`]; the kv
//! store's gets do). Reads are ordered by the version they report, assumed to grow with
//! every write to a key. Reads without a version are checked only where no version is needed: a read
//! of an absent key after the session's own acknowledged write, when no operation in the
//! history ever deletes that key. A session is a process, or a client that several
//! processes belong to (Jepsen gives a client a new process after `info`).

use super::ops::{operations, HistoryError, Operation};
use crate::models::kv::{KvOp, KvOutput};
use protocol::{EventKind, History, Op};

/// What a read saw of its key, for the session checkers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Whether the key held a value.
    pub present: bool,
    /// The version read, where the system reports one.
    pub version: Option<u64>,
}

/// A vocabulary whose reads report what they saw of a key, so its histories can be
/// checked for session guarantees.
pub trait VersionedRead: Op {
    /// What `self`, a read that returned `output`, saw; `None` for a write.
    fn observed(&self, output: &Self::Output) -> Option<Observed>;
    /// Whether `self` removes its key (then a later read of nothing is no violation).
    fn removes(&self) -> bool;
}

impl VersionedRead for KvOp {
    fn observed(&self, output: &KvOutput) -> Option<Observed> {
        match (self, output) {
            (KvOp::Get { .. }, KvOutput::Value { value, version }) => Some(Observed {
                present: value.is_some(),
                version: *version,
            }),
            _ => None,
        }
    }

    fn removes(&self) -> bool {
        matches!(self, KvOp::Delete { .. })
    }
}
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Guarantee {
    MonotonicReads,
    ReadYourWrites,
}

impl Guarantee {
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::MonotonicReads => "monotonic reads",
            Guarantee::ReadYourWrites => "read your writes",
        }
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken guarantee: a read, and the earlier operation of the same session it
/// contradicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionViolation {
    pub guarantee: Guarantee,
    pub session: u64,
    pub key: String,
    /// The earlier operation (read or write), rendered by [`Operation::summary`].
    pub earlier: String,
    /// The offending read.
    pub read: String,
    /// Why the two contradict.
    pub detail: String,
}

impl fmt::Display for SessionViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "session {} key {:?}: {} violated: {}",
            self.session, self.key, self.guarantee, self.detail
        )?;
        writeln!(f, "    earlier: {}", self.earlier)?;
        writeln!(f, "    read:    {}", self.read)
    }
}

/// All violations, in history order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionReport {
    pub sessions: usize,
    pub reads_checked: usize,
    pub violations: Vec<SessionViolation>,
}

impl SessionReport {
    pub fn valid(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for SessionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "session guarantees: {} ({} sessions, {} reads checked, {} violations)",
            if self.valid() { "valid" } else { "INVALID" },
            self.sessions,
            self.reads_checked,
            self.violations.len()
        )?;
        for v in &self.violations {
            write!(f, "  {v}")?;
        }
        Ok(())
    }
}

/// What a session has seen of one key.
struct Seen<'a, O: Op> {
    /// Highest version read, and by which operation.
    max_read: Option<(u64, &'a Operation<'a, O>)>,
    /// The session's latest acknowledged write, and the highest version the session had
    /// read before it (the write must produce a newer one).
    write: Option<(&'a Operation<'a, O>, Option<u64>)>,
}

impl<O: Op> Default for Seen<'_, O> {
    fn default() -> Self {
        Seen {
            max_read: None,
            write: None,
        }
    }
}

/// Checks monotonic reads and read-your-writes per session. `client_of` maps a process
/// to its client (session); processes not in it, or all when `None`, are their own
/// session.
pub fn check_sessions<O: VersionedRead>(
    h: &History<O>,
    client_of: Option<&BTreeMap<u64, u64>>,
) -> Result<SessionReport, HistoryError> {
    let ops = operations(h)?;
    let session = |p: u64| client_of.and_then(|m| m.get(&p).copied()).unwrap_or(p);
    let deleted: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.op.removes())
        .filter_map(|o| o.op.key())
        .collect();
    let mut seen: BTreeMap<(u64, &str), Seen<O>> = BTreeMap::new();
    let mut sessions = BTreeSet::new();
    let mut report = SessionReport::default();
    // A session's operations are sequential, so invocation order is session order.
    for o in &ops {
        let s = session(o.process);
        sessions.insert(s);
        let Some(key) = o.op.key() else { continue };
        if o.end != EventKind::Ok {
            // Unacknowledged writes promise nothing; failed reads observed nothing.
            continue;
        }
        let entry = seen.entry((s, key)).or_default();
        match o.output.and_then(|out| o.op.observed(out)) {
            Some(Observed { present, version }) => {
                let version = version.as_ref();
                report.reads_checked += 1;
                let mut violation = |guarantee, earlier: &Operation<O>, detail: String| {
                    report.violations.push(SessionViolation {
                        guarantee,
                        session: s,
                        key: key.to_string(),
                        earlier: earlier.summary(),
                        read: o.summary(),
                        detail,
                    })
                };
                if let (Some(v), Some((max, by))) = (version, entry.max_read) {
                    if *v < max {
                        violation(
                            Guarantee::MonotonicReads,
                            by,
                            format!(
                                "read version {v} after the session had already read version {max}"
                            ),
                        );
                    }
                }
                if let Some((w, floor)) = entry.write {
                    match (version, floor) {
                        (Some(v), Some(f)) if *v <= f => violation(
                            Guarantee::ReadYourWrites,
                            w,
                            format!(
                                "read version {v} after its own acknowledged write, but it had \
                                 read version {f} before that write, so the write must have \
                                 made a version above {f}"
                            ),
                        ),
                        _ if !present && !deleted.contains(key) => violation(
                            Guarantee::ReadYourWrites,
                            w,
                            "read the key as absent after its own acknowledged write, and no \
                             operation in the history deletes it"
                                .to_string(),
                        ),
                        _ => {}
                    }
                }
                if let Some(v) = version {
                    if entry.max_read.is_none_or(|(max, _)| *v > max) {
                        entry.max_read = Some((*v, o));
                    }
                }
            }
            None if o.op.is_read() => {}
            None => {
                // An acknowledged write: later reads must see it or something newer.
                let floor = entry.max_read.map(|(v, _)| v);
                let floor = match entry.write {
                    Some((_, f)) => floor.max(f),
                    None => floor,
                };
                entry.write = Some((o, floor));
            }
        }
    }
    report.sessions = sessions.len();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    struct B(History<KvOp>);

    impl B {
        fn op(&mut self, p: u64, op: KvOp, end: EventKind, out: Option<KvOutput>) {
            self.0.events.push(Event {
                process: p,
                kind: EventKind::Invoke,
                op: op.clone(),
                output: None,
                time_ns: 0,
            });
            self.0.events.push(Event {
                process: p,
                kind: end,
                op,
                output: out,
                time_ns: 0,
            });
        }
        fn get(&mut self, p: u64, value: Option<&str>, version: Option<u64>) {
            let out = KvOutput::Value {
                value: value.map(str::to_string),
                version,
            };
            self.op(p, KvOp::Get { key: "x".into() }, EventKind::Ok, Some(out));
        }
        fn put(&mut self, p: u64, value: &str, end: EventKind) {
            let op = KvOp::Put {
                key: "x".into(),
                value: value.into(),
            };
            self.op(p, op, end, Some(KvOutput::Done));
        }
    }

    #[test]
    fn monotonic_reads() {
        let mut b = B(History::default());
        b.get(1, Some("a"), Some(3));
        b.get(2, Some("z"), Some(1)); // another session may lag
        b.get(1, Some("z"), Some(1));
        let r = check_sessions(&b.0, None).unwrap();
        assert_eq!(r.violations.len(), 1, "{r}");
        let v = &r.violations[0];
        assert_eq!((v.guarantee, v.session), (Guarantee::MonotonicReads, 1));
        assert!(v.detail.contains("version 1") && v.detail.contains("version 3"));
        assert!(r.to_string().contains("monotonic reads violated"));
    }

    #[test]
    fn read_your_writes() {
        let mut b = B(History::default());
        b.get(1, Some("a"), Some(3));
        b.put(1, "b", EventKind::Ok);
        b.get(1, Some("a"), Some(3));
        // An unacknowledged write promises nothing.
        b.get(2, Some("a"), Some(3));
        b.put(2, "c", EventKind::Info);
        b.get(2, Some("a"), Some(3));
        let r = check_sessions(&b.0, None).unwrap();
        assert_eq!(r.violations.len(), 1, "{r}");
        assert_eq!(r.violations[0].guarantee, Guarantee::ReadYourWrites);
        assert!(r.violations[0].earlier.contains("put x=b"));
    }

    #[test]
    fn absent_after_own_write_and_client_map() {
        let mut b = B(History::default());
        b.put(1, "b", EventKind::Ok);
        b.get(7, None, None);
        // Processes 1 and 7 are separate sessions unless mapped to one client.
        assert!(check_sessions(&b.0, None).unwrap().valid());
        let map = BTreeMap::from([(1, 100), (7, 100)]);
        let r = check_sessions(&b.0, Some(&map)).unwrap();
        assert_eq!(r.violations.len(), 1, "{r}");
        assert_eq!(r.violations[0].session, 100);
    }
}
