//! `cargo deb` builds the Debian package README.md documents, and it holds what a td-agent
//! replacement needs on a server: the binary, the systemd unit, the configuration as a
//! conffile, the logrotate snippet and the maintainer scripts (checked with `dpkg-deb`).
//!
//! The package is made with `--no-build` from the `logship` binary these tests run (the debug
//! one under `cargo test`), so CI does not compile a second, release, binary for it; what the
//! release build adds (optimisation) does not change the package's layout.

use crate::support::root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_deb_installed() -> bool {
    cargo()
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .args(args)
        .arg(deb)
        .output()
        .expect("run dpkg-deb");
    ok(&format!("dpkg-deb {args:?}"), &out)
}

/// The target directory and the cargo profile the binary under test was built in
/// (`<target>/debug/logship` → dev, `<target>/release/logship` → release).
fn target_dir_and_profile(bin: &Path) -> (PathBuf, String) {
    let profile_dir = bin.parent().expect("binary in a profile directory");
    let target = profile_dir
        .parent()
        .expect("profile directory in a target directory");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    (target.to_path_buf(), profile)
}

/// One `dpkg-deb -c` row: mode string and path (without the leading `.`).
fn entries(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let mode = cols.next()?.to_string();
            let path = cols.nth(4)?.trim_start_matches('.').to_string();
            Some((mode, path))
        })
        .collect()
}

/// A control field's value (single-line fields).
fn field<'a>(control: &'a str, name: &str) -> Option<&'a str> {
    control.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix(name)?
            .strip_prefix(':')
            .map(str::trim)
    })
}

#[test]
fn cargo_deb_builds_the_documented_package() {
    if !cargo_deb_installed() {
        eprintln!("SKIPPED: cargo-deb not installed");
        return;
    }
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_logship"));
    let (target, profile) = target_dir_and_profile(&bin);
    let dir = tempfile::tempdir().expect("tempdir");
    let deb = dir.path().join("logship.deb");
    let out = cargo()
        .args([
            "deb",
            "--no-build",
            "--fast",
            "--profile",
            &profile,
            "--output",
        ])
        .arg(&deb)
        .arg("--manifest-path")
        .arg(root().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root())
        .output()
        .expect("run cargo deb");
    ok("cargo deb --no-build", &out);
    assert!(deb.is_file(), "no package at {}", deb.display());

    // Control: name, version, what it needs (adduser for postinst; libc from the binary).
    let control = dpkg_deb(&["-f"], &deb);
    assert_eq!(field(&control, "Package"), Some("logship"), "{control}");
    assert_eq!(
        field(&control, "Version"),
        Some(format!("{}-1", env!("CARGO_PKG_VERSION")).as_str()),
        "{control}"
    );
    assert_eq!(field(&control, "Section"), Some("admin"), "{control}");
    let depends: Vec<&str> = field(&control, "Depends")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(depends.contains(&"adduser"), "{control}");
    let shlibdeps = Command::new("dpkg-shlibdeps")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if shlibdeps {
        assert!(depends.contains(&"libc6"), "$auto resolved: {control}");
    }

    // Every file, its path and mode.
    let listing = dpkg_deb(&["-c"], &deb);
    let mut files: Vec<(String, String)> = entries(&listing)
        .into_iter()
        .filter(|(mode, _)| !mode.starts_with('d'))
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let want = [
        ("-rw-r--r--", "/etc/logrotate.d/logship"),
        ("-rw-r-----", "/etc/logship/logship.conf"),
        ("-rwxr-xr-x", "/usr/bin/logship"),
        ("-rw-r--r--", "/usr/lib/systemd/system/logship.service"),
        ("-rw-r--r--", "/usr/share/doc/logship/README.md"),
        ("-rw-r--r--", "/usr/share/doc/logship/copyright"),
        ("-rw-r--r--", "/usr/share/doc/logship/logrotate.md"),
    ];
    let got: Vec<(&str, &str)> = files
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(got, want, "dpkg-deb -c:\n{listing}");
    assert!(
        listing
            .lines()
            .all(|l| matches!(l.split_whitespace().nth(1), Some("root/root" | "0/0"))),
        "every file owned by root:\n{listing}"
    );

    // The configuration and the logrotate snippet are conffiles (kept when edited).
    let info = dpkg_deb(&["-I"], &deb);
    let conffiles = {
        let out = Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .arg("conffiles")
            .output()
            .expect("run dpkg-deb");
        ok("dpkg-deb --info conffiles", &out)
    };
    let mut conf: Vec<&str> = conffiles.lines().map(str::trim).collect();
    conf.sort_unstable();
    assert_eq!(
        conf,
        ["/etc/logrotate.d/logship", "/etc/logship/logship.conf"],
        "{info}"
    );

    // The maintainer scripts are packaging/debian's, executable.
    for script in ["postinst", "prerm", "postrm"] {
        // "    3008 bytes,    66 lines   *  postinst             #!/bin/sh": `*` = executable.
        assert!(
            info.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.windows(2).any(|w| w == ["*", script])
            }),
            "{script} listed as an executable control member:\n{info}"
        );
        let out = Command::new("dpkg-deb")
            .arg("--info")
            .arg(&deb)
            .arg(script)
            .output()
            .expect("run dpkg-deb");
        let packaged = ok(&format!("dpkg-deb --info {script}"), &out);
        let source = std::fs::read_to_string(root().join("packaging/debian").join(script))
            .expect("read maintainer script");
        assert_eq!(packaged, source, "{script}");
        let syntax = Command::new("sh")
            .arg("-n")
            .arg(root().join("packaging/debian").join(script))
            .output()
            .expect("run sh -n");
        ok(&format!("sh -n {script}"), &syntax);
    }

    // Unpacked: the files are packaging/'s, the binary runs, the configuration checks.
    let unpacked = dir.path().join("root");
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&unpacked)
        .output()
        .expect("run dpkg-deb -x");
    ok("dpkg-deb -x", &out);
    for (installed, source) in [
        (
            "usr/lib/systemd/system/logship.service",
            "packaging/logship.service",
        ),
        ("etc/logship/logship.conf", "packaging/logship.conf"),
        ("etc/logrotate.d/logship", "packaging/logrotate"),
    ] {
        let a = std::fs::read_to_string(unpacked.join(installed)).expect("installed file");
        let b = std::fs::read_to_string(root().join(source)).expect("source file");
        assert_eq!(a, b, "{installed} is {source}");
    }
    let unit = std::fs::read_to_string(unpacked.join("usr/lib/systemd/system/logship.service"))
        .expect("unit");
    assert!(
        unit.lines()
            .any(|l| l == "ExecStart=/usr/bin/logship run -c ${LOGSHIP_CONF}"),
        "{unit}"
    );
    let packaged_bin = unpacked.join("usr/bin/logship");
    let version = Command::new(&packaged_bin)
        .arg("--version")
        .output()
        .expect("run the packaged logship");
    assert_eq!(
        ok("logship --version", &version).trim(),
        format!("logship {}", env!("CARGO_PKG_VERSION"))
    );
    let check = Command::new(&packaged_bin)
        .arg("check")
        .arg("-c")
        .arg(unpacked.join("etc/logship/logship.conf"))
        .env_remove("LOGSHIP_CONF")
        .output()
        .expect("run logship check");
    let stdout = ok(
        "packaged logship check of the packaged logship.conf",
        &check,
    );
    assert!(stdout.contains("is valid"), "{stdout}");
    assert!(stdout.contains("my-log-bucket"), "{stdout}");
}

/// Runs packaging/debian/postinst `configure <old>` with its absolute paths moved under a
/// scratch root and the system commands (getent, adduser, systemctl, deb-systemd-helper ...)
/// replaced by stubs that log their arguments. Returns (log lines, exit status, stderr).
fn run_postinst(
    scratch: &Path,
    old_version: &str,
    user_exists: bool,
    check_passes: bool,
) -> (Vec<String>, std::process::ExitStatus, String) {
    use std::os::unix::fs::PermissionsExt;
    let r = scratch.join("root");
    let stubs = scratch.join("stubs");
    let log = scratch.join("calls.log");
    for d in ["etc/logship", "usr/bin", "run/systemd/system"] {
        std::fs::create_dir_all(r.join(d)).expect("mkdir");
    }
    std::fs::create_dir_all(&stubs).expect("mkdir");
    std::fs::write(r.join("etc/logship/logship.conf"), "# test\n").expect("write conf");
    let _ = std::fs::remove_file(&log);
    let stub = |path: PathBuf, name: &str, exit: &str| {
        let body = format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit {exit}\n",
            log.display()
        );
        std::fs::write(&path, body).expect("write stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    let getent_rc = if user_exists { "0" } else { "2" };
    stub(stubs.join("getent"), "getent", getent_rc);
    // Everything that would change the machine is a stub, also on PATH in case the script
    // calls one without its absolute path.
    for c in [
        "addgroup",
        "adduser",
        "chgrp",
        "chown",
        "systemctl",
        "deb-systemd-helper",
        "deb-systemd-invoke",
    ] {
        stub(stubs.join(c), c, "0");
    }
    for c in ["deb-systemd-helper", "deb-systemd-invoke"] {
        stub(r.join("usr/bin").join(c), c, "0");
    }
    stub(
        r.join("usr/bin/logship"),
        "logship",
        if check_passes { "0" } else { "1" },
    );
    let rd = r.display().to_string();
    let mut script =
        std::fs::read_to_string(root().join("packaging/debian/postinst")).expect("read postinst");
    for abs in [
        "/etc/logship",
        "/var/lib/logship",
        "/var/log/logship",
        "/usr/bin/logship",
        "/usr/bin/deb-systemd-",
        "/run/systemd/system",
    ] {
        script = script.replace(abs, &format!("{rd}{abs}"));
    }
    let path = format!(
        "{}:{}",
        stubs.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg("postinst")
        .arg("configure")
        .arg(old_version)
        .env("PATH", path)
        .output()
        .expect("run postinst");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.replace(&rd, "<root>"))
        .collect();
    (calls, out.status, text(&out.stderr))
}

#[test]
fn postinst_creates_the_user_and_directories_and_starts_only_a_checked_config() {
    use std::os::unix::fs::PermissionsExt;
    // First installation, configuration passes `logship check`.
    let dir = tempfile::tempdir().expect("tempdir");
    let (calls, status, stderr) = run_postinst(dir.path(), "", false, true);
    assert!(status.success(), "{stderr}");
    let has = |want: &str| calls.iter().any(|c| c == want);
    for want in [
        "addgroup --system logship",
        "adduser --system --ingroup logship --home <root>/var/lib/logship --no-create-home \
         --shell /usr/sbin/nologin --gecos logship log shipping agent logship",
        "chgrp logship <root>/etc/logship/logship.conf",
        "chown logship:logship <root>/var/lib/logship",
        "chown logship:logship <root>/var/log/logship",
        "deb-systemd-helper enable logship.service",
    ] {
        assert!(has(want), "no `{want}` in:\n{}", calls.join("\n"));
    }
    for d in ["var/lib/logship", "var/log/logship"] {
        let meta = std::fs::metadata(dir.path().join("root").join(d)).expect("directory made");
        assert!(meta.is_dir());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o750, "{d}");
    }
    let conf = dir.path().join("root/etc/logship/logship.conf");
    assert_eq!(
        std::fs::metadata(&conf).expect("conf").permissions().mode() & 0o777,
        0o640
    );
    let check = calls
        .iter()
        .position(|c| c == "logship check -c <root>/etc/logship/logship.conf")
        .expect("the configuration is checked");
    let start = calls
        .iter()
        .position(|c| c == "deb-systemd-invoke restart logship.service")
        .expect("started");
    assert!(check < start, "{}", calls.join("\n"));

    // Upgrade with a configuration that fails the check: the user exists, nothing is
    // (re)started, and the administrator is told why.
    let dir = tempfile::tempdir().expect("tempdir");
    let (calls, status, stderr) = run_postinst(dir.path(), "0.1.0-1", true, false);
    assert!(
        status.success(),
        "a failing check does not fail the install: {stderr}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("addgroup") || c.starts_with("adduser --system")),
        "{}",
        calls.join("\n")
    );
    assert!(
        calls.iter().any(|c| c.starts_with("logship check -c ")),
        "{}",
        calls.join("\n")
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("deb-systemd-invoke") || c.starts_with("systemctl restart")),
        "started although the check failed:\n{}",
        calls.join("\n")
    );
    assert!(stderr.contains("does not pass 'logship check'"), "{stderr}");
}
