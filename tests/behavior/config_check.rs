//! A config that breaks the constraints its schema declares: `check` fails naming every
//! offending field, `discover` and `read` stop with a config error, whatever the constraint.

use serde_json::{Value, json};
use tidemark::protocol::FailureType;
use tidemark::testing;
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::{catalog, first_error, temp_file};

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code, reason = "only read by the schema check and serde")]
struct ShopConfig {
    /// Base URL of the shop's API.
    #[schemars(regex(pattern = r"^https://"))]
    url: String,
    /// Orders per page.
    #[schemars(range(min = 1, max = 500))]
    page_size: u32,
    /// Shop identifiers.
    #[schemars(length(min = 1, max = 3))]
    shops: Vec<String>,
    /// How to sign in.
    auth: Auth,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
#[allow(dead_code, reason = "only read by the schema check and serde")]
enum Auth {
    ApiKey {
        #[schemars(length(min = 8))]
        key: String,
    },
    Anonymous,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "events", cursor = "id")]
struct Event {
    id: u64,
}

struct Shop;

impl Source for Shop {
    const NAME: &'static str = "source-shop";
    type Config = ShopConfig;

    fn streams<'a>(&'a self, _config: &'a ShopConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(|_: &Slice<Event>, _: &mut Sink<Event>| Ok(())))
    }
}

fn valid() -> Value {
    json!({
        "url": "https://shop.example",
        "page_size": 100,
        "shops": ["eu"],
        "auth": {"method": "api_key", "key": "k-12345678"},
    })
}

/// The message of `check`'s CONNECTION_STATUS, `None` when it succeeded.
fn check(config: &Value) -> Option<String> {
    let path = temp_file("config.json", &config.to_string());
    let output = testing::run(&Shop, &["check", "--config", path.to_str().expect("utf-8")]);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let status: Value = serde_json::from_str(output.stdout.trim()).expect("one message");
    match status["connectionStatus"]["status"].as_str() {
        Some("SUCCEEDED") => None,
        _ => Some(
            status["connectionStatus"]["message"]
                .as_str()
                .expect("a message")
                .to_owned(),
        ),
    }
}

#[test]
fn a_config_within_its_constraints_passes() {
    assert_eq!(check(&valid()), None);
    let mut anonymous = valid();
    anonymous["auth"] = json!({"method": "anonymous"});
    assert_eq!(check(&anonymous), None);
}

#[test]
fn each_broken_constraint_names_its_field() {
    let cases = [
        ("url", json!("http://shop.example"), "`url`"),
        ("page_size", json!(0), "`page_size`"),
        ("page_size", json!(501), "`page_size`"),
        ("page_size", json!("ten"), "`page_size`"),
        ("shops", json!([]), "`shops`"),
        ("shops", json!(["a", "b", "c", "d"]), "`shops`"),
        (
            "auth",
            json!({"method": "api_key", "key": "short"}),
            "`auth.key`",
        ),
        ("auth", json!({"method": "api_key"}), "`auth`"),
        ("auth", json!({"method": "password"}), "`auth`"),
        ("extra", json!(true), "`extra`"),
    ];
    for (key, value, field) in cases {
        let mut config = valid();
        config[key] = value;
        let message = check(&config).unwrap_or_else(|| panic!("{config} passed"));
        assert!(
            message.starts_with("the config does not match the specification: ")
                && message.contains(field),
            "{config}: {message}"
        );
    }
}

#[test]
fn every_violation_is_listed_up_to_five_then_counted() {
    let config = json!({
        "url": "ftp://x", "page_size": 0, "shops": [], "auth": {"method": "api_key", "key": ""},
        "a": 1, "b": 2, "c": 3,
    });
    let message = check(&config).expect("fails");
    assert!(
        message.starts_with(
            "the config does not match the specification: `a`: unknown field, expected one of \
             \"auth\", \"page_size\", \"shops\", \"url\"; `auth.key`: \"\" is shorter than 8 \
             characters; `b`: unknown field"
        ),
        "{message}"
    );
    assert_eq!(message.matches("; ").count(), 5, "{message}");
    assert!(message.ends_with("; and 2 more"), "{message}");
}

#[test]
fn discover_and_read_stop_with_a_config_error() {
    let mut config = valid();
    config["page_size"] = json!(1000);
    let path = temp_file("config.json", &config.to_string());
    let path = path.to_str().expect("utf-8");
    let catalog = temp_file("catalog.json", &catalog(&["events"]).to_string());
    for args in [
        &["discover", "--config", path][..],
        &[
            "read",
            "--config",
            path,
            "--catalog",
            catalog.to_str().expect("utf-8"),
        ],
    ] {
        let output = testing::run(&Shop, args);
        assert_eq!(output.exit_code, 1, "{}", output.stdout);
        let error = first_error(&output);
        assert_eq!(error.failure_type, Some(FailureType::ConfigError));
        assert!(error.message.contains("`page_size`"), "{}", error.message);
    }
}
