//! What the monitoring endpoints say: Fluentd monitor_agent's `/api/plugins.json` and the
//! Prometheus text exposition of `/metrics`, both computed from the running pipeline.

use crate::engine::Live;
use crate::engine::output::{LATENCY_BUCKETS, Mode};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

/// `{"plugins": [...]}` with Fluentd monitor_agent's fields per plugin.
pub fn plugins_json(live: Option<&Live>) -> Value {
    let Some(live) = live else {
        return json!({ "plugins": [] });
    };
    let mut plugins = Vec::new();
    for i in &live.inputs {
        plugins.push(json!({
            "plugin_id": i.id,
            "plugin_category": "input",
            "type": i.type_name,
            "config": { "@type": i.type_name, "@id": i.id, "tag": i.tag },
            "output_plugin": false,
            "retry_count": null,
            "emit_records": i.metrics.emit_records.load(Relaxed),
            "emit_size": 0,
            "emit_count": i.metrics.emit_count.load(Relaxed),
        }));
    }
    for o in &live.outputs {
        let m = &o.metrics;
        let mut p = json!({
            "plugin_id": o.id,
            "plugin_category": "output",
            "type": o.type_name,
            "config": { "@type": o.type_name, "@id": o.id, "pattern": o.pattern },
            "output_plugin": true,
            "retry_count": m.write_errors.load(Relaxed),
            "emit_records": m.emit_records.load(Relaxed),
            "emit_count": m.emit_count.load(Relaxed),
            "write_count": m.write_count.load(Relaxed),
            "rollback_count": m.write_errors.load(Relaxed),
            "slow_flush_count": 0,
            "flush_time_count": m.latency_sum_us.load(Relaxed) / 1000,
        });
        if let (Mode::Buffered(cfg), Some(b), Some(obj)) =
            (&o.mode, o.buffer.get(), p.as_object_mut())
        {
            let s = b.stats();
            let chunks = b.chunks();
            let staged_bytes: u64 = chunks.iter().filter(|c| !c.queued).map(|c| c.bytes).sum();
            let mut timekeys: Vec<i64> = chunks.iter().filter_map(|c| c.metadata.timekey).collect();
            timekeys.sort_unstable();
            timekeys.dedup();
            let limit = cfg.total_limit_size.max(1) as f64;
            obj.insert("buffer_queue_length".into(), json!(s.queued_chunks));
            obj.insert("buffer_stage_length".into(), json!(s.staged_chunks));
            obj.insert("buffer_total_queued_size".into(), json!(s.total_bytes));
            obj.insert("buffer_stage_byte_size".into(), json!(staged_bytes));
            obj.insert("buffer_queue_byte_size".into(), json!(s.queued_bytes));
            obj.insert("buffer_timekeys".into(), json!(timekeys));
            obj.insert(
                "buffer_available_buffer_space_ratios".into(),
                json!(((1.0 - s.total_bytes as f64 / limit) * 100.0).clamp(0.0, 100.0)),
            );
            obj.insert("retry_count".into(), json!(s.retry_count));
            let retry = match s.next_retry {
                Some(t) => json!({
                    "steps": s.retry_count,
                    "next_time": t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                }),
                None => json!({}),
            };
            obj.insert("retry".into(), retry);
        }
        plugins.push(p);
    }
    json!({ "plugins": plugins })
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Prom(String);

impl Prom {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn line(&mut self, name: &str, labels: &[(&str, &str)], v: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let l: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                .collect();
            let _ = writeln!(self.0, "{name}{{{}}} {v}", l.join(","));
        }
    }
}

/// The Prometheus text exposition (format 0.0.4).
pub fn prometheus(live: Option<&Live>) -> String {
    let mut p = Prom(String::new());
    p.head("logship_up", "gauge", "1 while a pipeline runs.");
    p.line("logship_up", &[], u8::from(live.is_some()));
    let Some(live) = live else {
        return p.0;
    };
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0);

    type InputGet = fn(&crate::engine::InputMetrics) -> u64;
    let input_counters: [(&str, &str, InputGet); 2] = [
        (
            "logship_input_records_total",
            "Records each input emitted and the engine accepted.",
            |m| m.emit_records.load(Relaxed),
        ),
        (
            "logship_input_emit_errors_total",
            "Batches the engine refused (buffer full, shutting down); the input retries them.",
            |m| m.emit_errors.load(Relaxed),
        ),
    ];
    for (name, help, get) in input_counters {
        p.head(name, "counter", help);
        for i in &live.inputs {
            let l = [("plugin_id", i.id.as_str()), ("type", i.type_name.as_str())];
            p.line(name, &l, get(&i.metrics));
        }
    }
    // The inputs' own counters, one family per name: its first reading (name, help, kind)
    // and a (plugin_id, type, value) per input.
    type Family<'a> = (logship_api::InputCounter, Vec<(&'a str, &'a str, u64)>);
    let mut own: Vec<Family> = Vec::new();
    for i in &live.inputs {
        for c in i.counters.iter().flat_map(|c| c.read()) {
            let at = match own.iter().position(|(f, _)| f.name == c.name) {
                Some(at) => at,
                None => {
                    own.push((c, Vec::new()));
                    own.len() - 1
                }
            };
            own[at]
                .1
                .push((i.id.as_str(), i.type_name.as_str(), c.value));
        }
    }
    for (family, lines) in &own {
        let kind = if family.gauge { "gauge" } else { "counter" };
        p.head(family.name, kind, family.help);
        for (id, ty, v) in lines {
            p.line(family.name, &[("plugin_id", id), ("type", ty)], *v);
        }
    }
    p.head(
        "logship_unmatched_events_total",
        "counter",
        "Events no <match> took (dropped with a warning).",
    );
    p.line(
        "logship_unmatched_events_total",
        &[],
        live.router.unmatched_events(),
    );

    type Get = fn(&crate::engine::output::OutputMetrics) -> u64;
    let counters: [(&str, &str, Get); 5] = [
        (
            "logship_output_records_total",
            "Records routed to each output.",
            |m| m.emit_records.load(Relaxed),
        ),
        (
            "logship_output_objects_written_total",
            "Chunks written (one object each for out_s3).",
            |m| m.write_count.load(Relaxed),
        ),
        (
            "logship_output_bytes_written_total",
            "Formatted bytes of the chunks written (before compression).",
            |m| m.write_bytes.load(Relaxed),
        ),
        (
            "logship_output_write_errors_total",
            "Failed writes; each is retried or moved to backup.",
            |m| m.write_errors.load(Relaxed),
        ),
        (
            "logship_output_emit_batches_total",
            "Batches routed to each output.",
            |m| m.emit_count.load(Relaxed),
        ),
    ];
    for (name, help, get) in counters {
        p.head(name, "counter", help);
        for o in &live.outputs {
            let l = [("plugin_id", o.id.as_str()), ("type", o.type_name.as_str())];
            p.line(name, &l, get(&o.metrics));
        }
    }

    let h = "logship_output_write_duration_seconds";
    p.head(h, "histogram", "Time each chunk write took.");
    for o in &live.outputs {
        let m = &o.metrics;
        let mut cum = 0u64;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            cum += m.latency_counts[i].load(Relaxed);
            let le = b.to_string();
            p.line(
                &format!("{h}_bucket"),
                &[("plugin_id", o.id.as_str()), ("le", le.as_str())],
                cum,
            );
        }
        let total = m.write_count.load(Relaxed) + m.write_errors.load(Relaxed);
        p.line(
            &format!("{h}_bucket"),
            &[("plugin_id", o.id.as_str()), ("le", "+Inf")],
            total,
        );
        p.line(
            &format!("{h}_sum"),
            &[("plugin_id", o.id.as_str())],
            m.latency_sum_us.load(Relaxed) as f64 / 1e6,
        );
        p.line(
            &format!("{h}_count"),
            &[("plugin_id", o.id.as_str())],
            total,
        );
    }

    let buffered: Vec<_> = live
        .outputs
        .iter()
        .filter_map(|o| o.buffer.get().map(|b| (o, b)))
        .collect();
    type Gauge = fn(&crate::buffer::BufferStats) -> u64;
    let gauges: [(&str, &str, &str, Gauge); 6] = [
        (
            "logship_buffer_staged_chunks",
            "gauge",
            "Chunks accepting records.",
            |s| s.staged_chunks as u64,
        ),
        (
            "logship_buffer_queued_chunks",
            "gauge",
            "Chunks sealed and waiting to be written.",
            |s| s.queued_chunks as u64,
        ),
        (
            "logship_buffer_bytes",
            "gauge",
            "Bytes of all chunks (file sizes for a file buffer).",
            |s| s.total_bytes,
        ),
        (
            "logship_buffer_queued_bytes",
            "gauge",
            "Bytes of queued chunks.",
            |s| s.queued_bytes,
        ),
        (
            "logship_buffer_retries_total",
            "counter",
            "Failed writes counted by the buffer.",
            |s| s.retry_count,
        ),
        (
            "logship_buffer_backup_chunks_total",
            "counter",
            "Chunks moved to backup/ after exhausting retries.",
            |s| s.backup_chunks,
        ),
    ];
    let stats: Vec<_> = buffered
        .iter()
        .map(|(o, b)| (o, b.stats(), b.chunks()))
        .collect();
    for (name, kind, help, get) in gauges {
        p.head(name, kind, help);
        for (o, s, _) in &stats {
            p.line(name, &[("plugin_id", o.id.as_str())], get(s));
        }
    }
    let age = "logship_buffer_oldest_record_age_seconds";
    p.head(
        age,
        "gauge",
        "Age (by event time) of the oldest record not yet written; 0 when the buffer is empty.",
    );
    for (o, _, chunks) in &stats {
        let oldest = chunks.iter().filter_map(|c| c.first_time_ns).min();
        let secs = oldest.map_or(0.0, |t| (now_ns.saturating_sub(t)).max(0) as f64 / 1e9);
        p.line(age, &[("plugin_id", o.id.as_str())], format!("{secs:.3}"));
    }
    p.0
}
