//! `az://container/blob`: Azure Blob Storage, configured from the standard
//! `AZURE_STORAGE_*` variables. The Azurite emulator is used when
//! `AZURE_STORAGE_USE_EMULATOR=true` or `AZURITE_BLOB_STORAGE_URL` is set
//! (the URL is read from the environment, as Azure's own tools do).

use std::sync::Arc;

use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::ObjectStore;

use super::object::config::{client_options, config_true, http_connector, retry_config};
use crate::error::{Error, Result};
use crate::options::Options;

const EMULATOR_URL: &str = "azurite_blob_storage_url";

/// A client for `container`.
pub(super) fn build(uri: &str, container: &str, options: &Options) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = MicrosoftAzureBuilder::new()
        .with_retry(retry_config(options)?)
        .with_client_options(client_options(options)?)
        .with_http_connector(http_connector(options, container)?);
    for (key, value) in options.iter() {
        if !key.starts_with("azure_") || key == "azure_container_name" {
            continue;
        }
        if let Ok(config_key) = key.parse::<AzureConfigKey>() {
            builder = builder.with_config(config_key, value);
        }
    }
    if let Some(url) = options.get(EMULATOR_URL) {
        // object_store takes the emulator URL from the process environment
        // only; refuse a per-call value it would silently ignore.
        if crate::env::var("AZURITE_BLOB_STORAGE_URL").as_deref() != Some(url) {
            return Err(Error::InvalidArgument(format!(
                "{uri}: AZURITE_BLOB_STORAGE_URL must be set in the environment \
                 (a per-call option cannot change it)"
            )));
        }
        builder = builder.with_use_emulator(true);
    }
    if builder
        .get_config_value(&AzureConfigKey::AccountName)
        .is_none()
        && !config_true(builder.get_config_value(&AzureConfigKey::UseEmulator))
    {
        return Err(Error::InvalidArgument(format!(
            "{uri}: no Azure storage account: set AZURE_STORAGE_ACCOUNT_NAME (or the option \
             azure_storage_account_name), or AZURE_STORAGE_USE_EMULATOR=true or \
             AZURITE_BLOB_STORAGE_URL for the Azurite emulator"
        )));
    }
    builder
        .with_container_name(container)
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| Error::Backend {
            uri: uri.to_owned(),
            source: Box::new(e),
        })
}
