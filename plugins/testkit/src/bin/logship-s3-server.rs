//! `logship-s3-server`: the test suite's S3-compatible server (s3s-fs with SigV4 checks) as a
//! stand-alone process, for `bench/e2e.sh` and for trying logship by hand without a cloud
//! account.
//!
//! ```text
//! logship-s3-server --root DIR [--port N] [--port-file FILE]
//! ```
//! Objects are stored as plain files under `DIR/<bucket>/<key>`. The key pair is
//! [`logship_testkit::ACCESS_KEY`] / [`logship_testkit::SECRET_KEY`]; the endpoint is printed on
//! stdout and, with `--port-file`, the port is written to FILE once the server listens.

use std::path::PathBuf;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!("usage: logship-s3-server --root DIR [--port N] [--port-file FILE]");
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut root: Option<PathBuf> = None;
    let mut port: u16 = 0;
    let mut port_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next()) {
            ("--root", Some(v)) => root = Some(PathBuf::from(v)),
            ("--port", Some(v)) => match v.parse() {
                Ok(p) => port = p,
                Err(_) => return usage(),
            },
            ("--port-file", Some(v)) => port_file = Some(PathBuf::from(v)),
            _ => return usage(),
        }
    }
    let Some(root) = root else { return usage() };
    if let Err(e) = std::fs::create_dir_all(&root) {
        eprintln!("logship-s3-server: cannot create {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    let (addr, task) = match logship_testkit::serve_dir(&root, port).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("logship-s3-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "serving {} at http://{addr} (access key {})",
        root.display(),
        logship_testkit::ACCESS_KEY
    );
    if let Some(f) = port_file {
        let tmp = f.with_extension("tmp");
        if let Err(e) =
            std::fs::write(&tmp, addr.port().to_string()).and_then(|()| std::fs::rename(&tmp, &f))
        {
            eprintln!("logship-s3-server: cannot write {}: {e}", f.display());
            return ExitCode::FAILURE;
        }
    }
    let _ = task.await;
    ExitCode::SUCCESS
}
