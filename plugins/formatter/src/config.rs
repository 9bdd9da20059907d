//! Typed settings of the formatters, with Fluentd's defaults, and the code that reads them
//! from a `<format>` section.

use crate::time::{TimeFormatError, TimeFormatter, TimeZoneSpec};
use logship_api::SectionReader;

/// How `out_file` shows the event time (`time_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeType {
    /// Seconds with a fraction, as Ruby prints a Float (`1293974055.5`).
    Float,
    /// Whole seconds (`1293974055`).
    Unixtime,
    /// Text from `time_format` (ISO 8601 when unset).
    #[default]
    String,
}

/// The time parameters Fluentd's formatters share (`TimeMixin::Formatter`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeConfig {
    /// `time_type`: float, unixtime or string.
    pub time_type: TimeType,
    /// `time_format`: a Ruby strftime pattern; None means ISO 8601 to the second.
    pub time_format: Option<String>,
    /// `localtime`: show local time (Fluentd's default) rather than UTC.
    pub localtime: bool,
    /// `utc`: show UTC (the same as `localtime false`).
    pub utc: bool,
    /// `timezone`: `+09:00`, `+0900`, `+09` or `Region/Zone`; wins over `localtime`/`utc`.
    pub timezone: Option<String>,
}

/// Fluentd's default for `localtime`.
pub fn default_localtime() -> bool {
    true
}

impl Default for TimeConfig {
    fn default() -> Self {
        Self {
            time_type: TimeType::String,
            time_format: None,
            localtime: default_localtime(),
            utc: false,
            timezone: None,
        }
    }
}

impl TimeConfig {
    /// The zone these parameters select.
    pub fn zone(&self) -> Result<TimeZoneSpec, TimeFormatError> {
        TimeZoneSpec::from_params(self.localtime, self.utc, self.timezone.as_deref())
    }

    /// A time formatter for these parameters.
    pub fn formatter(&self) -> Result<TimeFormatter, TimeFormatError> {
        TimeFormatter::new(self.time_format.as_deref(), self.zone()?)
    }

    /// Reads `time_type`, `time_as_epoch`, `time_format`, `localtime`, `utc` and `timezone`,
    /// as Fluentd's out_file formatter does (both `localtime` and `utc` is an error).
    pub fn read(r: &mut SectionReader<'_>) -> Self {
        let time_type = match r
            .choice("time_type", &["float", "unixtime", "string"], "string")
            .as_str()
        {
            "float" => TimeType::Float,
            "unixtime" => TimeType::Unixtime,
            _ => TimeType::String,
        };
        let mut c = TimeConfig {
            time_type,
            ..TimeConfig::default()
        };
        if r.get::<bool>("time_as_epoch").unwrap_or(false) {
            c.time_type = TimeType::Unixtime;
        }
        c.time_format = r.get("time_format");
        let localtime: Option<bool> = r.get("localtime");
        let utc: Option<bool> = r.get("utc");
        match (localtime, utc) {
            (Some(_), Some(_)) => r.error_at(
                "utc",
                "both of utc and localtime are specified, use only one of them",
            ),
            (Some(l), None) => c.localtime = l,
            (None, Some(u)) => {
                c.utc = u;
                c.localtime = !u;
            }
            (None, None) => {}
        }
        c.timezone = r.get("timezone");
        if c.time_type == TimeType::String {
            if let Some(tz) = &c.timezone
                && let Err(e) = TimeZoneSpec::parse(tz)
            {
                r.error_at("timezone", e.to_string());
            }
            if let Some(f) = &c.time_format
                && let Err(e) = TimeFormatter::new(Some(f), TimeZoneSpec::Utc)
            {
                r.error_at("time_format", e.to_string());
            }
        }
        c
    }
}

/// Settings of the `out_file` formatter: `time<TAB>tag<TAB>json\n`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutFileConfig {
    /// `output_time`: start the line with the event time.
    pub output_time: bool,
    /// `output_tag`: then the tag.
    pub output_tag: bool,
    /// `delimiter`: between time, tag and record; `SPACE`, `COMMA`, anything else is TAB.
    pub delimiter: String,
    /// The time parameters.
    pub time: TimeConfig,
}

/// Fluentd's default for `output_time`.
pub fn default_output_time() -> bool {
    true
}

/// Fluentd's default for `output_tag`.
pub fn default_output_tag() -> bool {
    true
}

/// Fluentd's default `delimiter` of out_file (TAB).
pub fn default_out_file_delimiter() -> String {
    "\t".to_string()
}

impl Default for OutFileConfig {
    fn default() -> Self {
        Self {
            output_time: default_output_time(),
            output_tag: default_output_tag(),
            delimiter: default_out_file_delimiter(),
            time: TimeConfig::default(),
        }
    }
}

/// Maps an out_file `delimiter` value as Fluentd does: a value containing `SPACE` is a space,
/// one containing `COMMA` a comma (case-insensitive), anything else TAB. The flag says whether
/// the value was one Fluentd documents (so a surprising mapping can be warned about).
pub fn out_file_delimiter(value: &str) -> (&'static str, bool) {
    let up = value.to_ascii_uppercase();
    if up.contains("SPACE") {
        (" ", true)
    } else if up.contains("COMMA") {
        (",", true)
    } else {
        ("\t", up.contains("TAB") || value == "\t")
    }
}

impl OutFileConfig {
    /// Reads the out_file parameters.
    pub fn read(r: &mut SectionReader<'_>) -> Self {
        let mut c = OutFileConfig {
            output_time: r.get("output_time").unwrap_or_else(default_output_time),
            output_tag: r.get("output_tag").unwrap_or_else(default_output_tag),
            ..Default::default()
        };
        if let Some(p) = r.raw("delimiter") {
            let (d, known) = out_file_delimiter(&p.value);
            if !known {
                r.warn(
                    p.value_span.clone(),
                    format!(
                        "delimiter {:?} is not SPACE, COMMA or TAB; Fluentd (and logship) use TAB for it",
                        p.value
                    ),
                );
            }
            c.delimiter = d.to_string();
        }
        c.time = TimeConfig::read(r);
        c
    }
}

/// The line terminator of formatters with Fluentd's `newline` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Newline {
    /// `\n` (the default).
    #[default]
    Lf,
    /// `\r\n`.
    Crlf,
}

impl Newline {
    /// The bytes.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            Newline::Lf => b"\n",
            Newline::Crlf => b"\r\n",
        }
    }

    /// Reads `newline` (lf or crlf).
    pub fn read(r: &mut SectionReader<'_>) -> Self {
        match r.choice("newline", &["lf", "crlf"], "lf").as_str() {
            "crlf" => Newline::Crlf,
            _ => Newline::Lf,
        }
    }
}

/// Fluentd's default for `add_newline`.
pub fn default_add_newline() -> bool {
    true
}

/// Settings of the `json` formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonConfig {
    /// `add_newline`: end each record with the newline.
    pub add_newline: bool,
    /// `newline`: lf or crlf.
    pub newline: Newline,
}

impl Default for JsonConfig {
    fn default() -> Self {
        Self {
            add_newline: default_add_newline(),
            newline: Newline::Lf,
        }
    }
}

/// Settings of the `ltsv` formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct LtsvConfig {
    /// `delimiter` between fields.
    pub delimiter: String,
    /// `label_delimiter` between a label and its value.
    pub label_delimiter: String,
    /// `add_newline`: end each record with the newline.
    pub add_newline: bool,
    /// `newline`: lf or crlf.
    pub newline: Newline,
}

/// Fluentd's default `delimiter` of ltsv (TAB).
pub fn default_ltsv_delimiter() -> String {
    "\t".to_string()
}

/// Fluentd's default `label_delimiter` of ltsv.
pub fn default_label_delimiter() -> String {
    ":".to_string()
}

impl Default for LtsvConfig {
    fn default() -> Self {
        Self {
            delimiter: default_ltsv_delimiter(),
            label_delimiter: default_label_delimiter(),
            add_newline: default_add_newline(),
            newline: Newline::Lf,
        }
    }
}

/// Settings of the `single_value` formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleValueConfig {
    /// `message_key`: the field written.
    pub message_key: String,
    /// `add_newline`: end each record with the newline.
    pub add_newline: bool,
    /// `newline`: lf or crlf.
    pub newline: Newline,
}

/// Fluentd's default `message_key`.
pub fn default_message_key() -> String {
    "message".to_string()
}

impl Default for SingleValueConfig {
    fn default() -> Self {
        Self {
            message_key: default_message_key(),
            add_newline: default_add_newline(),
            newline: Newline::Lf,
        }
    }
}

/// Settings of the `csv` formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvConfig {
    /// `fields`: the record fields written, in order (required).
    pub fields: Vec<String>,
    /// `delimiter`: `,` by default; `\t` or `TAB` is a tab.
    pub delimiter: String,
    /// `force_quotes`: quote every field (Fluentd's default).
    pub force_quotes: bool,
    /// `add_newline`: end each row with `\n`.
    pub add_newline: bool,
}

/// Fluentd's default `delimiter` of csv.
pub fn default_csv_delimiter() -> String {
    ",".to_string()
}

/// Fluentd's default for `force_quotes`.
pub fn default_force_quotes() -> bool {
    true
}

/// Settings of the `tsv` formatter.
#[derive(Debug, Clone, PartialEq)]
pub struct TsvConfig {
    /// `keys`: the record fields written, in order (required).
    pub keys: Vec<String>,
    /// `delimiter` between values.
    pub delimiter: String,
    /// `add_newline`: end each row with the newline.
    pub add_newline: bool,
    /// `newline`: lf or crlf.
    pub newline: Newline,
}

/// Fluentd's default `delimiter` of tsv (TAB).
pub fn default_tsv_delimiter() -> String {
    "\t".to_string()
}

/// Settings of the `stdout` formatter: `time tag: <output_type formatted>`.
#[derive(Debug, Clone, PartialEq)]
pub struct StdoutConfig {
    /// `output_type`: the formatter for the record part (`json` by default).
    pub output_type: String,
}

/// Fluentd's default `output_type` of the stdout formatter.
pub fn default_output_type() -> String {
    "json".to_string()
}

/// Reads a delimiter-like string parameter, keeping its exact value (spaces included).
pub(crate) fn read_string(r: &mut SectionReader<'_>, key: &str, default: fn() -> String) -> String {
    r.get::<String>(key).unwrap_or_else(default)
}
