//! apache2 parse + JSON encoding throughput (lines/s), scanner vs. a `regex`-crate baseline
//! running Fluentd's regex, on (a) a generated combined log and (b) the shared corpus lines
//! when `../shared/corpus` is present.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logship_api::{ParseError, Record};
use logship_parser::Apache2Parser;
use logship_parser::apache::APACHE2_REGEX;
use logship_parser::regexp::translate_ruby;
use logship_parser::time::parse_apache_time;
use logship_parser::types::ruby_to_i;
use regex::Regex;
use serde_json::Value;
use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A small deterministic generator (xorshift64*), so the bench needs no extra crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

fn generated(n: usize) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let methods = ["GET", "GET", "GET", "GET", "POST", "HEAD", "PUT", "OPTIONS"];
    let paths = [
        "/",
        "/index.html",
        "/favicon.ico",
        "/api/v1/users/",
        "/static/js/app.",
        "/images/logo.png",
        "/search?q=",
        "/blog/2024/05/",
        "/wp-login.php",
        "/robots.txt",
    ];
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "curl/8.5.0",
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
        "-",
    ];
    let referers = [
        "-",
        "https://www.google.com/",
        "https://example.com/blog/",
        "https://example.com/search?q=rust+logs",
    ];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let codes = [
        "200", "200", "200", "200", "304", "404", "301", "500", "206",
    ];
    (0..n)
        .map(|i| {
            let ip = format!("{}.{}.{}.{}", 1 + rng.next() % 223, rng.next() % 256, rng.next() % 256, 1 + rng.next() % 254);
            let user = if rng.next().is_multiple_of(20) { "alice" } else { "-" };
            let code = rng.pick(&codes);
            let size = if code == "304" { "-".to_string() } else { (rng.next() % 50_000).to_string() };
            let path = format!("{}{}", rng.pick(&paths), rng.next() % 1000);
            format!(
                "{ip} - {user} [{:02}/{}/2024:{:02}:{:02}:{:02} +0000] \"{} {path} HTTP/1.1\" {code} {size} \"{}\" \"{}\"",
                1 + (i / 86_400) % 28,
                rng.pick(&months),
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                rng.pick(&methods),
                rng.pick(&referers),
                rng.pick(&agents),
            )
        })
        .collect()
}

fn corpus_lines() -> Option<Vec<String>> {
    let dir = std::env::var("LOGSHIP_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"));
    if !dir.is_dir() {
        return None;
    }
    let mut files = vec![];
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|x| x != "md") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut lines = vec![];
    for f in files {
        let raw = std::fs::read(&f).ok()?;
        let bytes = if f.extension().is_some_and(|e| e == "gz") {
            let mut v = vec![];
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut v)
                .ok()?;
            v
        } else {
            raw
        };
        lines.extend(
            bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| String::from_utf8_lossy(l).into_owned()),
        );
    }
    Some(lines)
}

/// The baseline: Fluentd's apache2 record built from the `regex` crate's captures.
struct RegexApache2 {
    re: Regex,
}

impl RegexApache2 {
    fn parse(&self, line: &str) -> Result<Record, ParseError> {
        let c = self.re.captures(line).ok_or(ParseError::NoMatch)?;
        let g = |n: &str| c.name(n).map(|m| m.as_str());
        let dash = |v: Option<&str>| match v {
            None | Some("-") => Value::Null,
            Some(s) => Value::String(s.to_string()),
        };
        let _t = parse_apache_time(g("time").unwrap_or(""))
            .map_err(|e| ParseError::Invalid(e.to_string()))?;
        let mut r = Record::with_capacity(8);
        r.push_unique("host", dash(g("host")));
        r.push_unique("user", dash(g("user")));
        r.push_unique(
            "method",
            Value::String(g("method").unwrap_or("").to_string()),
        );
        r.push_unique(
            "path",
            g("path").map_or(Value::Null, |p| Value::String(p.to_string())),
        );
        let code = ruby_to_i(g("code").unwrap_or(""));
        r.push_unique(
            "code",
            if code == 0 {
                Value::Null
            } else {
                Value::from(code)
            },
        );
        let size = g("size").unwrap_or("");
        r.push_unique(
            "size",
            if size == "-" {
                Value::Null
            } else {
                Value::from(ruby_to_i(size))
            },
        );
        r.push_unique("referer", dash(g("referer")));
        r.push_unique("agent", dash(g("agent")));
        Ok(r)
    }
}

fn bench_set(c: &mut Criterion, name: &str, lines: &[String]) {
    let scanner = Apache2Parser::default();
    let baseline = RegexApache2 {
        re: Regex::new(&translate_ruby(APACHE2_REGEX)).expect("regex"),
    };
    let mut g = c.benchmark_group(format!("apache2_parse_json/{name}"));
    g.throughput(Throughput::Elements(lines.len() as u64));
    let mut out = Vec::with_capacity(1 << 20);
    g.bench_function(BenchmarkId::new("scanner", lines.len()), |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in lines {
                out.clear();
                if let Ok((_, r)) = scanner.parse_line(l) {
                    r.write_json(&mut out);
                    ok += 1;
                }
            }
            black_box((ok, out.len()))
        })
    });
    g.bench_function(BenchmarkId::new("regex_baseline", lines.len()), |b| {
        b.iter(|| {
            let mut ok = 0usize;
            for l in lines {
                out.clear();
                if let Ok(r) = baseline.parse(l) {
                    r.write_json(&mut out);
                    ok += 1;
                }
            }
            black_box((ok, out.len()))
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let gen_lines = generated(20_000);
    bench_set(c, "generated", &gen_lines);
    match corpus_lines() {
        Some(lines) => bench_set(c, "corpus", &lines),
        None => println!("corpus bench SKIPPED: ../shared/corpus is absent"),
    }
}

criterion_group!(parse, benches);
criterion_main!(parse);
