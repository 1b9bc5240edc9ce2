//! The demo shop database: its schema and realistic, deterministic rows. Shared by the
//! connector's demo binary and its tests.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use rusqlite::{Connection, params};

/// The tables the connector reads. Timestamps are stored as fixed-width RFC 3339 text in UTC
/// (`2024-01-01T10:00:00.000Z`), so SQL comparisons and `ORDER BY` follow time.
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS customers (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        country TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS orders (
        id INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL REFERENCES customers(id),
        status TEXT NOT NULL,
        total_cents INTEGER NOT NULL,
        currency TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS orders_by_update ON orders(updated_at, id);
";

/// A timestamp as the database stores it.
#[must_use]
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

const FIRST_NAMES: &[&str] = &[
    "Ada", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Edsger", "Radia",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen",
    "Dijkstra", "Perlman",
];
const COUNTRIES: &[&str] = &["FR", "DE", "US", "JP", "BR", "NG", "IN", "CA"];
const STATUSES: &[&str] = &["pending", "paid", "shipped", "delivered", "refunded"];

/// A small deterministic generator (64-bit LCG): the same rows on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next(items.len() as u64)).unwrap_or(0)]
    }
}

/// Creates the tables and fills them: `customers` customers, then `orders` orders whose
/// `updated_at` comes in bursts, so many orders share a timestamp (as batch jobs write them),
/// all before `until`.
///
/// # Errors
///
/// SQLite errors.
pub fn fill(
    db: &mut Connection,
    customers: u64,
    orders: u64,
    until: DateTime<Utc>,
) -> rusqlite::Result<()> {
    db.execute_batch(SCHEMA)?;
    let mut rng = Rng(0x5eed);
    let tx = db.transaction()?;
    {
        let start = until - TimeDelta::days(30);
        let mut insert = tx.prepare(
            "INSERT INTO customers (id, name, email, country, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for id in 1..=customers {
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            let created = start + TimeDelta::minutes(i64::try_from(id).unwrap_or(0));
            insert.execute(params![
                id,
                format!("{first} {last}"),
                format!(
                    "{}.{}{id}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                rng.pick(COUNTRIES),
                timestamp(created),
            ])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO orders (id, customer_id, status, total_cents, currency, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut at = until - TimeDelta::days(7);
        for id in 1..=orders {
            // A new burst every few orders: up to 8 orders share one timestamp.
            if rng.next(4) == 0 {
                at += TimeDelta::seconds(i64::try_from(1 + rng.next(90)).unwrap_or(1));
            }
            insert.execute(params![
                id,
                1 + rng.next(customers.max(1)),
                rng.pick(STATUSES),
                i64::try_from(500 + rng.next(250_000)).unwrap_or(500),
                if rng.next(3) == 0 { "EUR" } else { "USD" },
                timestamp(at.min(until - TimeDelta::seconds(1))),
            ])?;
        }
    }
    tx.commit()
}

/// What a day of business changes: `count` existing orders change status (their `updated_at`
/// moves to `at`), and `count` new customers and orders arrive.
///
/// # Errors
///
/// SQLite errors.
pub fn business(db: &mut Connection, count: u64, at: DateTime<Utc>) -> rusqlite::Result<()> {
    let tx = db.transaction()?;
    let stamp = timestamp(at);
    tx.execute(
        "UPDATE orders SET status = 'delivered', updated_at = ?1 \
         WHERE id IN (SELECT id FROM orders WHERE status = 'shipped' ORDER BY id LIMIT ?2)",
        params![stamp, count],
    )?;
    let next_customer: u64 = tx.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM customers",
        [],
        |row| row.get(0),
    )?;
    let next_order: u64 =
        tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM orders", [], |row| {
            row.get(0)
        })?;
    for n in 0..count {
        tx.execute(
            "INSERT INTO customers (id, name, email, country, created_at) VALUES (?1, 'New Customer', ?2, 'FR', ?3)",
            params![next_customer + n, format!("new{}@example.com", next_customer + n), stamp],
        )?;
        tx.execute(
            "INSERT INTO orders (id, customer_id, status, total_cents, currency, updated_at) \
             VALUES (?1, ?2, 'pending', 4200, 'EUR', ?3)",
            params![next_order + n, next_customer + n, stamp],
        )?;
    }
    tx.commit()
}
