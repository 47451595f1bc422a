//! Parsing of the five URI schemes. Paths and keys are taken literally
//! (no percent-decoding), so the key of `s3://b/a b.bin` is `a b.bin`.

use crate::error::{Error, Result};

/// The storage scheme of a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheme {
    /// `file://` local filesystem, buffered.
    File,
    /// `direct://` local filesystem with O_DIRECT.
    Direct,
    /// `s3://` S3 and S3-compatible stores.
    S3,
    /// `az://` Azure Blob.
    Azure,
    /// `gs://` Google Cloud Storage.
    Gcs,
}

impl Scheme {
    /// The scheme as written in a URI, without `://`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::File => "file",
            Scheme::Direct => "direct",
            Scheme::S3 => "s3",
            Scheme::Azure => "az",
            Scheme::Gcs => "gs",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "file" => Scheme::File,
            "direct" => Scheme::Direct,
            "s3" => Scheme::S3,
            "az" => Scheme::Azure,
            "gs" => Scheme::Gcs,
            _ => return None,
        })
    }

    /// True for the local-filesystem schemes.
    pub fn is_local(self) -> bool {
        matches!(self, Scheme::File | Scheme::Direct)
    }
}

/// A parsed URI: scheme, bucket (empty for local schemes) and key.
///
/// For local schemes the key is the absolute path (`/data/x.bin`); for
/// cloud schemes it is the object key without a leading slash (may be
/// empty when the URI names a whole bucket, e.g. as a listing prefix).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectUri {
    /// Which backend.
    pub scheme: Scheme,
    /// The bucket or container; empty for local schemes.
    pub bucket: String,
    /// The path (local) or object key (cloud).
    pub key: String,
}

impl ObjectUri {
    /// Parse `uri`; an unknown scheme or a malformed URI is `Error::InvalidUri`.
    pub fn parse(uri: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidUri {
            uri: uri.to_owned(),
            reason: reason.to_owned(),
        };
        if uri.is_empty() {
            return Err(invalid("empty URI"));
        }
        if uri.contains('\0') {
            return Err(invalid("URI contains a NUL byte"));
        }
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| invalid("expected SCHEME://... (file, direct, s3, az, gs)"))?;
        let scheme = Scheme::parse(&scheme.to_ascii_lowercase()).ok_or_else(|| {
            invalid("unknown scheme (expected file://, direct://, s3://, az://, gs://)")
        })?;
        if scheme.is_local() {
            if !rest.starts_with('/') {
                return Err(invalid(
                    "local paths must be absolute: file:///abs/path (three slashes)",
                ));
            }
            return Ok(ObjectUri {
                scheme,
                bucket: String::new(),
                key: rest.to_owned(),
            });
        }
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("missing bucket/container name"));
        }
        if !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid("bucket/container name has invalid characters"));
        }
        Ok(ObjectUri {
            scheme,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }

    /// The canonical string form of this URI.
    pub fn to_uri_string(&self) -> String {
        if self.scheme.is_local() {
            format!("{}://{}", self.scheme.as_str(), self.key)
        } else {
            format!("{}://{}/{}", self.scheme.as_str(), self.bucket, self.key)
        }
    }

    /// The URI of `key` in the same scheme and bucket as `self`.
    pub fn sibling(&self, key: &str) -> String {
        ObjectUri {
            scheme: self.scheme,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        }
        .to_uri_string()
    }

    /// Error unless the URI names an object (not a bare bucket or directory-like path).
    pub fn require_object(&self, uri: &str) -> Result<()> {
        if self.key.is_empty() || self.key.ends_with('/') {
            return Err(Error::InvalidUri {
                uri: uri.to_owned(),
                reason: "names a bucket or prefix, not an object".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        let u = ObjectUri::parse("file:///data/x.bin").unwrap();
        assert_eq!(
            (u.scheme, u.bucket.as_str(), u.key.as_str()),
            (Scheme::File, "", "/data/x.bin")
        );
        let u = ObjectUri::parse("direct:///nvme/a").unwrap();
        assert_eq!(u.scheme, Scheme::Direct);
        let u = ObjectUri::parse("s3://bucket/a/b c.bin").unwrap();
        assert_eq!(
            (u.scheme, u.bucket.as_str(), u.key.as_str()),
            (Scheme::S3, "bucket", "a/b c.bin")
        );
        assert_eq!(
            ObjectUri::parse("az://c/blob").unwrap().scheme,
            Scheme::Azure
        );
        assert_eq!(ObjectUri::parse("gs://b/o").unwrap().scheme, Scheme::Gcs);
        assert_eq!(ObjectUri::parse("s3://bucket").unwrap().key, "");
    }

    #[test]
    fn round_trips_to_string() {
        for s in ["file:///a/b", "s3://b/k/x", "gs://b/o", "az://c/d"] {
            assert_eq!(ObjectUri::parse(s).unwrap().to_uri_string(), s);
        }
    }

    #[test]
    fn rejects_malformed_uris_naming_them() {
        for bad in [
            "",
            "nota-uri",
            "ftp://x/y",
            "s3://",
            "s3:///key",
            "file://relative/path",
            "s3://bu cket/k",
            "s3://b/k\0",
        ] {
            let err = ObjectUri::parse(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidUri { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn require_object_refuses_prefixes() {
        assert!(ObjectUri::parse("s3://b")
            .unwrap()
            .require_object("s3://b")
            .is_err());
        assert!(ObjectUri::parse("s3://b/p/")
            .unwrap()
            .require_object("s3://b/p/")
            .is_err());
        assert!(ObjectUri::parse("s3://b/p")
            .unwrap()
            .require_object("s3://b/p")
            .is_ok());
    }
}
