//! Sequential specifications: what a history of operations is checked against.
//!
//! A model is a deterministic state machine, as Porcupine's `Model` (Herlihy & Wing 1990's
//! sequential specification): `step` says whether an operation with its observed outcome
//! is legal in a state, and the state after it. Indeterminate outcomes are always legal:
//! the operation applies its effect as if it had succeeded. The linearizability search in
//! `check` runs over any model; a system names the one it promises in its
//! [`crate::System::promises`].

use crate::op::Op;
use std::borrow::Cow;
use std::fmt::Debug;
use std::hash::Hash;

/// How an operation ended, as far as a model is concerned. Borrows the operation's
/// output.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a, T> {
    Ok(&'a T),
    /// A definite failure the model asked to see ([`Model::fail_observes`]): it changed
    /// nothing but observed something (a cas whose compare did not match, etcd's
    /// `:fail :cas`).
    Failed,
    /// Info, or pending at the end: any result, effect at any point or never.
    Unknown,
}

// Manual: derived impls would ask `T: Clone`, though only a reference is copied.
impl<T> Clone for Outcome<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Outcome<'_, T> {}

/// An operation and how it ended, as [`Model::narrow`] sees a history.
pub type Ended<'o, O> = (&'o O, Outcome<'o, <O as Op>::Output>);

/// How an operation bears on the look-ahead ([`Model::can_precede`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reset<S> {
    /// It only moves the state on: an operation that cannot follow a state cannot follow
    /// it with this one applied either (an append, a read, an add to a set).
    Never,
    /// If it takes effect, it leaves this state whatever came before (a put, a delete, a
    /// compare-and-set's new value): an operation that can follow this state may follow
    /// it, whatever the state was.
    To(S),
    /// It may leave any state: the look-ahead says nothing past it.
    Any,
}

/// A sequential specification of one operation vocabulary.
pub trait Model: Debug {
    type Op: Op;
    type State: Clone + Eq + Hash + Debug;

    /// The model's name in reports (`kv`, `cas-register`, `lock`).
    fn name(&self) -> &str;

    fn init(&self) -> Self::State;

    /// The state after `op` with `outcome`, or `None` if that outcome is impossible here.
    /// Borrowed when the operation leaves the state as it was (a read, a cas that did not
    /// match): most steps of a search are reads, and they then copy nothing.
    fn step<'s>(
        &self,
        s: &'s Self::State,
        op: &Self::Op,
        outcome: Outcome<'_, <Self::Op as Op>::Output>,
    ) -> Option<Cow<'s, Self::State>>;

    /// A state as a report shows it.
    fn describe(&self, s: &Self::State) -> String {
        format!("{s:?}")
    }

    /// The bytes a state owns beyond its own size (a string's buffer), counted against
    /// the search's memory bound. The default, none, suits a state of plain values.
    fn heap_bytes(&self, _s: &Self::State) -> usize {
        0
    }

    /// The independent object `op` touches (Porcupine's partition): a history is
    /// linearizable iff each object's sub-history is. `None`: one object, the whole.
    fn partition<'o>(&self, op: &'o Self::Op) -> Option<&'o str> {
        op.key()
    }

    /// Whether `op` belongs to this model (a cas register serves no append). The
    /// checker rejects a history with an operation outside it.
    fn accepts(&self, _op: &Self::Op) -> bool {
        true
    }

    /// What the model serves, for the error about an operation it does not accept.
    fn vocabulary(&self) -> String {
        "its own operations".to_string()
    }

    /// Whether a definite failure of `op` still observed something, and so constrains
    /// the order ([`Outcome::Failed`]). Otherwise a failed operation did not take effect
    /// and observed nothing, and the checker drops it.
    fn fail_observes(&self, _op: &Self::Op) -> bool {
        false
    }

    /// Optional: this model narrowed to one object's history (`ops`: every operation the
    /// search must consider, with its outcome), or `None` to keep it as it is. A narrowed
    /// model may merge states that no operation of that history can tell apart (values
    /// no read shows), and treat an indeterminate operation that no operation could have
    /// observed as changing nothing (the search then leaves it out). Orders that differ
    /// only in what nobody saw then meet in one state, and the search tries each once.
    /// It must keep the verdict: the history is linearizable under the narrowed model
    /// exactly when it is under this one.
    fn narrow(&self, _ops: &[Ended<'_, Self::Op>]) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    /// The state the search's memo keeps for `s`: a narrowed model ([`Model::narrow`])
    /// may merge states that no operation of its history can tell apart, so that orders
    /// reaching any of them are explored once. Merged states must be alike in every way
    /// the model can be asked about. The default keeps `s` as it is.
    fn merge<'s>(&self, s: &'s Self::State) -> Cow<'s, Self::State> {
        Cow::Borrowed(s)
    }

    /// Look-ahead, optional: whether `state` can still be followed by `later` ending with
    /// `outcome`, through operations that do not reset the state ([`Model::resets`]).
    /// False when no such sequence makes that outcome legal: a value that only grows by
    /// appends, read later, must extend the state now. The search then drops a
    /// configuration as soon as an operation it must still place cannot follow it,
    /// instead of exploring every way on until it reaches that operation (which, for
    /// concurrent appends, is every order of them). An indeterminate `later` is asked as
    /// if it took effect: the look-ahead asks so only of a reset ([`Reset::To`]), to know
    /// whether it can lead somewhere (a compare-and-set needs its expected value). The
    /// default says nothing.
    fn can_precede(
        &self,
        _state: &Self::State,
        _later: &Self::Op,
        _outcome: Outcome<'_, <Self::Op as Op>::Output>,
    ) -> bool {
        true
    }

    /// How `op`, ending with `outcome`, bears on [`Model::can_precede`]. The default,
    /// [`Reset::Any`] for every operation, turns the look-ahead off.
    fn resets(
        &self,
        _op: &Self::Op,
        _outcome: Outcome<'_, <Self::Op as Op>::Output>,
    ) -> Reset<Self::State> {
        Reset::Any
    }

    /// Whether the search may skip linearizing `op` right after an indeterminate
    /// operation, because every such order can be rewritten without it: `op` blindly
    /// overwrites the state (then the indeterminate one had no visible effect and can be
    /// left out), or `op` is determinate and commutes with it (then the indeterminate one
    /// can move after it, which is always allowed since it never returns).
    fn skip_after_unknown(
        &self,
        _op: &Self::Op,
        _outcome: Outcome<'_, <Self::Op as Op>::Output>,
    ) -> bool {
        false
    }
}
