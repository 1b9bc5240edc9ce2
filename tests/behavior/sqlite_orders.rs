//! The SQLite example against real databases: what each sync emits as rows are added and
//! updated between syncs, ties across checkpoints under the crash matrix, a missing database.

use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, params};
use serde_json::{Value, json};
use tidemark::protocol::{FailureType, Status, TraceType};
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../../examples/sqlite_orders/main.rs"]
mod example;

use example::shop;

fn database(name: &str) -> (PathBuf, Connection) {
    let path = crate::support::temp_file(name, "");
    std::fs::remove_file(&path).expect("an empty path");
    let db = Connection::open(&path).expect("opens");
    db.execute_batch(shop::SCHEMA).expect("schema");
    (path, db)
}

fn config(path: &std::path::Path) -> Value {
    json!({ "path": path })
}

fn sync(path: &std::path::Path, state: Option<&Value>) -> Output {
    let config = config(path);
    testing::read(
        &example::Shop,
        &config,
        &incremental_catalog(&example::Shop, &config),
        state,
    )
}

/// The ids of one stream's records.
fn ids(output: &Output, stream: &str) -> Vec<i64> {
    output
        .records()
        .iter()
        .filter(|record| record.stream == stream)
        .map(|record| record.data["id"].as_i64().expect("id"))
        .collect()
}

/// The `--state` a destination keeps after a whole sync: every stream's last STATE.
fn final_state(output: &Output) -> Value {
    output.state_file_at(output.states().len() - 1)
}

#[test]
fn each_sync_emits_what_was_added_or_updated_since_the_previous_one() {
    let (path, mut db) = database("shop.db");
    let now = Utc::now();
    shop::fill(&mut db, 30, 200, now - TimeDelta::hours(1)).expect("demo rows");

    let first = sync(&path, None);
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    let orders = ids(&first, "orders");
    assert_eq!(orders.len(), 200);
    let estimate = first.traces(TraceType::Estimate)[0]
        .estimate
        .clone()
        .expect("estimate");
    assert_eq!(estimate.row_estimate, Some(200));
    // Records come in (updated_at, id) order.
    let keys: Vec<(String, i64)> = first
        .records()
        .iter()
        .filter(|r| r.stream == "orders")
        .map(|r| {
            (
                r.data["updated_at"].as_str().expect("time").to_owned(),
                r.data["id"].as_i64().expect("id"),
            )
        })
        .collect();
    assert!(keys.is_sorted());
    assert_eq!(ids(&first, "customers"), (1..=30).collect::<Vec<_>>());

    // Nothing changed: nothing is read.
    let again = sync(&path, Some(&final_state(&first)));
    assert!(again.records().is_empty(), "{}", again.stdout);

    // Between syncs: two orders change, one order and one customer are added.
    let at = shop::timestamp(now - TimeDelta::seconds(5));
    db.execute(
        "UPDATE orders SET status = 'refunded', updated_at = ?1 WHERE id IN (3, 150)",
        params![at],
    )
    .expect("update");
    db.execute(
        "INSERT INTO customers VALUES (31, 'Ada Byron', 'ada@example.com', 'GB', ?1)",
        params![at],
    )
    .expect("insert");
    db.execute(
        "INSERT INTO orders VALUES (201, 31, 'pending', 999, 'GBP', ?1)",
        params![at],
    )
    .expect("insert");
    let second = sync(&path, Some(&final_state(&first)));
    assert_eq!(second.exit_code, 0, "{}", second.stdout);
    assert_eq!(ids(&second, "orders"), [3, 150, 201]);
    assert_eq!(ids(&second, "customers"), [31]);
    let refunded = &second.records()[0].data;
    assert_eq!(refunded["status"], "refunded");
}

#[test]
fn ties_across_checkpoints_keep_the_contract_under_the_crash_matrix() {
    let (path, db) = database("ties.db");
    let base: DateTime<Utc> = "2024-03-01T00:00:00Z".parse().expect("time");
    db.execute(
        "INSERT INTO customers VALUES (1, 'A', 'a@example.com', 'FR', ?1)",
        params![shop::timestamp(base)],
    )
    .expect("customer");
    // 1200 orders in three timestamps: the 500th and 1000th orders fall inside ties. One
    // transaction: a commit per row would make this test wait on the disk 1200 times.
    let mut db = db;
    let tx = db.transaction().expect("transaction");
    for id in 1..=1200_i64 {
        let at = base + TimeDelta::minutes((id - 1) / 400);
        tx.execute(
            "INSERT INTO orders VALUES (?1, 1, 'paid', 100, 'EUR', ?2)",
            params![id, shop::timestamp(at)],
        )
        .expect("order");
    }
    tx.commit().expect("commit");
    let output = sync(&path, None);
    let counts: Vec<f64> = output
        .states()
        .iter()
        .filter(|s| {
            s.stream
                .as_ref()
                .is_some_and(|s| s.stream_descriptor.name == "orders")
        })
        .map(|s| {
            s.source_stats
                .as_ref()
                .and_then(|s| s.record_count)
                .expect("count")
        })
        .collect();
    // The checkpoint due at 500 waits for the end of the tie at 800, and so on.
    assert_eq!(counts, [800.0, 400.0]);
    let config = config(&path);
    let catalog = incremental_catalog(&example::Shop, &config);
    let report = CrashTest::new(&example::Shop, &config, &catalog).assert();
    assert_eq!(report.records, 1201);
}

#[test]
fn a_missing_database_is_a_config_error() {
    let path = std::env::temp_dir()
        .join("tidemark-no-such-dir")
        .join("shop.db");
    let config = crate::support::temp_file("config.json", &config(&path).to_string());
    let check = testing::run(
        &example::Shop,
        &["check", "--config", config.to_str().expect("utf-8")],
    );
    let status = check.statuses_of_connection();
    assert_eq!(status.0, Status::Failed);
    assert!(
        status.1.contains("cannot open the database"),
        "{}",
        status.1
    );

    let output = sync(&path, None);
    assert_eq!(output.exit_code, 1);
    let error = crate::support::first_error(&output);
    assert_eq!(error.failure_type, Some(FailureType::ConfigError));
    assert!(
        error.message.contains("cannot open the database"),
        "{}",
        error.message
    );
}

trait ConnectionStatusOf {
    fn statuses_of_connection(&self) -> (Status, String);
}

impl ConnectionStatusOf for Output {
    fn statuses_of_connection(&self) -> (Status, String) {
        self.messages
            .iter()
            .find_map(|message| match message {
                tidemark::protocol::Message::ConnectionStatus { connection_status } => Some((
                    connection_status.status,
                    connection_status.message.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .expect("a CONNECTION_STATUS")
    }
}
