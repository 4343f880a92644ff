//! The network nemesis without root or iptables: every link between two nodes goes
//! through a relay the harness runs. Node `i` is told that node `j` lives at the relay
//! for `i → j`, which forwards the handshake and then whole frames to `j`, or drops them
//! while the link is cut, or at the link's loss rate. Frames, not bytes: a dropped frame
//! is a lost message, never a corrupt stream.
//!
//! A node sends only on its own outbound connections (it reads its inbound ones), so the
//! relay for `i → j` carries exactly the messages from `i` to `j`: a one-way cut is one
//! relay, a partition is both.

use real::frame::{encode, Reader};
use real::net::read_frame;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// One directed link's switches, shared by its relay task and the nemesis.
#[derive(Default)]
pub struct Link {
    cut: AtomicBool,
    /// Loss in parts per million.
    loss_ppm: AtomicU32,
    /// Frames forwarded: messages from one node to another, for the throughput figure.
    pub forwarded: AtomicU64,
    /// Frames dropped: cut or lost.
    pub dropped: AtomicU64,
}

/// Every directed link of an `n`-node cluster: `links[i][j]` for `i → j`.
pub struct Relays {
    links: Vec<Vec<Arc<Link>>>,
    /// Where node `i` reaches node `j`.
    pub addrs: Vec<Vec<SocketAddr>>,
}

impl Relays {
    /// Starts a relay for every ordered pair, forwarding to `targets` (where each node
    /// listens). Must run inside a tokio runtime.
    pub async fn start(targets: &[SocketAddr]) -> std::io::Result<Relays> {
        let n = targets.len();
        // xorshift state for loss decisions: real mode is not deterministic, and this
        // only needs to be cheap.
        let noise = Arc::new(AtomicU64::new(0x9e37_79b9_7f4a_7c15));
        let mut links = Vec::with_capacity(n);
        let mut addrs = Vec::with_capacity(n);
        for i in 0..n {
            let mut row = Vec::with_capacity(n);
            let mut row_addrs = Vec::with_capacity(n);
            for (j, target) in targets.iter().enumerate() {
                let link = Arc::new(Link::default());
                if i == j {
                    row_addrs.push(*target);
                } else {
                    let listener = TcpListener::bind("127.0.0.1:0").await?;
                    row_addrs.push(listener.local_addr()?);
                    tokio::spawn(serve(listener, *target, link.clone(), noise.clone()));
                }
                row.push(link);
            }
            links.push(row);
            addrs.push(row_addrs);
        }
        Ok(Relays { links, addrs })
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Cuts (or restores) the link `from → to`.
    pub fn set_cut(&self, from: usize, to: usize, cut: bool) {
        self.links[from][to].cut.store(cut, Ordering::Relaxed);
    }

    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        self.links[from][to].cut.load(Ordering::Relaxed)
    }

    /// Restores every link and clears loss.
    pub fn heal(&self) {
        for row in &self.links {
            for link in row {
                link.cut.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Every link loses `rate` of its frames from now on.
    pub fn set_loss(&self, rate: f64) {
        let ppm = (rate.clamp(0.0, 1.0) * 1e6) as u32;
        for row in &self.links {
            for link in row {
                link.loss_ppm.store(ppm, Ordering::Relaxed);
            }
        }
    }

    /// Frames forwarded over every link so far.
    pub fn forwarded(&self) -> u64 {
        self.sum(|l| &l.forwarded)
    }

    /// Frames dropped (cut or lost) over every link so far.
    pub fn dropped(&self) -> u64 {
        self.sum(|l| &l.dropped)
    }

    fn sum(&self, counter: impl Fn(&Link) -> &AtomicU64) -> u64 {
        self.links
            .iter()
            .flatten()
            .map(|l| counter(l).load(Ordering::Relaxed))
            .sum()
    }
}

async fn serve(listener: TcpListener, target: SocketAddr, link: Arc<Link>, noise: Arc<AtomicU64>) {
    loop {
        let Ok((inbound, _)) = listener.accept().await else {
            continue;
        };
        let (link, noise) = (link.clone(), noise.clone());
        tokio::spawn(async move {
            // A node that is down refuses the connection: close the inbound one too, and
            // the sender reconnects with backoff, as it would to the node itself.
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            let _ = outbound.set_nodelay(true);
            let _ = forward(inbound, outbound, &link, &noise).await;
        });
    }
}

/// Forwards whole frames (the handshake first, always) until either side closes.
async fn forward(
    mut inbound: TcpStream,
    mut outbound: TcpStream,
    link: &Link,
    noise: &AtomicU64,
) -> std::io::Result<()> {
    let mut reader = Reader::default();
    let mut first = true;
    while let Some(frame) = read_frame(&mut inbound, &mut reader).await? {
        let pass = first || (!link.cut.load(Ordering::Relaxed) && !lost(link, noise));
        if pass {
            outbound.write_all(&encode(&frame)).await?;
            if !first {
                link.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            link.dropped.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
    }
    Ok(())
}

fn lost(link: &Link, noise: &AtomicU64) -> bool {
    let ppm = link.loss_ppm.load(Ordering::Relaxed);
    if ppm == 0 {
        return false;
    }
    let mut x = noise.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise.store(x, Ordering::Relaxed);
    (x % 1_000_000) < u64::from(ppm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use real::frame::Hello;
    use tokio::io::AsyncReadExt;

    async fn next(r: &mut TcpStream, reader: &mut Reader) -> Vec<u8> {
        read_frame(r, reader).await.unwrap().expect("a frame")
    }

    /// What a relay delivers: the handshake always, then whole frames while the link is
    /// up, none while it is cut, never a piece of one.
    #[tokio::test(flavor = "current_thread")]
    async fn a_cut_link_drops_whole_frames_and_a_healed_one_forwards_again() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let to = target.local_addr().unwrap();
        let relays = Relays::start(&[to, to]).await.unwrap();
        let mut sender = TcpStream::connect(relays.addrs[0][1]).await.unwrap();
        let (mut receiver, _) = target.accept().await.unwrap();
        sender
            .write_all(&Hello::node("c", 1).encode())
            .await
            .unwrap();
        sender.write_all(&encode(b"one")).await.unwrap();
        let mut reader = Reader::default();
        let r = (&mut receiver, &mut reader);
        assert_eq!(next(r.0, r.1).await, b"splitbrain/1 c n1");
        assert_eq!(next(r.0, r.1).await, b"one");
        relays.set_cut(0, 1, true);
        assert!(
            relays.is_cut(0, 1) && !relays.is_cut(1, 0),
            "one direction only"
        );
        sender.write_all(&encode(b"lost")).await.unwrap();
        // Once the relay has dropped it, heal: the next frame arrives whole and first.
        for _ in 0..1_000 {
            if relays.dropped() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(relays.dropped(), 1);
        relays.heal();
        sender.write_all(&encode(b"two")).await.unwrap();
        assert_eq!(next(&mut receiver, &mut reader).await, b"two");
        assert_eq!(relays.forwarded(), 2, "`one` and `two`, not the handshake");
        drop(sender);
        let mut rest = Vec::new();
        receiver.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "nothing else, and no partial frame");
    }
}
