//! `out_s3`: the fluent-plugin-s3 output of logship.
//!
//! How it works, as in fluent-plugin-s3 v1:
//!
//! * records reach the output through a **file buffer chunked by time** (chunk key `time`,
//!   timekey one hour unless `time_slice_format` or `<buffer> timekey` says otherwise, with
//!   `timekey_wait` 10 minutes), so each chunk holds one time slice;
//! * each record is formatted by the `<format>` plugin (`out_file` by default:
//!   `time<TAB>tag<TAB>json`), after the engine applied `<inject>`;
//! * a finished chunk becomes one object whose key is rendered from `s3_object_key_format`
//!   ([`key::KeyTemplate`]): `%{path}%{time_slice}_%{index}.%{file_extension}` by default,
//!   with `%{index}` bumped while an object with that key exists (`check_object`);
//! * the body is compressed per `store_as` (gzip by default, zstd, or stored as json/text);
//! * credentials come from `aws_key_id`/`aws_sec_key`, a credentials section, or the
//!   environment; `s3_endpoint` points at an S3-compatible service or a local directory
//!   (`file:///dir`).
//!
//! This build configures and validates everything (every error collected with its span) and
//! formats records; the upload itself is a later issue (#5): [`Output::write`] returns an
//! unrecoverable error until then, so chunks go to the secondary/backup path and are not lost.

pub mod config;
pub mod key;

use async_trait::async_trait;
use config::{S3Config, default_timekey_wait};
use logship_api::{
    BuildResult, Built, Chunk, EventTime, Formatter, Output, OutputDefaults, PluginContext,
    PluginError, Record, Registry, Section, SectionReader,
};

/// The out_s3 plugin.
pub struct S3Output {
    config: S3Config,
    formatter: Box<dyn Formatter>,
    defaults: OutputDefaults,
}

impl S3Output {
    /// The configuration.
    pub fn config(&self) -> &S3Config {
        &self.config
    }
}

/// Registers output `s3`.
pub fn register(registry: &mut Registry) {
    registry.register_output("s3", build);
}

/// The buffer defaults of out_s3 for a configuration: a file buffer chunked by `time`, timekey
/// from `time_slice_format` (else one hour), `timekey_wait` 10 minutes.
pub fn defaults_for(config: &S3Config) -> OutputDefaults {
    OutputDefaults {
        buffered: true,
        buffer_type: "file",
        chunk_keys: vec!["time".to_string()],
        timekey: config.implied_timekey(),
        timekey_wait: default_timekey_wait(),
    }
}

/// Builds an out_s3 from its `<match>` section, collecting every error.
pub fn build(section: &Section, ctx: &PluginContext) -> BuildResult<dyn Output> {
    let mut r = SectionReader::new(section, "out_s3");
    let config = config::read(&mut r, &ctx.hostname);
    let format_sections = r.sections("format");
    if format_sections.len() > 1 {
        r.error(
            format_sections[1].span.clone(),
            "only one <format> section is allowed",
        );
    }
    let default_format = config::empty_format_section(section.span.clone());
    let format_section = format_sections.first().copied().unwrap_or(&default_format);
    let formatter = match ctx
        .registry
        .build_formatter(format_section, ctx, Some("out_file"))
    {
        Ok(b) => {
            r.absorb(Ok(b.warnings));
            Some(b.plugin)
        }
        Err(e) => {
            r.absorb(Err(e));
            None
        }
    };
    let warnings = r.finish()?;
    match (config, formatter) {
        (Some(config), Some(formatter)) => {
            let defaults = defaults_for(&config);
            let settings = config.clone();
            Ok(Built::new(
                Box::new(S3Output {
                    config,
                    formatter,
                    defaults,
                }),
                settings,
                warnings,
            ))
        }
        // Errors were recorded: finish() returned them above. This arm is unreachable in practice
        // but must not panic.
        _ => Err(logship_api::ConfigErrors::one(
            section.span.clone(),
            "out_s3: invalid configuration",
        )),
    }
}

#[async_trait]
impl Output for S3Output {
    fn defaults(&self) -> OutputDefaults {
        self.defaults.clone()
    }

    fn format(&self, tag: &str, time: EventTime, record: &Record, out: &mut Vec<u8>) {
        self.formatter.format(tag, time, record, out);
    }

    async fn write(&self, _chunk: &Chunk) -> Result<(), PluginError> {
        Err(PluginError::Unrecoverable(
            "out_s3 upload is not implemented in this build yet (issue #5)".to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_api::Span;
    use logship_api::config::Param;
    use std::sync::Arc;
    use std::time::Duration;

    /// A minimal out_file-like formatter for tests (the real one lives in `logship-formatter`).
    struct TestFormatter;
    impl Formatter for TestFormatter {
        fn format(&self, tag: &str, _time: EventTime, record: &Record, out: &mut Vec<u8>) {
            out.extend_from_slice(tag.as_bytes());
            out.push(b'\t');
            record.write_json(out);
            out.push(b'\n');
        }
    }
    fn test_formatter(_s: &Section, _c: &PluginContext) -> BuildResult<dyn Formatter> {
        Ok(Built::new(Box::new(TestFormatter), "test", vec![]))
    }

    fn ctx(with_formatter: bool) -> PluginContext {
        let mut reg = Registry::new();
        register(&mut reg);
        if with_formatter {
            reg.register_formatter("out_file", test_formatter);
            reg.register_formatter("json", test_formatter);
        }
        PluginContext {
            registry: Arc::new(reg),
            id: "out_s3_0".into(),
            hostname: "host1".into(),
            root_dir: None,
        }
    }

    fn span(line: u32, col: u32) -> Span {
        Span::new(Arc::from("td-agent.conf"), line, col)
    }

    /// A `<match>` section from `key value` lines (line numbers from 2).
    fn section(params: &[(&str, &str)]) -> Section {
        let mut s = Section::new("match", "td.apache.access", span(1, 1));
        for (i, (k, v)) in params.iter().enumerate() {
            let line = i as u32 + 2;
            s.params.push(Param {
                key: k.to_string(),
                value: v.to_string(),
                key_span: span(line, 3),
                value_span: span(line, 4 + k.len() as u32),
            });
        }
        s
    }

    fn settings_of(b: &Built<dyn Output>) -> String {
        format!("{:?}", b.settings)
    }

    /// Config 1 after the compat mapping: the buffer params moved to `<buffer>`.
    #[test]
    fn config1_builds_and_redacts() {
        let mut s = section(&[
            ("type", "s3"),
            ("aws_key_id", "AKIAEXAMPLEKEY"),
            ("aws_sec_key", "verysecretsecretkey"),
            ("s3_bucket", "my-log-bucket"),
            ("s3_region", "ap-northeast-1"),
            ("path", "logs/"),
        ]);
        s.sections.push(Section::new("buffer", "time", span(1, 1)));
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("builds: {e}"));
        let shown = settings_of(&b);
        assert!(
            !shown.contains("verysecretsecretkey") && !shown.contains("AKIAEXAMPLEKEY"),
            "{shown}"
        );
        assert!(shown.contains("[REDACTED]"), "{shown}");
        assert!(shown.contains("my-log-bucket"), "{shown}");
        let d = b.plugin.defaults();
        assert_eq!(d.buffer_type, "file");
        assert_eq!(d.chunk_keys, vec!["time".to_string()]);
        assert_eq!(d.timekey, Duration::from_secs(3600));
        assert_eq!(d.timekey_wait, Duration::from_secs(600));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    }

    /// Config 2 (Sakura object storage) after the compat mapping.
    #[test]
    fn config2_builds_with_custom_endpoint() {
        let mut s = section(&[
            ("type", "s3"),
            ("aws_key_id", "XXXXXXX"),
            ("aws_sec_key", "YYYYYYYYYYYYYYYYYYYYYYYYYY"),
            ("s3_bucket", "sakuralog"),
            ("check_apikey_on_start", "false"),
            (
                "s3_object_key_format",
                "%{path}%{time_slice}_%{index}.%{file_extension}",
            ),
            ("s3_endpoint", "b.storage.sakura.ad.jp"),
            ("path", "logs/"),
            ("time_slice_format", "%Y%m%d-%H"),
        ]);
        s.sections.push(Section::new("buffer", "time", span(1, 1)));
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("builds: {e}"));
        let shown = settings_of(&b);
        assert!(!shown.contains("YYYYYYYY"), "{shown}");
        assert!(
            shown.contains("Url(\"https://b.storage.sakura.ad.jp\")"),
            "{shown}"
        );
        assert!(shown.contains("force_path_style: true"), "{shown}");
        assert!(
            shown.contains("checksum_algorithm: WhenRequired"),
            "{shown}"
        );
        assert!(shown.contains("check_apikey_on_start: false"), "{shown}");
        assert_eq!(b.plugin.defaults().timekey, Duration::from_secs(3600));
    }

    #[test]
    fn store_as_lzo_is_refused_at_the_value() {
        let s = section(&[("@type", "s3"), ("s3_bucket", "b"), ("store_as", "lzo")]);
        let e = build(&s, &ctx(true)).err().expect("error");
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!(
            e.0[0].to_string(),
            "td-agent.conf:4:12: out_s3: store_as \"lzo\" is not supported in logship: use gzip or zstd"
        );
    }

    #[test]
    fn unknown_param_gets_did_you_mean_and_all_errors_are_collected() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_buckt", "b"),
            ("hex_random_length", "17"),
            ("index_format", "%5d"),
            ("s3_endpoint", "https://s3.ap-northeast-1.amazonaws.com"),
            ("s3_object_key_format", "%{path}%{tme_slice}.gz"),
        ]);
        let e = build(&s, &ctx(true)).err().expect("errors");
        let shown: Vec<String> = e.0.iter().map(|x| x.to_string()).collect();
        let all = shown.join("\n");
        assert!(
            all.contains("td-agent.conf:1:1: out_s3: required parameter 's3_bucket' is missing"),
            "{all}"
        );
        assert!(all.contains("td-agent.conf:3:3: out_s3: unknown parameter 's3_buckt' (did you mean 's3_bucket'?)"), "{all}");
        assert!(all.contains("td-agent.conf:4:21: out_s3: hex_random_length parameter must be less than or equal to 16"), "{all}");
        assert!(
            all.contains("td-agent.conf:5:16: out_s3: invalid index_format"),
            "{all}"
        );
        assert!(
            all.contains(
                "td-agent.conf:6:15: out_s3: s3_endpoint parameter is not supported for S3"
            ),
            "{all}"
        );
        assert!(all.contains("td-agent.conf:7:24: out_s3: unknown placeholder %{tme_slice} (did you mean %{time_slice}?)"), "{all}");
    }

    #[test]
    fn missing_formatter_is_a_config_error() {
        let s = section(&[("@type", "s3"), ("s3_bucket", "b")]);
        let e = build(&s, &ctx(false))
            .err()
            .expect("no formatter registered");
        assert!(
            e.to_string()
                .contains("unknown formatter plugin type 'out_file'"),
            "{e}"
        );
    }

    #[test]
    fn endpoints_and_ignored_params() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", "file://relative/dir"),
        ]);
        let e = build(&s, &ctx(true)).err().expect("relative");
        assert!(e.to_string().contains("must be absolute"), "{e}");

        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_endpoint", "file:///var/lib/objects"),
            ("use_bundled_cert", "true"),
            ("reduced_redundancy", "true"),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        let shown = settings_of(&b);
        assert!(shown.contains("LocalDir(\"/var/lib/objects\")"), "{shown}");
        assert!(
            shown.contains("storage_class: \"REDUCED_REDUNDANCY\""),
            "{shown}"
        );
        assert_eq!(b.warnings.len(), 2, "{:?}", b.warnings);
        assert!(
            b.warnings[0]
                .message
                .contains("'use_bundled_cert' is accepted for compatibility and ignored")
        );

        // AWS defaults: virtual-hosted style, checksums when supported; VPC endpoints allowed.
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("s3_region", "eu-west-1"),
        ]);
        let shown = settings_of(&build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}")));
        assert!(
            shown.contains("force_path_style: false") && shown.contains("WhenSupported"),
            "{shown}"
        );
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            (
                "s3_endpoint",
                "https://bucket.vpce-1a2b.s3.us-east-1.vpce.amazonaws.com",
            ),
        ]);
        assert!(build(&s, &ctx(true)).is_ok());
    }

    #[test]
    fn credential_sections_and_secrets() {
        let mut s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("ssekms_key_id", "kms-secret-id"),
        ]);
        let mut ar = Section::new("assume_role_credentials", "", span(10, 3));
        ar.set(
            "role_arn",
            "arn:aws:iam::123456789012:role/secret-role",
            span(11, 5),
        );
        ar.set("role_session_name", "logship", span(12, 5));
        ar.set("external_id", "ext-secret", span(13, 5));
        s.sections.push(ar);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        let shown = settings_of(&b);
        for secret in ["secret-role", "ext-secret", "kms-secret-id"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("role_session_name: \"logship\""), "{shown}");

        let mut s = section(&[("@type", "s3"), ("s3_bucket", "b")]);
        s.sections
            .push(Section::new("web_identity_credentials", "", span(10, 3)));
        let e = build(&s, &ctx(true)).err().expect("missing role_arn");
        assert_eq!(e.0.len(), 3, "{e}");
        assert!(e.0[0].to_string().starts_with("td-agent.conf:10:3: out_s3 <web_identity_credentials>: required parameter 'role_arn'"), "{e}");
    }

    #[test]
    fn time_slice_format_sets_the_timekey_and_key_safety_is_checked() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("time_slice_format", "%Y%m%d"),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.plugin.defaults().timekey, Duration::from_secs(86400));
        let s = section(&[("@type", "s3"), ("s3_bucket", "b"), ("path", "../up/")]);
        let e = build(&s, &ctx(true)).err().expect("unsafe path");
        assert!(
            e.to_string()
                .contains("td-agent.conf:4:8: out_s3: refusing object key"),
            "{e}"
        );
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            ("check_object", "false"),
        ]);
        let e = build(&s, &ctx(true))
            .err()
            .expect("leading slash with empty path");
        assert!(e.to_string().contains("refusing object key \"/"), "{e}");
    }

    #[test]
    fn key_without_index_warns() {
        let s = section(&[
            ("@type", "s3"),
            ("s3_bucket", "b"),
            (
                "s3_object_key_format",
                "%{path}%{time_slice}.%{file_extension}",
            ),
        ]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.warnings.len(), 1, "{:?}", b.warnings);
        assert!(b.warnings[0].to_string().starts_with(
            "td-agent.conf:4:3: warning: out_s3: s3_object_key_format has no %{index}"
        ));
        assert!(
            format!("{:?}", b.settings)
                .contains("s3_object_key_format: \"%{path}%{time_slice}.%{file_extension}\"")
        );
    }

    #[tokio::test]
    async fn write_is_not_implemented_yet() {
        let s = section(&[("@type", "s3"), ("s3_bucket", "b")]);
        let b = build(&s, &ctx(true)).unwrap_or_else(|e| panic!("{e}"));
        let chunk = Chunk {
            id: logship_api::ChunkId([0; 16]),
            metadata: Default::default(),
            records: 0,
            first_time: None,
            retries: 0,
            body: Arc::new(logship_api::chunk::MemoryBody::new(vec![])),
        };
        let e = b.plugin.write(&chunk).await.expect_err("not implemented");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("issue #5"));
        let mut out = Vec::new();
        let mut rec = Record::new();
        rec.insert("a", 1);
        b.plugin
            .format("test", EventTime::from_secs(0), &rec, &mut out);
        assert_eq!(out, b"test\t{\"a\":1}\n");
    }
}
