//! A GCS client without credentials (no `GOOGLE_*` key, no gcloud
//! application-default file, no emulator) gets its token from the GCE
//! metadata server, which object_store retries for ~11 s where there is
//! none. So such a client connects to it once first (0.5 s at most per
//! address, as `GCE_METADATA_HOST` / `GCE_METADATA_IP` name it) and, when
//! nothing answers, fails at once with `PermissionDenied` naming the URI,
//! the sources tried and what to set. Where one answers, its token
//! requests are explained as [`Explained`] says.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use object_store::gcp::GoogleCloudStorageBuilder;

use super::metadata_credentials::Explained;
use crate::error::{Error, Result};

/// Where object_store asks for a token when nothing else gives one.
const METADATA_HOST: &str = "metadata.google.internal";
const METADATA_IP: &str = "169.254.169.254";
/// How long one connection to the metadata server may take to open.
const METADATA_PROBE: Duration = Duration::from_millis(500);
/// gcloud's application-default credentials, under `$HOME`.
pub(super) const APPLICATION_DEFAULT_FILE: &str =
    ".config/gcloud/application_default_credentials.json";

const TRIED: &str = "no Google Cloud credentials: tried GOOGLE_SERVICE_ACCOUNT, \
                     GOOGLE_SERVICE_ACCOUNT_KEY, GOOGLE_APPLICATION_CREDENTIALS and \
                     GOOGLE_BEARER_TOKEN (not set), ~/.config/gcloud/\
                     application_default_credentials.json (absent)";
const FIX: &str = "Set GOOGLE_APPLICATION_CREDENTIALS to a service account key file (or \
                   run `gcloud auth application-default login`), or STORAGE_EMULATOR_HOST \
                   for an emulator";

/// True when gcloud's application-default credentials file exists (what
/// object_store reads when no credentials are given).
pub(super) fn has_application_default_file() -> bool {
    crate::env::var("HOME").is_some_and(|home| {
        std::path::Path::new(&home)
            .join(APPLICATION_DEFAULT_FILE)
            .exists()
    })
}

/// `builder`, whose token comes from the metadata server, with that source
/// explained; or the `PermissionDenied` error when no server answers.
pub(super) fn from_metadata_server(
    uri: &str,
    builder: GoogleCloudStorageBuilder,
) -> Result<GoogleCloudStorageBuilder> {
    let env = |key: &str| crate::env::var(key).filter(|v| !v.is_empty());
    let host = env("GCE_METADATA_HOST")
        .or_else(|| env("GCE_METADATA_ROOT"))
        .unwrap_or_else(|| METADATA_HOST.to_owned());
    let ip = env("GCE_METADATA_IP").unwrap_or_else(|| METADATA_IP.to_owned());
    let addresses = match host == ip {
        true => host.clone(),
        false => format!("{host} or {ip}"),
    };
    let server = format!("the metadata server at {addresses}");
    if ![&host, &ip].iter().any(|at| answers(at)) {
        return Err(Error::PermissionDenied {
            uri: uri.to_owned(),
            source: format!("{TRIED} and {server}, where nothing answers. {FIX}").into(),
        });
    }
    // The client object_store would build: its metadata source, wrapped.
    // (If it cannot be built, the caller's build says why.)
    let Ok(plain) = builder.clone().build() else {
        return Ok(builder);
    };
    Ok(builder.with_credentials(Explained::new(
        plain.credentials().clone(),
        TRIED.to_owned(),
        server,
        FIX,
    )))
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
