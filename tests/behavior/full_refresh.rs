//! Full-refresh streams: read in full by every sync, with no cursor; a resumable one resumes a
//! failed attempt at its last saved position, and every stream ends with a STATE, `{}` once
//! complete, so the next sync starts over.

use std::cell::RefCell;

use serde_json::{Value, json};
use tidemark::protocol::{FailureType, Message, StreamStatus, TraceType};
use tidemark::testing::{self, CrashTest, Output};
use tidemark::{Error, Resume, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, Note, first_error};

/// A record of `crm.users`: resumable, read by pages of [`PAGE`] users.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(
    name = "users",
    namespace = "crm",
    primary_key = "id",
    resumable = true
)]
pub struct User {
    id: u64,
    name: String,
}

/// A record of `countries`: not resumable, no primary key.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "countries")]
pub struct Country {
    code: String,
}

/// Users per page.
const PAGE: u64 = 3;

/// What the `users` and `countries` readers do.
#[derive(Debug, Clone, Default)]
struct Plan {
    /// Users `1..=users`, read by pages numbered from 1.
    users: u64,
    /// Country codes.
    countries: Vec<&'static str>,
    /// Also register the incremental `notes` stream (ids `1..=notes`).
    notes: Option<u64>,
    /// The users reader fails (a transient error) when it reaches this page.
    fail_at_page: Option<u64>,
    /// The users reader panics when it reaches this page.
    panic_at_page: Option<u64>,
    /// A bug: the users reader ignores the saved position and starts at page 1.
    ignore_position: bool,
    /// A bug: the users reader resumes one page past the saved position.
    skip_a_page: bool,
    /// A bug: the countries reader saves a position, though not declared resumable.
    countries_save_position: bool,
}

/// A source whose streams follow a [`Plan`], recording the position each users read began at.
struct Directory {
    plan: Plan,
    resumed_at: RefCell<Vec<Option<u64>>>,
}

impl Directory {
    fn new(plan: Plan) -> Self {
        Directory {
            plan,
            resumed_at: RefCell::new(Vec::new()),
        }
    }

    fn read_users(&self, resume: &Resume<User>, out: &mut Sink<User>) -> Result<(), Error> {
        let plan = &self.plan;
        let position: Option<u64> = resume.position()?;
        self.resumed_at.borrow_mut().push(position);
        let mut first = position.unwrap_or(1);
        if plan.ignore_position {
            first = 1;
        }
        if plan.skip_a_page && position.is_some() {
            first += 1;
        }
        let pages = plan.users.div_ceil(PAGE);
        for page in first..=pages {
            if plan.fail_at_page == Some(page) {
                return Err(Error::transient(format!("page {page} timed out")));
            }
            assert!(plan.panic_at_page != Some(page), "page {page} is corrupt");
            for id in (page - 1) * PAGE + 1..=(page * PAGE).min(plan.users) {
                out.emit(&User {
                    id,
                    name: format!("user {id}"),
                })?;
            }
            out.save_position(&(page + 1))?;
        }
        Ok(())
    }

    fn read_countries(&self, out: &mut Sink<Country>) -> Result<(), Error> {
        for code in &self.plan.countries {
            out.emit(&Country {
                code: (*code).to_owned(),
            })?;
            if self.plan.countries_save_position {
                out.save_position(code)?;
            }
        }
        Ok(())
    }
}

impl Source for Directory {
    const NAME: &'static str = "source-directory";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let mut streams = Streams::new();
        if let Some(notes) = self.plan.notes {
            streams = streams.stream(move |slice: &Slice<Note>, out: &mut Sink<Note>| {
                for id in slice.after().map_or(1, |id| id + 1)..=notes {
                    out.emit(&Note { id })?;
                }
                Ok(())
            });
        }
        Ok(streams
            .full_refresh(|resume: &Resume<User>, out: &mut Sink<User>| {
                self.read_users(resume, out)
            })
            .full_refresh(|_: &Resume<Country>, out: &mut Sink<Country>| self.read_countries(out)))
    }
}

fn directory(users: u64, countries: &[&'static str]) -> Plan {
    Plan {
        users,
        countries: countries.to_vec(),
        ..Plan::default()
    }
}

/// The catalog the Airbyte platform builds: full-refresh streams in `full_refresh` mode.
fn platform_catalog(source: &Directory) -> Value {
    testing::incremental_catalog(source, &json!({}))
}

/// The catalog `PyAirbyte` builds: every stream in `incremental` mode.
fn pyairbyte_catalog(source: &Directory) -> Value {
    let mut catalog = platform_catalog(source);
    for stream in catalog["streams"].as_array_mut().expect("streams") {
        stream["sync_mode"] = json!("incremental");
        stream["destination_sync_mode"] = json!("append");
    }
    catalog
}

fn read(source: &Directory, catalog: &Value, state: Option<&Value>) -> Output {
    testing::read(source, &json!({}), catalog, state)
}

/// The run as compact lines: `R <stream> <id or code>`, `S <stream> <state> <count>`,
/// `T <stream> <status>`, `E <stream> <failure type>`.
fn transcript(output: &Output) -> Vec<String> {
    output
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::Record { record } => {
                let key = record.data.get("id").or_else(|| record.data.get("code"));
                Some(format!("R {} {}", record.stream, key.expect("a key")))
            }
            Message::State { state } => Some(crate::support::state_line(state)),
            Message::Trace { trace } => match trace.trace_type {
                TraceType::StreamStatus => {
                    let status = trace.stream_status.as_ref().expect("status");
                    let name = &status.stream_descriptor.name;
                    Some(format!("T {name} {:?}", status.status))
                }
                TraceType::Error => {
                    let error = trace.error.as_ref().expect("error");
                    let stream = error.stream_descriptor.as_ref().map_or("-", |d| &d.name);
                    Some(format!(
                        "E {stream} {:?}",
                        error.failure_type.expect("failure type")
                    ))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A `--state` value holding one STREAM state.
fn stream_state(name: &str, namespace: Option<&str>, state: &Value) -> Value {
    json!([{
        "type": "STREAM",
        "stream": {
            "stream_descriptor": {"name": name, "namespace": namespace},
            "stream_state": state,
        },
    }])
}

/// The users' ids of a run, in order.
fn user_ids(output: &Output) -> Vec<u64> {
    crate::support::ids(output, "users")
}

#[test]
fn discover_lists_full_refresh_streams_with_their_resumability_and_no_cursor() {
    let source = Directory::new(Plan {
        notes: Some(1),
        ..Plan::default()
    });
    let config = crate::support::temp_file("config.json", "{}");
    let output = testing::run(
        &source,
        &["discover", "--config", config.to_str().expect("utf-8")],
    );
    assert_eq!(output.exit_code, 0, "{}", output.stderr);
    let catalog: Value = serde_json::from_str(output.stdout.trim()).expect("one JSON line");
    let mut streams = catalog["catalog"]["streams"]
        .as_array()
        .expect("streams")
        .clone();
    for stream in &mut streams {
        assert_eq!(
            stream["json_schema"]["type"], "object",
            "a record schema: {stream}"
        );
        stream["json_schema"] = json!("...");
    }
    assert_eq!(
        streams,
        vec![
            json!({
                "name": "notes",
                "json_schema": "...",
                "supported_sync_modes": ["full_refresh", "incremental"],
                "source_defined_cursor": true,
                "default_cursor_field": ["id"],
                "source_defined_primary_key": [["id"]],
                "is_resumable": true,
            }),
            json!({
                "name": "users",
                "json_schema": "...",
                "supported_sync_modes": ["full_refresh"],
                "source_defined_cursor": true,
                "source_defined_primary_key": [["id"]],
                "namespace": "crm",
                "is_resumable": true,
            }),
            json!({
                "name": "countries",
                "json_schema": "...",
                "supported_sync_modes": ["full_refresh"],
                "is_resumable": false,
            }),
        ]
    );
    let users = &catalog["catalog"]["streams"][1]["json_schema"];
    assert_eq!(users["required"], json!(["id", "name"]), "{users}");
}

#[test]
fn both_sync_modes_read_every_record_and_end_with_an_empty_state() {
    let expected = [
        "T users Started",
        "T users Running",
        "R users 1",
        "R users 2",
        "R users 3",
        r#"S users {"position":2} 3"#,
        "R users 4",
        "R users 5",
        "R users 6",
        r#"S users {"position":3} 3"#,
        "R users 7",
        r#"S users {"position":4} 1"#,
        "S users {} 0",
        "T users Complete",
        "T countries Started",
        "T countries Running",
        r#"R countries "FR""#,
        r#"R countries "JP""#,
        "S countries {} 2",
        "T countries Complete",
    ];
    for catalog in [platform_catalog, pyairbyte_catalog] {
        let source = Directory::new(directory(7, &["FR", "JP"]));
        let output = read(&source, &catalog(&source), None);
        assert_eq!(output.exit_code, 0, "{}", output.stdout);
        assert_eq!(transcript(&output), expected);
        assert_eq!(*source.resumed_at.borrow(), [None]);
    }
}

#[test]
fn the_platform_catalog_selects_full_refresh_streams_in_full_refresh_mode() {
    let source = Directory::new(Plan {
        notes: Some(1),
        ..Plan::default()
    });
    let catalog = platform_catalog(&source);
    let modes: Vec<(&str, &str, &str)> = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|stream| {
            (
                stream["stream"]["name"].as_str().expect("name"),
                stream["sync_mode"].as_str().expect("sync mode"),
                stream["destination_sync_mode"].as_str().expect("mode"),
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("notes", "incremental", "append_dedup"),
            ("users", "full_refresh", "overwrite"),
            ("countries", "full_refresh", "overwrite"),
        ]
    );
}

#[test]
fn a_failed_attempt_keeps_its_last_position_and_the_retry_resumes_there() {
    let failing = Directory::new(Plan {
        fail_at_page: Some(3),
        ..directory(9, &["FR"])
    });
    let first = read(&failing, &platform_catalog(&failing), None);
    assert_eq!(first.exit_code, 1);
    assert_eq!(
        transcript(&first),
        [
            "T users Started",
            "T users Running",
            "R users 1",
            "R users 2",
            "R users 3",
            r#"S users {"position":2} 3"#,
            "R users 4",
            "R users 5",
            "R users 6",
            r#"S users {"position":3} 3"#,
            "T users Incomplete",
            "E users TransientError",
            "T countries Started",
            "T countries Running",
            r#"R countries "FR""#,
            "S countries {} 1",
            "T countries Complete",
        ]
    );
    let error = first_error(&first);
    assert_eq!(error.message, "page 3 timed out");
    let descriptor = error.stream_descriptor.expect("the stream");
    assert_eq!(
        (descriptor.name.as_str(), descriptor.namespace.as_deref()),
        ("users", Some("crm"))
    );

    // The retry, given the state the failed attempt left, in either sync mode.
    let state = first.state_file_at(first.states().len() - 1);
    for catalog in [platform_catalog, pyairbyte_catalog] {
        let retry = Directory::new(directory(9, &["FR"]));
        let output = read(&retry, &catalog(&retry), Some(&state));
        assert_eq!(output.exit_code, 0, "{}", output.stdout);
        assert_eq!(*retry.resumed_at.borrow(), [Some(3)]);
        assert_eq!(user_ids(&output), [7, 8, 9]);
        assert_eq!(
            transcript(&output)[..7],
            [
                "T users Started",
                "T users Running",
                "R users 7",
                "R users 8",
                "R users 9",
                r#"S users {"position":4} 3"#,
                "S users {} 0",
            ]
        );
    }
}

#[test]
fn the_sync_after_a_completed_one_starts_over() {
    let source = Directory::new(directory(5, &["FR"]));
    let catalog = platform_catalog(&source);
    let first = read(&source, &catalog, None);
    assert_eq!(first.exit_code, 0);
    let state = first.state_file_at(first.states().len() - 1);
    let kept: Vec<&Value> = state
        .as_array()
        .expect("states")
        .iter()
        .map(|message| &message["stream"]["stream_state"])
        .collect();
    assert_eq!(kept, [&json!({}), &json!({})]);

    let next = read(&source, &catalog, Some(&state));
    assert_eq!(next.exit_code, 0);
    assert_eq!(user_ids(&next), [1, 2, 3, 4, 5]);
    assert_eq!(next.records().len(), 6);
    assert_eq!(*source.resumed_at.borrow(), [None, None]);
}

#[test]
fn states_of_a_completed_sync_from_other_kits_start_over() {
    for completed in [
        json!({"__ab_full_refresh_sync_complete": true}),
        json!({"__ab_no_cursor_state_message": true}),
        json!({"position": null}),
        json!(null),
    ] {
        let source = Directory::new(directory(4, &[]));
        let state = stream_state("users", Some("crm"), &completed);
        let output = read(&source, &platform_catalog(&source), Some(&state));
        assert_eq!(output.exit_code, 0, "{completed}: {}", output.stdout);
        assert_eq!(user_ids(&output), [1, 2, 3, 4], "{completed}");
    }
}

#[test]
fn a_panicking_reader_fails_its_stream_with_its_last_position_and_the_others_go_on() {
    let source = Directory::new(Plan {
        panic_at_page: Some(2),
        ..directory(9, &["FR", "JP"])
    });
    let output = read(&source, &platform_catalog(&source), None);
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        transcript(&output),
        [
            "T users Started",
            "T users Running",
            "R users 1",
            "R users 2",
            "R users 3",
            r#"S users {"position":2} 3"#,
            "T users Incomplete",
            "E users SystemError",
            "T countries Started",
            "T countries Running",
            r#"R countries "FR""#,
            r#"R countries "JP""#,
            "S countries {} 2",
            "T countries Complete",
        ]
    );
    let error = first_error(&output);
    assert!(
        error.message.contains("page 2 is corrupt"),
        "{}",
        error.message
    );
}

#[test]
fn a_saved_position_of_the_wrong_type_fails_the_stream_as_a_config_error() {
    let source = Directory::new(directory(6, &["FR"]));
    let state = stream_state("users", Some("crm"), &json!({"position": "three"}));
    let output = read(&source, &platform_catalog(&source), Some(&state));
    assert_eq!(output.exit_code, 1);
    assert!(output.records().iter().all(|r| r.stream == "countries"));
    assert_eq!(
        output.statuses("users"),
        [StreamStatus::Started, StreamStatus::Incomplete]
    );
    assert_eq!(
        output.statuses("countries").last(),
        Some(&StreamStatus::Complete)
    );
    let error = first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert_eq!(
        error.message,
        "Configuration error: saved state of stream `crm.users` is invalid: `position`: \
         invalid type: string \"three\", expected u64 (state: {\"position\":\"three\"})"
    );
    // No STATE of `users` claims anything.
    assert!(
        output
            .states()
            .iter()
            .all(|s| s.stream.as_ref().expect("stream").stream_descriptor.name == "countries")
    );
}

#[test]
fn a_saved_state_that_is_no_position_fails_before_anything_is_read() {
    for (state, problem) in [
        (json!([3]), "expected an object, found a list"),
        (json!({"page": 3}), "no `position` in the state, but `page`"),
    ] {
        let source = Directory::new(directory(6, &["FR"]));
        let input = stream_state("users", Some("crm"), &state);
        let output = read(&source, &platform_catalog(&source), Some(&input));
        assert_eq!(output.exit_code, 1);
        assert!(output.records().is_empty(), "{}", output.stdout);
        let error = first_error(&output);
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(
            error.message.starts_with(&format!(
                "Configuration error: saved state of stream `crm.users` is invalid: {problem}"
            )),
            "{}",
            error.message
        );
        assert!(source.resumed_at.borrow().is_empty());
    }
}

#[test]
fn a_stream_not_declared_resumable_ignores_saved_state() {
    for saved in [json!({"position": 5}), json!("garbage"), json!({"page": 2})] {
        let source = Directory::new(directory(0, &["FR", "JP"]));
        let state = stream_state("countries", None, &saved);
        let output = read(&source, &platform_catalog(&source), Some(&state));
        assert_eq!(output.exit_code, 0, "{saved}: {}", output.stdout);
        assert_eq!(output.records().len(), 2, "{saved}");
    }
}

#[test]
fn saving_a_position_of_a_stream_not_declared_resumable_stops_it() {
    let source = Directory::new(Plan {
        countries_save_position: true,
        ..directory(0, &["FR", "JP"])
    });
    let output = read(&source, &platform_catalog(&source), None);
    assert_eq!(output.exit_code, 1);
    let countries: Vec<String> = transcript(&output)
        .into_iter()
        .filter(|line| line.contains("countries"))
        .collect();
    assert_eq!(
        countries,
        [
            "T countries Started",
            "T countries Running",
            r#"R countries "FR""#,
            "T countries Incomplete",
            "E countries SystemError",
        ]
    );
    let error = first_error(&output);
    assert!(
        error
            .message
            .contains("stream `countries` saved a position but is not declared resumable"),
        "{}",
        error.message
    );
}

#[test]
fn the_crash_kit_resumes_a_resumable_stream_at_every_cut_in_both_modes() {
    for catalog in [platform_catalog, pyairbyte_catalog] {
        let source = Directory::new(directory(10, &[]));
        let report = CrashTest::new(&source, &json!({}), &catalog(&source)).assert();
        assert_eq!(report.cuts, report.messages);
        assert_eq!(report.records, 10);
        // Resumed at every saved position, and started over after the stream completed.
        let resumed = source.resumed_at.borrow();
        for position in [None, Some(2), Some(3), Some(4), Some(5)] {
            assert!(resumed.contains(&position), "{position:?}: {resumed:?}");
        }
    }
}

#[test]
fn the_crash_kit_lets_a_stream_not_declared_resumable_send_everything_again() {
    let source = Directory::new(directory(0, &["FR", "JP", "DE"]));
    let report = CrashTest::new(&source, &json!({}), &platform_catalog(&source)).assert();
    assert_eq!(report.cuts, report.messages);
    assert_eq!(report.records, 3);
}

#[test]
fn the_crash_kit_catches_a_reader_that_ignores_its_position_or_skips_past_it() {
    let ignoring = Directory::new(Plan {
        ignore_position: true,
        ..directory(7, &[])
    });
    let failure = CrashTest::new(&ignoring, &json!({}), &platform_catalog(&ignoring))
        .run()
        .expect_err("records sent again");
    assert!(
        failure
            .problem
            .starts_with("committed records sent again after resuming"),
        "{failure}"
    );

    let skipping = Directory::new(Plan {
        skip_a_page: true,
        ..directory(7, &[])
    });
    let failure = CrashTest::new(&skipping, &json!({}), &platform_catalog(&skipping))
        .run()
        .expect_err("records lost");
    assert!(failure.problem.starts_with("records lost"), "{failure}");
}

#[test]
fn full_refresh_and_incremental_streams_share_one_source() {
    let source = Directory::new(Plan {
        notes: Some(3),
        ..directory(4, &["FR"])
    });
    let catalog = platform_catalog(&source);
    let output = read(&source, &catalog, None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let states: Vec<String> = output
        .states()
        .into_iter()
        .map(crate::support::state_line)
        .collect();
    assert_eq!(
        states,
        [
            r#"S notes {"id":3} 3"#,
            r#"S users {"position":2} 3"#,
            r#"S users {"position":3} 1"#,
            "S users {} 0",
            "S countries {} 1",
        ]
    );

    // The next sync: the incremental stream resumes, the full-refresh ones start over.
    let state = output.state_file_at(states.len() - 1);
    let next = read(&source, &catalog, Some(&state));
    assert_eq!(next.exit_code, 0);
    assert!(crate::support::ids(&next, "notes").is_empty());
    assert_eq!(user_ids(&next), [1, 2, 3, 4]);

    let report = CrashTest::new(&source, &json!({}), &catalog).assert();
    assert_eq!(report.cuts, report.messages);
    assert_eq!(report.records, 3 + 4 + 1);
}

/// `notes` again, as a full-refresh stream.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "notes")]
struct NoteSnapshot {
    id: u64,
}

/// Registers `notes` as both kinds, in either order.
struct Twice {
    full_refresh_first: bool,
}

impl Source for Twice {
    const NAME: &'static str = "source-twice";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let incremental = |_: &Slice<Note>, _: &mut Sink<Note>| Ok(());
        let full = |_: &Resume<NoteSnapshot>, _: &mut Sink<NoteSnapshot>| Ok(());
        Ok(if self.full_refresh_first {
            Streams::new().full_refresh(full).stream(incremental)
        } else {
            Streams::new().stream(incremental).full_refresh(full)
        })
    }
}

#[test]
fn a_stream_registered_as_both_kinds_fails_every_command() {
    let config = crate::support::temp_file("config.json", "{}");
    for full_refresh_first in [false, true] {
        let output = testing::run(
            &Twice { full_refresh_first },
            &["discover", "--config", config.to_str().expect("utf-8")],
        );
        assert_eq!(output.exit_code, 1);
        assert_eq!(
            first_error(&output).message,
            "stream `notes` is registered twice; a connector registers each stream (name and \
             namespace) once"
        );
    }
}

/// `countries` reporting progress, a rate limit and a wait through the sink.
struct Patient;

impl Source for Patient {
    const NAME: &'static str = "source-patient";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().full_refresh(|_: &Resume<Country>, out: &mut Sink<Country>| {
                out.estimate(2)?;
                out.rate_limited(None)?;
                out.wait(std::time::Duration::from_millis(1))?;
                for code in ["FR", "JP"] {
                    out.emit(&Country {
                        code: code.to_owned(),
                    })?;
                }
                Ok(())
            }),
        )
    }
}

#[test]
fn the_sink_reports_estimates_and_rate_limits_of_full_refresh_streams() {
    let catalog = testing::incremental_catalog(&Patient, &json!({}));
    let output = testing::read(&Patient, &json!({}), &catalog, None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let estimate = output.traces(TraceType::Estimate);
    let estimate = estimate[0].estimate.as_ref().expect("an estimate");
    assert_eq!(estimate.row_estimate, Some(2));
    assert_eq!(
        output.statuses("countries"),
        [
            StreamStatus::Started,
            StreamStatus::Running,
            StreamStatus::Complete
        ]
    );
    assert_eq!(output.records().len(), 2);
}

#[test]
fn full_refresh_output_validates_against_the_protocol_schema() {
    let Some(validators) = crate::protocol_schema::validators() else {
        return;
    };
    let config = crate::support::temp_file("config.json", "{}");
    let source = Directory::new(Plan {
        notes: Some(2),
        ..directory(5, &["FR"])
    });
    let discover = testing::run(
        &source,
        &["discover", "--config", config.to_str().expect("utf-8")],
    );
    crate::protocol_schema::assert_valid(&validators, &discover);
    for catalog in [platform_catalog, pyairbyte_catalog] {
        crate::protocol_schema::assert_valid(&validators, &read(&source, &catalog(&source), None));
    }
    let failing = Directory::new(Plan {
        fail_at_page: Some(2),
        ..directory(5, &["FR"])
    });
    let failed = read(&failing, &platform_catalog(&failing), None);
    crate::protocol_schema::assert_valid(&validators, &failed);
    let state = failed.state_file_at(0);
    crate::protocol_schema::assert_valid(
        &validators,
        &read(&source, &platform_catalog(&source), Some(&state)),
    );
    let malformed = stream_state("users", Some("crm"), &json!({"position": "x"}));
    crate::protocol_schema::assert_valid(
        &validators,
        &read(&source, &platform_catalog(&source), Some(&malformed)),
    );
}
