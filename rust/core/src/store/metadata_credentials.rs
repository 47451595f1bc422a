//! The last credential source of a cloud client is a metadata server (EC2
//! instance metadata, the GCE metadata server). Where there is none,
//! object_store reports only a failed request to some address, and where
//! one answers an error (a cloud machine without a role or service
//! account), a 404 would read as a missing object. [`Explained`] wraps that
//! source so that both are authentication errors (`AuthError` in Python):
//! a request that gets no answer (refused, reset, timed out) says which
//! sources were tried and how to set credentials; an answer is passed on as
//! the server's.

use std::sync::Arc;

use async_trait::async_trait;
use object_store::client::{HttpError, HttpErrorKind};
use object_store::CredentialProvider;

/// A metadata server as a credential source, its failures explained.
#[derive(Debug)]
pub(super) struct Explained<T> {
    inner: Arc<dyn CredentialProvider<Credential = T>>,
    /// The sources tried before it: "no X credentials: tried A, B".
    tried: String,
    /// The server: "the metadata server at host".
    server: String,
    /// How to set credentials.
    fix: &'static str,
}

impl<T> Explained<T> {
    pub(super) fn new(
        inner: Arc<dyn CredentialProvider<Credential = T>>,
        tried: String,
        server: String,
        fix: &'static str,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner,
            tried,
            server,
            fix,
        })
    }
}

#[async_trait]
impl<T: std::fmt::Debug + Send + Sync + 'static> CredentialProvider for Explained<T> {
    type Credential = T;

    async fn get_credential(&self) -> object_store::Result<Arc<T>> {
        self.inner.get_credential().await.map_err(|err| {
            let cause = crate::error::chain_text(&err);
            let Self {
                tried, server, fix, ..
            } = self;
            let text = match unanswered(&err) {
                true => format!("{tried} and {server}, which failed ({cause}). {fix}"),
                false => format!("no credentials from {server}: {cause}"),
            };
            object_store::Error::Unauthenticated {
                path: String::new(),
                source: text.into(),
            }
        })
    }
}

/// True when `err` is an HTTP request that got no response: an
/// [`HttpError`] among its causes other than one decoding a response (an
/// error status is not an `HttpError`).
fn unanswered(err: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(http) = e.downcast_ref::<HttpError>() {
            return http.kind() != HttpErrorKind::Decode;
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails with `error()` every time.
    #[derive(Debug)]
    struct Failing(fn() -> object_store::Error);

    #[async_trait]
    impl CredentialProvider for Failing {
        type Credential = String;
        async fn get_credential(&self) -> object_store::Result<Arc<String>> {
            Err((self.0)())
        }
    }

    fn message_of(error: fn() -> object_store::Error) -> String {
        let explained = Explained::new(
            Arc::new(Failing(error)),
            "tried A".into(),
            "the server at S".into(),
            "Set B.",
        );
        let err = futures::executor::block_on(explained.get_credential()).unwrap_err();
        crate::error::Error::from_store("s3://b/k", err).full_message()
    }

    #[test]
    fn no_answer_is_unauthenticated_and_says_what_was_tried() {
        let refused = || object_store::Error::Generic {
            store: "S3",
            source: Box::new(HttpError::new(
                HttpErrorKind::Connect,
                std::io::Error::other("connection refused"),
            )),
        };
        assert_eq!(
            message_of(refused),
            "permission denied for s3://b/k: tried A and the server at S, which \
             failed (Generic S3 error: HTTP error: connection refused). Set B."
        );
    }

    #[test]
    fn an_answer_is_the_servers() {
        let answered = || object_store::Error::Generic {
            store: "S3",
            source: "Server returned non-2xx status code: 404 Not Found".into(),
        };
        assert_eq!(
            message_of(answered),
            "permission denied for s3://b/k: no credentials from the server at S: \
             Generic S3 error: Server returned non-2xx status code: 404 Not Found"
        );
    }
}
