//! Running a connector in-process from its own tests.
//!
//! ```
//! # use tidemark::{Error, Sink, Slice, Source, Streams};
//! # #[derive(serde::Deserialize, schemars::JsonSchema)]
//! # struct Config { count: u64 }
//! # #[derive(serde::Serialize, schemars::JsonSchema)]
//! # #[tidemark::incremental_stream(cursor = "id", primary_key = "id", checkpoint_interval = 2)]
//! # struct Event { id: u64 }
//! # struct Events;
//! # impl Source for Events {
//! #     const NAME: &'static str = "source-events";
//! #     type Config = Config;
//! #     fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
//! #         Ok(Streams::new().stream(move |slice: &Slice<Event>, out: &mut Sink<Event>| {
//! #             for id in slice.after().map_or(0, |id| id + 1)..config.count { out.emit(&Event { id })?; }
//! #             Ok(())
//! #         }))
//! #     }
//! # }
//! use serde_json::json;
//! use tidemark::testing;
//!
//! let config = json!({"count": 5});
//! let catalog = testing::incremental_catalog(&Events, &config);
//! let first = testing::read(&Events, &config, &catalog, None);
//! assert_eq!(first.exit_code, 0);
//! assert_eq!(first.records().len(), 5);
//!
//! // Resume from the second STATE: only what came after it is read again.
//! let state = first.state_file_at(1);
//! let resumed = testing::read(&Events, &config, &catalog, Some(&state));
//! assert_eq!(resumed.records().len(), 1);
//! ```

// Every function of the kit that is not generic is `#[inline]`, so that it is compiled into the
// crates that call it (a connector's tests) and not into every build of every connector: the
// kit is otherwise more than a third of the runtime's own release build time.

mod crash;
#[cfg(feature = "http-mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-mock")))]
#[path = "http_mock.rs"]
pub mod http;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::emitter::Emitter;
use crate::entrypoint;
use crate::input;
use crate::protocol::{
    ConfiguredCatalog, Message, RecordMessage, StateMessage, StreamStatus, SyncMode, TraceMessage,
    TraceType,
};
use crate::source::Source;
use crate::state::InputState;

pub use crash::{CrashFailure, CrashReport, CrashTest};

/// What one in-process run printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit status the process would have had.
    pub exit_code: u8,
    /// stdout, parsed: one message per line.
    pub messages: Vec<Message>,
    /// stdout as printed.
    pub stdout: String,
    /// stderr as printed.
    pub stderr: String,
}

impl Output {
    #[inline]
    fn new(exit_code: u8, stdout: Vec<u8>, stderr: &[u8]) -> Self {
        let stdout = String::from_utf8(stdout).expect("stdout is UTF-8 JSON");
        let messages = stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|err| {
                    panic!("stdout line is not a protocol message ({err}): {line}")
                })
            })
            .collect();
        Output {
            exit_code,
            messages,
            stdout,
            stderr: String::from_utf8_lossy(stderr).into_owned(),
        }
    }

    /// The RECORD messages, in order.
    #[must_use]
    #[inline]
    pub fn records(&self) -> Vec<&RecordMessage> {
        self.messages
            .iter()
            .filter_map(|message| match message {
                Message::Record { record } => Some(record),
                _ => None,
            })
            .collect()
    }

    /// The STATE messages, in order.
    #[must_use]
    #[inline]
    pub fn states(&self) -> Vec<&StateMessage> {
        self.messages
            .iter()
            .filter_map(|message| match message {
                Message::State { state } => Some(state),
                _ => None,
            })
            .collect()
    }

    /// The STATE messages with their index among all messages, read again from the lines as
    /// printed, so that every `stream_state` is the exact JSON text the runtime wrote (a
    /// [`Value`] would round an integer past 64 bits).
    #[inline]
    fn raw_states(&self) -> impl Iterator<Item = (usize, StateMessage<Box<RawValue>>)> + '_ {
        /// A STATE line: the protocol message around the state.
        #[derive(serde::Deserialize)]
        struct StateLine {
            state: StateMessage<Box<RawValue>>,
        }

        self.stdout
            .lines()
            .zip(&self.messages)
            .enumerate()
            .filter(|(_, (_, message))| matches!(message, Message::State { .. }))
            .map(|(index, (line, _))| {
                let line: StateLine = serde_json::from_str(line)
                    .unwrap_or_else(|err| panic!("a STATE line ({err}): {line}"));
                (index, line.state)
            })
    }

    /// The TRACE messages of one type, in order.
    #[must_use]
    #[inline]
    pub fn traces(&self, trace_type: TraceType) -> Vec<&TraceMessage> {
        self.messages
            .iter()
            .filter_map(|message| match message {
                Message::Trace { trace } if trace.trace_type == trace_type => Some(trace),
                _ => None,
            })
            .collect()
    }

    /// The stream statuses reported for a stream, in order.
    #[must_use]
    #[inline]
    pub fn statuses(&self, stream: &str) -> Vec<StreamStatus> {
        self.traces(TraceType::StreamStatus)
            .into_iter()
            .filter_map(|trace| trace.stream_status.as_ref())
            .filter(|status| status.stream_descriptor.name == stream)
            .map(|status| status.status)
            .collect()
    }

    /// The `--state` file a destination would pass after committing everything up to and
    /// including the `index`-th STATE message (0-based): the latest state of every stream so far.
    ///
    /// # Panics
    ///
    /// When there are not that many STATE messages.
    #[must_use]
    #[inline]
    pub fn state_file_at(&self, index: usize) -> Value {
        let states = self.states();
        assert!(index < states.len(), "only {} STATE messages", states.len());
        let mut latest: Vec<&StateMessage> = Vec::new();
        for state in &states[..=index] {
            let descriptor = state.stream.as_ref().map(|s| &s.stream_descriptor);
            latest.retain(|kept| kept.stream.as_ref().map(|s| &s.stream_descriptor) != descriptor);
            latest.push(state);
        }
        serde_json::to_value(latest).expect("state messages serialize")
    }
}

/// Runs the connector's command line in-process: `args` without the program name. `--version`
/// shows `0.0.0`.
pub fn run<S: Source>(source: &S, args: &[&str]) -> Output {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let command_line = std::iter::once(S::NAME).chain(args.iter().copied());
    let code = entrypoint::run_with(source, "0.0.0", command_line, &mut stdout, &mut stderr);
    Output::new(code, stdout, &stderr)
}

/// Runs `read` in-process on JSON values instead of files.
///
/// # Panics
///
/// When `catalog` or `state` is not a valid configured catalog or state (use [`run`] with
/// files to test malformed input).
pub fn read<S: Source>(
    source: &S,
    config: &Value,
    catalog: &Value,
    state: Option<&Value>,
) -> Output {
    let catalog = input::parse_catalog(
        &serde_json::to_vec(catalog).expect("a catalog serializes"),
        std::path::Path::new("catalog"),
    )
    .expect("a valid configured catalog");
    let state = state.map_or_else(InputState::default, |state| {
        InputState::from_json(state).expect("a valid state")
    });
    read_parsed(source, config, &catalog, &state)
}

/// Runs `read` in-process on a parsed catalog and state.
fn read_parsed<S: Source>(
    source: &S,
    config: &Value,
    catalog: &ConfiguredCatalog,
    state: &InputState,
) -> Output {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut out = Emitter::new(&mut stdout);
    let dispatch = out.log_dispatch();
    let code = tracing::dispatcher::with_default(&dispatch, || {
        entrypoint::read(
            source,
            config.clone(),
            catalog,
            state,
            &mut out,
            &mut stderr,
        )
        .and_then(|code| out.flush().map(|()| code))
    })
    .unwrap_or(1);
    drop(out);
    Output::new(code, stdout, &stderr)
}

/// A configured catalog selecting every stream of the source as the Airbyte platform would:
/// each incremental stream in `incremental` mode (`append_dedup`), each full-refresh stream in
/// `full_refresh` mode (`overwrite`).
///
/// # Panics
///
/// When the config is invalid or the source cannot list its streams.
#[must_use]
pub fn incremental_catalog<S: Source>(source: &S, config: &Value) -> Value {
    let config: S::Config = input::parse_config(config.clone()).expect("a valid config");
    let streams = source
        .streams(&config)
        .expect("the source lists its streams");
    let configured: Vec<Value> = streams
        .iter()
        .map(|stream| {
            let entry = stream.catalog_entry();
            let (sync_mode, destination_sync_mode) =
                if entry.supported_sync_modes.contains(&SyncMode::Incremental) {
                    ("incremental", "append_dedup")
                } else {
                    ("full_refresh", "overwrite")
                };
            json!({
                "stream": entry,
                "sync_mode": sync_mode,
                "destination_sync_mode": destination_sync_mode,
                "cursor_field": entry.default_cursor_field,
                "primary_key": entry.source_defined_primary_key,
            })
        })
        .collect();
    json!({ "streams": configured })
}
