//! The AWS shared config and credentials files (`~/.aws/config`,
//! `~/.aws/credentials`, or `AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`)
//! and the profile `AWS_PROFILE` names (`default` when unset), as the AWS
//! CLI and SDKs read them: the profile's settings fill the options that
//! neither the environment nor the call set. object_store reads no profile;
//! the crate of the field that does (aws-config) brings the whole AWS SDK
//! and its HTTP stack, for a format whose part we read is a page of rules:
//! `[name]` sections in the credentials file, `[profile name]` (and
//! `[default]`) in the config file, `key = value` lines, `#` and `;`
//! comments, and indented lines under `key =` (a nested section, such as
//! `s3 =`), which are skipped.
//!
//! Read from a profile: `aws_access_key_id`, `aws_secret_access_key`,
//! `aws_session_token` (the credentials file wins over the config file for
//! these, as in the CLI), `region`, `endpoint_url`, and `role_arn` with
//! `web_identity_token_file` (and `role_session_name`): web identity, as
//! object_store supports it. A profile that needs what object_store cannot
//! do (`source_profile`, `credential_source`, `credential_process`,
//! `sso_*`) is refused by name rather than silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::options::Options;

/// Keys a profile may set, and the option each fills.
const READ: &[(&str, &str)] = &[
    ("aws_access_key_id", "aws_access_key_id"),
    ("aws_secret_access_key", "aws_secret_access_key"),
    ("aws_session_token", "aws_session_token"),
    ("region", "aws_region"),
    ("endpoint_url", "aws_endpoint_url"),
    ("role_arn", "aws_role_arn"),
    ("web_identity_token_file", "aws_web_identity_token_file"),
    ("role_session_name", "aws_role_session_name"),
];

/// Keys that need a credential source object_store does not have.
const UNSUPPORTED: &[&str] = &[
    "source_profile",
    "credential_source",
    "credential_process",
    "sso_start_url",
    "sso_session",
];

/// The credential keys: taken from a profile only as a whole, and only
/// when the options hold none of their own.
const CREDENTIALS: &[&str] = &[
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_role_arn",
    "aws_web_identity_token_file",
    "aws_role_session_name",
    "aws_container_credentials_relative_uri",
    "aws_container_credentials_full_uri",
];

/// `options` with the settings of its AWS profile added where unset; as
/// given when no profile file exists and none was asked for.
pub(super) fn with_profile(uri: &str, options: &Options) -> Result<Options> {
    let named = options.get("aws_profile").filter(|p| !p.is_empty());
    let name = named.unwrap_or("default");
    let home = || std::env::var_os("HOME").map(PathBuf::from);
    let file = |key: &str, default: &str| {
        options
            .get(key)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| home().map(|h| h.join(".aws").join(default)))
    };
    let config = read(file("aws_config_file", "config"))?;
    let credentials = read(file("aws_shared_credentials_file", "credentials"))?;
    let from_config = config.and_then(|text| {
        let section = match name {
            "default" => "default".to_owned(),
            other => format!("profile {other}"),
        };
        // `[default]` may also be written `[profile default]`.
        let mut sections = parse(&text);
        sections.remove(&section).or_else(|| {
            sections
                .remove("profile default")
                .filter(|_| name == "default")
        })
    });
    let from_credentials = credentials.and_then(|text| parse(&text).remove(name));
    if from_config.is_none() && from_credentials.is_none() {
        return match named {
            Some(profile) => Err(refused(
                uri,
                format!("the profile {profile} is in neither file"),
            )),
            None => Ok(options.clone()),
        };
    }
    let mut settings = from_config.unwrap_or_default();
    settings.extend(from_credentials.unwrap_or_default());
    if let Some(key) = UNSUPPORTED.iter().find(|k| settings.contains_key(**k)) {
        return Err(refused(
            uri,
            format!(
                "the profile {name} sets {key}, which is not supported: set the \
                 credentials it would make (access keys, web identity, container \
                 credentials) instead"
            ),
        ));
    }
    let has_own_credentials = CREDENTIALS
        .iter()
        .any(|k| options.get(k).is_some_and(|v| !v.is_empty()));
    let mut out = options.clone();
    let added = READ.iter().filter_map(|(from, to)| {
        let value = settings.get(*from)?;
        let unset = options.get(to).is_none_or(str::is_empty);
        let allowed = !CREDENTIALS.contains(to) || !has_own_credentials;
        (unset && allowed).then(|| (*to, value.clone()))
    });
    out.extend(added.collect::<Vec<_>>());
    Ok(out)
}

fn refused(uri: &str, why: String) -> Error {
    Error::PermissionDenied {
        uri: uri.to_owned(),
        source: format!("AWS_PROFILE: {why}").into(),
    }
}

/// The file's text; `None` when there is none.
fn read(path: Option<PathBuf>) -> Result<Option<String>> {
    let Some(path) = path else { return Ok(None) };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::InvalidArgument(format!(
            "cannot read the AWS profile file {}: {e}",
            path.display()
        ))),
    }
}

/// Sections of an AWS config or credentials file: name -> key -> value
/// (keys in lower case; a later key or section of the same name wins).
fn parse(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        // An indented line continues a nested `key =` section: skipped.
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (Some(section), Some((key, value))) = (&current, trimmed.split_once('=')) else {
            continue;
        };
        let value = strip_comment(value.trim());
        if let Some(keys) = sections.get_mut(section) {
            keys.insert(key.trim().to_ascii_lowercase(), value.to_owned());
        }
    }
    sections
}

/// `value` without a trailing ` #` or ` ;` comment.
fn strip_comment(value: &str) -> &str {
    let cut = [" #", " ;", "\t#", "\t;"]
        .iter()
        .filter_map(|c| value.find(c))
        .min();
    cut.map_or(value, |at| value[..at].trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<const N: usize, V: Into<String>>(options: &Options, more: [(&str, V); N]) -> Options {
        let mut out = options.clone();
        out.extend(more);
        out
    }

    const CONFIG: &str = "\
# comment
[default]
region = eu-west-1
[profile dev]
region = us-west-2 # trailing comment
endpoint_url = http://127.0.0.1:9000
s3 =
  addressing_style = path
[profile  web]
role_arn = arn:aws:iam::123456789012:role/r
web_identity_token_file = /var/run/token
[profile chained]
source_profile = default
";
    const CREDENTIALS: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secret-default
[dev]
aws_access_key_id=AKIDDEV
aws_secret_access_key=secret/dev=
aws_session_token = token-dev
";

    fn files() -> (tempfile::TempDir, Options) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), CONFIG).unwrap();
        std::fs::write(dir.path().join("credentials"), CREDENTIALS).unwrap();
        let options = with(
            &Options::empty(),
            [
                (
                    "aws_config_file",
                    dir.path().join("config").display().to_string(),
                ),
                (
                    "aws_shared_credentials_file",
                    dir.path().join("credentials").display().to_string(),
                ),
            ],
        );
        (dir, options)
    }

    #[test]
    fn the_named_profile_fills_what_is_unset() {
        let (_dir, options) = files();
        let dev = with_profile("s3://b/k", &with(&options, [("aws_profile", "dev")])).unwrap();
        assert_eq!(dev.get("aws_access_key_id"), Some("AKIDDEV"));
        assert_eq!(dev.get("aws_secret_access_key"), Some("secret/dev="));
        assert_eq!(dev.get("aws_session_token"), Some("token-dev"));
        assert_eq!(dev.get("aws_region"), Some("us-west-2"));
        assert_eq!(dev.get("aws_endpoint_url"), Some("http://127.0.0.1:9000"));
        assert_eq!(
            dev.get("addressing_style"),
            None,
            "nested lines are skipped"
        );
        let default = with_profile("s3://b/k", &options).unwrap();
        assert_eq!(default.get("aws_access_key_id"), Some("AKIDDEFAULT"));
        assert_eq!(default.get("aws_region"), Some("eu-west-1"));
        let web = with_profile("s3://b/k", &with(&options, [("aws_profile", "web")])).unwrap();
        assert_eq!(
            web.get("aws_web_identity_token_file"),
            Some("/var/run/token")
        );
    }

    #[test]
    fn settings_of_the_environment_or_the_call_win() {
        let (_dir, options) = files();
        let own = with(
            &options,
            [
                ("aws_profile", "dev"),
                ("aws_access_key_id", "MINE"),
                ("aws_secret_access_key", "mine"),
                ("aws_region", "ap-south-1"),
            ],
        );
        let got = with_profile("s3://b/k", &own).unwrap();
        assert_eq!(got.get("aws_access_key_id"), Some("MINE"));
        assert_eq!(got.get("aws_region"), Some("ap-south-1"));
        // Credentials come from one source: not the profile's token with
        // the caller's keys.
        assert_eq!(got.get("aws_session_token"), None);
        assert_eq!(got.get("aws_endpoint_url"), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn a_missing_or_unsupported_profile_is_refused_by_name() {
        let (_dir, options) = files();
        let err = with_profile("s3://b/k", &with(&options, [("aws_profile", "nope")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("the profile nope is in neither file"),
            "{err}"
        );
        assert!(err.to_string().contains("s3://b/k"), "{err}");
        let err =
            with_profile("s3://b/k", &with(&options, [("aws_profile", "chained")])).unwrap_err();
        assert!(err.to_string().contains("sets source_profile"), "{err}");
    }

    #[test]
    fn no_files_and_no_profile_asked_for_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let options = with(
            &Options::empty(),
            [
                (
                    "aws_config_file",
                    dir.path().join("none").display().to_string(),
                ),
                (
                    "aws_shared_credentials_file",
                    dir.path().join("none2").display().to_string(),
                ),
            ],
        );
        assert_eq!(with_profile("s3://b/k", &options).unwrap(), options);
    }
}
