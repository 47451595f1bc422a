//! Running work: local reads on a few blocking workers with CPU permits
//! ([`workers`]), and one large read split onto spare cores ([`split`]).

pub(crate) mod split;
pub(crate) mod workers;

pub(crate) use workers::{run_split, Worker};
