//! The typed out_s3 configuration: every fluent-plugin-s3 (v1.8) parameter, with its default,
//! read through a [`SectionReader`] so that every mistake is reported with its span.
//!
//! Parameters fluent-plugin-s3 has that logship does not act on are accepted with a warning that
//! says why (`use_bundled_cert`, `aws_iam_retries` ...). Flat v0.12 parameters (`buffer_path`,
//! `format`, `include_time_key`, `utc` ...) never reach this reader: the compatibility layer
//! (`logship::config::compat`) moves them into `<buffer>`, `<format>` and `<inject>` first.

use crate::key::{IndexFormat, KeyTemplate, KeyVars, Strftime};
use logship_api::config::suggest;
use logship_api::{Secret, Section, SectionReader, Span};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `s3_object_key_format` default.
pub fn default_s3_object_key_format() -> String {
    "%{path}%{time_slice}_%{index}.%{file_extension}".to_string()
}

/// `s3_region` default: `$AWS_REGION`, else `us-east-1` (as fluent-plugin-s3).
pub fn default_s3_region() -> String {
    std::env::var("AWS_REGION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "us-east-1".to_string())
}

/// `storage_class` default.
pub fn default_storage_class() -> String {
    "STANDARD".to_string()
}

/// `hex_random_length` default.
pub fn default_hex_random_length() -> u8 {
    4
}

/// Largest `hex_random_length` (fluent-plugin-s3's `MAX_HEX_RANDOM_LENGTH`).
pub const MAX_HEX_RANDOM_LENGTH: u8 = 16;

/// Default timekey of out_s3 in logship: one hour (see [`default_time_slice_format`]).
pub fn default_timekey() -> Duration {
    Duration::from_secs(3600)
}

/// Default `timekey_wait`: ten minutes, as td-agent's `time_slice_wait` and Fluentd's default.
pub fn default_timekey_wait() -> Duration {
    Duration::from_secs(600)
}

/// The time slice format logship uses when none is configured and the timekey is the default
/// hour: `%Y%m%d%H`, hourly objects, which is what td-agent operators observed (and what the
/// Fluentd out_s3 documentation describes). fluent-plugin-s3 v1 itself defaults its timekey to
/// one day and so derives `%Y%m%d`; with an explicit timekey logship derives the format the same
/// way ([`timekey_to_timeformat`]).
pub fn default_time_slice_format() -> String {
    "%Y%m%d%H".to_string()
}

/// The time slice format fluent-plugin-s3 derives from a timekey when `time_slice_format` is
/// not given.
pub fn timekey_to_timeformat(timekey: Duration) -> &'static str {
    match timekey.as_secs() {
        0..60 => "%Y%m%d%H%M%S",
        60..3600 => "%Y%m%d%H%M",
        3600..86400 => "%Y%m%d%H",
        _ => "%Y%m%d",
    }
}

/// The timekey Fluentd's compat layer derives from a `time_slice_format`: the finest strftime
/// field present (`%S` 1s, `%M` 1m, `%H` 1h, `%d`/`%e`/`%j` 1d); None when it has none of them.
pub fn timekey_from_time_slice_format(format: &str) -> Option<Duration> {
    let has = |d: &str| format.contains(d);
    if has("%S") {
        Some(Duration::from_secs(1))
    } else if has("%M") {
        Some(Duration::from_secs(60))
    } else if has("%H") {
        Some(Duration::from_secs(3600))
    } else if has("%d") || has("%e") || has("%j") {
        Some(Duration::from_secs(86400))
    } else {
        None
    }
}

/// How objects are stored (`store_as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAs {
    /// gzip, `.gz`, `application/x-gzip` (the default).
    Gzip,
    /// zstd, `.zst`, `application/x-zst`; `<compress> level` sets the level.
    Zstd,
    /// Uncompressed, `.json`, `application/json`.
    Json,
    /// Uncompressed, `.txt`, `text/plain`.
    Text,
}

impl StoreAs {
    /// `%{file_extension}`.
    pub fn extension(self) -> &'static str {
        match self {
            StoreAs::Gzip => "gz",
            StoreAs::Zstd => "zst",
            StoreAs::Json => "json",
            StoreAs::Text => "txt",
        }
    }

    /// The object's Content-Type.
    pub fn content_type(self) -> &'static str {
        match self {
            StoreAs::Gzip => "application/x-gzip",
            StoreAs::Zstd => "application/x-zst",
            StoreAs::Json => "application/json",
            StoreAs::Text => "text/plain",
        }
    }
}

/// `s3_endpoint`: an S3-compatible service, or a local directory used as the object store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// An HTTP(S) endpoint; a value without a scheme gets `https://`.
    Url(String),
    /// `file:///absolute/dir` or `file://relative/dir` (from the working directory): objects are
    /// files under `DIR/BUCKET/` (trying logship out, tests, NFS/EFS mounts, air-gapped hosts).
    LocalDir(PathBuf),
}

/// `checksum_algorithm` (logship-specific): when to send request checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumPolicy {
    /// Only when the operation requires one. The default for custom endpoints, because many
    /// S3-compatible services reject the newer `x-amz-checksum-*` / streaming trailers.
    WhenRequired,
    /// Whenever the operation supports one. The default for AWS S3.
    WhenSupported,
}

/// A parsed `proxy_uri`: `http://[user[:password]@]host[:port][/]` (or `https://`).
#[derive(Clone)]
pub struct ProxyUri {
    /// The proxy without credentials: `scheme://host[:port]`.
    pub url: String,
    /// Basic authentication (percent-decoded user and password), when the URI had a userinfo.
    pub basic_auth: Option<(String, Secret<String>)>,
}

impl std::fmt::Debug for ProxyUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The user name may identify an account: redact it together with the password.
        f.debug_struct("ProxyUri")
            .field("url", &self.url)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl ProxyUri {
    /// Parses a `proxy_uri`. The error never repeats the credentials.
    pub fn parse(raw: &str) -> Result<ProxyUri, String> {
        let raw = raw.trim();
        let (scheme, rest) = raw
            .split_once("://")
            .ok_or("expected http://[user:password@]host[:port]")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "unsupported scheme {scheme:?}: expected http:// or https://"
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if !tail.is_empty() && tail != "/" {
            return Err("a proxy URI has no path, query or fragment".into());
        }
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unterminated IPv6 address")?;
            (h, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err("the host has invalid characters".into());
        }
        if let Some(p) = port
            && p.parse::<u16>().is_err()
        {
            return Err(format!("invalid port {p:?}"));
        }
        let basic_auth = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                let user = percent_decode(user).ok_or("invalid percent-encoding in the user")?;
                let password =
                    percent_decode(password).ok_or("invalid percent-encoding in the password")?;
                if user.is_empty() {
                    return Err("credentials without a user name".into());
                }
                Some((user, Secret::new(password)))
            }
        };
        let url = format!("{scheme}://{host_port}");
        // What the HTTP client will be given: refuse here what it would refuse at start.
        aws_smithy_http_client::proxy::ProxyConfig::all(url.as_str()).map_err(|e| e.to_string())?;
        Ok(ProxyUri { url, basic_auth })
    }
}

/// `%XX` decoding of a URI userinfo part; None for a malformed escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `<assume_role_credentials>`.
#[derive(Debug, Clone)]
pub struct AssumeRoleCredentials {
    /// `role_arn` (required, secret as in fluent-plugin-s3).
    pub role_arn: Secret<String>,
    /// `role_session_name` (required).
    pub role_session_name: String,
    /// `policy`: an IAM policy in JSON. Default none.
    pub policy: Option<String>,
    /// `duration_seconds` (900-3600). Default: the STS default.
    pub duration_seconds: Option<u32>,
    /// `external_id` (secret). Default none.
    pub external_id: Option<Secret<String>>,
    /// `sts_region`. Default: `s3_region`.
    pub sts_region: Option<String>,
    /// `sts_http_proxy` (secret: it may carry credentials): the forward proxy of the AssumeRole
    /// calls only (`store/sts.rs`). Default none (direct).
    pub sts_http_proxy: Option<Secret<String>>,
    /// `sts_endpoint_url`: where the AssumeRole calls go. Default: the SDK's STS endpoint for
    /// `sts_region`.
    pub sts_endpoint_url: Option<String>,
}

/// `<web_identity_credentials>`.
#[derive(Debug, Clone)]
pub struct WebIdentityCredentials {
    /// `role_arn` (required).
    pub role_arn: String,
    /// `role_session_name` (required).
    pub role_session_name: String,
    /// `web_identity_token_file` (required): the OIDC token file.
    pub web_identity_token_file: PathBuf,
    /// `policy`. Default none.
    pub policy: Option<String>,
    /// `duration_seconds` (900-43200). Default: the STS default.
    pub duration_seconds: Option<u32>,
    /// `sts_region`. Default: `s3_region`.
    pub sts_region: Option<String>,
}

/// `<instance_profile_credentials>` (EC2 instance metadata).
#[derive(Debug, Clone, Default)]
pub struct InstanceProfileCredentials {
    /// `retries`. Default: the SDK default.
    pub retries: Option<u32>,
    /// `ip_address`. Default 169.254.169.254.
    pub ip_address: Option<String>,
    /// `port`. Default 80.
    pub port: Option<u16>,
    /// `http_open_timeout` in seconds. Default: the SDK default.
    pub http_open_timeout: Option<f64>,
    /// `http_read_timeout` in seconds. Default: the SDK default.
    pub http_read_timeout: Option<f64>,
}

/// `<shared_credentials>` (the AWS credentials file).
#[derive(Debug, Clone, Default)]
pub struct SharedCredentials {
    /// `path`. Default `$HOME/.aws/credentials`.
    pub path: Option<PathBuf>,
    /// `profile_name`. Default `default` or `$AWS_PROFILE`.
    pub profile_name: Option<String>,
}

/// `<bucket_lifecycle_rule>`.
#[derive(Debug, Clone)]
pub struct BucketLifecycleRule {
    /// `id` (required).
    pub id: String,
    /// `prefix`. Default "" (the whole bucket).
    pub prefix: String,
    /// `expiration_days` (required).
    pub expiration_days: u32,
}

/// The whole out_s3 configuration, defaults filled in. `Debug` redacts every secret.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `aws_key_id`. Default none (then the credential sections, the environment, the shared
    /// file, or the instance profile, as the AWS SDKs search).
    pub aws_key_id: Option<Secret<String>>,
    /// `aws_sec_key`. Default none.
    pub aws_sec_key: Option<Secret<String>>,
    /// `aws_profile` (logship-specific): a profile of the shared AWS config/credentials files
    /// for the default credential chain. Default none (`$AWS_PROFILE`, else `default`).
    pub aws_profile: Option<String>,
    /// `<assume_role_credentials>`.
    pub assume_role_credentials: Option<AssumeRoleCredentials>,
    /// `<web_identity_credentials>`.
    pub web_identity_credentials: Option<WebIdentityCredentials>,
    /// `<instance_profile_credentials>`.
    pub instance_profile_credentials: Option<InstanceProfileCredentials>,
    /// `<shared_credentials>`.
    pub shared_credentials: Option<SharedCredentials>,
    /// `s3_bucket` (required).
    pub s3_bucket: String,
    /// `s3_region`. Default `$AWS_REGION` or `us-east-1`.
    pub s3_region: String,
    /// `s3_endpoint`. Default none (AWS S3 in `s3_region`). AWS endpoints (`*.amazonaws.com`
    /// other than VPC endpoints, FIPS and GovCloud) are refused, as fluent-plugin-s3 does.
    pub s3_endpoint: Option<Endpoint>,
    /// `force_path_style`, resolved. fluent-plugin-s3 defaults to false; logship defaults to
    /// **true for a custom `s3_endpoint`** (path-style requests work on every S3-compatible
    /// service, virtual-hosted ones need wildcard DNS there) and false for AWS. Set it
    /// explicitly to override.
    pub force_path_style: bool,
    /// `enable_transfer_acceleration`. Default false.
    pub enable_transfer_acceleration: bool,
    /// `enable_dual_stack`. Default false.
    pub enable_dual_stack: bool,
    /// `ssl_verify_peer`. Default true. `false` accepts any certificate and host name from the
    /// S3 endpoint (not from the credential providers), as fluent-plugin-s3 does; prefer
    /// `ssl_ca_bundle`.
    pub ssl_verify_peer: bool,
    /// `ssl_ca_bundle`: a PEM bundle to trust instead of the system store. Default none.
    pub ssl_ca_bundle: Option<PathBuf>,
    /// `ssl_ca_directory`: a directory of PEM certificates to trust. Default none.
    pub ssl_ca_directory: Option<PathBuf>,
    /// `proxy_uri`, parsed: an HTTP(S) forward proxy for every S3 request (credentials in the
    /// URI become basic authentication). Default none: connect directly; the `HTTP_PROXY` /
    /// `HTTPS_PROXY` / `NO_PROXY` environment is **not** consulted (as before logship supported
    /// `proxy_uri`), so that an environment set up for other tools does not silently reroute
    /// uploads.
    pub proxy_uri: Option<ProxyUri>,
    /// `path`: the key prefix, `%{path}`. Default "".
    pub path: String,
    /// `s3_object_key_format`, parsed. Default `%{path}%{time_slice}_%{index}.%{file_extension}`.
    pub s3_object_key_format: KeyTemplate,
    /// `store_as`. Default gzip.
    pub store_as: StoreAs,
    /// `<compress> level` for zstd (1-22). Default 3.
    pub zstd_level: i32,
    /// `<compress> level` for gzip (1-9). Default 6, zlib's default (what fluent-plugin-s3
    /// writes).
    pub gzip_level: i32,
    /// `time_slice_format` as configured (kept by the compat layer for `%{time_slice}`).
    /// Default none: [`S3Config::time_slice_format_for`] derives it from the timekey, which gives
    /// `%Y%m%d%H` for logship's default hourly timekey.
    pub time_slice_format: Option<Strftime>,
    /// `check_object`: look for an existing object and bump `%{index}`. Default true.
    pub check_object: bool,
    /// `check_bucket`: check the bucket exists at start. Default true.
    pub check_bucket: bool,
    /// `auto_create_bucket`: create a missing bucket. Default true.
    pub auto_create_bucket: bool,
    /// `check_apikey_on_start`: list one object at start to check credentials. Default true.
    pub check_apikey_on_start: bool,
    /// `overwrite`: with `check_object`, overwrite when the key repeats. Default false.
    pub overwrite: bool,
    /// `hex_random_length` (at most 16). Default 4.
    pub hex_random_length: u8,
    /// `index_format`. Default `%d`.
    pub index_format: IndexFormat,
    /// `storage_class`. Default STANDARD (REDUCED_REDUNDANCY with the deprecated
    /// `reduced_redundancy true`).
    pub storage_class: String,
    /// `acl`: a canned ACL. Default none.
    pub acl: Option<String>,
    /// `grant_full_control`. Default none.
    pub grant_full_control: Option<String>,
    /// `grant_read`. Default none.
    pub grant_read: Option<String>,
    /// `grant_read_acp`. Default none.
    pub grant_read_acp: Option<String>,
    /// `grant_write_acp`. Default none.
    pub grant_write_acp: Option<String>,
    /// `use_server_side_encryption`: `AES256`, `aws:kms` or `aws:kms:dsse`. Default none.
    pub use_server_side_encryption: Option<String>,
    /// `ssekms_key_id`. Default none.
    pub ssekms_key_id: Option<Secret<String>>,
    /// `sse_customer_algorithm`. Default none.
    pub sse_customer_algorithm: Option<String>,
    /// `sse_customer_key`. Default none.
    pub sse_customer_key: Option<Secret<String>>,
    /// `sse_customer_key_md5`. Default none.
    pub sse_customer_key_md5: Option<Secret<String>>,
    /// `compute_checksums`: Content-MD5 on uploads. Default none (follow the client default).
    pub compute_checksums: Option<bool>,
    /// `checksum_algorithm` (logship-specific), resolved: `when_required` for custom
    /// endpoints, `when_supported` for AWS, unless configured.
    pub checksum_algorithm: ChecksumPolicy,
    /// `signature_version`: `v4` or `s3`. Default none (v4). logship always signs with v4.
    pub signature_version: Option<String>,
    /// `warn_for_delay`: warn when a chunk's slice is older than this at upload. Default none.
    pub warn_for_delay: Option<Duration>,
    /// `tagging`: the object tag set, `k1=v1&k2=v2`. Default none.
    pub tagging: Option<String>,
    /// `s3_metadata`: `x-amz-meta-*` headers (`${...}` and `%{index}` expanded). Default none.
    pub s3_metadata: Vec<(String, String)>,
    /// `multipart_threshold` (logship-specific): objects larger than this (after compression)
    /// are sent with multipart upload. Default 64 MiB; at least 5 MiB.
    pub multipart_threshold: u64,
    /// `multipart_chunk_size` (logship-specific): the part size of multipart uploads.
    /// Default 16 MiB; at least 5 MiB (S3's minimum part size).
    pub multipart_chunk_size: u64,
    /// `<bucket_lifecycle_rule>` sections.
    pub bucket_lifecycle_rules: Vec<BucketLifecycleRule>,
    /// The `<format>` type. Default `out_file`.
    pub format_type: String,
}

impl S3Config {
    /// The time slice format for a buffer timekey: `time_slice_format` when configured, else
    /// derived from the timekey as fluent-plugin-s3 does.
    pub fn time_slice_format_for(&self, timekey: Duration) -> String {
        match &self.time_slice_format {
            Some(f) => f.as_str().to_string(),
            None => timekey_to_timeformat(timekey).to_string(),
        }
    }

    /// The buffer timekey this configuration implies: derived from `time_slice_format` when
    /// set, else [`default_timekey`].
    pub fn implied_timekey(&self) -> Duration {
        self.time_slice_format
            .as_ref()
            .and_then(|f| timekey_from_time_slice_format(f.as_str()))
            .unwrap_or_else(default_timekey)
    }
}

/// Canned ACLs S3 knows.
pub const CANNED_ACLS: &[&str] = &[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

/// Server-side encryption algorithms.
pub const SSE_ALGORITHMS: &[&str] = &["AES256", "aws:kms", "aws:kms:dsse"];

fn reject_aws_endpoint(host: &str) -> bool {
    host.ends_with("amazonaws.com")
        && !host.ends_with("vpce.amazonaws.com")
        && !["fips", "gov"].iter().any(|e| host.contains(e))
}

fn endpoint_host(url: &str) -> &str {
    let no_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host_port = no_scheme.split('/').next().unwrap_or(no_scheme);
    host_port
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host_port)
}

/// The key format fluent-plugin-s3 uses with `check_object false` when none is configured.
pub const CHECK_OBJECT_FALSE_KEY_FORMAT: &str =
    "%{path}/%{time_slice}_%{hms_slice}.%{file_extension}";

/// With `check_object false` nothing is looked up before an upload (a PutObject-only policy
/// works), so the key alone must tell the chunks of one time slice apart. Warns when it may not:
/// only `%{hms_slice}` (the upload's second), or nothing at all. `%{index}`, `%{hex_random}`,
/// `%{uuid_flush}` and `${chunk_id}` are enough.
fn warn_check_object_false(
    r: &mut SectionReader<'_>,
    t: &KeyTemplate,
    defaulted: bool,
    overwrite: bool,
) {
    if t.has_index() || t.has_unique_part() {
        return;
    }
    let section = r.section();
    let span = section
        .param("s3_object_key_format")
        .or_else(|| section.param("check_object"))
        .map(|p| p.key_span.clone())
        .unwrap_or_else(|| section.span.clone());
    let which = if defaulted {
        format!(
            "check_object false without s3_object_key_format: using fluent-plugin-s3's {CHECK_OBJECT_FALSE_KEY_FORMAT}, which"
        )
    } else {
        "check_object false: s3_object_key_format".to_string()
    };
    let collide = if t.has_hms_slice() {
        "tells the chunks of one time slice apart only by %{hms_slice}, the second of the upload: two chunks \
         of a slice uploaded within the same second (a busy hour, a flush at shutdown) get the same key"
    } else {
        "has none of %{index}, %{hex_random}, %{uuid_flush}, ${chunk_id} or %{hms_slice}: every chunk of a \
         time slice gets the same key"
    };
    let then = if overwrite {
        "and with overwrite true the later one replaces the earlier"
    } else {
        "and the later one is refused (never overwritten) and goes to the backup directory"
    };
    let fix = if defaulted {
        "set s3_object_key_format %{path}/%{time_slice}_%{hms_slice}_${chunk_id}.%{file_extension}"
            .to_string()
    } else {
        "add ${chunk_id} (or %{uuid_flush}, %{hex_random}) to s3_object_key_format".to_string()
    };
    r.warn(span, format!("{which} {collide}, {then}: {fix}"));
}

/// Reads and validates an `<match>` section of type s3 (after the compat mapping). Every error
/// is recorded in `r`; the result is None when a required value is missing or invalid.
pub fn read(r: &mut SectionReader<'_>, hostname: &str) -> Option<S3Config> {
    let section = r.section();
    let aws_key_id: Option<Secret<String>> = r.get("aws_key_id");
    let aws_sec_key: Option<Secret<String>> = r.get("aws_sec_key");
    if aws_key_id.is_some() != aws_sec_key.is_some() {
        let (present, missing) = if aws_key_id.is_some() {
            ("aws_key_id", "aws_sec_key")
        } else {
            ("aws_sec_key", "aws_key_id")
        };
        r.error_at(present, format!("'{present}' is set but '{missing}' is not: set both, or neither to use other credentials"));
    }
    let aws_profile: Option<String> = r.get::<String>("aws_profile").map(|p| p.trim().to_string());
    r.ignore(
        "aws_iam_retries",
        "deprecated in fluent-plugin-s3; use <instance_profile_credentials> retries",
    );
    r.ignore(
        "use_bundled_cert",
        "logship uses the system trust store, or ssl_ca_bundle / ssl_ca_directory",
    );
    r.ignore(
        "use_ssl",
        "removed in fluent-plugin-s3 v1; give s3_endpoint an http:// or https:// scheme instead",
    );
    for k in ["utc", "localtime", "timezone"] {
        r.ignore(k, "the time zone of %{time_slice} is the buffer's (timekey_use_utc / timekey_zone); the compat layer maps this flat parameter there");
    }

    let assume_role_credentials = r.section_opt("assume_role_credentials").and_then(|s| {
        let mut sr = SectionReader::new(s, format!("{} <assume_role_credentials>", r.context()));
        let role_arn = sr.required::<Secret<String>>("role_arn");
        let role_session_name = sr.required::<String>("role_session_name");
        let c = AssumeRoleCredentials {
            role_arn: role_arn.unwrap_or_default(),
            role_session_name: role_session_name.clone().unwrap_or_default(),
            policy: sr.get("policy"),
            duration_seconds: sr.get("duration_seconds"),
            external_id: sr.get("external_id"),
            sts_region: sr.get("sts_region"),
            sts_http_proxy: sr.get("sts_http_proxy"),
            sts_endpoint_url: sr.get("sts_endpoint_url"),
        };
        if let Some(d) = c.duration_seconds.filter(|d| !(900..=3600).contains(d)) {
            sr.error_at(
                "duration_seconds",
                format!("duration_seconds {d} is out of range 900-3600"),
            );
        }
        // Parsed again when the store opens; refused here, at the value. The error never
        // repeats the URI's credentials.
        if let Some(Err(e)) = c
            .sts_http_proxy
            .as_ref()
            .map(|p| ProxyUri::parse(p.expose()))
        {
            sr.error_at("sts_http_proxy", format!("invalid sts_http_proxy: {e}"));
        }
        if let Some(u) = c.sts_endpoint_url.as_deref().map(str::trim) {
            let lower = u.to_ascii_lowercase();
            let host = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            if host.is_none_or(str::is_empty) {
                sr.error_at(
                    "sts_endpoint_url",
                    format!(
                        "invalid sts_endpoint_url {u:?}: expected http:// or https:// and a host"
                    ),
                );
            }
        }
        let ok = !sr.has_errors();
        r.absorb(sr.finish());
        ok.then_some(c)
    });
    let web_identity_credentials = r.section_opt("web_identity_credentials").and_then(|s| {
        let mut sr = SectionReader::new(s, format!("{} <web_identity_credentials>", r.context()));
        let role_arn = sr.required::<String>("role_arn");
        let role_session_name = sr.required::<String>("role_session_name");
        let token = sr.required::<String>("web_identity_token_file");
        let c = WebIdentityCredentials {
            role_arn: role_arn.unwrap_or_default(),
            role_session_name: role_session_name.unwrap_or_default(),
            web_identity_token_file: PathBuf::from(token.unwrap_or_default()),
            policy: sr.get("policy"),
            duration_seconds: sr.get("duration_seconds"),
            sts_region: sr.get("sts_region"),
        };
        if let Some(d) = c.duration_seconds.filter(|d| !(900..=43200).contains(d)) {
            sr.error_at(
                "duration_seconds",
                format!("duration_seconds {d} is out of range 900-43200"),
            );
        }
        let ok = !sr.has_errors();
        r.absorb(sr.finish());
        ok.then_some(c)
    });
    let instance_profile_credentials = r.section_opt("instance_profile_credentials").map(|s| {
        let mut sr =
            SectionReader::new(s, format!("{} <instance_profile_credentials>", r.context()));
        let c = InstanceProfileCredentials {
            retries: sr.get("retries"),
            ip_address: sr.get("ip_address"),
            port: sr.get("port"),
            http_open_timeout: sr.get("http_open_timeout"),
            http_read_timeout: sr.get("http_read_timeout"),
        };
        r.absorb(sr.finish());
        c
    });
    let shared_credentials = r.section_opt("shared_credentials").map(|s| {
        let mut sr = SectionReader::new(s, format!("{} <shared_credentials>", r.context()));
        let c = SharedCredentials {
            path: sr.get::<String>("path").map(PathBuf::from),
            profile_name: sr.get("profile_name"),
        };
        r.absorb(sr.finish());
        c
    });

    let s3_bucket = r
        .required::<String>("s3_bucket")
        .map(|b| b.trim().to_string());
    if let Some(b) = &s3_bucket
        && b.is_empty()
    {
        r.error_at("s3_bucket", "s3_bucket is empty");
    }
    let s3_region = r
        .get::<String>("s3_region")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(default_s3_region);

    let s3_endpoint = r.get::<String>("s3_endpoint").and_then(|raw| {
        let v = raw.trim();
        if let Some(dir) = v.strip_prefix("file://") {
            if dir.is_empty() {
                r.error_at("s3_endpoint", "a local-directory endpoint needs a directory: file:///abs/dir or file://relative/dir");
                return None;
            }
            let p = PathBuf::from(dir);
            // `file://relative/dir` is relative to the working directory, as Fluentd resolves
            // relative buffer and pos_file paths.
            let p = if p.is_absolute() {
                p
            } else {
                match std::env::current_dir() {
                    Ok(cwd) => cwd.join(p),
                    Err(e) => {
                        r.error_at("s3_endpoint", format!("cannot resolve {v:?} against the working directory: {e}"));
                        return None;
                    }
                }
            };
            return Some(Endpoint::LocalDir(p));
        }
        if v.is_empty() {
            r.error_at("s3_endpoint", "s3_endpoint is empty");
            return None;
        }
        if let Some((scheme, _)) = v.split_once("://")
            && scheme != "http"
            && scheme != "https"
        {
            r.error_at("s3_endpoint", format!("unsupported scheme {scheme:?} in s3_endpoint: expected https://, http:// or file:///dir"));
            return None;
        }
        let host = endpoint_host(v);
        if host.is_empty() {
            r.error_at("s3_endpoint", format!("s3_endpoint {v:?} has no host"));
            return None;
        }
        if reject_aws_endpoint(host) {
            r.error_at(
                "s3_endpoint",
                "s3_endpoint parameter is not supported for S3, use s3_region instead. This parameter is for S3 compatible services",
            );
            return None;
        }
        let url = if v.contains("://") { v.to_string() } else { format!("https://{v}") };
        Some(Endpoint::Url(url.trim_end_matches('/').to_string()))
    });
    let custom = s3_endpoint.is_some();
    let force_path_style = r.get::<bool>("force_path_style").unwrap_or(custom);
    let enable_transfer_acceleration = r.get_or("enable_transfer_acceleration", false);
    let enable_dual_stack = r.get_or("enable_dual_stack", false);
    if custom && (enable_transfer_acceleration || enable_dual_stack) {
        let k = if enable_transfer_acceleration {
            "enable_transfer_acceleration"
        } else {
            "enable_dual_stack"
        };
        r.error_at(
            k,
            format!("'{k}' applies to AWS S3 only and cannot be combined with s3_endpoint"),
        );
    }
    // `false` gives the S3 client a connector that accepts any certificate (store/
    // unverified_tls.rs), with a warning when the store is opened; `proxy_uri` still applies.
    let ssl_verify_peer = r.get_or("ssl_verify_peer", true);
    let ssl_ca_bundle = r.get::<String>("ssl_ca_bundle").map(PathBuf::from);
    let ssl_ca_directory = r.get::<String>("ssl_ca_directory").map(PathBuf::from);
    let proxy_uri = match r.get::<Secret<String>>("proxy_uri") {
        Some(raw) => match ProxyUri::parse(raw.expose()) {
            Ok(p) => Some(p),
            Err(e) => {
                r.error_at("proxy_uri", format!("invalid proxy_uri: {e}"));
                None
            }
        },
        None => None,
    };

    let path = r.get_or("path", String::new());
    let key_format_raw = r.get::<String>("s3_object_key_format");
    let check_object = r.get_or("check_object", true);
    let mut key_format = key_format_raw
        .clone()
        .unwrap_or_else(default_s3_object_key_format);
    if !check_object && key_format_raw.is_none() {
        // fluent-plugin-s3 (v1.8, out_s3.rb) switches to a key that needs no existence check,
        // with a '/' after %{path} (its documentation shows none; its code, which is what
        // td-agent wrote, has it).
        key_format = CHECK_OBJECT_FALSE_KEY_FORMAT.to_string();
    }
    let s3_object_key_format = match KeyTemplate::parse_with_path(&key_format, &path) {
        Ok(t) => Some(t),
        Err(e) => {
            let key = if key_format_raw.is_some() && KeyTemplate::parse(&key_format).is_err() {
                "s3_object_key_format"
            } else {
                "path"
            };
            r.error_at(key, e);
            None
        }
    };

    let overwrite_configured = section
        .get("overwrite")
        .is_some_and(|v| v.trim() == "true" || v.trim() == "yes");
    if let Some(t) = &s3_object_key_format
        && !check_object
    {
        warn_check_object_false(r, t, key_format_raw.is_none(), overwrite_configured);
    }
    if let Some(t) = &s3_object_key_format
        && check_object
        && !overwrite_configured
        && !t.has_index()
        && !t.has_unique_part()
    {
        let span = section
            .param("s3_object_key_format")
            .map(|p| p.key_span.clone())
            .unwrap_or_else(|| section.span.clone());
        r.warn(
            span,
            "s3_object_key_format has no %{index}, %{uuid_flush}, %{hex_random} or ${chunk_id}: a second chunk of the same \
             time slice gets the same key and its upload fails (fluent-plugin-s3's \"duplicated path is generated\")",
        );
    }

    let store_as = match r.raw("store_as") {
        None => StoreAs::Gzip,
        Some(p) => match p.value.trim() {
            "gzip" => StoreAs::Gzip,
            "zstd" => StoreAs::Zstd,
            "json" => StoreAs::Json,
            "text" => StoreAs::Text,
            "gzip_command" => {
                r.warn(p.key_span.clone(), "store_as gzip_command: logship compresses in-process; objects are the same gzip (command_parameter is ignored)");
                StoreAs::Gzip
            }
            other @ ("lzo" | "lzma2" | "parquet") => {
                r.error(
                    p.value_span.clone(),
                    format!("store_as {other:?} is not supported in logship: use gzip or zstd"),
                );
                StoreAs::Gzip
            }
            other => {
                let hint = suggest(other, ["gzip", "zstd", "json", "text"].into_iter())
                    .map(|s| format!(" (did you mean '{s}'?)"))
                    .unwrap_or_default();
                r.error(
                    p.value_span.clone(),
                    format!("invalid store_as {other:?}{hint}: expected gzip, zstd, json or text"),
                );
                StoreAs::Gzip
            }
        },
    };
    r.ignore("command_parameter", "logship compresses in-process");
    let mut zstd_level = 3;
    let mut gzip_level = 6;
    if let Some(c) = r.section_opt("compress") {
        let mut sr = SectionReader::new(c, format!("{} <compress>", r.context()));
        if let Some(l) = sr.get::<i32>("level") {
            match store_as {
                StoreAs::Zstd if !(1..=22).contains(&l) => {
                    sr.error_at("level", format!("zstd level {l} is out of range 1-22"));
                }
                StoreAs::Zstd => zstd_level = l,
                StoreAs::Gzip if !(1..=9).contains(&l) => {
                    sr.error_at("level", format!("gzip level {l} is out of range 1-9"));
                }
                StoreAs::Gzip => gzip_level = l,
                StoreAs::Json | StoreAs::Text => {
                    if let Some(p) = c.param("level") {
                        sr.warn(
                            p.key_span.clone(),
                            "<compress> level applies to store_as gzip and zstd only",
                        );
                    }
                }
            }
        }
        r.absorb(sr.finish());
    }

    let time_slice_format =
        r.get::<String>("time_slice_format")
            .and_then(|f| match Strftime::parse(&f) {
                Ok(s) => Some(s),
                Err(e) => {
                    r.error_at("time_slice_format", e);
                    None
                }
            });
    let check_bucket = r.get_or("check_bucket", true);
    let auto_create_bucket = r.get_or("auto_create_bucket", true);
    let check_apikey_on_start = r.get_or("check_apikey_on_start", true);
    let overwrite = r.get_or("overwrite", false);
    let hex_random_length = match r.get::<u32>("hex_random_length") {
        Some(n) if n > MAX_HEX_RANDOM_LENGTH as u32 => {
            r.error_at("hex_random_length", format!("hex_random_length parameter must be less than or equal to {MAX_HEX_RANDOM_LENGTH}"));
            default_hex_random_length()
        }
        Some(n) => n as u8,
        None => default_hex_random_length(),
    };
    let index_format = match r.get::<String>("index_format") {
        Some(f) => IndexFormat::parse(f.trim()).unwrap_or_else(|e| {
            r.error_at("index_format", e);
            IndexFormat::default()
        }),
        None => IndexFormat::default(),
    };
    let mut storage_class = r
        .get::<String>("storage_class")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(default_storage_class);
    if r.get_or("reduced_redundancy", false) {
        if let Some(p) = section.param("reduced_redundancy") {
            r.warn(
                p.key_span.clone(),
                "reduced_redundancy is deprecated: use storage_class REDUCED_REDUNDANCY",
            );
        }
        storage_class = "REDUCED_REDUNDANCY".to_string();
    }
    let acl = r.get::<String>("acl").map(|a| a.trim().to_string());
    if let Some(a) = &acl
        && !CANNED_ACLS.contains(&a.as_str())
    {
        let hint = suggest(a, CANNED_ACLS.iter().copied())
            .map(|s| format!(" (did you mean '{s}'?)"))
            .unwrap_or_default();
        r.error_at(
            "acl",
            format!(
                "unknown canned ACL {a:?}{hint}; expected one of: {}",
                CANNED_ACLS.join(", ")
            ),
        );
    }
    let use_server_side_encryption = r
        .get::<String>("use_server_side_encryption")
        .map(|s| s.trim().to_string());
    if let Some(s) = &use_server_side_encryption
        && !SSE_ALGORITHMS.contains(&s.as_str())
    {
        r.error_at(
            "use_server_side_encryption",
            format!(
                "invalid value {s:?}: expected one of: {}",
                SSE_ALGORITHMS.join(", ")
            ),
        );
    }
    let sse_customer_algorithm: Option<String> = r.get("sse_customer_algorithm");
    let sse_customer_key: Option<Secret<String>> = r.get("sse_customer_key");
    if sse_customer_algorithm.is_some() != sse_customer_key.is_some() {
        let k = if sse_customer_algorithm.is_some() {
            "sse_customer_algorithm"
        } else {
            "sse_customer_key"
        };
        r.error_at(k, "sse_customer_algorithm and sse_customer_key go together");
    }
    let compute_checksums = r.get("compute_checksums");
    let checksum_algorithm = match r
        .raw("checksum_algorithm")
        .map(|p| p.value.trim().to_string())
    {
        None => {
            if custom {
                ChecksumPolicy::WhenRequired
            } else {
                ChecksumPolicy::WhenSupported
            }
        }
        Some(_) => match r
            .choice(
                "checksum_algorithm",
                &["when_required", "when_supported"],
                "when_supported",
            )
            .as_str()
        {
            "when_required" => ChecksumPolicy::WhenRequired,
            _ => ChecksumPolicy::WhenSupported,
        },
    };
    let signature_version = r
        .raw("signature_version")
        .map(|_| r.choice("signature_version", &["v4", "s3"], "v4"));
    if signature_version.as_deref() == Some("s3")
        && let Some(p) = section.param("signature_version")
    {
        r.warn(
            p.key_span.clone(),
            "signature_version s3 (SigV2): logship always signs with Signature Version 4",
        );
    }
    let warn_for_delay = r.get("warn_for_delay");
    let tagging = r.get("tagging");
    let s3_metadata: Vec<(String, String)> = r.get("s3_metadata").unwrap_or_default();
    const MIN_PART: u64 = 5 << 20;
    let size_param =
        |r: &mut SectionReader<'_>, name: &str, default: u64| match r
            .get::<logship_api::config::ByteSize>(name)
        {
            Some(b) if b.0 < MIN_PART => {
                r.error_at(
                    name,
                    format!("{name} must be at least 5m (S3's minimum part size)"),
                );
                default
            }
            Some(b) => b.0,
            None => default,
        };
    let multipart_threshold = size_param(r, "multipart_threshold", 64 << 20);
    let multipart_chunk_size = size_param(r, "multipart_chunk_size", 16 << 20);
    let mut bucket_lifecycle_rules = Vec::new();
    for s in r.sections("bucket_lifecycle_rule") {
        let mut sr = SectionReader::new(s, format!("{} <bucket_lifecycle_rule>", r.context()));
        let id = sr.required::<String>("id");
        let prefix = sr.get_or("prefix", String::new());
        let days = sr.required::<u32>("expiration_days");
        if days == Some(0) {
            sr.error_at("expiration_days", "expiration_days must be at least 1");
        }
        if let Some(dup) = id.as_ref().filter(|id| {
            bucket_lifecycle_rules
                .iter()
                .any(|r: &BucketLifecycleRule| r.id == **id)
        }) {
            sr.error_at(
                "id",
                format!(
                    "another <bucket_lifecycle_rule> has the id {dup:?}: rule ids must be unique"
                ),
            );
        }
        if let (false, Some(id), Some(expiration_days)) = (sr.has_errors(), id, days) {
            bucket_lifecycle_rules.push(BucketLifecycleRule {
                id,
                prefix,
                expiration_days,
            });
        }
        r.absorb(sr.finish());
    }

    // Sections the engine reads; the plugin only accepts them.
    r.sections("inject");
    r.sections("buffer");
    r.sections("secondary");
    let format_type = r
        .sections("format")
        .first()
        .and_then(|f| f.plugin_type().map(|p| p.value.trim().to_string()))
        .unwrap_or_else(|| "out_file".to_string());

    // A key that is unsafe whatever the chunk (leading '/', '..' in path) is a config error.
    if let (Some(t), Some(tsf)) = (&s3_object_key_format, Strftime::parse("%Y%m%d%H").ok()) {
        let vars = BTreeMap::new();
        let idx = IndexFormat::default();
        let sample = KeyVars {
            path: &path,
            timekey: chrono::DateTime::from_timestamp(0, 0).map(|t| t.fixed_offset()),
            time_slice_format: time_slice_format.as_ref().unwrap_or(&tsf),
            index: 0,
            index_format: &idx,
            file_extension: store_as.extension(),
            uuid_flush: Some("u"),
            hex_random: "h",
            hostname,
            hms_slice: Some("000000"),
            tag: Some("tag"),
            chunk_id: "c",
            variables: &vars,
        };
        if let Err(e) = t.render_sample(&sample) {
            let key = if key_format_raw.is_some() {
                "s3_object_key_format"
            } else {
                "path"
            };
            r.error_at(key, e.to_string());
        }
    }

    let grant_full_control = r.get("grant_full_control");
    let grant_read = r.get("grant_read");
    let grant_read_acp = r.get("grant_read_acp");
    let grant_write_acp = r.get("grant_write_acp");
    let ssekms_key_id = r.get("ssekms_key_id");
    let sse_customer_key_md5 = r.get("sse_customer_key_md5");
    let s3_bucket = s3_bucket?;
    let s3_object_key_format = s3_object_key_format?;
    Some(S3Config {
        aws_key_id,
        aws_sec_key,
        aws_profile,
        assume_role_credentials,
        web_identity_credentials,
        instance_profile_credentials,
        shared_credentials,
        s3_bucket,
        s3_region,
        s3_endpoint,
        force_path_style,
        enable_transfer_acceleration,
        enable_dual_stack,
        ssl_verify_peer,
        ssl_ca_bundle,
        ssl_ca_directory,
        proxy_uri,
        path,
        s3_object_key_format,
        store_as,
        zstd_level,
        gzip_level,
        time_slice_format,
        check_object,
        check_bucket,
        auto_create_bucket,
        check_apikey_on_start,
        overwrite,
        hex_random_length,
        index_format,
        storage_class,
        acl,
        grant_full_control,
        grant_read,
        grant_read_acp,
        grant_write_acp,
        use_server_side_encryption,
        ssekms_key_id,
        sse_customer_algorithm,
        sse_customer_key,
        sse_customer_key_md5,
        compute_checksums,
        checksum_algorithm,
        signature_version,
        warn_for_delay,
        tagging,
        s3_metadata,
        multipart_threshold,
        multipart_chunk_size,
        bucket_lifecycle_rules,
        format_type,
    })
}

/// An empty `<format>` section at `span`, for building the default formatter.
pub fn empty_format_section(span: Span) -> Section {
    Section::new("format", "", span)
}

/// Reads a `<match>` section of type s3 into a configuration (for tools and tests that need
/// the configuration without the output: e.g. to open the same store).
pub fn from_section(
    section: &Section,
    hostname: &str,
) -> Result<S3Config, logship_api::ConfigErrors> {
    let mut r = SectionReader::new(section, "out_s3");
    let config = read(&mut r, hostname);
    r.sections("format");
    r.finish()?;
    config.ok_or_else(|| {
        logship_api::ConfigErrors::one(section.span.clone(), "out_s3: invalid configuration")
    })
}
