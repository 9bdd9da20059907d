//! `logship check` on broken configurations: one row per kind of mistake, each asserting the
//! exit status 1, the exact `file:line:col: message` lines, the quoted source line and the
//! error count. Positions were counted by hand from the fixture text in each row.

use crate::support::{run, write};

/// One broken configuration: the files to write (the first is checked), the error lines
/// expected in stderr, in order, each a prefix of a line (so the long "known: ..." lists of
/// plugin types may grow without breaking the test).
struct Row {
    name: &'static str,
    files: &'static [(&'static str, &'static str)],
    errors: &'static [&'static str],
    /// A line of the config that must be quoted under the first error.
    quoted: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        name: "unclosed section",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n  rate 1\n  <parse>\n</source>\n",
        )],
        errors: &[
            "c.conf:6:1: closing tag </source> does not match the open section <parse> (opened at c.conf:5:3)",
            "c.conf:1:1: section <source> is not closed",
        ],
        quoted: "    6 | </source>",
    },
    Row {
        name: "unknown directive",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n</source>\n<mtach x>\n  @type stdout\n</mtach>\n",
        )],
        errors: &["c.conf:5:1: unknown directive <mtach> (did you mean <match>?)"],
        quoted: "    5 | <mtach x>",
    },
    Row {
        name: "bad size",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n</source>\n<match x>\n  @type file\n  path out\n  <buffer>\n    chunk_limit_size 8q\n  </buffer>\n</match>\n",
        )],
        // "    chunk_limit_size 8q": 4 spaces + 16 letters + 1 space, value at column 22.
        errors: &[
            "c.conf:9:22: out_file#0 <buffer>: parameter 'chunk_limit_size': invalid size \"8q\"",
        ],
        quoted: "    9 |     chunk_limit_size 8q",
    },
    Row {
        name: "bad duration",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n</source>\n<match x>\n  @type file\n  path out\n  <buffer>\n    flush_interval soon\n  </buffer>\n</match>\n",
        )],
        // "    flush_interval soon": 4 + 14 + 1, value at column 20.
        errors: &[
            "c.conf:9:20: out_file#0 <buffer>: parameter 'flush_interval': invalid duration \"soon\"",
        ],
        quoted: "    9 |     flush_interval soon",
    },
    Row {
        name: "unknown @type",
        files: &[("c.conf", "<source>\n  @type tial\n  tag x\n</source>\n")],
        errors: &["c.conf:2:9: unknown input plugin type 'tial' (did you mean 'tail'?)"],
        quoted: "    2 |   @type tial",
    },
    Row {
        name: "unknown parameter",
        files: &[(
            "c.conf",
            "<source>\n  @type tail\n  path /tmp/a.log\n  tag a\n  pos_fiel /tmp/a.pos\n  <parse>\n    @type none\n  </parse>\n</source>\n",
        )],
        errors: &["c.conf:5:3: in_tail: unknown parameter 'pos_fiel' (did you mean 'pos_file'?)"],
        quoted: "    5 |   pos_fiel /tmp/a.pos",
    },
    Row {
        name: "bad tag pattern",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n</source>\n<match /a(b/>\n  @type stdout\n</match>\n",
        )],
        errors: &["c.conf:5:1: <match>: invalid tag regex /a(b/"],
        quoted: "    5 | <match /a(b/>",
    },
    Row {
        name: "bad escape",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag \"a\\qb\"\n</source>\n",
        )],
        // `  tag "a\qb"`: the backslash is column 9.
        errors: &["c.conf:3:9: invalid escape sequence '\\q' in a double-quoted string"],
        quoted: "    3 |   tag \"a\\qb\"",
    },
    Row {
        name: "missing include",
        files: &[("c.conf", "@include conf.d/*.conf\n@include missing.conf\n")],
        // A glob that matches nothing is fine (as in Fluentd); a missing plain path is not.
        errors: &["c.conf:2:10: @include: file not found: missing.conf"],
        quoted: "    2 | @include missing.conf",
    },
    Row {
        name: "include loop",
        files: &[
            ("c.conf", "@include d.conf\n"),
            ("d.conf", "\n@include c.conf\n"),
        ],
        errors: &["d.conf:2:10: @include loop: c.conf -> d.conf -> c.conf"],
        quoted: "    2 | @include c.conf",
    },
    Row {
        name: "unsupported embedded Ruby",
        files: &[(
            "c.conf",
            "<source>\n  @type sample\n  tag x\n  rate \"#{`id`}\"\n</source>\n",
        )],
        errors: &["c.conf:4:9: unsupported embedded Ruby code `#{`id`}`"],
        quoted: "    4 |   rate \"#{`id`}\"",
    },
    Row {
        name: "several errors in one file are all reported",
        files: &[(
            "c.conf",
            "<source>\n  @type sampel\n  tag x\n</source>\n<match x>\n  @type stdot\n</match>\n<match y>\n  @type file\n</match>\n",
        )],
        errors: &[
            "c.conf:2:9: unknown input plugin type 'sampel' (did you mean 'sample'?)",
            "c.conf:6:9: unknown output plugin type 'stdot' (did you mean 'stdout'?)",
            "c.conf:8:1: out_file: required parameter 'path' is missing",
        ],
        quoted: "    2 |   @type sampel",
    },
];

#[test]
fn broken_configs_exit_1_with_every_error_at_its_position() {
    let mut failures = Vec::new();
    for row in ROWS {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in row.files {
            write(dir.path(), name, text);
        }
        let out = run(&["check", "-c", row.files[0].0], dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let error_lines: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("c.conf:") || l.starts_with("d.conf:"))
            .collect();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit status {:?}, expected 1", out.status.code()));
        }
        if error_lines.len() != row.errors.len() {
            problems.push(format!(
                "{} error lines, expected {}",
                error_lines.len(),
                row.errors.len()
            ));
        }
        for (want, got) in row.errors.iter().zip(&error_lines) {
            if !got.starts_with(want) {
                problems.push(format!("expected a line starting\n  {want}\ngot\n  {got}"));
            }
        }
        if !stderr.lines().any(|l| l == row.quoted) {
            problems.push(format!("the line {:?} is not quoted", row.quoted));
        }
        let summary = format!(
            "logship: {} has {} error{}",
            row.files[0].0,
            row.errors.len(),
            if row.errors.len() == 1 { "" } else { "s" }
        );
        if !stderr.contains(&summary) {
            problems.push(format!("no summary line {summary:?}"));
        }
        if !out.stdout.is_empty() {
            problems.push("printed a pipeline on stdout".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!(
                "row '{}':\n{}\n--- stderr:\n{stderr}",
                row.name,
                problems.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `logship run` refuses a broken config the same way, before touching anything.
#[test]
fn run_refuses_a_broken_config_before_starting() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "c.conf",
        "<source>\n  @type tail\n  path in.log\n  tag a\n  pos_file pos/in.pos\n  <parse>\n    @type none\n  </parse>\n</source>\n<match a>\n  @type file\n  path out/x\n  <buffer>\n    path buf\n    timekey 1x\n  </buffer>\n</match>\n",
    );
    let out = run(&["run", "-c", "c.conf"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // "    timekey 1x": value at column 13.
    assert!(
        stderr.contains("c.conf:15:13: ") && stderr.contains("'timekey'"),
        "{stderr}"
    );
    for untouched in ["pos", "buf", "out"] {
        assert!(
            !dir.path().join(untouched).exists(),
            "{untouched}/ was created although the config is invalid"
        );
    }
}
