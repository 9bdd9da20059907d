//! Fluentd's parser vectors (../shared/vectors/fluentd-parsers.md), one test each. Expected
//! records are written from the vectors file. Where the file lists fields in another order
//! than Fluentd emits (capture order), records are compared as JSON objects and the emitted
//! order is checked separately.

use chrono::TimeZone;
use logship_api::config::Param;
use logship_api::{EventTime, ParseError, Parser, Record, Section, Span};
use serde_json::{Value, json};

fn section(ty: &str, params: &[(&str, &str)]) -> Section {
    let mut s = Section::new("parse", "", Span::builtin());
    s.params.push(Param {
        key: "@type".into(),
        value: ty.into(),
        key_span: Span::builtin(),
        value_span: Span::builtin(),
    });
    for (k, v) in params {
        s.params.push(Param {
            key: k.to_string(),
            value: v.to_string(),
            key_span: Span::builtin(),
            value_span: Span::builtin(),
        });
    }
    s
}

fn parser(ty: &str, params: &[(&str, &str)]) -> Box<dyn Parser> {
    match logship_parser::build_parser(&section(ty, params)) {
        Ok(b) => b.plugin,
        Err(e) => panic!("build {ty}: {e}"),
    }
}

fn parse(p: &dyn Parser, line: &str) -> (Option<EventTime>, Record) {
    p.parse(line)
        .unwrap_or_else(|e| panic!("parse {line:?}: {e}"))
}

fn keys(r: &Record) -> Vec<&str> {
    r.iter().map(|(k, _)| k).collect()
}

const T: Option<EventTime> = Some(EventTime {
    secs: 1_362_020_400,
    nanos: 0,
});

fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    chrono::Local
        .with_ymd_and_hms(y, mo, d, h, mi, s)
        .earliest()
        .expect("local time")
        .timestamp()
}

// ---- apache2 ----

#[test]
fn apache2_combined_and_without_protocol() {
    let p = parser("apache2", &[]);
    let want = json!({"user":null,"method":"GET","code":200,"size":777,"host":"192.168.0.1","path":"/","referer":null,"agent":"Opera/12.0"});
    for line in [
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /" 200 777 "-" "Opera/12.0""#,
    ] {
        let (t, r) = parse(&*p, line);
        assert_eq!(t, T);
        assert_eq!(r.to_value(), want);
        assert_eq!(
            keys(&r),
            [
                "host", "user", "method", "path", "code", "size", "referer", "agent"
            ]
        );
    }
}

#[test]
fn apache2_escaped_quotes_are_kept_verbatim() {
    let p = parser("apache2", &[]);
    let line = r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /\" HTTP/1.1" 200 777 "referer \\ \"" "user agent \\ \"""#;
    let (t, r) = parse(&*p, line);
    assert_eq!(t, T);
    assert_eq!(r.get("path"), Some(&json!(r#"/\""#)));
    assert_eq!(r.get("referer"), Some(&json!(r#"referer \\ \""#)));
    assert_eq!(r.get("agent"), Some(&json!(r#"user agent \\ \""#)));
}

#[test]
fn apache2_nulls_and_keep_time_key() {
    let p = parser("apache2", &[("keep_time_key", "true")]);
    let (_, r) = parse(&*p, r#"- - - [28/Feb/2013:12:00:00 +0900] "-" 0 - "-" "-""#);
    assert_eq!(
        r.to_json_string(),
        r#"{"host":null,"user":null,"method":"-","path":null,"code":null,"size":null,"referer":null,"agent":null,"time":"28/Feb/2013:12:00:00 +0900"}"#
    );
}

#[test]
fn apache2_json_encoding_matches_fluentd_shape() {
    let p = parser("apache2", &[]);
    let (_, r) = parse(
        &*p,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#,
    );
    let mut out = Vec::new();
    r.write_json(&mut out);
    assert_eq!(
        String::from_utf8(out).expect("utf8"),
        r#"{"host":"192.168.0.1","user":null,"method":"GET","path":"/","code":200,"size":777,"referer":null,"agent":"Opera/12.0"}"#
    );
}

// ---- apache ----

#[test]
fn apache_common_line_keeps_strings() {
    let p = parser("apache", &[]);
    let (t, r) = parse(
        &*p,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777"#,
    );
    assert_eq!(t, T);
    assert_eq!(
        r.to_value(),
        json!({"user":"-","method":"GET","code":"200","size":"777","host":"192.168.0.1","path":"/"})
    );
    assert_eq!(keys(&r), ["host", "user", "method", "path", "code", "size"]);
}

#[test]
fn apache_keep_time_key() {
    let p = parser("apache", &[("keep_time_key", "true")]);
    let (t, r) = parse(
        &*p,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777"#,
    );
    assert_eq!(t, T);
    assert_eq!(r.get("time"), Some(&json!("28/Feb/2013:12:00:00 +0900")));
}

#[test]
fn apache_td_agent_seed_line() {
    let p = parser("apache", &[]);
    let (t, r) = parse(
        &*p,
        r#"127.0.0.1 - - [21/Jun/2015:13:46:34 +0000] "GET / HTTP/1.1" 200 16 "-" "curl/7.40.0""#,
    );
    assert_eq!(t, Some(EventTime::from_secs(1_434_894_394)));
    assert_eq!(
        r.to_json_string(),
        r#"{"host":"127.0.0.1","user":"-","method":"GET","path":"/","code":"200","size":"16","referer":"-","agent":"curl/7.40.0"}"#
    );
}

// ---- apache_error ----

#[test]
fn apache_error_vectors() {
    let p = parser("apache_error", &[]);
    let t = Some(EventTime::from_secs(local(2000, 10, 11, 14, 32, 52)));
    let (tt, r) = parse(
        &*p,
        "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration",
    );
    assert_eq!(tt, t);
    assert_eq!(
        r.to_value(),
        json!({"level":"error","client":"127.0.0.1","message":"client denied by server configuration"})
    );
    let (tt, r) = parse(
        &*p,
        "[Wed Oct 11 14:32:52 2000] [error] [pid 1000] [client 127.0.0.1] client denied by server configuration",
    );
    assert_eq!(tt, t);
    assert_eq!(
        r.to_value(),
        json!({"level":"error","client":"127.0.0.1","message":"client denied by server configuration","pid":"1000"})
    );
    assert_eq!(keys(&r), ["level", "pid", "client", "message"]);
    let (tt, r) = parse(
        &*p,
        "[Wed Oct 11 14:32:52 2000] [notice] Apache/2.2.15 (Unix) DAV/2 configured -- resuming normal operations",
    );
    assert_eq!(tt, t);
    assert_eq!(
        r.to_value(),
        json!({"level":"notice","message":"Apache/2.2.15 (Unix) DAV/2 configured -- resuming normal operations"})
    );
}

#[test]
fn apache_error_in_utc() {
    let p = parser("apache_error", &[("utc", "true")]);
    let (t, _) = parse(
        &*p,
        "[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server configuration",
    );
    assert_eq!(t, Some(EventTime::from_secs(971_274_772)));
}

// ---- nginx ----

fn nginx_base() -> Value {
    json!({"remote":"127.0.0.1","host":"192.168.0.1","user":"-","method":"GET","path":"/","code":"200","size":"777","referer":"-","agent":"Opera/12.0"})
}

fn with(mut v: Value, k: &str, x: &str) -> Value {
    v[k] = json!(x);
    v
}

#[test]
fn nginx_vectors() {
    let p = parser("nginx", &[]);
    let cases = [
        (
            r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#,
            nginx_base(),
        ),
        (
            r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET /a[ ]b HTTP/1.1" 200 777 "-" "Opera/12.0""#,
            with(nginx_base(), "path", "/a[ ]b"),
        ),
        (
            r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET /" 200 777 "-" "Opera/12.0""#,
            nginx_base(),
        ),
        (
            r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" -"#,
            with(nginx_base(), "http_x_forwarded_for", "-"),
        ),
        (
            r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" "127.0.0.1, 192.168.0.1""#,
            with(
                nginx_base(),
                "http_x_forwarded_for",
                "127.0.0.1, 192.168.0.1",
            ),
        ),
    ];
    for (line, want) in cases {
        let (t, r) = parse(&*p, line);
        assert_eq!(t, T, "{line}");
        assert_eq!(r.to_value(), want, "{line}");
    }
}

/// The JSON keeps the regex's field order (Fluentd's), with and without `types` (the two
/// take different paths: a record in line form, or one converted field by field).
#[test]
fn nginx_and_apache_json_field_order() {
    let line = r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" "127.0.0.1, 192.168.0.1""#;
    let plain = r#"{"remote":"127.0.0.1","host":"192.168.0.1","user":"-","method":"GET","path":"/","code":"200","size":"777","referer":"-","agent":"Opera/12.0","http_x_forwarded_for":"127.0.0.1, 192.168.0.1"}"#;
    let (t, r) = parse(&*parser("nginx", &[]), line);
    assert_eq!(t, T);
    assert_eq!(r.to_json_string(), plain);
    let (t, r) = parse(
        &*parser("nginx", &[("types", "code:integer,size:integer")]),
        line,
    );
    assert_eq!(t, T);
    assert_eq!(
        r.to_json_string(),
        plain
            .replace(r#""code":"200""#, r#""code":200"#)
            .replace(r#""size":"777""#, r#""size":777"#)
    );

    let common = r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /a b" 404 -"#;
    let (t, r) = parse(&*parser("apache", &[]), common);
    assert_eq!(t, T);
    assert_eq!(
        r.to_json_string(),
        r#"{"host":"192.168.0.1","user":"-","method":"GET","path":"/a","code":"404","size":"-"}"#
    );
}

// ---- regexp + types ----

const EXPR: &str = r#"^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] \[(?<date>[^\]]*)\] "(?<flag>\S+)(?: +(?<path>[^ ]*) +\S*)?" (?<code>[^ ]*) (?<size>[^ ]*)$"#;
const TYPES: &str =
    "user:string,date:time:%d/%b/%Y:%H:%M:%S %z,flag:bool,path:array,code:float,size:integer";
const TYPED_LINE: &str = r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] [14/Feb/2013:12:00:00 +0900] "true /,/user HTTP/1.1" 200 777"#;

#[test]
fn regexp_with_types() {
    let p = parser(
        "regexp",
        &[
            ("expression", EXPR),
            ("time_format", "%d/%b/%Y:%H:%M:%S %z"),
            ("types", TYPES),
        ],
    );
    let (t, r) = parse(&*p, TYPED_LINE);
    assert_eq!(t, T);
    assert_eq!(
        r.to_value(),
        json!({"user":"-","flag":true,"code":200.0,"size":777,"date":1360810800,"host":"192.168.0.1","path":["/","/user"]})
    );
    assert_eq!(r.get("code").and_then(Value::as_f64), Some(200.0));
    assert!(r.get("code").is_some_and(Value::is_f64));
}

#[test]
fn regexp_slash_form_and_flags() {
    let p = parser("regexp", &[("expression", "/^(?<a>FOO) (?<b>\\d+)$/i")]);
    let (t, r) = parse(&*p, "foo 12");
    assert_eq!(t, None);
    assert_eq!(r.to_json_string(), r#"{"a":"foo","b":"12"}"#);
    assert_eq!(p.parse("foo x"), Err(ParseError::NoMatch));
}

#[test]
fn regexp_without_time_and_keep_time_key() {
    let p = parser(
        "regexp",
        &[
            ("expression", "^(?<msg>.*)$"),
            ("estimate_current_event", "false"),
        ],
    );
    let (t, r) = parse(&*p, "hello");
    assert_eq!(t, None);
    assert_eq!(r.to_json_string(), r#"{"msg":"hello"}"#);
    let p = parser(
        "regexp",
        &[
            ("expression", EXPR),
            ("time_format", "%d/%b/%Y:%H:%M:%S %z"),
            ("keep_time_key", "true"),
        ],
    );
    let (t, r) = parse(&*p, TYPED_LINE);
    assert_eq!(t, T);
    assert_eq!(r.get("time"), Some(&json!("28/Feb/2013:12:00:00 +0900")));
}

#[test]
fn regexp_unmatched_optional_groups_are_left_out() {
    let p = parser("regexp", &[("expression", "^(?<a>x)(?<b>y)?$")]);
    let (_, r) = parse(&*p, "x");
    assert_eq!(r.to_json_string(), r#"{"a":"x"}"#);
}

// ---- json / ltsv / tsv / csv / none ----

#[test]
fn json_vector() {
    let p = parser("json", &[]);
    let (t, r) = parse(
        &*p,
        r#"{"time":1362020400,"host":"192.168.0.1","size":777,"method":"PUT"}"#,
    );
    assert_eq!(t, T);
    assert_eq!(
        r.to_json_string(),
        r#"{"host":"192.168.0.1","size":777,"method":"PUT"}"#
    );
}

#[test]
fn json_float_time_duplicates_and_errors() {
    let p = parser("json", &[]);
    let (t, r) = parse(&*p, r#"{"time":1362020400.5,"a":1,"a":2}"#);
    assert_eq!(t, Some(EventTime::new(1_362_020_400, 500_000_000)));
    assert_eq!(r.to_json_string(), r#"{"a":2}"#);
    assert_eq!(p.parse("[1,2]"), Err(ParseError::NoMatch));
    assert_eq!(p.parse("\"x\""), Err(ParseError::NoMatch));
    assert_eq!(p.parse("{bad"), Err(ParseError::NoMatch));
    let keep = parser("json", &[("keep_time_key", "true")]);
    let (_, r) = parse(&*keep, r#"{"time":1362020400,"a":1}"#);
    assert_eq!(r.to_json_string(), r#"{"time":1362020400,"a":1}"#);
    let fmt = parser("json", &[("time_format", "%Y-%m-%d %H:%M:%S %z")]);
    let (t, _) = parse(&*fmt, r#"{"time":"2013-02-28 12:00:00 +0900"}"#);
    assert_eq!(t, T);
}

#[test]
fn ltsv_vectors() {
    let want = json!({"host":"192.168.0.1","req_id":"111"});
    let t_local = Some(EventTime::from_secs(local(2013, 2, 28, 12, 0, 0)));
    let p = parser("ltsv", &[]);
    let (t, r) = parse(
        &*p,
        "time:2013/02/28 12:00:00\thost:192.168.0.1\treq_id:111",
    );
    assert_eq!(t, t_local);
    assert_eq!(r.to_value(), want);
    let p = parser("ltsv", &[("delimiter", ","), ("label_delimiter", "=")]);
    let (t, r) = parse(&*p, "time=2013/02/28 12:00:00,host=192.168.0.1,req_id=111");
    assert_eq!(t, t_local);
    assert_eq!(r.to_value(), want);
    let p = parser("ltsv", &[("timezone", "+09:00")]);
    let (t, _) = parse(&*p, "time:2013/02/28 12:00:00\thost:192.168.0.1");
    assert_eq!(t, T);
}

#[test]
fn tsv_vector() {
    let p = parser(
        "tsv",
        &[
            ("keys", "time,a,b"),
            ("time_key", "time"),
            ("timezone", "+09:00"),
        ],
    );
    let (t, r) = parse(&*p, "2013/02/28 12:00:00\t192.168.0.1\t111");
    assert_eq!(t, T);
    assert_eq!(r.to_json_string(), r#"{"a":"192.168.0.1","b":"111"}"#);
}

#[test]
fn csv_vector() {
    let p = parser(
        "csv",
        &[
            ("keys", "time,c,d"),
            ("time_key", "time"),
            ("timezone", "+09:00"),
        ],
    );
    let (t, r) = parse(&*p, "2013/02/28 12:00:00,192.168.0.1,111");
    assert_eq!(t, T);
    assert_eq!(r.to_json_string(), r#"{"c":"192.168.0.1","d":"111"}"#);
}

#[test]
fn csv_null_value_pattern() {
    let p = parser(
        "csv",
        &[("keys", "host,req_id,user"), ("null_value_pattern", "^-$")],
    );
    let (_, r) = parse(&*p, "192.168.0.1,111,-");
    assert_eq!(
        r.to_json_string(),
        r#"{"host":"192.168.0.1","req_id":"111","user":null}"#
    );
}

#[test]
fn none_vector() {
    let p = parser("none", &[]);
    let (t, r) = parse(&*p, "log message!");
    assert_eq!(t, None);
    assert_eq!(r.to_json_string(), r#"{"message":"log message!"}"#);
}

// ---- multiline / multi_format ----

#[test]
fn multiline_firstline_and_joined_text() {
    let p = parser(
        "multiline",
        &[
            ("format_firstline", r"/^\d{4}-\d{2}-\d{2}/"),
            (
                "format1",
                r"/^(?<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) \[(?<thread>.*)\] (?<level>[^\s]+)(?<message>.*)/",
            ),
            ("timezone", "+09:00"),
        ],
    );
    assert_eq!(
        p.is_firstline("2013-02-28 12:00:00 [main] ERROR x"),
        Some(true)
    );
    assert_eq!(p.is_firstline("  at Foo.bar"), Some(false));
    let (t, r) = parse(
        &*p,
        "2013-02-28 12:00:00 [main] ERROR boom\n  at Foo.bar\n  at Baz",
    );
    assert_eq!(t, T);
    assert_eq!(
        r.to_json_string(),
        r#"{"thread":"main","level":"ERROR","message":" boom\n  at Foo.bar\n  at Baz"}"#
    );
}

#[test]
fn multi_format_tries_patterns_in_order() {
    let mut s = section("multi_format", &[]);
    let mut p1 = Section::new("pattern", "", Span::builtin());
    p1.set("format", "apache2", Span::builtin());
    let mut p2 = Section::new("pattern", "", Span::builtin());
    p2.set("format", "regexp", Span::builtin());
    p2.set("expression", r#"/^(?<vhost>[^ ]*) (?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<req>[^"]*)" (?<code>\d+)/"#, Span::builtin());
    p2.set("time_format", "%d/%b/%Y:%H:%M:%S %z", Span::builtin());
    let mut p3 = Section::new("pattern", "", Span::builtin());
    p3.set("format", "none", Span::builtin());
    s.sections = vec![p1, p2, p3];
    let p = logship_parser::build_parser(&s)
        .unwrap_or_else(|e| panic!("{e}"))
        .plugin;
    let (t, r) = parse(
        &*p,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#,
    );
    assert_eq!(t, T);
    assert_eq!(r.get("code"), Some(&json!(200)));
    let (t, r) = parse(
        &*p,
        r#"example.com:443 192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "x""#,
    );
    assert_eq!(t, T);
    assert_eq!(
        r.to_json_string(),
        r#"{"vhost":"example.com:443","host":"192.168.0.1","user":"-","req":"GET / HTTP/1.1","code":"200"}"#
    );
    let (t, r) = parse(&*p, "garbage");
    assert_eq!(t, None);
    assert_eq!(r.to_json_string(), r#"{"message":"garbage"}"#);
}

// ---- errors ----

#[test]
fn bad_time_in_a_matched_line_is_invalid() {
    for ty in ["apache2", "apache", "nginx"] {
        let p = parser(ty, &[]);
        let line = if ty == "nginx" {
            r#"1.2.3.4 h - [99/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "x""#
        } else {
            r#"1.2.3.4 - - [99/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "x""#
        };
        match p.parse(line) {
            Err(ParseError::Invalid(m)) => assert!(m.starts_with("invalid time value"), "{m}"),
            other => panic!("{ty}: {other:?}"),
        }
        assert_eq!(p.parse("not a log line"), Err(ParseError::NoMatch));
    }
}

#[test]
fn trailing_cr_behaves_like_fluentd() {
    let p = parser("apache2", &[]);
    assert_eq!(
        p.parse(
            "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET / HTTP/1.1\" 200 777 \"-\" \"x\"\r"
        ),
        Err(ParseError::NoMatch)
    );
    let (_, r) = parse(
        &*p,
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET / HTTP/1.1\" 200 777\r",
    );
    assert_eq!(r.get("size"), Some(&json!(777)));
    let p = parser("apache", &[]);
    let (_, r) = parse(
        &*p,
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET / HTTP/1.1\" 200 777\r",
    );
    assert_eq!(r.get("size"), Some(&json!("777\r")));
}

#[test]
fn config_errors_are_reported() {
    let e = logship_parser::build_parser(&section("apache2", &[("keep_tme_key", "true")]))
        .err()
        .expect("error");
    assert!(
        e.to_string()
            .contains("unknown parameter 'keep_tme_key' (did you mean 'keep_time_key'?)"),
        "{e}"
    );
    let e = logship_parser::build_parser(&section("regexp", &[]))
        .err()
        .expect("error");
    assert!(
        e.to_string().contains("required parameter 'expression'"),
        "{e}"
    );
    let e = logship_parser::build_parser(&section("regexp", &[("expression", "/(?<a>x/")]))
        .err()
        .expect("error");
    assert!(e.to_string().contains("invalid regexp"), "{e}");
    let e = logship_parser::build_parser(&section("apach2", &[]))
        .err()
        .expect("error");
    assert!(e.to_string().contains("did you mean 'apache2'"), "{e}");
    let e = logship_parser::build_parser(&section("json", &[("timezone", "Mars/Base")]))
        .err()
        .expect("error");
    assert!(e.to_string().contains("invalid timezone"), "{e}");
    let e = logship_parser::build_parser(&section(
        "regexp",
        &[("expression", "^(?<a>.*)$"), ("types", "a:money")],
    ))
    .err()
    .expect("error");
    assert!(
        e.to_string()
            .contains("unknown value conversion type 'money'"),
        "{e}"
    );
}

#[test]
fn registry_knows_every_parser() {
    let mut reg = logship_api::Registry::new();
    logship_parser::register(&mut reg);
    let names: Vec<&str> = reg.parser_names().collect();
    for n in [
        "apache",
        "apache2",
        "apache_error",
        "nginx",
        "regexp",
        "json",
        "ltsv",
        "csv",
        "tsv",
        "none",
        "multiline",
        "multi_format",
    ] {
        assert!(names.contains(&n), "{n}");
    }
}

#[test]
fn v012_regex_format_value_builds_regexp() {
    let p = parser("/^(?<a>\\w+) (?<b>\\w+)$/", &[]);
    let (_, r) = parse(&*p, "x y");
    assert_eq!(r.to_json_string(), r#"{"a":"x","b":"y"}"#);
}

#[test]
fn apache2_warns_about_ignored_options() {
    let b = logship_parser::build_parser(&section(
        "apache2",
        &[
            ("types", "code:string"),
            ("time_format", "%d/%b/%Y:%H:%M:%S %z"),
        ],
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
    assert!(
        b.warnings[0]
            .message
            .contains("'types' has no effect on apache2")
    );
}
