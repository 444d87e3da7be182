//! Faults in scenarios: what goes wrong during a run ([`spec`]), the driver that makes process
//! faults happen on time ([`drive`]), and what each did to the pipeline ([`recovery`]).
//!
//! Data faults (malformed, duplicate, reorder, late, clock skew) are injected by the producer
//! (`pipeline::produce::inject`); process faults (kill, restart, pause) by the runner, while the
//! load plays. The checks then prove that nothing was lost or doubled.

pub(crate) mod drive;
pub mod recovery;
pub mod spec;

pub use spec::{FaultKind, FaultList, FaultSpec};
