//! A scripted source: streams whose records, order and failures each test chooses.

use std::cell::Cell;

use serde_json::{Value, json};
use tidemark::protocol::{Message, StateMessage, TraceType};
use tidemark::testing::{self, Output};
use tidemark::{Error, Sink, Slice, Source, Streams};

/// A record of the `events` stream: checkpoint every 2 records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "events",
    cursor = "ts",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Event {
    pub id: u64,
    pub ts: u64,
}

/// A record of the `notes` stream: default policy (state at slice end and stream end).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "notes", cursor = "id", primary_key = "id")]
pub struct Note {
    pub id: u64,
}

/// A record of the `audits` stream: one state when the stream completes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "audits", cursor = "ts", checkpoint = "end")]
pub struct Audit {
    pub ts: u64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct NoConfig {}

/// What the `events` reader does.
#[derive(Default, Clone)]
pub struct Script {
    /// Cursor values of the events, in the order the source returns them (ids are positions).
    pub events: Vec<u64>,
    /// Fail with a transient error after returning this many events.
    pub fail_after: Option<usize>,
    /// Return events with `ts >= after` (as day-granular APIs do) instead of `ts > after`.
    pub inclusive: bool,
    /// Cursor values of the `audits` stream.
    pub audits: Vec<u64>,
    /// Number of `notes` (ids 1..=n).
    pub notes: u64,
}

pub struct Scripted {
    pub script: Script,
    /// How many times the `events` reader was called.
    pub calls: Cell<u32>,
}

impl Scripted {
    pub fn new(script: Script) -> Self {
        Scripted {
            script,
            calls: Cell::new(0),
        }
    }
}

impl Source for Scripted {
    const NAME: &'static str = "source-scripted";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let script = &self.script;
        Ok(Streams::new()
            .stream(move |slice: &Slice<Event>, out: &mut Sink<Event>| {
                self.calls.set(self.calls.get() + 1);
                let wanted = |ts: u64| match slice.after() {
                    None => true,
                    Some(&after) if script.inclusive => ts >= after,
                    Some(&after) => ts > after,
                };
                let mut returned = 0;
                for (id, &ts) in script.events.iter().enumerate() {
                    if !wanted(ts) {
                        continue;
                    }
                    if script.fail_after == Some(returned) {
                        return Err(Error::transient("the API timed out"));
                    }
                    out.emit(&Event { id: id as u64, ts })?;
                    returned += 1;
                }
                Ok(())
            })
            .stream(move |slice: &Slice<Note>, out: &mut Sink<Note>| {
                let first = slice.after().map_or(1, |id| id + 1);
                for id in first..=script.notes {
                    out.emit(&Note { id })?;
                }
                Ok(())
            })
            .stream(move |slice: &Slice<Audit>, out: &mut Sink<Audit>| {
                for &ts in &script.audits {
                    if slice.after().is_none_or(|&after| ts > after) {
                        out.emit(&Audit { ts })?;
                    }
                }
                Ok(())
            }))
    }
}

/// A configured catalog selecting the given streams incrementally.
pub fn catalog(streams: &[&str]) -> Value {
    let all = testing::incremental_catalog(&Scripted::new(Script::default()), &json!({}));
    let selected: Vec<Value> = all["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter(|s| streams.contains(&s["stream"]["name"].as_str().expect("name")))
        .cloned()
        .collect();
    json!({ "streams": selected })
}

/// Reads the given streams of a scripted source.
pub fn read(script: &Script, streams: &[&str], state: Option<&Value>) -> Output {
    testing::read(
        &Scripted::new(script.clone()),
        &json!({}),
        &catalog(streams),
        state,
    )
}

/// The run as compact lines: `R <stream> <cursor>` for records, `S <stream> <state> <count>`
/// for states, `T <status or error>` for traces.
pub fn transcript(output: &Output) -> Vec<String> {
    output
        .messages
        .iter()
        .map(|message| match message {
            Message::Record { record } => {
                let cursor = record
                    .data
                    .get("ts")
                    .or_else(|| record.data.get("id"))
                    .expect("cursor");
                format!("R {} {cursor}", record.stream)
            }
            Message::State { state } => state_line(state),
            Message::Trace { trace } => match trace.trace_type {
                TraceType::StreamStatus => {
                    let status = trace.stream_status.as_ref().expect("status");
                    format!("T {} {:?}", status.stream_descriptor.name, status.status)
                }
                TraceType::Error => {
                    let error = trace.error.as_ref().expect("error");
                    format!(
                        "T error {:?} {}",
                        error.failure_type.expect("failure type"),
                        error
                            .stream_descriptor
                            .as_ref()
                            .map_or("-", |d| d.name.as_str())
                    )
                }
                other => format!("T {other:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

pub fn state_line(state: &StateMessage) -> String {
    let stream = state.stream.as_ref().expect("STREAM state");
    let count = state
        .source_stats
        .as_ref()
        .and_then(|stats| stats.record_count)
        .expect("recordCount");
    format!(
        "S {} {} {count}",
        stream.stream_descriptor.name,
        stream.stream_state.as_ref().expect("stream_state")
    )
}

/// Ids of the records of one stream, in order.
pub fn ids(output: &Output, stream: &str) -> Vec<u64> {
    output
        .records()
        .into_iter()
        .filter(|record| record.stream == stream)
        .map(|record| record.data["id"].as_u64().expect("id"))
        .collect()
}

/// Writes `contents` to a fresh file under the target's temporary directory.
pub fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "behavior-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("temp file");
    path
}

/// Runs the scripted source's command line with files holding the given texts.
pub fn read_files(script: &Script, config: &str, catalog: &str, state: Option<&str>) -> Output {
    read_files_of(&Scripted::new(script.clone()), config, catalog, state)
}

/// Runs `source`'s `read` command line with files holding the given texts, as a process would.
pub fn read_files_of<S: Source>(
    source: &S,
    config: &str,
    catalog: &str,
    state: Option<&str>,
) -> Output {
    let config = temp_file("config.json", config);
    let catalog = temp_file("catalog.json", catalog);
    let state = state.map(|text| temp_file("state.json", text));
    let mut args = vec![
        "read",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--catalog",
        catalog.to_str().expect("utf-8 path"),
    ];
    if let Some(state) = &state {
        args.extend(["--state", state.to_str().expect("utf-8 path")]);
    }
    testing::run(source, &args)
}

pub fn first_error(output: &Output) -> tidemark::protocol::ErrorTrace {
    output
        .traces(TraceType::Error)
        .first()
        .and_then(|trace| trace.error.clone())
        .unwrap_or_else(|| panic!("no TRACE ERROR in: {}", output.stdout))
}
