//! What a scenario file may name: the systems a caller can run, the invariants each may
//! report, and the operations their workloads serve. The caller (a registry of systems,
//! or one system under test) hands a catalog to the parser; the parser names no system.

use protocol::{InvariantId, System, Workload};

/// One runnable system as a scenario file sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemInfo {
    pub name: &'static str,
    /// Its native workload's name (`workload.kind` may name it).
    pub workload: &'static str,
    /// The operations its workload's mix may weight.
    pub ops: &'static [&'static str],
    /// Every invariant it may report: the built-in ones and its own.
    pub invariants: Vec<InvariantId>,
}

impl SystemInfo {
    /// What `S` says of itself.
    pub fn of<S: System>() -> SystemInfo {
        let mut invariants = InvariantId::BUILTIN.to_vec();
        invariants.extend(S::OWN_INVARIANTS.iter().copied());
        SystemInfo {
            name: S::NAME,
            workload: <S::Workload as Workload>::NAME,
            ops: <S::Workload as Workload>::OPS,
            invariants,
        }
    }
}

/// The systems a scenario may name, in the order `systems = ["all"]` lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub systems: Vec<SystemInfo>,
}

impl Catalog {
    pub fn new(systems: Vec<SystemInfo>) -> Catalog {
        Catalog { systems }
    }

    /// A catalog of the one system `S`.
    pub fn of<S: System>() -> Catalog {
        Catalog::new(vec![SystemInfo::of::<S>()])
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.systems.iter().map(|s| s.name).collect()
    }

    pub fn get(&self, name: &str) -> Option<&SystemInfo> {
        self.systems.iter().find(|s| s.name == name)
    }
}
