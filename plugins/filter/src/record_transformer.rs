//! `record_transformer`: adds, replaces and removes record fields, as Fluentd's
//! filter_record_transformer does without `enable_ruby`.
//!
//! For each event, in Fluentd's order: the new record starts as the input record (or, with
//! `renew_record`, empty, plus the `keep_keys` copied over); the `<record>` fields are set in
//! order (an existing field keeps its position), their templates (see [`crate::template`])
//! reading the *input* record; `renew_time_key` then replaces the event time with that field's
//! value (Unix seconds, fractions kept; Ruby's `to_f` for strings); `remove_keys` goes last.
//!
//! With `auto_typecast` (Fluentd v1's default) a value that is exactly one placeholder keeps
//! the placeholder's type (`${record["code"]}` stays the integer 200); otherwise placeholders
//! are expanded as Ruby's `to_s` shows them (a missing field is empty text).

use crate::config::RecordTransformerConfig;
use crate::ruby::{str_to_f, to_s};
use crate::template::{Piece, Placeholder, TagList, Template, Value as Tmpl};
use chrono::{DateTime, Local, Utc};
use logship_api::{Event, EventTime, Filter, Record, SectionReader};
use serde_json::Value;
use std::borrow::Cow;

/// Tag pieces, computed once per batch when templates use them.
#[derive(Debug, Default)]
struct TagInfo<'a> {
    parts: Vec<&'a str>,
    prefix: Vec<String>,
    suffix: Vec<String>,
}

impl<'a> TagInfo<'a> {
    fn new(tag: &'a str) -> Self {
        // Ruby's String#split('.'): trailing empty fields are dropped.
        let mut parts: Vec<&str> = tag.split('.').collect();
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        let prefix = (1..=parts.len()).map(|i| parts[..i].join(".")).collect();
        let suffix = (0..parts.len()).map(|i| parts[i..].join(".")).collect();
        Self {
            parts,
            prefix,
            suffix,
        }
    }

    fn get(&self, list: TagList, n: i64) -> Option<&str> {
        let len = self.parts.len() as i64;
        let idx = if n < 0 { len + n } else { n };
        if !(0..len).contains(&idx) {
            return None;
        }
        let i = idx as usize;
        Some(match list {
            TagList::Parts => self.parts[i],
            TagList::Prefix => &self.prefix[i],
            TagList::Suffix => &self.suffix[i],
        })
    }
}

/// What placeholders read for one event.
struct Scope<'a> {
    tag: &'a str,
    tag_info: &'a TagInfo<'a>,
    hostname: &'a str,
    time: &'a str,
    record: &'a Record,
}

impl Scope<'_> {
    fn resolve(&self, p: &Placeholder) -> Option<Cow<'_, Value>> {
        let s = |x: &str| Some(Cow::Owned(Value::String(x.to_string())));
        match p {
            Placeholder::Tag => s(self.tag),
            Placeholder::Hostname => s(self.hostname),
            Placeholder::Time => s(self.time),
            Placeholder::TagPiece(list, n) => self.tag_info.get(*list, *n).and_then(s),
            Placeholder::Record(path) => {
                let (first, rest) = path.split_first()?;
                let mut v = self.record.get(first)?;
                for k in rest {
                    v = v.as_object()?.get(k)?;
                }
                Some(Cow::Borrowed(v))
            }
            Placeholder::Nothing => None,
        }
    }

    fn push_text(&self, p: &Placeholder, out: &mut String) {
        match p {
            Placeholder::Tag => out.push_str(self.tag),
            Placeholder::Hostname => out.push_str(self.hostname),
            Placeholder::Time => out.push_str(self.time),
            Placeholder::TagPiece(list, n) => {
                out.push_str(self.tag_info.get(*list, *n).unwrap_or(""))
            }
            other => {
                if let Some(v) = self.resolve(other) {
                    out.push_str(&to_s(&v));
                }
            }
        }
    }

    fn expand_str(&self, t: &Template) -> String {
        let mut out = String::new();
        for piece in &t.pieces {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Ph(p) => self.push_text(p, &mut out),
            }
        }
        out
    }

    fn expand(&self, v: &Tmpl, auto_typecast: bool) -> Value {
        match v {
            Tmpl::Str(t) => {
                if auto_typecast
                    && t.single
                    && let Some(Piece::Ph(p)) = t.pieces.first()
                {
                    return self.resolve(p).map(Cow::into_owned).unwrap_or(Value::Null);
                }
                Value::String(self.expand_str(t))
            }
            Tmpl::Array(a) => {
                Value::Array(a.iter().map(|x| self.expand(x, auto_typecast)).collect())
            }
            Tmpl::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, x)| (self.expand_str(k), self.expand(x, auto_typecast)))
                    .collect(),
            ),
            Tmpl::Literal(l) => l.clone(),
        }
    }
}

/// `Time#to_s` in the local zone: `2011-01-02 13:14:15 +0000`.
fn ruby_time_to_s(t: EventTime) -> String {
    match DateTime::<Utc>::from_timestamp(t.secs, 0) {
        Some(dt) => dt
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S %z")
            .to_string(),
        None => t.secs.to_string(),
    }
}

/// An event time from Unix seconds as a float (Ruby's `Time.at(float)`).
fn time_from_f64(f: f64) -> Option<EventTime> {
    if !f.is_finite() || f.abs() > 1e15 {
        return None;
    }
    let secs = f.floor();
    let nanos = ((f - secs) * 1e9) as u32;
    Some(EventTime::new(secs as i64, nanos.min(999_999_999)))
}

/// The record_transformer filter.
#[derive(Debug, Clone)]
pub struct RecordTransformer {
    config: RecordTransformerConfig,
    hostname: String,
    uses_time: bool,
    uses_tag_pieces: bool,
}

impl RecordTransformer {
    /// A filter for `config`; `hostname` is what `${hostname}` gives.
    pub fn new(config: RecordTransformerConfig, hostname: impl Into<String>) -> Self {
        let uses =
            |f: &dyn Fn(&Placeholder) -> bool| config.record.iter().any(|r| r.value.uses(&f));
        let uses_time = uses(&|p| matches!(p, Placeholder::Time));
        let uses_tag_pieces = uses(&|p| matches!(p, Placeholder::TagPiece(..)));
        Self {
            config,
            hostname: hostname.into(),
            uses_time,
            uses_tag_pieces,
        }
    }

    /// Configures from a section (errors and warnings go to `r`).
    pub fn configure(r: &mut SectionReader<'_>, hostname: &str) -> (Self, RecordTransformerConfig) {
        let c = RecordTransformerConfig::read(r);
        (RecordTransformer::new(c.clone(), hostname), c)
    }

    fn transform(
        &self,
        tag: &str,
        info: &TagInfo<'_>,
        time: EventTime,
        time_text: &str,
        record: Record,
    ) -> (EventTime, Record) {
        let c = &self.config;
        let scope = Scope {
            tag,
            tag_info: info,
            hostname: &self.hostname,
            time: time_text,
            record: &record,
        };
        let values: Vec<Value> = c
            .record
            .iter()
            .map(|f| scope.expand(&f.value, c.auto_typecast))
            .collect();
        let mut out = if c.renew_record {
            let mut fresh = Record::with_capacity(c.keep_keys.len() + values.len());
            for k in &c.keep_keys {
                if let Some(v) = record.get(k) {
                    fresh.insert(k.as_str(), v.clone());
                }
            }
            fresh
        } else {
            record
        };
        for (f, v) in c.record.iter().zip(values) {
            out.insert(f.key.as_str(), v);
        }
        let mut time = time;
        if let Some(k) = &c.renew_time_key
            && let Some(v) = out.get(k)
        {
            let secs = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => Some(str_to_f(s)),
                Value::Null => Some(0.0),
                _ => None,
            };
            if let Some(t) = secs.and_then(time_from_f64) {
                time = t;
            }
        }
        for a in &c.remove_keys {
            a.remove(&mut out);
        }
        (time, out)
    }
}

impl Filter for RecordTransformer {
    fn filter(&self, tag: &str, time: EventTime, record: Record) -> Option<Record> {
        let info = if self.uses_tag_pieces {
            TagInfo::new(tag)
        } else {
            TagInfo::default()
        };
        let text = if self.uses_time {
            ruby_time_to_s(time)
        } else {
            String::new()
        };
        Some(self.transform(tag, &info, time, &text, record).1)
    }

    fn filter_batch(&self, tag: &str, events: &mut Vec<Event>) {
        let info = if self.uses_tag_pieces {
            TagInfo::new(tag)
        } else {
            TagInfo::default()
        };
        let mut cached: Option<(i64, String)> = None;
        for e in events.iter_mut() {
            if self.uses_time && cached.as_ref().is_none_or(|(s, _)| *s != e.time.secs) {
                cached = Some((e.time.secs, ruby_time_to_s(e.time)));
            }
            let text = cached.as_ref().map(|(_, s)| s.as_str()).unwrap_or("");
            let record = std::mem::take(&mut e.record);
            let (t, r) = self.transform(tag, &info, e.time, text, record);
            e.time = t;
            e.record = r;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{ConfigErr, build, rec};
    use chrono::Offset;

    const T: i64 = 1_293_974_055; // 2011-01-02 13:14:15 UTC

    fn run(conf: &str, tag: &str, time: EventTime, json: &str) -> (EventTime, String) {
        let f = build("record_transformer", conf).expect("builds").plugin;
        let mut events = vec![Event::new(time, rec(json))];
        f.filter_batch(tag, &mut events);
        let e = events.pop().expect("one event");
        (e.time, e.record.to_json_string())
    }

    #[test]
    fn placeholders_expand_from_the_input_record() {
        let conf = r#"<record>
 host ${hostname}
 tag ${tag}
 first ${tag_parts[0]}
 last ${tag_parts[-1]}
 pre ${tag_prefix[1]}
 suf ${tag_suffix[1]}
 code_copy ${record["code"]}
 code_text c=${record["code"]}
 legacy ${agent}
 missing ${record["nope"]}
 out_of_range x${tag_parts[5]}y
 obj {"k_${tag_parts[1]}":["${record[\"code\"]}",1,true]}
 message replaced ${record["message"]}
</record>"#;
        let (_, out) = run(
            conf,
            "web.prod.access",
            EventTime::from_secs(T),
            r#"{"agent":"curl","code":200,"message":"m"}"#,
        );
        assert_eq!(
            out,
            concat!(
                r#"{"agent":"curl","code":200,"message":"replaced m","host":"host1","tag":"web.prod.access","#,
                r#""first":"web","last":"access","pre":"web.prod","suf":"prod.access","code_copy":200,"#,
                r#""code_text":"c=200","legacy":"curl","missing":null,"out_of_range":"xy","obj":{"k_prod":[200,1,true]}}"#
            )
        );
    }

    #[test]
    fn auto_typecast_off_stringifies() {
        let conf = "auto_typecast false\n<record>\n code ${record[\"code\"]}\n f ${record[\"f\"]}\n h ${record[\"h\"]}\n</record>";
        let (_, out) = run(
            conf,
            "t",
            EventTime::from_secs(T),
            r#"{"code":200,"f":1.0,"h":{"a":null}}"#,
        );
        assert_eq!(out, r#"{"code":"200","f":"1.0","h":"{\"a\"=>nil}"}"#);
    }

    #[test]
    fn time_is_ruby_time_to_s_in_local_time() {
        let (_, out) = run(
            "<record>\n at ${time}\n</record>",
            "t",
            EventTime::new(T, 999),
            "{}",
        );
        let offset = DateTime::<Utc>::from_timestamp(T, 0)
            .expect("time")
            .with_timezone(&Local)
            .offset()
            .fix();
        if offset.local_minus_utc() == 0 {
            assert_eq!(out, r#"{"at":"2011-01-02 13:14:15 +0000"}"#);
        } else {
            assert!(
                out.starts_with(r#"{"at":"2011-01-0"#)
                    && out.len() == r#"{"at":"2011-01-02 13:14:15 +0000"}"#.len(),
                "{out}"
            );
        }
    }

    #[test]
    fn renew_record_keep_keys_and_remove_keys() {
        let conf = "renew_record true\nkeep_keys agent,absent\n<record>\n x 1\n</record>";
        let (_, out) = run(
            conf,
            "t",
            EventTime::from_secs(T),
            r#"{"code":200,"agent":"curl"}"#,
        );
        assert_eq!(out, r#"{"agent":"curl","x":"1"}"#);

        let conf = "remove_keys message,$.nested.a,added\n<record>\n added ${record[\"message\"]}\n</record>";
        let (_, out) = run(
            conf,
            "t",
            EventTime::from_secs(T),
            r#"{"message":"m","nested":{"a":1,"b":2}}"#,
        );
        assert_eq!(out, r#"{"nested":{"b":2}}"#);
    }

    #[test]
    fn renew_time_key_sets_the_event_time() {
        let (t, out) = run(
            "renew_time_key t",
            "x",
            EventTime::from_secs(T),
            r#"{"t":"1300000000.5"}"#,
        );
        assert_eq!(t, EventTime::new(1_300_000_000, 500_000_000));
        assert_eq!(out, r#"{"t":"1300000000.5"}"#);
        let (t, _) = run(
            "renew_time_key t",
            "x",
            EventTime::from_secs(T),
            r#"{"t":1300000001}"#,
        );
        assert_eq!(t, EventTime::from_secs(1_300_000_001));
        let (t, _) = run(
            "renew_time_key t",
            "x",
            EventTime::from_secs(T),
            r#"{"other":1}"#,
        );
        assert_eq!(t, EventTime::from_secs(T), "unchanged without the field");
    }

    #[test]
    fn single_filter_call_matches_batch() {
        let f = build(
            "record_transformer",
            "<record>\n t ${tag_suffix[-1]}\n</record>",
        )
        .expect("builds")
        .plugin;
        let r = f
            .filter("a.b", EventTime::from_secs(T), rec("{}"))
            .expect("kept");
        assert_eq!(r.to_json_string(), r#"{"t":"b"}"#);
    }

    #[test]
    fn ruby_is_refused_at_its_span() {
        let e = build("record_transformer", "enable_ruby true").config_err();
        assert_eq!(
            e.to_string(),
            "t.conf:2:13: filter_record_transformer: enable_ruby is not supported: logship never runs Ruby; use the ${...} placeholders"
        );
        assert!(build("record_transformer", "enable_ruby false").is_ok());
        let e = build(
            "record_transformer",
            "<record>\n up ${record[\"a\"].upcase}\n</record>",
        )
        .config_err();
        let s = e.to_string();
        assert!(
            s.starts_with("t.conf:3:5: ") && s.contains("is a Ruby expression"),
            "{s}"
        );
        let e = build("record_transformer", "keep_keys a").config_err();
        assert!(
            e.to_string()
                .contains("`renew_record` must be true to use `keep_keys`"),
            "{e}"
        );
        let w = build("record_transformer", "<record>\n a ${agent}\n</record>")
            .expect("builds")
            .warnings;
        assert_eq!(w.len(), 1, "the legacy form warns");
    }
}
