//! Where a request is made from: a stream's [`Sink`], or [`Detached`] (`check`, listing
//! partitions), which decides how the client waits, reports a rate limit and saves a new config.

use std::io::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Error, Sink};

/// Where a request is made from: what the client waits through, reports a rate limit to, and
/// saves a rotated credential with.
///
/// A reader passes its [`Sink`]; code outside a stream (`check`, a partition listing) passes
/// [`Detached`].
pub trait Context {
    /// Waits `duration` (a backoff, a rate limit). With a [`Sink`], what the stream emitted is
    /// flushed first and SIGTERM ends the wait at once with [`Error::Terminated`].
    ///
    /// # Errors
    ///
    /// SIGTERM arrived, or stdout is closed.
    fn wait(&mut self, duration: Duration) -> Result<(), Error>;

    /// Reports that the requests wait for the API's rate limit (quota back at `reset` when
    /// known): with a [`Sink`], a `STREAM_STATUS` `RUNNING` with a `RATE_LIMITED` reason.
    ///
    /// # Errors
    ///
    /// stdout is closed.
    fn rate_limited(&mut self, reset: Option<DateTime<Utc>>) -> Result<(), Error>;

    /// Saves `config`, the whole new config of the connector, with a CONTROL
    /// `CONNECTOR_CONFIG` message written (and flushed) before the call returns, or for a
    /// stream read concurrently, before its next message.
    ///
    /// # Errors
    ///
    /// stdout is closed.
    fn update_config(&mut self, config: &Value) -> Result<(), Error>;

    /// What the request log groups exchanges under: the stream and the slice being read;
    /// `None` outside a stream.
    fn scope(&self) -> Option<(String, String)>;

    /// The test read's pages-per-slice limit stopped a listing early: the stream emits no
    /// STATE after this (it would claim records that were never read).
    ///
    /// # Errors
    ///
    /// stdout is closed.
    fn cut_slice(&mut self) -> Result<(), Error>;

    /// The config of the run as the entrypoint read it (or as last saved with
    /// [`Context::update_config`]): the one an `OAuth2` refresh-token rotation updates.
    /// `None` when the connector runs outside the entrypoint.
    fn run_config(&self) -> Option<Value> {
        crate::entrypoint::run_config()
    }
}

/// A stream's sink: waits end on SIGTERM, a rate limit is a stream status, a new config goes
/// out in order with the stream's messages.
impl<S> Context for Sink<'_, S> {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        Sink::wait(self, duration)
    }

    fn rate_limited(&mut self, reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        Sink::rate_limited(self, reset)
    }

    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        self.sink.control(config)?;
        crate::entrypoint::set_run_config(config.clone());
        Ok(())
    }

    fn scope(&self) -> Option<(String, String)> {
        self.sink.scope()
    }

    fn cut_slice(&mut self) -> Result<(), Error> {
        self.sink.cut()
    }
}

/// Requests made outside a stream (`check`, listing partitions): waits sleep, a rate limit is
/// only waited for, and a new config goes out as a CONTROL message with the run's next
/// messages (at once, to stdout, when no run is going on).
#[derive(Debug, Clone, Copy, Default)]
pub struct Detached;

impl Context for Detached {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        std::thread::sleep(duration);
        Ok(())
    }

    fn rate_limited(&mut self, _reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        Ok(())
    }

    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        // In a run, the run writes it at its next flush, in order with its other messages;
        // outside one, it is written to stdout now.
        if crate::entrypoint::defer_control(config) {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&crate::source::control_message(config))
            .map_err(|error| Error::system(format!("cannot write the new config: {error}")))?;
        line.push(b'\n');
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&line)
            .and_then(|()| stdout.flush())
            .map_err(Error::Output)
    }

    fn scope(&self) -> Option<(String, String)> {
        None
    }

    fn cut_slice(&mut self) -> Result<(), Error> {
        Ok(())
    }
}
