//! The connector's command line: `spec`, `check`, `discover`, `read`, `--help`, `--version`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use serde_json::Value;

use crate::cli::{self, Command};
use crate::concurrent::{self, Budget};
use crate::emitter::{Emitter, is_closed_pipe};
use crate::error::{Error, InputFile};
use crate::input;
use crate::protocol::{
    Catalog, ConfiguredCatalog, ConfiguredStream, ConnectionStatus, ConnectorSpecification,
    Message, Status, StreamDescriptor, StreamStatus,
};
use crate::source::{Source, Streams};
use crate::state::InputState;

/// Exit status of a run that failed (a stream, the configuration or the output).
const FAILURE: u8 = 1;

/// What [`run!`](crate::run!) calls: runs the connector with the process's arguments, stdout
/// and stderr, `version` being the connector's (shown by `--version`).
#[doc(hidden)]
#[expect(
    clippy::needless_pass_by_value,
    reason = "`main` hands its source over: `tidemark::run!(Shop)`"
)]
pub fn run<S: Source>(source: S, version: &'static str) -> ExitCode {
    let stdout = io::stdout();
    let stderr = io::stderr();
    let code = execute(
        &source,
        version,
        std::env::args_os(),
        &mut stdout.lock(),
        &mut stderr.lock(),
        true,
    );
    if TERMINATE.load(Ordering::Relaxed) {
        // Everything is flushed: end the way SIGTERM ends a process.
        let _ = writeln!(stderr.lock(), "{}: stopped by SIGTERM", S::NAME);
        #[cfg(unix)]
        let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGTERM);
        return ExitCode::from(128 + 15);
    }
    ExitCode::from(code)
}

/// Set by SIGTERM while `read` runs in a connector process (see [`run!`](crate::run!)).
static TERMINATE: AtomicBool = AtomicBool::new(false);

/// Runs the connector with the given arguments (the first is the program name) and output
/// streams, `version` being what `--version` shows; returns the exit status. It is what
/// [`run!`](crate::run!) does with the process's own, for embedding a connector in another
/// program or testing it in process.
///
/// Unlike [`run!`](crate::run!), it installs no signal handler (SIGTERM keeps its default
/// action), no process-wide LOG subscriber (only this thread's) and no progress line.
pub fn run_with<S, I, T>(
    source: &S,
    version: &'static str,
    args: I,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8
where
    S: Source,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    execute(source, version, args, stdout, stderr, false)
}

/// The commands. In a connector `process` (from [`run!`](crate::run!)) the LOG subscriber is installed for
/// the whole process, progress shows when stderr is a terminal, and `read` (only `read`:
/// `spec`, `check` and `discover` keep SIGTERM's default action) stops at the next record on
/// SIGTERM, after the stream's last safe STATE.
fn execute<S, I, T>(
    source: &S,
    version: &'static str,
    args: I,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    process: bool,
) -> u8
where
    S: Source,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let command = match cli::parse(S::NAME, version, args) {
        Ok(command) => command,
        Err(exit) => {
            let target: &mut dyn Write = if exit.to_stdout { stdout } else { stderr };
            let _ = target.write_all(exit.text.as_bytes());
            let _ = target.flush();
            return exit.code;
        }
    };
    let mut out = Emitter::new(stdout);
    // `tracing` events become LOG messages: process-wide in a connector process, on this
    // thread otherwise (tests, embedding).
    let dispatch = out.log_dispatch();
    if process {
        let _ = tracing::dispatcher::set_global_default(dispatch.clone());
        mask_panics(out.masker());
    }
    // The config as read, for the run's thread and those it reads streams on.
    let _config = scoped_run_config(Some(RunConfig::default()));
    let result = tracing::dispatcher::with_default(&dispatch, || match command {
        Command::Spec => spec::<S>(&mut out),
        Command::Check { config } => check(source, &config, &mut out),
        Command::Discover { config } => discover(source, &config, &mut out, stderr),
        Command::Read {
            config,
            catalog,
            state,
            limits,
        } => {
            // What the drivers and the HTTP toolkit read, on this thread and those the run
            // reads streams on; in a connector process, on every thread.
            let _limits = cli::scoped_test_read(limits);
            if process {
                cli::set_process_test_read(limits);
            }
            #[cfg(unix)]
            if process
                && signal_hook::flag::register(signal_hook::consts::SIGTERM, &TERMINATE).is_ok()
            {
                out.stop_on(&TERMINATE);
            }
            if process && io::IsTerminal::is_terminal(&io::stderr()) {
                out.show_progress();
            }
            #[cfg(not(unix))]
            let _ = process;
            read_files(
                source,
                &config,
                &catalog,
                state.as_deref(),
                &mut out,
                stderr,
            )
        }
    });
    let result = result.and_then(|code| out.flush().map(|()| code));
    match result {
        Ok(code) => code,
        Err(Error::Output(err)) => {
            let line = if is_closed_pipe(&err) {
                format!("{}: stdout was closed by its reader; stopping\n", S::NAME)
            } else {
                format!("{}: cannot write to stdout: {err}; stopping\n", S::NAME)
            };
            let _ = stderr.write_all(out.mask(&line).as_bytes());
            FAILURE
        }
        Err(other) => {
            // Any other error was already reported as a trace before reaching here.
            let line = format!("{}: {other}\n", S::NAME);
            let _ = stderr.write_all(out.mask(&line).as_bytes());
            FAILURE
        }
    }
}

/// Makes the process print each panic's thread, place and message (and a backtrace when
/// `RUST_BACKTRACE` or `RUST_LIB_BACKTRACE` asks for one) with the run's secrets masked: a
/// panic message may quote the config, or a URL with its API key, and the platform keeps
/// stderr in its logs. It replaces any hook set before, and masks what is known when the
/// panic happens (nothing before the config is read). A panicking reader is still reported as
/// its stream's failure (masked too).
fn mask_panics(masker: std::sync::Arc<crate::secret::Masker>) {
    std::panic::set_hook(Box::new(move |info| {
        let _ = io::stderr().write_all(panic_report(info, &masker).as_bytes());
    }));
}

/// What [`mask_panics`]'s hook writes for a panic; only the place when the secrets cannot be
/// read (a panic while masking), never the message unmasked.
fn panic_report(info: &std::panic::PanicHookInfo<'_>, masker: &crate::secret::Masker) -> String {
    let thread = std::thread::current();
    let name = thread.name().unwrap_or("<unnamed>");
    let mut text = format!("thread '{name}' {info}\n");
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        let _ =
            std::fmt::Write::write_fmt(&mut text, format_args!("stack backtrace:\n{backtrace}\n"));
    }
    masker.try_mask(&text).unwrap_or_else(|| {
        let place = info
            .location()
            .map_or_else(String::new, |place| format!(" at {place}"));
        format!(
            "thread '{name}' panicked{place} (message withheld: the secrets to mask it were busy)\n"
        )
    })
}

/// The SPEC message of a source.
#[must_use]
pub fn specification<S: Source>() -> ConnectorSpecification {
    ConnectorSpecification {
        documentation_url: S::DOCUMENTATION_URL.map(str::to_owned),
        connection_specification: input::config_schema::<S::Config>(),
        supports_incremental: Some(true),
        protocol_version: None,
    }
}

fn spec<S: Source>(out: &mut Emitter<'_>) -> Result<u8, Error> {
    out.message(&Message::Spec {
        spec: specification::<S>(),
    })?;
    Ok(0)
}

fn load_config<S: Source>(path: &Path, out: &Emitter<'_>) -> Result<S::Config, Error> {
    parse_config::<S>(input::read_config(path)?, out)
}

/// The config a run was given, as read (before deserialization), or as last saved with a
/// CONTROL message: what an `OAuth2` refresh-token rotation updates and saves whole. Shared by
/// the run's thread and the threads it reads streams on.
pub(crate) type RunConfig = std::sync::Arc<std::sync::Mutex<RunConfigState>>;

/// See [`RunConfig`].
#[derive(Default)]
pub(crate) struct RunConfigState {
    /// The config.
    config: Option<Value>,
    /// New configs saved outside a stream (`http::Detached`), for the run's next flush to write
    /// as CONTROL messages in order with its other messages.
    deferred: Vec<Value>,
}

thread_local! {
    /// The config of the run on this thread; `None` outside a run.
    static THREAD_RUN_CONFIG: std::cell::RefCell<Option<RunConfig>> =
        const { std::cell::RefCell::new(None) };
}

/// The config of the run on this thread, for the threads it starts (see [`scoped_run_config`]).
pub(crate) fn run_config_handle() -> Option<RunConfig> {
    THREAD_RUN_CONFIG.with_borrow(Clone::clone)
}

/// Makes `config` the run's config on this thread until the guard is dropped.
pub(crate) fn scoped_run_config(config: Option<RunConfig>) -> ScopedRunConfig {
    ScopedRunConfig {
        previous: THREAD_RUN_CONFIG.replace(config),
    }
}

/// Restores the thread's previous run config when dropped.
pub(crate) struct ScopedRunConfig {
    previous: Option<RunConfig>,
}

impl Drop for ScopedRunConfig {
    fn drop(&mut self) {
        THREAD_RUN_CONFIG.set(self.previous.take());
    }
}

/// `f` on the state of the run's config on this thread, if there is a run.
fn with_run_config<T>(f: impl FnOnce(&mut RunConfigState) -> T) -> Option<T> {
    let handle = run_config_handle()?;
    let mut state = handle
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Some(f(&mut state))
}

/// The config of the run on this thread, as read (or as last saved with a CONTROL message).
#[cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "read by the HTTP toolkit")
)]
pub(crate) fn run_config() -> Option<Value> {
    with_run_config(|state| state.config.clone()).flatten()
}

/// Replaces the config of the run on this thread: when it is read, and when a new one is
/// saved. A thread with no run config yet (a run started in-process without the command line)
/// gets one.
pub(crate) fn set_run_config(config: Value) {
    let mut config = Some(config);
    with_run_config(|state| state.config = config.take());
    if let Some(config) = config {
        let state = RunConfigState {
            config: Some(config),
            deferred: Vec::new(),
        };
        THREAD_RUN_CONFIG.set(Some(RunConfig::new(std::sync::Mutex::new(state))));
    }
}

/// Saves `config` as the run's config and has the run's next flush write it in a CONTROL
/// message; `false` outside a run (nothing is kept).
#[cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "used by the HTTP toolkit")
)]
pub(crate) fn defer_control(config: &Value) -> bool {
    with_run_config(|state| {
        state.config = Some(config.clone());
        state.deferred.push(config.clone());
    })
    .is_some()
}

/// The configs saved outside a stream since the last call, to write as CONTROL messages.
pub(crate) fn take_deferred_controls() -> Vec<Value> {
    with_run_config(|state| std::mem::take(&mut state.deferred)).unwrap_or_default()
}

/// Validates and deserializes a config, after learning its secrets so that no message shows them.
fn parse_config<S: Source>(config: Value, out: &Emitter<'_>) -> Result<S::Config, Error> {
    out.learn_secrets(&input::config_schema::<S::Config>(), &config);
    set_run_config(config.clone());
    input::parse_config(config)
}

/// `streams` as [`Source::streams`] returned them, unless they cannot be read as registered: a
/// stream registered twice would be listed twice in the catalog and its second reader never
/// run. Every command checks this right after calling [`Source::streams`].
fn registered_once(streams: Streams<'_>) -> Result<Streams<'_>, Error> {
    match streams.duplicate() {
        Some(stream) => Err(Error::DuplicateStream {
            stream: stream.to_string(),
        }),
        None => Ok(streams),
    }
}

/// The `check` command: the source's own check, then its streams, which `discover` and `read`
/// would fail on.
fn check<S: Source>(source: &S, config: &Path, out: &mut Emitter<'_>) -> Result<u8, Error> {
    let outcome = load_config::<S>(config, out).and_then(|config| {
        guarded("`check`", || source.check(&config))?;
        guarded("`streams`", || source.streams(&config))
            .and_then(registered_once)
            .map(drop)
    });
    let connection_status = match outcome {
        Ok(()) => ConnectionStatus {
            status: Status::Succeeded,
            message: None,
        },
        Err(error) => ConnectionStatus {
            status: Status::Failed,
            message: Some(error.to_string()),
        },
    };
    out.message(&Message::ConnectionStatus { connection_status })?;
    Ok(0)
}

/// Calls the source's `what` (`check`, `streams`): a panic in it is a system error quoting the
/// panic's message (masked with the rest when reported), not the end of the process without a
/// word on stdout.
fn guarded<T>(what: &str, call: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).unwrap_or_else(|payload| {
        Err(Error::system(format!(
            "the source's {what} panicked: {}",
            crate::source::panic_message(payload.as_ref())
        )))
    })
}

/// Reports a failure of the whole command: a TRACE ERROR on stdout, a line on stderr (platforms
/// log stderr too, so its secrets are masked as well).
fn fail(
    error: &Error,
    stream: Option<&StreamDescriptor>,
    out: &mut Emitter<'_>,
    stderr: &mut dyn Write,
) -> Result<u8, Error> {
    if let Error::Output(err) = error {
        return Err(Error::Output(io::Error::new(err.kind(), err.to_string())));
    }
    out.error(error, stream)?;
    let line = match stream {
        Some(stream) => format!("stream `{stream}` failed: {error}\n"),
        None => format!("error: {error}\n"),
    };
    let _ = stderr.write_all(out.mask(&line).as_bytes());
    Ok(FAILURE)
}

fn discover<S: Source>(
    source: &S,
    config: &Path,
    out: &mut Emitter<'_>,
    stderr: &mut dyn Write,
) -> Result<u8, Error> {
    let config = match load_config::<S>(config, out) {
        Ok(config) => config,
        Err(error) => return fail(&error, None, out, stderr),
    };
    let streams = match guarded("`streams`", || source.streams(&config)).and_then(registered_once) {
        Ok(streams) => streams,
        Err(error) => return fail(&error, None, out, stderr),
    };
    let catalog = Catalog {
        streams: streams
            .iter()
            .map(crate::source::ErasedStream::catalog_entry)
            .collect(),
    };
    out.message(&Message::Catalog { catalog })?;
    Ok(0)
}

fn read_files<S: Source>(
    source: &S,
    config: &Path,
    catalog: &Path,
    state: Option<&Path>,
    out: &mut Emitter<'_>,
    stderr: &mut dyn Write,
) -> Result<u8, Error> {
    let loaded = (|| {
        let config = input::read_config(config)?;
        let catalog = input::read_catalog(catalog)?;
        let state = match state {
            Some(path) => input::read_state(path)?,
            None => InputState::default(),
        };
        Ok((config, catalog, state))
    })();
    match loaded {
        Ok((config, catalog, state)) => read(source, config, &catalog, &state, out, stderr),
        Err(error) => fail(&error, None, out, stderr),
    }
}

/// The `read` command on already-loaded inputs.
pub(crate) fn read<S: Source>(
    source: &S,
    config: Value,
    catalog: &ConfiguredCatalog,
    state: &InputState,
    out: &mut Emitter<'_>,
    stderr: &mut dyn Write,
) -> Result<u8, Error> {
    let started_at = Utc::now();
    let config: S::Config = match parse_config::<S>(config, out) {
        Ok(config) => config,
        Err(error) => return fail(&error, None, out, stderr),
    };
    let mut streams =
        match guarded("`streams`", || source.streams(&config)).and_then(registered_once) {
            Ok(streams) => streams,
            Err(error) => return fail(&error, None, out, stderr),
        };

    // Validate the selection and parse every saved state, once, before reading anything.
    let mut seen = HashSet::new();
    let mut code = 0;
    for configured in &catalog.streams {
        let descriptor = descriptor_of(configured);
        if !seen.insert(descriptor.clone()) {
            let error = Error::Input {
                file: InputFile::Catalog,
                path: "(configured catalog)".to_owned(),
                message: format!("stream `{descriptor}` is configured twice"),
            };
            return fail(&error, None, out, stderr);
        }
        if let Some(stream) = streams.find(&descriptor)
            && let Err(error) = stream.load_state(configured.sync_mode, state)
        {
            code = fail(&error, Some(&descriptor), out, stderr)?;
        }
    }
    if code != 0 {
        return Ok(code);
    }

    // The streams read on this thread, one after the other in the catalog's order; then those
    // registered to be read concurrently, at the same time, each on a thread of its own,
    // sharing the source's readers.
    let budget = Budget::new(streams.limit());
    let mut concurrent = HashSet::new();
    for configured in &catalog.streams {
        let descriptor = descriptor_of(configured);
        if out.stop_requested() {
            // SIGTERM: the streams not started yet are left for the next sync.
            return Ok(code);
        }
        let Some(stream) = streams.find(&descriptor) else {
            out.stream_status(&descriptor, StreamStatus::Incomplete)?;
            let error = Error::UnknownStream {
                stream: descriptor.to_string(),
            };
            code = fail(&error, Some(&descriptor), out, stderr)?;
            continue;
        };
        if stream.is_concurrent() {
            concurrent.insert(descriptor);
        } else if let Some(failure) = stream.read(started_at, &budget, out)? {
            code = fail(&failure.error, Some(&descriptor), out, stderr)?;
        }
    }
    if out.stop_requested() {
        return Ok(code);
    }
    let jobs: Vec<_> = streams
        .iter_mut()
        .filter(|stream| concurrent.contains(&stream.descriptor()))
        .filter_map(|stream| {
            let descriptor = stream.descriptor();
            stream
                .detach(started_at, &budget)
                .map(|job| (descriptor, job))
        })
        .collect();
    concurrent::run_jobs(jobs, out, |descriptor, error, out| {
        code = fail(error, Some(descriptor), out, stderr)?;
        Ok(())
    })?;
    Ok(code)
}

/// The descriptor of a configured stream.
fn descriptor_of(configured: &ConfiguredStream) -> StreamDescriptor {
    StreamDescriptor {
        name: configured.stream.name.clone(),
        namespace: configured.stream.namespace.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::panic::{self, PanicHookInfo};
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::json;

    use super::panic_report;
    use crate::secret::Masker;

    type Hook = Box<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

    #[test]
    fn a_panic_is_reported_with_the_run_secrets_masked() {
        let masker = Masker::default();
        masker.learn(
            &json!({"properties": {"api_key": {"type": "string", "airbyte_secret": true}}}),
            &json!({"api_key": "sk-live-12345"}),
        );
        // The panics of this thread are reported here; other tests' go to the hook as it was.
        let previous: Arc<Hook> = Arc::new(panic::take_hook());
        let reports = Arc::new(Mutex::new(Vec::new()));
        let this = std::thread::current().id();
        {
            let (previous, reports) = (Arc::clone(&previous), Arc::clone(&reports));
            panic::set_hook(Box::new(move |info| {
                if std::thread::current().id() == this {
                    let report = panic_report(info, &masker);
                    reports
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(report);
                } else {
                    previous(info);
                }
            }));
        }
        let caught = panic::catch_unwind(|| {
            panic!("cannot reach https://api.example.com/items?key=sk-live-12345");
        });
        panic::set_hook(Box::new(move |info| previous(info)));

        assert!(caught.is_err());
        let reports = reports.lock().unwrap_or_else(PoisonError::into_inner);
        let [report] = reports.as_slice() else {
            panic!("one report expected: {reports:?}");
        };
        assert!(report.contains("panicked at"), "{report}");
        assert!(report.contains("entrypoint.rs"), "{report}");
        assert!(report.contains("items?key=****"), "{report}");
        assert!(!report.contains("sk-live-12345"), "{report}");
    }
}
