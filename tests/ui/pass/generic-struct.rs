use tidemark::IncrementalStream;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "id", primary_key = "id")]
struct Event<T> {
    id: u64,
    payload: T,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "version", step = 10)]
struct Batch<'a, T, const N: usize>
where
    T: Clone,
{
    version: i64,
    label: &'a str,
    items: Vec<T>,
    #[serde(skip)]
    width: std::marker::PhantomData<[T; N]>,
}

#[derive(serde::Serialize, schemars::JsonSchema, tidemark::Nested)]
struct Meta {
    #[serde(rename = "updatedAt")]
    updated_at: i64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(cursor = "meta.updated_at")]
struct Ticket<T> {
    meta: Meta,
    body: T,
}

/// Checks a stream's cursor type without constructing a record.
fn cursor_is<S: IncrementalStream<Cursor = C>, C>() {}

fn main() {
    cursor_is::<Event<String>, u64>();
    cursor_is::<Event<Vec<u8>>, u64>();
    assert_eq!(<Event<String> as IncrementalStream>::NAME, "event");
    assert_eq!(<Event<String> as IncrementalStream>::CURSOR_FIELD, ["id"]);

    let event = Event {
        id: 3,
        payload: "hello".to_owned(),
    };
    assert_eq!(event.cursor().as_deref(), Some(&3));
    assert_eq!(
        serde_json::to_value(&event).unwrap(),
        serde_json::json!({"id": 3, "payload": "hello"})
    );
    let schema = Event::<String>::json_schema();
    assert_eq!(schema["properties"]["payload"]["type"], "string");

    let mut state = EventState::default();
    state.set_id(3);
    assert_eq!(serde_json::to_string(&state).unwrap(), r#"{"id":3}"#);

    cursor_is::<Ticket<String>, i64>();
    assert_eq!(
        <Ticket<String> as IncrementalStream>::CURSOR_FIELD,
        ["meta", "updatedAt"]
    );
    let ticket = Ticket {
        meta: Meta { updated_at: 4 },
        body: (),
    };
    assert_eq!(ticket.cursor().as_deref(), Some(&4));
    let mut state = TicketState::default();
    state.set_updated_at(4);
    assert_eq!(
        serde_json::to_string(&state).unwrap(),
        r#"{"meta.updatedAt":4}"#
    );

    let label = String::from("first");
    let batch = Batch {
        version: 9,
        label: &label,
        items: vec![1_u8, 2],
        width: std::marker::PhantomData::<[u8; 2]>,
    };
    assert_eq!(batch.cursor().as_deref(), Some(&9));
    assert_eq!(<Batch<'_, u8, 2>>::STEP, Some("10"));
    assert_eq!(<Batch<'_, u8, 2>>::window_bound(&9, 1), Some(19));
    assert_eq!(
        serde_json::to_string(&batch).unwrap(),
        r#"{"version":9,"label":"first","items":[1,2]}"#
    );
}
