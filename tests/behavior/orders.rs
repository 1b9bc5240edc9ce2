//! The `orders` example, run in-process with its own config and catalog files.

use serde_json::{Value, json};
use tidemark::protocol::{FailureType, Status};
use tidemark::testing::{self, Output};

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../../examples/orders/main.rs"]
mod example;

use example::Order;
pub(crate) use example::OrdersSource;

fn example_file(name: &str) -> String {
    format!("{}/examples/orders/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read_with_count(count: u64, state: Option<&Value>) -> Output {
    let config = json!({ "count": count });
    let catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(example_file("catalog.json")).expect("catalog.json"),
    )
    .expect("catalog.json is JSON");
    testing::read(&OrdersSource, &config, &catalog, state)
}

fn watermarks(output: &Output) -> Vec<(String, f64)> {
    output
        .states()
        .into_iter()
        .map(|state| {
            let stream = state.stream.as_ref().expect("STREAM state");
            (
                stream.stream_state.as_ref().expect("state")["updated_at"]
                    .as_str()
                    .expect("a timestamp")
                    .to_owned(),
                state
                    .source_stats
                    .as_ref()
                    .and_then(|s| s.record_count)
                    .expect("count"),
            )
        })
        .collect()
}

#[test]
fn the_readme_command_prints_the_records_and_states() {
    let output = testing::run(
        &OrdersSource,
        &[
            "read",
            "--config",
            &example_file("config.json"),
            "--catalog",
            &example_file("catalog.json"),
        ],
    );
    assert_eq!(output.exit_code, 0, "{}", output.stderr);
    assert_eq!(output.records().len(), 1000);
    assert_eq!(
        watermarks(&output),
        [
            ("2024-01-01T00:08:19Z".to_owned(), 500.0),
            ("2024-01-01T00:16:39Z".to_owned(), 500.0)
        ]
    );
    // The record shape of the benchmark: key order, types and the timestamp format.
    let first = output
        .stdout
        .lines()
        .find(|line| line.contains("RECORD"))
        .expect("a record");
    assert!(
        first.starts_with(
            r#"{"type":"RECORD","record":{"stream":"orders","data":{"id":0,"updated_at":"2024-01-01T00:00:00Z","customer_id":0,"status":"pending","amount_cents":0,"currency":"USD","sku":"SKU-0","quantity":1,"note":"synthetic order row for throughput bench","is_gift":true},"emitted_at":"#
        ),
        "{first}"
    );
    for (i, record) in output.records().iter().enumerate() {
        let expected = serde_json::to_value(Order::synthetic(i as u64)).expect("serializes");
        assert_eq!(record.data, expected);
    }
    assert_eq!(output.statuses("orders").len(), 3);
}

#[test]
fn resuming_from_any_emitted_state_continues_exactly_after_it() {
    let full = read_with_count(1234, None);
    let states = watermarks(&full);
    assert_eq!(states.len(), 3, "{states:?}");
    let mut covered = 0;
    for (index, (_, count)) in states.iter().enumerate() {
        let count: u64 = count
            .to_string()
            .parse()
            .expect("a whole number of records");
        covered += count;
        let resumed = read_with_count(1234, Some(&full.state_file_at(index)));
        let ids: Vec<u64> = resumed
            .records()
            .iter()
            .map(|r| r.data["id"].as_u64().expect("id"))
            .collect();
        let expected: Vec<u64> = (covered..1234).collect();
        assert_eq!(ids, expected, "resumed from STATE #{index}");
    }
    assert_eq!(covered, 1234, "recordCount adds up to the records emitted");
}

#[test]
fn a_count_that_is_not_a_number_is_a_config_error_naming_it() {
    let catalog = std::fs::read_to_string(example_file("catalog.json")).expect("catalog");
    for config in [r#"{"count": "many"}"#, r#"{"count": -3}"#, "{}"] {
        let config_path = crate::support::temp_file("config.json", config);
        let catalog_path = crate::support::temp_file("catalog.json", &catalog);
        let output = testing::run(
            &OrdersSource,
            &[
                "read",
                "--config",
                config_path.to_str().expect("utf-8"),
                "--catalog",
                catalog_path.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(output.exit_code, 1, "{config}");
        assert_eq!(output.messages.len(), 1, "{}", output.stdout);
        let error = crate::support::first_error(&output);
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(
            error.message.contains("count"),
            "{config}: {}",
            error.message
        );
    }
}

#[test]
fn check_fails_with_a_clear_message_for_a_negative_count() {
    let good = testing::run(
        &OrdersSource,
        &["check", "--config", &example_file("config.json")],
    );
    assert_eq!(good.exit_code, 0);
    let negative = crate::support::temp_file("config.json", r#"{"count": -1}"#);
    let output = testing::run(
        &OrdersSource,
        &["check", "--config", negative.to_str().expect("utf-8")],
    );
    assert_eq!(output.exit_code, 0, "check reports, it does not fail");
    let tidemark::protocol::Message::ConnectionStatus { connection_status } = &output.messages[0]
    else {
        panic!("expected CONNECTION_STATUS: {}", output.stdout);
    };
    assert_eq!(connection_status.status, Status::Failed);
    let message = connection_status.message.as_deref().expect("a message");
    assert!(
        message.contains("`count`") && message.contains("-1"),
        "{message}"
    );
}

#[test]
fn a_state_whose_cursor_is_not_a_timestamp_is_a_config_error_naming_the_stream() {
    for cursor in [
        json!("last tuesday"),
        json!(1_704_067_200),
        json!("2024-13-01T00:00:00Z"),
    ] {
        let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"updated_at": cursor}}}]);
        let output = read_with_count(10, Some(&state));
        assert_eq!(output.exit_code, 1);
        assert!(output.records().is_empty());
        let error = crate::support::first_error(&output);
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(error.message.contains("`orders`"), "{}", error.message);
    }
}

#[test]
fn discover_lists_the_stream_with_its_cursor_and_key() {
    let output = testing::run(
        &OrdersSource,
        &["discover", "--config", &example_file("config.json")],
    );
    assert_eq!(output.exit_code, 0);
    let tidemark::protocol::Message::Catalog { catalog } = &output.messages[0] else {
        panic!("expected CATALOG: {}", output.stdout);
    };
    let stream = &catalog.streams[0];
    assert_eq!(stream.name, "orders");
    assert_eq!(
        stream.default_cursor_field,
        Some(vec!["updated_at".to_owned()])
    );
    assert_eq!(
        stream.source_defined_primary_key,
        Some(vec![vec!["id".to_owned()]])
    );
    assert_eq!(
        stream.json_schema["properties"]["updated_at"]["format"],
        "date-time"
    );
    assert_eq!(stream.is_resumable, Some(true));
}
