//! `s3://`: AWS S3 and S3-compatible stores, configured from the standard
//! `AWS_*` variables (and per-call options with the same keys). Several
//! endpoints of one store (`AWS_ENDPOINT_URLS`, option `endpoint_urls`)
//! make one client per endpoint behind [`Endpoints`].

use std::sync::Arc;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::ObjectStore;

use super::aws_profile;
use super::endpoints::{Endpoints, Policy};
use super::object::config::{client_options, http_connector, retry_config};
use super::s3_credentials;
use super::s3_raw_keys::RawKeys;
use crate::error::{Error, Result};
use crate::options::{self, Options};

const ENDPOINT_KEYS: &[&str] = &["aws_endpoint_url_s3", "aws_endpoint_url", "aws_endpoint"];

/// Options that give a client credentials (the first key of each source).
const CREDENTIAL_SOURCES: &[&str] = &[
    "aws_access_key_id",
    "aws_web_identity_token_file",
    "aws_container_credentials_relative_uri",
    "aws_container_credentials_full_uri",
];

/// A client for `bucket`, and the one for keys object_store cannot name.
pub(super) fn build(
    uri: &str,
    bucket: &str,
    options: &Options,
) -> Result<(Arc<dyn ObjectStore>, RawKeys)> {
    let options = &aws_profile::with_profile(uri, options)?;
    let urls = endpoint_urls(options);
    if urls.len() < 2 {
        let endpoint = urls.first().copied().or(options.first_of(ENDPOINT_KEYS));
        let (store, raw) = build_one(uri, bucket, options, endpoint, false)?;
        return Ok((Arc::new(store), raw));
    }
    let policy = policy(options)?;
    let retry = retry_config(options)?;
    let mut stores = Vec::new();
    let mut raw_keys = None;
    for url in &urls {
        let (store, raw) = build_one(uri, bucket, options, Some(url), true)?;
        // Keys object_store cannot name (rare) stay on the first endpoint.
        raw_keys.get_or_insert(raw);
        stores.push((url.to_string(), Arc::new(store) as Arc<dyn ObjectStore>));
    }
    let set = Endpoints::new(stores, policy, retry.max_retries, retry.retry_timeout);
    let raw = raw_keys.expect("two endpoints or more");
    Ok((Arc::new(set), raw))
}

/// The endpoints of `AWS_ENDPOINT_URLS` (or the option `endpoint_urls`),
/// comma-separated, in order.
fn endpoint_urls(options: &Options) -> Vec<&str> {
    options
        .first_of(&[options::ENDPOINT_URLS_OPTION, options::ENDPOINT_URLS])
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// `S3DLIO_ENDPOINT_POLICY`: `least_outstanding` (the default) or `round_robin`.
fn policy(options: &Options) -> Result<Policy> {
    match options.get(options::ENDPOINT_POLICY).map(str::trim) {
        None | Some("") | Some("least_outstanding") => Ok(Policy::LeastOutstanding),
        Some("round_robin") => Ok(Policy::RoundRobin),
        Some(other) => Err(Error::InvalidArgument(format!(
            "option {}={other}: expected least_outstanding or round_robin",
            options::ENDPOINT_POLICY.to_ascii_uppercase()
        ))),
    }
}

/// The client of one endpoint (`None`: AWS's own for the region); with
/// `fail_fast`, a refused connect is answered at once, for [`Endpoints`]
/// to send the request elsewhere.
fn build_one(
    uri: &str,
    bucket: &str,
    options: &Options,
    endpoint: Option<&str>,
    fail_fast: bool,
) -> Result<(AmazonS3, RawKeys)> {
    let connector =
        || -> Result<_> { Ok(http_connector(options, bucket)?.failing_fast(fail_fast)) };
    // Client options first: they carry allow_http, set below.
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_retry(retry_config(options)?)
        .with_client_options(client_options(options)?)
        .with_http_connector(connector()?);
    for (key, value) in options.iter() {
        if !key.starts_with("aws_") || key == "aws_bucket" || key == "aws_bucket_name" {
            continue;
        }
        if let Ok(config_key) = key.parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(config_key, value);
        }
    }
    let mut signed = true;
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
        // An explicit plain-http endpoint (a local emulator) allows http.
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        // With an explicit endpoint and no credentials, sign nothing rather
        // than probing a cloud metadata server for credentials.
        if !CREDENTIAL_SOURCES.iter().any(|k| options.get(k).is_some()) {
            builder = builder.with_skip_signature(true);
            signed = false;
        }
    }
    let failed = |e| Error::Backend {
        uri: uri.to_owned(),
        source: Box::new(e),
    };
    let store = s3_credentials::checked(uri, builder, options)?
        .build()
        .map_err(failed)?;
    let raw = RawKeys::new(
        &store,
        bucket,
        options,
        endpoint,
        signed,
        &connector()?,
        &client_options(options)?
            .with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://"))),
    )
    .map_err(failed)?;
    Ok((store, raw))
}
