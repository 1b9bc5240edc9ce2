use tidemark::FullRefreshStream as _;

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(cursor = "code", resumable = 1, primary_key = "cod")]
struct Currency {
    code: String,
    name: String,
}

fn main() {
    let currency = Currency {
        code: "EUR".to_owned(),
        name: "Euro".to_owned(),
    };
    assert!(serde_json::to_string(&currency).unwrap().contains("EUR"));
    let name: &str = Currency::NAME;
    assert_eq!(name, "currency");
    let _: bool = Currency::RESUMABLE;
    let _ = Currency::catalog_entry();
}
