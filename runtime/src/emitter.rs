//! Writes protocol messages to stdout (or any `io::Write`), one JSON object per line.
//!
//! Messages are serialized into an in-memory buffer that is handed to the sink when it fills
//! up, after every STATE and at the end: a STATE always reaches the sink together with the
//! records it covers, and never before them. Records are serialized straight from the record
//! struct into the buffer, with no intermediate JSON value.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::logging::{LogQueue, LogSubscriber};
use crate::secret::Masker;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::Error;
use crate::protocol::{
    ErrorTrace, EstimateTrace, EstimateType, FailureType, Message, StateMessage, StateStats,
    StateType, StreamDescriptor, StreamState, StreamStatus, StreamStatusReason, StreamStatusTrace,
    TraceMessage, TraceType,
};

/// Buffer size at which pending output is written to the sink.
const FLUSH_AT: usize = 64 * 1024;

/// The protocol writer.
pub(crate) struct Emitter<'o> {
    buf: Vec<u8>,
    sink: &'o mut dyn Write,
    /// Set when the process was asked to stop (SIGTERM during `read`).
    stop: Option<&'static AtomicBool>,
    /// LOG lines from `tracing` events, written before the next message.
    logs: Option<Arc<LogQueue>>,
    /// The run's secrets, masked in LOG, TRACE and CONNECTION_STATUS messages.
    masker: Arc<Masker>,
    /// Show per-stream progress on stderr (a connector process whose stderr is a terminal).
    progress: bool,
    /// Ends record lines with their `emitted_at`.
    clock: Clock,
}

/// Records' `emitted_at`: the wall clock, read for every record, so that the value is right to
/// the millisecond however slowly records come. The end of the line (`,"emitted_at":<ms>}}`)
/// is kept and rebuilt only when the millisecond changes: at the rates the runtime writes,
/// thousands of records share one, and the copy costs less than formatting the number each time.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    /// The millisecond `line_end` was built for.
    millis: i64,
    /// `,"emitted_at":<millis>}}` and the newline.
    line_end: Vec<u8>,
}

impl Clock {
    /// The end of a record line written now.
    fn line_end(&mut self) -> &[u8] {
        let now = now_millis();
        if now != self.millis || self.line_end.is_empty() {
            self.millis = now;
            self.line_end.clear();
            self.line_end.extend_from_slice(br#","emitted_at":"#);
            self.line_end
                .extend_from_slice(itoa::Buffer::new().format(now).as_bytes());
            self.line_end.extend_from_slice(b"}}\n");
        }
        &self.line_end
    }
}

/// The JSON prefix and suffix that frame the records of one stream.
pub(crate) struct RecordFrame {
    /// `{"type":"RECORD","record":{"stream":"<name>","data":`
    prefix: Vec<u8>,
}

impl RecordFrame {
    pub(crate) fn new(descriptor: &StreamDescriptor) -> Self {
        let mut prefix = Vec::with_capacity(64);
        prefix.extend_from_slice(br#"{"type":"RECORD","record":{"#);
        if let Some(namespace) = &descriptor.namespace {
            prefix.extend_from_slice(br#""namespace":"#);
            write_json(&mut prefix, namespace);
            prefix.push(b',');
        }
        prefix.extend_from_slice(br#""stream":"#);
        write_json(&mut prefix, &descriptor.name);
        prefix.extend_from_slice(br#","data":"#);
        RecordFrame { prefix }
    }
}

/// Appends one record line to `buf`: the frame, the record, its `emitted_at`. A record that
/// fails to serialize leaves nothing behind.
pub(crate) fn record_line<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    frame: &RecordFrame,
    clock: &mut Clock,
    data: &T,
    stream: &str,
) -> Result<(), Error> {
    let start = buf.len();
    buf.extend_from_slice(&frame.prefix);
    if let Err(source) = serde_json::to_writer(&mut *buf, data) {
        buf.truncate(start);
        return Err(Error::Serialize {
            stream: stream.to_owned(),
            source,
        });
    }
    buf.extend_from_slice(clock.line_end());
    Ok(())
}

/// Drops the end of `buf` after its last complete line: what a panic in the middle of
/// serializing a record left behind.
pub(crate) fn truncate_to_line(buf: &mut Vec<u8>) {
    let complete = buf
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1);
    buf.truncate(complete);
}

/// Serializes a value that cannot fail to serialize (strings, our own message types).
fn write_json<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) {
    if let Err(err) = serde_json::to_writer(&mut *buf, value) {
        // Only maps with non-string keys fail, and protocol types have none.
        unreachable!("protocol value failed to serialize: {err}");
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// What emitters of streams read on threads of their own share with the run's emitter.
#[derive(Clone)]
pub(crate) struct Template {
    stop: Option<&'static AtomicBool>,
    logs: Option<Arc<LogQueue>>,
    masker: Arc<Masker>,
    progress: bool,
}

impl Template {
    /// An emitter writing to `sink`.
    pub(crate) fn emitter<'c>(&self, sink: &'c mut dyn Write) -> Emitter<'c> {
        Emitter {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            sink,
            stop: self.stop,
            logs: self.logs.clone(),
            masker: Arc::clone(&self.masker),
            progress: self.progress,
            clock: Clock::default(),
        }
    }
}

/// What comes before a [`StateMessage`] on its line: the protocol message's envelope.
const STATE_PREFIX: &[u8] = br#"{"type":"STATE","state":"#;

impl<'o> Emitter<'o> {
    pub(crate) fn new(sink: &'o mut dyn Write) -> Self {
        Emitter {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            sink,
            stop: None,
            logs: None,
            masker: Arc::default(),
            progress: false,
            clock: Clock::default(),
        }
    }

    /// What an emitter for a stream read on a thread of its own shares with this one: the
    /// SIGTERM flag, the log queue, the secrets and the progress setting.
    pub(crate) fn template(&self) -> Template {
        Template {
            stop: self.stop,
            logs: self.logs.clone(),
            masker: Arc::clone(&self.masker),
            progress: self.progress,
        }
    }

    /// Writes bytes of complete messages another emitter serialized (see [`Emitter::child`]).
    pub(crate) fn forward(&mut self, messages: &[u8]) -> Result<(), Error> {
        self.lines(messages)
    }

    /// Shows per-stream progress on the process's stderr from now on.
    pub(crate) fn show_progress(&mut self) {
        self.progress = true;
    }

    /// Whether per-stream progress is shown.
    pub(crate) fn progress(&self) -> bool {
        self.progress
    }

    /// A `tracing` dispatcher whose events this emitter writes as LOG messages.
    pub(crate) fn log_dispatch(&mut self) -> tracing::Dispatch {
        let queue = Arc::new(LogQueue::default());
        self.logs = Some(Arc::clone(&queue));
        tracing::Dispatch::new(LogSubscriber::new(queue, Arc::clone(&self.masker)))
    }

    /// Learns the secret values of a configuration from its schema's `airbyte_secret` fields.
    pub(crate) fn learn_secrets(&self, schema: &serde_json::Value, config: &serde_json::Value) {
        self.masker.learn(schema, config);
    }

    /// The run's secrets, shared: what [`Emitter::mask`] masks, for the panic hook of a
    /// connector process.
    pub(crate) fn masker(&self) -> Arc<Masker> {
        Arc::clone(&self.masker)
    }

    /// `text` with the run's secrets masked: for what the runtime writes to stderr.
    pub(crate) fn mask<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        self.masker.mask(text)
    }

    /// Moves queued LOG lines into the buffer.
    fn take_logs(&mut self) {
        if let Some(logs) = &self.logs {
            logs.drain_into(&mut self.buf);
        }
    }

    /// Watches `flag`: once it is set, [`Emitter::stop_requested`] says so.
    pub(crate) fn stop_on(&mut self, flag: &'static AtomicBool) {
        self.stop = Some(flag);
    }

    /// The flag SIGTERM sets, if this emitter watches one.
    pub(crate) fn stop_flag(&self) -> Option<&'static AtomicBool> {
        self.stop
    }

    /// Whether the process was asked to stop.
    pub(crate) fn stop_requested(&self) -> bool {
        self.stop.is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Writes one record line. The record is serialized before anything is committed to the
    /// buffer, so a record that fails to serialize leaves no partial line behind.
    pub(crate) fn record<T: Serialize + ?Sized>(
        &mut self,
        frame: &RecordFrame,
        data: &T,
        stream: &str,
    ) -> Result<(), Error> {
        self.take_logs();
        record_line(&mut self.buf, frame, &mut self.clock, data, stream)?;
        if self.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }

    /// Writes complete record lines serialized elsewhere (by [`record_line`]).
    pub(crate) fn lines(&mut self, lines: &[u8]) -> Result<(), Error> {
        self.take_logs();
        if self.buf.len() + lines.len() >= FLUSH_AT {
            self.drain()?;
            return self.sink.write_all(lines).map_err(Error::Output);
        }
        self.buf.extend_from_slice(lines);
        Ok(())
    }

    /// Drops the end of the buffer after the last complete line: what a panic in the middle of
    /// serializing a record left behind.
    pub(crate) fn discard_partial_line(&mut self) {
        truncate_to_line(&mut self.buf);
    }

    /// Writes a STREAM state and flushes it, with every record before it, to the sink.
    pub(crate) fn state<S: Serialize>(
        &mut self,
        descriptor: &StreamDescriptor,
        state: &S,
        records: u64,
    ) -> Result<(), Error> {
        self.take_logs();
        #[expect(
            clippy::cast_precision_loss,
            reason = "recordCount is a float in the protocol; counts stay far below 2^53"
        )]
        let record_count = records as f64;
        let message = StateMessage {
            state_type: Some(StateType::Stream),
            stream: Some(StreamState {
                stream_descriptor: descriptor,
                stream_state: Some(state),
            }),
            global: None,
            data: None,
            source_stats: Some(StateStats {
                record_count: Some(record_count),
            }),
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(STATE_PREFIX);
        if let Err(source) = serde_json::to_writer(&mut self.buf, &message) {
            self.buf.truncate(start);
            return Err(Error::Serialize {
                stream: descriptor.name.clone(),
                source,
            });
        }
        self.buf.extend_from_slice(b"}\n");
        self.flush()
    }

    /// Writes any other protocol message.
    pub(crate) fn message(&mut self, message: &Message) -> Result<(), Error> {
        self.take_logs();
        match self.masked(message) {
            Some(masked) => write_json(&mut self.buf, &masked),
            None => write_json(&mut self.buf, message),
        }
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.drain()?;
        }
        Ok(())
    }

    /// A STREAM_STATUS trace.
    pub(crate) fn stream_status(
        &mut self,
        descriptor: &StreamDescriptor,
        status: StreamStatus,
    ) -> Result<(), Error> {
        self.status_with_reasons(descriptor, status, None)
    }

    /// A STREAM_STATUS trace with reasons.
    pub(crate) fn status_with_reasons(
        &mut self,
        descriptor: &StreamDescriptor,
        status: StreamStatus,
        reasons: Option<Vec<StreamStatusReason>>,
    ) -> Result<(), Error> {
        self.message(&Message::Trace {
            trace: TraceMessage {
                trace_type: TraceType::StreamStatus,
                emitted_at: trace_time(),
                error: None,
                estimate: None,
                stream_status: Some(StreamStatusTrace {
                    stream_descriptor: descriptor.clone(),
                    status,
                    reasons,
                }),
            },
        })
    }

    /// A STREAM estimate trace: how many rows the stream is about to emit.
    pub(crate) fn estimate(
        &mut self,
        descriptor: &StreamDescriptor,
        rows: u64,
    ) -> Result<(), Error> {
        self.message(&Message::Trace {
            trace: TraceMessage {
                trace_type: TraceType::Estimate,
                emitted_at: trace_time(),
                error: None,
                estimate: Some(EstimateTrace {
                    name: descriptor.name.clone(),
                    estimate_type: EstimateType::Stream,
                    namespace: descriptor.namespace.clone(),
                    row_estimate: Some(i64::try_from(rows).unwrap_or(i64::MAX)),
                    byte_estimate: None,
                }),
                stream_status: None,
            },
        })
    }

    /// An ERROR trace for `error`, attributed to `stream` when given.
    pub(crate) fn error(
        &mut self,
        error: &Error,
        stream: Option<&StreamDescriptor>,
    ) -> Result<(), Error> {
        self.message(&error_message(error, stream))
    }

    /// `message` with secrets masked, when it carries text that may hold one.
    fn masked(&self, message: &Message) -> Option<Message> {
        let mask = |text: &mut String| {
            if let std::borrow::Cow::Owned(masked) = self.masker.mask(text) {
                *text = masked;
            }
        };
        match message {
            Message::Trace { trace } if trace.error.is_some() => {
                let mut trace = trace.clone();
                if let Some(error) = &mut trace.error {
                    mask(&mut error.message);
                    error.internal_message.as_mut().map(mask);
                    error.stack_trace.as_mut().map(mask);
                }
                Some(Message::Trace { trace })
            }
            Message::ConnectionStatus { connection_status } => {
                let mut connection_status = connection_status.clone();
                connection_status.message.as_mut().map(mask);
                Some(Message::ConnectionStatus { connection_status })
            }
            Message::Log { log } => {
                let mut log = log.clone();
                mask(&mut log.message);
                Some(Message::Log { log })
            }
            _ => None,
        }
    }

    /// Hands everything buffered to the sink and flushes it.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        self.take_logs();
        // New configs saved outside a stream (`http::Detached`) on this run's threads.
        for config in crate::entrypoint::take_deferred_controls() {
            self.message(&crate::source::control_message(&config))?;
        }
        self.drain()?;
        self.sink.flush().map_err(Error::Output)
    }

    fn drain(&mut self) -> Result<(), Error> {
        let result = self.sink.write_all(&self.buf);
        self.buf.clear();
        result.map_err(Error::Output)
    }
}

/// The `emitted_at` of a trace: milliseconds since the epoch, as the protocol's number.
#[expect(
    clippy::cast_precision_loss,
    reason = "milliseconds since the epoch fit a float's 53-bit mantissa exactly"
)]
fn trace_time() -> f64 {
    now_millis() as f64
}

/// The TRACE ERROR message for `error`.
pub(crate) fn error_message(error: &Error, stream: Option<&StreamDescriptor>) -> Message {
    let failure_type = error.failure_type();
    let message = match failure_type {
        FailureType::ConfigError => format!("Configuration error: {error}"),
        FailureType::TransientError | FailureType::SystemError => error.to_string(),
    };
    Message::Trace {
        trace: TraceMessage {
            trace_type: TraceType::Error,
            emitted_at: trace_time(),
            error: Some(ErrorTrace {
                message,
                internal_message: Some(error.internal_message()),
                stack_trace: None,
                failure_type: Some(failure_type),
                stream_descriptor: stream.cloned(),
            }),
            estimate: None,
            stream_status: None,
        },
    }
}

/// Whether an output error means the reader of stdout went away.
pub(crate) fn is_closed_pipe(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::BrokenPipe
}
