//! Fluentd's record accessor syntax for field names: a plain key (`agent`), or a path from
//! the record root in dot (`$.kubernetes.labels.app`) or bracket notation
//! (`$['kubernetes']['labels'][0]`).

use logship_api::Record;
use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A hash key.
    Key(String),
    /// An array index (negative counts from the end, as in Ruby).
    Index(i64),
}

/// A compiled field accessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accessor {
    /// The text it was written as.
    pub source: String,
    first: String,
    rest: Vec<Step>,
}

impl Accessor {
    /// Parses an accessor; a text not starting with `$.` or `$[` is a plain key.
    pub fn parse(s: &str) -> Result<Self, String> {
        if !(s.starts_with("$.") || s.starts_with("$[")) {
            return Ok(Self {
                source: s.to_string(),
                first: s.to_string(),
                rest: vec![],
            });
        }
        let bad = |why: &str| format!("invalid record accessor {s:?}: {why}");
        let b = s.as_bytes();
        let mut i = 1;
        let mut steps = Vec::new();
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let start = i + 1;
                    let mut j = start;
                    while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                        j += 1;
                    }
                    if j == start {
                        return Err(bad("empty key after '.'"));
                    }
                    steps.push(Step::Key(s[start..j].to_string()));
                    i = j;
                }
                b'[' => {
                    let close = s[i..]
                        .find(']')
                        .map(|p| p + i)
                        .ok_or_else(|| bad("missing ']'"))?;
                    let inner = s[i + 1..close].trim();
                    let step = if let Some(q) =
                        inner.strip_prefix('\'').and_then(|x| x.strip_suffix('\''))
                    {
                        Step::Key(q.to_string())
                    } else if let Some(q) =
                        inner.strip_prefix('"').and_then(|x| x.strip_suffix('"'))
                    {
                        Step::Key(q.to_string())
                    } else {
                        Step::Index(
                            inner
                                .parse()
                                .map_err(|_| bad("a bracket holds a quoted key or an integer"))?,
                        )
                    };
                    steps.push(step);
                    i = close + 1;
                }
                _ => return Err(bad("expected '.' or '['")),
            }
        }
        match steps.first() {
            Some(Step::Key(k)) => {
                let first = k.clone();
                Ok(Self {
                    source: s.to_string(),
                    first,
                    rest: steps.split_off(1),
                })
            }
            _ => Err(bad("the first step must be a key")),
        }
    }

    /// The top-level key.
    pub fn top_key(&self) -> &str {
        &self.first
    }

    /// Whether this is a plain top-level key.
    pub fn is_plain(&self) -> bool {
        self.rest.is_empty()
    }

    /// The value at this path.
    pub fn get<'a>(&self, record: &'a Record) -> Option<&'a Value> {
        let mut v = record.get(&self.first)?;
        for s in &self.rest {
            v = step(v, s)?;
        }
        Some(v)
    }

    /// Removes the value at this path (nothing happens when it is absent).
    pub fn remove(&self, record: &mut Record) {
        let Some((last, parents)) = self.rest.split_last() else {
            record.remove(&self.first);
            return;
        };
        let Some(mut v) = record.get_mut(&self.first) else {
            return;
        };
        for s in parents {
            let Some(next) = step_mut(v, s) else { return };
            v = next;
        }
        match (v, last) {
            (Value::Object(m), Step::Key(k)) => {
                m.shift_remove(k);
            }
            (Value::Array(a), Step::Index(i)) => {
                if let Some(idx) = index(a.len(), *i) {
                    a.remove(idx);
                }
            }
            _ => {}
        }
    }
}

fn index(len: usize, i: i64) -> Option<usize> {
    let idx = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&idx).then_some(idx as usize)
}

fn step<'a>(v: &'a Value, s: &Step) -> Option<&'a Value> {
    match (v, s) {
        (Value::Object(m), Step::Key(k)) => m.get(k),
        (Value::Array(a), Step::Index(i)) => a.get(index(a.len(), *i)?),
        _ => None,
    }
}

fn step_mut<'a>(v: &'a mut Value, s: &Step) -> Option<&'a mut Value> {
    match (v, s) {
        (Value::Object(m), Step::Key(k)) => m.get_mut(k),
        (Value::Array(a), Step::Index(i)) => {
            let idx = index(a.len(), *i)?;
            a.get_mut(idx)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec() -> Record {
        Record::from_value(json!({"a": {"b": [10, {"c": "x"}]}, "plain.key": 1})).expect("object")
    }

    #[test]
    fn paths_and_plain_keys() {
        let r = rec();
        assert_eq!(
            Accessor::parse("plain.key").expect("ok").get(&r),
            Some(&json!(1))
        );
        assert_eq!(
            Accessor::parse("$.a.b[1].c").expect("ok").get(&r),
            Some(&json!("x"))
        );
        assert_eq!(
            Accessor::parse("$['a']['b'][-2]").expect("ok").get(&r),
            Some(&json!(10))
        );
        assert_eq!(Accessor::parse("$.a.zz").expect("ok").get(&r), None);
        assert!(Accessor::parse("$.a[").is_err());
        assert!(Accessor::parse("$[0]").is_err());
    }

    #[test]
    fn removes_nested_values() {
        let mut r = rec();
        Accessor::parse("$.a.b[1].c").expect("ok").remove(&mut r);
        Accessor::parse("plain.key").expect("ok").remove(&mut r);
        assert_eq!(r.to_json_string(), r#"{"a":{"b":[10,{}]}}"#);
    }
}
