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

/// A context borrowed for one call: what the reader's context does.
impl<C: Context + ?Sized> Context for &mut C {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        (**self).wait(duration)
    }

    fn rate_limited(&mut self, reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        (**self).rate_limited(reset)
    }

    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        (**self).update_config(config)
    }

    fn scope(&self) -> Option<(String, String)> {
        (**self).scope()
    }

    fn cut_slice(&mut self) -> Result<(), Error> {
        (**self).cut_slice()
    }

    fn run_config(&self) -> Option<Value> {
        (**self).run_config()
    }
}

/// Where the requests of an async reader are made from: a [`Context`] that also waits without
/// blocking the thread, so that the other futures of the reader go on meanwhile.
///
/// Implemented for [`Sink`] ([`Sink::wait_async`]: SIGTERM ends the wait), for [`Detached`]
/// (a tokio timer), and for `&RefCell<C>` of any context `C`, which lets several requests of
/// one reader run at once (`tokio::join!`) through one sink: each call borrows the context
/// only for a moment, never across an `.await`.
#[cfg(feature = "async")]
#[cfg_attr(docsrs, doc(cfg(feature = "async")))]
pub trait AsyncContext: Context {
    /// Waits `duration` (a backoff, a rate limit) without blocking the thread. With a
    /// [`Sink`], what the stream emitted is flushed first and SIGTERM ends the wait within
    /// 50 ms with [`Error::Terminated`].
    ///
    /// # Errors
    ///
    /// SIGTERM arrived, or stdout is closed.
    fn wait_async(&mut self, duration: Duration) -> impl Future<Output = Result<(), Error>>;
}

#[cfg(feature = "async")]
impl<S> AsyncContext for Sink<'_, S> {
    async fn wait_async(&mut self, duration: Duration) -> Result<(), Error> {
        Sink::wait_async(self, duration).await
    }
}

#[cfg(feature = "async")]
impl AsyncContext for Detached {
    async fn wait_async(&mut self, duration: Duration) -> Result<(), Error> {
        tokio::time::sleep(duration).await;
        Ok(())
    }
}

#[cfg(feature = "async")]
impl<C: AsyncContext + ?Sized> AsyncContext for &mut C {
    async fn wait_async(&mut self, duration: Duration) -> Result<(), Error> {
        (**self).wait_async(duration).await
    }
}

/// A context shared by the requests of one async reader that run at once: each call borrows
/// it for a moment; a wait checks it (flush, SIGTERM) every 50 ms and sleeps in between
/// without holding the borrow.
#[cfg(feature = "async")]
impl<C: Context> Context for &std::cell::RefCell<C> {
    fn wait(&mut self, duration: Duration) -> Result<(), Error> {
        borrow(self)?.wait(duration)
    }

    fn rate_limited(&mut self, reset: Option<DateTime<Utc>>) -> Result<(), Error> {
        borrow(self)?.rate_limited(reset)
    }

    fn update_config(&mut self, config: &Value) -> Result<(), Error> {
        borrow(self)?.update_config(config)
    }

    fn scope(&self) -> Option<(String, String)> {
        self.try_borrow().ok()?.scope()
    }

    fn cut_slice(&mut self) -> Result<(), Error> {
        borrow(self)?.cut_slice()
    }

    fn run_config(&self) -> Option<Value> {
        self.try_borrow().ok()?.run_config()
    }
}

#[cfg(feature = "async")]
impl<C: Context> AsyncContext for &std::cell::RefCell<C> {
    async fn wait_async(&mut self, duration: Duration) -> Result<(), Error> {
        let cell = *self;
        crate::asynchronous::wait_in_steps(|| borrow(cell)?.wait(Duration::ZERO), duration).await
    }
}

/// The shared context, or an error when the reader holds it borrowed itself.
#[cfg(feature = "async")]
fn borrow<C>(cell: &std::cell::RefCell<C>) -> Result<std::cell::RefMut<'_, C>, Error> {
    cell.try_borrow_mut().map_err(|_| {
        Error::system(
            "a request needs the reader's context while the reader holds it borrowed: release \
             the `RefCell` borrow before awaiting a request",
        )
    })
}
