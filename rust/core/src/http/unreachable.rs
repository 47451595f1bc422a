//! An endpoint that could not be connected to, told apart from every other
//! failure: a client that has other endpoints ([`crate::store`]'s
//! multi-endpoint S3 client) asks its connector to answer a failed connect
//! with this at once, unretried, and sends the request elsewhere.

use std::error::Error;

use object_store::client::HttpError;

/// The connect to `endpoint` failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to {endpoint}")]
pub struct Unreachable {
    pub endpoint: String,
    #[source]
    pub source: HttpError,
}

/// The [`Unreachable`] in `err`'s chain of sources, if any.
pub fn find<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a Unreachable> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<Unreachable>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}
