//! [`S3Store`]: AWS S3 or an S3-compatible service through `aws-sdk-s3`.
//!
//! Built from the out_s3 configuration ([`S3Store::from_config`]):
//!
//! * **endpoint**: `s3_endpoint` (a scheme-less value got `https://` at configure time), with
//!   `force_path_style`; otherwise AWS S3 in `s3_region` (`enable_transfer_acceleration`,
//!   `enable_dual_stack` apply there);
//! * **credentials**, first that applies: `aws_key_id`/`aws_sec_key`;
//!   `<assume_role_credentials>` (STS AssumeRole on top of the default chain);
//!   `<web_identity_credentials>`; `<instance_profile_credentials>` (IMDSv2);
//!   `<shared_credentials>` (a credentials file and profile); `aws_profile`; otherwise the AWS
//!   default chain (environment, profile, SSO, web identity, ECS, IMDSv2);
//! * **TLS**: rustls with the system roots, plus `ssl_ca_bundle` / `ssl_ca_directory` PEM files.
//!   A certificate that is not accepted fails the request as retryable, with a message that
//!   says to trust the CA: the chunk waits in the buffer until the CA is given or the server's
//!   certificate is fixed, rather than going to the backup directory. `ssl_verify_peer false` gives the S3 client (only
//!   it: the credential providers keep verifying) its own HTTP client that accepts any
//!   certificate and host name ([`super::unverified_tls`], `proxy_uri` honoured the same way),
//!   with one warning when the store is opened;
//! * **proxy**: `proxy_uri` sends every S3 request through that forward proxy: absolute-form
//!   requests for an `http://` endpoint, `CONNECT` tunnels for `https://`; credentials in the
//!   URI become `Proxy-Authorization: Basic`. The credential providers (IMDS, ECS, web
//!   identity) connect directly, as fluent-plugin-s3's do; STS AssumeRole goes through
//!   `sts_http_proxy` when set, and to `sts_endpoint_url` when set (`store/sts.rs`).
//!   Without `proxy_uri` the connection is direct and `HTTP(S)_PROXY` / `NO_PROXY` are ignored
//!   (the AWS SDK's own default client would honour them; logship keeps the behaviour it had
//!   before `proxy_uri`, and a proxy is opted into explicitly, as in fluent-plugin-s3);
//! * **checksums**: `checksum_algorithm` (`when_required` by default for custom endpoints,
//!   because many S3-compatible services reject the SDK's newer checksum trailers);
//! * **uploads** carry `storage_class` (unless STANDARD), `acl`, `grant_*`, server-side
//!   encryption (`use_server_side_encryption`, `ssekms_key_id`, SSE-C), `tagging` and the user
//!   metadata the caller passes.
//!
//! Errors are classified by [`classify`]: throttling, timeouts, 5xx, clock skew and expired
//! tokens are retryable; access denied, invalid credentials, signature mismatches and invalid
//! requests are not; NoSuchBucket is reported as such so that the output can create the bucket.

use super::{Body, ListPage, ObjectInfo, ObjectStore, PutObject, PutOutcome, StoreError};
use crate::config::{ChecksumPolicy, Endpoint, S3Config};
use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation, SharedHttpClient,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, ObjectCannedAcl, ServerSideEncryption,
    StorageClass,
};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls;
use std::collections::HashMap;
use std::time::Duration;

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Upload settings taken from the configuration.
#[derive(Debug, Clone, Default)]
struct PutSettings {
    storage_class: Option<String>,
    acl: Option<String>,
    grant_full_control: Option<String>,
    grant_read: Option<String>,
    grant_read_acp: Option<String>,
    grant_write_acp: Option<String>,
    sse: Option<String>,
    ssekms_key_id: Option<logship_api::Secret<String>>,
    sse_customer_algorithm: Option<String>,
    sse_customer_key: Option<logship_api::Secret<String>>,
    sse_customer_key_md5: Option<logship_api::Secret<String>>,
    tagging: Option<String>,
}

/// AWS S3 or an S3-compatible service (see the module doc).
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    region: String,
    endpoint: Option<String>,
    put: PutSettings,
    multipart_threshold: u64,
    part_size: u64,
}

/// Parts uploaded at once in a multipart upload.
const PARALLEL_PARTS: usize = 4;

/// The object settings of `p` (`PutParams`: storage class, ACL and grants, encryption, tagging)
/// on an upload request builder: `PutObject` and `CreateMultipartUpload` take the same ones.
macro_rules! with_put_params {
    ($builder:expr, $p:expr) => {{
        let p = $p;
        $builder
            .set_storage_class(p.storage_class.as_deref().map(StorageClass::from))
            .set_acl(p.acl.as_deref().map(ObjectCannedAcl::from))
            .set_grant_full_control(p.grant_full_control.clone())
            .set_grant_read(p.grant_read.clone())
            .set_grant_read_acp(p.grant_read_acp.clone())
            .set_grant_write_acp(p.grant_write_acp.clone())
            .set_server_side_encryption(p.sse.as_deref().map(ServerSideEncryption::from))
            .set_ssekms_key_id(p.ssekms_key_id.as_ref().map(|s| s.expose().clone()))
            .set_sse_customer_algorithm(p.sse_customer_algorithm.clone())
            .set_sse_customer_key(p.sse_customer_key.as_ref().map(|s| s.expose().clone()))
            .set_sse_customer_key_md5(p.sse_customer_key_md5.as_ref().map(|s| s.expose().clone()))
            .set_tagging(p.tagging.clone())
    }};
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

fn read_pem_files(config: &S3Config) -> Result<Vec<Vec<u8>>, String> {
    let mut pems = Vec::new();
    if let Some(p) = &config.ssl_ca_bundle {
        pems.push(std::fs::read(p).map_err(|e| format!("ssl_ca_bundle {}: {e}", p.display()))?);
    }
    if let Some(dir) = &config.ssl_ca_directory {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("ssl_ca_directory {}: {e}", dir.display()))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let is_cert = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "pem" | "crt" | "cer"));
            if is_cert && path.is_file() {
                pems.push(
                    std::fs::read(&path)
                        .map_err(|e| format!("ssl_ca_directory {}: {e}", path.display()))?,
                );
            }
        }
    }
    Ok(pems)
}

/// An HTTPS-capable client (rustls, `tls_context`) going through `proxy`. A connector is made
/// per (timeout settings, runtime components), as the SDK's default client does, with the proxy
/// set explicitly: `ProxyConfig::disabled()` means direct, whatever the environment says.
fn https_client(tls_context: tls::TlsContext, proxy: ProxyConfig) -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut b = aws_smithy_http_client::Connector::builder()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .tls_context(tls_context.clone())
            .proxy_config(proxy.clone());
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.build()
    })
}

/// The S3 client's HTTP client for `ssl_verify_peer false` (any certificate accepted; see
/// [`super::unverified_tls`]), through `proxy_uri` when set. Logs the one warning about it.
fn unverified_client(
    config: &S3Config,
    endpoint: Option<&str>,
) -> Result<SharedHttpClient, StoreError> {
    let proxy = match &config.proxy_uri {
        // `p.url` carries no credentials, so the error cannot show them.
        Some(p) => Some(
            super::unverified_tls::Proxy::new(
                &p.url,
                p.basic_auth
                    .as_ref()
                    .map(|(user, password)| (user.as_str(), password.expose().as_str())),
            )
            .map_err(|e| StoreError::Unrecoverable(format!("out_s3: proxy_uri {e}")))?,
        ),
        None => None,
    };
    // An `https://` proxy is still verified, with the configured CAs too.
    let pems = read_pem_files(config).map_err(StoreError::Unrecoverable)?;
    let client = super::unverified_tls::http_client(proxy, &pems)
        .map_err(|e| StoreError::Unrecoverable(format!("out_s3: {e}")))?;
    tracing::warn!(
        endpoint = endpoint.unwrap_or("AWS S3"),
        "out_s3: ssl_verify_peer false: the S3 endpoint's TLS certificate is NOT verified (any certificate, any host name); whoever can intercept the connection can read and alter uploads; prefer trusting the endpoint's CA with ssl_ca_bundle"
    );
    Ok(client)
}

/// The proxy of the S3 client: `proxy_uri`, else none (the environment is not consulted).
fn proxy_config(config: &S3Config) -> Result<Option<ProxyConfig>, StoreError> {
    let Some(p) = &config.proxy_uri else {
        return Ok(None);
    };
    // `p.url` carries no credentials, so the error cannot show them.
    let mut cfg = ProxyConfig::all(p.url.as_str())
        .map_err(|e| StoreError::Unrecoverable(format!("out_s3: proxy_uri {}: {e}", p.url)))?;
    if let Some((user, password)) = &p.basic_auth {
        cfg = super::sts::with_basic_auth(cfg, user, password.expose());
    }
    Ok(Some(cfg))
}

impl S3Store {
    /// Builds the client. Errors are configuration problems the SDK cannot work with (refused
    /// options, unreadable CA files); they never contain a credential.
    pub async fn from_config(config: &S3Config) -> Result<Self, StoreError> {
        let endpoint = match &config.s3_endpoint {
            Some(Endpoint::Url(u)) => Some(u.clone()),
            Some(Endpoint::LocalDir(_)) => {
                return Err(StoreError::Unrecoverable(
                    "internal: a file:// endpoint is served by the local directory store".into(),
                ));
            }
            None => None,
        };
        let proxy = proxy_config(config)?;
        let pems = read_pem_files(config).map_err(StoreError::Unrecoverable)?;
        let mut trust = tls::TrustStore::default();
        for pem in pems {
            trust.add_pem_certificate(pem);
        }
        let tls_context = tls::TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .map_err(|e| StoreError::Unrecoverable(format!("out_s3: TLS setup: {e}")))?;
        // The credential providers (IMDS, ECS, STS, web identity) connect directly, as
        // fluent-plugin-s3's do (proxy_uri is the S3 client's `http_proxy`): a metadata address
        // must never go to a proxy. Only the S3 client gets `proxy_uri`, and only AssumeRole's
        // STS client `sts_http_proxy`.
        let http_client = https_client(tls_context.clone(), ProxyConfig::disabled());
        // STS (AssumeRole) goes through `sts_http_proxy` when set (store/sts.rs).
        let sts_http_client =
            match super::sts::sts_proxy_config(config.assume_role_credentials.as_ref())? {
                Some(p) => https_client(tls_context.clone(), p),
                None => http_client.clone(),
            };
        let s3_http_client = if config.ssl_verify_peer {
            match proxy {
                Some(p) => https_client(tls_context, p),
                None => http_client.clone(),
            }
        } else {
            unverified_client(config, endpoint.as_deref())?
        };

        let region = Region::new(config.s3_region.clone());
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .operation_attempt_timeout(Duration::from_secs(600))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region.clone())
            .http_client(http_client.clone())
            .timeout_config(timeouts);
        if let Some(p) = &config.aws_profile {
            loader = loader.profile_name(p);
        }
        if let (Some(k), Some(s)) = (&config.aws_key_id, &config.aws_sec_key) {
            loader = loader.credentials_provider(Credentials::new(
                k.expose().clone(),
                s.expose().clone(),
                None,
                None,
                "logship-config",
            ));
        } else if let Some(sc) = &config.shared_credentials {
            use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
            let mut b = aws_config::profile::ProfileFileCredentialsProvider::builder();
            if let Some(path) = &sc.path {
                b = b.profile_files(
                    EnvConfigFiles::builder()
                        .with_file(EnvConfigFileKind::Credentials, path)
                        .build(),
                );
            }
            if let Some(name) = &sc.profile_name {
                b = b.profile_name(name);
            }
            loader = loader.credentials_provider(b.build());
        } else if let Some(ip) = &config.instance_profile_credentials {
            let mut imds = aws_config::imds::Client::builder();
            if let Some(r) = ip.retries {
                imds = imds.max_attempts(r.saturating_add(1));
            }
            if let Some(t) = ip.http_open_timeout {
                imds = imds.connect_timeout(Duration::from_secs_f64(t.max(0.0)));
            }
            if let Some(t) = ip.http_read_timeout {
                imds = imds.read_timeout(Duration::from_secs_f64(t.max(0.0)));
            }
            if ip.ip_address.is_some() || ip.port.is_some() {
                let url = format!(
                    "http://{}:{}",
                    ip.ip_address.as_deref().unwrap_or("169.254.169.254"),
                    ip.port.unwrap_or(80)
                );
                imds = imds.endpoint(&url).map_err(|e| {
                    StoreError::Unrecoverable(format!(
                        "out_s3 <instance_profile_credentials>: invalid endpoint {url}: {e}"
                    ))
                })?;
            }
            loader = loader.credentials_provider(
                aws_config::imds::credentials::ImdsCredentialsProvider::builder()
                    .imds_client(imds.build())
                    .build(),
            );
        } else if let Some(wi) = &config.web_identity_credentials {
            let provider_config = aws_config::provider_config::ProviderConfig::default()
                .with_region(Some(Region::new(
                    wi.sts_region.clone().unwrap_or(config.s3_region.clone()),
                )))
                .with_http_client(http_client.clone());
            let mut b =
                aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder()
                    .configure(&provider_config)
                    .static_configuration(aws_config::web_identity_token::StaticConfiguration {
                        web_identity_token_file: wi.web_identity_token_file.clone(),
                        role_arn: wi.role_arn.clone(),
                        session_name: wi.role_session_name.clone(),
                    });
            if let Some(p) = &wi.policy {
                b = b.policy(p);
            }
            loader = loader.credentials_provider(b.build());
        }
        let mut sdk_config = loader.load().await;
        if let Some(ar) = &config.assume_role_credentials {
            let mut b = aws_config::sts::AssumeRoleProvider::builder(ar.role_arn.expose().clone())
                .session_name(ar.role_session_name.clone())
                .region(Region::new(
                    ar.sts_region.clone().unwrap_or(config.s3_region.clone()),
                ))
                .configure(&super::sts::sts_sdk_config(
                    &sdk_config,
                    ar,
                    sts_http_client.clone(),
                ));
            if let Some(id) = &ar.external_id {
                b = b.external_id(id.expose().clone());
            }
            if let Some(p) = &ar.policy {
                b = b.policy(p);
            }
            if let Some(d) = ar.duration_seconds {
                b = b.session_length(Duration::from_secs(u64::from(d)));
            }
            let provider = b.build().await;
            let mut builder = sdk_config.to_builder();
            builder.set_credentials_provider(Some(
                aws_sdk_s3::config::SharedCredentialsProvider::new(provider),
            ));
            sdk_config = builder.build();
        }

        let (req_ck, resp_ck) = match config.checksum_algorithm {
            ChecksumPolicy::WhenRequired => (
                RequestChecksumCalculation::WhenRequired,
                ResponseChecksumValidation::WhenRequired,
            ),
            ChecksumPolicy::WhenSupported => (
                RequestChecksumCalculation::WhenSupported,
                ResponseChecksumValidation::WhenSupported,
            ),
        };
        let mut s3 = aws_sdk_s3::config::Builder::from(&sdk_config)
            .http_client(s3_http_client)
            .force_path_style(config.force_path_style)
            .accelerate(config.enable_transfer_acceleration)
            .use_dual_stack(config.enable_dual_stack)
            .request_checksum_calculation(req_ck)
            .response_checksum_validation(resp_ck);
        if let Some(url) = &endpoint {
            s3 = s3.endpoint_url(url);
        }
        let put = PutSettings {
            storage_class: Some(config.storage_class.clone()).filter(|s| s != "STANDARD"),
            acl: config.acl.clone(),
            grant_full_control: config.grant_full_control.clone(),
            grant_read: config.grant_read.clone(),
            grant_read_acp: config.grant_read_acp.clone(),
            grant_write_acp: config.grant_write_acp.clone(),
            sse: config.use_server_side_encryption.clone(),
            ssekms_key_id: config.ssekms_key_id.clone(),
            sse_customer_algorithm: config.sse_customer_algorithm.clone(),
            sse_customer_key: config.sse_customer_key.clone(),
            sse_customer_key_md5: config.sse_customer_key_md5.clone(),
            tagging: config.tagging.clone(),
        };
        Ok(Self {
            client: Client::from_conf(s3.build()),
            bucket: config.s3_bucket.clone(),
            region: config.s3_region.clone(),
            endpoint,
            put,
            multipart_threshold: config.multipart_threshold,
            part_size: config.multipart_chunk_size.max(5 << 20),
        })
    }

    /// A multipart upload of `object`: create, parts (a few in parallel), complete (with
    /// `If-None-Match: *` unless `replace`); aborted on any failure so no incomplete upload is
    /// left behind.
    async fn put_multipart(
        &self,
        object: &PutObject<'_>,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        let p = &self.put;
        let ctx = self.context("CreateMultipartUpload", object.key);
        let metadata: HashMap<String, String> = object
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let created = self.client.create_multipart_upload();
        let created = with_put_params!(created, p)
            .bucket(&self.bucket)
            .key(object.key)
            .content_type(object.content_type)
            .set_metadata(Some(metadata))
            .send()
            .await
            .map_err(|e| classify(&ctx, &e))?;
        let Some(upload_id) = created.upload_id().map(str::to_string) else {
            return Err(StoreError::Retryable(format!(
                "{ctx}: no upload id in the answer"
            )));
        };
        let result = self
            .multipart_parts_and_complete(object, &upload_id, replace)
            .await;
        let abort = match &result {
            Ok(PutOutcome::Created) => false,
            Ok(PutOutcome::AlreadyExists) | Err(_) => true,
        };
        if abort {
            let r = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(object.key)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = r {
                tracing::warn!(
                    "{}: the incomplete upload {upload_id} could not be aborted (a bucket lifecycle rule \
                     for incomplete multipart uploads cleans it up)",
                    classify(&self.context("AbortMultipartUpload", object.key), &e)
                );
            }
        }
        result
    }

    async fn multipart_parts_and_complete(
        &self,
        object: &PutObject<'_>,
        upload_id: &str,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let body: Body = object.body.clone();
        let part_size = self.part_size;
        let total = body.len();
        let ranges: Vec<(i32, u64, u64)> = (0..total)
            .step_by(part_size as usize)
            .enumerate()
            .map(|(i, start)| (i as i32 + 1, start, part_size.min(total - start)))
            .collect();
        let mut parts: Vec<CompletedPart> = Vec::with_capacity(ranges.len());
        let mut running = tokio::task::JoinSet::new();
        let mut pending = ranges.into_iter();
        loop {
            while running.len() < PARALLEL_PARTS {
                let Some((n, start, len)) = pending.next() else {
                    break;
                };
                let client = self.client.clone();
                let bucket = self.bucket.clone();
                let key = object.key.to_string();
                let upload_id = upload_id.to_string();
                let ctx = self.context(&format!("UploadPart {n}"), object.key);
                let chunk = byte_stream(&body, start, len, &ctx).await?;
                let sse = (
                    self.put.sse_customer_algorithm.clone(),
                    self.put
                        .sse_customer_key
                        .as_ref()
                        .map(|s| s.expose().clone()),
                    self.put
                        .sse_customer_key_md5
                        .as_ref()
                        .map(|s| s.expose().clone()),
                );
                running.spawn(async move {
                    let out = client
                        .upload_part()
                        .bucket(bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(n)
                        .content_length(len as i64)
                        .body(chunk)
                        .set_sse_customer_algorithm(sse.0)
                        .set_sse_customer_key(sse.1)
                        .set_sse_customer_key_md5(sse.2)
                        .send()
                        .await
                        .map_err(|e| classify(&ctx, &e))?;
                    Ok::<_, StoreError>(
                        CompletedPart::builder()
                            .part_number(n)
                            .set_e_tag(out.e_tag().map(str::to_string))
                            .build(),
                    )
                });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let part =
                done.map_err(|e| StoreError::Retryable(format!("upload task failed: {e}")))??;
            parts.push(part);
        }
        parts.sort_by_key(|p| p.part_number());
        let ctx = self.context("CompleteMultipartUpload", object.key);
        let mut req = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(object.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            );
        if !replace {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) if !replace && is_not_implemented(&e) => {
                Err(StoreError::ConditionalUnsupported(format!(
                    "{}: the store does not support If-None-Match",
                    self.describe()
                )))
            }
            Err(e) => Err(classify(&ctx, &e)),
        }
    }

    fn put_request(
        &self,
        object: &PutObject<'_>,
        stream: ByteStream,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let p = &self.put;
        let metadata: HashMap<String, String> = object
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let put = self.client.put_object();
        with_put_params!(put, p)
            .bucket(&self.bucket)
            .key(object.key)
            .content_type(object.content_type)
            .content_length(object.body.len() as i64)
            .set_metadata(Some(metadata))
            .body(stream)
    }

    fn context(&self, op: &str, key: &str) -> String {
        format!("{}: {op} {key:?}", self.describe())
    }
}

/// A request body for `body[start..start + len]`; a file is read (and re-read on an SDK retry)
/// from disk.
async fn byte_stream(
    body: &Body,
    start: u64,
    len: u64,
    ctx: &str,
) -> Result<ByteStream, StoreError> {
    match body {
        Body::Bytes(b) => Ok(ByteStream::from(
            b.slice(start as usize..(start + len) as usize),
        )),
        Body::File(path, _) => ByteStream::read_from()
            .path(path.to_path_buf())
            .offset(start)
            .length(aws_sdk_s3::primitives::Length::Exact(len))
            .build()
            .await
            .map_err(|e| StoreError::Retryable(format!("{ctx}: reading the spooled body: {e}"))),
    }
}

/// What an S3 error means for the caller.
pub(crate) fn classify<E>(context: &str, err: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => StoreError::Unrecoverable(format!(
            "{context}: the request could not be built: {}",
            DisplayErrorContext(err)
        )),
        SdkError::TimeoutError(_) => StoreError::Retryable(format!("{context}: timed out")),
        SdkError::DispatchFailure(d) if d.is_user() => StoreError::Unrecoverable(format!(
            "{context}: the request could not be sent: {}",
            DisplayErrorContext(err)
        )),
        SdkError::DispatchFailure(_) if certificate_error(err).is_some() => {
            let why = certificate_error(err)
                .map(|e| e.to_string())
                .unwrap_or_default();
            // Retryable: the chunk stays in the buffer (not in the backup directory) while
            // the operator adds the CA or the server's certificate is renewed.
            StoreError::Retryable(format!(
                "{context}: the endpoint's TLS certificate was not accepted ({why}): trust its CA with ssl_ca_bundle or ssl_ca_directory"
            ))
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => StoreError::Retryable(
            format!("{context}: connection failed: {}", DisplayErrorContext(err)),
        ),
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().unwrap_or("");
            let message = se.err().message().unwrap_or("");
            classify_service(context, status, code, message)
        }
        _ => StoreError::Retryable(format!("{context}: {}", DisplayErrorContext(err))),
    }
}

/// The rustls certificate error in `err`'s source chain (looking inside `io::Error`s, where
/// hyper-rustls nests it), if the connection failed because the certificate was refused.
fn certificate_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    std::iter::successors(Some(err), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &(dyn std::error::Error + 'static)),
        None => e.source(),
    })
    .filter_map(|e| e.downcast_ref::<rustls::Error>())
    .find(|e| {
        matches!(
            e,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
    })
}

/// Error codes that a later attempt may not get.
const RETRYABLE_CODES: &[&str] = &[
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequests",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InternalError",
    "ServiceUnavailable",
    "OperationAborted",
    "ConditionalRequestConflict",
    "BadDigest",
    "IncompleteBody",
];

fn classify_service(context: &str, status: u16, code: &str, message: &str) -> StoreError {
    let what = match (code.is_empty(), message.is_empty()) {
        (true, _) => format!("HTTP {status}"),
        (false, true) => format!("HTTP {status} {code}"),
        (false, false) => format!("HTTP {status} {code}: {message}"),
    };
    let msg = format!("{context}: {what}");
    if code == "NoSuchBucket" {
        StoreError::NoSuchBucket(msg)
    } else if RETRYABLE_CODES.contains(&code) || status >= 500 || matches!(status, 408 | 409 | 429)
    {
        StoreError::Retryable(msg)
    } else {
        StoreError::Unrecoverable(msg)
    }
}

fn is_not_implemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 501 || se.err().code() == Some("NotImplemented")
        }
        _ => false,
    }
}

fn is_precondition_failed<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err {
        SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 412 || se.err().code() == Some("PreconditionFailed")
        }
        _ => false,
    }
}

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        _ => None,
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn describe(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("s3://{} at {e}", self.bucket),
            None => format!("s3://{} ({})", self.bucket, self.region),
        }
    }

    async fn put_if_absent(&self, object: PutObject<'_>) -> Result<PutOutcome, StoreError> {
        if object.body.len() > self.multipart_threshold {
            return self.put_multipart(&object, false).await;
        }
        let ctx = self.context("PutObject", object.key);
        let stream = byte_stream(&object.body, 0, object.body.len(), &ctx).await?;
        match self
            .put_request(&object, stream)
            .if_none_match("*")
            .send()
            .await
        {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) if is_precondition_failed(&e) => Ok(PutOutcome::AlreadyExists),
            Err(e) if is_not_implemented(&e) => Err(StoreError::ConditionalUnsupported(format!(
                "{}: the store does not support If-None-Match",
                self.describe()
            ))),
            Err(e) => Err(classify(&self.context("PutObject", object.key), &e)),
        }
    }

    async fn put(&self, object: PutObject<'_>) -> Result<(), StoreError> {
        if object.body.len() > self.multipart_threshold {
            return self.put_multipart(&object, true).await.map(|_| ());
        }
        let ctx = self.context("PutObject", object.key);
        let stream = byte_stream(&object.body, 0, object.body.len(), &ctx).await?;
        self.put_request(&object, stream)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.context("PutObject", object.key), &e))
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let mut req = self.client.head_object().bucket(&self.bucket).key(key);
        if let (Some(a), Some(k)) = (&self.put.sse_customer_algorithm, &self.put.sse_customer_key) {
            req = req
                .sse_customer_algorithm(a)
                .sse_customer_key(k.expose())
                .set_sse_customer_key_md5(
                    self.put
                        .sse_customer_key_md5
                        .as_ref()
                        .map(|s| s.expose().clone()),
                );
        }
        match req.send().await {
            Ok(out) => Ok(Some(ObjectInfo {
                size: out.content_length().unwrap_or(0).max(0) as u64,
                content_type: out.content_type().map(str::to_string),
                metadata: out
                    .metadata()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(classify(&self.context("HeadObject", key), &e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let ctx = self.context("GetObject", key);
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes =
                    out.body.collect().await.map_err(|e| {
                        StoreError::Retryable(format!("{ctx}: reading the body: {e}"))
                    })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(classify(&ctx, &e)),
        }
    }

    async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage, StoreError> {
        let ctx = self.context("ListObjectsV2", prefix);
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(max_keys.max(1)).unwrap_or(i32::MAX))
            .set_continuation_token(token.map(str::to_string))
            .send()
            .await
            .map_err(|e| {
                if is_not_implemented(&e) {
                    // 501 would otherwise read as a retryable 5xx: listing will not start to
                    // work on this store.
                    StoreError::Unrecoverable(format!(
                        "{ctx}: the store does not implement ListObjectsV2"
                    ))
                } else {
                    classify(&ctx, &e)
                }
            })?;
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        let next = if out.is_truncated() == Some(true) {
            out.next_continuation_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        } else {
            None
        };
        Ok(ListPage { keys, next })
    }

    async fn ensure_bucket(&self, create: bool) -> Result<(), StoreError> {
        let ctx = self.context("HeadBucket", "");
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => return Ok(()),
            Err(e) if status_of(&e) == Some(404) => {
                if !create {
                    return Err(StoreError::NoSuchBucket(format!(
                        "{}: the bucket does not exist (auto_create_bucket is false)",
                        self.describe()
                    )));
                }
            }
            Err(e) => return Err(classify(&ctx, &e)),
        }
        let mut req = self.client.create_bucket().bucket(&self.bucket);
        if self.region != "us-east-1" && self.endpoint.is_none() {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "out_s3: created the bucket");
                Ok(())
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(classify(&self.context("CreateBucket", ""), &e)),
        }
    }

    async fn ensure_lifecycle_rules(
        &self,
        rules: &[crate::config::BucketLifecycleRule],
    ) -> Result<super::LifecycleOutcome, StoreError> {
        super::lifecycle::ensure_s3(&self.client, &self.bucket, &self.describe(), rules).await
    }

    async fn check_credentials(&self) -> Result<(), StoreError> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .max_keys(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.context("ListObjectsV2", ""), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_are_classified() {
        let c = |status, code| classify_service("ctx", status, code, "m");
        assert!(matches!(c(503, "SlowDown"), StoreError::Retryable(_)));
        assert!(matches!(c(500, ""), StoreError::Retryable(_)));
        assert!(matches!(c(429, ""), StoreError::Retryable(_)));
        assert!(matches!(
            c(403, "RequestTimeTooSkewed"),
            StoreError::Retryable(_)
        ));
        assert!(matches!(c(400, "ExpiredToken"), StoreError::Retryable(_)));
        assert!(matches!(
            c(403, "AccessDenied"),
            StoreError::Unrecoverable(_)
        ));
        assert!(matches!(
            c(403, "InvalidAccessKeyId"),
            StoreError::Unrecoverable(_)
        ));
        assert!(matches!(
            c(403, "SignatureDoesNotMatch"),
            StoreError::Unrecoverable(_)
        ));
        assert!(matches!(
            c(404, "NoSuchBucket"),
            StoreError::NoSuchBucket(_)
        ));
        assert!(matches!(
            c(400, "KeyTooLongError"),
            StoreError::Unrecoverable(_)
        ));
        assert_eq!(
            c(403, "AccessDenied").to_string(),
            "ctx: HTTP 403 AccessDenied: m"
        );
    }
}
