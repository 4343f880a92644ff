//! Frames on a TCP stream between nodes: `length (4, LE) | payload`, the length bounded,
//! and a handshake first, naming the cluster and the node, so a connection from another
//! cluster or an unknown node is refused before any message is read. Reading never
//! panics on what arrives: a frame too large or a handshake that does not parse is an
//! error value, and the connection is closed by its owner.

use std::fmt;

/// The largest payload a frame may carry; a length beyond it closes the connection.
pub const MAX_FRAME: usize = 16 << 20;

const LENGTH: usize = 4;

/// The payload as one frame's bytes.
pub fn encode(payload: &[u8]) -> Vec<u8> {
    assert!(
        payload.len() <= MAX_FRAME,
        "a frame of {} bytes",
        payload.len()
    );
    let mut out = Vec::with_capacity(LENGTH + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A length beyond [`MAX_FRAME`].
    TooLarge(usize),
    /// A handshake that is not `splitbrain/1 <cluster> n<id>`.
    BadHandshake(String),
    /// A handshake from another cluster, or from a node the cluster does not have.
    Refused(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge(n) => write!(f, "a frame of {n} bytes (at most {MAX_FRAME})"),
            FrameError::BadHandshake(why) => write!(f, "a malformed handshake: {why}"),
            FrameError::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Frames out of a byte stream that arrives in pieces of any size.
#[derive(Default)]
pub struct Reader {
    buffer: Vec<u8>,
    /// Where the next frame starts: consumed bytes are dropped in bulk, not per frame
    /// (a read that brought a thousand small frames would otherwise move the buffer a
    /// thousand times).
    start: usize,
}

impl Reader {
    /// Takes bytes as they came off the socket.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, `None` until one has arrived whole, or an error
    /// (after which the connection is to be closed).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let rest = &self.buffer[self.start..];
        let Some(head) = rest.get(..LENGTH) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if rest.len() < LENGTH + len {
            return Ok(None);
        }
        let payload = rest[LENGTH..LENGTH + len].to_vec();
        self.start += LENGTH + len;
        Ok(Some(payload))
    }
}

/// The first frame on a connection: who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    pub cluster: String,
    pub caller: Caller,
}

/// A node of the cluster (its messages follow), or a client (requests: operations and
/// the harness's questions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Node(u32),
    Client,
}

impl Hello {
    pub fn node(cluster: &str, node: u32) -> Hello {
        Hello {
            cluster: cluster.to_string(),
            caller: Caller::Node(node),
        }
    }

    pub fn client(cluster: &str) -> Hello {
        Hello {
            cluster: cluster.to_string(),
            caller: Caller::Client,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let who = match self.caller {
            Caller::Node(n) => format!("n{n}"),
            Caller::Client => "client".to_string(),
        };
        encode(format!("splitbrain/1 {} {who}", self.cluster).as_bytes())
    }

    /// A handshake frame's payload (`splitbrain/1 <cluster> n<id>|client`), checked
    /// against the cluster this node belongs to and its size (nodes are `n1` to
    /// `n<nodes>`).
    pub fn accept(payload: &[u8], cluster: &str, nodes: u32) -> Result<Hello, FrameError> {
        let text = std::str::from_utf8(payload)
            .map_err(|_| FrameError::BadHandshake("not text".into()))?;
        let mut parts = text.split(' ');
        let (Some("splitbrain/1"), Some(c), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let shown: String = text.chars().take(60).collect();
            return Err(FrameError::BadHandshake(format!("{shown:?}")));
        };
        let caller = match n {
            "client" => Caller::Client,
            _ => Caller::Node(
                n.strip_prefix('n')
                    .and_then(|d| d.parse::<u32>().ok())
                    .ok_or_else(|| FrameError::BadHandshake(format!("caller {n:?}")))?,
            ),
        };
        if c != cluster {
            return Err(FrameError::Refused(format!(
                "a caller from cluster {c:?}, this is {cluster:?}"
            )));
        }
        if let Caller::Node(node) = caller {
            if node == 0 || node > nodes {
                return Err(FrameError::Refused(format!(
                    "n{node} is not one of n1..n{nodes}"
                )));
            }
        }
        Ok(Hello {
            cluster: c.to_string(),
            caller,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_however_the_bytes_arrive() {
        let payloads: Vec<Vec<u8>> = vec![b"one".to_vec(), Vec::new(), vec![7u8; 1000]];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| encode(p)).collect();
        for piece in [1, 2, 3, 5, 64, stream.len()] {
            let mut r = Reader::default();
            let mut got = Vec::new();
            for chunk in stream.chunks(piece) {
                r.feed(chunk);
                while let Some(f) = r.next_frame().expect("valid frames") {
                    got.push(f);
                }
            }
            assert_eq!(got, payloads, "pieces of {piece}");
        }
    }

    #[test]
    fn a_length_beyond_the_bound_is_an_error_not_an_allocation() {
        let mut r = Reader::default();
        r.feed(&u32::MAX.to_le_bytes());
        assert_eq!(r.next_frame(), Err(FrameError::TooLarge(u32::MAX as usize)));
    }

    /// Random bytes never panic the reader or the handshake: each is a frame, an error,
    /// or a wait for more.
    #[test]
    fn random_and_truncated_input_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..2_000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Often a plausible length, so payloads reach the handshake parser too.
            if next() % 2 == 0 && len >= 4 {
                bytes[..4].copy_from_slice(&((len - 4) as u32).to_le_bytes());
            }
            let mut r = Reader::default();
            r.feed(&bytes);
            if let Ok(Some(payload)) = r.next_frame() {
                let _ = Hello::accept(&payload, "c1", 3);
            }
        }
    }

    #[test]
    fn a_handshake_from_another_cluster_or_an_unknown_node_is_refused() {
        let hello = Hello::node;
        let payload = |h: Hello| h.encode()[4..].to_vec();
        assert_eq!(
            Hello::accept(&payload(hello("c1", 2)), "c1", 3),
            Ok(hello("c1", 2))
        );
        assert_eq!(
            Hello::accept(&payload(Hello::client("c1")), "c1", 3),
            Ok(Hello::client("c1"))
        );
        assert!(matches!(
            Hello::accept(&payload(Hello::client("c2")), "c1", 3),
            Err(FrameError::Refused(_))
        ));
        assert!(matches!(
            Hello::accept(&payload(hello("c2", 2)), "c1", 3),
            Err(FrameError::Refused(_))
        ));
        assert!(matches!(
            Hello::accept(&payload(hello("c1", 4)), "c1", 3),
            Err(FrameError::Refused(_))
        ));
        for bad in [
            &b"GET / HTTP/1.1"[..],
            b"splitbrain/1 c1",
            b"splitbrain/1 c1 nx",
            &[0xff, 0xfe],
        ] {
            assert!(matches!(
                Hello::accept(bad, "c1", 3),
                Err(FrameError::BadHandshake(_))
            ));
        }
    }
}
