//! A symlinked path whose target is renamed away and re-created only after `rotate_wait`: the
//! dangling link must not make in_tail forget the path until `refresh_interval` (60 s).

mod common;

use common::{LineParser, MessageSink as Sink, spawn_tail, stop};
use logship_api::RunState;
use logship_in_tail::TailConfig;
use std::fs;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn wait_for(sink: &Sink, n: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if sink.0.lock().expect("lock").len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_dangling_longer_than_rotate_wait_is_followed_again() {
    let d = tempfile::tempdir().expect("dir");
    let real = d.path().join("real");
    fs::create_dir(&real).expect("mkdir");
    let target = real.join("app.log");
    let link = d.path().join("current.log");
    fs::write(&target, "a\n").expect("write");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let mut cfg = TailConfig::new(vec![link.display().to_string()], "t");
    cfg.read_from_head = true;
    cfg.rotate_wait = Duration::from_millis(300);
    let sink = Arc::new(Sink::default());
    let (tx, task) = spawn_tail(cfg, Box::new(LineParser), sink.clone());
    assert!(wait_for(&sink, 1, Duration::from_secs(20)).await);
    fs::rename(&target, real.join("app.log.1")).expect("rotate");
    // The writer is slow to re-create the file: longer than rotate_wait and a tick.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    fs::write(&target, "b\n").expect("re-create");
    let seen = wait_for(&sink, 2, Duration::from_secs(10)).await;
    stop(tx, task, RunState::Stop).await;
    assert!(
        seen,
        "the re-created target was not read within 10 s: {:?}",
        sink.0.lock().expect("lock")
    );
    assert_eq!(*sink.0.lock().expect("lock"), vec!["a", "b"]);
}
