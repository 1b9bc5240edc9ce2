//! The one error type of the runtime and of connector code.

use std::fmt;

use crate::protocol::FailureType;

/// Everything that can stop a command or a stream.
///
/// Connector code builds errors with [`Error::config`], [`Error::transient`] and
/// [`Error::system`]; the runtime produces the other variants itself. Each variant maps to the
/// Airbyte `failure_type` reported in the TRACE ERROR message ([`Error::failure_type`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file given on the command line (`--config`, `--catalog`, `--state`) cannot be read, is
    /// not JSON, or does not have the expected shape. Reported as `config_error`.
    Input {
        /// Which file: `config`, `catalog` or `state`.
        file: InputFile,
        /// The path given on the command line.
        path: String,
        /// What is wrong, naming the field or position where there is one.
        message: String,
    },
    /// The configuration is well-formed JSON but does not satisfy the connector's specification,
    /// or connector code rejected it with [`Error::config`]. Reported as `config_error`.
    Config {
        /// What is wrong, naming the field.
        message: String,
    },
    /// The saved state of a stream does not fit the stream's state type (for example a cursor
    /// that is not a timestamp). The stream is not read: re-reading it from scratch silently would
    /// duplicate everything. Reported as `config_error`.
    State {
        /// The stream whose state is invalid.
        stream: String,
        /// What is wrong.
        message: String,
        /// The offending `stream_state` JSON.
        json: String,
    },
    /// A stream selected in the configured catalog is not provided by this connector.
    /// Reported as `config_error`.
    UnknownStream {
        /// The stream name as written in the catalog.
        stream: String,
    },
    /// The connector registers one stream twice in [`Source::streams`](crate::Source::streams):
    /// one record type passed to [`Streams::stream`](crate::Streams::stream) twice, or two record
    /// types that declare the same name and namespace. A bug in the connector, reported by
    /// `check` (as a FAILED status), `discover` and `read` before anything else.
    /// Reported as `system_error`.
    DuplicateStream {
        /// The stream, as `namespace.name` or `name`.
        stream: String,
    },
    /// A stream declared `order = "asc"` produced a record whose cursor is below the previous
    /// record's cursor, or one declared `order = "desc"` a record whose cursor is above the
    /// previous one's in the same slice. The stream stops and no state past the violation is
    /// emitted.
    /// Reported as `system_error`.
    ///
    /// A reader that finds its source out of order before emitting the record (an API whose
    /// pages are not sorted as documented) returns this variant too: the runtime then claims no
    /// failure state, since records below those already emitted may be missing.
    OrderViolation {
        /// The stream that broke its declared order.
        stream: String,
        /// The cursor of the previous record, as JSON.
        previous: String,
        /// The cursor of the offending record, as JSON.
        next: String,
    },
    /// A record of a stream whose cursor is an `Option` declared `on_null = "fail"` has no
    /// cursor value. The stream stops. Reported as `system_error`.
    NullCursor {
        /// The stream.
        stream: String,
        /// The cursor field, as a dotted JSON path.
        field: String,
    },
    /// The process received SIGTERM during `read`. The stream being read stops with its last
    /// safe STATE; no further stream is started; the process then ends as terminated by the
    /// signal. Reported as `transient_error`: the next sync resumes.
    Terminated {
        /// The stream being read.
        stream: String,
    },
    /// A stream's reader (or a record's `Serialize` impl) panicked. The stream stops as if the
    /// reader had returned an error; the other streams are still read. Needs the default
    /// `panic = "unwind"`. Reported as `system_error`.
    Panic {
        /// The stream.
        stream: String,
        /// The panic's message.
        message: String,
    },
    /// A record could not be serialized to JSON (for example a map with non-string keys).
    /// Reported as `system_error`.
    Serialize {
        /// The stream whose record failed.
        stream: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// A failure that may go away on retry (a timeout, a rate limit, a server error), reported by
    /// connector code with [`Error::transient`]. Reported as `transient_error`.
    Transient {
        /// A message for the person running the sync.
        message: String,
        /// The underlying cause, if any; its text becomes the trace's `internal_message`.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// An unexpected failure reported by connector code with [`Error::system`] or converted
    /// from another error type. Reported as `system_error`.
    System {
        /// A message for the person running the sync.
        message: String,
        /// The underlying cause, if any; its text becomes the trace's `internal_message`.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Writing protocol messages to stdout failed, usually because the reading end of the pipe
    /// was closed. The run ends: nothing more can be delivered.
    Output(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input {
                file,
                path,
                message,
            } => write!(f, "{file} file {path}: {message}"),
            Error::Config { message }
            | Error::Transient { message, .. }
            | Error::System { message, .. } => f.write_str(message),
            Error::State {
                stream,
                message,
                json,
            } => write!(
                f,
                "saved state of stream `{stream}` is invalid: {message} (state: {json})"
            ),
            Error::UnknownStream { stream } => write!(
                f,
                "stream `{stream}` is in the configured catalog but this connector has no such \
                 stream; refresh the source schema and remove it from the connection"
            ),
            Error::DuplicateStream { stream } => write!(
                f,
                "stream `{stream}` is registered twice; a connector registers each stream (name \
                 and namespace) once"
            ),
            Error::OrderViolation {
                stream,
                previous,
                next,
            } => write!(
                f,
                "stream `{stream}` broke its declared cursor order: a record with cursor {next} \
                 came after one with cursor {previous}"
            ),
            Error::NullCursor { stream, field } => write!(
                f,
                "a record of stream `{stream}` has no `{field}` (null cursor); the stream \
                 declares `on_null = \"fail\"`"
            ),
            Error::Terminated { stream } => write!(
                f,
                "the sync was stopped by SIGTERM while reading stream `{stream}`"
            ),
            Error::Panic { stream, message } => {
                write!(f, "the reader of stream `{stream}` panicked: {message}")
            }
            Error::Serialize { stream, source } => write!(
                f,
                "a record of stream `{stream}` cannot be serialized: {source}"
            ),
            Error::Output(err) => write!(f, "cannot write to stdout: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Serialize { source, .. } => Some(source),
            Error::Transient { source, .. } | Error::System { source, .. } => source
                .as_deref()
                .map(|source| source as &(dyn std::error::Error + 'static)),
            Error::Output(err) => Some(err),
            _ => None,
        }
    }
}

/// The input files of the `check`, `discover` and `read` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputFile {
    /// `--config`
    Config,
    /// `--catalog`
    Catalog,
    /// `--state`
    State,
}

impl fmt::Display for InputFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InputFile::Config => "config",
            InputFile::Catalog => "catalog",
            InputFile::State => "state",
        })
    }
}

impl Error {
    /// The configuration is unusable: a wrong credential, a missing resource, a value out of
    /// range. The user has to change the configuration; retrying will not help.
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// A failure that may succeed on retry (timeouts, rate limits, 5xx responses).
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient {
            message: message.into(),
            source: None,
        }
    }

    /// An unexpected failure: a bug, or a source that answered something it should not have.
    pub fn system(message: impl Into<String>) -> Self {
        Error::System {
            message: message.into(),
            source: None,
        }
    }

    /// Attaches an underlying cause to a [`Error::Transient`] or [`Error::System`] error; its
    /// text is reported as the trace's `internal_message`. Other variants are returned unchanged.
    #[must_use]
    pub fn with_source(
        mut self,
        cause: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        if let Error::Transient { source, .. } | Error::System { source, .. } = &mut self {
            *source = Some(cause.into());
        }
        self
    }

    /// The Airbyte `failure_type` this error is reported with.
    #[must_use]
    pub fn failure_type(&self) -> FailureType {
        match self {
            Error::Input { .. }
            | Error::Config { .. }
            | Error::State { .. }
            | Error::UnknownStream { .. } => FailureType::ConfigError,
            Error::Transient { .. } | Error::Terminated { .. } => FailureType::TransientError,
            Error::DuplicateStream { .. }
            | Error::OrderViolation { .. }
            | Error::NullCursor { .. }
            | Error::Panic { .. }
            | Error::Serialize { .. }
            | Error::System { .. }
            | Error::Output(_) => FailureType::SystemError,
        }
    }

    /// Text for the trace's `internal_message`: the chain of causes, when there is one.
    pub(crate) fn internal_message(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(inner) = cause {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            cause = inner.source();
        }
        text
    }
}

impl From<std::io::Error> for Error {
    /// An I/O error in connector code (a file, a socket) is a system error.
    fn from(err: std::io::Error) -> Self {
        Error::System {
            message: format!("I/O error: {err}"),
            source: Some(Box::new(err)),
        }
    }
}
