//! STS for `<assume_role_credentials>`: `sts_endpoint_url` and `sts_http_proxy`, as
//! fluent-plugin-s3 gives them to its `Aws::STS::Client` (`endpoint:` and `http_proxy:`).
//!
//! * `sts_endpoint_url`: the AssumeRole calls go to that URL (signed for `sts_region`, else
//!   `s3_region`); without it, the SDK's STS endpoint for the region.
//! * `sts_http_proxy`: the AssumeRole calls go through that HTTP(S) forward proxy (absolute-form
//!   for an `http://` STS endpoint, a `CONNECT` tunnel for `https://`), a user and password in
//!   the URI becoming `Proxy-Authorization: Basic`. Only STS uses it: the base credentials'
//!   providers (instance metadata, ECS) and S3 keep their own connections (S3 has `proxy_uri`).
//!   The value is a secret: it is parsed at configuration time, and neither the user nor the
//!   password ever appears in a message.
//!
//! `<web_identity_credentials>` has neither parameter in fluent-plugin-s3 (only `sts_region`),
//! so logship has none there either.

use super::StoreError;
use crate::config::{AssumeRoleCredentials, ProxyUri};
use aws_config::SdkConfig;
use aws_sdk_s3::config::SharedHttpClient;
use aws_smithy_http_client::proxy::ProxyConfig;

/// The proxy of the STS client: `sts_http_proxy`, else none (direct, the environment is not
/// consulted).
pub(super) fn sts_proxy_config(
    ar: Option<&AssumeRoleCredentials>,
) -> Result<Option<ProxyConfig>, StoreError> {
    let Some(raw) = ar.and_then(|a| a.sts_http_proxy.as_ref()) else {
        return Ok(None);
    };
    // Neither error repeats the URI's credentials: `parse` never does, `p.url` has none.
    let p = ProxyUri::parse(raw.expose()).map_err(|e| {
        StoreError::Unrecoverable(format!(
            "out_s3 <assume_role_credentials>: invalid sts_http_proxy: {e}"
        ))
    })?;
    let mut cfg = ProxyConfig::all(p.url.as_str()).map_err(|e| {
        StoreError::Unrecoverable(format!(
            "out_s3 <assume_role_credentials>: sts_http_proxy {}: {e}",
            p.url
        ))
    })?;
    if let Some((user, password)) = &p.basic_auth {
        cfg = with_basic_auth(cfg, user, password.expose());
    }
    Ok(Some(cfg))
}

/// `cfg` with `Proxy-Authorization: Basic` for `user` and `password` (both decoded).
///
/// aws-smithy-http-client puts the two into the proxy URL as they are
/// (`scheme://user:password@host`), and hyper-util reads them back from it, splitting at the
/// first `@` and percent-decoding: a password with `@`, `:`, `/` or `%` came out cut or changed
/// (measured: `sts@secret` became `sts`). Percent-encoded here, they arrive unchanged.
pub(super) fn with_basic_auth(cfg: ProxyConfig, user: &str, password: &str) -> ProxyConfig {
    cfg.with_basic_auth(userinfo_escape(user), userinfo_escape(password))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn userinfo_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The configuration the AssumeRole provider builds its STS client from: `base` (the base
/// credentials, region, timeouts) with `http_client` (through `sts_http_proxy` or direct) and
/// `sts_endpoint_url`.
pub(super) fn sts_sdk_config(
    base: &SdkConfig,
    ar: &AssumeRoleCredentials,
    http_client: SharedHttpClient,
) -> SdkConfig {
    let mut b = base.to_builder().http_client(http_client);
    if let Some(url) = &ar.sts_endpoint_url {
        b = b.endpoint_url(url.trim());
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_escaped_so_the_proxy_url_keeps_it_whole() {
        assert_eq!(userinfo_escape("user"), "user");
        assert_eq!(userinfo_escape("p@ss:w/rd%~"), "p%40ss%3Aw%2Frd%25~");
        assert_eq!(userinfo_escape("é"), "%C3%A9");
    }
}
