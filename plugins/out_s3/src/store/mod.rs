//! The object store out_s3 writes to: the [`ObjectStore`] trait and its two implementations,
//! [`S3Store`] (AWS S3 or any S3-compatible service, through `aws-sdk-s3`) and [`LocalDirStore`]
//! (`s3_endpoint file:///dir`: objects as files under a directory).
//!
//! The trait is deliberately small, and shaped by what out_s3 needs to never overwrite and never
//! duplicate an object:
//!
//! * [`ObjectStore::put_if_absent`] creates an object only when no object has that key
//!   (`If-None-Match: *` on S3; a no-replace hard link on a directory). A store that does not
//!   honour conditional writes answers [`StoreError::ConditionalUnsupported`], and the caller
//!   falls back to probing with [`ObjectStore::head`];
//! * [`ObjectStore::head`] returns the object's user metadata, where out_s3 finds the chunk id it
//!   stored with every upload, so that a re-send of an already uploaded chunk is recognised;
//! * [`ObjectStore::list_page`] lists keys under a prefix one page at a time (ListObjectsV2 on
//!   S3, a directory walk on a directory): out_s3 reads the highest `%{index}` of a prefix from
//!   it after a restart instead of probing from 0;
//! * [`ObjectStore::ensure_lifecycle_rules`] applies `<bucket_lifecycle_rule>` at start (S3
//!   only: a directory cannot expire objects);
//! * [`ObjectStore::get`] and [`ObjectStore::list`] serve tests and tools.
//!
//! Errors are classified once, here, as retryable or not ([`StoreError`]); messages name the
//! bucket and the key and never carry a credential.

mod lifecycle;
mod local;
mod s3;
mod sts;
mod unverified_tls;

pub use lifecycle::LifecycleOutcome;
pub use local::LocalDirStore;
pub use s3::S3Store;

use async_trait::async_trait;
use std::collections::BTreeMap;
use thiserror::Error;

/// What a conditional put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object was created.
    Created,
    /// An object with this key already existed; nothing was written.
    AlreadyExists,
}

/// An object to store.
#[derive(Debug, Clone)]
pub struct PutObject<'a> {
    /// The key.
    pub key: &'a str,
    /// The bytes.
    pub body: Body,
    /// `Content-Type`.
    pub content_type: &'a str,
    /// User metadata (`x-amz-meta-NAME`), names in lower case.
    pub metadata: &'a BTreeMap<String, String>,
}

/// The body of an object, cheap to clone so an upload is retried without a copy: bytes in
/// memory, or (for large chunks, so memory stays flat) a spooled temporary file that is
/// deleted when the last clone goes.
#[derive(Clone)]
pub enum Body {
    /// In memory.
    Bytes(bytes::Bytes),
    /// A temporary file of `len` bytes.
    File(std::sync::Arc<tempfile::TempPath>, u64),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Bytes(b) => write!(f, "Body({} bytes in memory)", b.len()),
            Body::File(p, len) => write!(f, "Body({len} bytes in {})", p.display()),
        }
    }
}

impl Body {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, len) => *len,
        }
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the whole body to `out`.
    pub fn copy_to(&self, out: &mut impl std::io::Write) -> std::io::Result<u64> {
        match self {
            Body::Bytes(b) => out.write_all(b).map(|_| b.len() as u64),
            Body::File(p, _) => std::io::copy(&mut std::fs::File::open(&**p)?, out),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::Bytes(v.into())
    }
}

/// What `HEAD` tells about an object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// `Content-Type`, when the store keeps it.
    pub content_type: Option<String>,
    /// User metadata, names in lower case without the `x-amz-meta-` prefix.
    pub metadata: BTreeMap<String, String>,
}

/// One page of a listing ([`ObjectStore::list_page`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys starting with the prefix, sorted, at most the page size.
    pub keys: Vec<String>,
    /// Where the next page starts (an opaque continuation token), None on the last page.
    pub next: Option<String>,
}

/// Keys per page out_s3 asks for: S3's maximum (and default) for ListObjectsV2.
pub const LIST_PAGE_SIZE: usize = 1000;

/// A store failure, classified by what the caller should do.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Transient (network, timeout, 5xx, throttling, clock skew, expired credentials): retry
    /// later.
    #[error("{0}")]
    Retryable(String),
    /// Retrying cannot fix it (access denied, no such bucket, invalid key, bad signature).
    #[error("{0}")]
    Unrecoverable(String),
    /// The bucket does not exist (unrecoverable unless the caller can create it).
    #[error("{0}")]
    NoSuchBucket(String),
    /// The store does not honour `If-None-Match: *` (501 NotImplemented or similar).
    #[error("{0}")]
    ConditionalUnsupported(String),
}

impl StoreError {
    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Retryable(_))
    }
}

/// An object store: S3, an S3-compatible service or a local directory.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// A description for logs and messages: `s3://bucket` at an endpoint, or a directory.
    fn describe(&self) -> String;

    /// Creates the object only if no object has this key.
    async fn put_if_absent(&self, object: PutObject<'_>) -> Result<PutOutcome, StoreError>;

    /// Creates or replaces the object (`overwrite true`, and the HEAD-probing fallback).
    async fn put(&self, object: PutObject<'_>) -> Result<(), StoreError>;

    /// The object's size and metadata, or None when it does not exist.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError>;

    /// The object's bytes, or None when it does not exist.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// One page of at most `max_keys` keys starting with `prefix`, sorted, from the start
    /// (`token` None) or from where the page that returned `token` as its `next` ended.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage, StoreError>;

    /// Every key starting with `prefix`, sorted (all pages of [`ObjectStore::list_page`]).
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .list_page(prefix, token.as_deref(), LIST_PAGE_SIZE)
                .await?;
            keys.extend(page.keys);
            match page.next {
                // A store that hands out the same token again would loop forever.
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Checks the bucket exists; creates it when `create` and it does not.
    async fn ensure_bucket(&self, create: bool) -> Result<(), StoreError>;

    /// Checks the credentials work (lists at most one object).
    async fn check_credentials(&self) -> Result<(), StoreError>;

    /// Makes the bucket's lifecycle configuration the `<bucket_lifecycle_rule>` sections, as
    /// fluent-plugin-s3 does at start (S3: see `store/lifecycle.rs`). A store that cannot expire
    /// objects answers [`LifecycleOutcome::Unsupported`] (the default), not an error.
    async fn ensure_lifecycle_rules(
        &self,
        rules: &[crate::config::BucketLifecycleRule],
    ) -> Result<LifecycleOutcome, StoreError> {
        let _ = rules;
        Ok(LifecycleOutcome::Unsupported(format!(
            "{} cannot expire objects",
            self.describe()
        )))
    }
}
