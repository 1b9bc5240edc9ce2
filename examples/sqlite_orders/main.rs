//! A source that syncs a shop's SQLite database incrementally: `orders` by `updated_at` (many
//! orders share a timestamp) and `customers` by `id` in windows of 1000.
//!
//! Create the demo database, then read it:
//!
//! ```sh
//! cargo run --release --example sqlite_demo -- target/demo/shop.db
//! cargo run --release --example sqlite_orders -- read \
//!     --config examples/sqlite_orders/config.json --catalog examples/sqlite_orders/catalog.json
//! ```
//!
//! Each query pushes the resume point (and the window's bounds) into SQL and reads in cursor
//! order, so a sync reads only what changed since the state it was given.

use std::ops::Bound;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, params};
use tidemark::{Error, Reader, Sink, Slice, Source, Streams};

/// Where the database is.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// Path of the SQLite database file (opened read-only).
    pub path: PathBuf,
}

/// An order, synced by `updated_at`. State every 500 orders; a checkpoint due inside a run of
/// orders with the same `updated_at` waits for the next timestamp, so none is lost on resume.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "orders",
    cursor = "updated_at",
    primary_key = "id",
    checkpoint_interval = 500
)]
pub struct Order {
    /// Order id.
    pub id: i64,
    /// The customer who placed it.
    pub customer_id: i64,
    /// `pending`, `paid`, `shipped`, `delivered` or `refunded`.
    pub status: String,
    /// Amount in cents.
    pub total_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// When the order last changed.
    pub updated_at: DateTime<Utc>,
}

/// A customer, synced by `id` (customers are only ever added) in windows of 1000 ids.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "customers",
    cursor = "id",
    primary_key = "id",
    step = 1000,
    start = 1
)]
pub struct Customer {
    /// Customer id.
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// ISO 3166 country code.
    pub country: String,
    /// When the customer signed up.
    pub created_at: DateTime<Utc>,
}

/// The source.
pub struct Shop;

impl Source for Shop {
    const NAME: &'static str = "source-sqlite-shop";
    type Config = ShopConfig;

    fn check(&self, config: &ShopConfig) -> Result<(), Error> {
        let db = open(config)?;
        let tables: i64 = db
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('orders', 'customers')",
                [],
                |row| row.get(0),
            )
            .map_err(sql)?;
        if tables == 2 {
            Ok(())
        } else {
            Err(Error::config(format!(
                "{} has no `orders` and `customers` tables",
                config.path.display()
            )))
        }
    }

    fn streams<'a>(&'a self, config: &'a ShopConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .stream(move |slice: &Slice<Order>, out: &mut Sink<Order>| {
                read_orders(&open(config)?, slice, out)
            })
            .stream(Customers { config, db: None }))
    }
}

/// Opens the database read-only; a missing or unreadable file is a config error.
fn open(config: &ShopConfig) -> Result<Connection, Error> {
    Connection::open_with_flags(
        &config.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|err| {
        Error::config(format!(
            "cannot open the database {}: {err}",
            config.path.display()
        ))
    })
}

fn sql(err: rusqlite::Error) -> Error {
    Error::system(format!("SQLite: {err}")).with_source(err)
}

fn parse_time(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
        })
}

/// Orders after the resume point, in `(updated_at, id)` order.
fn read_orders(db: &Connection, slice: &Slice<Order>, out: &mut Sink<Order>) -> Result<(), Error> {
    // '' sorts before every timestamp: no state reads everything.
    let after = slice
        .after()
        .map(|at| shop::timestamp(*at))
        .unwrap_or_default();
    let count: u64 = db
        .query_row(
            "SELECT count(*) FROM orders WHERE updated_at > ?1",
            params![after],
            |row| row.get(0),
        )
        .map_err(sql)?;
    out.estimate(count)?;
    tracing::info!(after = after.as_str(), count, "reading orders");
    let mut query = db
        .prepare(
            "SELECT id, customer_id, status, total_cents, currency, updated_at FROM orders \
             WHERE updated_at > ?1 ORDER BY updated_at, id",
        )
        .map_err(sql)?;
    let mut rows = query.query(params![after]).map_err(sql)?;
    while let Some(row) = rows.next().map_err(sql)? {
        let updated_at: String = row.get(5).map_err(sql)?;
        out.emit(&Order {
            id: row.get(0).map_err(sql)?,
            customer_id: row.get(1).map_err(sql)?,
            status: row.get(2).map_err(sql)?,
            total_cents: row.get(3).map_err(sql)?,
            currency: row.get(4).map_err(sql)?,
            updated_at: parse_time(&updated_at).map_err(sql)?,
        })?;
    }
    Ok(())
}

/// Reads customers window by window; the range ends at the highest id when the sync starts.
struct Customers<'a> {
    config: &'a ShopConfig,
    db: Option<Connection>,
}

impl Customers<'_> {
    fn db(&mut self) -> Result<&Connection, Error> {
        if self.db.is_none() {
            self.db = Some(open(self.config)?);
        }
        Ok(self.db.as_ref().expect("just opened"))
    }
}

impl Reader<Customer> for Customers<'_> {
    fn end(&mut self) -> Result<Option<i64>, Error> {
        let max: Option<i64> = self
            .db()?
            .query_row("SELECT max(id) FROM customers", [], |row| row.get(0))
            .map_err(sql)?;
        Ok(Some(max.unwrap_or(0)))
    }

    fn read(
        &mut self,
        slice: &Slice<'_, Customer>,
        out: &mut Sink<'_, Customer>,
    ) -> Result<(), Error> {
        let from = match slice.lower() {
            Bound::Included(id) => *id,
            Bound::Excluded(id) => id.saturating_add(1),
            Bound::Unbounded => i64::MIN,
        };
        let until = slice.until().copied().unwrap_or(i64::MAX);
        let mut query = self
            .db()?
            .prepare(
                "SELECT id, name, email, country, created_at FROM customers \
                 WHERE id >= ?1 AND id <= ?2 ORDER BY id",
            )
            .map_err(sql)?;
        let mut rows = query.query(params![from, until]).map_err(sql)?;
        while let Some(row) = rows.next().map_err(sql)? {
            let created_at: String = row.get(4).map_err(sql)?;
            out.emit(&Customer {
                id: row.get(0).map_err(sql)?,
                name: row.get(1).map_err(sql)?,
                email: row.get(2).map_err(sql)?,
                country: row.get(3).map_err(sql)?,
                created_at: parse_time(&created_at).map_err(sql)?,
            })?;
        }
        Ok(())
    }
}

/// The demo database's schema and rows (the connector itself uses only its timestamp format).
#[path = "shop.rs"]
#[allow(dead_code, reason = "the connector uses only the timestamp format")]
pub mod shop;

fn main() -> ExitCode {
    tidemark::run!(Shop)
}
