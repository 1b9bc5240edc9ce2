use tidemark::IncrementalStream;
use tidemark::unstable::{CheckpointAt, CheckpointPolicy};

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    cursor = "version",
    name = "org_members",
    namespace = "crm",
    primary_key = ["org_id", "id"],
    checkpoint = "slice",
    checkpoint_interval = 250,
    crate = "::tidemark",
)]
struct Member {
    org_id: u64,
    id: u64,
    version: i64,
}

fn main() {
    assert_eq!(Member::NAME, "org_members");
    assert_eq!(Member::NAMESPACE, Some("crm"));
    assert_eq!(Member::CURSOR_FIELD, ["version"]);
    let primary_key: &[&[&str]] = &[&["org_id"], &["id"]];
    assert_eq!(Member::PRIMARY_KEY, primary_key);
    assert_eq!(Member::POLICY, CheckpointPolicy::every(250));
    assert_eq!(Member::POLICY.at, CheckpointAt::Slice);

    let mut state = MemberState::default();
    state.set_version(42);
    assert_eq!(state.version(), Some(&42));
    assert_eq!(serde_json::to_string(&state).unwrap(), r#"{"version":42}"#);

    let member = Member {
        org_id: 1,
        id: 2,
        version: 3,
    };
    assert_eq!(member.cursor().as_deref(), Some(&3));
    assert_eq!(member.org_id + member.id, 3);
}
