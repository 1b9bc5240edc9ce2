//! A stream that fails: last safe state, INCOMPLETE, ERROR, the other streams go on, exit 1.

use serde_json::json;
use tidemark::protocol::{FailureType, StreamStatus};

use crate::support::{Script, ids, read, transcript};

#[test]
fn a_reader_failing_mid_stream_leaves_a_safe_state_and_the_other_streams_complete() {
    let script = Script {
        // Interval 2: the checkpoint due at the second `2` waits for a new value that never comes.
        events: vec![1, 2, 2, 3, 3, 3, 4],
        fail_after: Some(5),
        notes: 2,
        ..Script::default()
    };
    let output = read(&script, &["events", "notes"], None);
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        transcript(&output),
        [
            "T events Started",
            "T events Running",
            "R events 1",
            "R events 2",
            "R events 2",
            r#"S events {"ts":2} 3"#,
            "R events 3",
            "R events 3",
            // No new state: 3 is not known complete (a third `3` may have been lost).
            "T events Incomplete",
            "T error TransientError events",
            "T notes Started",
            "T notes Running",
            "R notes 1",
            "R notes 2",
            r#"S notes {"id":2} 2"#,
            "T notes Complete",
        ]
    );
    let error = crate::support::first_error(&output);
    assert_eq!(error.message, "the API timed out");
    assert!(
        output.stderr.contains("events"),
        "stderr: {}",
        output.stderr
    );

    // The next sync resumes after the last STATE and loses nothing.
    let resumed = read(
        &Script {
            fail_after: None,
            ..script
        },
        &["events"],
        Some(&output.state_file_at(0)),
    );
    assert_eq!(ids(&resumed, "events"), [3, 4, 5, 6]);
}

#[test]
fn on_failure_the_state_moves_to_the_last_value_known_complete() {
    let script = Script {
        events: vec![1, 2, 3, 4, 5],
        fail_after: Some(4),
        ..Script::default()
    };
    let output = read(&script, &["events"], None);
    let lines = transcript(&output);
    assert_eq!(
        lines[2..].iter().map(String::as_str).collect::<Vec<_>>(),
        [
            "R events 1",
            "R events 2",
            r#"S events {"ts":2} 2"#,
            "R events 3",
            "R events 4",
            // 3 is complete (4 came after it); 4 is not known complete.
            r#"S events {"ts":3} 2"#,
            "T events Incomplete",
            "T error TransientError events",
        ]
    );
    let resumed = read(
        &Script {
            fail_after: None,
            ..script
        },
        &["events"],
        Some(&output.state_file_at(1)),
    );
    assert_eq!(ids(&resumed, "events"), [3, 4]);
}

#[test]
fn a_record_out_of_order_stops_the_stream_without_a_state_past_it() {
    let script = Script {
        events: vec![1, 2, 3, 2, 4],
        notes: 1,
        ..Script::default()
    };
    let output = read(&script, &["events", "notes"], None);
    assert_eq!(output.exit_code, 1);
    let lines = transcript(&output);
    let events: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .take_while(|line| !line.starts_with("T notes"))
        .collect();
    assert_eq!(
        events,
        [
            "T events Started",
            "T events Running",
            "R events 1",
            "R events 2",
            r#"S events {"ts":2} 2"#,
            "R events 3",
            "T events Incomplete",
            "T error SystemError events",
        ]
    );
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(
        error.message.contains("cursor 2") && error.message.contains("cursor 3"),
        "{}",
        error.message
    );
    assert_eq!(
        output.statuses("notes").last(),
        Some(&StreamStatus::Complete)
    );
}

#[test]
fn a_stream_missing_from_the_source_fails_alone() {
    let mut catalog = crate::support::catalog(&["notes"]);
    let mut ghost = catalog["streams"][0].clone();
    ghost["stream"]["name"] = json!("ghosts");
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .insert(0, ghost);
    let output = tidemark::testing::read(
        &crate::support::Scripted::new(Script {
            notes: 1,
            ..Script::default()
        }),
        &json!({}),
        &catalog,
        None,
    );
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        transcript(&output),
        [
            "T ghosts Incomplete",
            "T error ConfigError ghosts",
            "T notes Started",
            "T notes Running",
            "R notes 1",
            r#"S notes {"id":1} 1"#,
            "T notes Complete",
        ]
    );
}

/// A reader that finds its source out of order and says so.
mod unordered_source {
    use serde_json::json;
    use tidemark::testing::{self, incremental_catalog};
    use tidemark::{Error, Sink, Slice, Source, Streams};

    use crate::support::NoConfig;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
    #[tidemark::incremental_stream(name = "pages", cursor = "n", primary_key = "n")]
    pub struct Row {
        n: u64,
    }

    struct Pages;

    impl Source for Pages {
        const NAME: &'static str = "source-pages";
        type Config = NoConfig;

        fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
            Ok(
                Streams::new().stream(|_slice: &Slice<Row>, out: &mut Sink<Row>| {
                    for n in [1, 2, 3] {
                        out.emit(&Row { n })?;
                    }
                    // The next page starts below what was emitted: the API broke its order.
                    Err(Error::OrderViolation {
                        stream: "pages".to_owned(),
                        previous: "3".to_owned(),
                        next: "2".to_owned(),
                    })
                }),
            )
        }
    }

    #[test]
    fn a_reader_reporting_an_out_of_order_source_gets_no_state_claimed() {
        let output = testing::read(
            &Pages,
            &json!({}),
            &incremental_catalog(&Pages, &json!({})),
            None,
        );
        assert_eq!(output.exit_code, 1);
        assert_eq!(output.records().len(), 3);
        assert!(output.states().is_empty(), "{}", output.stdout);
    }
}
