//! Configuration of cloud clients: retries, timeouts, the HTTP client, and
//! how large objects are moved ([`Transfer`]).

use std::time::Duration;

use object_store::{BackoffConfig, Certificate, ClientOptions, RetryConfig};

use crate::error::{Error, Result};
use crate::http;
use crate::options::{self, Options};
use crate::uri::Scheme;

/// Default retries of a failed request.
pub const DEFAULT_MAX_RETRIES: usize = 10;
/// Default overall retry budget.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(180);
/// Default time to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for one request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Retries with exponential backoff and jitter (object_store's), configured
/// by `S3DLIO_MAX_RETRIES` and `S3DLIO_RETRY_TIMEOUT`.
pub(crate) fn retry_config(options: &Options) -> Result<RetryConfig> {
    Ok(RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: options
            .usize(options::MAX_RETRIES)?
            .unwrap_or(DEFAULT_MAX_RETRIES),
        retry_timeout: options
            .duration(options::RETRY_TIMEOUT)?
            .unwrap_or(DEFAULT_RETRY_TIMEOUT),
    })
}

/// Connect and request timeouts (`S3DLIO_CONNECT_TIMEOUT`,
/// `S3DLIO_REQUEST_TIMEOUT`), and the certificates trusted besides the
/// system's (`S3DLIO_CA_BUNDLE`, else `AWS_CA_BUNDLE`).
pub(crate) fn client_options(options: &Options) -> Result<ClientOptions> {
    let (connect, request) = timeouts(options)?;
    let mut client = ClientOptions::new()
        .with_connect_timeout(connect)
        .with_timeout(request);
    for certificate in ca_bundle(options)? {
        client = client.with_root_certificate(certificate);
    }
    Ok(client)
}

/// The certificates of the configured CA bundle, none when unset. A file
/// that cannot be read, or holds no PEM certificate, is refused by name.
fn ca_bundle(options: &Options) -> Result<Vec<Certificate>> {
    let keys = [options::CA_BUNDLE, options::AWS_CA_BUNDLE];
    let Some(path) = options.first_of(&keys).filter(|p| !p.is_empty()) else {
        return Ok(Vec::new());
    };
    let refused = |why: String| {
        let key = match options.get(options::CA_BUNDLE) {
            Some(_) => options::CA_BUNDLE,
            None => options::AWS_CA_BUNDLE,
        };
        Error::InvalidArgument(format!("option {}={path}: {why}", key.to_ascii_uppercase()))
    };
    let pem = std::fs::read(path).map_err(|e| refused(format!("cannot read it: {e}")))?;
    match Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(certificates),
        Ok(_) => Err(refused("no PEM certificate in it".into())),
        Err(e) => Err(refused(format!("not a PEM certificate bundle: {e}"))),
    }
}

/// The HTTP client of every backend: plain-HTTP GET bodies land in their
/// final buffer (see [`http`]), under the same timeouts, and the requests
/// for `bucket` adapt to throttling unless `S3DLIO_ADAPTIVE_CONCURRENCY`
/// is false.
pub(crate) fn http_connector(options: &Options, bucket: &str) -> Result<http::Connector> {
    let (connect, request) = timeouts(options)?;
    let adaptive = options.bool(options::ADAPTIVE_CONCURRENCY)?.unwrap_or(true);
    Ok(http::Connector::new(connect, request)
        .for_bucket(bucket)
        .adaptive(adaptive))
}

/// True for a configured value object_store reads as `true`.
pub(crate) fn config_true(value: Option<String>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "1" | "true" | "on" | "yes" | "y"
        )
    })
}

fn timeouts(options: &Options) -> Result<(Duration, Duration)> {
    Ok((
        options
            .duration(options::CONNECT_TIMEOUT)?
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        options
            .duration(options::REQUEST_TIMEOUT)?
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    ))
}

/// Default size from which uploads go in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Default upload part size.
pub const DEFAULT_MULTIPART_PART_SIZE: u64 = 16 << 20;
/// Default size of each ranged request of a large download.
pub const DEFAULT_RANGE_PART_SIZE: u64 = 8 << 20;
/// Parts of one object in flight at once (uploads and downloads).
pub(crate) const PARTS_IN_FLIGHT: usize = 8;

/// How large objects are moved: set per client from the options.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub(crate) multipart_threshold: u64,
    pub(crate) multipart_part_size: usize,
    pub(crate) range_part_size: u64,
}

/// The smallest part S3 (and GCS's XML API, which object_store uses for
/// multipart uploads) accept in a multipart upload, the last part excepted.
pub const MIN_MULTIPART_PART_SIZE: u64 = 5 << 20;

impl Transfer {
    /// The settings for a client of `scheme`. A part size the store would
    /// refuse (S3's `EntityTooSmall`, found only when the upload completes)
    /// is refused here, before any request.
    pub fn from_options(options: &Options, scheme: Scheme) -> Result<Self> {
        let positive = |key: &str, default: u64| -> Result<u64> {
            match options.bytes(key)? {
                Some(0) => Err(Error::InvalidArgument(format!(
                    "option {} must be at least 1 byte",
                    key.to_ascii_uppercase()
                ))),
                Some(n) => Ok(n),
                None => Ok(default),
            }
        };
        let part_size = positive(options::MULTIPART_PART_SIZE, DEFAULT_MULTIPART_PART_SIZE)?;
        if matches!(scheme, Scheme::S3 | Scheme::Gcs) && part_size < MIN_MULTIPART_PART_SIZE {
            return Err(Error::InvalidArgument(format!(
                "option {}={part_size}: {}:// stores refuse multipart parts under \
                 {MIN_MULTIPART_PART_SIZE} bytes (5 MiB)",
                options::MULTIPART_PART_SIZE.to_ascii_uppercase(),
                scheme.as_str(),
            )));
        }
        Ok(Self {
            multipart_threshold: positive(
                options::MULTIPART_THRESHOLD,
                DEFAULT_MULTIPART_THRESHOLD,
            )?,
            multipart_part_size: usize::try_from(part_size).unwrap_or(usize::MAX),
            range_part_size: positive(options::RANGE_PART_SIZE, DEFAULT_RANGE_PART_SIZE)?,
        })
    }
}
