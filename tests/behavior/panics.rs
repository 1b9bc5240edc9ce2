//! A panicking reader is reported like a failing one.

use serde_json::json;
use tidemark::protocol::{FailureType, StreamStatus};
use tidemark::testing::{self, incremental_catalog};
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, first_error};
use crate::table::states;

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "fragile",
    cursor = "id",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Fragile {
    id: u64,
    /// Serializing this record panics halfway through.
    #[serde(serialize_with = "explode_on_six")]
    payload: u64,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "the signature serde's `serialize_with` calls"
)]
fn explode_on_six<S: serde::Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
    assert_ne!(*value, 6, "payload 6 cannot be serialized");
    serializer.serialize_u64(*value)
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "steady", cursor = "id", primary_key = "id")]
pub struct Steady {
    id: u64,
}

/// `fragile` panics in its reader after `panic_after` records, or in a record's serialization.
struct Panicky {
    panic_after: Option<u64>,
}

impl Source for Panicky {
    const NAME: &'static str = "source-panicky";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .stream(move |_slice: &Slice<Fragile>, out: &mut Sink<Fragile>| {
                for id in 1..=10 {
                    assert!(
                        Some(id) != self.panic_after.map(|n| n + 1),
                        "the upstream row vanished"
                    );
                    out.emit(&Fragile { id, payload: id })?;
                }
                Ok(())
            })
            .stream(|_slice: &Slice<Steady>, out: &mut Sink<Steady>| {
                for id in 1..=3 {
                    out.emit(&Steady { id })?;
                }
                Ok(())
            }))
    }
}

#[test]
fn a_panicking_reader_fails_its_stream_and_the_others_go_on() {
    let source = Panicky {
        panic_after: Some(5),
    };
    let output = testing::read(
        &source,
        &json!({}),
        &incremental_catalog(&source, &json!({})),
        None,
    );
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        output.statuses("fragile").last(),
        Some(&StreamStatus::Incomplete)
    );
    assert_eq!(
        output.statuses("steady").last(),
        Some(&StreamStatus::Complete)
    );
    let error = first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(
        error
            .message
            .contains("panicked: the upstream row vanished"),
        "{}",
        error.message
    );
    // States at 2 and 4 (interval), then the safe state at 4 after 5 records: 5 may have ties.
    assert_eq!(states(&output)[..2], [json!({"id": 2}), json!({"id": 4})]);
}

#[test]
fn a_record_that_panics_while_serializing_leaves_no_partial_line_and_is_not_counted() {
    let source = Panicky { panic_after: None };
    let output = testing::read(
        &source,
        &json!({}),
        &incremental_catalog(&source, &json!({})),
        None,
    );
    // Every stdout line parsed as a message (`testing::read` panics otherwise).
    assert_eq!(output.exit_code, 1);
    let fragile: Vec<u64> = output
        .records()
        .iter()
        .filter(|r| r.stream == "fragile")
        .map(|r| r.data["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(fragile, [1, 2, 3, 4, 5]);
    // The failure STATE covers 5 and counts only it: record 6 was admitted but never written.
    let last = output
        .states()
        .into_iter()
        .rfind(|s| {
            s.stream
                .as_ref()
                .is_some_and(|s| s.stream_descriptor.name == "fragile")
        })
        .expect("a state");
    assert_eq!(
        last.stream.as_ref().and_then(|s| s.stream_state.clone()),
        Some(json!({"id": 5}))
    );
    assert_eq!(
        last.source_stats.as_ref().and_then(|s| s.record_count),
        Some(1.0)
    );
    assert!(
        first_error(&output)
            .message
            .contains("payload 6 cannot be serialized")
    );
}

/// A source whose `streams` panics.
struct NoStreams;

impl Source for NoStreams {
    const NAME: &'static str = "source-no-streams";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        panic!("the catalog service is down");
    }
}

#[test]
fn a_panic_building_the_streams_is_a_failed_check_and_a_failed_discover() {
    let dir = std::env::temp_dir().join(format!("tidemark-no-streams-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = dir.join("config.json");
    std::fs::write(&config, "{}").expect("the config");
    let config = config.to_str().expect("a UTF-8 path");

    let check = testing::run(&NoStreams, &["check", "--config", config]);
    assert_eq!(check.exit_code, 0, "{}", check.stdout);
    let status = check
        .messages
        .iter()
        .find_map(|message| match message {
            tidemark::protocol::Message::ConnectionStatus { connection_status } => {
                Some(connection_status)
            }
            _ => None,
        })
        .expect("a CONNECTION_STATUS");
    assert_eq!(status.status, tidemark::protocol::Status::Failed);
    let message = status.message.as_deref().unwrap_or_default();
    assert!(
        message.contains("`streams` panicked: the catalog service is down"),
        "{message}"
    );

    let discover = testing::run(&NoStreams, &["discover", "--config", config]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(discover.exit_code, 1, "{}", discover.stdout);
    let error = first_error(&discover);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(
        error.message.contains("the catalog service is down"),
        "{}",
        error.message
    );
}
