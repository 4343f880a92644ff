//! Run invariants: one property per file.
