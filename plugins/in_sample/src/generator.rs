//! The record generator: the sample records in turn, each with the auto-increment field.

use crate::config::SampleConfig;
use logship_api::{Event, EventTime, Record};

/// Produces the events of each emission.
#[derive(Debug)]
pub struct Generator {
    sample: Vec<Record>,
    index: usize,
    auto_increment_key: Option<String>,
    next_value: u64,
}

impl Generator {
    /// A generator for `config`.
    pub fn new(config: &SampleConfig) -> Self {
        Self {
            sample: config.sample.clone(),
            index: 0,
            auto_increment_key: config.auto_increment_key.clone(),
            next_value: 0,
        }
    }

    /// The next record.
    pub fn next_record(&mut self) -> Record {
        if self.index >= self.sample.len() {
            self.index = 0;
        }
        let mut r = self.sample.get(self.index).cloned().unwrap_or_default();
        self.index += 1;
        if let Some(k) = &self.auto_increment_key {
            r.insert(k.as_str(), self.next_value);
            self.next_value += 1;
        }
        r
    }

    /// Appends `n` events stamped `time` to `out`.
    pub fn fill(&mut self, n: usize, time: EventTime, out: &mut Vec<Event>) {
        out.reserve(n);
        for _ in 0..n {
            out.push(Event::new(time, self.next_record()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_sample;

    #[test]
    fn cycles_and_increments() {
        let cfg = SampleConfig {
            tag: "t".into(),
            sample: parse_sample(r#"[{"n":"a"},{"n":"b","k":9}]"#).expect("sample"),
            rate: 1,
            size: 1,
            auto_increment_key: Some("k".into()),
        };
        let mut g = Generator::new(&cfg);
        let shown: Vec<String> = (0..4).map(|_| g.next_record().to_json_string()).collect();
        assert_eq!(
            shown,
            [
                r#"{"n":"a","k":0}"#,
                r#"{"n":"b","k":1}"#,
                r#"{"n":"a","k":2}"#,
                r#"{"n":"b","k":3}"#
            ]
        );
    }
}
