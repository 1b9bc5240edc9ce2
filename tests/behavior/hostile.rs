//! Hostile input: the config, catalog and state readers never panic and never read without
//! bound; every bad file is a config error naming the file and the problem.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::protocol::{FailureType, Message, TraceType};
use tidemark::testing::{self, Output};

use crate::support::{Script, Scripted, catalog, temp_file};

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = temp_file(name, "");
    std::fs::write(&path, bytes).expect("written");
    path
}

/// Runs `read` with these files; the run must not panic.
fn read(config: &Path, catalog: &Path, state: Option<&Path>) -> Output {
    let mut args = vec![
        "read".to_owned(),
        "--config".to_owned(),
        config.display().to_string(),
        "--catalog".to_owned(),
        catalog.display().to_string(),
    ];
    if let Some(state) = state {
        args.extend(["--state".to_owned(), state.display().to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let source = Scripted::new(Script {
        events: vec![1, 2, 3],
        ..Script::default()
    });
    testing::run(&source, &args)
}

fn valid_config() -> PathBuf {
    write("config.json", b"{}")
}

fn valid_catalog() -> PathBuf {
    write("catalog.json", catalog(&["events"]).to_string().as_bytes())
}

/// The run's one config error, which must mention each of `words`.
fn config_error(output: &Output, words: &[&str]) {
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    let errors = output.traces(TraceType::Error);
    assert_eq!(errors.len(), 1, "{}", output.stdout);
    let error = errors[0].error.as_ref().expect("an error");
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    for word in words {
        assert!(
            error.message.contains(word),
            "{:?} lacks {word:?}",
            error.message
        );
    }
    assert!(output.records().is_empty());
}

#[test]
fn huge_numbers_are_errors_naming_the_field_or_file() {
    let big = write("state.json", br#"{"events": {"ts": 1e999}}"#);
    config_error(
        &read(&valid_config(), &valid_catalog(), Some(&big)),
        &["state file", "number out of range"],
    );
    let big = write("state.json", br#"{"events": {"ts": 18446744073709551616}}"#);
    config_error(
        &read(&valid_config(), &valid_catalog(), Some(&big)),
        &["events", "ts"],
    );
}

#[test]
fn deep_nesting_stops_at_the_parser_limit() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (name, kind) in [
        ("config.json", "config file"),
        ("catalog.json", "catalog file"),
        ("state.json", "state file"),
    ] {
        let file = write(name, deep.as_bytes());
        let output = match name {
            "config.json" => read(&file, &valid_catalog(), None),
            "catalog.json" => read(&valid_config(), &file, None),
            _ => read(&valid_config(), &valid_catalog(), Some(&file)),
        };
        config_error(&output, &[kind, "recursion limit exceeded"]);
    }
}

#[test]
fn invalid_utf8_is_an_error_naming_the_file() {
    let file = write("catalog.json", b"{\"streams\": [\"\xff\xfe\"]}");
    config_error(
        &read(&valid_config(), &file, None),
        &["catalog file", "is not valid JSON"],
    );
}

#[test]
fn wrong_types_are_errors_naming_the_file_and_the_place() {
    let file = write("catalog.json", br#"{"streams": 5}"#);
    config_error(
        &read(&valid_config(), &file, None),
        &["catalog file", "streams"],
    );
    let file = write("state.json", br#"{"events": {"ts": "yesterday"}}"#);
    config_error(
        &read(&valid_config(), &valid_catalog(), Some(&file)),
        &["events", "ts"],
    );
    let file = write("state.json", b"42");
    config_error(
        &read(&valid_config(), &valid_catalog(), Some(&file)),
        &["state file"],
    );
}

#[cfg(unix)]
#[test]
fn an_endless_file_is_not_read_without_bound() {
    let output = read(
        &valid_config(),
        &valid_catalog(),
        Some(Path::new("/dev/zero")),
    );
    config_error(&output, &["state file", "/dev/zero", "larger than 64 MiB"]);
}

#[test]
fn a_directory_is_an_error_naming_the_file() {
    let dir = std::env::temp_dir();
    config_error(
        &read(&dir, &valid_catalog(), None),
        &["config file", "cannot be read"],
    );
}

/// What any input may do: exit 0, or exit 1 with exactly one config error before any record.
fn survives(output: &Output) -> Result<(), TestCaseError> {
    if output.exit_code == 0 {
        return Ok(());
    }
    prop_assert_eq!(output.exit_code, 1);
    let first = output.messages.first().expect("a message");
    let Message::Trace { trace } = first else {
        return Err(TestCaseError::fail(format!(
            "expected an error first: {}",
            output.stdout
        )));
    };
    let error = trace.error.as_ref().expect("an error");
    prop_assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    Ok(())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::String),
        Just(json!("events")),
        Just(json!("STREAM")),
        Just(json!("GLOBAL")),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    "[a-z_]{1,10}",
                    Just("type".to_owned()),
                    Just("stream".to_owned()),
                    Just("stream_state".to_owned()),
                    Just("stream_descriptor".to_owned()),
                    Just("name".to_owned()),
                    Just("ts".to_owned()),
                    Just("streams".to_owned()),
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_in_any_input_file_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), which in 0..3_u8) {
        let file = write("input.json", &bytes);
        let output = match which {
            0 => read(&file, &valid_catalog(), None),
            1 => read(&valid_config(), &file, None),
            _ => read(&valid_config(), &valid_catalog(), Some(&file)),
        };
        survives(&output)?;
    }

    #[test]
    fn arbitrary_json_in_any_input_file_never_panics(value in json_value(), which in 0..3_u8) {
        let file = write("input.json", value.to_string().as_bytes());
        let output = match which {
            0 => read(&file, &valid_catalog(), None),
            1 => read(&valid_config(), &file, None),
            _ => read(&valid_config(), &valid_catalog(), Some(&file)),
        };
        survives(&output)?;
    }
}
