//! `gs://bucket/object`: Google Cloud Storage, configured from the standard
//! `GOOGLE_*` variables. `STORAGE_EMULATOR_HOST` (as Google's own clients
//! use it) points every request at an emulator such as fake-gcs-server;
//! then, unless credentials are given, requests carry a dummy bearer token,
//! so no metadata server is ever asked for one.
//!
//! Without an emulator and without credentials: [`super::gcs_credentials`].

use std::sync::Arc;

use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientConfigKey, ObjectStore, StaticCredentialProvider};

use super::gcs_credentials::{self, has_application_default_file};
use super::object::config::{client_options, http_connector, retry_config};
use crate::error::{chain_text, Error, Result};
use crate::options::Options;

const EMULATOR_HOST: &str = "storage_emulator_host";
const CREDENTIAL_KEYS: &[&str] = &[
    "google_service_account",
    "google_service_account_path",
    "google_service_account_key",
    "google_application_credentials",
    "google_bearer_token",
];

/// A client for `bucket`.
pub(super) fn build(uri: &str, bucket: &str, options: &Options) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_bucket_name(bucket)
        .with_retry(retry_config(options)?)
        .with_client_options(client_options(options)?)
        .with_http_connector(http_connector(options, bucket)?);
    for (key, value) in options.iter() {
        if !key.starts_with("google_") || key == "google_bucket" || key == "google_bucket_name" {
            continue;
        }
        if let Ok(config_key) = key.parse::<GoogleConfigKey>() {
            builder = builder.with_config(config_key, value);
        }
    }
    if let Some(host) = options.get(EMULATOR_HOST) {
        let base = if host.contains("://") {
            host.trim_end_matches('/').to_owned()
        } else {
            format!("http://{}", host.trim_end_matches('/'))
        };
        if base.starts_with("http://") {
            builder =
                builder.with_config(GoogleConfigKey::Client(ClientConfigKey::AllowHttp), "true");
        }
        builder = builder.with_base_url(&base);
        if options.first_of(CREDENTIAL_KEYS).is_none() {
            builder =
                builder.with_credentials(Arc::new(StaticCredentialProvider::new(GcpCredential {
                    bearer: "emulator".to_owned(),
                })));
        }
    }
    if options.get(EMULATOR_HOST).is_none()
        && options.first_of(CREDENTIAL_KEYS).is_none()
        && !has_application_default_file()
    {
        builder = gcs_credentials::from_metadata_server(uri, builder)?;
    }
    builder
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| match credentials_from(options) {
            // A key file that is missing or malformed, two of them, ...
            Some(from) => Error::PermissionDenied {
                uri: uri.to_owned(),
                source: format!(
                    "the credentials of {from} cannot be used: {}",
                    chain_text(&e)
                )
                .into(),
            },
            None => Error::Backend {
                uri: uri.to_owned(),
                source: Box::new(e),
            },
        })
}

/// Where the credentials object_store reads come from, if anywhere.
fn credentials_from(options: &Options) -> Option<String> {
    if let Some(key) = CREDENTIAL_KEYS.iter().find(|k| options.get(k).is_some()) {
        return Some(key.to_ascii_uppercase());
    }
    has_application_default_file()
        .then(|| format!("~/{}", gcs_credentials::APPLICATION_DEFAULT_FILE))
}
