//! `tracing` events from connector code become Airbyte LOG messages on stdout, in order with the
//! records around them, with secrets masked.
//!
//! The runtime installs its subscriber for every command: for the whole process in
//! [`run!`](crate::run!), for the calling thread in [`run_with`](crate::run_with) and the testing
//! kit. Events at `INFO` and above are kept; set `TIDEMARK_LOG` to `error`, `warn`, `info`,
//! `debug` or `trace` to change that.

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::protocol::{LogLevel, LogMessage, Message};
use crate::secret::Masker;

/// LOG lines waiting for the emitter's next write.
#[derive(Debug, Default)]
pub(crate) struct LogQueue {
    pending: AtomicBool,
    lines: Mutex<Vec<u8>>,
}

impl LogQueue {
    fn push(&self, message: &Message) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if serde_json::to_writer(&mut *lines, message).is_ok() {
            lines.push(b'\n');
        }
        self.pending.store(true, Ordering::Release);
    }

    /// Moves the queued lines to the end of `buf`; a cheap check when there are none.
    pub(crate) fn drain_into(&self, buf: &mut Vec<u8>) {
        // A plain load first: the common case (no new line) must not cost an atomic swap.
        if self.pending.load(Ordering::Relaxed) && self.pending.swap(false, Ordering::Acquire) {
            let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
            buf.extend_from_slice(&lines);
            lines.clear();
        }
    }
}

/// The subscriber: events become LOG messages; spans are accepted and ignored.
pub(crate) struct LogSubscriber {
    queue: Arc<LogQueue>,
    masker: Arc<Masker>,
    max: Level,
}

impl LogSubscriber {
    pub(crate) fn new(queue: Arc<LogQueue>, masker: Arc<Masker>) -> Self {
        let max = match std::env::var("TIDEMARK_LOG")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            Ok("error") => Level::ERROR,
            Ok("warn") => Level::WARN,
            Ok("debug") => Level::DEBUG,
            Ok("trace") => Level::TRACE,
            _ => Level::INFO,
        };
        LogSubscriber { queue, masker, max }
    }
}

impl Subscriber for LogSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let level = match *event.metadata().level() {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        };
        self.queue.push(&Message::Log {
            log: LogMessage {
                level,
                message: self.masker.mask(&text.0).into_owned(),
                stack_trace: None,
            },
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// An event's message followed by its other fields as `key=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let fields = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            self.0.push_str(&fields);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}
