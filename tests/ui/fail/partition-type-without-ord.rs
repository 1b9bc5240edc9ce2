#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Account {
    org: String,
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", partition = "account")]
struct Invoice {
    account: Account,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {}
