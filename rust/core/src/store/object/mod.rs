//! Operations shared by every `object_store`-backed cloud backend, and the
//! retry/timeout configuration they all use, one concern per file:
//! [`config`] (clients and transfer sizes), [`read`], [`write`] and
//! [`listing`] (head, list, delete). Each operation takes the object it
//! acts on as one [`Object`]: its store, transfer settings, path and URI.

pub(crate) mod config;
pub(crate) mod listing;
pub(crate) mod read;
pub(crate) mod write;

mod handle;

pub(crate) use config::Transfer;
pub(crate) use handle::Object;
pub(crate) use read::Whole;
