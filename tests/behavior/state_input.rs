//! Input state beyond the common forms: cursors past 64 bits read back exactly, shapes the
//! runtime does not recognise are config errors, and legacy state reaches namespaced streams.

use serde_json::json;
use tidemark::protocol::{FailureType, Message};
use tidemark::testing::{self, Output};
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, Script, ids, read, read_files, read_files_of};

/// A record of the `big` stream: a `u128` cursor, a STATE after every record.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "big", cursor = "n", checkpoint_interval = 1)]
pub struct Big {
    pub n: u128,
}

/// A record of the `low` stream: an `i128` cursor, a STATE after every record.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "low", cursor = "n", checkpoint_interval = 1)]
pub struct Low {
    pub n: i128,
}

/// A record of the `ledger` stream, which lives in the `shop` namespace.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "ledger", namespace = "shop", cursor = "ts")]
pub struct Entry {
    pub ts: u64,
}

const TWO_64: u128 = 1 << 64;
const BIG: [u128; 6] = [
    TWO_64 - 1,
    TWO_64,
    TWO_64 + 1,
    u128::MAX - 2,
    u128::MAX - 1,
    u128::MAX,
];
const LOW: [i128; 6] = [
    i128::MIN,
    i128::MIN + 1,
    i64::MIN as i128 - 2,
    i64::MIN as i128 - 1,
    i64::MIN as i128,
    0,
];

/// The three streams above, each returning its values past the slice's lower bound.
struct Wide;

impl Source for Wide {
    const NAME: &'static str = "source-wide";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .stream(|slice: &Slice<Big>, out: &mut Sink<Big>| {
                for n in BIG {
                    if slice.after().is_none_or(|&after| n > after) {
                        out.emit(&Big { n })?;
                    }
                }
                Ok(())
            })
            .stream(|slice: &Slice<Low>, out: &mut Sink<Low>| {
                for n in LOW {
                    if slice.after().is_none_or(|&after| n > after) {
                        out.emit(&Low { n })?;
                    }
                }
                Ok(())
            })
            .stream(|slice: &Slice<Entry>, out: &mut Sink<Entry>| {
                for ts in 1..=4 {
                    if slice.after().is_none_or(|&after| ts > after) {
                        out.emit(&Entry { ts })?;
                    }
                }
                Ok(())
            }))
    }
}

/// Runs `read` of `stream` as a process would, with the state file holding `state`.
fn read_wide(stream: &str, state: Option<&str>) -> Output {
    let catalog = testing::incremental_catalog(&Wide, &json!({}));
    let selected: Vec<serde_json::Value> = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter(|s| s["stream"]["name"] == stream)
        .cloned()
        .collect();
    let catalog = json!({ "streams": selected }).to_string();
    read_files_of(&Wide, "{}", &catalog, state)
}

/// The `data` of each RECORD line, as printed (a parsed `Value` would round big integers).
fn printed_data(output: &Output) -> Vec<String> {
    output
        .stdout
        .lines()
        .filter(|line| line.starts_with(r#"{"type":"RECORD""#))
        .map(|line| {
            let start = line.find(r#""data":"#).expect("data") + r#""data":"#.len();
            let end = line.rfind(r#","emitted_at""#).expect("emitted_at");
            line[start..end].to_owned()
        })
        .collect()
}

/// Every STATE line the full read of `stream` prints, fed back as the state file, resumes
/// right after the record it follows, with the watermark written exactly.
fn every_state_resumes_exactly(stream: &str, values: &[String]) {
    let full = read_wide(stream, None);
    assert_eq!(full.exit_code, 0, "{}", full.stdout);
    let expected: Vec<String> = values.iter().map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    assert_eq!(printed_data(&full), expected);
    let states: Vec<&str> = full
        .stdout
        .lines()
        .filter(|line| line.starts_with(r#"{"type":"STATE""#))
        .collect();
    for (index, value) in values.iter().enumerate() {
        let line = states[index];
        assert!(
            line.contains(&format!(r#""stream_state":{{"n":{value}}}"#)),
            "{line}"
        );
        let resumed = read_wide(stream, Some(line));
        assert_eq!(
            resumed.exit_code, 0,
            "resuming from {line}: {}",
            resumed.stdout
        );
        assert_eq!(
            printed_data(&resumed),
            expected[index + 1..],
            "resuming from {line}"
        );
    }
}

#[test]
fn u128_cursors_past_64_bits_resume_from_their_own_state() {
    let values: Vec<String> = BIG.iter().map(u128::to_string).collect();
    every_state_resumes_exactly("big", &values);
}

#[test]
fn i128_cursors_below_i64_min_resume_from_their_own_state() {
    let values: Vec<String> = LOW.iter().map(i128::to_string).collect();
    every_state_resumes_exactly("low", &values);
}

#[test]
fn a_state_past_the_cursor_type_is_still_refused_naming_the_stream() {
    let too_big = format!(
        r#"[{{"type":"STREAM","stream":{{"stream_descriptor":{{"name":"big"}},"stream_state":{{"n":{}0}}}}}}]"#,
        u128::MAX
    );
    let output = read_wide("big", Some(&too_big));
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(
        error.message.contains("`big`") && error.message.contains(&format!("{}0", u128::MAX)),
        "{}",
        error.message
    );
}

fn events_script() -> Script {
    Script {
        events: vec![1, 2, 3, 4],
        ..Script::default()
    }
}

/// The run stops before reading with one config error that names the state file and
/// mentions each of `words`.
fn refused(state: &str, words: &[&str]) {
    let catalog = crate::support::catalog(&["events"]).to_string();
    let output = read_files(&events_script(), "{}", &catalog, Some(state));
    assert_eq!(output.exit_code, 1, "state {state}: {}", output.stdout);
    assert!(
        output.records().is_empty(),
        "state {state}: {}",
        output.stdout
    );
    assert_eq!(output.messages.len(), 1, "state {state}: {}", output.stdout);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    for word in ["state file", "state.json"].iter().chain(words) {
        assert!(
            error.message.contains(word),
            "state {state}: {:?} lacks {word:?}",
            error.message
        );
    }
}

#[test]
fn an_entry_of_no_known_shape_is_a_config_error_naming_it() {
    refused(r#"[{"foo": 1}]"#, &["state message [0]", "foo"]);
    refused(
        r#"[{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 1}}}, {"foo": 1}]"#,
        &["state message [1]", "foo"],
    );
    // One per line, as JSON Lines.
    refused(
        "{\"type\": \"STREAM\", \"stream\": {\"stream_descriptor\": {\"name\": \"events\"}}}\n{\"foo\": 1}",
        &["state message [1]", "foo"],
    );
}

#[test]
fn the_no_cursor_sentinel_beside_a_cursor_is_a_config_error() {
    let entry = r#"{"stream_descriptor": {"name": "events"}, "stream_state": {"__ab_no_cursor_state_message": true, "ts": 2}}"#;
    refused(
        &format!(r#"[{{"type": "STREAM", "stream": {entry}}}]"#),
        &[
            "state message [0]",
            "events",
            "__ab_no_cursor_state_message",
            "`ts`",
        ],
    );
    refused(
        &format!(r#"{{"type": "GLOBAL", "global": {{"stream_states": [{entry}]}}}}"#),
        &["__ab_no_cursor_state_message", "`ts`"],
    );
    refused(
        r#"{"events": {"__ab_no_cursor_state_message": true, "ts": 2}}"#,
        &["events", "__ab_no_cursor_state_message", "`ts`"],
    );
}

#[test]
fn bare_stream_states_in_a_list_are_understood() {
    let state = json!([
        {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}},
        {"stream_descriptor": {"name": "notes"}, "stream_state": {"id": 1}},
    ]);
    let script = Script {
        notes: 3,
        ..events_script()
    };
    let output = read(&script, &["events", "notes"], Some(&state));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output, "events"), [2, 3]);
    assert_eq!(ids(&output, "notes"), [2, 3]);
    // One on its own, as the whole file.
    let catalog = crate::support::catalog(&["events"]).to_string();
    let alone = r#"{"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}}"#;
    let output = read_files(&events_script(), "{}", &catalog, Some(alone));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(ids(&output, "events"), [2, 3]);
}

/// The `ts` of each record of the namespaced `ledger` stream.
fn ledger(output: &Output) -> Vec<u64> {
    output
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::Record { record } => {
                assert_eq!(record.namespace.as_deref(), Some("shop"));
                record.data["ts"].as_u64()
            }
            _ => None,
        })
        .collect()
}

#[test]
fn legacy_state_applies_to_a_namespaced_stream() {
    for state in [
        r#"{"ledger": {"ts": 2}}"#,
        r#"[{"type": "LEGACY", "data": {"ledger": {"ts": 2}}}]"#,
    ] {
        let output = read_wide("ledger", Some(state));
        assert_eq!(output.exit_code, 0, "state {state}: {}", output.stdout);
        assert_eq!(ledger(&output), [3, 4], "state {state}");
    }
    // A STREAM state with the exact descriptor wins over the legacy entry, in either order.
    let stream = r#"{"type": "STREAM", "stream": {"stream_descriptor": {"name": "ledger", "namespace": "shop"}, "stream_state": {"ts": 3}}}"#;
    let legacy = r#"{"type": "LEGACY", "data": {"ledger": {"ts": 1}}}"#;
    for state in [
        format!("[{stream}, {legacy}]"),
        format!("[{legacy}, {stream}]"),
    ] {
        let output = read_wide("ledger", Some(&state));
        assert_eq!(ledger(&output), [4], "state {state}");
    }
}

#[test]
fn state_lines_are_printed_byte_for_byte_as_before() {
    let big = read_wide("big", None);
    let first = big
        .stdout
        .lines()
        .find(|line| line.contains(r#""type":"STATE""#))
        .expect("a STATE");
    assert_eq!(
        first,
        r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"big"},"stream_state":{"n":18446744073709551615}},"sourceStats":{"recordCount":1.0}}}"#
    );
    let ledger = read_wide("ledger", None);
    let last = ledger
        .stdout
        .lines()
        .rfind(|line| line.contains(r#""type":"STATE""#))
        .expect("a STATE");
    assert_eq!(
        last,
        r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"ledger","namespace":"shop"},"stream_state":{"ts":4}},"sourceStats":{"recordCount":4.0}}}"#
    );
}

#[test]
fn the_crash_test_resumes_cursors_past_64_bits_exactly() {
    let catalog = testing::incremental_catalog(&Wide, &json!({}));
    let report = testing::CrashTest::new(&Wide, &json!({}), &catalog).assert();
    assert_eq!(report.records, BIG.len() + LOW.len() + 4);
}
