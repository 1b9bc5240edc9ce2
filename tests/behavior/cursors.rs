//! `lookback`, `Option` cursors with `on_null`, compound cursors, renamed fields.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tidemark::protocol::{FailureType, StreamStatus};
use tidemark::testing;

use crate::support::first_error;
use crate::table::{Table, TableSource, column, states};

/// Re-reads 3 versions before the saved one on every sync.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "versions",
    cursor = "v",
    primary_key = "id",
    lookback = 3,
    checkpoint_interval = 2
)]
pub struct Version {
    id: u64,
    v: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "strict", cursor = "v", primary_key = "id", on_null = "fail")]
pub struct Strict {
    id: u64,
    v: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "lenient",
    cursor = "v",
    primary_key = "id",
    on_null = "skip"
)]
pub struct Lenient {
    id: u64,
    v: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "keeping",
    cursor = "v",
    primary_key = "id",
    on_null = "emit"
)]
pub struct Keeping {
    id: u64,
    v: Option<u64>,
}

/// A keyset cursor: `updated_at` has ties, `(updated_at, id)` has none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "changes",
    cursor = ["updated_at", "id"],
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Change {
    id: u64,
    updated_at: DateTime<Utc>,
}

/// Field names in catalog and state follow serde.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[tidemark::incremental_stream(name = "renamed", cursor = ["updated_at", "seq"], primary_key = "record_id")]
pub struct Renamed {
    record_id: u64,
    updated_at: u64,
    #[serde(rename = "sequence_no")]
    seq: u64,
}

fn versions(vs: &[u64]) -> Vec<Version> {
    vs.iter()
        .enumerate()
        .map(|(id, &v)| Version { id: id as u64, v })
        .collect()
}

fn values(output: &testing::Output, field: &str) -> Vec<u64> {
    column(output, field)
        .iter()
        .map(|value| value.as_u64().expect("an integer"))
        .collect()
}

#[test]
fn lookback_resends_the_overlap_and_never_moves_the_watermark_backwards() {
    let first = TableSource::new(Table::new(versions(&[1, 2, 3, 4, 5, 6]))).read(None);
    assert_eq!(states(&first).last(), Some(&json!({"v": 6})));

    // Since then: a late row with v = 5 (committed after the first sync read past it) and new rows.
    let mut rows = versions(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    rows.insert(5, Version { id: 99, v: 5 });
    let second = TableSource::new(Table::new(rows))
        .read(Some(&first.state_file_at(first.states().len() - 1)));
    assert_eq!(second.exit_code, 0, "{}", second.stdout);
    // Everything above 6 - 3 = 3 is read: 4, 5, 6 again (expected duplicates) and the late row.
    assert_eq!(values(&second, "v"), [4, 5, 5, 6, 7, 8, 9]);
    assert!(values(&second, "id").contains(&99));
    let watermarks: Vec<u64> = states(&second)
        .iter()
        .map(|state| state["v"].as_u64().expect("v"))
        .collect();
    assert!(watermarks.iter().all(|&v| v >= 6), "{watermarks:?}");
    assert!(watermarks.is_sorted(), "{watermarks:?}");
    assert_eq!(watermarks.last(), Some(&9));
}

#[test]
fn on_null_fail_stops_the_stream_naming_the_field() {
    let rows = vec![
        Strict { id: 1, v: Some(1) },
        Strict { id: 2, v: None },
        Strict { id: 3, v: Some(2) },
    ];
    let output = TableSource::new(Table::new(rows)).read(None);
    assert_eq!(output.exit_code, 1);
    assert_eq!(values(&output, "id"), [1]);
    assert_eq!(
        output.statuses("strict").last(),
        Some(&StreamStatus::Incomplete)
    );
    let error = first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::SystemError));
    assert!(error.message.contains("`v`"), "{}", error.message);
    // Nothing below the last emitted value is known complete beyond the start: no STATE.
    assert!(output.states().is_empty());
}

#[test]
fn on_null_skip_drops_the_record() {
    let rows = vec![
        Lenient { id: 1, v: Some(1) },
        Lenient { id: 2, v: None },
        Lenient { id: 3, v: Some(2) },
    ];
    let output = TableSource::new(Table::new(rows)).read(None);
    assert_eq!(output.exit_code, 0);
    assert_eq!(values(&output, "id"), [1, 3]);
    assert_eq!(states(&output), [json!({"v": 2})]);
}

#[test]
fn on_null_emit_sends_the_record_without_touching_the_watermark() {
    let rows = || {
        vec![
            Keeping { id: 1, v: Some(1) },
            Keeping { id: 2, v: None },
            Keeping { id: 3, v: Some(2) },
        ]
    };
    let first = TableSource::new(Table::new(rows())).read(None);
    assert_eq!(first.exit_code, 0);
    assert_eq!(values(&first, "id"), [1, 2, 3]);
    assert_eq!(column(&first, "v")[1], Value::Null);
    assert_eq!(states(&first), [json!({"v": 2})]);
    let count = first.states()[0]
        .source_stats
        .as_ref()
        .and_then(|s| s.record_count);
    assert_eq!(count, Some(3.0));

    // The next sync resumes after 2; the record without a cursor comes again.
    let second = TableSource::new(Table::new(rows())).read(Some(&first.state_file_at(0)));
    assert_eq!(values(&second, "id"), [2]);
    assert_eq!(states(&second), [json!({"v": 2})]);
}

fn changes() -> Vec<Change> {
    let at = |text: &str| -> DateTime<Utc> { text.parse().expect("RFC 3339") };
    let t1 = at("2024-05-01T10:00:00Z");
    let t2 = at("2024-05-01T11:00:00Z");
    let t3 = at("2024-05-01T12:00:00Z");
    [(t1, 1), (t1, 2), (t1, 3), (t2, 4), (t2, 5), (t3, 6)]
        .into_iter()
        .map(|(updated_at, id)| Change { id, updated_at })
        .collect()
}

#[test]
fn a_compound_cursor_checkpoints_inside_a_timestamp_tie_and_resumes_after_the_pair() {
    let first = TableSource::new(Table::new(changes())).read(None);
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    assert_eq!(
        states(&first),
        [
            json!({"updated_at": "2024-05-01T10:00:00Z", "id": 2}),
            json!({"updated_at": "2024-05-01T11:00:00Z", "id": 4}),
            json!({"updated_at": "2024-05-01T12:00:00Z", "id": 6}),
        ]
    );
    // Resume from every STATE, with a reader that filters and one that returns everything:
    // exactly the records after the pair come, whatever the tie.
    for index in 0..first.states().len() {
        let state = first.state_file_at(index);
        let expected: Vec<u64> = values(&first, "id")
            .into_iter()
            .skip(2 * (index + 1))
            .collect();
        for sloppy in [false, true] {
            let mut table = Table::new(changes());
            table.sloppy = sloppy;
            let resumed = TableSource::new(table).read(Some(&state));
            assert_eq!(
                values(&resumed, "id"),
                expected,
                "from STATE {index}, sloppy {sloppy}"
            );
        }
    }
}

#[test]
fn a_compound_state_missing_a_part_is_an_error_not_a_full_reread() {
    let state = json!({"changes": {"updated_at": "2024-05-01T10:00:00Z"}});
    let output = TableSource::new(Table::new(changes())).read(Some(&state));
    assert_eq!(output.exit_code, 1);
    let error = first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(error.message.contains("no `id`"), "{}", error.message);
    assert!(output.records().is_empty());

    let state = json!({"changes": {"updated_at": "2024-05-01T10:00:00Z", "id": null}});
    let output = TableSource::new(Table::new(changes())).read(Some(&state));
    assert_eq!(output.exit_code, 1);
    assert!(first_error(&output).message.contains("`id` is null"));
}

#[test]
fn renamed_fields_name_the_cursor_in_discover_and_in_state() {
    let rows = vec![
        Renamed {
            record_id: 1,
            updated_at: 10,
            seq: 1,
        },
        Renamed {
            record_id: 2,
            updated_at: 10,
            seq: 2,
        },
    ];
    let source = TableSource::new(Table::new(rows.clone()));
    let catalog = testing::incremental_catalog(&source, &json!({}));
    let stream = &catalog["streams"][0]["stream"];
    assert_eq!(stream["default_cursor_field"], json!(["updatedAt"]));
    assert_eq!(stream["source_defined_primary_key"], json!([["recordId"]]));
    assert!(stream["json_schema"]["properties"]["sequence_no"].is_object());

    let output = source.read(None);
    assert_eq!(
        states(&output),
        [json!({"updatedAt": 10, "sequence_no": 2})]
    );
    let resumed = TableSource::new(Table::new(rows)).read(Some(&output.state_file_at(0)));
    assert!(resumed.records().is_empty());
}

/// The inner struct of a nested cursor path.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema, tidemark::Nested)]
pub struct Meta {
    #[serde(rename = "modifiedAt")]
    modified_at: u64,
}

/// A record whose cursor lives in a nested object, as many JSON APIs put it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "tickets", cursor = "meta.modified_at", primary_key = "id")]
pub struct Ticket {
    id: u64,
    meta: Meta,
}

#[test]
fn a_nested_cursor_is_named_by_its_json_path_and_resumes() {
    let rows: Vec<Ticket> = [(1, 10), (2, 20), (3, 20), (4, 30)]
        .into_iter()
        .map(|(id, modified_at)| Ticket {
            id,
            meta: Meta { modified_at },
        })
        .collect();
    let source = TableSource::new(Table::new(rows.clone()));
    let catalog = testing::incremental_catalog(&source, &json!({}));
    assert_eq!(
        catalog["streams"][0]["stream"]["default_cursor_field"],
        json!(["meta", "modifiedAt"])
    );
    let output = source.read(None);
    assert_eq!(states(&output), [json!({"meta.modifiedAt": 30})]);
    assert_eq!(
        <TicketState as tidemark::StreamState>::KEYS,
        ["meta.modifiedAt"]
    );

    let state = json!({"tickets": {"meta.modifiedAt": 20}});
    let mut table = Table::new(rows);
    table.sloppy = true;
    let resumed = TableSource::new(table).read(Some(&state));
    assert_eq!(values(&resumed, "id"), [4]);
}

/// Two levels of nesting, renamed at every level: by `rename_all` on the inner struct and by
/// `rename` on the record's field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema, tidemark::Nested)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    last_change: Meta,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "audited", cursor = "audit.last_change.modified_at")]
pub struct Audited {
    id: u64,
    #[serde(rename = "auditTrail")]
    audit: Audit,
}

#[test]
fn a_renamed_nested_cursor_keys_its_state_by_json_names_and_reads_it_back() {
    let rows: Vec<Audited> = [(1, 10), (2, 20), (3, 30)]
        .into_iter()
        .map(|(id, modified_at)| Audited {
            id,
            audit: Audit {
                last_change: Meta { modified_at },
            },
        })
        .collect();
    let source = TableSource::new(Table::new(rows.clone()));
    let catalog = testing::incremental_catalog(&source, &json!({}));
    assert_eq!(
        catalog["streams"][0]["stream"]["default_cursor_field"],
        json!(["auditTrail", "lastChange", "modifiedAt"])
    );
    assert_eq!(
        <AuditedState as tidemark::StreamState>::KEYS,
        ["auditTrail.lastChange.modifiedAt"]
    );

    let first = TableSource::new(Table::new(rows[..2].to_vec())).read(None);
    assert_eq!(
        states(&first),
        [json!({"auditTrail.lastChange.modifiedAt": 20})]
    );
    // The emitted STATE, fed back as a destination would, resumes after it.
    let mut table = Table::new(rows);
    table.sloppy = true;
    let resumed = TableSource::new(table).read(Some(&first.state_file_at(0)));
    assert_eq!(values(&resumed, "id"), [3]);
    assert_eq!(
        states(&resumed),
        [json!({"auditTrail.lastChange.modifiedAt": 30})]
    );
}

/// A connector's own cursor type: a log sequence number.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct Lsn(u64);

impl tidemark::Cursor for Lsn {
    fn upper_cap(_sync_started: chrono::DateTime<chrono::Utc>) -> Option<Self> {
        None
    }
}

impl tidemark::window::Step<u64> for Lsn {
    fn forward(&self, distance: &u64, times: u64) -> Option<Self> {
        self.0.forward(distance, times).map(Lsn)
    }

    fn backward(&self, distance: &u64) -> Option<Self> {
        self.0.backward(distance).map(Lsn)
    }
}

impl tidemark::window::Start<i128> for Lsn {
    fn start(literal: &i128) -> Option<Self> {
        <u64 as tidemark::window::Start<i128>>::start(literal).map(Lsn)
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "wal", cursor = "lsn", step = 100, start = 0)]
pub struct WalEntry {
    lsn: Lsn,
}

#[test]
fn a_newtype_cursor_takes_step_and_start_by_delegating() {
    use tidemark::window::Step as _;
    let rows: Vec<WalEntry> = [5, 100, 101, 250].map(|n| WalEntry { lsn: Lsn(n) }).into();
    let mut table = Table::new(rows);
    table.end = Some(Lsn(250));
    let source = TableSource::new(table);
    let output = source.read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        *source.slices.borrow(),
        [
            "Included(Lsn(0))..Included(Lsn(100))",
            "Excluded(Lsn(100))..Included(Lsn(200))",
            "Excluded(Lsn(200))..Included(Lsn(250))"
        ]
    );
    assert_eq!(
        states(&output),
        [
            json!({"lsn": 100}),
            json!({"lsn": 200}),
            json!({"lsn": 250})
        ]
    );
    assert_eq!(Lsn(1).forward(&2, 3), Some(Lsn(7)));
}
