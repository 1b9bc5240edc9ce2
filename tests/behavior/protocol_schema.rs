//! Every message the connectors print validates against the official Airbyte protocol schema
//! (read from the shared directory's `protocol/`), both as published and with unknown fields
//! forbidden, so a misspelt field cannot hide behind `additionalProperties: true`.

use serde_json::{Value, json};

use crate::orders_fixture;
use crate::support::{Script, Scripted};
use tidemark::testing;

/// Validators for `AirbyteMessage`: as published, and strict; `None` when the schema is
/// missing outside CI (see [`crate::shared::read`]).
pub(crate) fn validators() -> Option<(jsonschema::Validator, jsonschema::Validator)> {
    let text = crate::shared::read(
        "protocol/airbyte_protocol.schema.json",
        "the Airbyte protocol schema",
    )?;
    let schema: Value = serde_json::from_str(&text).expect("the protocol schema is JSON");
    let definitions = schema["definitions"].clone();
    let message = |definitions: Value| {
        jsonschema::validator_for(&json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$ref": "#/definitions/AirbyteMessage",
            "definitions": definitions,
        }))
        .expect("the protocol schema compiles")
    };
    let mut strict = definitions.clone();
    for definition in strict.as_object_mut().expect("definitions").values_mut() {
        if definition.get("properties").is_some() {
            definition["additionalProperties"] = json!(false);
        }
    }
    Some((message(definitions), message(strict)))
}

pub(crate) fn assert_valid(
    validators: &(jsonschema::Validator, jsonschema::Validator),
    output: &testing::Output,
) {
    assert!(!output.stdout.is_empty());
    for line in output.stdout.lines() {
        let message: Value = serde_json::from_str(line).expect("JSON line");
        for validator in [&validators.0, &validators.1] {
            let errors: Vec<String> = validator
                .iter_errors(&message)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{line}\n{errors:#?}");
        }
    }
}

#[test]
fn every_message_of_every_command_validates_against_the_protocol_schema() {
    let Some(validators) = validators() else {
        return;
    };
    let (config, catalog) = orders_fixture::paths();
    let bad_config = crate::support::temp_file("config.json", r#"{"count": "many"}"#);
    let negative = crate::support::temp_file("config.json", r#"{"count": -1}"#);
    let state = crate::support::temp_file(
        "state.json",
        r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"orders"},"stream_state":{"updated_at":"2024-01-01T00:08:19Z"}}}]"#,
    );
    let bad = bad_config.to_str().expect("utf-8");
    let runs: Vec<Vec<&str>> = vec![
        vec!["spec"],
        vec!["check", "--config", &config],
        vec!["check", "--config", negative.to_str().expect("utf-8")],
        vec!["discover", "--config", &config],
        vec!["discover", "--config", bad],
        vec!["read", "--config", &config, "--catalog", &catalog],
        vec![
            "read",
            "--config",
            &config,
            "--catalog",
            &catalog,
            "--state",
            state.to_str().expect("utf-8"),
        ],
        vec!["read", "--config", bad, "--catalog", &catalog],
    ];
    for args in runs {
        let output = testing::run(&orders_fixture::OrdersSource, &args);
        assert_valid(&validators, &output);
    }
    // A failing read: error traces, an incomplete stream, a safe state, a missing stream.
    let failing = Scripted::new(Script {
        events: vec![1, 2, 3, 4, 5],
        fail_after: Some(4),
        notes: 2,
        ..Script::default()
    });
    let mut catalog = crate::support::catalog(&["events", "notes"]);
    let mut ghost = catalog["streams"][0].clone();
    ghost["stream"]["name"] = json!("ghosts");
    ghost["stream"]["namespace"] = json!("elsewhere");
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .push(ghost);
    let output = testing::read(&failing, &json!({}), &catalog, None);
    assert_eq!(output.exit_code, 1);
    assert_valid(&validators, &output);
}
