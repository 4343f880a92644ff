//! Client histories and the checkers over them (linearizability, set, sessions).
