//! The command line: `spec`, `check --config F`, `discover --config F`,
//! `read --config F --catalog F [--state F] [test-read limits]`, `help [COMMAND]`, `--help`,
//! `--version`.
//!
//! Parsed with [`lexopt`]: `--config F` and `--config=F` both work, paths need not be UTF-8,
//! and every mistake is a message in the style of other command-line tools, with the usage
//! line and exit status 2.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use lexopt::Arg;

/// A command to run, with its files.
pub(crate) enum Command {
    Spec,
    Check {
        config: PathBuf,
    },
    Discover {
        config: PathBuf,
    },
    Read {
        config: PathBuf,
        catalog: PathBuf,
        state: Option<PathBuf>,
        limits: TestRead,
    },
}

/// The limits of a test read (`read --max-records N ...`), and whether requests are logged.
/// The default reads everything.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TestRead {
    /// `--max-records`: records per stream.
    pub(crate) max_records: Option<u64>,
    /// `--max-slices`: slices (reader calls: windows, partitions) per stream.
    pub(crate) max_slices: Option<u64>,
    /// `--max-pages`: pages per slice, counted by the HTTP toolkit.
    pub(crate) max_pages: Option<u64>,
    /// `--log-requests`: each HTTP exchange on stderr.
    pub(crate) log_requests: bool,
}

/// The test-read settings of a connector process, set once by its `read` command.
static PROCESS_TEST_READ: std::sync::OnceLock<TestRead> = std::sync::OnceLock::new();

thread_local! {
    /// The test-read settings of the run on this thread (an in-process run and the threads it
    /// reads streams on), over the process's.
    static THREAD_TEST_READ: std::cell::Cell<Option<TestRead>> = const { std::cell::Cell::new(None) };
}

/// The test-read settings in effect on this thread: those of the run on it, else the
/// process's, else none.
pub(crate) fn test_read() -> TestRead {
    THREAD_TEST_READ
        .get()
        .or_else(|| PROCESS_TEST_READ.get().copied())
        .unwrap_or_default()
}

/// Sets the test-read settings of a connector process (the first call wins).
pub(crate) fn set_process_test_read(limits: TestRead) {
    let _ = PROCESS_TEST_READ.set(limits);
}

/// Sets the test-read settings of this thread until the guard is dropped.
pub(crate) fn scoped_test_read(limits: TestRead) -> ScopedTestRead {
    ScopedTestRead {
        previous: THREAD_TEST_READ.replace(Some(limits)),
    }
}

/// Restores the thread's previous test-read settings when dropped.
pub(crate) struct ScopedTestRead {
    previous: Option<TestRead>,
}

impl Drop for ScopedTestRead {
    fn drop(&mut self) {
        THREAD_TEST_READ.set(self.previous);
    }
}

/// What to print instead of running a command: help, the version, or a usage error.
pub(crate) struct Exit {
    /// The text, ending with a newline.
    pub(crate) text: String,
    /// Whether it goes to stdout (help and version) rather than stderr (errors).
    pub(crate) to_stdout: bool,
    /// The exit status: 0 after help or the version, 2 after a usage error.
    pub(crate) code: u8,
}

/// Exit status of a command-line usage error.
const USAGE_ERROR: u8 = 2;

const ABOUT: &str = "An Airbyte source connector built with tidemark.";

const LONG_ABOUT: &str = "Protocol messages go to stdout, one JSON object per line; everything \
                          meant for people goes to stderr.";

/// An option of a command: `--NAME <VALUE>`, or a flag `--NAME` when `value` is empty.
struct Opt {
    name: &'static str,
    value: &'static str,
    help: &'static str,
    required: bool,
    /// Its value is a count of at least 1.
    count: bool,
}

const CONFIG: Opt = Opt {
    name: "config",
    value: "CONFIG",
    help: "Path to the config JSON file",
    required: true,
    count: false,
};

/// `--NAME <N>`, a test-read limit.
const fn limit(name: &'static str, help: &'static str) -> Opt {
    Opt {
        name,
        value: "N",
        help,
        required: false,
        count: true,
    }
}

/// A command and the options it takes.
struct Spec {
    name: &'static str,
    about: &'static str,
    options: &'static [Opt],
}

const COMMANDS: [Spec; 4] = [
    Spec {
        name: "spec",
        about: "Print the connector's specification (the JSON Schema of its config)",
        options: &[],
    },
    Spec {
        name: "check",
        about: "Check that a config works; prints CONNECTION_STATUS",
        options: &[CONFIG],
    },
    Spec {
        name: "discover",
        about: "List the streams this connector offers; prints CATALOG",
        options: &[CONFIG],
    },
    Spec {
        name: "read",
        about: "Read the streams selected in a configured catalog; prints RECORD, STATE and TRACE",
        options: &[
            CONFIG,
            Opt {
                name: "catalog",
                value: "CATALOG",
                help: "Path to the configured catalog JSON file",
                required: true,
                count: false,
            },
            Opt {
                name: "state",
                value: "STATE",
                help: "Path to the state JSON file of the previous sync",
                required: false,
                count: false,
            },
            limit(
                "max-records",
                "Test read: stop each stream after N records (INCOMPLETE, exit 0)",
            ),
            limit(
                "max-slices",
                "Test read: read at most N slices (windows, partitions) of each stream",
            ),
            limit(
                "max-pages",
                "Test read: read at most N pages of each slice (no STATE after a cut)",
            ),
            Opt {
                name: "log-requests",
                value: "",
                help: "Test read: write each HTTP request and response to stderr",
                required: false,
                count: false,
            },
        ],
    },
];

/// Parses the arguments (the first is the program name) of connector `name` at `version`.
pub(crate) fn parse<I>(name: &str, version: &str, args: I) -> Result<Command, Exit>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut parser = lexopt::Parser::from_iter(args);
    // The program's file name, as it was started.
    let program = parser
        .bin_name()
        .and_then(|bin| std::path::Path::new(bin).file_name()?.to_str())
        .unwrap_or(name)
        .to_owned();
    let usage = format!("{program} <COMMAND>");
    let arg = match parser.next() {
        Ok(Some(arg)) => arg,
        Ok(None) => {
            return Err(Exit {
                text: help(&program),
                to_stdout: false,
                code: USAGE_ERROR,
            });
        }
        Err(err) => return Err(usage_error(&err.to_string(), &usage)),
    };
    let command = match arg {
        Arg::Short('h') | Arg::Long("help") => return Err(shown(help(&program))),
        Arg::Short('V') | Arg::Long("version") => {
            return Err(shown(format!("{name} {version}\n")));
        }
        Arg::Value(command) => command,
        Arg::Short(_) | Arg::Long(_) => {
            let message = format!("unexpected argument '{}' found", arg_text(&arg));
            return Err(usage_error(&message, &usage));
        }
    };
    let command = command.to_string_lossy();
    if command == "help" {
        return Err(help_command(&program, &usage, &mut parser));
    }
    let Some(spec) = COMMANDS.iter().find(|spec| spec.name == command) else {
        return Err(usage_error(
            &format!("unrecognized subcommand '{command}'"),
            &usage,
        ));
    };
    // In the order of `spec.options`; the required ones are there.
    let values = parse_options(&program, spec, &mut parser)?;
    let count = |index: usize| {
        values
            .get(index)
            .and_then(Option::as_ref)
            .and_then(|value| value.to_str()?.parse().ok())
    };
    let limits = TestRead {
        max_records: count(3),
        max_slices: count(4),
        max_pages: count(5),
        log_requests: values.get(6).is_some_and(Option::is_some),
    };
    let mut values = values.iter().map(|value| value.as_ref().map(PathBuf::from));
    let mut next = || values.next().flatten();
    Ok(match spec.name {
        "spec" => Command::Spec,
        "check" => Command::Check {
            config: next().unwrap_or_default(),
        },
        "discover" => Command::Discover {
            config: next().unwrap_or_default(),
        },
        _ => Command::Read {
            config: next().unwrap_or_default(),
            catalog: next().unwrap_or_default(),
            state: next(),
            limits,
        },
    })
}

/// The options of one command, in the order of `spec.options`.
fn parse_options(
    program: &str,
    spec: &Spec,
    parser: &mut lexopt::Parser,
) -> Result<Vec<Option<OsString>>, Exit> {
    let usage = command_usage(program, spec);
    let mut values: Vec<Option<OsString>> = vec![None; spec.options.len()];
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(err) => return Err(usage_error(&err.to_string(), &usage)),
        };
        let found = match arg {
            Arg::Short('h') | Arg::Long("help") => {
                return Err(shown(command_help(program, spec)));
            }
            Arg::Long(name) => spec.options.iter().position(|opt| opt.name == name),
            Arg::Short(_) | Arg::Value(_) => None,
        };
        let Some(index) = found else {
            let message = format!("unexpected argument '{}' found", arg_text(&arg));
            return Err(usage_error(&message, &usage));
        };
        let opt = &spec.options[index];
        if values[index].is_some() {
            let message = format!(
                "the argument '{}' cannot be used multiple times",
                opt_text(opt)
            );
            return Err(usage_error(&message, &usage));
        }
        if opt.value.is_empty() {
            if let Some(value) = parser.optional_value() {
                let message = format!(
                    "unexpected value '{}' for '--{}' found; no more were expected",
                    value.to_string_lossy(),
                    opt.name
                );
                return Err(usage_error(&message, &usage));
            }
            values[index] = Some(OsString::new());
            continue;
        }
        // `--config=F`, or `--config F` unless what follows is another option; an empty path
        // is no value.
        let value = match parser.optional_value() {
            Some(value) => Some(value),
            None => parser.value().ok().filter(|value| {
                let text = value.to_string_lossy();
                !(text.starts_with('-') && text.len() > 1)
            }),
        }
        .filter(|value| !value.is_empty());
        let Some(value) = value else {
            let message = format!(
                "a value is required for '--{} <{}>' but none was supplied",
                opt.name, opt.value
            );
            return Err(usage_error(&message, &usage));
        };
        if opt.count
            && value
                .to_str()
                .and_then(|text| text.parse::<u64>().ok())
                .is_none_or(|count| count == 0)
        {
            let message = format!(
                "invalid value '{}' for '--{} <{}>': a whole number of at least 1 is expected",
                value.to_string_lossy(),
                opt.name,
                opt.value
            );
            return Err(usage_error(&message, &usage));
        }
        values[index] = Some(value);
    }
    let missing: Vec<&Opt> = spec
        .options
        .iter()
        .zip(&values)
        .filter(|(opt, value)| opt.required && value.is_none())
        .map(|(opt, _)| opt)
        .collect();
    if !missing.is_empty() {
        let mut message = "the following required arguments were not provided:".to_owned();
        for opt in missing {
            let _ = write!(message, "\n  --{} <{}>", opt.name, opt.value);
        }
        return Err(usage_error(&message, &usage));
    }
    Ok(values)
}

/// `help` and `help COMMAND`.
fn help_command(program: &str, usage: &str, parser: &mut lexopt::Parser) -> Exit {
    match parser.next() {
        Ok(None) => shown(help(program)),
        Ok(Some(Arg::Value(command))) => {
            let command = command.to_string_lossy();
            match COMMANDS.iter().find(|spec| spec.name == command) {
                Some(spec) => shown(command_help(program, spec)),
                None => usage_error(&format!("unrecognized subcommand '{command}'"), usage),
            }
        }
        Ok(Some(arg)) => usage_error(
            &format!("unexpected argument '{}' found", arg_text(&arg)),
            usage,
        ),
        Err(err) => usage_error(&err.to_string(), usage),
    }
}

/// `--NAME <VALUE>`, or `--NAME` for a flag.
fn opt_text(opt: &Opt) -> String {
    if opt.value.is_empty() {
        format!("--{}", opt.name)
    } else {
        format!("--{} <{}>", opt.name, opt.value)
    }
}

/// Text printed on stdout with exit status 0.
fn shown(text: String) -> Exit {
    Exit {
        text,
        to_stdout: true,
        code: 0,
    }
}

/// An argument as the user wrote it.
fn arg_text(arg: &Arg<'_>) -> String {
    match arg {
        Arg::Short(short) => format!("-{short}"),
        Arg::Long(long) => format!("--{long}"),
        Arg::Value(value) => value.to_string_lossy().into_owned(),
    }
}

fn usage_error(message: &str, usage: &str) -> Exit {
    Exit {
        text: format!(
            "error: {message}\n\nUsage: {usage}\n\nFor more information, try '--help'.\n"
        ),
        to_stdout: false,
        code: USAGE_ERROR,
    }
}

/// Lines `  NAME  HELP` with the help texts aligned.
fn table(rows: &[(String, &str)]) -> String {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (name, help) in rows {
        let _ = writeln!(text, "  {name:width$}  {help}");
    }
    text
}

/// The connector's help.
fn help(program: &str) -> String {
    let mut commands: Vec<(String, &str)> = COMMANDS
        .iter()
        .map(|spec| (spec.name.to_owned(), spec.about))
        .collect();
    commands.push((
        "help".to_owned(),
        "Print this message or the help of the given command",
    ));
    let options = [
        ("-h, --help".to_owned(), "Print help"),
        ("-V, --version".to_owned(), "Print version"),
    ];
    format!(
        "{ABOUT}\n\n{LONG_ABOUT}\n\nUsage: {program} <COMMAND>\n\nCommands:\n{}\nOptions:\n{}",
        table(&commands),
        table(&options)
    )
}

/// `PROGRAM read [OPTIONS] --config <CONFIG> --catalog <CATALOG>`.
fn command_usage(program: &str, spec: &Spec) -> String {
    let mut usage = format!("{program} {}", spec.name);
    if spec.options.iter().any(|opt| !opt.required) {
        usage.push_str(" [OPTIONS]");
    }
    for opt in spec.options.iter().filter(|opt| opt.required) {
        let _ = write!(usage, " --{} <{}>", opt.name, opt.value);
    }
    usage
}

/// The help of one command.
fn command_help(program: &str, spec: &Spec) -> String {
    let mut options: Vec<(String, &str)> = spec
        .options
        .iter()
        .map(|opt| (format!("    {}", opt_text(opt)), opt.help))
        .collect();
    options.push(("-h, --help".to_owned(), "Print help"));
    format!(
        "{}\n\nUsage: {}\n\nOptions:\n{}",
        spec.about,
        command_usage(program, spec),
        table(&options)
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Command, Exit, TestRead, parse, scoped_test_read, test_read};

    fn run(args: &[&str]) -> Result<Command, Exit> {
        parse(
            "source-shop",
            "1.2.3",
            std::iter::once("/usr/bin/shop").chain(args.iter().copied()),
        )
    }

    fn exit(args: &[&str]) -> Exit {
        match run(args) {
            Ok(_) => panic!("{args:?} ran a command"),
            Err(exit) => exit,
        }
    }

    /// A usage error: its text, checked to go to stderr with exit status 2.
    fn error(args: &[&str]) -> String {
        let exit = exit(args);
        assert!(!exit.to_stdout, "{args:?}");
        assert_eq!(exit.code, 2, "{args:?}");
        exit.text
    }

    #[test]
    fn commands_and_their_files() {
        assert!(matches!(run(&["spec"]), Ok(Command::Spec)));
        assert!(matches!(
            run(&["check", "--config", "c.json"]),
            Ok(Command::Check { config }) if config.as_os_str() == "c.json"
        ));
        assert!(matches!(
            run(&["discover", "--config=c.json"]),
            Ok(Command::Discover { config }) if config.as_os_str() == "c.json"
        ));
        let Ok(Command::Read {
            config,
            catalog,
            state,
            ..
        }) = run(&["read", "--catalog", "k.json", "--config", "c.json"])
        else {
            panic!("read");
        };
        assert_eq!(
            (config, catalog, state),
            ("c.json".into(), "k.json".into(), None)
        );
        let Ok(Command::Read { state, .. }) =
            run(&["read", "--config", "c", "--catalog", "k", "--state", "-"])
        else {
            panic!("read");
        };
        assert_eq!(state, Some(PathBuf::from("-")));
    }

    #[test]
    fn test_read_limits() {
        let Ok(Command::Read { limits, .. }) = run(&[
            "read",
            "--config",
            "c",
            "--max-records=5",
            "--log-requests",
            "--catalog",
            "k",
            "--max-slices",
            "2",
            "--max-pages",
            "3",
        ]) else {
            panic!("read");
        };
        assert_eq!(
            limits,
            TestRead {
                max_records: Some(5),
                max_slices: Some(2),
                max_pages: Some(3),
                log_requests: true,
            }
        );
        let Ok(Command::Read { limits, .. }) = run(&["read", "--config", "c", "--catalog", "k"])
        else {
            panic!("read");
        };
        assert_eq!(limits, TestRead::default());
        for (args, start) in [
            (
                &[
                    "read",
                    "--config",
                    "c",
                    "--catalog",
                    "k",
                    "--max-records",
                    "0",
                ][..],
                "error: invalid value '0' for '--max-records <N>': a whole number of at least 1 \
                 is expected\n",
            ),
            (
                &["read", "--config", "c", "--catalog", "k", "--max-pages=x"],
                "error: invalid value 'x' for '--max-pages <N>'",
            ),
            (
                &["read", "--config", "c", "--catalog", "k", "--max-slices"],
                "error: a value is required for '--max-slices <N>' but none was supplied\n",
            ),
            (
                &[
                    "read",
                    "--config",
                    "c",
                    "--catalog",
                    "k",
                    "--log-requests=yes",
                ],
                "error: unexpected value 'yes' for '--log-requests' found",
            ),
            (
                &["read", "--log-requests", "--log-requests"],
                "error: the argument '--log-requests' cannot be used multiple times\n",
            ),
        ] {
            let text = error(args);
            assert!(text.starts_with(start), "{args:?}: {text}");
        }
    }

    #[test]
    fn test_read_settings_are_scoped_to_the_thread_of_a_run() {
        let limits = TestRead {
            max_pages: Some(2),
            ..TestRead::default()
        };
        assert_eq!(test_read(), TestRead::default());
        {
            let _scope = scoped_test_read(limits);
            assert_eq!(test_read(), limits);
            std::thread::spawn(|| assert_eq!(test_read(), TestRead::default()))
                .join()
                .unwrap();
        }
        assert_eq!(test_read(), TestRead::default());
    }

    #[cfg(unix)]
    #[test]
    fn paths_need_not_be_utf8() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt as _;

        let path = OsString::from_vec(b"conf\xffig.json".to_vec());
        let args = [
            OsString::from("shop"),
            "check".into(),
            "--config".into(),
            path.clone(),
        ];
        assert!(matches!(
            parse("source-shop", "1", args),
            Ok(Command::Check { config }) if config.as_os_str() == path
        ));
    }

    #[test]
    fn help_and_version_go_to_stdout_with_status_0() {
        for args in [&["--help"][..], &["-h"], &["help"]] {
            let exit = exit(args);
            assert!(exit.to_stdout && exit.code == 0, "{args:?}");
            assert_eq!(
                exit.text,
                "An Airbyte source connector built with tidemark.\n\n\
                 Protocol messages go to stdout, one JSON object per line; everything meant for \
                 people goes to stderr.\n\n\
                 Usage: shop <COMMAND>\n\n\
                 Commands:\n  \
                 spec      Print the connector's specification (the JSON Schema of its config)\n  \
                 check     Check that a config works; prints CONNECTION_STATUS\n  \
                 discover  List the streams this connector offers; prints CATALOG\n  \
                 read      Read the streams selected in a configured catalog; prints RECORD, STATE and TRACE\n  \
                 help      Print this message or the help of the given command\n\n\
                 Options:\n  \
                 -h, --help     Print help\n  \
                 -V, --version  Print version\n"
            );
        }
        for args in [&["--version"][..], &["-V"]] {
            let exit = exit(args);
            assert!(exit.to_stdout && exit.code == 0, "{args:?}");
            assert_eq!(exit.text, "source-shop 1.2.3\n");
        }
        for args in [
            &["read", "--help"][..],
            &["help", "read"],
            &["read", "--config", "c", "-h"],
        ] {
            let exit = exit(args);
            assert!(exit.to_stdout && exit.code == 0, "{args:?}");
            assert_eq!(
                exit.text,
                "Read the streams selected in a configured catalog; prints RECORD, STATE and TRACE\n\n\
                 Usage: shop read [OPTIONS] --config <CONFIG> --catalog <CATALOG>\n\n\
                 Options:\n      \
                 --config <CONFIG>    Path to the config JSON file\n      \
                 --catalog <CATALOG>  Path to the configured catalog JSON file\n      \
                 --state <STATE>      Path to the state JSON file of the previous sync\n      \
                 --max-records <N>    Test read: stop each stream after N records (INCOMPLETE, exit 0)\n      \
                 --max-slices <N>     Test read: read at most N slices (windows, partitions) of each stream\n      \
                 --max-pages <N>      Test read: read at most N pages of each slice (no STATE after a cut)\n      \
                 --log-requests       Test read: write each HTTP request and response to stderr\n  \
                 -h, --help               Print help\n"
            );
        }
        assert_eq!(
            exit(&["spec", "--help"]).text,
            "Print the connector's specification (the JSON Schema of its config)\n\n\
             Usage: shop spec\n\nOptions:\n  -h, --help  Print help\n"
        );
    }

    #[test]
    fn no_command_prints_the_help_on_stderr_with_status_2() {
        let exit = exit(&[]);
        assert!(!exit.to_stdout && exit.code == 2);
        assert!(exit.text.contains("Usage: shop <COMMAND>"), "{}", exit.text);
    }

    #[test]
    fn usage_errors_say_what_is_wrong_and_show_the_usage() {
        assert_eq!(
            error(&["read", "--config", "c"]),
            "error: the following required arguments were not provided:\n  \
             --catalog <CATALOG>\n\n\
             Usage: shop read [OPTIONS] --config <CONFIG> --catalog <CATALOG>\n\n\
             For more information, try '--help'.\n"
        );
        let cases: [(&[&str], &str); 12] = [
            (
                &["bogus"],
                "error: unrecognized subcommand 'bogus'\n\nUsage: shop <COMMAND>\n",
            ),
            (
                &["help", "bogus"],
                "error: unrecognized subcommand 'bogus'\n",
            ),
            (
                &["--bogus"],
                "error: unexpected argument '--bogus' found\n\nUsage: shop <COMMAND>\n",
            ),
            (
                &["spec", "extra"],
                "error: unexpected argument 'extra' found\n\nUsage: shop spec\n",
            ),
            (&["check", "-x"], "error: unexpected argument '-x' found\n"),
            (
                &["check", "--config"],
                "error: a value is required for '--config <CONFIG>' but none was supplied\n",
            ),
            (
                &["read", "--config", "--catalog", "k"],
                "error: a value is required for '--config <CONFIG>'",
            ),
            (
                &["check", "--config="],
                "error: a value is required for '--config <CONFIG>' but none was supplied\n",
            ),
            (
                &["read", "--config", "c", "--catalog", "k", "--state", ""],
                "error: a value is required for '--state <STATE>' but none was supplied\n",
            ),
            (
                &["check", "--config", "a", "--config", "b"],
                "error: the argument '--config <CONFIG>' cannot be used multiple times\n",
            ),
            (
                &["check"],
                "error: the following required arguments were not provided:\n  --config <CONFIG>\n\nUsage: shop check --config <CONFIG>\n",
            ),
            (
                &["-x"],
                "error: unexpected argument '-x' found\n\nUsage: shop <COMMAND>\n",
            ),
        ];
        for (args, start) in cases {
            let text = error(args);
            assert!(text.starts_with(start), "{args:?}: {text}");
            assert!(
                text.ends_with("\n\nFor more information, try '--help'.\n"),
                "{args:?}: {text}"
            );
        }
    }
}
