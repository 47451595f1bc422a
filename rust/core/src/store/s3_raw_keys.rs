//! S3 keys that object_store cannot name.
//!
//! A key with an empty segment (`wk/dbl//slash.bin`: boto3 and the console
//! write such keys and S3 allows them) is not an object_store `Path`: a
//! listing that meets one fails as a whole, and a `Path` built from it
//! silently drops the empty segment, which names another object. Such keys
//! are listed, read, described and deleted here with plain requests,
//! signed by object_store's own SigV4 signer with the client's credentials
//! and sent on the same HTTP client; no retries (these are rare keys, and a
//! failure is reported naming the URI). Writing one is refused.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::{header, Method, StatusCode};
use object_store::aws::{AmazonS3, AwsAuthorizer, AwsCredentialProvider};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, HttpResponseBody,
};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use crate::buffer::AlignedBuf;
use crate::error::{Error, Result};
use crate::meta::ByteRange;
use crate::options::Options;

/// Whether `key` needs this path: it has an empty segment (a trailing `/`
/// marks a prefix, not a segment).
pub(crate) fn is_raw(key: &str) -> bool {
    let key = key.strip_suffix('/').unwrap_or(key);
    !key.is_empty() && key.split('/').any(str::is_empty)
}

/// Signed plain requests to one bucket.
#[derive(Debug)]
pub(crate) struct RawKeys {
    http: HttpClient,
    /// `http(s)://host[:port]/bucket` (path style) or `https://bucket.host`.
    bucket_url: String,
    region: String,
    /// `None`: requests are not signed (an emulator without credentials).
    credentials: Option<AwsCredentialProvider>,
}

/// One listed or described object.
pub(crate) struct RawMeta {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<SystemTime>,
    pub etag: Option<String>,
}

impl RawKeys {
    pub fn new(
        store: &AmazonS3,
        bucket: &str,
        options: &Options,
        endpoint: Option<&str>,
        signed: bool,
        http: &dyn HttpConnector,
        client_options: &object_store::ClientOptions,
    ) -> object_store::Result<Self> {
        let region = options.get("aws_region").unwrap_or("us-east-1").to_owned();
        let virtual_hosted =
            options.bool("aws_virtual_hosted_style_request").ok() == Some(Some(true));
        let bucket_url = match endpoint {
            Some(endpoint) if virtual_hosted => endpoint.trim_end_matches('/').to_owned(),
            Some(endpoint) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        };
        Ok(Self {
            http: http.connect(client_options)?,
            bucket_url,
            region,
            credentials: signed.then(|| Arc::clone(store.credentials())),
        })
    }

    fn url(&self, key: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}/{}", self.bucket_url, encode(key, false));
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(name, true));
            url.push('=');
            url.push_str(&encode(value, true));
        }
        url
    }

    async fn send(
        &self,
        uri: &str,
        method: Method,
        url: String,
        range: Option<String>,
    ) -> Result<http::Response<HttpResponseBody>> {
        let backend = |e: Box<dyn std::error::Error + Send + Sync>| Error::Backend {
            uri: uri.to_owned(),
            source: e,
        };
        let mut builder = http::Request::builder().method(method).uri(url);
        if let Some(range) = range {
            builder = builder.header(header::RANGE, range);
        }
        let mut request: HttpRequest = builder
            .body(HttpRequestBody::empty())
            .map_err(|e| backend(Box::new(e)))?;
        if let Some(credentials) = &self.credentials {
            let credential = credentials
                .get_credential()
                .await
                .map_err(|e| Error::from_store(uri, e))?;
            AwsAuthorizer::new(&credential, "s3", &self.region)
                .try_authorize(&mut request, None)
                .map_err(|e| Error::from_store(uri, e))?;
        }
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| backend(Box::new(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.into_body().bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
        let source = format!("{status}: {text}").into();
        Err(match status {
            StatusCode::NOT_FOUND => Error::NotFound {
                uri: uri.to_owned(),
                source: Some(source),
            },
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => Error::PermissionDenied {
                uri: uri.to_owned(),
                source,
            },
            _ => backend(source),
        })
    }

    /// `range` of the object `key` in one aligned buffer.
    pub async fn get(&self, uri: &str, key: &str, range: ByteRange) -> Result<Bytes> {
        let header = match range {
            ByteRange::FULL => None,
            ByteRange {
                offset,
                length: None,
            } => Some(format!("bytes={offset}-")),
            ByteRange {
                length: Some(0), ..
            } => return Ok(Bytes::new()),
            ByteRange {
                offset,
                length: Some(length),
            } => Some(format!(
                "bytes={offset}-{}",
                offset.saturating_add(length) - 1
            )),
        };
        let response = self
            .send(uri, Method::GET, self.url(key, &[]), header)
            .await?;
        let body = body(uri, response).await?;
        let mut buf = AlignedBuf::for_object(uri, body.len())?;
        buf.extend_from_slice(&body);
        Ok(buf.freeze())
    }

    /// Size, time and etag of the object `key`.
    pub async fn head(&self, uri: &str, key: &str) -> Result<RawMeta> {
        let response = self
            .send(uri, Method::HEAD, self.url(key, &[]), None)
            .await?;
        let text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(RawMeta {
            key: key.to_owned(),
            size: text(header::CONTENT_LENGTH)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            last_modified: text(header::LAST_MODIFIED).and_then(|v| {
                chrono::DateTime::parse_from_rfc2822(&v)
                    .ok()
                    .map(SystemTime::from)
            }),
            etag: text(header::ETAG),
        })
    }

    /// Remove the object `key`.
    pub async fn delete(&self, uri: &str, key: &str) -> Result<()> {
        self.head(uri, key).await?; // a missing object is NotFound, as everywhere
        self.send(uri, Method::DELETE, self.url(key, &[]), None)
            .await
            .map(drop)
    }

    /// Every object under `prefix` (only direct children unless
    /// `recursive`), keys exactly as stored; folder markers (keys ending
    /// in `/`) left out.
    pub async fn list(&self, uri: &str, prefix: &str, recursive: bool) -> Result<Vec<RawMeta>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![
                ("encoding-type", "url"),
                ("list-type", "2"),
                ("prefix", prefix),
            ];
            if !recursive {
                query.push(("delimiter", "/"));
            }
            if let Some(token) = &token {
                query.push(("continuation-token", token));
            }
            query.sort_unstable();
            let response = self
                .send(uri, Method::GET, self.url("", &query), None)
                .await?;
            let body = body(uri, response).await?;
            let page: ListPage =
                quick_xml::de::from_reader(body.as_ref()).map_err(|e| Error::Backend {
                    uri: uri.to_owned(),
                    source: format!("malformed listing: {e}").into(),
                })?;
            for entry in page.contents {
                let key = decode(&entry.key);
                if key.ends_with('/') {
                    continue;
                }
                out.push(RawMeta {
                    key,
                    size: entry.size,
                    last_modified: chrono::DateTime::parse_from_rfc3339(&entry.last_modified)
                        .ok()
                        .map(SystemTime::from),
                    etag: entry.etag,
                });
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated => token = Some(next),
                _ => return Ok(out),
            }
        }
    }
}

/// The whole body of a response.
async fn body(uri: &str, response: http::Response<HttpResponseBody>) -> Result<Bytes> {
    response
        .into_body()
        .bytes()
        .await
        .map_err(|e| Error::Backend {
            uri: uri.to_owned(),
            source: Box::new(e),
        })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListPage {
    #[serde(default)]
    contents: Vec<ListEntry>,
    #[serde(default)]
    is_truncated: bool,
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry {
    key: String,
    size: u64,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: Option<String>,
}

/// What SigV4 leaves unencoded in a query: the unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// In a path, `/` too.
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// `text` percent-encoded as SigV4 wants, for a path or a query.
fn encode(text: &str, in_query: bool) -> String {
    utf8_percent_encode(text, if in_query { QUERY } else { PATH }).to_string()
}

/// A key from a listing asked for with `encoding-type=url` (a space comes
/// as `+`, a `+` as `%2B`).
fn decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The error for writing a key only this path can name.
pub(crate) fn not_writable(uri: &str) -> Error {
    Error::InvalidUri {
        uri: uri.to_owned(),
        reason: "a key with an empty segment ('//') can be listed, read and deleted, \
                 not written"
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_empty_segments_are_raw() {
        assert!(is_raw("wk/dbl//slash.bin"));
        assert!(is_raw("//a"));
        assert!(!is_raw("wk/a.bin"));
        assert!(!is_raw("wk/"));
        assert!(!is_raw(""));
    }

    #[test]
    fn keys_round_trip_through_the_encodings() {
        assert_eq!(
            encode("wk/dbl//s p+é.bin", false),
            "wk/dbl//s%20p%2B%C3%A9.bin"
        );
        assert_eq!(encode("a/b c", true), "a%2Fb%20c");
        assert_eq!(decode("wk/dbl//s%20p%2B%C3%A9.bin"), "wk/dbl//s p+é.bin");
        assert_eq!(decode("100%"), "100%");
    }
}
