//! `gs://bucket/object`: Google Cloud Storage, configured from the standard
//! `GOOGLE_*` variables. `STORAGE_EMULATOR_HOST` (as Google's own clients
//! use it) points every request at an emulator such as fake-gcs-server;
//! then, unless credentials are given, requests carry a dummy bearer token,
//! so no metadata server is ever asked for one.
//!
//! Without an emulator and without credentials (no `GOOGLE_*` key, no
//! gcloud application-default file) the token would come from the GCE
//! metadata server, which object_store retries for ~11 s where there is
//! none. So that case connects to it once first (0.5 s at most per
//! address, as `GCE_METADATA_HOST` / `GCE_METADATA_IP` name it) and, when
//! nothing answers, fails at once with `PermissionDenied` naming the URI.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use object_store::gcp::{GcpCredential, GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientConfigKey, ObjectStore, StaticCredentialProvider};

use super::object::{client_options, http_connector, retry_config};
use crate::error::{Error, Result};
use crate::options::Options;

const EMULATOR_HOST: &str = "storage_emulator_host";
const CREDENTIAL_KEYS: &[&str] = &[
    "google_service_account",
    "google_service_account_path",
    "google_service_account_key",
    "google_application_credentials",
    "google_bearer_token",
];
/// Where object_store asks for a token when nothing else gives one.
const METADATA_HOST: &str = "metadata.google.internal";
const METADATA_IP: &str = "169.254.169.254";
/// How long one connection to the metadata server may take to open.
const METADATA_PROBE: Duration = Duration::from_millis(500);

/// A client for `bucket`.
pub(super) fn build(uri: &str, bucket: &str, options: &Options) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = GoogleCloudStorageBuilder::new()
        .with_retry(retry_config(options)?)
        .with_client_options(client_options(options)?)
        .with_http_connector(http_connector(options)?);
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
        check_metadata_server(uri)?;
    }
    builder
        .with_bucket_name(bucket)
        .build()
        .map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        .map_err(|e| Error::Backend {
            uri: uri.to_owned(),
            source: Box::new(e),
        })
}

/// True when gcloud's application-default credentials file exists (what
/// object_store reads when no credentials are given).
fn has_application_default_file() -> bool {
    crate::env::var("HOME").is_some_and(|home| {
        std::path::Path::new(&home)
            .join(".config/gcloud/application_default_credentials.json")
            .exists()
    })
}

/// `Ok` when the metadata server that would give the token accepts a
/// connection; else the `PermissionDenied` error that says what to set.
fn check_metadata_server(uri: &str) -> Result<()> {
    let env = |key: &str| crate::env::var(key).filter(|v| !v.is_empty());
    let host = env("GCE_METADATA_HOST")
        .or_else(|| env("GCE_METADATA_ROOT"))
        .unwrap_or_else(|| METADATA_HOST.to_owned());
    let ip = env("GCE_METADATA_IP").unwrap_or_else(|| METADATA_IP.to_owned());
    if [&host, &ip].iter().any(|at| answers(at)) {
        return Ok(());
    }
    Err(Error::PermissionDenied {
        uri: uri.to_owned(),
        source: format!(
            "no Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS (or \
             GOOGLE_SERVICE_ACCOUNT / GOOGLE_SERVICE_ACCOUNT_KEY), or \
             STORAGE_EMULATOR_HOST for an emulator; no metadata server answers at \
             {host} or {ip}"
        )
        .into(),
    })
}

/// True when `at` (`host` or `host:port`, port 80 by default) accepts a
/// TCP connection within [`METADATA_PROBE`].
fn answers(at: &str) -> bool {
    let at = at.trim_start_matches("http://").trim_end_matches('/');
    let with_port = if at
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        at.to_owned()
    } else {
        format!("{at}:80")
    };
    let Ok(addrs) = with_port.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|addr| TcpStream::connect_timeout(&addr, METADATA_PROBE).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_metadata_port_does_not_answer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert!(answers(&open));
        assert!(answers(&format!("http://{open}/")));
        drop(listener);
        assert!(!answers(&open));
    }
}
