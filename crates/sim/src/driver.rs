//! The driver of one endpoint: a madsim task that runs whatever is due each time it is
//! woken, forever. It never completes; madsim drops it when its node is killed, and a
//! restarted node gets a fresh one, which boots the node on its first poll. The driver
//! makes no protocol decision: it only hands its endpoint to the world.

use crate::world::World;
use protocol::System;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, Weak};
use std::task::{Context, Poll};

/// Which endpoint a driver runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Node(usize),
    Client(usize),
}

pub struct Driver<S: System> {
    /// Weak: the world holds this task's waker (and, through madsim's timers, more of
    /// them), so a strong reference here would be a cycle that keeps every run's world
    /// and tasks alive after the run (~0.7 MB a seed). The run owns the world.
    world: Weak<Mutex<World<S>>>,
    endpoint: Endpoint,
    booted: bool,
}

impl<S: System> Driver<S> {
    pub fn new(world: Weak<Mutex<World<S>>>, endpoint: Endpoint) -> Driver<S> {
        Driver {
            world,
            endpoint,
            booted: false,
        }
    }
}

impl<S: System> Future for Driver<S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Some(world) = this.world.upgrade() else {
            return Poll::Pending; // the run is over; madsim is tearing its tasks down
        };
        let mut w = world
            .lock()
            .expect("a handler panicked while holding the world");
        if !this.booted {
            this.booted = true;
            match this.endpoint {
                Endpoint::Node(i) => w.boot(i, cx.waker().clone()),
                Endpoint::Client(c) => w.boot_client(c, cx.waker().clone()),
            }
        }
        w.count_wakeup();
        match this.endpoint {
            Endpoint::Node(i) => w.run_node(i),
            Endpoint::Client(c) => w.run_client(c),
        }
        w.wake_next();
        Poll::Pending
    }
}
