use tidemark::{Sink, Slice};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updatedat")]
struct Order {
    id: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// A reader written for the cursor the author meant.
fn read(slice: &Slice<Order>, out: &mut Sink<Order>) -> Result<(), tidemark::Error> {
    let after: Option<&chrono::DateTime<chrono::Utc>> = slice.after();
    let updated_at = after.copied().unwrap_or(chrono::DateTime::UNIX_EPOCH);
    out.emit(&Order { id: 1, updated_at })
}

fn main() {
    let mut state = OrderState::default();
    state.set_updated_at(chrono::DateTime::UNIX_EPOCH);
    let _: Option<&chrono::DateTime<chrono::Utc>> = state.updated_at();
    let _ = tidemark::Streams::new().stream(read);
}
