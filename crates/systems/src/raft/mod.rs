//! Placeholder: the reference Raft lands here.
