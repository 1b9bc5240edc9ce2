use tidemark::{DEFAULT_MAX_PARTITIONS, IncrementalStream};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "updated_at", partition = "repository")]
struct Issue {
    repository: String,
    number: u64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[tidemark::incremental_stream(
    cursor = "seq",
    partition = "account_id",
    max_partitions = 500,
    order = "desc",
    checkpoint_every = "PT1M"
)]
struct Event {
    account_id: i64,
    seq: u64,
}

#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
struct Account {
    org: String,
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "version", partition = "owner", max_partitions = 1)]
struct Invoice {
    #[serde(rename = "account")]
    owner: Account,
    version: i64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "id")]
struct Plain {
    id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "version", partition = "owner")]
struct Document<T> {
    owner: u32,
    version: i64,
    body: T,
}

/// Checks a stream's partition type without constructing a record.
fn partition_is<S: IncrementalStream<Partition = P>, P>() {}

fn main() {
    partition_is::<Issue, String>();
    assert_eq!(Issue::PARTITION_FIELD, ["repository"]);
    assert_eq!(Issue::MAX_PARTITIONS, DEFAULT_MAX_PARTITIONS);
    let issue = Issue {
        repository: "tidemark".to_owned(),
        number: 7,
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    assert_eq!(issue.partition(), "tidemark");
    assert_eq!(issue.number, 7);

    partition_is::<Event, i64>();
    assert_eq!(Event::PARTITION_FIELD, ["accountId"]);
    assert_eq!(Event::MAX_PARTITIONS, 500);
    assert_eq!(Event { account_id: -3, seq: 1 }.partition(), &-3);

    partition_is::<Invoice, Account>();
    assert_eq!(Invoice::PARTITION_FIELD, ["account"]);
    assert_eq!(Invoice::MAX_PARTITIONS, 1);
    let owner = Account {
        org: "acme".to_owned(),
        id: 1,
    };
    let invoice = Invoice {
        owner: owner.clone(),
        version: 2,
    };
    assert_eq!(invoice.partition(), &owner);
    assert_eq!(invoice.partition().org, "acme");

    partition_is::<Document<String>, u32>();
    assert_eq!(<Document<String> as IncrementalStream>::PARTITION_FIELD, ["owner"]);
    let document = Document {
        owner: 5,
        version: 1,
        body: "text".to_owned(),
    };
    assert_eq!(document.partition(), &5);
    assert_eq!(document.body, "text");

    partition_is::<Plain, ()>();
    let empty: &[&str] = &[];
    assert_eq!(Plain::PARTITION_FIELD, empty);
    assert_eq!(Plain::MAX_PARTITIONS, DEFAULT_MAX_PARTITIONS);
    assert_eq!(Plain { id: 1 }.partition(), &());
}
