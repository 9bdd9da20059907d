//! The plugin API of logship.
//!
//! Everything a plugin crate needs, and nothing more: plugin crates depend on this crate
//! only, never on each other or on the engine. The model is Fluentd's:
//!
//! * an [`Event`] is an event time ([`EventTime`], nanosecond precision) and a [`Record`]
//!   (an insertion-ordered JSON object); events travel in batches that share one tag;
//! * plugins play one of five roles ([`Input`], [`Parser`], [`Filter`], [`Formatter`],
//!   [`Output`]); buffering, flush timers and retries belong to the engine, so an output only
//!   formats records and writes a finished [`Chunk`];
//! * a plugin is configured from a [`config::Section`] (the parsed `<source>`, `<match>`,
//!   `<parse>` ... block, with source spans) through a [`config::SectionReader`] that turns
//!   parameters into typed values and collects every error with its `file:line:col`;
//! * the engine finds plugins by `@type` in a [`Registry`].
//!
//! Errors a plugin returns at run time are [`PluginError`]s that say whether a retry can help.

pub mod chunk;
pub mod config;
pub mod error;
pub mod event;
pub mod plugin;
pub mod record;
pub mod registry;
pub mod time;

pub use chunk::{Chunk, ChunkId, ChunkMetadata};
pub use config::{ConfigError, ConfigErrors, ConfigWarning, Secret, Section, SectionReader, Span};
pub use error::{EmitError, ParseError, PluginError};
pub use event::{Event, EventTime};
pub use plugin::{
    Checkpoint, Emitter, ErrorEvents, EventSink, Filter, Formatter, Input, InputContext,
    InputCounter, InputCounters, Output, OutputDefaults, Parser, RunState, Shutdown, error_events,
};
pub use record::Record;
pub use registry::{BuildResult, Built, Factory, PluginContext, Registry};
