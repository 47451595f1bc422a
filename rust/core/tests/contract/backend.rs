//! The five backends the contract runs on, and what each one is known to
//! do differently, written down as data rather than as weaker checks.
//!
//! `file://` and `direct://` live in a fresh temporary directory per check.
//! The emulators (moto, Azurite, fake-gcs-server) are started, and their
//! bucket/container created, by `tests/test_rust_contract.py`, which names
//! them in `CONTRACT_S3_BUCKET`, `CONTRACT_AZ_CONTAINER` and
//! `CONTRACT_GS_BUCKET` and points the standard endpoint variables at
//! 127.0.0.1. Each check then works under a prefix of its own.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use s3dlio_core::runtime::block_on;
use s3dlio_core::{ByteRange, ObjectMeta, Options, Result};

use super::gcs_seed;

/// The storage kinds, as the contract sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    File,
    Direct,
    S3,
    Azure,
    Gcs,
}

/// See [`Backend::missing_container_listing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingContainerListing {
    /// An empty listing.
    Empty,
    /// `Error::NotFound` naming the prefix.
    NotFound,
    /// `Error::Backend` naming the prefix (the server failed the request).
    ServerError,
}

/// One backend, set up for one check: a fresh prefix and the options every
/// call of the check uses.
pub struct Backend {
    pub kind: Kind,
    /// A fresh prefix, no trailing slash: `file:///tmp/x`, `s3://b/run/check`.
    prefix: String,
    pub options: Options,
    /// The scheme's bucket/container part (`s3://b`), empty for local ones.
    root: String,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn file(_check: &str) -> Self {
        Self::local(Kind::File, "file")
    }

    pub fn direct(_check: &str) -> Self {
        Self::local(Kind::Direct, "direct")
    }

    pub fn s3(check: &str) -> Self {
        Self::emulated(
            Kind::S3,
            check,
            "s3",
            "CONTRACT_S3_BUCKET",
            "AWS_ENDPOINT_URL",
        )
    }

    pub fn azure(check: &str) -> Self {
        Self::emulated(
            Kind::Azure,
            check,
            "az",
            "CONTRACT_AZ_CONTAINER",
            "AZURITE_BLOB_STORAGE_URL",
        )
    }

    pub fn gcs(check: &str) -> Self {
        Self::emulated(
            Kind::Gcs,
            check,
            "gs",
            "CONTRACT_GS_BUCKET",
            "STORAGE_EMULATOR_HOST",
        )
    }

    fn local(kind: Kind, scheme: &str) -> Self {
        // Under the target directory: a real disk (O_DIRECT works there).
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temporary directory");
        let path = dir.path().canonicalize().expect("canonical temporary path");
        Backend {
            kind,
            prefix: format!("{scheme}://{}", path.display()),
            options: Options::from_env(),
            root: String::new(),
            _dir: Some(dir),
        }
    }

    fn emulated(
        kind: Kind,
        check: &str,
        scheme: &str,
        bucket_var: &str,
        endpoint_var: &str,
    ) -> Self {
        let bucket = std::env::var(bucket_var).unwrap_or_else(|_| {
            panic!(
                "{bucket_var} is not set: the {scheme}:// contract runs against an emulator \
                 that tests/test_rust_contract.py starts (it sets {bucket_var} and \
                 {endpoint_var}, then runs these tests with --include-ignored)"
            )
        });
        let endpoint = std::env::var(endpoint_var).unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "{endpoint_var}={endpoint:?}: the contract only talks to an emulator on 127.0.0.1"
        );
        let root = format!("{scheme}://{bucket}");
        Backend {
            kind,
            prefix: format!("{root}/{}/{check}", run_id()),
            options: Options::from_env(),
            root,
            _dir: None,
        }
    }

    /// The URI of `key` under this check's prefix.
    pub fn uri(&self, key: &str) -> String {
        format!("{}/{key}", self.prefix)
    }

    /// This check's prefix (no trailing slash).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The same backend and prefix with `extra` options on top (the
    /// temporary directory stays owned by `self`).
    pub fn with_options(&self, extra: &[(&str, &str)]) -> Backend {
        let mut options = self.options.clone();
        options.extend(extra.iter().copied());
        Backend {
            kind: self.kind,
            prefix: self.prefix.clone(),
            options,
            root: self.root.clone(),
            _dir: None,
        }
    }

    /// A URI in a bucket/container that does not exist; for the local
    /// schemes, which have none, a path under a directory that does not.
    pub fn in_missing_container(&self, key: &str) -> String {
        match self.root.is_empty() {
            true => self.uri(&format!("no-such-directory/{key}")),
            false => {
                let scheme = self.root.split("://").next().unwrap_or_default();
                format!("{scheme}://no-such-bucket-{}/{key}", run_id())
            }
        }
    }

    // --- Known differences -------------------------------------------------

    /// Whether objects can be written through s3dlio. fake-gcs-server
    /// refuses object_store's uploads (a `PUT /BUCKET/KEY` answers 400
    /// `invalid uploadType`), so on `gs://` the contract seeds objects with
    /// the emulator's JSON upload API and checks that s3dlio's writes fail
    /// as typed errors that name the URI.
    pub fn library_writes(&self) -> bool {
        self.kind != Kind::Gcs
    }

    /// The alignment of a whole object's buffer: 4096 for `direct://`
    /// (O_DIRECT reads land in place), 64 elsewhere.
    pub fn whole_alignment(&self) -> usize {
        match self.kind {
            Kind::Direct => 4096,
            _ => 64,
        }
    }

    /// Whether `stat` reports the entity tag in quotes (`"\"0x1E7B\""`, as
    /// the HTTP `ETag` header carries it) while `list_meta` reports it bare
    /// (`"0x1E7B"`, as the listing's XML does). s3dlio passes both on as
    /// object_store gives them. On S3 both are quoted; local files have none.
    pub fn etag_quoted_by_stat_only(&self) -> bool {
        matches!(self.kind, Kind::Azure | Kind::Gcs)
    }

    /// What listing a bucket/container that does not exist gives.
    pub fn missing_container_listing(&self) -> MissingContainerListing {
        match self.kind {
            // No buckets: a directory that does not exist is an empty prefix.
            Kind::File | Kind::Direct => MissingContainerListing::Empty,
            Kind::S3 | Kind::Azure => MissingContainerListing::NotFound,
            // fake-gcs-server answers 500 ("lstat ROOT/BUCKET: no such file
            // or directory") where GCS answers 404, so s3dlio can only
            // report a backend error (after its retries).
            Kind::Gcs => MissingContainerListing::ServerError,
        }
    }

    // --- Writing test objects ----------------------------------------------

    /// Write `data` as the object `uri` by whatever way this backend takes
    /// writes ([`Backend::library_writes`]).
    pub fn seed(&self, uri: &str, data: impl Into<Bytes>) {
        let data = data.into();
        match self.library_writes() {
            true => self
                .put(uri, data)
                .unwrap_or_else(|e| panic!("seeding {uri}: {}", e.full_message())),
            false => gcs_seed::upload(uri, &data),
        }
    }
}

/// The core's calls, run to completion with this backend's options.
impl Backend {
    pub fn get(&self, uri: &str) -> Result<Bytes> {
        block_on(s3dlio_core::get(uri, &self.options))
    }

    pub fn get_range(&self, uri: &str, offset: u64, length: Option<u64>) -> Result<Bytes> {
        block_on(s3dlio_core::get_range(uri, offset, length, &self.options))
    }

    pub fn get_many<S: AsRef<str>>(&self, uris: &[S], max_in_flight: usize) -> Result<Vec<Bytes>> {
        block_on(s3dlio_core::get_many(uris, max_in_flight, &self.options))
    }

    pub fn get_ranges<S: AsRef<str>>(
        &self,
        requests: &[(S, ByteRange)],
        max_in_flight: usize,
    ) -> Result<Vec<Bytes>> {
        block_on(s3dlio_core::get_ranges(
            requests,
            max_in_flight,
            &self.options,
        ))
    }

    pub fn put(&self, uri: &str, data: impl Into<Bytes>) -> Result<()> {
        block_on(s3dlio_core::put(uri, data.into(), &self.options))
    }

    pub fn put_many(&self, items: Vec<(String, Bytes)>, max_in_flight: usize) -> Result<()> {
        block_on(s3dlio_core::put_many(items, max_in_flight, &self.options))
    }

    pub fn list(&self, uri: &str, recursive: bool) -> Result<Vec<String>> {
        block_on(s3dlio_core::list(uri, recursive, &self.options))
    }

    pub fn list_meta(&self, uri: &str, recursive: bool) -> Result<Vec<ObjectMeta>> {
        block_on(s3dlio_core::list_meta(uri, recursive, &self.options))
    }

    pub fn stat(&self, uri: &str) -> Result<ObjectMeta> {
        block_on(s3dlio_core::stat(uri, &self.options))
    }

    pub fn exists(&self, uri: &str) -> Result<bool> {
        block_on(s3dlio_core::exists(uri, &self.options))
    }

    pub fn delete(&self, uri: &str) -> Result<()> {
        block_on(s3dlio_core::delete(uri, &self.options))
    }
}

/// Unique per test process, so reruns against the same bucket start empty.
fn run_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("run-{}-{nanos}", std::process::id())
    })
}
