//! What travels between processes, and in what form: a node's messages to its peers, a
//! client's requests and the node's answers, and the records a node keeps on disk, all in
//! postcard (a compact, non-self-describing serde format). A system runs for real when
//! everything it sends, keeps and answers is serde-serializable: [`RealSystem`].
//!
//! Decoding never panics: bytes that do not decode are a [`WireError`], and the
//! connection they came on is closed by its owner.

use protocol::{ClientResult, NodeStatus, System};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that crosses a process boundary.
pub trait Wire: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Wire for T {}

/// A system whose messages, records, operations, results and replica data serialize:
/// it can run outside the simulation. Every system whose types derive serde's
/// `Serialize` and `Deserialize` is one; nothing to implement.
pub trait RealSystem:
    System<Msg: Wire, Record: Wire, State: Wire, Op: Wire + protocol::Op<Output: Wire>>
{
}

impl<S> RealSystem for S where
    S: System<Msg: Wire, Record: Wire, State: Wire, Op: Wire + protocol::Op<Output: Wire>>
{
}

/// A client's request to one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<O> {
    /// A client operation; the reply carries the same `id` (the client's own number).
    Op { id: u64, op: O },
    /// The node's status now, and again on every change, on this connection.
    Watch,
    /// The replica's data now (what convergence and durability compare).
    State,
    /// Read this node's clock `offset_ns` away from the real one (a clock fault).
    Clock { offset_ns: i64 },
    /// The node's counters since it started.
    Stats,
}

/// A node's answer on a client connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<T, D> {
    Reply {
        id: u64,
        result: ClientResult<T>,
    },
    Status(NodeStatus),
    State(D),
    /// The clock offset now in force.
    Clock {
        offset_ns: i64,
    },
    Stats(Stats),
}

/// What a node counted since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Messages handed to a peer's connection (dropped ones not counted).
    pub sent: u64,
    /// Messages from peers that the node handled.
    pub received: u64,
    /// Client operations handled.
    pub requests: u64,
}

/// The request type of system `S`.
pub type RequestOf<S> = Request<<S as protocol::Node>::Op>;
/// The response type of system `S`.
pub type ResponseOf<S> = Response<protocol::Output<S>, <S as protocol::Node>::State>;

/// Bytes that are not a value of the expected type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireError {
    pub what: &'static str,
    pub why: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a {}: {}", self.what, self.why)
    }
}

impl std::error::Error for WireError {}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing into a Vec fails only for types serde cannot represent at all (a map
    // with non-string keys is fine in postcard): a programming error, not input.
    postcard::to_allocvec(value).expect("a serde value encodes to postcard")
}

/// `bytes` as a `T`; `what` names it in the error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, WireError> {
    postcard::from_bytes(bytes).map_err(|e| WireError {
        what,
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ClientError, LogIndex, NodeId, Role, Term};

    #[test]
    fn requests_and_responses_round_trip() {
        let requests: Vec<Request<String>> = vec![
            Request::Op {
                id: 7,
                op: "put x 1".into(),
            },
            Request::Watch,
            Request::State,
            Request::Clock { offset_ns: -5 },
        ];
        for r in &requests {
            assert_eq!(
                &decode::<Request<String>>(&encode(r), "request").unwrap(),
                r
            );
        }
        let responses: Vec<Response<u32, Vec<u8>>> = vec![
            Response::Reply {
                id: 1,
                result: Err(ClientError::NotLeader {
                    hint: Some(NodeId(2)),
                }),
            },
            Response::Status(NodeStatus {
                role: Role::Leader,
                term: Some(Term(3)),
                commit: Some(LogIndex(9)),
                scope: NodeStatus::ALL,
            }),
            Response::State(vec![1, 2]),
        ];
        for r in &responses {
            assert_eq!(
                &decode::<Response<u32, Vec<u8>>>(&encode(r), "response").unwrap(),
                r
            );
        }
    }

    #[test]
    fn bytes_that_are_no_request_are_an_error() {
        // Variant 200 does not exist; an Op cut short has no operation.
        for bad in [&[200u8][..], &[0, 7], &[]] {
            assert!(
                decode::<Request<String>>(bad, "request").is_err(),
                "{bad:?}"
            );
        }
    }
}
