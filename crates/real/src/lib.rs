//! Real mode: the same sans-IO nodes outside madsim, on real disks and (next) real
//! sockets. What is here so far:
//!
//! - [`store`]: a node's durable records in a data directory: an append-only log of
//!   checksummed frames, where `Sync` is an fsync and a torn tail left by `kill -9` is
//!   detected and dropped at open, never read as data; a directory made for another
//!   system, cluster or node is refused.
//! - [`frame`]: frames between nodes on a TCP stream: length-prefixed, bounded, after a
//!   handshake naming the cluster and the node; what arrives never panics a node.
//! - [`crc`]: the CRC-32C the store's frames carry.

pub mod crc;
pub mod frame;
pub mod store;

pub use store::{Identity, Store, StoreError};
