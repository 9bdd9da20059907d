//! Test support for logship (a dev-only crate, never published).
//!
//! [`S3TestServer`] runs a real S3-compatible server in-process: `s3s-fs` (objects as files
//! under a temporary directory) behind `s3s`'s HTTP service, listening on 127.0.0.1 on a random
//! port, **checking SigV4 signatures** against one static key pair. Tests talk to it over HTTP
//! exactly as production talks to S3, and can stop it to see what a down server does.
//!
//! [`FaultProxy`] ([`proxy`]) stands between a client and such a server and injects faults:
//! resets after the request was sent, 500 / 503 SlowDown answers, delays, a closed port.
//! [`ForwardProxy`] is a minimal HTTP/1.1 forward proxy (absolute-form requests, counted), for
//! `proxy_uri` (and `CONNECT` tunnels for `https://` endpoints).
//!
//! [`TlsFront`] ([`tls`]) puts HTTPS in front of such a server, with a self-signed certificate
//! made at start, for `ssl_ca_bundle` and `ssl_verify_peer false`.
//!
//! [`S3Target`] names an endpoint and credentials: the in-process server, or an external one
//! given by the environment (`LOGSHIP_TEST_S3_ENDPOINT`, `LOGSHIP_TEST_S3_KEY`,
//! `LOGSHIP_TEST_S3_SECRET`, optionally `LOGSHIP_TEST_S3_BUCKET`), which CI points at moto's
//! server so that a quirk of one implementation cannot hide a bug.

pub mod proxy;
pub use proxy::{Fault, FaultProxy, ForwardProxy, ForwardStats};
pub mod tls;
pub use tls::TlsFront;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateMultipartUploadInput, CreateMultipartUploadOutput,
    UploadPartInput, UploadPartOutput,
};
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, GetObjectInput, GetObjectOutput, HeadBucketInput,
    HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input, ListObjectsV2Output,
    PutObjectInput, PutObjectOutput,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The access key of the in-process server.
pub const ACCESS_KEY: &str = "LOGSHIPTESTKEY";
/// The secret key of the in-process server.
pub const SECRET_KEY: &str = "logship-test-secret-key-0123456789";

/// Where to find an S3-compatible server and how to sign for it.
#[derive(Clone)]
pub struct S3Target {
    /// A short name for messages: `s3s-fs` or `external`.
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret access key.
    pub secret_key: String,
    /// A bucket the tests may use (they create it if missing), when the environment names one.
    pub bucket: Option<String>,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("secret_key", &"[REDACTED]")
            .field("bucket", &self.bucket)
            .finish()
    }
}

impl S3Target {
    /// The external server from the environment, if `LOGSHIP_TEST_S3_ENDPOINT` is set.
    /// Key and secret default to moto's accepted `testing`/`testing`.
    pub fn external_from_env() -> Option<S3Target> {
        let endpoint = std::env::var("LOGSHIP_TEST_S3_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())?;
        let var = |k: &str, d: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Some(S3Target {
            name: "external",
            endpoint: endpoint.trim().trim_end_matches('/').to_string(),
            access_key: var("LOGSHIP_TEST_S3_KEY", "testing"),
            secret_key: var("LOGSHIP_TEST_S3_SECRET", "testing"),
            bucket: std::env::var("LOGSHIP_TEST_S3_BUCKET")
                .ok()
                .filter(|b| !b.is_empty()),
        })
    }
}

/// Behaviours of other S3-compatible stores the server can take on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    /// Answer a PutObject with `If-None-Match` with 501 NotImplemented, as stores without
    /// conditional writes do.
    pub no_conditional_put: bool,
    /// Store the first N objects of PutObject and then answer 500 InternalError anyway: the
    /// "request done, answer lost" failure that must not lead to a second copy.
    pub lose_put_answers: usize,
    /// Answer the first N PutObject requests with 503 SlowDown without storing anything.
    pub slow_down_puts: usize,
    /// Answer every ListObjectsV2 with 403 AccessDenied, as for a key whose IAM policy lacks
    /// `s3:ListBucket`.
    pub deny_list: bool,
    /// Return at most this many keys per ListObjectsV2 page (whatever the client asks), so
    /// that pagination shows with a few objects.
    pub list_max_keys: Option<i32>,
}

/// Requests the server answered, per operation.
#[derive(Debug, Default)]
pub struct Counters {
    /// PutObject without a condition.
    pub put: AtomicUsize,
    /// PutObject with `If-None-Match`.
    pub put_conditional: AtomicUsize,
    /// HeadObject.
    pub head: AtomicUsize,
    /// GetObject.
    pub get: AtomicUsize,
    /// ListObjectsV2.
    pub list: AtomicUsize,
    /// HeadBucket and CreateBucket.
    pub bucket: AtomicUsize,
    /// UploadPart.
    pub parts: AtomicUsize,
    /// CompleteMultipartUpload.
    pub complete: AtomicUsize,
    /// AbortMultipartUpload.
    pub abort: AtomicUsize,
    /// Injected failures left (see [`Quirks`]).
    lose_answer_left: AtomicUsize,
    slow_down_left: AtomicUsize,
}

impl Counters {
    /// A snapshot: (put, put_conditional, head, get, list, bucket).
    pub fn snapshot(&self) -> [usize; 6] {
        [
            self.put.load(Ordering::SeqCst),
            self.put_conditional.load(Ordering::SeqCst),
            self.head.load(Ordering::SeqCst),
            self.get.load(Ordering::SeqCst),
            self.list.load(Ordering::SeqCst),
            self.bucket.load(Ordering::SeqCst),
        ]
    }
}

/// s3s-fs with request counters and optional quirks; the operations out_s3 uses are served,
/// everything else is NotImplemented.
struct Counted {
    inner: s3s_fs::FileSystem,
    quirks: Quirks,
    counters: Arc<Counters>,
    /// Held across a conditional PutObject (check and write as one step).
    conditional: tokio::sync::Mutex<()>,
}

/// Takes one from a budget of failures; true when one was left.
fn take_one(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn bump(c: &AtomicUsize) {
    c.fetch_add(1, Ordering::SeqCst);
}

#[async_trait::async_trait]
impl S3 for Counted {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        if req.input.if_none_match.is_some() {
            bump(&self.counters.put_conditional);
            if self.quirks.no_conditional_put {
                return Err(s3_error!(NotImplemented, "If-None-Match is not supported"));
            }
        } else {
            bump(&self.counters.put);
        }
        if take_one(&self.counters.slow_down_left) {
            return Err(s3_error!(SlowDown, "injected"));
        }
        // s3s-fs checks If-None-Match and then writes: two racing conditional PUTs of one key
        // could both succeed. S3 decides atomically, so conditional PUTs are serialised here.
        let _atomic = if req.input.if_none_match.is_some() {
            Some(self.conditional.lock().await)
        } else {
            None
        };
        let out = self.inner.put_object(req).await?;
        if take_one(&self.counters.lose_answer_left) {
            return Err(s3_error!(
                InternalError,
                "injected after the object was stored"
            ));
        }
        Ok(out)
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        bump(&self.counters.head);
        self.inner.head_object(req).await
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        bump(&self.counters.get);
        self.inner.get_object(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        bump(&self.counters.list);
        if self.quirks.deny_list {
            return Err(s3_error!(AccessDenied, "s3:ListBucket is not allowed"));
        }
        let mut req = req;
        if let Some(cap) = self.quirks.list_max_keys {
            let asked = req.input.max_keys.unwrap_or(1000);
            req.input.max_keys = Some(asked.min(cap));
        }
        self.inner.list_objects_v2(req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        bump(&self.counters.bucket);
        self.inner.head_bucket(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        bump(&self.counters.parts);
        self.inner.upload_part(req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        bump(&self.counters.complete);
        self.inner.complete_multipart_upload(req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        bump(&self.counters.abort);
        self.inner.abort_multipart_upload(req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        bump(&self.counters.bucket);
        self.inner.create_bucket(req).await
    }
}

/// An in-process s3s-fs server on 127.0.0.1 (see the crate doc). Stops when dropped.
pub struct S3TestServer {
    addr: SocketAddr,
    root: tempfile::TempDir,
    task: Option<JoinHandle<()>>,
    quirks: Quirks,
    counters: Arc<Counters>,
}

impl S3TestServer {
    /// Starts a server on a random port with an empty data directory.
    pub async fn start() -> std::io::Result<S3TestServer> {
        Self::start_with(Quirks::default()).await
    }

    /// Starts a server with some quirks of other stores.
    pub async fn start_with(quirks: Quirks) -> std::io::Result<S3TestServer> {
        let root = tempfile::tempdir()?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters {
            lose_answer_left: AtomicUsize::new(quirks.lose_put_answers),
            slow_down_left: AtomicUsize::new(quirks.slow_down_puts),
            ..Counters::default()
        });
        let task = Some(serve(listener, root.path(), quirks, counters.clone())?);
        Ok(S3TestServer {
            addr,
            root,
            task,
            quirks,
            counters,
        })
    }

    /// The requests answered so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory holding the buckets (one sub-directory each).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// This server as a target.
    pub fn target(&self) -> S3Target {
        S3Target {
            name: "s3s-fs",
            endpoint: self.endpoint(),
            access_key: ACCESS_KEY.to_string(),
            secret_key: SECRET_KEY.to_string(),
            bucket: None,
        }
    }

    /// Creates a bucket directly on disk.
    pub fn create_bucket(&self, name: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.path().join(name))
    }

    /// Stops serving: the port is closed and open connections are dropped.
    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Serves again on the same port (after [`S3TestServer::stop`]), with the same data.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        self.task = Some(serve(
            listener,
            self.root.path(),
            self.quirks,
            self.counters.clone(),
        )?);
        Ok(())
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Serves `root` (one directory per bucket) on 127.0.0.1 at `port` (0 = any) until the process
/// ends; returns the bound address. For the benchmark's stand-alone server
/// (`logship-s3-server`), with the same key pair as the tests.
pub async fn serve_dir(root: &Path, port: u16) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let task = serve(
        listener,
        root,
        Quirks::default(),
        Arc::new(Counters::default()),
    )?;
    Ok((addr, task))
}

fn serve(
    listener: TcpListener,
    root: &Path,
    quirks: Quirks,
    counters: Arc<Counters>,
) -> std::io::Result<JoinHandle<()>> {
    let inner =
        s3s_fs::FileSystem::new(root).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let service = {
        let mut b = S3ServiceBuilder::new(Counted {
            inner,
            quirks,
            counters,
            conditional: tokio::sync::Mutex::new(()),
        });
        b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        b.build()
    };
    Ok(tokio::spawn(async move {
        let http = ConnBuilder::new(TokioExecutor::new());
        // Connections live in this set: aborting the accept loop drops (aborts) them all.
        let mut conns = JoinSet::new();
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let conn = http
                .serve_connection(TokioIo::new(socket), service.clone())
                .into_owned();
            conns.spawn(async move {
                let _ = conn.await;
            });
            while conns.try_join_next().is_some() {}
        }
    }))
}
