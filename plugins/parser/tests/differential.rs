//! Differential test: the hand-written scanners against the `regex` crate running Fluentd's
//! regexes (verbatim, with Ruby's ASCII `\s`/`\S` made explicit), over
//! (a) every line of the shared corpus, (b) its edge cases, (c) generated Apache-like lines.
//! Run with `--nocapture` to see the counts.

use logship_parser::apache::{APACHE_REGEX, APACHE2_REGEX, Captures, NGINX_REGEX};
use logship_parser::regexp::translate_ruby;
use logship_parser::{scan_apache, scan_apache2, scan_nginx};
use proptest::prelude::*;
use regex::Regex;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Fluentd's current apache2 regex writes `\\.` where the vectors file has `\\"`; the two
/// accept the same strings with the same captures (a backslash before anything but a quote is
/// also a `[^\"]` character), and the test checks both.
const APACHE2_REGEX_DOT: &str = r#"^(?<host>[^ ]*) [^ ]* (?<user>[^ ]*) \[(?<time>[^\]]*)\] "(?<method>\S+)(?: +(?<path>(?:[^\"]|\\.)*?)(?: +\S*)?)?" (?<code>[^ ]*) (?<size>[^ ]*)(?: "(?<referer>(?:[^\"]|\\.)*)" "(?<agent>(?:[^\"]|\\.)*)")?$"#;

const FIELDS: [&str; 11] = [
    "remote",
    "host",
    "user",
    "time",
    "method",
    "path",
    "code",
    "size",
    "referer",
    "agent",
    "http_x_forwarded_for",
];

type Caps = Vec<(&'static str, Option<String>)>;

struct Oracle {
    apache: Regex,
    apache2: Regex,
    apache2_dot: Regex,
    nginx: Regex,
}

fn compile(src: &str) -> Regex {
    // Ruby's `.` does not match `\n`; neither does the regex crate's by default. `^`/`$`
    // are line anchors in Ruby, text anchors here: lines never contain `\n`.
    Regex::new(&translate_ruby(src)).expect("Fluentd regex compiles")
}

impl Oracle {
    fn new() -> Self {
        Oracle {
            apache: compile(APACHE_REGEX),
            apache2: compile(APACHE2_REGEX),
            apache2_dot: compile(APACHE2_REGEX_DOT),
            nginx: compile(NGINX_REGEX),
        }
    }
}

fn from_regex(re: &Regex, line: &str) -> Option<Caps> {
    let c = re.captures(line)?;
    Some(
        FIELDS
            .iter()
            .filter(|n| re.capture_names().any(|x| x == Some(**n)))
            .map(|n| (*n, c.name(n).map(|m| m.as_str().to_string())))
            .collect(),
    )
}

fn from_scan(c: Option<Captures>, line: &str, nginx: bool) -> Option<Caps> {
    let c = c?;
    let g = |s: (usize, usize)| Some(line[s.0..s.1].to_string());
    let o = |s: Option<(usize, usize)>| s.and_then(g);
    let mut v: Caps = vec![];
    if nginx {
        v.push(("remote", o(c.remote)));
    }
    v.extend([
        ("host", g(c.host)),
        ("user", g(c.user)),
        ("time", g(c.time)),
        ("method", g(c.method)),
        ("path", o(c.path)),
        ("code", g(c.code)),
        ("size", g(c.size)),
        ("referer", o(c.referer)),
        ("agent", o(c.agent)),
    ]);
    if nginx {
        v.push(("http_x_forwarded_for", o(c.xff)));
    }
    Some(v)
}

#[derive(Default, Debug)]
struct Counts {
    lines: usize,
    apache: usize,
    apache2: usize,
    nginx: usize,
    diffs: Vec<String>,
}

fn check_line(o: &Oracle, line: &str, counts: &mut Counts, origin: &str) {
    counts.lines += 1;
    let cases: [(&str, Option<Caps>, Option<Caps>); 4] = [
        (
            "apache",
            from_regex(&o.apache, line),
            from_scan(scan_apache(line), line, false),
        ),
        (
            "apache2",
            from_regex(&o.apache2, line),
            from_scan(scan_apache2(line), line, false),
        ),
        (
            "apache2(\\\\.)",
            from_regex(&o.apache2_dot, line),
            from_scan(scan_apache2(line), line, false),
        ),
        (
            "nginx",
            from_regex(&o.nginx, line),
            from_scan(scan_nginx(line), line, true),
        ),
    ];
    for (name, want, got) in cases {
        if want.is_some() {
            match name {
                "apache" => counts.apache += 1,
                "apache2" => counts.apache2 += 1,
                "nginx" => counts.nginx += 1,
                _ => {}
            }
        }
        if want != got {
            counts.diffs.push(format!(
                "{origin}: {name}: line {line:?}\n  regex:   {want:?}\n  scanner: {got:?}"
            ));
        }
    }
}

fn corpus_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LOGSHIP_CORPUS") {
        return Some(PathBuf::from(p)).filter(|p| p.is_dir());
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    p.is_dir().then_some(p)
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_none_or(|e| e != "md") {
            out.push(p);
        }
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    let raw = std::fs::read(p).expect("readable corpus file");
    let bytes = if p.extension().is_some_and(|e| e == "gz") {
        let mut d = flate2::read::MultiGzDecoder::new(&raw[..]);
        let mut v = Vec::new();
        d.read_to_end(&mut v).expect("valid gzip");
        v
    } else {
        raw
    };
    let mut lines: Vec<String> = bytes
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

#[test]
fn corpus_scanners_equal_fluentd_regexes() {
    let Some(dir) = corpus_dir() else {
        println!(
            "SKIPPED: ../shared/corpus is absent (set LOGSHIP_CORPUS to run the corpus differential test)"
        );
        return;
    };
    let o = Oracle::new();
    let mut all = vec![];
    files(&dir, &mut all);
    let mut total = Counts::default();
    println!(
        "{:<75} {:>7} {:>7} {:>7} {:>7}",
        "file", "lines", "apache", "apache2", "nginx"
    );
    for f in &all {
        let mut c = Counts::default();
        let name = f.strip_prefix(&dir).unwrap_or(f).display().to_string();
        for line in read_lines(f) {
            check_line(&o, &line, &mut c, &name);
        }
        println!(
            "{:<75} {:>7} {:>7} {:>7} {:>7}   (matched; unmatched = lines - matched)",
            name, c.lines, c.apache, c.apache2, c.nginx
        );
        total.lines += c.lines;
        total.apache += c.apache;
        total.apache2 += c.apache2;
        total.nginx += c.nginx;
        total.diffs.extend(c.diffs);
    }
    println!(
        "TOTAL {} files, {} lines compared; matched apache {} / apache2 {} / nginx {}; unmatched apache {} / apache2 {} / nginx {}; differences: {}",
        all.len(),
        total.lines,
        total.apache,
        total.apache2,
        total.nginx,
        total.lines - total.apache,
        total.lines - total.apache2,
        total.lines - total.nginx,
        total.diffs.len()
    );
    for d in &total.diffs {
        println!("DIFF {d}");
    }
    assert!(total.diffs.is_empty(), "{} lines differ", total.diffs.len());
    assert!(total.lines > 0);
}

/// Hand-picked tricky lines (written here, not taken from the corpus).
#[test]
fn handpicked_corner_cases_equal_regexes() {
    let o = Oracle::new();
    let mut c = Counts::default();
    let lines = [
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0""#,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /" 200 777 "-" "Opera/12.0""#,
        r#"192.168.0.1 - - [28/Feb/2013:12:00:00 +0900] "GET /\" HTTP/1.1" 200 777 "referer \\ \"" "user agent \\ \"""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "-" 408 - "-" "-""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "" 400 0 "-" "-""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /a b c HTTP/1.1" 200 1 "-" "x""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET  /a  HTTP/1.1" 200 1"#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET  a"b" 200 1"#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /x HTTP/1.1" 200 1 "-" "x" "extra""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /x HTTP/1.1" 200 1 "-" "x" -"#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /x HTTP/1.1" 200 1 "-" "x" "#,
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET /x HTTP/1.1\" 200 1 \"-\" \"x\"\r",
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET /x HTTP/1.1\" 200 1\r",
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET\u{a0}/x HTTP/1.1\" 200 1",
        "1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] \"GET\t/x HTTP/1.1\" 200 1",
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "a"b"c" 200 1 "r"x" "a""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /x\\" 200 1 "r\\" "a\\\"""#,
        r#"1.2.3.4 - - [28/Feb/2013:12:00:00 +0900] "GET /x" 200 1 "r" "a" "b" "c""#,
        r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" "127.0.0.1, 192.168.0.1""#,
        r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0"  ""#,
        r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" "a"#,
        r#"127.0.0.1 192.168.0.1 - [28/Feb/2013:12:00:00 +0900] "GET / HTTP/1.1" 200 777 "-" "Opera/12.0" a""#,
        "",
        " ",
        "a b c [",
    ];
    for l in lines {
        check_line(&o, l, &mut c, "handpicked");
    }
    for d in &c.diffs {
        println!("DIFF {d}");
    }
    assert!(c.diffs.is_empty());
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("\"".to_string()),
        3 => Just("\\".to_string()),
        4 => Just(" ".to_string()),
        1 => Just("  ".to_string()),
        1 => Just("[".to_string()),
        1 => Just("]".to_string()),
        2 => Just("-".to_string()),
        1 => Just("\t".to_string()),
        1 => Just("\r".to_string()),
        1 => Just("\u{a0}".to_string()),
        1 => Just("é".to_string()),
        2 => Just("GET".to_string()),
        2 => Just("/a".to_string()),
        1 => Just("HTTP/1.1".to_string()),
        2 => Just("200".to_string()),
        1 => Just("0".to_string()),
        2 => Just("x".to_string()),
    ]
}

fn field() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..6).prop_map(|v| v.concat())
}

/// Apache-like lines: a plausible skeleton whose every part is random.
fn line() -> impl Strategy<Value = String> {
    (
        field(),
        field(),
        prop_oneof![Just("28/Feb/2013:12:00:00 +0900".to_string()), field()],
        field(),
        field(),
        field(),
        prop::option::of((field(), field())),
        prop::option::of(field()),
        any::<bool>(),
    )
        .prop_map(|(host, user, time, req, code, size, ra, xff, nginx)| {
            let mut l = if nginx {
                format!("{host} {user} - [{time}] \"{req}\" {code} {size}")
            } else {
                format!("{host} - {user} [{time}] \"{req}\" {code} {size}")
            };
            if let Some((r, a)) = ra {
                l.push_str(&format!(" \"{r}\" \"{a}\""));
            }
            if let Some(x) = xff {
                l.push_str(&x);
            }
            l
        })
}

/// Mostly well-formed lines: a clean prefix, random request/referer/agent/trailer, so that
/// most lines reach the backtracking parts of the regexes.
fn line_mostly_valid() -> impl Strategy<Value = String> {
    (
        "[a-z0-9.:]{1,12}",
        prop_oneof![Just("-".to_string()), "[a-z]{1,5}"],
        field(),
        prop_oneof![
            Just("200".to_string()),
            Just("-".to_string()),
            Just("0".to_string()),
            field()
        ],
        prop_oneof![Just("777".to_string()), Just("-".to_string()), field()],
        prop::option::of((field(), field())),
        prop::option::of(field()),
        any::<bool>(),
    )
        .prop_map(|(host, user, req, code, size, ra, xff, nginx)| {
            let mut l = if nginx {
                format!("{host} {host} {user} [28/Feb/2013:12:00:00 +0900] \"{req}\" {code} {size}")
            } else {
                format!("{host} - {user} [28/Feb/2013:12:00:00 +0900] \"{req}\" {code} {size}")
            };
            if let Some((r, a)) = ra {
                l.push_str(&format!(" \"{r}\" \"{a}\""));
            }
            if let Some(x) = xff {
                l.push_str(&x);
            }
            l
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_lines_equal_regexes(l in line()) {
        thread_local!(static O: Oracle = Oracle::new());
        O.with(|o| {
            let mut c = Counts::default();
            check_line(o, &l, &mut c, "generated");
            prop_assert!(c.diffs.is_empty(), "{}", c.diffs.join("\n"));
            Ok(())
        })?;
    }

    #[test]
    fn mostly_valid_lines_equal_regexes(l in line_mostly_valid()) {
        thread_local!(static O: Oracle = Oracle::new());
        O.with(|o| {
            let mut c = Counts::default();
            check_line(o, &l, &mut c, "mostly-valid");
            prop_assert!(c.diffs.is_empty(), "{}", c.diffs.join("\n"));
            Ok(())
        })?;
    }

    #[test]
    fn random_text_equal_regexes(l in prop::collection::vec(piece(), 0..40).prop_map(|v| v.concat())) {
        thread_local!(static O: Oracle = Oracle::new());
        O.with(|o| {
            let mut c = Counts::default();
            check_line(o, &l, &mut c, "random");
            prop_assert!(c.diffs.is_empty(), "{}", c.diffs.join("\n"));
            Ok(())
        })?;
    }
}

/// The same generator run deterministically, to report how many generated lines each format
/// matched (so the comparison is known to cover matches and non-matches alike).
#[test]
fn generated_lines_statistics() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let o = Oracle::new();
    let mut runner = TestRunner::deterministic();
    let strategy = line();
    let valid = line_mostly_valid();
    let mut c = Counts::default();
    for _ in 0..50_000 {
        let l = strategy.new_tree(&mut runner).expect("value").current();
        check_line(&o, &l, &mut c, "generated");
        let l = valid.new_tree(&mut runner).expect("value").current();
        check_line(&o, &l, &mut c, "generated");
    }
    println!(
        "generated: {} lines compared; matched apache {} / apache2 {} / nginx {}; unmatched apache {} / apache2 {} / nginx {}; differences: {}",
        c.lines,
        c.apache,
        c.apache2,
        c.nginx,
        c.lines - c.apache,
        c.lines - c.apache2,
        c.lines - c.nginx,
        c.diffs.len()
    );
    for d in c.diffs.iter().take(20) {
        println!("DIFF {d}");
    }
    assert!(c.diffs.is_empty());
    assert!(
        c.apache > 100 && c.apache2 > 100 && c.nginx > 100,
        "the generator must produce matching lines: {c:?}"
    );
}
