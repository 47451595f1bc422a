//! Running work: local reads on a few blocking workers with CPU permits
//! ([`workers`]), and one large read split onto spare cores ([`split`]).

pub(crate) mod split;
pub(crate) mod workers;

pub(crate) use workers::{depth_for, run, run_split, Worker};
