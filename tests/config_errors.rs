//! Table-driven tests of broken configurations through `logship::config::load`: each row
//! gives the fixture and the exact `file:line:col: message` of every error (positions
//! computed by hand from the fixture text). Also checks that the two real-world configs in
//! `examples/` parse into the expected tree, and that rendering quotes the offending line.

use std::path::Path;

use logship::config::{Failed, load, parse_str};

const DIR: &str = "tests/fixtures/config";

fn errors_of(file: &str) -> Vec<String> {
    match load(Path::new(&format!("{DIR}/{file}"))) {
        Ok(_) => panic!("{file}: expected errors"),
        Err(Failed { errors, .. }) => errors.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn broken_configs_report_exact_positions() {
    let d = DIR;
    let table: Vec<(&str, Vec<String>)> = vec![
        (
            "unclosed.conf",
            vec![format!(
                "{d}/unclosed.conf:1:1: section <source> is not closed"
            )],
        ),
        (
            "mismatched.conf",
            vec![format!(
                "{d}/mismatched.conf:3:1: closing tag </match> does not match the open section <source> (opened at {d}/mismatched.conf:1:1)"
            )],
        ),
        (
            "bad_escape.conf",
            vec![format!(
                "{d}/bad_escape.conf:3:18: invalid escape sequence '\\q' in a double-quoted string"
            )],
        ),
        (
            "unterminated_string.conf",
            vec![format!(
                "{d}/unterminated_string.conf:3:7: unterminated double-quoted string: no closing \""
            )],
        ),
        (
            "unterminated_json.conf",
            vec![format!(
                "{d}/unterminated_json.conf:3:8: unterminated JSON array: no closing ']'"
            )],
        ),
        (
            "missing_include.conf",
            vec![format!(
                "{d}/missing_include.conf:4:10: @include: file not found: {d}/conf.d/missing.conf"
            )],
        ),
        (
            "loop_a.conf",
            vec![format!(
                "{d}/loop_b.conf:3:12: @include loop: {d}/loop_a.conf -> {d}/loop_b.conf -> {d}/loop_a.conf"
            )],
        ),
        (
            "unsupported_ruby.conf",
            vec![format!(
                "{d}/unsupported_ruby.conf:3:14: unsupported embedded Ruby code `#{{File.read('/etc/passwd')}}`: logship evaluates only ENV[...], ENV.fetch(...) and Socket.gethostname"
            )],
        ),
        (
            "bad_syntax.toml",
            // The TOML parser reports where the closing quote is expected: the end of line 3
            // (`path = "/var/log/a.log` is 22 characters, so column 23).
            vec![format!(
                "{d}/bad_syntax.toml:3:23: TOML syntax error: invalid basic string, expected `\"`"
            )],
        ),
        (
            "many_errors.conf",
            vec![
                format!(
                    "{d}/many_errors.conf:3:9: invalid escape sequence '\\z' in a double-quoted string"
                ),
                format!("{d}/many_errors.conf:4:5: unterminated JSON array: no closing ']'"),
                format!(
                    "{d}/many_errors.conf:5:1: closing tag </source> does not match the open section <match> (opened at {d}/many_errors.conf:1:1)"
                ),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (file, want) in &table {
        let got = errors_of(file);
        if &got != want {
            failures.push(format!("{file}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn include_url_is_refused() {
    let f = parse_str(
        "u.conf",
        "<system>\n</system>\n@include https://example.com/td.conf\n",
    )
    .expect_err("url");
    assert_eq!(
        f.errors.to_string(),
        "u.conf:3:10: @include of a URL is not supported by logship: https://example.com/td.conf"
    );
}

#[test]
fn rendering_quotes_the_line_with_a_caret() {
    let f = load(Path::new(&format!("{DIR}/bad_escape.conf"))).expect_err("bad");
    let shown = f.sources.render_error(&f.errors.0[0]);
    assert_eq!(
        shown,
        format!(
            "{DIR}/bad_escape.conf:3:18: invalid escape sequence '\\q' in a double-quoted string\n    3 |   s3_prefix \"logs\\qx\"\n      |                  ^"
        )
    );
}

fn params(s: &logship_api::Section) -> Vec<(&str, &str)> {
    s.params
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect()
}

#[test]
fn td_agent_v012_example_parses() {
    let l = load(Path::new("examples/td-agent-v012.conf")).expect("parses");
    let r = &l.root;
    assert_eq!((r.name.as_str(), r.arg.as_str()), ("ROOT", ""));
    assert_eq!(r.sections.len(), 2);
    let src = &r.sections[0];
    assert_eq!((src.name.as_str(), src.arg.as_str()), ("source", ""));
    assert_eq!(
        params(src),
        [
            ("type", "tail"),
            ("format", "apache"),
            ("path", "/var/log/httpd/access_log"),
            ("tag", "td.apache.access")
        ]
    );
    let m = &r.sections[1];
    assert_eq!(
        (m.name.as_str(), m.arg.as_str()),
        ("match", "td.apache.access")
    );
    assert_eq!(m.span.to_string(), "examples/td-agent-v012.conf:8:1");
    assert_eq!(
        params(m),
        [
            ("type", "s3"),
            ("aws_key_id", "**************"),
            ("aws_sec_key", "***********************"),
            ("s3_bucket", "my-log-bucket"),
            ("s3_region", "ap-northeast-1"),
            ("path", "logs/"),
            ("buffer_path", "/var/log/td-agent/buffer"),
            ("flush_interval", "1s"),
        ]
    );
    assert!(m.sections.is_empty());
}

#[test]
fn sakura_example_parses() {
    let l = load(Path::new("examples/sakura-s3-compatible.conf")).expect("parses");
    assert_eq!(l.root.sections.len(), 1);
    let m = &l.root.sections[0];
    assert_eq!((m.name.as_str(), m.arg.as_str()), ("match", "nginx.access"));
    assert_eq!(
        params(m),
        [
            ("type", "s3"),
            ("aws_key_id", "XXXXXXX"),
            ("aws_sec_key", "YYYYYYYYYYYYYYYYYYYYYYYYYY"),
            ("s3_bucket", "sakuralog"),
            ("check_apikey_on_start", "false"),
            (
                "s3_object_key_format",
                "%{path}%{time_slice}_%{index}.%{file_extension}"
            ),
            ("s3_endpoint", "b.storage.sakura.ad.jp"),
            ("path", "logs/"),
            ("buffer_path", "/var/log/td-agent/s3"),
            ("flush_interval", "1440m"),
            ("time_slice_format", "%Y%m%d-%H"),
        ]
    );
    let k = m.param("aws_key_id").expect("key");
    assert_eq!(
        (k.key_span.line, k.key_span.col, k.value_span.col),
        (3, 1, 12)
    );
}

mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn parse_str_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes).replace("@include", "@inc");
            let _ = logship::config::parse_str("f.conf", &text);
        }
    }
}
