#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "type", primary_key = "id")]
struct Change {
    id: u64,
    r#type: i64,
}

fn main() {
    let mut state = ChangeState::default();
    state.set_type(3);
    assert_eq!(state.r#type(), Some(&3));
    assert_eq!(<Change as tidemark::IncrementalStream>::CURSOR_FIELD, ["type"]);
    let _ = Change { id: 1, r#type: 2 };
}
