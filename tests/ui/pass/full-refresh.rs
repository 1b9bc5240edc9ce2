use tidemark::FullRefreshStream;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream]
struct ExchangeRate {
    code: String,
    rate_millis: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[tidemark::full_refresh_stream(
    name = "org_members",
    namespace = "crm",
    primary_key = ["org_id", "member_id"],
    resumable = true,
    crate = "::tidemark",
)]
struct Member {
    org_id: u64,
    member_id: u64,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(primary_key = "id", resumable = false)]
struct Page<T> {
    id: u64,
    body: T,
}

macro_rules! stream {
    ($resumable:literal) => {
        #[derive(serde::Serialize, schemars::JsonSchema)]
        #[tidemark::full_refresh_stream(resumable = $resumable)]
        struct Tag {
            label: String,
        }
    };
}

stream!(true);

fn main() {
    assert_eq!(ExchangeRate::NAME, "exchange_rate");
    assert_eq!(ExchangeRate::NAMESPACE, None);
    assert!(ExchangeRate::PRIMARY_KEY.is_empty());
    assert!(!ExchangeRate::RESUMABLE);
    let rate = ExchangeRate {
        code: "EUR".to_owned(),
        rate_millis: 1_000,
    };
    assert_eq!(
        serde_json::to_value(&rate).unwrap(),
        serde_json::json!({"code": "EUR", "rate_millis": 1000})
    );

    assert_eq!(Member::NAME, "org_members");
    assert_eq!(Member::NAMESPACE, Some("crm"));
    let primary_key: &[&[&str]] = &[&["orgId"], &["memberId"]];
    assert_eq!(Member::PRIMARY_KEY, primary_key);
    assert!(Member::RESUMABLE);
    let entry = serde_json::to_value(Member::catalog_entry()).unwrap();
    assert_eq!(entry["name"], "org_members");
    assert_eq!(entry["namespace"], "crm");
    assert_eq!(entry["is_resumable"], true);
    assert_eq!(entry["supported_sync_modes"], serde_json::json!(["full_refresh"]));
    assert_eq!(
        entry["source_defined_primary_key"],
        serde_json::json!([["orgId"], ["memberId"]])
    );
    assert_eq!(entry["json_schema"]["properties"]["memberId"]["type"], "integer");
    let member = Member {
        org_id: 1,
        member_id: 2,
    };
    assert_eq!(member.org_id + member.member_id, 3);

    assert_eq!(<Page<String> as FullRefreshStream>::NAME, "page");
    assert!(!<Page<String> as FullRefreshStream>::RESUMABLE);
    let schema = Page::<String>::json_schema();
    assert_eq!(schema["properties"]["body"]["type"], "string");
    let page = Page {
        id: 1,
        body: vec![1_u8],
    };
    assert_eq!(page.id, 1);
    assert_eq!(page.body, [1]);

    assert!(Tag::RESUMABLE);
    assert_eq!(Tag::NAME, "tag");
    assert_eq!(Tag { label: String::new() }.label, "");
}
