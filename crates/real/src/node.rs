//! The tokio driver: one node of any [`RealSystem`] in this process, on the real clock, a
//! real disk and TCP.
//!
//! One task owns the node and calls its handlers one at a time, as the simulator does;
//! everything else feeds it through one bounded queue: a task per inbound connection
//! (peer messages, client requests) and the timers. Its effects go out as the simulator
//! would do them: `Send` to a bounded queue per peer, drained by a task that keeps one
//! outbound connection (reconnecting with backoff; frames queued while the peer is
//! unreachable are dropped, as a network drops them), `SetTimer` on the monotonic clock,
//! `Persist`/`Erase`/`Sync` on the [`Store`] (`Sync` is an fsync, done before the next
//! effect, so a reply after it is sent only once the data is durable), `Reply` on the
//! client's connection.
//!
//! Nothing a peer or client sends can panic the node: a frame too large, a handshake
//! from elsewhere, or bytes that do not decode close that one connection, with a line on
//! stderr. A disk that fails stops the node (fail-stop), with the error.

use crate::frame::{encode, Caller, Hello, Reader};
use crate::net::read_frame;
use crate::store::{Identity, Store, StoreError};
use crate::wire::{self, RealSystem, RequestOf, Response, ResponseOf, Stats, WireError};
use protocol::{
    Cx, Disk, Effect, Instant, Node, NodeEffect, NodeId, NodeStatus, ParamError, Params, RequestId,
    TimerId,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Events waiting for the node: connections block (and TCP pushes back) beyond this.
const INBOX: usize = 4096;
/// Frames waiting to go to one peer or one client; beyond it they are dropped.
const OUTBOX: usize = 4096;
/// Client requests the node has not answered; past it the oldest is forgotten (its
/// client gave up long ago).
const MAX_PENDING: usize = 16_384;
/// Messages a node sent itself, not yet handled.
const MAX_LOCAL: usize = 4096;
/// Inbound connections at once (peers, clients, the harness's watchers); past it a new
/// one is closed at once, so a flood of connections cannot exhaust memory or descriptors.
const MAX_CONNECTIONS: usize = 256;
/// A caller has this long to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Reconnect backoff between these bounds, doubling.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Where one node runs and with whom.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The cluster's name: connections from another cluster are refused, and the data
    /// directory is marked with it.
    pub cluster: String,
    pub id: NodeId,
    /// Where to reach each node, in id order (n1 first); this node's own entry is unused.
    pub peers: Vec<SocketAddr>,
    /// Where this node accepts peers and clients.
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub params: Params,
}

#[derive(Debug)]
pub enum RealError {
    Params(ParamError),
    Store(StoreError),
    /// A record on disk this system cannot read (another version of it wrote it).
    Record {
        key: String,
        error: WireError,
    },
    Io {
        what: String,
        error: std::io::Error,
    },
    Options(String),
}

impl fmt::Display for RealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RealError::Params(e) => write!(f, "parameters: {e}"),
            RealError::Store(e) => write!(f, "{e}"),
            RealError::Record { key, error } => write!(f, "record {key:?} on disk: {error}"),
            RealError::Io { what, error } => write!(f, "{what}: {error}"),
            RealError::Options(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RealError {}

impl From<StoreError> for RealError {
    fn from(e: StoreError) -> RealError {
        RealError::Store(e)
    }
}

/// Runs node `opts.id` of system `S` until SIGINT or SIGTERM (or its disk fails), on a
/// current-thread runtime: the node's handlers never run concurrently.
pub fn run<S: RealSystem>(opts: NodeOptions) -> Result<(), RealError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| RealError::Io {
            what: "a runtime".into(),
            error,
        })?;
    let stop = {
        let _inside = runtime.enter();
        terminated().map_err(|error| RealError::Io {
            what: "signal handlers".into(),
            error,
        })?
    };
    runtime.block_on(serve::<S>(opts, stop))
}

/// Completes on SIGINT or SIGTERM: how `cluster` and a user stop a node cleanly. The
/// handlers are installed now, not when the future is first polled, so a signal that
/// arrives in between is not lost (nor, where the parent ignored it, discarded). Call it
/// inside a tokio runtime.
pub fn terminated() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// What the node's task is told.
enum Inbound<S: Node> {
    Peer(NodeId, S::Msg),
    /// A client connected; its answers go to `out`.
    Client(u64, mpsc::Sender<Vec<u8>>),
    Request(u64, RequestOf<S>),
    Gone(u64),
}

/// Serves until `stop`.
pub async fn serve<S: RealSystem>(
    opts: NodeOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), RealError> {
    let nodes = opts.peers.len() as u32;
    if opts.id.0 == 0 || opts.id.0 > nodes {
        return Err(RealError::Options(format!(
            "{} is not one of n1..n{nodes}",
            opts.id
        )));
    }
    // The data directory first: a foreign one is refused before anything listens.
    let mut driver = Driver::<S>::open(&opts)?;
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|error| RealError::Io {
            what: format!("listening on {}", opts.listen),
            error,
        })?;
    let (tx, mut rx) = mpsc::channel(INBOX);
    tokio::spawn(accept::<S>(
        listener,
        opts.cluster.clone(),
        nodes,
        opts.id,
        tx,
    ));
    driver.start();
    driver.run(&mut rx, stop).await
}

/// The node and everything its effects touch.
struct Driver<S: RealSystem> {
    node: S,
    id: NodeId,
    cluster: Vec<NodeId>,
    rng: ChaCha8Rng,
    /// A clock fault: how far this node's clock reads from the real one.
    offset_ns: i64,
    timers: BTreeMap<TimerId, tokio::time::Instant>,
    store: Store,
    /// Outbound queues by peer index (`None`: this node).
    links: Vec<Option<mpsc::Sender<Vec<u8>>>>,
    clients: BTreeMap<u64, mpsc::Sender<Vec<u8>>>,
    watchers: BTreeSet<u64>,
    pending: BTreeMap<RequestId, (u64, u64)>,
    next_req: u64,
    local: VecDeque<S::Msg>,
    status: NodeStatus,
    stats: Stats,
    /// A disk failure inside a handler, raised after it.
    failed: Option<RealError>,
}

impl<S: RealSystem> Driver<S> {
    fn open(opts: &NodeOptions) -> Result<Driver<S>, RealError> {
        let config = S::config(&opts.params).map_err(RealError::Params)?;
        let identity = Identity {
            system: S::NAME.to_string(),
            cluster: opts.cluster.clone(),
            node: opts.id.0,
        };
        let store = Store::open(&opts.data, &identity)?;
        if store.torn() > 0 {
            eprintln!(
                "{}: dropped a torn tail of {} bytes from the log",
                opts.id,
                store.torn()
            );
        }
        let cluster: Vec<NodeId> = (1..=opts.peers.len() as u32).map(NodeId).collect();
        let node = S::new(opts.id, &cluster, &config);
        let links = opts
            .peers
            .iter()
            .zip(&cluster)
            .map(|(addr, peer)| {
                (*peer != opts.id).then(|| {
                    let (tx, rx) = mpsc::channel(OUTBOX);
                    tokio::spawn(link(opts.cluster.clone(), opts.id, *peer, *addr, rx));
                    tx
                })
            })
            .collect();
        let status = node.status();
        Ok(Driver {
            node,
            id: opts.id,
            cluster,
            rng: ChaCha8Rng::seed_from_u64(wall_ns() ^ u64::from(opts.id.0)),
            offset_ns: 0,
            timers: BTreeMap::new(),
            store,
            links,
            clients: BTreeMap::new(),
            watchers: BTreeSet::new(),
            pending: BTreeMap::new(),
            next_req: 1,
            local: VecDeque::new(),
            status,
            stats: Stats::default(),
            failed: None,
        })
    }

    fn disk(&self) -> Result<Disk<S::Record>, RealError> {
        let mut disk = Disk::new();
        for (key, bytes) in self.store.records() {
            let record = wire::decode(bytes, "record").map_err(|error| RealError::Record {
                key: key.clone(),
                error,
            })?;
            disk.insert(key.clone(), record);
        }
        Ok(disk)
    }

    fn start(&mut self) {
        match self.disk() {
            Ok(disk) => self.step(|node, cx| node.on_start(cx, &disk)),
            Err(e) => self.failed = Some(e),
        }
    }

    async fn run(
        &mut self,
        rx: &mut mpsc::Receiver<Inbound<S>>,
        stop: impl Future<Output = ()>,
    ) -> Result<(), RealError> {
        tokio::pin!(stop);
        loop {
            if let Some(e) = self.failed.take() {
                return Err(e);
            }
            let next = self.timers.values().min().copied();
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                event = rx.recv() => match event {
                    Some(event) => self.inbound(event),
                    None => return Ok(()),
                },
                _ = until(next) => self.fire_due(),
            }
            while let Some(msg) = self.local.pop_front() {
                let me = self.id;
                self.step(|node, cx| node.on_message(cx, me, msg));
            }
        }
    }

    /// This node's clock: the real one, shifted by a clock fault.
    fn now(&self) -> Instant {
        Instant(wall_ns().saturating_add_signed(self.offset_ns))
    }

    /// One handler call and its effects.
    fn step(&mut self, handler: impl FnOnce(&mut S, &mut Cx<'_, S>)) {
        let mut effects = Vec::new();
        let now = self.now();
        let mut cx = Cx::new(self.id, &self.cluster, now, &mut self.rng, &mut effects);
        handler(&mut self.node, &mut cx);
        for effect in effects {
            if self.failed.is_some() {
                // Fail-stop: nothing after a failed write may happen (a reply would
                // acknowledge what is not on disk).
                break;
            }
            self.apply(effect);
        }
        self.report_status();
    }

    fn apply(&mut self, effect: NodeEffect<S>) {
        let done = match effect {
            Effect::Send { to, msg } => {
                self.send(to, msg);
                Ok(())
            }
            Effect::SetTimer { timer, after } => {
                self.timers
                    .insert(timer, tokio::time::Instant::now() + after);
                Ok(())
            }
            Effect::CancelTimer { timer } => {
                self.timers.remove(&timer);
                Ok(())
            }
            Effect::Reply { req, result } => {
                if let Some((conn, id)) = self.pending.remove(&req) {
                    self.answer(conn, &Response::Reply { id, result });
                }
                Ok(())
            }
            Effect::Persist { key, value } => self.store.persist(&key, &wire::encode(&value)),
            Effect::Erase { key } => self.store.erase(&key),
            Effect::Sync => self.store.sync(),
            Effect::Note(line) => {
                eprintln!("{}: {line}", self.id);
                Ok(())
            }
        };
        if let Err(e) = done {
            self.failed = Some(RealError::Store(e));
        }
    }

    fn send(&mut self, to: NodeId, msg: S::Msg) {
        if to == self.id {
            if self.local.len() < MAX_LOCAL {
                self.local.push_back(msg);
            }
            return;
        }
        let Some(Some(link)) = self.links.get(to.0.wrapping_sub(1) as usize) else {
            return; // no such node: as a network would, it goes nowhere
        };
        // A full queue (the peer is slow or unreachable) drops the message, as a
        // network would; the node's protocol already survives loss.
        if link.try_send(encode(&wire::encode(&msg))).is_ok() {
            self.stats.sent += 1;
        }
    }

    fn answer(&mut self, conn: u64, response: &ResponseOf<S>) {
        if let Some(out) = self.clients.get(&conn) {
            let _ = out.try_send(encode(&wire::encode(response)));
        }
    }

    fn report_status(&mut self) {
        let status = self.node.status();
        if status == self.status {
            return;
        }
        self.status = status;
        let watchers: Vec<u64> = self.watchers.iter().copied().collect();
        for conn in watchers {
            self.answer(conn, &Response::Status(status));
        }
    }

    fn fire_due(&mut self) {
        let now = tokio::time::Instant::now();
        let mut due: Vec<(tokio::time::Instant, TimerId)> = self
            .timers
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, at)| (*at, *t))
            .collect();
        due.sort();
        for (_, timer) in due {
            // An earlier handler may have re-armed or cancelled it.
            if self.timers.get(&timer).is_some_and(|at| *at <= now) {
                self.timers.remove(&timer);
                self.step(|node, cx| node.on_timer(cx, timer));
            }
        }
    }

    fn inbound(&mut self, event: Inbound<S>) {
        match event {
            Inbound::Peer(from, msg) => {
                self.stats.received += 1;
                self.step(|node, cx| node.on_message(cx, from, msg));
            }
            Inbound::Client(conn, out) => {
                self.clients.insert(conn, out);
            }
            Inbound::Gone(conn) => {
                self.clients.remove(&conn);
                self.watchers.remove(&conn);
                self.pending.retain(|_, (c, _)| *c != conn);
            }
            Inbound::Request(conn, request) => self.request(conn, request),
        }
    }

    fn request(&mut self, conn: u64, request: RequestOf<S>) {
        match request {
            wire::Request::Op { id, op } => {
                if self.pending.len() >= MAX_PENDING {
                    // Never answered: the client gave up long ago. Not answered now
                    // either: the node may yet apply it, so no refusal is true.
                    self.pending.pop_first();
                }
                let req = RequestId(self.next_req);
                self.next_req += 1;
                self.pending.insert(req, (conn, id));
                self.stats.requests += 1;
                self.step(|node, cx| node.on_client(cx, req, op));
            }
            wire::Request::Watch => {
                self.watchers.insert(conn);
                self.answer(conn, &Response::Status(self.status));
            }
            wire::Request::State => {
                let state = self.node.state();
                self.answer(conn, &Response::State(state));
            }
            wire::Request::Clock { offset_ns } => {
                self.offset_ns = offset_ns;
                self.answer(conn, &Response::Clock { offset_ns });
            }
            wire::Request::Stats => self.answer(conn, &Response::Stats(self.stats)),
        }
    }
}

async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Nanoseconds since the Unix epoch: one clock for every node process on a machine, so
/// what a node wrote before a restart (a lease's end) still means the same after it.
#[allow(clippy::disallowed_methods)] // real mode runs on the real clock, by definition
fn wall_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Accepts connections until the node stops, a task for each.
async fn accept<S: RealSystem>(
    listener: TcpListener,
    cluster: String,
    nodes: u32,
    me: NodeId,
    tx: mpsc::Sender<Inbound<S>>,
) {
    let mut next_conn = 0u64;
    let open = std::sync::Arc::new(());
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            // Out of descriptors, say: wait rather than spin.
            tokio::time::sleep(BACKOFF_MIN).await;
            continue;
        };
        // Every connection task holds a clone of `open`: its count is theirs plus ours.
        if std::sync::Arc::strong_count(&open) > MAX_CONNECTIONS {
            eprintln!("{me}: refused a connection from {from}: {MAX_CONNECTIONS} already open");
            continue;
        }
        next_conn += 1;
        let (cluster, tx, held) = (cluster.clone(), tx.clone(), open.clone());
        tokio::spawn(async move {
            if let Err(why) = connection::<S>(stream, &cluster, nodes, next_conn, &tx).await {
                eprintln!("{me}: closed a connection from {from}: {why}");
            }
            drop(held);
        });
    }
}

/// One inbound connection: the handshake, then frames until it closes or misbehaves.
async fn connection<S: RealSystem>(
    stream: TcpStream,
    cluster: &str,
    nodes: u32,
    conn: u64,
    tx: &mpsc::Sender<Inbound<S>>,
) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let mut reader = Reader::default();
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut read, &mut reader))
        .await
        .map_err(|_| "no handshake in time".to_string())?
        .map_err(|e| e.to_string())?
        .ok_or("closed before the handshake")?;
    let hello = Hello::accept(&hello, cluster, nodes).map_err(|e| e.to_string())?;
    match hello.caller {
        Caller::Node(n) => {
            let from = NodeId(n);
            let peer = |msg| Inbound::Peer(from, msg);
            let what = format!("a message from {from}");
            forward(&mut read, &mut reader, &what, peer, tx).await
        }
        Caller::Client => {
            let (out, mut rx) = mpsc::channel(OUTBOX);
            let mut write = write;
            tokio::spawn(async move { write_frames(&mut write, &mut rx).await });
            if tx.send(Inbound::Client(conn, out)).await.is_err() {
                return Ok(());
            }
            let request = |r| Inbound::Request(conn, r);
            let ended = forward(&mut read, &mut reader, "a request", request, tx).await;
            let _ = tx.send(Inbound::Gone(conn)).await;
            ended
        }
    }
}

/// Decodes each frame off `read` as a `T` and hands it to the node as `wrap` makes it,
/// until the connection closes (`Ok`) or sends what does not decode (`Err`, and the
/// caller closes it).
async fn forward<S: RealSystem, T: wire::Wire>(
    read: &mut tokio::net::tcp::OwnedReadHalf,
    reader: &mut Reader,
    what: &str,
    wrap: impl Fn(T) -> Inbound<S>,
    tx: &mpsc::Sender<Inbound<S>>,
) -> Result<(), String> {
    loop {
        let Some(frame) = read_frame(read, reader).await.map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let value = wire::decode(&frame, "value").map_err(|e| format!("{what}: {e}"))?;
        if tx.send(wrap(value)).await.is_err() {
            return Ok(()); // the node stopped
        }
    }
}

/// Writes queued frames, several per system call when they pile up, until the queue
/// closes (`Ok`) or a write fails.
async fn write_frames<W: tokio::io::AsyncWrite + Unpin>(
    write: &mut W,
    rx: &mut mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<()> {
    while let Some(mut batch) = rx.recv().await {
        while batch.len() < 64 << 10 {
            match rx.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        write.write_all(&batch).await?;
    }
    Ok(())
}

/// The outbound connection to one peer: connect, say who we are, send what is queued;
/// on any error, reconnect with backoff, dropping what was queued meanwhile.
async fn link(
    cluster: String,
    me: NodeId,
    peer: NodeId,
    addr: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        while rx.try_recv().is_ok() {} // lost while the peer was unreachable
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
            continue;
        };
        backoff = BACKOFF_MIN;
        let _ = stream.set_nodelay(true);
        let hello = Hello::node(&cluster, me.0).encode();
        if stream.write_all(&hello).await.is_ok()
            && write_frames(&mut stream, &mut rx).await.is_ok()
        {
            return; // the node stopped
        }
        eprintln!("{me}: lost the connection to {peer}; reconnecting");
    }
}
