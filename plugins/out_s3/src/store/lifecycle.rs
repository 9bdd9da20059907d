//! `<bucket_lifecycle_rule>`: the bucket's lifecycle configuration, ensured when out_s3 starts,
//! as fluent-plugin-s3's `ensure_bucket_lifecycle` does.
//!
//! * At every start, when at least one `<bucket_lifecycle_rule>` is configured, whatever
//!   `check_bucket` and `auto_create_bucket` say (after the bucket and credential checks when
//!   those are on): **GetBucketLifecycleConfiguration**; `NoSuchLifecycleConfiguration` means no
//!   rules.
//! * The bucket's rules are compared with the configured ones, by rule id, as fluent-plugin-s3
//!   compares them: id, prefix, `Expiration.Days` and status `Enabled` (the prefix is read from
//!   `Filter.Prefix` or from the older top-level `Prefix`, which fluent-plugin-s3 writes, so
//!   rules td-agent put compare equal). Equal sets: nothing is written, so a restart or a fleet
//!   of agents with the same configuration costs one GET each.
//! * Otherwise **PutBucketLifecycleConfiguration** with exactly the configured rules (sorted by
//!   id; `Filter.Prefix`, `Expiration.Days`, `Enabled`). As in fluent-plugin-s3 this replaces the
//!   bucket's whole lifecycle configuration: rules with other ids are removed, and logship logs
//!   a warning naming them.
//! * The API requires a body checksum: the SDK adds `x-amz-checksum-crc32` (also with
//!   `checksum_algorithm when_required`, since the operation requires one), and logship adds
//!   `Content-MD5` too, which stores that predate the flexible checksums require for this call.
//! * A store that does not implement the lifecycle API (`501 NotImplemented`, as s3s-fs) and the
//!   local directory store cannot expire objects: [`LifecycleOutcome::Unsupported`], which the
//!   output logs as a warning at start; it is not an error. Any other failure (access denied,
//!   no such bucket, a malformed rule) is returned, and the output's start reports it.

use super::StoreError;
use super::s3::classify;
use crate::config::BucketLifecycleRule;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};

/// What [`super::ObjectStore::ensure_lifecycle_rules`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleOutcome {
    /// The bucket already had exactly the configured rules: nothing was written.
    Unchanged,
    /// The configured rules were written (PutBucketLifecycleConfiguration).
    Applied {
        /// Ids of the bucket's earlier rules that the configuration does not have, now gone.
        removed: Vec<String>,
    },
    /// The store cannot expire objects; the reason, for a warning.
    Unsupported(String),
}

/// A rule reduced to what fluent-plugin-s3 compares: (id, prefix, expiration days, enabled).
type Comparable = (String, String, Option<i32>, bool);

/// The configured rules as fluent-plugin-s3 writes them, sorted by id.
fn wanted(rules: &[BucketLifecycleRule]) -> Vec<Comparable> {
    let mut v: Vec<Comparable> = rules
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.prefix.clone(),
                Some(i32::try_from(r.expiration_days).unwrap_or(i32::MAX)),
                true,
            )
        })
        .collect();
    v.sort();
    v
}

/// A rule of the bucket, reduced as [`wanted`]. A filter on anything but the prefix (tags,
/// object sizes, `And`) makes the rule differ from every configured one.
#[allow(deprecated)] // the top-level `Prefix`: what fluent-plugin-s3 writes and reads
fn existing(rule: &LifecycleRule) -> Comparable {
    let filter = rule.filter();
    let narrowed = filter.is_some_and(|f| {
        f.tag().is_some()
            || f.and().is_some()
            || f.object_size_greater_than().is_some()
            || f.object_size_less_than().is_some()
    });
    let prefix = filter
        .and_then(|f| f.prefix())
        .or(rule.prefix())
        .unwrap_or("");
    let days = rule
        .expiration()
        .filter(|e| e.date().is_none())
        .and_then(|e| e.days());
    (
        rule.id().unwrap_or("").to_string(),
        if narrowed {
            // Never equal to a configured prefix.
            format!("\u{0}{prefix}")
        } else {
            prefix.to_string()
        },
        days,
        *rule.status() == ExpirationStatus::Enabled,
    )
}

fn is_not_implemented<E: ProvideErrorMetadata>(
    err: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    match err {
        aws_sdk_s3::error::SdkError::ServiceError(se) => {
            se.raw().status().as_u16() == 501 || se.err().code() == Some("NotImplemented")
        }
        _ => false,
    }
}

/// The S3 implementation (see the module doc). `describe` names the bucket in messages.
pub(super) async fn ensure_s3(
    client: &Client,
    bucket: &str,
    describe: &str,
    rules: &[BucketLifecycleRule],
) -> Result<LifecycleOutcome, StoreError> {
    if rules.is_empty() {
        return Ok(LifecycleOutcome::Unchanged);
    }
    let ctx = format!("{describe}: GetBucketLifecycleConfiguration");
    let current: Vec<LifecycleRule> = match client
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => out.rules().to_vec(),
        Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => Vec::new(),
        Err(e) if is_not_implemented(&e) => {
            return Ok(LifecycleOutcome::Unsupported(format!(
                "{describe}: the store does not implement bucket lifecycle configuration ({ctx} answered 501 NotImplemented)"
            )));
        }
        Err(e) => return Err(classify(&ctx, &e)),
    };
    let want = wanted(rules);
    let mut have: Vec<Comparable> = current.iter().map(existing).collect();
    have.sort();
    if have == want {
        tracing::debug!(
            bucket,
            rules = want.len(),
            "out_s3: bucket lifecycle rules already in place"
        );
        return Ok(LifecycleOutcome::Unchanged);
    }
    let mut removed: Vec<String> = current
        .iter()
        .filter_map(|r| r.id())
        .filter(|id| !rules.iter().any(|c| c.id == *id))
        .map(str::to_string)
        .collect();
    removed.sort();
    removed.dedup();

    let mut config = BucketLifecycleConfiguration::builder();
    for (id, prefix, days, _) in &want {
        let mut expiration = LifecycleExpiration::builder();
        if let Some(d) = days {
            expiration = expiration.days(*d);
        }
        let rule = LifecycleRule::builder()
            .id(id)
            .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
            .expiration(expiration.build())
            .status(ExpirationStatus::Enabled)
            .build()
            .map_err(|e| {
                StoreError::Unrecoverable(format!("{describe}: lifecycle rule {id:?}: {e}"))
            })?;
        config = config.rules(rule);
    }
    let config = config.build().map_err(|e| {
        StoreError::Unrecoverable(format!("{describe}: lifecycle configuration: {e}"))
    })?;
    let ctx = format!("{describe}: PutBucketLifecycleConfiguration");
    let put = client
        .put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(config)
        .customize()
        .mutate_request(|req| {
            // Content-MD5 as well as the SDK's CRC32: stores that predate the flexible checksums
            // require it for this call. Added before signing, so it is signed too.
            if let Some(body) = req.body().bytes() {
                let digest = content_md5(body);
                req.headers_mut().insert("Content-MD5", digest);
            }
        })
        .send()
        .await;
    match put {
        Ok(_) => {}
        Err(e) if is_not_implemented(&e) => {
            return Ok(LifecycleOutcome::Unsupported(format!(
                "{describe}: the store does not implement bucket lifecycle configuration ({ctx} answered 501 NotImplemented)"
            )));
        }
        Err(e) => return Err(classify(&ctx, &e)),
    }
    let ids: Vec<&str> = want.iter().map(|r| r.0.as_str()).collect();
    tracing::info!(bucket, rules = ?ids, "out_s3: configured the bucket lifecycle rules");
    if !removed.is_empty() {
        tracing::warn!(
            bucket,
            removed = ?removed,
            "out_s3: the bucket's lifecycle rules that are not in the configuration were removed (the <bucket_lifecycle_rule> sections replace the bucket's whole lifecycle configuration, as in fluent-plugin-s3)"
        );
    }
    Ok(LifecycleOutcome::Applied { removed })
}

/// `Content-MD5` of `body`: base64 of its MD5 (an integrity check, not security).
fn content_md5(body: &[u8]) -> String {
    use md5::Digest;
    aws_smithy_types::base64::encode(md5::Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_md5_is_base64_of_the_md5() {
        // RFC 1864's form; the MD5 values are RFC 1321's test suite.
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
        assert_eq!(content_md5(b"abc"), "kAFQmDzST7DWlj99KOF/cg==");
    }

    fn rule(id: &str, prefix: &str, days: u32) -> BucketLifecycleRule {
        BucketLifecycleRule {
            id: id.into(),
            prefix: prefix.into(),
            expiration_days: days,
        }
    }

    #[allow(deprecated)]
    #[test]
    fn bucket_rules_compare_as_fluent_plugin_s3_compares_them() {
        let configured = [rule("b", "logs/", 30), rule("a", "", 7)];
        let want = wanted(&configured);
        let exp = |d| LifecycleExpiration::builder().days(d).build();
        // Written by logship (Filter.Prefix) or by fluent-plugin-s3 (top-level Prefix).
        let ours = LifecycleRule::builder()
            .id("b")
            .filter(LifecycleRuleFilter::builder().prefix("logs/").build())
            .expiration(exp(30))
            .status(ExpirationStatus::Enabled)
            .build()
            .unwrap();
        let fluentd = LifecycleRule::builder()
            .id("a")
            .prefix("")
            .expiration(exp(7))
            .status(ExpirationStatus::Enabled)
            .build()
            .unwrap();
        let mut have: Vec<Comparable> = [&ours, &fluentd].into_iter().map(existing).collect();
        have.sort();
        assert_eq!(have, want);

        let disabled = LifecycleRule::builder()
            .id("a")
            .prefix("")
            .expiration(exp(7))
            .status(ExpirationStatus::Disabled)
            .build()
            .unwrap();
        assert_ne!(existing(&disabled), want[0]);
        let tagged = LifecycleRule::builder()
            .id("a")
            .filter(
                LifecycleRuleFilter::builder()
                    .tag(
                        aws_sdk_s3::types::Tag::builder()
                            .key("k")
                            .value("v")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .expiration(exp(7))
            .status(ExpirationStatus::Enabled)
            .build()
            .unwrap();
        assert_ne!(existing(&tagged), want[0]);
    }
}
