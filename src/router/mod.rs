//! The event router: from a tag to the filters and the output it goes through.
//!
//! Routing is Fluentd's: within a label (the top level, or `<label @NAME>`), an event with tag
//! `t` passes through every `<filter>` whose pattern matches `t` and that comes before the first
//! `<match>` whose pattern matches `t`, in file order; it then goes to that `<match>`'s output.
//! An event that no `<match>` takes is counted and reported with a rate-limited warning
//! ("no patterns matched"), as Fluentd does. Routes are computed once per (label, tag) and cached.

pub mod pattern;

use crate::engine::output::OutputRunner;
use async_trait::async_trait;
use logship_api::{EmitError, Event, EventSink, Filter};
pub use pattern::TagPattern;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// One `<filter>` or `<match>` of a label, in file order.
pub enum Rule {
    /// A `<filter PATTERN>`.
    Filter {
        /// The pattern.
        pattern: TagPattern,
        /// The filter plugin.
        filter: Arc<dyn Filter>,
    },
    /// A `<match PATTERN>`.
    Match {
        /// The pattern.
        pattern: TagPattern,
        /// The output.
        output: Arc<OutputRunner>,
    },
}

/// The rules of one label.
#[derive(Default)]
pub struct Label {
    /// Rules in file order.
    pub rules: Vec<Rule>,
}

/// Where events of one tag go.
pub struct Route {
    filters: Vec<Arc<dyn Filter>>,
    output: Option<Arc<OutputRunner>>,
}

impl Label {
    fn route(&self, tag: &str) -> Route {
        let mut filters = Vec::new();
        for rule in &self.rules {
            match rule {
                Rule::Filter { pattern, filter } if pattern.matches(tag) => {
                    filters.push(filter.clone())
                }
                Rule::Match { pattern, output } if pattern.matches(tag) => {
                    return Route {
                        filters,
                        output: Some(output.clone()),
                    };
                }
                _ => {}
            }
        }
        Route {
            filters,
            output: None,
        }
    }
}

/// The router of a whole configuration: the top-level label and the named ones.
pub struct Router {
    labels: HashMap<String, Label>,
    cache: RwLock<HashMap<(String, String), Arc<Route>>>,
    unmatched: AtomicU64,
}

/// The name of the top-level (unnamed) label.
pub const ROOT_LABEL: &str = "";

impl Router {
    /// A router over labels; the top level is [`ROOT_LABEL`].
    pub fn new(labels: HashMap<String, Label>) -> Self {
        Self {
            labels,
            cache: RwLock::new(HashMap::new()),
            unmatched: AtomicU64::new(0),
        }
    }

    /// Events no `<match>` took so far.
    pub fn unmatched_events(&self) -> u64 {
        self.unmatched.load(Ordering::Relaxed)
    }

    fn route(&self, label: &str, tag: &str) -> Arc<Route> {
        let key = (label.to_string(), tag.to_string());
        if let Ok(cache) = self.cache.read()
            && let Some(r) = cache.get(&key)
        {
            return r.clone();
        }
        let route = Arc::new(match self.labels.get(label) {
            Some(l) => l.route(tag),
            None => Route {
                filters: vec![],
                output: None,
            },
        });
        if let Ok(mut cache) = self.cache.write() {
            // Tags are few in practice; bound the cache anyway against tag explosions.
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(key, route.clone());
        }
        route
    }

    /// Routes a batch within `label`.
    pub async fn emit_in(
        &self,
        label: &str,
        tag: &str,
        mut events: Vec<Event>,
    ) -> Result<(), EmitError> {
        let route = self.route(label, tag);
        for f in &route.filters {
            f.filter_batch(tag, &mut events);
            if events.is_empty() {
                return Ok(());
            }
        }
        match &route.output {
            Some(out) => out.emit(tag, events).await,
            None => {
                let n = self
                    .unmatched
                    .fetch_add(events.len() as u64, Ordering::Relaxed)
                    + events.len() as u64;
                // Rate-limited like Fluentd: at powers of two, then every 512 events.
                let prev = n - events.len() as u64;
                if prev == 0
                    || (n.next_power_of_two() != (prev + 1).next_power_of_two())
                    || n / 512 != prev / 512
                {
                    tracing::warn!(tag, label, total = n, "no patterns matched");
                }
                Ok(())
            }
        }
    }

    /// A sink for inputs whose events enter at `label`.
    pub fn sink(self: &Arc<Self>, label: &str) -> Arc<dyn EventSink> {
        Arc::new(LabelSink {
            router: self.clone(),
            label: label.to_string(),
        })
    }
}

struct LabelSink {
    router: Arc<Router>,
    label: String,
}

#[async_trait]
impl EventSink for LabelSink {
    async fn emit(&self, tag: &str, events: Vec<Event>) -> Result<(), EmitError> {
        self.router.emit_in(&self.label, tag, events).await
    }
}
