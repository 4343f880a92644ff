//! When each endpoint's driver must next run: the world's view of the schedule, kept so
//! that finding the next event costs a scan of one short array (this runs after every
//! driver poll; scanning the mailboxes themselves cost 7% of a run's instructions).
//!
//! Endpoints are numbered nodes first, then clients. An endpoint is *due* at the time of
//! its earliest queued event, or never if it has none or cannot run now (down, paused, not
//! yet booted). It is *ready* when madsim will run its driver at the current instant
//! anyway: the world woke it, or it was created or restarted and has not run yet. While
//! any endpoint is ready the world must not move the clock: that driver may queue
//! something earlier than anything queued now.

/// Due time of an endpoint with nothing to run.
pub const NEVER: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scan {
    pub next: u64,
    pub first: usize,
    pub any_ready: bool,
}

#[derive(Debug)]
pub struct Agenda {
    due: Vec<u64>,
    ready: Vec<bool>,
}

impl Agenda {
    pub fn new(endpoints: usize) -> Agenda {
        Agenda {
            due: vec![NEVER; endpoints],
            ready: vec![false; endpoints],
        }
    }

    /// `e`'s earliest event is now due at `at_ns` (or [`NEVER`]).
    pub fn set_due(&mut self, e: usize, at_ns: u64) {
        self.due[e] = at_ns;
    }

    /// An event due at `at_ns` joined `e`'s mailbox.
    pub fn lower_due(&mut self, e: usize, at_ns: u64) {
        self.due[e] = self.due[e].min(at_ns);
    }

    /// `e` will run at this instant; false if it already was going to.
    pub fn mark_ready(&mut self, e: usize) -> bool {
        !std::mem::replace(&mut self.ready[e], true)
    }

    /// `e` ran (or will not run after all: killed or paused before its turn).
    pub fn ran(&mut self, e: usize) {
        self.ready[e] = false;
    }

    /// `e` cannot run until further notice (down or paused).
    pub fn suspend(&mut self, e: usize) {
        self.ran(e);
        self.due[e] = NEVER;
    }

    /// The earliest due time of all ([`NEVER`] if nothing is queued anywhere), the first
    /// endpoint due then, and whether any endpoint is ready: one pass, as this runs after
    /// every driver poll.
    pub fn scan(&self) -> Scan {
        let mut scan = Scan {
            next: NEVER,
            first: 0,
            any_ready: false,
        };
        for (e, (&due, &ready)) in self.due.iter().zip(&self.ready).enumerate() {
            if due < scan.next {
                scan.next = due;
                scan.first = e;
            }
            scan.any_ready |= ready;
        }
        scan
    }

    pub fn endpoints(&self) -> usize {
        self.due.len()
    }

    /// Whether `e` has an event due by `now_ns` and is not already going to run; if so it
    /// is marked ready, and the caller wakes its driver.
    pub fn take_due(&mut self, e: usize, now_ns: u64) -> bool {
        self.due[e] <= now_ns && self.mark_ready(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_event_is_the_earliest_due_time() {
        let mut a = Agenda::new(3);
        assert_eq!(a.scan().next, NEVER, "nothing queued");
        a.lower_due(1, 50);
        a.lower_due(2, 70);
        a.lower_due(1, 90); // later than what endpoint 1 already has
        let first = Scan {
            next: 50,
            first: 1,
            any_ready: false,
        };
        assert_eq!(a.scan(), first);
        a.set_due(1, 80); // endpoint 1 ran its event at 50; 80 is next in its mailbox
        a.lower_due(0, 70);
        assert_eq!(
            (a.scan().next, a.scan().first),
            (70, 0),
            "the first of equals"
        );
    }

    #[test]
    fn a_suspended_endpoint_is_never_due_and_not_ready() {
        let mut a = Agenda::new(2);
        a.lower_due(0, 10);
        assert!(a.mark_ready(0));
        assert!(a.scan().any_ready);
        a.suspend(0);
        assert!(
            !a.scan().any_ready,
            "a paused or killed driver will not run"
        );
        assert_eq!(a.scan().next, NEVER);
        assert!(!a.take_due(0, NEVER - 1));
    }

    #[test]
    fn only_endpoints_due_and_not_yet_ready_are_woken() {
        let mut a = Agenda::new(4);
        a.lower_due(0, 10);
        a.lower_due(1, 10);
        a.lower_due(2, 20);
        assert!(a.mark_ready(1));
        assert!(!a.mark_ready(1), "already ready");
        let due = |a: &mut Agenda, now| {
            (0..a.endpoints())
                .filter(|&e| a.take_due(e, now))
                .collect::<Vec<_>>()
        };
        assert_eq!(due(&mut a, 10), vec![0], "1 is ready already, 2 is not due");
        assert_eq!(due(&mut a, 20), vec![2], "0 was just woken");
        for e in 0..3 {
            a.ran(e);
        }
        a.ran(3); // a driver polled without being woken (a stale backstop) changes nothing
        assert!(!a.scan().any_ready);
        assert_eq!(due(&mut a, 10), vec![0, 1]);
    }
}
