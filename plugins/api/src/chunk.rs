//! The chunk an output writes: formatted bytes plus the metadata that cut it.
//!
//! The engine's buffer owns chunks; an output sees one through this read-only view when it is
//! asked to write it, and may persist small attributes with it (out_s3 stores the object key it
//! chose before the first attempt, so that a retry after an ambiguous failure reuses that key).

use crate::event::EventTime;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::sync::Arc;

/// A chunk's unique id: 16 random bytes, shown as 32 hex digits (Fluentd's `unique_id`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkId(pub [u8; 16]);

impl ChunkId {
    /// The id as 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        let mut s = String::with_capacity(32);
        for b in self.0 {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }
}

impl fmt::Debug for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Display for ChunkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// What a chunk was cut by: the values of the buffer's chunk keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkMetadata {
    /// The tag, when `tag` is a chunk key (or the output is not buffered).
    pub tag: Option<String>,
    /// Start of the time slice (Unix seconds), when `time` is a chunk key.
    pub timekey: Option<i64>,
    /// Values of record-field chunk keys.
    pub variables: BTreeMap<String, String>,
}

/// Where a chunk's bytes are.
pub trait ChunkBody: Send + Sync {
    /// Size of the formatted bytes.
    fn len(&self) -> u64;
    /// Whether the chunk holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A reader over the formatted bytes, from the start.
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>>;
    /// A small attribute persisted with the chunk (see the module doc).
    fn attribute(&self, key: &str) -> Option<String>;
    /// Persists an attribute durably before returning.
    fn set_attribute(&self, key: &str, value: &str) -> std::io::Result<()>;
}

/// A chunk handed to [`crate::Output::write`].
#[derive(Clone)]
pub struct Chunk {
    /// Unique id, stable across retries and restarts.
    pub id: ChunkId,
    /// The chunk keys' values.
    pub metadata: ChunkMetadata,
    /// Number of records in the chunk.
    pub records: u64,
    /// Event time of the first record appended.
    pub first_time: Option<EventTime>,
    /// How many times writing this chunk failed before.
    pub retries: u32,
    /// The bytes.
    pub body: Arc<dyn ChunkBody>,
}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("id", &self.id)
            .field("metadata", &self.metadata)
            .field("records", &self.records)
            .field("bytes", &self.body.len())
            .finish()
    }
}

/// A chunk body held in memory (unbuffered outputs, the memory buffer, tests).
#[derive(Debug, Default)]
pub struct MemoryBody {
    bytes: Vec<u8>,
    attributes: std::sync::Mutex<BTreeMap<String, String>>,
}

impl MemoryBody {
    /// A body over these bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            attributes: Default::default(),
        }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl ChunkBody for MemoryBody {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }
    fn open(&self) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(Box::new(self.bytes.as_slice()))
    }
    fn attribute(&self, key: &str) -> Option<String> {
        self.attributes.lock().ok()?.get(key).cloned()
    }
    fn set_attribute(&self, key: &str, value: &str) -> std::io::Result<()> {
        if let Ok(mut m) = self.attributes.lock() {
            m.insert(key.to_string(), value.to_string());
        }
        Ok(())
    }
}
