//! Every form of input state a platform or tool passes with `--state`.

use serde_json::{Value, json};
use tidemark::protocol::FailureType;

use crate::support::{Script, ids, read, read_files, transcript};

fn script() -> Script {
    Script {
        events: vec![1, 2, 3, 4],
        notes: 3,
        ..Script::default()
    }
}

fn resumes_after_2(state: &Value) {
    let output = read(&script(), &["events"], Some(state));
    assert_eq!(output.exit_code, 0, "state {state}: {}", output.stdout);
    assert_eq!(ids(&output, "events"), [2, 3], "state {state}");
}

fn events_state(ts: &Value) -> Value {
    json!({"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": ts}}})
}

#[test]
fn a_list_of_stream_states() {
    resumes_after_2(&json!([events_state(&json!(2))]));
    // One message object on its own is accepted too.
    resumes_after_2(&events_state(&json!(2)));
}

#[test]
fn a_global_state_uses_its_stream_states() {
    let stream_states =
        json!([{"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}}]);
    resumes_after_2(
        &json!([{"type": "GLOBAL", "global": {"shared_state": {"cdc": 1}, "stream_states": stream_states}}]),
    );
    // PyAirbyte writes the field under its Python name.
    resumes_after_2(&json!([{"type": "GLOBAL", "global_": {"stream_states": stream_states}}]));
}

#[test]
fn legacy_states() {
    resumes_after_2(&json!({"events": {"ts": 2}}));
    resumes_after_2(&json!([{"type": "LEGACY", "data": {"events": {"ts": 2}}}]));
    resumes_after_2(&json!([{"data": {"events": {"ts": 2}}}]));
}

#[test]
fn explicit_nulls_and_unknown_fields_are_accepted() {
    resumes_after_2(&json!([
        null,
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "events", "namespace": null, "extra": true},
                "stream_state": {"ts": 2, "written_by": "another version"},
                "also": "ignored"
            },
            "global": null,
            "data": null,
            "sourceStats": null,
            "destinationStats": {"recordCount": 2.0},
            "id": 7
        }
    ]));
    // A message without `type` is recognized by its body.
    resumes_after_2(
        &json!([{"stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}}}]),
    );
}

#[test]
fn duplicate_keys_keep_the_last_value() {
    let state = r#"[{"type": "GLOBAL",
        "global_": {"stream_states": [{"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 1}}]},
        "global_": {"stream_states": [{"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 1, "ts": 2}}]}}]"#;
    let catalog = crate::support::catalog(&["events"]).to_string();
    let output = read_files(&script(), "{}", &catalog, Some(state));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output, "events"), [2, 3]);
}

#[test]
fn forms_that_mean_no_state_read_everything() {
    for state in [
        json!([]),
        json!({}),
        json!(null),
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": null}}]),
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}}}]),
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {}}}]),
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"__ab_no_cursor_state_message": true}}}]),
        json!([events_state(&Value::Null)]),
        // A state for another stream (or namespace) does not apply.
        json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events", "namespace": "elsewhere"}, "stream_state": {"ts": 2}}}]),
    ] {
        let output = read(&script(), &["events"], Some(&state));
        assert_eq!(ids(&output, "events"), [0, 1, 2, 3], "state {state}");
    }
}

#[test]
fn states_of_several_streams_apply_to_each() {
    let state = json!([
        events_state(&json!(3)),
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "notes"}, "stream_state": {"id": 1}}},
    ]);
    let output = read(&script(), &["events", "notes"], Some(&state));
    assert_eq!(ids(&output, "events"), [3]);
    assert_eq!(ids(&output, "notes"), [2, 3]);
}

/// A state that does not fit the stream is a config error naming it; nothing is read.
fn rejected(state: &Value, mentions: &str) {
    let output = read(&script(), &["events", "notes"], Some(state));
    assert_eq!(output.exit_code, 1, "state {state}");
    assert_eq!(
        transcript(&output),
        ["T error ConfigError events"],
        "state {state}: nothing may be read"
    );
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(
        error.message.contains("`events`") && error.message.contains(mentions),
        "{}",
        error.message
    );
}

#[test]
fn a_state_that_does_not_fit_the_stream_is_a_config_error_naming_it() {
    rejected(&json!([events_state(&json!("yesterday"))]), "yesterday");
    rejected(&json!([events_state(&json!(-1))]), "-1");
    rejected(
        &json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"timestamp": 2}}}]),
        "no `ts`",
    );
    rejected(
        &json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": 5}}]),
        "expected an object",
    );
}

#[test]
fn an_emitted_state_line_can_be_fed_back_as_it_is() {
    let full = read(&script(), &["events"], None);
    let line = full
        .stdout
        .lines()
        .find(|line| line.contains(r#""type":"STATE""#))
        .expect("a STATE line");
    let catalog = crate::support::catalog(&["events"]).to_string();
    let resumed = read_files(&script(), "{}", &catalog, Some(line));
    assert_eq!(resumed.exit_code, 0, "{}", resumed.stdout);
    assert_eq!(ids(&resumed, "events"), [2, 3]);
    let listed = read_files(&script(), "{}", &catalog, Some(&format!("[{line}]")));
    assert_eq!(ids(&listed, "events"), [2, 3]);
}
