//! Which AWS credential source an S3 client will use, in object_store's
//! order: access keys, web identity, container credentials, and last the
//! instance metadata server; a profile of the shared files (`AWS_PROFILE`,
//! [`super::aws_profile`]) has filled in what it sets by then. When it
//! would come to instance metadata, `AWS_EC2_METADATA_DISABLED=true` (the
//! AWS SDKs' switch; option `aws_ec2_metadata_disabled`) fails at once,
//! without a connection, and otherwise a failure of that server is
//! reported as what it is: no credentials, with the sources tried.

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};

use super::metadata_credentials::Explained;
use super::object::config::config_true;
use crate::error::{Error, Result};
use crate::options::Options;

/// Turns instance metadata off (as in the AWS SDKs).
const METADATA_DISABLED: &str = "aws_ec2_metadata_disabled";
/// object_store's instance metadata address when none is configured.
const DEFAULT_METADATA_ENDPOINT: &str = "http://169.254.169.254";

/// The sources tried before instance metadata: the keys each one needs.
const SOURCES: &[&[(K, &str)]] = &[
    &[
        (K::AccessKeyId, "AWS_ACCESS_KEY_ID"),
        (K::SecretAccessKey, "AWS_SECRET_ACCESS_KEY"),
    ],
    &[
        (K::WebIdentityTokenFile, "AWS_WEB_IDENTITY_TOKEN_FILE"),
        (K::RoleArn, "AWS_ROLE_ARN"),
    ],
    &[(
        K::ContainerCredentialsRelativeUri,
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    )],
    &[
        (
            K::ContainerCredentialsFullUri,
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ),
        (
            K::ContainerAuthorizationTokenFile,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        ),
    ],
];

const FIX: &str = "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (environment variables, \
                   or options of the same names), AWS_SKIP_SIGNATURE=true for a public \
                   bucket, AWS_ENDPOINT_URL for an emulator, or AWS_PROFILE for a profile of \
                   ~/.aws/config and ~/.aws/credentials";

/// `builder` as it is when it has a credential source before instance
/// metadata (or signs nothing); else the error that says none is set, or
/// `builder` with its instance metadata source explained.
pub(super) fn checked(
    uri: &str,
    builder: AmazonS3Builder,
    options: &Options,
) -> Result<AmazonS3Builder> {
    let set = |key: &K| builder.get_config_value(key).is_some_and(|v| !v.is_empty());
    let denied = |text: String| Error::PermissionDenied {
        uri: uri.to_owned(),
        source: text.into(),
    };
    // object_store refuses half a key pair (even unsigned) rather than
    // trying the other sources.
    if let [(id, id_name), (secret, secret_name)] = SOURCES[0] {
        if set(id) != set(secret) {
            let (is, is_not) = match set(id) {
                true => (id_name, secret_name),
                false => (secret_name, id_name),
            };
            return Err(denied(format!("{is} is set but {is_not} is not")));
        }
    }
    if config_true(builder.get_config_value(&K::SkipSignature))
        || SOURCES.iter().any(|keys| keys.iter().all(|(k, _)| set(k)))
    {
        return Ok(builder);
    }
    let tried = SOURCES
        .iter()
        .map(|keys| {
            let names: Vec<_> = keys.iter().map(|(_, name)| *name).collect();
            let unset: Vec<_> = keys
                .iter()
                .filter(|(k, _)| !set(k))
                .map(|(_, n)| *n)
                .collect();
            match unset.len() == keys.len() {
                true => format!("{} (not set)", names.join(" + ")),
                false => format!("{} ({} not set)", names.join(" + "), unset.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    if options.bool(METADATA_DISABLED)?.unwrap_or(false) {
        return Err(denied(format!(
            "no AWS credentials: tried {tried} and instance metadata (turned off by \
             AWS_EC2_METADATA_DISABLED). {FIX}"
        )));
    }
    let endpoint = builder
        .get_config_value(&K::MetadataEndpoint)
        .unwrap_or_else(|| DEFAULT_METADATA_ENDPOINT.to_owned());
    // The client object_store would build: its instance metadata source,
    // wrapped. (If it cannot be built, the caller's build says why.)
    let Ok(plain) = builder.clone().build() else {
        return Ok(builder);
    };
    Ok(builder.with_credentials(Explained::new(
        plain.credentials().clone(),
        format!("no AWS credentials: tried {tried}"),
        format!("instance metadata at {endpoint}"),
        FIX,
    )))
}
