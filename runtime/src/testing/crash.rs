//! The crash matrix: cut a sync after every message, resume from what a destination would have
//! committed, and check the state contract over the whole chain of syncs.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::{Output, read_parsed};
use crate::input;
use crate::protocol::{
    ConfiguredCatalog, Message, StateMessage, StateType, StreamDescriptor, StreamState,
};
use crate::source::Source;
use crate::state::InputState;

/// A crash test of a connector's `read`: the run is cut after every message (or a deterministic
/// sample of positions for long runs), resumed from the last STATE of each stream a destination
/// would have committed, and resumed again until a sync completes. Over each chain of syncs it
/// checks:
///
/// - no record of an uncut sync is lost (compared by primary key, or by the whole record when
///   the stream has none);
/// - no committed record is sent again, except by a stream that declares `lookback`, a record
///   without a cursor value, a partition without an entry in a partitioned state that is full
///   (`max_partitions`), which is read from its start, a record above its partition's
///   watermark (or the low-water mark) in a stream read concurrently (records of windows or
///   partitions above it may go out before a STATE that does not cover them), or a
///   full-refresh stream that starts
///   over: one not declared resumable (every attempt reads it all and claims nothing), or a
///   resumable one given no saved position (the `{}` of a completed stream). A resumable
///   full-refresh stream resumed at a saved position must not send again what was committed
///   before that position;
/// - every stream's watermark never moves backwards (a full-refresh stream's saved positions
///   have no order: they are only checked to be valid states of the stream);
/// - every STATE's `recordCount` is the number of records of its stream since the previous one.
///
/// The source must be deterministic: the same state gives the same records.
///
/// ```
/// # use tidemark::{Error, Sink, Slice, Source, Streams};
/// # #[derive(serde::Deserialize, schemars::JsonSchema)]
/// # struct Config { count: u64 }
/// # #[derive(serde::Serialize, schemars::JsonSchema)]
/// # #[tidemark::incremental_stream(cursor = "id", primary_key = "id", checkpoint_interval = 2)]
/// # struct Event { id: u64 }
/// # struct Events;
/// # impl Source for Events {
/// #     const NAME: &'static str = "source-events";
/// #     type Config = Config;
/// #     fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
/// #         Ok(Streams::new().stream(move |slice: &Slice<Event>, out: &mut Sink<Event>| {
/// #             for id in slice.after().map_or(0, |id| id + 1)..config.count { out.emit(&Event { id })?; }
/// #             Ok(())
/// #         }))
/// #     }
/// # }
/// use tidemark::testing::{CrashTest, incremental_catalog};
///
/// let config = serde_json::json!({"count": 7});
/// let catalog = incremental_catalog(&Events, &config);
/// let report = CrashTest::new(&Events, &config, &catalog).assert();
/// assert_eq!(report.cuts, report.messages);
/// ```
pub struct CrashTest<'s, S: Source> {
    source: &'s S,
    config: Value,
    catalog: Value,
    state: Option<Value>,
    max_cuts: usize,
}

/// What a passing crash test covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashReport {
    /// Messages of the first, uncut sync.
    pub messages: usize,
    /// Positions the sync was cut at.
    pub cuts: usize,
    /// Distinct syncs run (resumes from the same state are run once).
    pub syncs: usize,
    /// Records of the uncut chain of syncs.
    pub records: usize,
}

/// A broken promise, with where it happened.
#[derive(Debug, Clone)]
pub struct CrashFailure {
    /// The position (0-based message index) the first sync was cut after; `None` for the uncut
    /// chain.
    pub cut: Option<usize>,
    /// The message at the cut, as printed.
    pub message: String,
    /// The `--state` files the chain resumed from, in order, as JSON text.
    pub resumed_from: Vec<String>,
    /// What went wrong.
    pub problem: String,
}

impl fmt::Display for CrashFailure {
    #[inline]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cut {
            Some(cut) => write!(f, "crash test: cut after message {cut} ({})", self.message)?,
            None => write!(f, "crash test: the uncut sync")?,
        }
        for state in &self.resumed_from {
            write!(f, "\n  resumed from state {state}")?;
        }
        write!(f, "\n  {}", self.problem)
    }
}

impl std::error::Error for CrashFailure {}

/// What the kit knows of one stream.
struct StreamInfo {
    descriptor: StreamDescriptor,
    primary_key: Vec<Vec<String>>,
    cursor_field: Vec<String>,
    lookback: bool,
}

/// One chain of syncs: what was committed, in order.
#[derive(Default)]
struct Chain {
    /// Committed records, as (sync, message index).
    records: Vec<(usize, usize)>,
    /// Every committed `stream_state` per stream, in order, starting with the input state's.
    watermarks: HashMap<StreamDescriptor, Vec<Box<RawValue>>>,
    resumed_from: Vec<String>,
}

impl<'s, S: Source> CrashTest<'s, S> {
    /// A crash test of `read` with this config and configured catalog, from no state.
    #[must_use]
    pub fn new(source: &'s S, config: &Value, catalog: &Value) -> Self {
        CrashTest {
            source,
            config: config.clone(),
            catalog: catalog.clone(),
            state: None,
            max_cuts: 500,
        }
    }

    /// Starts the first sync from this `--state` value instead of no state.
    #[must_use]
    pub fn from_state(mut self, state: &Value) -> Self {
        self.state = Some(state.clone());
        self
    }

    /// At most this many cut positions (default 500). A longer sync is cut at evenly spaced
    /// positions plus just before and just after every STATE; the sample is deterministic.
    #[must_use]
    pub fn max_cuts(mut self, cuts: usize) -> Self {
        self.max_cuts = cuts.max(1);
        self
    }

    /// Runs the matrix and panics with a [`CrashFailure`] describing the first broken promise.
    ///
    /// # Panics
    ///
    /// When a promise is broken, or the config, catalog or state is invalid.
    #[expect(
        clippy::must_use_candidate,
        reason = "called as a statement in tests; the report is optional reading"
    )]
    pub fn assert(&self) -> CrashReport {
        self.run().unwrap_or_else(|failure| panic!("{failure}"))
    }

    /// Runs the matrix.
    ///
    /// # Errors
    ///
    /// The first broken promise.
    ///
    /// # Panics
    ///
    /// When the config, catalog or state is invalid.
    pub fn run(&self) -> Result<CrashReport, CrashFailure> {
        let config: S::Config = input::parse_config(self.config.clone()).expect("a valid config");
        let streams = self
            .source
            .streams(&config)
            .expect("the source lists its streams");
        let info = self.stream_info(&streams);
        let catalog = input::parse_catalog(
            &serde_json::to_vec(&self.catalog).expect("a catalog serializes"),
            std::path::Path::new("catalog"),
        )
        .expect("a valid configured catalog");
        let input = self
            .state
            .as_ref()
            .map_or_else(InputState::default, |state| {
                InputState::from_json(state).expect("a valid state")
            });
        let initial: Committed = info
            .iter()
            .filter_map(|stream| {
                let state = input.stream_state(&stream.descriptor)?.to_owned();
                Some((
                    stream.descriptor.to_string(),
                    (stream.descriptor.clone(), state),
                ))
            })
            .collect();
        let mut runner = Runner {
            test: self,
            catalog: &catalog,
            streams: &streams,
            info: &info,
            cache: HashMap::new(),
            syncs: Vec::new(),
        };

        let first = runner.sync(&initial)?;
        let reference = runner.chain(&initial, first, None)?;
        runner
            .compare(&reference, &reference)
            .map_err(|problem| CrashFailure {
                cut: None,
                message: String::new(),
                resumed_from: reference.resumed_from.clone(),
                problem,
            })?;
        let messages = runner.syncs[first].output.messages.len();
        let positions = positions(&runner.syncs[first].output, self.max_cuts);
        for &cut in &positions {
            let chain = runner.chain(&initial, first, Some(cut))?;
            runner
                .compare(&reference, &chain)
                .map_err(|problem| CrashFailure {
                    cut: Some(cut),
                    message: runner.syncs[first]
                        .output
                        .stdout
                        .lines()
                        .nth(cut)
                        .unwrap_or_default()
                        .to_owned(),
                    resumed_from: chain.resumed_from.clone(),
                    problem,
                })?;
        }
        Ok(CrashReport {
            messages,
            cuts: positions.len(),
            syncs: runner.syncs.len(),
            records: reference.records.len(),
        })
    }

    fn stream_info(&self, streams: &crate::source::Streams<'_>) -> Vec<StreamInfo> {
        let configured = self.catalog["streams"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        streams
            .iter()
            .map(|stream| {
                let entry = stream.catalog_entry();
                let descriptor = stream.descriptor();
                let chosen = configured.iter().find(|c| {
                    c["stream"]["name"] == json!(descriptor.name)
                        && c["stream"]["namespace"].as_str() == descriptor.namespace.as_deref()
                });
                let primary_key = chosen
                    .and_then(|c| serde_json::from_value(c["primary_key"].clone()).ok())
                    .or(entry.source_defined_primary_key)
                    .unwrap_or_default();
                StreamInfo {
                    descriptor,
                    primary_key,
                    cursor_field: entry.default_cursor_field.unwrap_or_default(),
                    lookback: stream.has_lookback(),
                }
            })
            .collect()
    }
}

/// Each stream's committed `stream_state`, by the stream's name.
type Committed = BTreeMap<String, (StreamDescriptor, Box<RawValue>)>;

struct Runner<'t, 's, 'a, S: Source> {
    test: &'t CrashTest<'s, S>,
    catalog: &'t ConfiguredCatalog,
    streams: &'t crate::source::Streams<'a>,
    info: &'t [StreamInfo],
    /// Syncs already run, by the state they started from: their index in `syncs`.
    cache: HashMap<String, usize>,
    syncs: Vec<Sync>,
}

/// A sync's output with each record's identities computed once.
struct Sync {
    output: Output,
    /// Per message: for a record, its key (primary key, or whole record), its whole-record
    /// identity, and whether sending it again is allowed.
    records: Vec<Option<RecordKeys>>,
    /// Per message: for a STATE, its stream and `stream_state` as printed.
    states: Vec<Option<(StreamDescriptor, Box<RawValue>)>>,
}

struct RecordKeys {
    key: String,
    whole: String,
    exempt: bool,
}

impl<S: Source> Runner<'_, '_, '_, S> {
    /// The sync from `state`, run once per distinct state; its index in `syncs`.
    fn sync(&mut self, state: &Committed) -> Result<usize, CrashFailure> {
        let file = state_file(state);
        if let Some(&index) = self.cache.get(&file) {
            return Ok(index);
        }
        let test = self.test;
        let input = InputState::from_text(&file).expect("a state file the kit wrote");
        let output = read_parsed(test.source, &test.config, self.catalog, &input);
        check_record_counts(&output).map_err(|problem| CrashFailure {
            cut: None,
            message: String::new(),
            resumed_from: vec![file.clone()],
            problem,
        })?;
        let records = output
            .messages
            .iter()
            .map(|message| match message {
                Message::Record { record } => {
                    let descriptor =
                        StreamDescriptor::new(&record.stream, record.namespace.as_deref());
                    let resumed = state.get(&descriptor.to_string()).map(|(_, raw)| &**raw);
                    Some(self.keys(&descriptor, &record.data, resumed))
                }
                _ => None,
            })
            .collect();
        let mut states: Vec<Option<(StreamDescriptor, Box<RawValue>)>> =
            std::iter::repeat_with(|| None)
                .take(output.messages.len())
                .collect();
        for (index, message) in output.raw_states() {
            if let Some(stream) = message.stream {
                let state = stream
                    .stream_state
                    .unwrap_or_else(|| RawValue::NULL.to_owned());
                states[index] = Some((stream.stream_descriptor, state));
            }
        }
        self.syncs.push(Sync {
            output,
            records,
            states,
        });
        self.cache.insert(file, self.syncs.len() - 1);
        Ok(self.syncs.len() - 1)
    }

    fn keys(
        &self,
        descriptor: &StreamDescriptor,
        data: &Value,
        resumed: Option<&RawValue>,
    ) -> RecordKeys {
        let info = self.info.iter().find(|i| i.descriptor == *descriptor);
        let whole = format!("{descriptor} {data}");
        let key = match info.filter(|i| !i.primary_key.is_empty()) {
            Some(info) => {
                let key: Vec<Value> = info
                    .primary_key
                    .iter()
                    .map(|path| at(data, path).clone())
                    .collect();
                format!("{descriptor} {}", Value::Array(key))
            }
            None => whole.clone(),
        };
        let exempt = info.is_none_or(|i| i.lookback || at(data, &i.cursor_field).is_null())
            || self
                .streams
                .iter()
                .find(|stream| stream.descriptor() == *descriptor)
                .is_some_and(|stream| stream.may_resend(resumed, data));
        RecordKeys { key, whole, exempt }
    }

    fn record(&self, (sync, index): (usize, usize)) -> &RecordKeys {
        self.syncs[sync].records[index]
            .as_ref()
            .expect("chains refer to records")
    }

    /// The chain of syncs that starts with `first` (cut after message `cut`, if any) and resumes
    /// until a sync completes.
    fn chain(
        &mut self,
        initial: &Committed,
        first: usize,
        cut: Option<usize>,
    ) -> Result<Chain, CrashFailure> {
        let mut chain = Chain::default();
        for (descriptor, state) in initial.values() {
            chain
                .watermarks
                .entry(descriptor.clone())
                .or_default()
                .push(state.clone());
        }
        let mut state = initial.clone();
        let output = &self.syncs[first].output;
        let end = cut.map_or(output.messages.len(), |cut| cut + 1);
        let mut complete = cut.is_none() && output.exit_code == 0;
        commit(first, &self.syncs[first], end, &mut chain, &mut state);
        for _attempt in 0..100 {
            if complete {
                return Ok(chain);
            }
            let before = state_file(&state);
            chain.resumed_from.push(before.clone());
            let sync = self.sync(&state)?;
            let output = &self.syncs[sync].output;
            commit(
                sync,
                &self.syncs[sync],
                output.messages.len(),
                &mut chain,
                &mut state,
            );
            complete = output.exit_code == 0;
            if !complete && state_file(&state) == before {
                return Err(CrashFailure {
                    cut,
                    message: String::new(),
                    resumed_from: chain.resumed_from,
                    problem: format!(
                        "a resumed sync failed without moving any state, so the sync can never \
                         complete; its output:\n{}",
                        output.stdout
                    ),
                });
            }
        }
        Err(CrashFailure {
            cut,
            message: String::new(),
            resumed_from: chain.resumed_from,
            problem: "no sync completed after 100 resumes".to_owned(),
        })
    }

    /// The promises a cut chain must keep, compared with the uncut one.
    fn compare(&self, reference: &Chain, chain: &Chain) -> Result<(), String> {
        let committed: std::collections::HashSet<&str> = chain
            .records
            .iter()
            .map(|&at| self.record(at).key.as_str())
            .collect();
        let lost: Vec<String> = reference
            .records
            .iter()
            .map(|&at| self.record(at).key.as_str())
            .filter(|key| !committed.contains(key))
            .map(str::to_owned)
            .collect();
        if !lost.is_empty() {
            return Err(format!("records lost: {}", sample(&lost)));
        }

        let mut seen: HashMap<&str, usize> = HashMap::new();
        for &at in &reference.records {
            *seen.entry(self.record(at).whole.as_str()).or_default() += 1;
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut resent = Vec::new();
        for &at in &chain.records {
            let record = self.record(at);
            let count = counts.entry(record.whole.as_str()).or_default();
            *count += 1;
            if !record.exempt && *count > seen.get(record.whole.as_str()).copied().unwrap_or(1) {
                resent.push(record.whole.clone());
            }
        }
        if !resent.is_empty() {
            return Err(format!(
                "committed records sent again after resuming: {}",
                sample(&resent)
            ));
        }

        for (descriptor, watermarks) in &chain.watermarks {
            let Some(stream) = self.streams.iter().find(|s| s.descriptor() == *descriptor) else {
                continue;
            };
            for pair in watermarks.windows(2) {
                let order = stream
                    .compare_states(&pair[0], &pair[1])
                    .map_err(|err| format!("stream `{descriptor}`: {err}"))?;
                if order == std::cmp::Ordering::Greater {
                    return Err(format!(
                        "the watermark of stream `{descriptor}` moved backwards from {} to {}",
                        pair[0], pair[1]
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Commits what a destination keeps of the first `end` messages of sync `index`: each stream's
/// records up to its last STATE, and that STATE.
#[inline]
fn commit(index: usize, sync: &Sync, end: usize, chain: &mut Chain, state: &mut Committed) {
    let mut pending: HashMap<StreamDescriptor, Vec<(usize, usize)>> = HashMap::new();
    let messages = sync.output.messages.iter().zip(&sync.states);
    for (at, (message, raw)) in messages.take(end).enumerate() {
        match (message, raw) {
            (Message::Record { record }, _) => {
                let descriptor = StreamDescriptor::new(&record.stream, record.namespace.as_deref());
                pending.entry(descriptor).or_default().push((index, at));
            }
            (Message::State { .. }, Some((descriptor, value))) => {
                let descriptor = descriptor.clone();
                chain
                    .records
                    .extend(pending.remove(&descriptor).unwrap_or_default());
                chain
                    .watermarks
                    .entry(descriptor.clone())
                    .or_default()
                    .push(value.clone());
                state.insert(descriptor.to_string(), (descriptor, value.clone()));
            }
            _ => {}
        }
    }
}

/// Every STATE's `recordCount` is the number of its stream's records since the previous one.
#[inline]
fn check_record_counts(output: &Output) -> Result<(), String> {
    let mut since: HashMap<StreamDescriptor, u64> = HashMap::new();
    for (index, message) in output.messages.iter().enumerate() {
        match message {
            Message::Record { record } => {
                let descriptor = StreamDescriptor::new(&record.stream, record.namespace.as_deref());
                *since.entry(descriptor).or_default() += 1;
            }
            Message::State { state } => {
                let Some(stream) = &state.stream else {
                    continue;
                };
                let records = since.remove(&stream.stream_descriptor).unwrap_or(0);
                let claimed = state.source_stats.as_ref().and_then(|s| s.record_count);
                #[expect(
                    clippy::cast_precision_loss,
                    reason = "test counts stay far below 2^53"
                )]
                if claimed != Some(records as f64) {
                    return Err(format!(
                        "message {index}: STATE of stream `{}` has recordCount {claimed:?} but \
                         {records} records came since the previous one",
                        stream.stream_descriptor
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The cut positions: all, or an even sample plus the neighbours of every STATE.
#[inline]
fn positions(output: &Output, max: usize) -> Vec<usize> {
    let len = output.messages.len();
    if len <= max {
        return (0..len).collect();
    }
    let mut chosen: Vec<usize> = output
        .messages
        .iter()
        .enumerate()
        .filter(|(_, message)| matches!(message, Message::State { .. }))
        .flat_map(|(index, _)| [index.saturating_sub(1), index])
        .collect();
    let budget = max.saturating_sub(chosen.len()).max(1);
    chosen.extend((0..budget).map(|i| i * len / budget));
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// A `--state` file holding one STREAM state per stream, as JSON text.
#[inline]
fn state_file(state: &Committed) -> String {
    let messages: Vec<StateMessage<&RawValue, &StreamDescriptor>> = state
        .values()
        .map(|(descriptor, value)| StateMessage {
            state_type: Some(StateType::Stream),
            stream: Some(StreamState {
                stream_descriptor: descriptor,
                stream_state: Some(&**value),
            }),
            global: None,
            data: None,
            source_stats: None,
        })
        .collect();
    serde_json::to_string(&messages).expect("state messages serialize")
}

/// The value at a JSON path, `null` when absent.
#[inline]
fn at<'v>(data: &'v Value, path: &[String]) -> &'v Value {
    path.iter()
        .fold(data, |value, key| value.get(key).unwrap_or(&Value::Null))
}

/// The first few items of a list, for messages.
#[inline]
fn sample(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
    let more = items.len().saturating_sub(shown.len());
    if more == 0 {
        shown.join(", ")
    } else {
        format!("{} (and {more} more)", shown.join(", "))
    }
}
