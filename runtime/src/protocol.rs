//! Airbyte protocol messages: everything a source writes to stdout or reads from its input files.
//!
//! The types follow the official protocol schema (`airbyte_protocol.yaml`, protocol v0) field
//! for field, with Rust names; `serde` renames give the wire names. Optional fields are skipped
//! when empty, and unknown fields are accepted when reading, as the protocol allows.
//!
//! On the hot path the runtime does not build a [`Message`] for each record: it serializes the
//! record straight into the output buffer (see the `emitter` module), and a STATE line from a
//! [`StateMessage`] that borrows the stream's typed state. These types are used for every other
//! message, to read `--state` files, and by the [`testing`](crate::testing) kit to read output
//! back.

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
///
/// Read leniently, like every part of a [`StateMessage`]: a `null` namespace is no namespace,
/// unknown fields are ignored and a repeated key keeps its last value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

/// A checkpoint (`type: STATE`): the one model of the message, written by the runtime, read
/// from `--state` files and read back by the [`testing`](crate::testing) kit.
///
/// `T` is the type of the JSON payloads (`stream_state`, `shared_state` and the legacy `data`):
/// a [`Value`] by default. The runtime writes `StateMessage<&S, &StreamDescriptor>`, borrowing
/// the stream's typed state and its descriptor, and reads `--state` files as
/// `StateMessage<&RawValue>`, keeping each payload as the JSON text it was saved as, so that
/// an integer past 64 bits reads back exactly. `D` is the type of the stream descriptors:
/// owned by default, borrowed when writing.
///
/// Reading is lenient, as the files platforms write require: `null` is an absent value,
/// unknown fields are ignored, a repeated key keeps its last value (`PyAirbyte` writes
/// `global_` twice), and `global_`, the name `PyAirbyte` writes `global` under, is read as
/// `global` (which wins when both are set).
///
/// [`RawValue`]: serde_json::value::RawValue
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMessage<T = Value, D = StreamDescriptor> {
    /// The kind of state.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub state_type: Option<StateType>,
    /// Per-stream state (`type: STREAM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamState<T, D>>,
    /// Global state (`type: GLOBAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalState<T, D>>,
    /// Legacy blob (`type: LEGACY`): by convention an object holding each stream's state under
    /// its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Counts from the source.
    #[serde(rename = "sourceStats", skip_serializing_if = "Option::is_none")]
    pub source_stats: Option<StateStats>,
}

/// The state of one stream (the protocol's `AirbyteStreamState`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamState<T = Value, D = StreamDescriptor> {
    /// Which stream.
    pub stream_descriptor: D,
    /// The stream's own state object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<T>,
}

/// Global state: shared state plus per-stream states.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlobalState<T = Value, D = StreamDescriptor> {
    /// State shared by all streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<T>,
    /// Per-stream states. Read leniently: missing or `null` is none, `null` entries are skipped.
    pub stream_states: Vec<StreamState<T, D>>,
}

/// Counts attached to a [`StateMessage`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateStats {
    /// Records of this stream emitted since its previous STATE.
    #[serde(rename = "recordCount", skip_serializing_if = "Option::is_none")]
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

/// `Deserialize` for the STATE message model. The derive cannot do what state files need: keep
/// the last of repeated keys (it refuses them) and read `global_` as `global`.
mod lenient {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::Deserialize;
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{GlobalState, StateMessage, StateStats, StreamDescriptor, StreamState};
    use crate::json::Key;

    /// Implements `Deserialize` for a struct read from a JSON object: each listed key's value
    /// is read into a local `Option` (the last occurrence wins; `null` is `None`), other keys
    /// are skipped, and `build` makes the struct from the locals, or names a missing field.
    macro_rules! lenient {
        (
            $name:ident<$($param:ident),*>, expecting $expecting:literal,
            { $($key:literal => $local:ident: $local_ty:ty,)* }
            build $build:block
        ) => {
            impl<'de, $($param: Deserialize<'de>),*> Deserialize<'de> for $name<$($param),*> {
                fn deserialize<De: Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
                    struct Visit<$($param),*>(PhantomData<fn() -> ($($param,)*)>);

                    impl<'de, $($param: Deserialize<'de>),*> Visitor<'de> for Visit<$($param),*> {
                        type Value = $name<$($param),*>;

                        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                            f.write_str($expecting)
                        }

                        fn visit_map<A: MapAccess<'de>>(
                            self,
                            mut map: A,
                        ) -> Result<Self::Value, A::Error> {
                            $(let mut $local: Option<$local_ty> = None;)*
                            while let Some(Key(key)) = map.next_key()? {
                                match &*key {
                                    $($key => $local = map.next_value()?,)*
                                    _ => {
                                        map.next_value::<IgnoredAny>()?;
                                    }
                                }
                            }
                            let build = || -> Result<Self::Value, &'static str> { $build };
                            build().map_err(de::Error::missing_field)
                        }
                    }

                    deserializer.deserialize_map(Visit(PhantomData))
                }
            }
        };
    }

    lenient! {
        StateMessage<T, D>, expecting "a state message object",
        {
            "type" => state_type: super::StateType,
            "stream" => stream: StreamState<T, D>,
            "global" => global: GlobalState<T, D>,
            "global_" => global_alias: GlobalState<T, D>,
            "data" => data: T,
            "sourceStats" => source_stats: StateStats,
        }
        build {
            Ok(StateMessage {
                state_type,
                stream,
                global: global.or(global_alias),
                data,
                source_stats,
            })
        }
    }

    lenient! {
        StreamState<T, D>, expecting "a stream state object with a `stream_descriptor`",
        {
            "stream_descriptor" => stream_descriptor: D,
            "stream_state" => stream_state: T,
        }
        build {
            Ok(StreamState {
                stream_descriptor: stream_descriptor.ok_or("stream_descriptor")?,
                stream_state,
            })
        }
    }

    lenient! {
        GlobalState<T, D>, expecting "a global state object with `stream_states`",
        {
            "shared_state" => shared_state: T,
            "stream_states" => stream_states: SkipNulls<StreamState<T, D>>,
        }
        build {
            Ok(GlobalState {
                shared_state,
                stream_states: stream_states.map_or_else(Vec::new, |states| states.0),
            })
        }
    }

    lenient! {
        StreamDescriptor<>, expecting "a stream descriptor object with a `name`",
        {
            "name" => name: String,
            "namespace" => namespace: String,
        }
        build {
            Ok(StreamDescriptor {
                name: name.ok_or("name")?,
                namespace,
            })
        }
    }

    lenient! {
        StateStats<>, expecting "a statistics object",
        {
            "recordCount" => record_count: f64,
        }
        build {
            Ok(StateStats { record_count })
        }
    }

    /// A list whose `null` entries are skipped.
    struct SkipNulls<X>(Vec<X>);

    impl<'de, X: Deserialize<'de>> Deserialize<'de> for SkipNulls<X> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Visit<X>(PhantomData<fn() -> X>);

            impl<'de, X: Deserialize<'de>> Visitor<'de> for Visit<X> {
                type Value = SkipNulls<X>;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a list")
                }

                fn visit_seq<A: SeqAccess<'de>>(
                    self,
                    mut seq: A,
                ) -> Result<SkipNulls<X>, A::Error> {
                    let mut items = Vec::new();
                    while let Some(item) = seq.next_element::<Option<X>>()? {
                        items.extend(item);
                    }
                    Ok(SkipNulls(items))
                }
            }

            deserializer.deserialize_seq(Visit(PhantomData))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_messages_are_read_leniently() {
        let line = r#"{"type": "STATE", "state": {"type": "GLOBAL", "type": "GLOBAL",
            "global": null,
            "global_": {"shared_state": {"lsn": 7}, "stream_states": [null,
                {"stream_descriptor": {"name": "a", "name": "b", "namespace": null, "extra": 1},
                 "stream_state": {"c": 1}, "also": true}]},
            "data": null, "sourceStats": {"recordCount": 1.0, "recordCount": 2.0}, "id": 9}}"#;
        let message: Message = serde_json::from_str(line).expect("a STATE line");
        let Message::State { state } = message else {
            panic!("a STATE message: {message:?}");
        };
        let global = state.global.expect("`global_` read as `global`");
        assert_eq!(global.shared_state, Some(serde_json::json!({"lsn": 7})));
        assert_eq!(global.stream_states.len(), 1);
        assert_eq!(
            global.stream_states[0].stream_descriptor,
            StreamDescriptor::new("b", None)
        );
        assert_eq!(state.state_type, Some(StateType::Global));
        assert_eq!(state.source_stats.and_then(|s| s.record_count), Some(2.0));
        let err = serde_json::from_str::<StreamState>(r#"{"stream_state": {}}"#).unwrap_err();
        assert!(err.to_string().contains("`stream_descriptor`"), "{err}");
    }

    #[test]
    fn a_borrowed_state_message_writes_what_an_owned_one_does() {
        let descriptor = StreamDescriptor::new("orders", Some("shop"));
        let payload = serde_json::json!({"updated_at": "2024-01-01T00:00:00Z"});
        let borrowed = StateMessage {
            state_type: Some(StateType::Stream),
            stream: Some(StreamState {
                stream_descriptor: &descriptor,
                stream_state: Some(&payload),
            }),
            global: None,
            data: None,
            source_stats: Some(StateStats {
                record_count: Some(3.0),
            }),
        };
        let owned: StateMessage =
            serde_json::from_str(&serde_json::to_string(&borrowed).expect("serializes"))
                .expect("reads back");
        assert_eq!(
            serde_json::to_string(&owned).expect("serializes"),
            serde_json::to_string(&borrowed).expect("serializes")
        );
        assert_eq!(owned.stream.expect("stream").stream_state, Some(payload));
    }
}
