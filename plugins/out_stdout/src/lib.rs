//! `stdout`: Fluentd's stdout output for logship.
//!
//! Each event is formatted by the `<format>` plugin and written to standard output. Without a
//! `<format>` section the layout is out_file's, `time<TAB>tag<TAB>json` (local time, ISO 8601),
//! which is also what a file or S3 object would hold; `<format> @type stdout </format>` gives
//! Fluentd's own `time tag: json` lines.
//!
//! As in Fluentd, the output is unbuffered unless a `<buffer>` section is given
//! ([`Output::defaults`] says `buffered: false`; the engine then hands each batch over as a
//! chunk at once). A chunk is written whole with the destination locked once and flushed at
//! the end, on a blocking thread so that a stalled pipe never stalls the runtime. The
//! destination is injectable ([`StdoutOutput::with_writer`]) for tests and embedding.

pub mod config;

use async_trait::async_trait;
use config::{StdoutOutputConfig, default_format_type};
use logship_api::{
    BuildResult, Built, Chunk, ConfigErrors, EventTime, Formatter, Output, OutputDefaults,
    PluginContext, PluginError, Record, Registry, Section, SectionReader,
};
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// Where the bytes go.
enum Sink {
    /// The process's standard output.
    Stdout,
    /// Any writer (tests, embedding).
    Writer(Mutex<Box<dyn Write + Send>>),
}

impl Sink {
    /// Copies the whole chunk, then flushes.
    fn write_chunk(&self, chunk: &Chunk) -> io::Result<()> {
        let mut reader = chunk.body.open()?;
        match self {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                io::copy(&mut reader, &mut out)?;
                out.flush()
            }
            Sink::Writer(w) => {
                let mut out = w
                    .lock()
                    .map_err(|_| io::Error::other("stdout sink poisoned by a panic"))?;
                io::copy(&mut reader, &mut *out)?;
                out.flush()
            }
        }
    }
}

/// The stdout output.
pub struct StdoutOutput {
    formatter: Box<dyn Formatter>,
    sink: Arc<Sink>,
}

impl StdoutOutput {
    /// An output writing to standard output.
    pub fn new(formatter: Box<dyn Formatter>) -> Self {
        Self {
            formatter,
            sink: Arc::new(Sink::Stdout),
        }
    }

    /// An output writing to `writer` instead.
    pub fn with_writer(formatter: Box<dyn Formatter>, writer: Box<dyn Write + Send>) -> Self {
        Self {
            formatter,
            sink: Arc::new(Sink::Writer(Mutex::new(writer))),
        }
    }
}

#[async_trait]
impl Output for StdoutOutput {
    fn defaults(&self) -> OutputDefaults {
        OutputDefaults {
            buffered: false,
            chunk_keys: vec!["tag".to_string()],
            ..OutputDefaults::default()
        }
    }

    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        self.formatter.format(tag, time, record, out);
    }

    async fn write(&self, chunk: &Chunk) -> Result<(), PluginError> {
        let sink = self.sink.clone();
        let chunk = chunk.clone();
        tokio::task::spawn_blocking(move || sink.write_chunk(&chunk))
            .await
            .map_err(|e| PluginError::retryable(format!("stdout: writer task failed: {e}")))?
            .map_err(|e| PluginError::from_io("stdout", &e))
    }
}

/// Builds the formatter of a `<format>` section: through the registry when it knows the type,
/// else from logship-formatter directly (so out_stdout works whatever the registration order).
fn build_formatter(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Formatter> {
    let name = section
        .plugin_type()
        .map(|p| p.value.trim().to_string())
        .unwrap_or_else(default_format_type);
    if ctx.registry.formatter_names().any(|n| n == name) {
        ctx.registry.build_formatter(section, ctx, Some("out_file"))
    } else {
        logship_formatter::build(&name, section)
    }
}

fn factory(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Output> {
    let mut r = SectionReader::new(section, "out_stdout");
    r.ignore(
        "output_type",
        "logship's stdout output writes the out_file layout; choose another with a <format> section",
    );
    r.sections("buffer");
    r.sections("inject");
    r.sections("secondary");
    let default_format = Section::new("format", "", section.span.clone());
    let format_section = r.section_opt("format").unwrap_or(&default_format);
    let format_type = format_section
        .plugin_type()
        .map(|p| p.value.trim().to_string())
        .unwrap_or_else(default_format_type);
    let formatter = match build_formatter(format_section, ctx) {
        Ok(b) => {
            for w in &b.warnings {
                r.warn(w.span.clone(), w.message.clone());
            }
            Some(b)
        }
        Err(e) => {
            r.absorb(Err(e));
            None
        }
    };
    let warnings = r.finish()?;
    let Some(f) = formatter else {
        return Err(ConfigErrors::one(
            section.span.clone(),
            "out_stdout: invalid <format>",
        ));
    };
    let settings = StdoutOutputConfig {
        format_type,
        format: f.settings,
    };
    Ok(Built::new(
        Box::new(StdoutOutput::new(f.plugin)),
        settings,
        warnings,
    ))
}

/// Registers the output as `stdout`.
pub fn register(registry: &mut Registry) {
    registry.register_output("stdout", factory);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration error of a build that must fail.
    trait ConfigErr {
        /// The errors; panics when the build succeeded.
        fn config_err(self) -> logship_api::ConfigErrors;
    }

    impl<T> ConfigErr for Result<T, logship_api::ConfigErrors> {
        fn config_err(self) -> logship_api::ConfigErrors {
            match self {
                Ok(_) => panic!("expected a configuration error"),
                Err(e) => e,
            }
        }
    }
    use logship_api::chunk::MemoryBody;
    use logship_api::config::Param;
    use logship_api::{ChunkId, ChunkMetadata, Span};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn ctx() -> PluginContext {
        PluginContext {
            registry: Arc::new(Registry::new()),
            id: "o".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        }
    }

    fn param(k: &str, v: &str, line: u32) -> Param {
        let f: Arc<str> = Arc::from("t.conf");
        Param {
            key: k.into(),
            value: v.into(),
            key_span: Span::new(f.clone(), line, 3),
            value_span: Span::new(f, line, 4 + k.len() as u32),
        }
    }

    fn rec(json: &str) -> Record {
        Record::from_value(serde_json::from_str(json).expect("json")).expect("object")
    }

    fn chunk(bytes: Vec<u8>) -> Chunk {
        Chunk {
            id: ChunkId([7; 16]),
            metadata: ChunkMetadata::default(),
            records: 2,
            first_time: None,
            retries: 0,
            body: Arc::new(MemoryBody::new(bytes)),
        }
    }

    #[tokio::test]
    async fn formats_out_file_layout_and_writes_chunks_whole() {
        let mut sec = Section::new("match", "**", Span::builtin());
        let mut fmt = Section::new("format", "", Span::builtin());
        fmt.params.push(param("utc", "true", 3));
        sec.sections.push(fmt);
        let built = factory(&sec, &ctx()).expect("builds");
        assert!(format!("{:?}", built.settings).contains("format_type: \"out_file\""));
        let mut bytes = Vec::new();
        built.plugin.format(
            "test",
            EventTime::from_secs(1_293_974_055),
            &rec(r#"{"a":1}"#),
            &mut bytes,
        );
        built.plugin.format(
            "test",
            EventTime::from_secs(1_293_974_055),
            &rec(r#"{"a":2}"#),
            &mut bytes,
        );
        assert_eq!(
            bytes,
            b"2011-01-02T13:14:15Z\ttest\t{\"a\":1}\n2011-01-02T13:14:15Z\ttest\t{\"a\":2}\n"
        );

        let captured = Shared::default();
        let out = StdoutOutput::with_writer(
            Box::new(logship_formatter::OutFileFormat::utc()),
            Box::new(captured.clone()),
        );
        assert!(!out.defaults().buffered);
        out.write(&chunk(bytes.clone())).await.expect("written");
        out.write(&chunk(b"x\n".to_vec())).await.expect("written");
        let mut expected = bytes;
        expected.extend_from_slice(b"x\n");
        assert_eq!(*captured.0.lock().expect("lock"), expected);
    }

    #[test]
    fn default_format_and_config_errors() {
        let mut sec = Section::new("match", "**", Span::builtin());
        sec.params.push(param("output_type", "json", 2));
        let built = factory(&sec, &ctx()).expect("builds");
        assert_eq!(
            built.warnings.len(),
            1,
            "output_type is ignored with a warning"
        );
        let mut bytes = Vec::new();
        built.plugin.format(
            "a.b",
            EventTime::from_secs(0),
            &rec(r#"{"k":"v"}"#),
            &mut bytes,
        );
        let line = String::from_utf8(bytes).expect("utf8");
        assert!(
            line.starts_with("19") && line.ends_with("\ta.b\t{\"k\":\"v\"}\n"),
            "{line}"
        );

        let mut sec = Section::new("match", "**", Span::builtin());
        let mut fmt = Section::new("format", "", Span::builtin());
        fmt.params.push(param("@type", "jsn", 3));
        sec.sections.push(fmt);
        sec.params.push(param("flush_intervall", "1s", 4));
        let e = factory(&sec, &ctx()).config_err();
        let shown = e.to_string();
        assert!(
            shown.contains("unknown formatter plugin type 'jsn'"),
            "{shown}"
        );
        assert!(
            shown.contains("unknown parameter 'flush_intervall'"),
            "{shown}"
        );
    }

    #[test]
    fn uses_the_registry_when_it_knows_the_type() {
        let mut reg = Registry::new();
        logship_formatter::register(&mut reg);
        register(&mut reg);
        let reg = Arc::new(reg);
        let c = PluginContext {
            registry: reg.clone(),
            id: "o".into(),
            hostname: "h".into(),
            root_dir: None,
            buffer: None,
        };
        let mut sec = Section::new("match", "**", Span::builtin());
        sec.params.push(param("@type", "stdout", 2));
        let mut fmt = Section::new("format", "", Span::builtin());
        fmt.params.push(param("@type", "single_value", 3));
        sec.sections.push(fmt);
        let built = reg.build_output(&sec, &c, None).expect("builds");
        let mut bytes = Vec::new();
        built.plugin.format(
            "t",
            EventTime::from_secs(0),
            &rec(r#"{"message":"hello"}"#),
            &mut bytes,
        );
        assert_eq!(bytes, b"hello\n");
    }
}
