//! Evaluating `path` and `exclude_path`: strftime placeholders, then globs, as Fluentd's
//! `expand_paths` does.

use chrono::{DateTime, FixedOffset, Local, Utc};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A time zone for `path_timezone`.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    /// A fixed offset (`+09:00`, `UTC`).
    Fixed(FixedOffset),
    /// A named zone (`Asia/Tokyo`).
    Named(chrono_tz::Tz),
}

/// Parses `+09:00`, `-0700`, `UTC`, `Z` or an IANA name.
pub fn parse_timezone(s: &str) -> Option<Zone> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return FixedOffset::east_opt(0).map(Zone::Fixed);
    }
    if let Some(rest) = t
        .strip_prefix('+')
        .map(|r| (1, r))
        .or_else(|| t.strip_prefix('-').map(|r| (-1, r)))
    {
        let (sign, digits) = rest;
        let d: String = digits.chars().filter(|c| *c != ':').collect();
        if d.len() == 4 && d.bytes().all(|b| b.is_ascii_digit()) {
            let h: i32 = d[..2].parse().ok()?;
            let m: i32 = d[2..].parse().ok()?;
            return FixedOffset::east_opt(sign * (h * 3600 + m * 60)).map(Zone::Fixed);
        }
        return None;
    }
    t.parse::<chrono_tz::Tz>().ok().map(Zone::Named)
}

/// Formats strftime placeholders of `pattern` at `now` (only when it holds a `%`).
pub fn strftime(pattern: &str, now: DateTime<Utc>, zone: Option<Zone>) -> String {
    use std::fmt::Write;
    if !pattern.contains('%') {
        return pattern.to_string();
    }
    let mut out = String::new();
    let items: Vec<chrono::format::Item<'_>> =
        chrono::format::StrftimeItems::new(pattern).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        return pattern.to_string();
    }
    let r = match zone {
        None => write!(
            out,
            "{}",
            now.with_timezone(&Local)
                .format_with_items(items.into_iter())
        ),
        Some(Zone::Fixed(z)) => write!(
            out,
            "{}",
            now.with_timezone(&z).format_with_items(items.into_iter())
        ),
        Some(Zone::Named(z)) => write!(
            out,
            "{}",
            now.with_timezone(&z).format_with_items(items.into_iter())
        ),
    };
    if r.is_err() { pattern.to_string() } else { out }
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The result of evaluating the path patterns.
#[derive(Debug, Default)]
pub struct Expanded {
    /// Existing regular files to watch, in order.
    pub files: BTreeSet<PathBuf>,
    /// Directories to watch for new files (each pattern's directory, when it has no glob).
    pub dirs: BTreeSet<PathBuf>,
}

/// Evaluates `paths` minus `exclude` at `now`.
pub fn expand(
    paths: &[String],
    exclude: &[String],
    zone: Option<Zone>,
    limit_recently_modified: Option<Duration>,
    warned: &mut HashSet<PathBuf>,
    warn_once: bool,
) -> Expanded {
    let now = Utc::now();
    let mut out = Expanded::default();
    let mut excluded: HashSet<PathBuf> = HashSet::new();
    for e in exclude {
        let e = strftime(e, now, zone);
        if has_glob(&e) {
            if let Ok(g) = glob::glob(&e) {
                excluded.extend(g.flatten());
            }
        } else {
            excluded.insert(PathBuf::from(e));
        }
    }
    for p in paths {
        let p = strftime(p, now, zone);
        if let Some(parent) = Path::new(&p).parent()
            && !has_glob(&parent.to_string_lossy())
            && !parent.as_os_str().is_empty()
        {
            out.dirs.insert(parent.to_path_buf());
        }
        if has_glob(&p) {
            let Ok(g) = glob::glob(&p) else {
                tracing::warn!(path = %p, "in_tail: invalid glob pattern");
                continue;
            };
            for f in g.flatten() {
                let Ok(md) = std::fs::metadata(&f) else {
                    continue;
                };
                if md.is_dir() {
                    continue;
                }
                if let Some(limit) = limit_recently_modified {
                    let recent = md
                        .modified()
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok())
                        .is_none_or(|age| age <= limit);
                    if !recent {
                        continue;
                    }
                }
                if std::fs::File::open(&f).is_err() {
                    if !warn_once || warned.insert(f.clone()) {
                        tracing::warn!(path = %f.display(), "in_tail: file unreadable; it is excluded and will be examined again at the next refresh");
                    }
                    continue;
                }
                out.files.insert(f);
            }
        } else {
            // A symlink (even dangling while its target rotates): watch the target's directory.
            if let Ok(t) = std::fs::read_link(&p) {
                let t = match Path::new(&p).parent() {
                    Some(dir) if t.is_relative() => dir.join(t),
                    _ => t,
                };
                if let Some(td) = t.parent() {
                    out.dirs.insert(td.to_path_buf());
                }
            }
            if Path::new(&p).exists() {
                out.files.insert(PathBuf::from(p));
            }
        }
    }
    out.files.retain(|f| !excluded.contains(f));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn strftime_placeholders_and_zones() {
        let t = Utc
            .with_ymd_and_hms(2024, 1, 31, 23, 30, 0)
            .single()
            .expect("time");
        let z = parse_timezone("+09:00");
        assert_eq!(
            strftime("/var/log/%Y%m%d.log", t, z),
            "/var/log/20240201.log"
        );
        assert_eq!(
            strftime("/var/log/%Y%m%d.log", t, parse_timezone("UTC")),
            "/var/log/20240131.log"
        );
        assert_eq!(strftime("/var/log/a.log", t, None), "/var/log/a.log");
        assert!(parse_timezone("Asia/Tokyo").is_some());
        assert!(parse_timezone("Nowhere/Else").is_none());
    }

    #[test]
    fn glob_and_exclude() {
        let d = tempfile::tempdir().expect("dir");
        for n in ["a.log", "b.log", "c.txt"] {
            std::fs::write(d.path().join(n), "x").expect("write");
        }
        let pat = format!("{}/*.log", d.path().display());
        let ex = vec![format!("{}/b.log", d.path().display())];
        let e = expand(&[pat], &ex, None, None, &mut HashSet::new(), false);
        let names: Vec<String> = e
            .files
            .iter()
            .map(|p| p.file_name().expect("n").to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.log"]);
        assert!(e.dirs.contains(d.path()));
    }
}
