//! `s3://`: AWS S3 and S3-compatible stores, configured from the standard
//! `AWS_*` variables (and per-call options with the same keys).

use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::ObjectStore;

use super::object::config::{client_options, http_connector, retry_config};
use super::s3_credentials;
use super::s3_raw_keys::RawKeys;
use crate::error::{Error, Result};
use crate::options::Options;

const ENDPOINT_KEYS: &[&str] = &["aws_endpoint_url_s3", "aws_endpoint_url", "aws_endpoint"];

/// A client for `bucket`, and the one for keys object_store cannot name.
pub(super) fn build(
    uri: &str,
    bucket: &str,
    options: &Options,
) -> Result<(Arc<dyn ObjectStore>, RawKeys)> {
    // Client options first: they carry allow_http, set below.
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_retry(retry_config(options)?)
        .with_client_options(client_options(options)?)
        .with_http_connector(http_connector(options)?);
    for (key, value) in options.iter() {
        if !key.starts_with("aws_") || key == "aws_bucket" || key == "aws_bucket_name" {
            continue;
        }
        if let Ok(config_key) = key.parse::<AmazonS3ConfigKey>() {
            builder = builder.with_config(config_key, value);
        }
    }
    let endpoint = options.first_of(ENDPOINT_KEYS);
    let mut signed = true;
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
        // An explicit plain-http endpoint (a local emulator) allows http.
        if endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        // With an explicit endpoint and no credentials, sign nothing rather
        // than probing a cloud metadata server for credentials.
        if options.get("aws_access_key_id").is_none()
            && options.get("aws_web_identity_token_file").is_none()
        {
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
    let (connector, client_options) = (http_connector(options)?, client_options(options)?);
    let raw = RawKeys::new(
        &store,
        bucket,
        options,
        endpoint,
        signed,
        &connector,
        &client_options.with_allow_http(endpoint.is_some_and(|e| e.starts_with("http://"))),
    )
    .map_err(failed)?;
    Ok((Arc::new(store), raw))
}
