//! The registry through which the engine finds a plugin by its `@type`.

use crate::config::{ConfigErrors, ConfigWarning, Section, suggest};
use crate::plugin::{Filter, Formatter, Input, Output, Parser};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

/// A configured plugin, with the effective settings `logship check` prints and the warnings
/// its configuration produced.
pub struct Built<T: ?Sized> {
    /// The plugin.
    pub plugin: Box<T>,
    /// The typed configuration with every default filled in (secrets redacted by `Debug`).
    pub settings: Box<dyn Debug + Send + Sync>,
    /// Warnings (ignored parameters, deprecated spellings).
    pub warnings: Vec<ConfigWarning>,
}

impl<T: ?Sized> Built<T> {
    /// A configured plugin.
    pub fn new(
        plugin: Box<T>,
        settings: impl Debug + Send + Sync + 'static,
        warnings: Vec<ConfigWarning>,
    ) -> Self {
        Self {
            plugin,
            settings: Box::new(settings),
            warnings,
        }
    }
}

/// The result of configuring a plugin.
pub type BuildResult<T> = Result<Built<T>, ConfigErrors>;

/// What a plugin factory gets besides its section.
#[derive(Clone)]
pub struct PluginContext {
    /// The registry, to build nested plugins (`<parse>`, `<format>`).
    pub registry: Arc<Registry>,
    /// The plugin id (`@id`, or generated from the position in the file).
    pub id: String,
    /// The host name, for `%{hostname}` and `${hostname}`.
    pub hostname: String,
    /// `<system> root_dir`, under which plugins without explicit paths keep state.
    pub root_dir: Option<std::path::PathBuf>,
    /// For an output: its `<buffer>` section (after the v0.12 mapping), read-only. The engine
    /// owns and validates it; an output whose formatting depends on the time slicing reads it
    /// (out_s3's `%{time_slice}` uses `timekey`, `timekey_use_utc` and `timekey_zone`).
    pub buffer: Option<crate::config::Section>,
}

/// Builds a plugin of one role from its section.
pub type Factory<T> = fn(&Section, &PluginContext) -> BuildResult<T>;

/// Plugins by role and `@type`.
#[derive(Default)]
pub struct Registry {
    inputs: BTreeMap<&'static str, Factory<dyn Input>>,
    parsers: BTreeMap<&'static str, Factory<dyn Parser>>,
    filters: BTreeMap<&'static str, Factory<dyn Filter>>,
    formatters: BTreeMap<&'static str, Factory<dyn Formatter>>,
    outputs: BTreeMap<&'static str, Factory<dyn Output>>,
}

macro_rules! role {
    ($field:ident, $register:ident, $build:ident, $names:ident, $t:ty, $role:literal) => {
        /// Registers a plugin of this role under `name`.
        pub fn $register(&mut self, name: &'static str, f: Factory<$t>) {
            self.$field.insert(name, f);
        }
        /// The registered names of this role.
        pub fn $names(&self) -> impl Iterator<Item = &'static str> + '_ {
            self.$field.keys().copied()
        }
        /// Builds the plugin named by the section's `@type` (or `type`; or `default_type`
        /// when neither is given). An unknown type gets a "did you mean".
        pub fn $build(
            &self,
            section: &Section,
            ctx: &PluginContext,
            default_type: Option<&str>,
        ) -> BuildResult<$t> {
            let (name, span) = match section.plugin_type() {
                Some(p) => (p.value.trim(), p.value_span.clone()),
                None => match default_type {
                    Some(d) => (d, section.span.clone()),
                    None => {
                        return Err(ConfigErrors::one(
                            section.span.clone(),
                            format!("<{}> needs '@type'", section.name),
                        ))
                    }
                },
            };
            match self.$field.get(name) {
                Some(f) => f(section, ctx),
                None => {
                    let hint = suggest(name, self.$field.keys().copied())
                        .map(|s| format!(" (did you mean '{s}'?)"))
                        .unwrap_or_default();
                    let known: Vec<&str> = self.$field.keys().copied().collect();
                    Err(ConfigErrors::one(
                        span,
                        format!(
                            "unknown {} plugin type '{}'{}; known: {}",
                            $role,
                            name,
                            hint,
                            known.join(", ")
                        ),
                    ))
                }
            }
        }
    };
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    role!(
        inputs,
        register_input,
        build_input,
        input_names,
        dyn Input,
        "input"
    );
    role!(
        parsers,
        register_parser,
        build_parser,
        parser_names,
        dyn Parser,
        "parser"
    );
    role!(
        filters,
        register_filter,
        build_filter,
        filter_names,
        dyn Filter,
        "filter"
    );
    role!(
        formatters,
        register_formatter,
        build_formatter,
        formatter_names,
        dyn Formatter,
        "formatter"
    );
    role!(
        outputs,
        register_output,
        build_output,
        output_names,
        dyn Output,
        "output"
    );
}
