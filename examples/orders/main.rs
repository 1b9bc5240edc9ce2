//! `orders`: a source connector with one incremental stream of synthetic orders.
//!
//! Record `i` (0-based, `i < count`) is updated at 2024-01-01T00:00:00Z plus `i` seconds, so
//! `updated_at` strictly increases and a saved state tells exactly which records are left.
//!
//! ```sh
//! cargo run --release --example orders -- read \
//!     --config examples/orders/config.json --catalog examples/orders/catalog.json
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tidemark::{Error, Sink, Slice, Source, Streams};

/// One order.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "orders",
    cursor = "updated_at",
    primary_key = "id",
    checkpoint_interval = 500
)]
pub struct Order {
    /// Order id.
    pub id: u64,
    /// When the order last changed (UTC); rendered `2024-01-01T00:00:00Z`.
    #[serde(serialize_with = "tidemark::rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The customer who placed it.
    pub customer_id: u64,
    /// `pending`, `paid`, `shipped` or `cancelled`.
    pub status: &'static str,
    /// Amount in cents.
    pub amount_cents: u64,
    /// ISO 4217 currency code.
    pub currency: &'static str,
    /// Stock keeping unit.
    pub sku: Sku,
    /// Units ordered.
    pub quantity: u64,
    /// Free text.
    pub note: &'static str,
    /// Whether the order is a gift.
    pub is_gift: bool,
}

const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "cancelled"];

/// A stock keeping unit, `SKU-<n>`: written straight into the output, no `String` per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sku(pub u64);

impl Serialize for Sku {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(self.0);
        let mut text = [0_u8; 24];
        text[..4].copy_from_slice(b"SKU-");
        text[4..4 + digits.len()].copy_from_slice(digits.as_bytes());
        serializer.serialize_str(std::str::from_utf8(&text[..4 + digits.len()]).unwrap_or("SKU-"))
    }
}

impl schemars::JsonSchema for Sku {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Sku".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "pattern": "^SKU-[0-9]+$"})
    }
}

/// `updated_at` of record 0.
///
/// # Panics
///
/// Never: the timestamp is a constant in range.
#[must_use]
pub(crate) fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01T00:00:00Z is representable")
}

impl Order {
    /// Record `i` of the synthetic data set.
    ///
    /// # Panics
    ///
    /// When `i` does not fit an `i64` number of seconds.
    #[must_use]
    pub(crate) fn synthetic(i: u64) -> Self {
        let seconds = i64::try_from(i).expect("record index fits i64");
        Order {
            id: i,
            updated_at: epoch() + TimeDelta::seconds(seconds),
            customer_id: i % 1000,
            status: STATUSES[usize::try_from(i % 4).expect("below 4")],
            amount_cents: (i * 7919) % 100_000,
            currency: "USD",
            sku: Sku(i % 5000),
            quantity: i % 10 + 1,
            note: "synthetic order row for throughput bench",
            is_gift: i.is_multiple_of(2),
        }
    }
}

/// The connector's configuration.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[schemars(title = "Synthetic Orders Spec")]
pub struct OrdersConfig {
    /// Number of synthetic records to generate.
    pub count: u64,
}

/// The `orders` source.
pub struct OrdersSource;

impl Source for OrdersSource {
    const NAME: &'static str = "source-orders";
    type Config = OrdersConfig;

    fn streams<'a>(&'a self, config: &'a OrdersConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().stream(|slice: &Slice<Order>, out: &mut Sink<Order>| {
                for i in first_after(slice.after())..config.count {
                    out.emit(&Order::synthetic(i))?;
                }
                Ok(())
            }),
        )
    }
}

/// The first record index whose `updated_at` is after `watermark`.
fn first_after(watermark: Option<&DateTime<Utc>>) -> u64 {
    match watermark {
        Some(&watermark) if watermark >= epoch() => {
            u64::try_from((watermark - epoch()).num_seconds()).map_or(u64::MAX, |s| s + 1)
        }
        Some(_) | None => 0,
    }
}

fn main() -> std::process::ExitCode {
    tidemark::run!(OrdersSource)
}
