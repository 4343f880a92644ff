//! Operation vocabularies with their sequential models and workloads: each is a model
//! like one a user writes, with nothing special about it.
//!
//! - [`kv`]: a key-value store (get, put, delete, append, cas); as a compare-and-set
//!   register, the same restricted to get, put and cas.
//! - [`set`]: a grow-only set (add, read).

pub mod kv;
pub mod set;
