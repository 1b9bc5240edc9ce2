use tidemark::IncrementalStream as _;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "updated_at",
    partition = "repositry",
    max_partitions = 0,
    order = "desc",
    checkpoint_every = "P1M"
)]
struct Issue {
    repository: String,
    updated_at: chrono::DateTime<chrono::Utc>,
}

fn main() {
    let issue = Issue {
        repository: "tidemark".to_owned(),
        updated_at: chrono::DateTime::UNIX_EPOCH,
    };
    // Written for the partition field the author meant.
    let repository: &String = issue.partition();
    assert_eq!(repository, "tidemark");
    let _: &'static [&'static str] = Issue::PARTITION_FIELD;
    let _: usize = Issue::MAX_PARTITIONS;
    let _: Option<std::time::Duration> = Issue::POLICY.period;
}
