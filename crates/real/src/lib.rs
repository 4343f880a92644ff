//! Real mode: the same sans-IO nodes outside madsim, on real disks, real sockets and the
//! real clock. Modules:
//!
//! - [`node`]: the tokio driver that runs one node of any [`RealSystem`] in a process.
//! - [`wire`]: what crosses a process boundary (peer messages, client requests, the
//!   node's answers, records on disk) in postcard; [`RealSystem`], any system whose
//!   types serialize.
//! - [`net`]: whole frames off a socket, and [`net::Conn`], a client's connection.
//! - [`store`]: a node's durable records in a data directory: an append-only log of
//!   checksummed frames, where `Sync` is an fsync and a torn tail left by `kill -9` is
//!   detected and dropped at open, never read as data; a directory made for another
//!   system, cluster or node is refused.
//! - [`frame`]: frames on a TCP stream: length-prefixed, bounded, after a handshake
//!   naming the cluster and the caller; what arrives never panics a node.
//! - [`crc`]: the CRC-32C the store's frames carry.
//!
//! No madsim here: this crate is what a system runs in production-like conditions.

pub mod crc;
pub mod frame;
pub mod net;
pub mod node;
pub mod store;
pub mod wire;

pub use node::{run, serve, terminated, NodeOptions, RealError};
pub use store::{Identity, Store, StoreError};
pub use wire::{RealSystem, Request, Response, Wire};
