//! A stream registered twice is a connector bug that every command reports at start-up, instead
//! of a catalog listing the stream twice and a reader that never runs.

use serde_json::{Value, json};
use tidemark::protocol::{FailureType, TraceType};
use tidemark::testing::{self, Output};
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, first_error, temp_file};

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "orders", namespace = "shop", cursor = "id")]
pub struct Order {
    id: u64,
}

/// Another record type that declares the same stream (a second version left registered).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "orders", namespace = "shop", cursor = "id")]
pub struct OrderV2 {
    id: u64,
}

/// A stream of the same name in no namespace: a different stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "orders", cursor = "id")]
pub struct PlainOrder {
    id: u64,
}

#[derive(Clone, Copy)]
enum Registration {
    Once,
    SameTypeTwice,
    TwoTypesOneStream,
    SameNameOtherNamespace,
}

struct Shop(Registration);

fn read_orders(_slice: &Slice<Order>, out: &mut Sink<Order>) -> Result<(), Error> {
    out.emit(&Order { id: 1 })
}

impl Source for Shop {
    const NAME: &'static str = "source-shop";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let streams = Streams::new().stream(read_orders);
        Ok(match self.0 {
            Registration::Once => streams,
            Registration::SameTypeTwice => streams.stream(read_orders),
            Registration::TwoTypesOneStream => {
                streams.stream(|_slice: &Slice<OrderV2>, out: &mut Sink<OrderV2>| {
                    out.emit(&OrderV2 { id: 1 })
                })
            }
            Registration::SameNameOtherNamespace => {
                streams.stream(|_slice: &Slice<PlainOrder>, out: &mut Sink<PlainOrder>| {
                    out.emit(&PlainOrder { id: 1 })
                })
            }
        })
    }
}

/// Runs `command` with an empty config (and, for `read`, a catalog selecting every stream the
/// source lists, or only `shop.orders` when it registers a stream twice).
fn run(registration: Registration, command: &str) -> Output {
    let config = temp_file("config.json", "{}");
    let config = config.to_str().expect("utf-8 path");
    let listed = match registration {
        Registration::Once | Registration::SameNameOtherNamespace => registration,
        Registration::SameTypeTwice | Registration::TwoTypesOneStream => Registration::Once,
    };
    let catalog = testing::incremental_catalog(&Shop(listed), &json!({}));
    let catalog = temp_file("catalog.json", &catalog.to_string());
    let catalog = catalog.to_str().expect("utf-8 path");
    let mut args = vec![command, "--config", config];
    if command == "read" {
        args.extend(["--catalog", catalog]);
    }
    testing::run(&Shop(registration), &args)
}

fn assert_reports_the_duplicate(registration: Registration) {
    for command in ["discover", "read"] {
        let output = run(registration, command);
        assert_eq!(output.exit_code, 1, "{command}: {}", output.stdout);
        assert_eq!(
            output.messages.len(),
            1,
            "{command}: only the error: {}",
            output.stdout
        );
        let error = first_error(&output);
        assert_eq!(error.failure_type, Some(FailureType::SystemError));
        assert!(
            error.message.contains("stream `shop.orders`") && error.message.contains("twice"),
            "{command}: {}",
            error.message
        );
        assert!(output.stderr.contains("shop.orders"), "{}", output.stderr);
    }
    let check = run(registration, "check");
    assert_eq!(check.exit_code, 0);
    let status: Value = serde_json::from_str(check.stdout.trim()).expect("one message");
    assert_eq!(status["connectionStatus"]["status"], "FAILED");
    let message = status["connectionStatus"]["message"]
        .as_str()
        .expect("a message");
    assert!(
        message.contains("stream `shop.orders`") && message.contains("twice"),
        "{message}"
    );
}

#[test]
fn a_record_type_registered_twice_is_reported_by_every_command() {
    assert_reports_the_duplicate(Registration::SameTypeTwice);
}

#[test]
fn two_record_types_declaring_one_stream_are_reported_by_every_command() {
    assert_reports_the_duplicate(Registration::TwoTypesOneStream);
}

#[test]
fn one_name_in_two_namespaces_is_two_streams() {
    let discover = run(Registration::SameNameOtherNamespace, "discover");
    assert_eq!(discover.exit_code, 0, "{}", discover.stdout);
    let catalog: Value = serde_json::from_str(discover.stdout.trim()).expect("one message");
    let streams: Vec<(&str, Option<&str>)> = catalog["catalog"]["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|stream| {
            (
                stream["name"].as_str().expect("name"),
                stream["namespace"].as_str(),
            )
        })
        .collect();
    assert_eq!(streams, [("orders", Some("shop")), ("orders", None)]);
    for command in ["check", "read"] {
        let output = run(Registration::SameNameOtherNamespace, command);
        assert_eq!(output.exit_code, 0, "{command}: {}", output.stdout);
        assert!(
            output.traces(TraceType::Error).is_empty(),
            "{}",
            output.stdout
        );
    }
    let check = run(Registration::SameNameOtherNamespace, "check");
    assert!(check.stdout.contains("SUCCEEDED"), "{}", check.stdout);
    let read = run(Registration::SameNameOtherNamespace, "read");
    let read_streams: Vec<(&str, Option<&str>)> = read
        .records()
        .iter()
        .map(|record| (record.stream.as_str(), record.namespace.as_deref()))
        .collect();
    assert_eq!(read_streams, [("orders", Some("shop")), ("orders", None)]);
    let check = run(Registration::Once, "check");
    assert!(check.stdout.contains("SUCCEEDED"), "{}", check.stdout);
}
