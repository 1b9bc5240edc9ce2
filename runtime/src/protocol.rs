//! Airbyte protocol messages: everything a source writes to stdout or reads from its input files.
//!
//! The types follow the official protocol schema (`airbyte_protocol.yaml`, protocol v0) field
//! for field, with Rust names; `serde` renames give the wire names. Optional fields are skipped
//! when empty, and unknown fields are accepted when reading, as the protocol allows.
//!
//! On the hot path the runtime does not build a [`Message`] for each record: it serializes the
//! record straight into the output buffer (see the `emitter` module). These types are used for
//! every other message and by the [`testing`](crate::testing) kit to read output back.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One line of the protocol: a JSON object with a `type` and the matching body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Message {
    /// A log line for humans.
    Log {
        /// The log body.
        log: LogMessage,
    },
    /// The connector's specification (`spec`).
    Spec {
        /// The specification body.
        spec: ConnectorSpecification,
    },
    /// The result of `check`.
    ConnectionStatus {
        /// The status body.
        #[serde(rename = "connectionStatus")]
        connection_status: ConnectionStatus,
    },
    /// The streams this source offers (`discover`).
    Catalog {
        /// The catalog body.
        catalog: Catalog,
    },
    /// One record of a stream.
    Record {
        /// The record body.
        record: RecordMessage,
    },
    /// A checkpoint: state the destination persists once it has committed the records before it.
    State {
        /// The state body.
        state: StateMessage,
    },
    /// Errors, stream statuses and estimates.
    Trace {
        /// The trace body.
        trace: TraceMessage,
    },
    /// A request to the platform, such as updating the stored configuration.
    Control {
        /// The control body.
        control: ControlMessage,
    },
}

/// Severity of a [`LogMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs, reason = "the levels are self-explanatory")]
pub enum LogLevel {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// A log line (`type: LOG`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogMessage {
    /// Severity.
    pub level: LogLevel,
    /// The text.
    pub message: String,
    /// A stack trace, when the log reports an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

/// The connector's specification (`type: SPEC`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorSpecification {
    /// Where the connector's documentation lives.
    #[serde(
        rename = "documentationUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub documentation_url: Option<String>,
    /// JSON Schema (draft-07) of the configuration.
    #[serde(rename = "connectionSpecification")]
    pub connection_specification: Value,
    /// Whether any stream supports incremental sync.
    #[serde(
        rename = "supportsIncremental",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub supports_incremental: Option<bool>,
    /// The protocol version the connector speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
}

/// Result of a `check` (`type: CONNECTION_STATUS`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// Whether the connection works.
    pub status: Status,
    /// Why it does not, or a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Outcome of a `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The connection works.
    Succeeded,
    /// The connection does not work; the message says why.
    Failed,
}

/// The streams a source offers (`type: CATALOG`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// One entry per stream.
    pub streams: Vec<Stream>,
}

/// A stream as offered by `discover`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// Stream name.
    pub name: String,
    /// JSON Schema of the records.
    pub json_schema: Value,
    /// Sync modes the stream supports.
    pub supported_sync_modes: Vec<SyncMode>,
    /// Whether the source chooses the cursor (always true for tidemark streams).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_cursor: Option<bool>,
    /// The cursor field as a path of JSON keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_cursor_field: Option<Vec<String>>,
    /// The primary key: a list of fields, each a path of JSON keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_defined_primary_key: Option<Vec<Vec<String>>>,
    /// Stream namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Whether an interrupted sync can resume from state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_resumable: Option<bool>,
}

/// How a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// Read everything; input state is ignored.
    FullRefresh,
    /// Read what changed since the state.
    Incremental,
}

/// The catalog given to `read`: the streams selected by the user and how to sync them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredCatalog {
    /// The selected streams, in the order they are read.
    pub streams: Vec<ConfiguredStream>,
}

/// One selected stream of a [`ConfiguredCatalog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredStream {
    /// The stream as discovered (only `name` and `namespace` are used to find it).
    pub stream: ConfiguredStreamRef,
    /// Full refresh or incremental.
    pub sync_mode: SyncMode,
    /// How the destination writes; not used by a source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_sync_mode: Option<String>,
    /// The user-chosen cursor; ignored, since tidemark cursors are source-defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor_field: Option<Vec<String>>,
}

/// The part of a configured stream's `stream` object a source needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfiguredStreamRef {
    /// Stream name.
    pub name: String,
    /// Stream namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One record (`type: RECORD`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMessage {
    /// Stream namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Stream name.
    pub stream: String,
    /// The record itself.
    pub data: Value,
    /// When the record was read, in milliseconds since the Unix epoch.
    pub emitted_at: i64,
}

/// Identifies a stream: name plus optional namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamDescriptor {
    /// Stream name.
    pub name: String,
    /// Stream namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl StreamDescriptor {
    /// A descriptor for `name` in `namespace`.
    pub fn new(name: impl Into<String>, namespace: Option<&str>) -> Self {
        StreamDescriptor {
            name: name.into(),
            namespace: namespace.map(str::to_owned),
        }
    }
}

impl std::fmt::Display for StreamDescriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{ns}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Kind of a [`StateMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StateType {
    /// State shared by all streams plus per-stream states.
    Global,
    /// The state of one stream. The only kind tidemark emits.
    Stream,
    /// The pre-2022 single blob for all streams. Accepted on input only.
    Legacy,
}

/// A checkpoint (`type: STATE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMessage {
    /// The kind of state.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub state_type: Option<StateType>,
    /// Per-stream state (`type: STREAM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamState>,
    /// Global state (`type: GLOBAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalState>,
    /// Legacy blob (`type: LEGACY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Counts from the source.
    #[serde(
        rename = "sourceStats",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_stats: Option<StateStats>,
}

/// The state of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamState {
    /// Which stream.
    pub stream_descriptor: StreamDescriptor,
    /// The stream's own state object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<Value>,
}

/// Global state: shared state plus per-stream states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalState {
    /// State shared by all streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<Value>,
    /// Per-stream states.
    pub stream_states: Vec<StreamState>,
}

/// Counts attached to a [`StateMessage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateStats {
    /// Records of this stream emitted since its previous STATE.
    #[serde(
        rename = "recordCount",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub record_count: Option<f64>,
}

/// Errors, statuses and estimates (`type: TRACE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceMessage {
    /// Which kind of trace this is.
    #[serde(rename = "type")]
    pub trace_type: TraceType,
    /// When the trace was emitted, in milliseconds since the Unix epoch.
    pub emitted_at: f64,
    /// Set when `trace_type` is `ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorTrace>,
    /// Set when `trace_type` is `ESTIMATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<EstimateTrace>,
    /// Set when `trace_type` is `STREAM_STATUS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_status: Option<StreamStatusTrace>,
}

/// Kind of a [`TraceMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs, reason = "named after the protocol's trace types")]
pub enum TraceType {
    Error,
    Estimate,
    StreamStatus,
    Analytics,
}

/// An error trace: what failed, for whom, and whose fault it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorTrace {
    /// A message for the person running the sync.
    pub message: String,
    /// Technical detail for the connector's developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_message: Option<String>,
    /// A stack trace, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
    /// Whose fault it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_type: Option<FailureType>,
    /// The stream that failed, when the error belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_descriptor: Option<StreamDescriptor>,
}

/// Whose fault a failure is; the platform decides whether to retry from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureType {
    /// A bug or an unexpected answer: retrying may not help.
    SystemError,
    /// The user's configuration (or stored state) is wrong: the user must act.
    ConfigError,
    /// A passing problem: retrying should help.
    TransientError,
}

/// A row or byte estimate for a stream or the whole sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EstimateTrace {
    /// Stream name.
    pub name: String,
    /// Whether the estimate is for the stream or the whole sync.
    #[serde(rename = "type")]
    pub estimate_type: EstimateType,
    /// Stream namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Expected number of rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    /// Expected number of bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub byte_estimate: Option<i64>,
}

/// Scope of an [`EstimateTrace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[allow(missing_docs, reason = "named after the protocol's estimate types")]
pub enum EstimateType {
    Stream,
    Sync,
}

/// A stream's progress through a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStatusTrace {
    /// Which stream.
    pub stream_descriptor: StreamDescriptor,
    /// Where it is.
    pub status: StreamStatus,
    /// Why, for a `RUNNING` stream that waits (a rate limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<StreamStatusReason>>,
}

/// Why a stream is in its status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStatusReason {
    /// The kind of reason.
    #[serde(rename = "type")]
    pub reason_type: StreamStatusReasonType,
    /// Set for `RATE_LIMITED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited: Option<RateLimited>,
}

/// Kind of a [`StreamStatusReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatusReasonType {
    /// The source is waiting for an API quota.
    RateLimited,
}

/// A rate limit the stream waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimited {
    /// When the quota resets, in milliseconds since the Unix epoch, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_reset: Option<i64>,
}

/// Life cycle of a stream within one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// The stream is about to be read.
    Started,
    /// The first record was emitted.
    Running,
    /// Every record was emitted and the final state is out.
    Complete,
    /// The stream stopped early; the last STATE tells where the next sync resumes.
    Incomplete,
}

/// A request from the connector to the platform (`type: CONTROL`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlMessage {
    /// Always `CONNECTOR_CONFIG`.
    #[serde(rename = "type")]
    pub control_type: String,
    /// When the message was emitted, in milliseconds since the Unix epoch.
    pub emitted_at: f64,
    /// The new configuration to store.
    #[serde(rename = "connectorConfig")]
    pub connector_config: ConnectorConfig,
}

/// The body of a `CONNECTOR_CONFIG` control message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorConfig {
    /// The full new configuration.
    pub config: Value,
}
