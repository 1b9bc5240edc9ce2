//! Malformed config, catalog and state files: a clear config error naming the file, exit 1,
//! nothing read, no panic.

use tidemark::protocol::{FailureType, Message, TraceType};

use crate::support::{Script, catalog, read_files};

fn script() -> Script {
    Script {
        events: vec![1, 2],
        ..Script::default()
    }
}

/// The run failed before reading anything, with one config error mentioning `mentions`.
fn fails_with(config: &str, catalog: &str, state: Option<&str>, mentions: &[&str]) {
    let output = read_files(&script(), config, catalog, state);
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    assert_eq!(
        output.messages.len(),
        1,
        "only the error: {}",
        output.stdout
    );
    let Message::Trace { trace } = &output.messages[0] else {
        panic!("expected a TRACE: {}", output.stdout);
    };
    assert_eq!(trace.trace_type, TraceType::Error);
    let error = trace.error.as_ref().expect("error");
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    for word in mentions {
        assert!(
            error.message.contains(word),
            "{:?} lacks {word:?}",
            error.message
        );
    }
    assert!(
        output.stderr.contains("error:"),
        "stderr: {}",
        output.stderr
    );
}

#[test]
fn malformed_config_files() {
    let catalog = catalog(&["events"]).to_string();
    fails_with(
        "{\"a\": ",
        &catalog,
        None,
        &["config file", "is not valid JSON", "line 1"],
    );
    fails_with("", &catalog, None, &["config file", "is empty"]);
    fails_with("  \n", &catalog, None, &["config file", "is empty"]);
    fails_with("[1, 2]", &catalog, None, &["the config", "object"]);
}

#[test]
fn a_missing_config_file() {
    let catalog = crate::support::temp_file("catalog.json", &catalog(&["events"]).to_string());
    let output = tidemark::testing::run(
        &crate::support::Scripted::new(script()),
        &[
            "read",
            "--config",
            "/nonexistent/config.json",
            "--catalog",
            catalog.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert!(
        error.message.contains("/nonexistent/config.json")
            && error.message.contains("cannot be read"),
        "{}",
        error.message
    );
}

#[test]
fn malformed_catalog_files() {
    fails_with(
        "{}",
        "not json",
        None,
        &["catalog file", "is not valid JSON"],
    );
    fails_with("{}", "{}", None, &["catalog file", "streams"]);
    fails_with(
        "{}",
        r#"{"streams": [{"stream": {"name": "events"}, "sync_mode": "sometimes"}]}"#,
        None,
        &["catalog file", "`streams[0].sync_mode`", "sometimes"],
    );
    fails_with(
        "{}",
        r#"{"streams": [{"stream": {}, "sync_mode": "incremental"}]}"#,
        None,
        &["catalog file", "name"],
    );
}

#[test]
fn malformed_state_files() {
    let catalog = catalog(&["events"]).to_string();
    fails_with(
        "{}",
        &catalog,
        Some("[{"),
        &["state file", "is not valid JSON"],
    );
    fails_with("{}", &catalog, Some(""), &["state file", "is empty"]);
    fails_with("{}", &catalog, Some("42"), &["state file", "a number"]);
    fails_with(
        "{}",
        &catalog,
        Some(r#"[{"type": "STREAM", "stream": {"stream_state": {"ts": 1}}}]"#),
        &["state file", "[0]", "stream_descriptor"],
    );
    fails_with(
        "{}",
        &catalog,
        Some(r#"[{"type": "SNAPSHOT"}]"#),
        &["state file", "SNAPSHOT"],
    );
}

#[test]
fn a_stream_configured_twice_is_rejected() {
    let mut twice = catalog(&["events"]);
    let entry = twice["streams"][0].clone();
    twice["streams"]
        .as_array_mut()
        .expect("streams")
        .push(entry);
    fails_with(
        "{}",
        &twice.to_string(),
        None,
        &["configured twice", "events"],
    );
}
