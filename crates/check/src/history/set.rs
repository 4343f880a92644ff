//! Set completeness (Jepsen's set checker, `jepsen.checker/set`): every acknowledged add
//! must be in the final read (else *lost*), nothing may appear that no client tried to add
//! (*unexpected*), and no element may be stored twice (*duplicated*). Adds whose outcome
//! is unknown (`info`, pending) may be present or absent ("recovered" when present). An
//! add that definitely failed (`fail`) must not be present.

use super::ops::{operations, HistoryError};
use crate::models::set::{SetOp, SetOutput};
use protocol::{EventKind, History};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What the set checker found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetReport {
    pub attempted: usize,
    pub acknowledged: usize,
    /// Acknowledged adds missing from the final read.
    pub lost: BTreeSet<u64>,
    /// Read but never attempted.
    pub unexpected: BTreeSet<u64>,
    /// Element -> how many times the final state holds it (only counts above one).
    pub duplicated: BTreeMap<u64, usize>,
    /// Adds that failed definitely yet are present.
    pub failed_present: BTreeSet<u64>,
    /// Indeterminate adds present (allowed).
    pub recovered: BTreeSet<u64>,
    /// Indeterminate adds absent (allowed).
    pub indeterminate_absent: BTreeSet<u64>,
}

impl SetReport {
    pub fn valid(&self) -> bool {
        self.lost.is_empty()
            && self.unexpected.is_empty()
            && self.duplicated.is_empty()
            && self.failed_present.is_empty()
    }
}

impl fmt::Display for SetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "set: {} ({} adds attempted, {} acknowledged, {} indeterminate present, {} indeterminate absent)",
            if self.valid() { "valid" } else { "INVALID" },
            self.attempted,
            self.acknowledged,
            self.recovered.len(),
            self.indeterminate_absent.len()
        )?;
        if !self.lost.is_empty() {
            writeln!(
                f,
                "  lost (acknowledged, missing from the final read): {:?}",
                self.lost
            )?;
        }
        if !self.unexpected.is_empty() {
            writeln!(f, "  unexpected (never added): {:?}", self.unexpected)?;
        }
        if !self.duplicated.is_empty() {
            writeln!(f, "  duplicated (element: copies): {:?}", self.duplicated)?;
        }
        if !self.failed_present.is_empty() {
            writeln!(
                f,
                "  present although their add failed: {:?}",
                self.failed_present
            )?;
        }
        Ok(())
    }
}

/// Checks the adds in `h` against `final_state`, a multiset (e.g. a node's
/// `StateView::Elements`), or, when `None`, against the last `ok` set read in `h`; then
/// only adds acknowledged before that read was invoked count as lost when absent.
pub fn check_set(
    h: &History<SetOp>,
    final_state: Option<&[u64]>,
) -> Result<SetReport, HistoryError> {
    let ops = operations(h)?;
    // Adds acknowledged before this event index must be in the read.
    let mut read_from = usize::MAX;
    let read: Vec<u64> = match final_state {
        Some(s) => s.to_vec(),
        None => {
            let last = ops
                .iter()
                .filter(|o| o.end == EventKind::Ok && *o.op == SetOp::Read)
                .max_by_key(|o| o.complete);
            match last.and_then(|o| o.output.map(|out| (o.invoke, out))) {
                Some((invoke, SetOutput::Set(s))) => {
                    read_from = invoke;
                    s.iter().copied().collect()
                }
                _ => {
                    return Err(HistoryError {
                        event: h.events.len(),
                        message: "no `ok` set read in the history; expected a final read, or \
                                  pass the final state"
                            .to_string(),
                    })
                }
            }
        }
    };
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &read {
        *counts.entry(*e).or_default() += 1;
    }
    let mut attempted = BTreeSet::new();
    let mut acked = BTreeSet::new();
    // Acknowledged before the read began, so certainly due in it.
    let mut due = BTreeSet::new();
    let mut failed = BTreeSet::new();
    let mut unsure = BTreeSet::new();
    let mut r = SetReport::default();
    for o in &ops {
        let SetOp::Add { element } = *o.op else {
            continue;
        };
        r.attempted += 1;
        attempted.insert(element);
        match o.end {
            EventKind::Ok => {
                r.acknowledged += 1;
                acked.insert(element);
                if o.complete.is_some_and(|c| c < read_from) {
                    due.insert(element);
                }
            }
            EventKind::Fail => {
                failed.insert(element);
            }
            EventKind::Info | EventKind::Invoke => {
                unsure.insert(element);
            }
        }
    }
    for e in &due {
        if !counts.contains_key(e) {
            r.lost.insert(*e);
        }
    }
    for (e, n) in &counts {
        if !attempted.contains(e) {
            r.unexpected.insert(*e);
        }
        if *n > 1 {
            r.duplicated.insert(*e, *n);
        }
        // Another add of the same element may have succeeded or be unsure.
        if failed.contains(e) && !acked.contains(e) && !unsure.contains(e) {
            r.failed_present.insert(*e);
        }
        if unsure.contains(e) && !acked.contains(e) {
            r.recovered.insert(*e);
        }
    }
    for e in &unsure {
        if !acked.contains(e) && !counts.contains_key(e) {
            r.indeterminate_absent.insert(*e);
        }
    }
    Ok(r)
}

/// [`check_set`] against each of several final reads (e.g. one per replica).
pub fn check_set_reads(
    h: &History<SetOp>,
    reads: &[&[u64]],
) -> Result<Vec<SetReport>, HistoryError> {
    reads.iter().map(|r| check_set(h, Some(r))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Event;

    fn ev(process: u64, kind: EventKind, op: SetOp, output: Option<SetOutput>) -> Event<SetOp> {
        Event {
            process,
            kind,
            op,
            output,
            time_ns: 0,
        }
    }

    fn add(h: &mut History<SetOp>, p: u64, e: u64, end: EventKind) {
        let op = SetOp::Add { element: e };
        h.events.push(ev(p, EventKind::Invoke, op.clone(), None));
        if end != EventKind::Invoke {
            let out = (end == EventKind::Ok).then_some(SetOutput::Done);
            h.events.push(ev(p, end, op, out));
        }
    }

    #[test]
    fn finds_lost_unexpected_duplicated() {
        let mut h = History::<SetOp>::default();
        add(&mut h, 0, 1, EventKind::Ok);
        add(&mut h, 0, 2, EventKind::Ok);
        add(&mut h, 1, 3, EventKind::Info);
        add(&mut h, 2, 4, EventKind::Fail);
        add(&mut h, 3, 5, EventKind::Invoke);
        let ok = check_set(&h, Some(&[1, 2, 3])).unwrap();
        assert!(ok.valid(), "{ok}");
        assert_eq!(ok.recovered, BTreeSet::from([3]));
        assert_eq!(ok.indeterminate_absent, BTreeSet::from([5]));
        let bad = check_set(&h, Some(&[1, 1, 4, 9])).unwrap();
        assert!(!bad.valid());
        assert_eq!(bad.lost, BTreeSet::from([2]));
        assert_eq!(bad.unexpected, BTreeSet::from([9]));
        assert_eq!(bad.duplicated, BTreeMap::from([(1, 2)]));
        assert_eq!(bad.failed_present, BTreeSet::from([4]));
        let text = bad.to_string();
        assert!(
            text.contains("lost") && text.contains("unexpected"),
            "{text}"
        );
    }

    #[test]
    fn uses_the_last_read() {
        let mut h = History::<SetOp>::default();
        add(&mut h, 0, 1, EventKind::Ok);
        assert!(check_set(&h, None).is_err());
        h.events.push(ev(0, EventKind::Invoke, SetOp::Read, None));
        h.events.push(ev(
            0,
            EventKind::Ok,
            SetOp::Read,
            Some(SetOutput::Set(BTreeSet::new())),
        ));
        assert_eq!(check_set(&h, None).unwrap().lost, BTreeSet::from([1]));
    }
}
