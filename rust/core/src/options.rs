//! Effective configuration of one call: the standard environment
//! variables of each cloud, overridden by the per-call `options` dict.
//! Keys are case-insensitive (`AWS_ENDPOINT_URL` == `aws_endpoint_url`).
//!
//! Credentials are never shown: the values of credential keys, and the
//! user and password of any URL-valued option (`http://user:pw@host`), are
//! hidden in `Debug` output and scrubbed from error messages.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};

/// Environment variable prefixes (lower case) that configure s3dlio.
const ENV_PREFIXES: &[&str] = &[
    "aws_",
    "azure_",
    "azurite_",
    "google_",
    "storage_emulator_host",
    "s3dlio_",
    // torchrun's run id and restart count name a checkpoint attempt.
    "torchelastic_",
];

/// Retries of a failed request (5xx, throttling, connection errors).
pub const MAX_RETRIES: &str = "s3dlio_max_retries";
/// Give up retrying after this many seconds from the first attempt.
pub const RETRY_TIMEOUT: &str = "s3dlio_retry_timeout";
/// Seconds allowed to open a connection.
pub const CONNECT_TIMEOUT: &str = "s3dlio_connect_timeout";
/// Seconds allowed for one whole request, body included.
pub const REQUEST_TIMEOUT: &str = "s3dlio_request_timeout";
/// Objects at least this large are uploaded in parts (bytes).
pub const MULTIPART_THRESHOLD: &str = "s3dlio_multipart_threshold";
/// Size of each uploaded part (bytes).
pub const MULTIPART_PART_SIZE: &str = "s3dlio_multipart_part_size";
/// Objects larger than this are fetched as parallel ranges of this size (bytes).
pub const RANGE_PART_SIZE: &str = "s3dlio_range_part_size";
/// Fall back to buffered I/O where a filesystem refuses O_DIRECT.
pub const DIRECT_FALLBACK: &str = "s3dlio_direct_fallback";
/// A PEM file of certificates trusted for HTTPS besides the system's (an
/// endpoint with a private or self-signed certificate); `AWS_CA_BUNDLE`,
/// the name boto3 and the AWS CLI read, is taken when this is unset.
pub const CA_BUNDLE: &str = "s3dlio_ca_bundle";
/// The AWS name of [`CA_BUNDLE`].
pub const AWS_CA_BUNDLE: &str = "aws_ca_bundle";
/// `file://` objects as views over their mapped pages rather than copies.
pub const FILE_MMAP: &str = "s3dlio_file_mmap";
/// The per-call name of [`FILE_MMAP`] (`options={"file_mmap": "true"}`),
/// which wins over it.
pub const FILE_MMAP_OPTION: &str = "file_mmap";

/// Several endpoints of one S3 store, comma-separated.
pub const ENDPOINT_URLS: &str = "aws_endpoint_urls";
/// The per-call name of [`ENDPOINT_URLS`], which wins over it.
pub const ENDPOINT_URLS_OPTION: &str = "endpoint_urls";
/// How a request's endpoint is chosen: `least_outstanding` or `round_robin`.
pub const ENDPOINT_POLICY: &str = "s3dlio_endpoint_policy";
/// `false`: requests do not wait for a place when the store throttles.
pub const ADAPTIVE_CONCURRENCY: &str = "s3dlio_adaptive_concurrency";

/// A directory that keeps remote objects read, served from there while
/// unchanged (see `store::cache`).
pub const CACHE_DIR: &str = "s3dlio_cache_dir";
/// The per-call name of [`CACHE_DIR`], which wins over it.
pub const CACHE_DIR_OPTION: &str = "cache_dir";
/// The most bytes the cache holds.
pub const CACHE_BYTES: &str = "s3dlio_cache_bytes";
/// The per-call name of [`CACHE_BYTES`].
pub const CACHE_BYTES_OPTION: &str = "cache_bytes";
/// How a cached copy is checked: `etag` (a HEAD, or a listing's answer) or
/// `never` (immutable datasets).
pub const CACHE_VALIDATE: &str = "s3dlio_cache_validate";
/// The per-call name of [`CACHE_VALIDATE`].
pub const CACHE_VALIDATE_OPTION: &str = "cache_validate";

/// Words in a key (lower case) whose value is a credential: never shown.
const SECRET_KEY_WORDS: &[&str] = &[
    "secret",
    "key",
    "token",
    "password",
    "sas",
    "signature",
    "credential",
];

/// Shorter credential values are not searched for in messages: they would
/// match ordinary words (real keys and tokens are 16 characters or more).
const MIN_REDACTED_LEN: usize = 8;

use crate::redact::userinfo_spans;
pub use crate::redact::{redact_userinfo, REDACTED};

/// A case-normalised set of configuration keys and values. Its `Debug`
/// output hides credential values.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Options(BTreeMap<String, String>);

fn is_secret_key(key: &str) -> bool {
    SECRET_KEY_WORDS.iter().any(|w| key.contains(w))
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if is_secret_key(k) {
                    REDACTED.to_owned()
                } else {
                    redact_userinfo(v)
                };
                (k, shown)
            }))
            .finish()
    }
}

impl Options {
    /// No configuration at all (not even the environment).
    pub fn empty() -> Self {
        Self::default()
    }

    /// The relevant environment variables, then `overrides` on top.
    pub fn from_env_with<K, V>(overrides: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (key, value) in crate::env::guarded(|| std::env::vars_os().collect::<Vec<_>>()) {
            let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if ENV_PREFIXES.iter().any(|p| key.starts_with(p)) {
                map.insert(key, value.to_owned());
            }
        }
        let mut options = Options(map);
        options.extend(overrides);
        options
    }

    /// The one environment variable `key` (lower case; read in upper case),
    /// for a call that needs nothing else: cheaper than [`Options::from_env`].
    pub fn from_env_var(key: &str) -> Self {
        let mut options = Options::empty();
        if let Some(value) = crate::env::var(&key.to_ascii_uppercase()) {
            options.0.insert(key.to_owned(), value);
        }
        options
    }

    /// The environment alone.
    pub fn from_env() -> Self {
        Self::from_env_with(std::iter::empty::<(&str, String)>())
    }

    /// Set (or replace) keys; later keys win.
    pub fn extend<K, V>(&mut self, items: impl IntoIterator<Item = (K, V)>)
    where
        K: AsRef<str>,
        V: Into<String>,
    {
        for (k, v) in items {
            self.0.insert(k.as_ref().to_ascii_lowercase(), v.into());
        }
    }

    /// These options, with `file://` objects mapped ([`FILE_MMAP_OPTION`])
    /// unless they say whether to map them: the default of a whole-shard
    /// read, whose members are handed out as views of it and are read once.
    pub fn mapping_unless_told(&self) -> std::borrow::Cow<'_, Self> {
        match self.first_of(&[FILE_MMAP_OPTION, FILE_MMAP]) {
            Some(_) => std::borrow::Cow::Borrowed(self),
            None => {
                let mut mapped = self.clone();
                mapped.extend([(FILE_MMAP_OPTION, "true")]);
                std::borrow::Cow::Owned(mapped)
            }
        }
    }

    /// The value of `key` (lower case).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// The first of `keys` that is set, else the last: the key to read a
    /// setting by when a per-call name wins over a variable, so that an
    /// error names the one given.
    pub fn key_set<'k>(&self, keys: &[&'k str]) -> &'k str {
        let last = keys.last().copied().unwrap_or_default();
        keys.iter()
            .copied()
            .find(|k| self.get(k).is_some())
            .unwrap_or(last)
    }

    /// The first of `keys` that is set.
    pub fn first_of(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.get(k))
    }

    /// All keys and values, keys in lower case.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The values of credential keys (access keys, secrets, tokens, SAS
    /// keys, passwords) and the userinfo of URL values (`user:pw` of
    /// `http://user:pw@host`, and the password alone) long enough to be
    /// told apart from ordinary text: what error messages must never
    /// contain. (A short userinfo is still hidden wherever it appears in a
    /// URL: see [`redact_userinfo`].)
    pub fn secret_values(&self) -> Vec<String> {
        let mut secrets: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| is_secret_key(k))
            .map(|(_, v)| v.clone())
            .collect();
        for value in self.0.values() {
            for span in userinfo_spans(value) {
                let userinfo = &value[span];
                secrets.push(userinfo.to_owned());
                if let Some((_, password)) = userinfo.split_once(':') {
                    secrets.push(password.to_owned());
                }
            }
        }
        secrets.retain(|s| s.len() >= MIN_REDACTED_LEN);
        secrets.sort();
        secrets.dedup();
        // The longest first, so that no secret is left half replaced.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets
    }

    /// A duration in seconds (`"2"`, `"0.5"`, `"250ms"`, `"3s"`).
    pub fn duration(&self, key: &str) -> Result<Option<Duration>> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let s = raw.trim();
        let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
            (ms, 1e-3)
        } else if let Some(secs) = s.strip_suffix('s') {
            (secs, 1.0)
        } else {
            (s, 1.0)
        };
        match number.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(Duration::from_secs_f64(v * scale))),
            _ => Err(bad_value(key, raw, "expected seconds, e.g. 5, 0.5, 250ms")),
        }
    }

    /// A non-negative integer.
    pub fn usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|raw| {
                raw.trim()
                    .parse::<usize>()
                    .map_err(|_| bad_value(key, raw, "expected a non-negative integer"))
            })
            .transpose()
    }

    /// A size in bytes (`"1048576"`, `"64KiB"`, `"16MiB"`, `"1GiB"`, `"8M"`).
    pub fn bytes(&self, key: &str) -> Result<Option<u64>> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        let s = raw.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, unit) = s.split_at(split);
        let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => {
                return Err(bad_value(
                    key,
                    raw,
                    "expected a size such as 8388608 or 8MiB",
                ))
            }
        };
        digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .map(Some)
            .ok_or_else(|| bad_value(key, raw, "expected a size such as 8388608 or 8MiB"))
    }

    /// A boolean (`true/false/1/0/yes/no`).
    pub fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.get(key)
            .map(|raw| match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" | "" => Ok(false),
                _ => Err(bad_value(key, raw, "expected true or false")),
            })
            .transpose()
    }
}

fn bad_value(key: &str, value: &str, reason: &str) -> Error {
    Error::InvalidArgument(format!(
        "option {}={value:?}: {reason}",
        key.to_ascii_uppercase()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_win_and_keys_are_case_insensitive() {
        let mut o = Options::empty();
        o.extend([("AWS_REGION", "eu-west-1")]);
        o.extend([("aws_region", "us-east-2")]);
        assert_eq!(o.get("aws_region"), Some("us-east-2"));
    }

    #[test]
    fn credentials_are_not_shown() {
        let mut o = Options::empty();
        o.extend([
            ("AWS_SECRET_ACCESS_KEY", "SECRETSECRET"),
            ("AWS_ACCESS_KEY_ID", "AKIDSECRET"),
            ("AWS_SESSION_TOKEN", "short"),
            ("AWS_REGION", "eu-central-1"),
        ]);
        let shown = format!("{o:?}");
        assert!(
            !shown.contains("SECRETSECRET") && !shown.contains("AKIDSECRET"),
            "{shown}"
        );
        assert!(
            !shown.contains("short") && shown.contains("eu-central-1"),
            "{shown}"
        );
        let mut secrets = o.secret_values();
        secrets.sort();
        assert_eq!(secrets, ["AKIDSECRET", "SECRETSECRET"]);
    }

    #[test]
    fn the_userinfo_of_urls_is_a_secret() {
        let mut o = Options::empty();
        o.extend([
            (
                "AWS_ENDPOINT_URL",
                "http://admin:hunter2hunter2@127.0.0.1:9000",
            ),
            ("AZURE_STORAGE_ENDPOINT", "https://u:p@host/path"),
            (
                "AWS_ENDPOINT_URLS",
                "http://127.0.0.1:1,http://x:longpassword@h:2",
            ),
        ]);
        let shown = format!("{o:?}");
        for hidden in ["admin", "hunter2", "u:p", "longpassword"] {
            assert!(!shown.contains(hidden), "{shown}");
        }
        assert!(
            shown.contains("http://<redacted>@127.0.0.1:9000"),
            "{shown}"
        );
        let secrets = o.secret_values();
        for s in [
            "admin:hunter2hunter2",
            "hunter2hunter2",
            "x:longpassword",
            "longpassword",
        ] {
            assert!(secrets.contains(&s.to_owned()), "{secrets:?}");
        }
        assert!(
            !secrets.iter().any(|s| s == "u:p"),
            "too short to search for"
        );
    }

    #[test]
    fn parses_durations_and_numbers() {
        let mut o = Options::empty();
        o.extend([
            ("a", "2"),
            ("b", "250ms"),
            ("c", "1.5s"),
            ("d", "x"),
            ("n", "3"),
        ]);
        assert_eq!(o.duration("a").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(o.duration("b").unwrap(), Some(Duration::from_millis(250)));
        assert_eq!(o.duration("c").unwrap(), Some(Duration::from_millis(1500)));
        assert!(o.duration("d").unwrap_err().to_string().contains("D=\"x\""));
        assert_eq!(o.usize("n").unwrap(), Some(3));
        assert_eq!(o.usize("missing").unwrap(), None);
        o.extend([("s1", "4096"), ("s2", "8MiB"), ("s3", "2k"), ("s4", "MiB")]);
        assert_eq!(o.bytes("s1").unwrap(), Some(4096));
        assert_eq!(o.bytes("s2").unwrap(), Some(8 << 20));
        assert_eq!(o.bytes("s3").unwrap(), Some(2048));
        assert!(o.bytes("s4").is_err());
    }

    #[test]
    fn shards_are_mapped_unless_the_options_or_the_environment_say_otherwise() {
        let mapped = |pairs: &[(&str, &str)]| {
            let mut o = Options::empty();
            o.extend(pairs.iter().copied());
            o.mapping_unless_told().bool(FILE_MMAP_OPTION).unwrap()
        };
        assert_eq!(mapped(&[]), Some(true));
        assert_eq!(mapped(&[("file_mmap", "false")]), Some(false));
        // The environment's value is left to decide (the resolver reads it).
        let mut o = Options::empty();
        o.extend([("S3DLIO_FILE_MMAP", "false")]);
        assert!(matches!(
            o.mapping_unless_told(),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
