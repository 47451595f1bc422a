//! The one error type of the core. Every variant that concerns an object
//! names its URI, so a message is useful on its own, and the text shown to
//! a user ([`Error::full_message`]) never carries a URL's user and password.

/// A boxed error from a lower layer (object_store, std::io, ...).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in s3dlio-core.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URI could not be parsed or names no object.
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as the caller wrote it.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The scheme parses but its backend is not available in this build.
    #[error("{uri}: the {scheme}:// backend is not supported yet")]
    Unsupported {
        /// The URI as the caller wrote it.
        uri: String,
        /// Its scheme, without `://`.
        scheme: &'static str,
    },

    /// The object (or its bucket/container) does not exist.
    #[error("object not found: {uri}")]
    NotFound {
        /// The URI as the caller wrote it.
        uri: String,
        /// The backend's error, when it gave one.
        #[source]
        source: Option<BoxError>,
    },

    /// Credentials are missing, wrong or not allowed to do this.
    #[error("permission denied for {uri}: {source}")]
    PermissionDenied {
        /// The URI as the caller wrote it.
        uri: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// A byte range that does not fit the object.
    #[error("invalid range for {uri}: {reason}")]
    InvalidRange {
        /// The URI as the caller wrote it.
        uri: String,
        /// Why the range does not fit.
        reason: String,
    },

    /// A bad argument or configuration value.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The process cannot hold the buffer an object needs (more than the
    /// memory available, or an allocation the system refused), or a pool
    /// could not provide it (e.g. pinned-memory registration failed).
    #[error("buffer memory for {uri}: {reason}")]
    Memory {
        /// The object the buffer was for (or the first of a batch's).
        uri: String,
        /// Why the memory could not be had: sizes and what is available.
        reason: String,
    },

    /// An object is not the size it was expected to be: the size given for
    /// it (e.g. `get_batch(sizes=...)`), or the one listed before it changed.
    #[error("size mismatch for {uri}: expected {expected} bytes ({why}) but the object is {actual} bytes")]
    SizeMismatch {
        /// The URI as the caller wrote it.
        uri: String,
        /// The size expected, in bytes.
        expected: u64,
        /// The object's size, in bytes.
        actual: u64,
        /// Where the expected size came from.
        why: &'static str,
    },

    /// The backend returned fewer or more bytes than it announced.
    #[error("{uri}: expected {expected} bytes but received {actual} (truncated transfer)")]
    Truncated {
        /// The URI as the caller wrote it.
        uri: String,
        /// The bytes announced (or the size of the memory to fill).
        expected: u64,
        /// The bytes received.
        actual: u64,
    },

    /// The filesystem refuses O_DIRECT for a `direct://` URI.
    #[error(
        "O_DIRECT is not supported for {uri} ({source}); use file:// or set \
         S3DLIO_DIRECT_FALLBACK=true to fall back to buffered I/O"
    )]
    DirectIoUnsupported {
        /// The URI as the caller wrote it.
        uri: String,
        /// The filesystem's refusal.
        #[source]
        source: std::io::Error,
    },

    /// Stored data does not match its recorded checksum.
    #[error("checksum mismatch for {uri}: expected crc32c {expected:08x}, found {actual:08x}")]
    Checksum {
        /// The URI as the caller wrote it.
        uri: String,
        /// The recorded crc32c.
        expected: u32,
        /// The crc32c of the data read.
        actual: u32,
    },

    /// A checkpoint's metadata is missing or malformed.
    #[error("invalid checkpoint at {uri}: {reason}")]
    Checkpoint {
        /// The checkpoint's URI.
        uri: String,
        /// What is missing or malformed.
        reason: String,
    },

    /// An object's bytes are not in the format it is read as (a tar shard
    /// with a bad header, cut short, ...): names the object and the byte
    /// offset where the bad part starts.
    #[error("{uri} is not a valid {format} at byte {offset}: {reason}")]
    Format {
        /// The URI as the caller wrote it.
        uri: String,
        /// The format it was read as (`"tar"`).
        format: &'static str,
        /// Where in the object the bad part starts (a tar header's offset).
        offset: u64,
        /// What is wrong there.
        reason: String,
    },

    /// A local I/O error.
    #[error("I/O error for {uri}: {source}")]
    Io {
        /// The URI as the caller wrote it.
        uri: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Any other error reported by a storage backend.
    #[error("storage error for {uri}: {source}")]
    Backend {
        /// The URI as the caller wrote it.
        uri: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Classify an `object_store` error for `uri`.
    pub(crate) fn from_store(uri: &str, err: object_store::Error) -> Self {
        use object_store::Error as E;
        let uri = uri.to_owned();
        match err {
            E::NotFound { source, .. } => Error::NotFound {
                uri,
                source: Some(source),
            },
            E::PermissionDenied { source, .. } | E::Unauthenticated { source, .. } => {
                Error::PermissionDenied { uri, source }
            }
            E::InvalidPath { source } => Error::InvalidUri {
                uri,
                reason: source.to_string(),
            },
            // A listing (or an upload) in a bucket that does not exist
            // answers 404 (NoSuchBucket, ContainerNotFound), which
            // object_store maps to NotFound only for requests of one object.
            other if answered_404(&other) => Error::NotFound {
                uri,
                source: Some(Box::new(other)),
            },
            other => Error::Backend {
                uri,
                source: Box::new(other),
            },
        }
    }

    /// Classify a local `std::io::Error` for `uri`.
    pub fn from_io(uri: &str, err: std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        let uri = uri.to_owned();
        match err.kind() {
            K::NotFound | K::NotADirectory => Error::NotFound {
                uri,
                source: Some(Box::new(err)),
            },
            K::PermissionDenied => Error::PermissionDenied {
                uri,
                source: Box::new(err),
            },
            _ => Error::Io { uri, source: err },
        }
    }

    /// The message followed by its causes (`a: b: c`) on one line,
    /// leaving out a cause the message already contains, with the user and
    /// password of any URL in it replaced (`http://<redacted>@host`): what
    /// a user is shown.
    pub fn full_message(&self) -> String {
        crate::redact::redact_userinfo(&chain_text(self).replace('\n', " "))
    }

    /// This error with every occurrence of `secrets` in the text of its
    /// causes replaced by a placeholder (servers echo access key ids, and
    /// URLs can carry SAS tokens). The kind and URI are kept.
    pub(crate) fn redact(self, secrets: &[String]) -> Self {
        let scrub = |source: BoxError| -> BoxError {
            let text = chain_text(source.as_ref());
            let redacted = secrets.iter().fold(text.clone(), |t, s| {
                t.replace(s.as_str(), crate::redact::REDACTED)
            });
            let redacted = crate::redact::redact_userinfo(&redacted);
            match redacted == text {
                true => source, // nothing to hide: the original error stays
                false => redacted.into(),
            }
        };
        match self {
            Error::NotFound {
                uri,
                source: Some(source),
            } => Error::NotFound {
                uri,
                source: Some(scrub(source)),
            },
            Error::PermissionDenied { uri, source } => Error::PermissionDenied {
                uri,
                source: scrub(source),
            },
            Error::Backend { uri, source } => Error::Backend {
                uri,
                source: scrub(source),
            },
            other => other,
        }
    }

    /// True when the error means "there is no such object".
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

/// True when an HTTP request in `err`'s causes was answered 404. The status
/// is only visible in the text: object_store's request error type is private.
fn answered_404(err: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if e.to_string().contains("status code: 404") {
            return true;
        }
        cause = e.source();
    }
    false
}

/// An error's message followed by its causes (`a: b: c`), without repeats.
pub(crate) fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_secrets_in_causes_and_keeps_the_kind() {
        let err = Error::PermissionDenied {
            uri: "s3://b/k".into(),
            source: "403: <AWSAccessKeyId>AKIDSECRET</AWSAccessKeyId>".into(),
        };
        let err = err.redact(&["AKIDSECRET".to_owned()]);
        let text = err.full_message();
        assert!(matches!(err, Error::PermissionDenied { .. }), "{text}");
        assert!(
            !text.contains("AKIDSECRET") && text.contains("s3://b/k"),
            "{text}"
        );
    }
}
