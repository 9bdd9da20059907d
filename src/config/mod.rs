//! The configuration language: td-agent.conf (Fluentd v1 syntax) or TOML, loaded into a
//! tree of [`logship_api::Section`]s with a [`Span`](logship_api::Span) on every node.
//!
//! - [`parser`]: the td-agent.conf syntax, `@include`, comments, values;
//! - [`embedded`]: the `#{...}` code logship evaluates (`ENV`, `Socket.gethostname`);
//! - [`toml_format`]: the TOML front-end;
//! - [`source`]: the file texts, for rendering errors with the offending line;
//! - [`compat`]: the Fluentd v0.12 compatibility mapping (another module's concern).
//!
//! The parser checks syntax only; the engine validates directive and parameter names.

pub mod compat;
pub mod embedded;
pub mod parser;
pub mod source;
pub mod toml_format;

use std::path::Path;
use std::sync::Arc;

use logship_api::{ConfigErrors, ConfigWarning, Section, Span};

pub use source::SourceMap;

/// A loaded configuration: the root section (name "ROOT", arg "") whose `sections` are the
/// top-level directives (`source`, `match`, `filter`, `label`, `system`, ...) in file order,
/// with `@include`d content spliced in place.
#[derive(Debug)]
pub struct Loaded {
    /// The root section.
    pub root: Section,
    /// The texts of every file read.
    pub sources: SourceMap,
    /// Warnings found while loading.
    pub warnings: Vec<ConfigWarning>,
}

/// A configuration that could not be loaded: every error found, and the texts for rendering.
#[derive(Debug)]
pub struct Failed {
    /// Every error, in file order of discovery.
    pub errors: ConfigErrors,
    /// The texts of every file read.
    pub sources: SourceMap,
}

/// Loads the configuration at `path`: td-agent.conf syntax, or TOML when the file name ends
/// in `.toml`. `@include` paths are relative to the including file.
pub fn load(path: &Path) -> Result<Loaded, Failed> {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(Failed {
                errors: ConfigErrors::one(
                    Span::new(name, 1, 1),
                    format!("cannot read the configuration file: {e}"),
                ),
                sources: SourceMap::new(),
            });
        }
    };
    if name.ends_with(".toml") {
        let mut sources = SourceMap::new();
        sources.add(name.clone(), Arc::from(text.as_str()));
        return match toml_format::parse_toml(name, &text) {
            Ok(root) => Ok(Loaded {
                root,
                sources,
                warnings: vec![],
            }),
            Err(errors) => Err(Failed {
                errors: ConfigErrors(errors),
                sources,
            }),
        };
    }
    let base = path.parent().unwrap_or(Path::new(""));
    run(name, &text, base, Some(path))
}

/// Parses td-agent.conf syntax from a string; `file_name` is used in spans, and `@include`
/// paths are relative to the current directory.
pub fn parse_str(file_name: &str, text: &str) -> Result<Loaded, Failed> {
    run(Arc::from(file_name), text, Path::new(""), None)
}

fn run(name: Arc<str>, text: &str, base: &Path, disk: Option<&Path>) -> Result<Loaded, Failed> {
    let mut ctx = parser::Ctx::default();
    let mut root = Section::new("ROOT", "", Span::new(name.clone(), 1, 1));
    parser::parse_into(&mut ctx, name, text, base, disk, &mut root);
    if ctx.errors.is_empty() {
        Ok(Loaded {
            root,
            sources: ctx.sources,
            warnings: ctx.warnings,
        })
    } else {
        Err(Failed {
            errors: ConfigErrors(ctx.errors),
            sources: ctx.sources,
        })
    }
}
