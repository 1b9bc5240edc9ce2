//! Full-refresh streams: read in full by every sync, with no cursor. A stream declared resumable
//! saves positions (a page token, a keyset) that a retried attempt resumes at; a completed
//! stream's last STATE is `{}`, so the next sync starts over.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::contract::Admit;
use crate::emitter::Emitter;
use crate::error::Error;
use crate::json;
use crate::protocol::{self, StreamDescriptor, SyncMode};
use crate::source::{ErasedStream, Sink, StreamFailure, Tracker, call_reader, run_stream};
use crate::state::InputState;
use crate::stream::FullRefreshStream;

/// The key of the saved position in a full-refresh stream's `stream_state`.
const POSITION: &str = "position";

/// Keys of a `stream_state` that mean "no state": the protocol's no-cursor sentinel and the
/// Airbyte Python CDK's mark of a completed resumable full refresh.
const NO_STATE_KEYS: [&str; 2] = [
    "__ab_no_cursor_state_message",
    "__ab_full_refresh_sync_complete",
];

/// Reads one full-refresh stream, in full.
///
/// A closure passed to [`Streams::full_refresh`](crate::Streams::full_refresh) is a reader.
/// Implement the trait on your own type when the reader holds something, such as a client:
///
/// ```
/// use tidemark::{Error, FullRefreshReader, Resume, Sink};
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::full_refresh_stream(primary_key = "id", resumable = true)]
/// struct User {
///     id: u64,
/// }
///
/// /// An API listing users 100 per page, pages numbered from 1.
/// struct Users {
///     pages: u64,
/// }
///
/// impl FullRefreshReader<User> for Users {
///     fn read(&mut self, resume: &Resume<User>, out: &mut Sink<User>) -> Result<(), Error> {
///         // A retried attempt starts at the page the failed one saved.
///         let first: u64 = resume.position()?.unwrap_or(1);
///         for page in first..=self.pages {
///             for id in (page - 1) * 100..page * 100 {
///                 out.emit(&User { id })?;
///             }
///             // Every record before this call is out: a retry may start at the next page.
///             out.save_position(&(page + 1))?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = Users { pages: 3 };
/// ```
pub trait FullRefreshReader<S: FullRefreshStream> {
    /// Pushes every record of the stream into `out`, starting at `resume`'s position when
    /// there is one; see [`Streams::full_refresh`](crate::Streams::full_refresh).
    ///
    /// # Errors
    ///
    /// Whatever stops the stream: the runtime reports it with the error's failure type.
    fn read(&mut self, resume: &Resume<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error>;
}

/// A closure is a [`FullRefreshReader`]: `|resume: &Resume<S>, out: &mut Sink<S>| { .. }`.
impl<S, F> FullRefreshReader<S> for F
where
    S: FullRefreshStream,
    F: FnMut(&Resume<'_, S>, &mut Sink<'_, S>) -> Result<(), Error>,
{
    fn read(&mut self, resume: &Resume<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        self(resume, out)
    }
}

/// Where a full-refresh stream's read starts: at the beginning, or at the position a failed
/// attempt saved with [`Sink::save_position`].
///
/// An attempt given the state a failed attempt left resumes at its last saved position, and
/// every other sync (no state, or the `{}` a completed stream ends with) starts over. The saved
/// position is used whether the configured catalog asks `full_refresh` or `incremental`,
/// because the Airbyte platform configures these streams in `full_refresh` mode and hands a
/// retried attempt the state of the attempt before it. A stream not declared resumable always
/// starts over and ignores any saved state.
pub struct Resume<'s, S> {
    /// The saved position, when the read resumes.
    position: Option<&'s RawValue>,
    /// The whole saved `stream_state`, quoted by errors.
    state: Option<&'s RawValue>,
    stream: PhantomData<fn() -> S>,
}

impl<S: FullRefreshStream> Resume<'_, S> {
    /// The position to resume at, as the type it was saved as: `Ok(None)` when the read starts
    /// over.
    ///
    /// # Errors
    ///
    /// [`Error::State`] (a `config_error` naming the stream and quoting the state) when the
    /// saved position is not a `P`: the stream fails instead of silently starting over.
    pub fn position<P: DeserializeOwned>(&self) -> Result<Option<P>, Error> {
        let Some(position) = self.position else {
            return Ok(None);
        };
        let mut deserializer = serde_json::Deserializer::from_str(position.get());
        serde_path_to_error::deserialize(&mut deserializer)
            .map(Some)
            .map_err(|err| {
                let path = err.path().to_string();
                let at = if path == "." {
                    format!("`{POSITION}`")
                } else {
                    format!("`{POSITION}.{path}`")
                };
                invalid::<S>(
                    self.state.unwrap_or(position),
                    format!("{at}: {}", json::error_text(err.inner())),
                )
            })
    }
}

/// A saved `stream_state` that does not fit the stream.
fn invalid<S: FullRefreshStream>(state: &RawValue, message: String) -> Error {
    Error::State {
        stream: S::descriptor().to_string(),
        message,
        json: json::compact(state),
    }
}

impl<S: FullRefreshStream> Sink<'_, S> {
    /// Saves a position of a stream declared resumable (a page token, a keyset, an offset):
    /// every record emitted before this call is out, and an attempt retrying this sync may
    /// start at `position`, which its reader gets from [`Resume::position`]. Emits a STATE
    /// `{"position": position}` covering the records since the previous STATE, unless neither
    /// the position nor the records changed since then. Call it where resuming loses nothing:
    /// after the last record of a page, with the token of the next one.
    ///
    /// # Errors
    ///
    /// The stream is not declared resumable, the position cannot be serialized, or stdout is
    /// closed: the stream stops, and every later call returns an error too.
    pub fn save_position<P: Serialize + ?Sized>(&mut self, position: &P) -> Result<(), Error> {
        let position =
            serde_json::value::to_raw_value(position).map_err(|source| Error::Serialize {
                stream: S::descriptor().to_string(),
                source,
            });
        self.sink.save_position(position)
    }
}

/// A saved `stream_state`, with its position when it has one.
struct Saved {
    state: Box<RawValue>,
    position: Option<Box<RawValue>>,
}

/// Reads a full-refresh stream's saved `stream_state`: `null`, `{}`, the sentinels of
/// [`NO_STATE_KEYS`] and `{"position": null}` have no position; an object with other keys and
/// no `position` is an error, since resuming from nothing would silently send everything again.
fn parse_saved<S: FullRefreshStream>(state: Option<&RawValue>) -> Result<Option<Saved>, Error> {
    let Some(state) = state else { return Ok(None) };
    if json::is_null(state) {
        return Ok(None);
    }
    if !json::is_object(state) {
        let message = format!("expected an object, found {}", json::kind(state));
        return Err(invalid::<S>(state, message));
    }
    // Of repeated keys, the last wins.
    let members: BTreeMap<String, Box<RawValue>> = serde_json::from_str(state.get())
        .map_err(|err| invalid::<S>(state, json::error_text(&err)))?;
    let position = match members.get(POSITION) {
        Some(position) => (!json::is_null(position)).then(|| position.clone()),
        None => {
            if let Some(key) = members
                .keys()
                .find(|key| !NO_STATE_KEYS.contains(&key.as_str()))
            {
                let message = format!("no `{POSITION}` in the state, but `{key}`");
                return Err(invalid::<S>(state, message));
            }
            None
        }
    };
    Ok(Some(Saved {
        state: state.to_owned(),
        position,
    }))
}

/// A registered full-refresh stream and its reader.
pub(crate) struct FullRefresh<S, R> {
    reader: R,
    /// The saved state of a resumable stream, read by `load_state`.
    saved: Option<Saved>,
    stream: PhantomData<fn() -> S>,
}

impl<S, R> FullRefresh<S, R> {
    pub(crate) fn new(reader: R) -> Self {
        FullRefresh {
            reader,
            saved: None,
            stream: PhantomData,
        }
    }
}

impl<S, R> ErasedStream for FullRefresh<S, R>
where
    S: FullRefreshStream,
    R: FullRefreshReader<S>,
{
    fn descriptor(&self) -> StreamDescriptor {
        S::descriptor()
    }

    fn catalog_entry(&self) -> protocol::Stream {
        S::catalog_entry()
    }

    /// Both sync modes use the saved position: see [`Resume`].
    fn load_state(&mut self, _mode: SyncMode, input: &InputState) -> Result<(), Error> {
        self.saved = if S::RESUMABLE {
            parse_saved::<S>(input.stream_state(&S::descriptor()))?
        } else {
            None
        };
        Ok(())
    }

    /// Positions have no order: any two states are equal, once both are valid.
    fn compare_states(&self, a: &RawValue, b: &RawValue) -> Result<std::cmp::Ordering, Error> {
        if S::RESUMABLE {
            parse_saved::<S>(Some(a))?;
            parse_saved::<S>(Some(b))?;
        }
        Ok(std::cmp::Ordering::Equal)
    }

    fn has_lookback(&self) -> bool {
        false
    }

    /// A sync that starts over sends again what was committed before: every sync of a stream
    /// not declared resumable, and one given no saved position.
    fn may_resend(&self, state: Option<&RawValue>, _record: &serde_json::Value) -> bool {
        !S::RESUMABLE
            || parse_saved::<S>(state)
                .is_ok_and(|saved| saved.is_none_or(|saved| saved.position.is_none()))
    }

    fn read(
        &mut self,
        _started_at: DateTime<Utc>,
        _budget: &crate::concurrent::Budget,
        out: &mut Emitter<'_>,
    ) -> Result<Option<StreamFailure>, Error> {
        let saved = self.saved.take();
        let resume = Resume::<S> {
            position: saved.as_ref().and_then(|saved| saved.position.as_deref()),
            state: saved.as_ref().map(|saved| &*saved.state),
            stream: PhantomData,
        };
        let reader = &mut self.reader;
        let positions = Positions::<S>::new(resume.position);
        run_stream(S::descriptor(), positions, out, |run| {
            call_reader(run, |out| reader.read(&resume, out))?;
            let records = run.tracker.finish();
            run.write_state(records)
        })
    }
}

/// A full-refresh stream's state as its records go out: the records since the previous STATE
/// and the position that STATE (or the saved state) holds.
struct Positions<S> {
    records: u64,
    position: Option<Box<RawValue>>,
    stream: PhantomData<fn() -> S>,
}

impl<S> Positions<S> {
    fn new(resumed_at: Option<&RawValue>) -> Self {
        Positions {
            records: 0,
            position: resumed_at.map(ToOwned::to_owned),
            stream: PhantomData,
        }
    }

    /// The stream completed: the final STATE is `{}`, covering the records since the previous
    /// one, so that the next sync starts over.
    fn finish(&mut self) -> u64 {
        self.position = None;
        std::mem::take(&mut self.records)
    }
}

/// A full-refresh stream's `stream_state`: `{"position": ..}`, or `{}`.
#[derive(Serialize)]
struct PositionState<'p> {
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<&'p RawValue>,
}

impl<S: FullRefreshStream> Tracker for Positions<S> {
    type Record = S;

    fn admit(&mut self, _record: &S, _stream: &StreamDescriptor) -> Result<Admit, Error> {
        Ok(Admit::Emit)
    }

    fn wrote(&mut self) {
        self.records += 1;
    }

    /// A record not written was not counted yet.
    fn retract(&mut self) {}

    fn write_state(
        &mut self,
        stream: &StreamDescriptor,
        records: u64,
        out: &mut Emitter<'_>,
    ) -> Result<(), Error> {
        let state = PositionState {
            position: self.position.as_deref(),
        };
        out.state(stream, &state, records)
    }

    /// Nothing more is claimed: the last saved position stands.
    fn fail(&mut self, _error: &Error) -> Option<u64> {
        None
    }

    fn save_position(
        &mut self,
        stream: &StreamDescriptor,
        position: Box<RawValue>,
    ) -> Result<Option<u64>, Error> {
        if !S::RESUMABLE {
            return Err(Error::system(format!(
                "stream `{stream}` saved a position but is not declared resumable \
                 (`resumable = true`): it is read from the beginning by every attempt"
            )));
        }
        if self.records == 0 && self.position.as_deref().map(RawValue::get) == Some(position.get())
        {
            return Ok(None);
        }
        self.position = Some(position);
        Ok(Some(std::mem::take(&mut self.records)))
    }

    fn progress(&self, _record: &S) -> String {
        self.position
            .as_deref()
            .map_or_else(|| "-".to_owned(), json::compact)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    #[derive(Serialize)]
    struct Row {
        id: u64,
    }

    impl FullRefreshStream for Row {
        const NAME: &'static str = "rows";
        const NAMESPACE: Option<&'static str> = None;
        const PRIMARY_KEY: &'static [&'static [&'static str]] = &[&["id"]];
        const RESUMABLE: bool = true;

        fn json_schema() -> Value {
            serde_json::json!({"type": "object"})
        }
    }

    /// Emits row 1, saves position 2, then waits a minute before row 2.
    fn patient(resume: &Resume<Row>, out: &mut Sink<Row>) -> Result<(), Error> {
        assert_eq!(resume.position::<u64>()?, None);
        out.emit(&Row { id: 1 })?;
        out.save_position(&2)?;
        out.wait(Duration::from_mins(1))?;
        out.emit(&Row { id: 2 })
    }

    /// The messages written, each as `TYPE detail`.
    fn lines(stdout: &[u8]) -> Vec<String> {
        std::str::from_utf8(stdout)
            .expect("UTF-8")
            .lines()
            .map(|line| {
                let message: Value = serde_json::from_str(line).expect("JSON");
                match message["type"].as_str().expect("a type") {
                    "RECORD" => format!("RECORD {}", message["record"]["data"]),
                    "STATE" => format!(
                        "STATE {} {}",
                        message["state"]["stream"]["stream_state"],
                        message["state"]["sourceStats"]["recordCount"]
                    ),
                    "TRACE" => format!(
                        "TRACE {}",
                        message["trace"]["stream_status"]["status"]
                            .as_str()
                            .unwrap_or("other")
                    ),
                    other => other.to_owned(),
                }
            })
            .collect()
    }

    #[test]
    fn sigterm_during_a_wait_stops_the_stream_and_its_last_position_stands() {
        static STOP: AtomicBool = AtomicBool::new(false);
        let mut stream = FullRefresh::<Row, _>::new(|_: &Resume<Row>, out: &mut Sink<Row>| {
            out.emit(&Row { id: 1 })?;
            out.save_position(&2)?;
            STOP.store(true, Ordering::Relaxed);
            out.wait(Duration::from_mins(1))?;
            out.emit(&Row { id: 2 })
        });
        let mut stdout = Vec::new();
        let mut out = Emitter::new(&mut stdout);
        out.stop_on(&STOP);
        let failure = stream
            .read(Utc::now(), &crate::concurrent::Budget::new(1), &mut out)
            .expect("the output works")
            .expect("the stream stops");
        assert!(
            matches!(&failure.error, Error::Terminated { stream } if stream == "rows"),
            "{:?}",
            failure.error
        );
        out.flush().expect("flushed");
        drop(out);
        // The wait ends at once; nothing after the saved position is claimed.
        assert_eq!(
            lines(&stdout),
            [
                "TRACE STARTED",
                "TRACE RUNNING",
                r#"RECORD {"id":1}"#,
                r#"STATE {"position":2} 1.0"#,
                "TRACE INCOMPLETE",
            ]
        );
    }

    /// A stdout whose reader has gone.
    struct Closed;

    impl std::io::Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    #[test]
    fn a_closed_stdout_ends_the_run_without_waiting() {
        let mut stream = FullRefresh::<Row, _>::new(patient);
        let mut stdout = Closed;
        let mut out = Emitter::new(&mut stdout);
        let started = std::time::Instant::now();
        let result = stream.read(Utc::now(), &crate::concurrent::Budget::new(1), &mut out);
        assert!(
            matches!(result, Err(Error::Output(_))),
            "{:?}",
            result.err()
        );
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
