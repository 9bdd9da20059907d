//! [`LocalDirStore`]: `s3_endpoint file:///dir` keeps objects as files, for trying logship
//! without a cloud account and for NFS/EFS mounts.
//!
//! Layout under the endpoint directory `ROOT`:
//!
//! | path | content |
//! |---|---|
//! | `ROOT/BUCKET/KEY` | the object's bytes, exactly as they would be in S3 |
//! | `ROOT/.logship-meta/BUCKET/KEY.json` | `{"content_type": ..., "metadata": {...}}` |
//! | `ROOT/.logship-tmp/` | files being written |
//!
//! Writes never replace an object: the bytes and the metadata are written to temporary files
//! and fsynced, then the metadata and after it the data are *hard-linked* into place, and a
//! link fails with `EEXIST` when the name is taken (the same no-replace guarantee as
//! `renameat2(RENAME_NOREPLACE)`, and it works on NFS). The metadata file is published first and
//! so claims the key: a crash between the two links leaves a claim without data, which the same
//! writer (identical metadata, so the same chunk) completes on its retry and anyone else treats
//! as a taken key. Directories are fsynced after each publication.
//!
//! A claim without data (a writer that crashed between the two links, or one that is between
//! them right now) is an existing object for everyone but its claimant: `head` answers with the
//! claim's metadata and size 0, and `list` includes its key, so another chunk moves on to the
//! next `%{index}` instead of retrying a key it can never take.

use super::{Body, ListPage, ObjectInfo, ObjectStore, PutObject, PutOutcome, StoreError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const META_DIR: &str = ".logship-meta";
const TMP_DIR: &str = ".logship-tmp";

/// Objects as files under a directory (see the module doc).
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
    bucket: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    content_type: String,
    metadata: BTreeMap<String, String>,
}

impl Meta {
    fn to_json(&self) -> String {
        let mut s = String::from("{\"content_type\":");
        s.push_str(&json_str(&self.content_type));
        s.push_str(",\"metadata\":{");
        for (i, (k, v)) in self.metadata.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&json_str(k));
            s.push(':');
            s.push_str(&json_str(v));
        }
        s.push_str("}}\n");
        s
    }

    fn from_json(s: &str) -> Option<Meta> {
        // The file is written by `to_json` only: a tiny parser for exactly that shape.
        let rest = s.trim().strip_prefix("{\"content_type\":")?;
        let (content_type, rest) = parse_json_str(rest)?;
        let mut rest = rest.strip_prefix(",\"metadata\":{")?;
        let mut metadata = BTreeMap::new();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                return (r.trim() == "}").then_some(Meta {
                    content_type,
                    metadata,
                });
            }
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            }
            let (k, r) = parse_json_str(rest)?;
            let r = r.strip_prefix(':')?;
            let (v, r) = parse_json_str(r)?;
            metadata.insert(k, v);
            rest = r;
        }
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn parse_json_str(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let body = s.strip_prefix('"')?;
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[i + 1..])),
            '\\' => match chars.next()?.1 {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                'u' => {
                    let mut code = 0u32;
                    for _ in 0..4 {
                        code = code * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    out.push(char::from_u32(code)?);
                }
                _ => return None,
            },
            c => out.push(c),
        }
    }
    None
}

impl LocalDirStore {
    /// A store for `bucket` under `root`.
    pub fn new(root: impl Into<PathBuf>, bucket: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            bucket: bucket.into(),
        }
    }

    /// The directory holding the bucket's objects.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.join(&self.bucket)
    }

    fn unrecoverable(&self, key: &str, what: &str, e: &std::io::Error) -> StoreError {
        StoreError::Unrecoverable(format!("{} key {key:?}: {what}: {e}", self.describe()))
    }

    fn io_error(&self, key: &str, what: &str, e: &std::io::Error) -> StoreError {
        use std::io::ErrorKind::*;
        match e.kind() {
            PermissionDenied | InvalidInput | InvalidFilename | ReadOnlyFilesystem
            | IsADirectory | NotADirectory => self.unrecoverable(key, what, e),
            _ => StoreError::Retryable(format!("{} key {key:?}: {what}: {e}", self.describe())),
        }
    }

    /// Validates a key: no empty, `.` or `..` segment, no leading or trailing `/`, no NUL.
    fn paths(&self, key: &str) -> Result<(PathBuf, PathBuf), StoreError> {
        let bad = key.is_empty()
            || key.contains('\0')
            || key
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == "..");
        if bad {
            return Err(StoreError::Unrecoverable(format!(
                "{}: invalid object key {key:?} for a directory store (empty, '.' or '..' segment)",
                self.describe()
            )));
        }
        let data = self.bucket_dir().join(key);
        let meta = self
            .root
            .join(META_DIR)
            .join(&self.bucket)
            .join(format!("{key}.json"));
        Ok((data, meta))
    }

    fn read_meta(path: &Path) -> std::io::Result<Option<Meta>> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(Meta::from_json(&s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn check_bucket_dir(&self) -> Result<(), StoreError> {
        match std::fs::metadata(self.bucket_dir()) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::Unrecoverable(format!(
                "{}: {} is not a directory",
                self.describe(),
                self.bucket_dir().display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NoSuchBucket(format!(
                    "{}: the bucket directory {} does not exist",
                    self.describe(),
                    self.bucket_dir().display()
                )))
            }
            Err(e) => Err(self.io_error("", "checking the bucket directory", &e)),
        }
    }

    /// Writes `body` to a new temporary file, fsynced.
    fn write_temp(&self, body: &Body) -> std::io::Result<PathBuf> {
        let dir = self.root.join(TMP_DIR);
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(uuid::Uuid::new_v4().simple().to_string());
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let written = body.copy_to(&mut f).and_then(|_| f.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(path)
    }

    /// Hard-links `tmp` to `dest` (creating parents); false when `dest` exists.
    fn link_no_replace(tmp: &Path, dest: &Path) -> std::io::Result<bool> {
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::hard_link(tmp, dest) {
            Ok(()) => {
                if let Some(parent) = dest.parent() {
                    sync_dir(parent)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`Self::put_blocking`] of `object` on the blocking pool.
    async fn put_object(
        &self,
        object: PutObject<'_>,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        let this = self.clone();
        let key = object.key.to_string();
        let body = object.body.clone();
        let meta = Meta {
            content_type: object.content_type.to_string(),
            metadata: object.metadata.clone(),
        };
        blocking(move || this.put_blocking(&key, &body, &meta, replace)).await
    }

    fn put_blocking(
        &self,
        key: &str,
        body: &Body,
        meta: &Meta,
        replace: bool,
    ) -> Result<PutOutcome, StoreError> {
        self.check_bucket_dir()?;
        let (data_path, meta_path) = self.paths(key)?;
        let io = |what: &str, e: std::io::Error| self.io_error(key, what, &e);
        let meta_tmp = self
            .write_temp(&Body::from(meta.to_json().into_bytes()))
            .map_err(|e| io("writing metadata", e))?;
        let data_tmp = match self.write_temp(body) {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_file(&meta_tmp);
                return Err(io("writing the object", e));
            }
        };
        let result = (|| {
            if replace {
                for (tmp, dest) in [(&meta_tmp, &meta_path), (&data_tmp, &data_path)] {
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| io("creating directories", e))?;
                    }
                    std::fs::rename(tmp, dest).map_err(|e| io("publishing", e))?;
                    if let Some(parent) = dest.parent() {
                        sync_dir(parent).map_err(|e| io("syncing the directory", e))?;
                    }
                }
                return Ok(PutOutcome::Created);
            }
            let claimed = Self::link_no_replace(&meta_tmp, &meta_path)
                .map_err(|e| io("publishing metadata", e))?;
            if !claimed {
                // Taken, unless it is our own claim from an attempt that stopped before the
                // data link (same metadata, so the same chunk) and the data is still missing.
                let ours = Self::read_meta(&meta_path)
                    .map_err(|e| io("reading metadata", e))?
                    .is_some_and(|m| m == *meta);
                if !ours || data_path.exists() {
                    return Ok(PutOutcome::AlreadyExists);
                }
            }
            let created = Self::link_no_replace(&data_tmp, &data_path)
                .map_err(|e| io("publishing the object", e))?;
            Ok(if created {
                PutOutcome::Created
            } else {
                PutOutcome::AlreadyExists
            })
        })();
        let _ = std::fs::remove_file(&meta_tmp);
        let _ = std::fs::remove_file(&data_tmp);
        result
    }

    fn head_blocking(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let (data_path, meta_path) = self.paths(key)?;
        let size = match std::fs::metadata(&data_path) {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.check_bucket_dir()?;
                // A claim without data is taken (see the module doc).
                let claim = Self::read_meta(&meta_path)
                    .map_err(|e| self.io_error(key, "reading metadata", &e))?;
                return Ok(claim.map(|m| ObjectInfo {
                    size: 0,
                    content_type: Some(m.content_type),
                    metadata: m.metadata,
                }));
            }
            Err(e) => return Err(self.io_error(key, "reading the object", &e)),
        };
        let meta =
            Self::read_meta(&meta_path).map_err(|e| self.io_error(key, "reading metadata", &e))?;
        Ok(Some(ObjectInfo {
            size,
            content_type: meta.as_ref().map(|m| m.content_type.clone()),
            metadata: meta.map(|m| m.metadata).unwrap_or_default(),
        }))
    }

    /// The keys starting with `prefix`, in order: the objects and the claims without data.
    fn list_blocking(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.check_bucket_dir()?;
        let mut out = Self::walk(&self.bucket_dir(), prefix, "")
            .map_err(|e| self.io_error(prefix, "listing", &e))?;
        let meta_dir = self.root.join(META_DIR).join(&self.bucket);
        if meta_dir.is_dir() {
            let claims = Self::walk(&meta_dir, prefix, ".json")
                .map_err(|e| self.io_error(prefix, "listing metadata", &e))?;
            out.extend(claims);
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The files under `root` whose relative path, less `suffix`, starts with `prefix`.
    fn walk(root: &Path, prefix: &str, suffix: &str) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![(root.to_path_buf(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                let key = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                if entry.file_type()?.is_dir() {
                    // Only descend where keys with the prefix can be.
                    let as_prefix = format!("{key}/");
                    if as_prefix.starts_with(prefix) || prefix.starts_with(&as_prefix) {
                        stack.push((entry.path(), key));
                    }
                } else if let Some(key) = key.strip_suffix(suffix)
                    && key.starts_with(prefix)
                {
                    out.push(key.to_string());
                }
            }
        }
        Ok(out)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Retryable(format!("local store task failed: {e}")))?
}

#[async_trait]
impl ObjectStore for LocalDirStore {
    fn describe(&self) -> String {
        format!("bucket {:?} at file://{}", self.bucket, self.root.display())
    }

    async fn put_if_absent(&self, object: PutObject<'_>) -> Result<PutOutcome, StoreError> {
        self.put_object(object, false).await
    }

    async fn put(&self, object: PutObject<'_>) -> Result<(), StoreError> {
        self.put_object(object, true).await.map(|_| ())
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, StoreError> {
        let this = self.clone();
        let key = key.to_string();
        blocking(move || this.head_blocking(&key)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let this = self.clone();
        let key = key.to_string();
        blocking(move || {
            let (data, _) = this.paths(&key)?;
            match std::fs::read(&data) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    this.check_bucket_dir()?;
                    Ok(None)
                }
                Err(e) => Err(this.io_error(&key, "reading the object", &e)),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let this = self.clone();
        let prefix = prefix.to_string();
        blocking(move || this.list_blocking(&prefix)).await
    }

    /// A walk of the bucket directory (only where keys with the prefix can be), cut into
    /// pages; the token is the last key of the previous page.
    async fn list_page(
        &self,
        prefix: &str,
        token: Option<&str>,
        max_keys: usize,
    ) -> Result<ListPage, StoreError> {
        let this = self.clone();
        let prefix = prefix.to_string();
        let after = token.map(str::to_string);
        blocking(move || {
            let mut keys = this.list_blocking(&prefix)?;
            if let Some(after) = &after {
                keys.retain(|k| k > after);
            }
            let more = keys.len() > max_keys.max(1);
            keys.truncate(max_keys.max(1));
            let next = if more { keys.last().cloned() } else { None };
            Ok(ListPage { keys, next })
        })
        .await
    }

    async fn ensure_bucket(&self, create: bool) -> Result<(), StoreError> {
        let this = self.clone();
        blocking(move || match this.check_bucket_dir() {
            Err(StoreError::NoSuchBucket(_)) if create => {
                std::fs::create_dir_all(this.bucket_dir())
                    .map_err(|e| this.io_error("", "creating the bucket directory", &e))?;
                sync_dir(&this.root).map_err(|e| this.io_error("", "syncing", &e))
            }
            other => other,
        })
        .await
    }

    async fn check_credentials(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_json_roundtrip() {
        let mut metadata = BTreeMap::new();
        metadata.insert("logship-chunk-id".to_string(), "00ff".to_string());
        metadata.insert("q\"uo\\te".to_string(), "tab\tnl\n".to_string());
        let m = Meta {
            content_type: "application/x-gzip".to_string(),
            metadata,
        };
        assert_eq!(Meta::from_json(&m.to_json()), Some(m));
        let empty = Meta {
            content_type: String::new(),
            metadata: BTreeMap::new(),
        };
        assert_eq!(Meta::from_json(&empty.to_json()), Some(empty));
        assert_eq!(Meta::from_json("{}"), None);
    }

    #[test]
    fn keys_that_escape_or_collide_are_refused() {
        let s = LocalDirStore::new("/tmp/x", "b");
        for bad in ["", "/a", "a/", "a//b", "a/./b", "../a", "a/..", "a\0b"] {
            assert!(
                matches!(s.paths(bad), Err(StoreError::Unrecoverable(_))),
                "{bad:?}"
            );
        }
        assert!(s.paths("logs/2015062113_0.gz").is_ok());
    }
}
