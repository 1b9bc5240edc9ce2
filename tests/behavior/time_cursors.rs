//! `time::OffsetDateTime` and `time::Date` cursors (the `time` feature).

use serde_json::json;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

use crate::table::{Table, TableSource, column, states};

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "events",
    cursor = "at",
    primary_key = "id",
    step = "P1D",
    start = "2024-03-01"
)]
pub struct Event {
    id: u64,
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String")]
    at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "days",
    cursor = "day",
    primary_key = "id",
    checkpoint_interval = 1
)]
pub struct Day {
    id: u64,
    #[schemars(with = "String")]
    day: Date,
}

fn events() -> Vec<Event> {
    [
        datetime!(2024-03-01 00:00 UTC),
        // On the first window's bound, written with another offset.
        datetime!(2024-03-02 01:00 +01:00),
        datetime!(2024-03-02 12:00 UTC),
    ]
    .into_iter()
    .enumerate()
    .map(|(id, at)| Event { id: id as u64, at })
    .collect()
}

#[test]
fn offset_date_time_windows_save_rfc3339_in_utc() {
    let mut table = Table::new(events());
    table.end = Some(datetime!(2024-03-03 00:00 UTC));
    let output = TableSource::new(table).read(None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(column(&output, "id"), [json!(0), json!(1), json!(2)]);
    assert_eq!(column(&output, "at")[1], json!("2024-03-02T01:00:00+01:00"));
    assert_eq!(
        states(&output),
        [
            json!({"at": "2024-03-02T00:00:00Z"}),
            json!({"at": "2024-03-03T00:00:00Z"})
        ]
    );

    let mut table = Table::new(events());
    table.end = Some(datetime!(2024-03-03 00:00 UTC));
    let resumed = TableSource::new(table).read(Some(&output.state_file_at(0)));
    assert_eq!(column(&resumed, "id"), [json!(2)]);
}

#[test]
fn time_dates_are_cursors_saved_as_iso_dates() {
    let rows = vec![
        Day {
            id: 1,
            day: date!(2024 - 02 - 28),
        },
        Day {
            id: 2,
            day: date!(2024 - 02 - 29),
        },
    ];
    let output = TableSource::new(Table::new(rows.clone())).read(None);
    assert_eq!(
        column(&output, "day"),
        [json!("2024-02-28"), json!("2024-02-29")]
    );
    assert_eq!(
        states(&output),
        [json!({"day": "2024-02-28"}), json!({"day": "2024-02-29"})]
    );
    let resumed = TableSource::new(Table::new(rows)).read(Some(&output.state_file_at(0)));
    assert_eq!(column(&resumed, "id"), [json!(2)]);
}
