//! What connector code gets for free: `tracing` as LOG messages, secrets masked in every
//! message, row estimates and rate-limit statuses.

use serde_json::{Value, json};
use tidemark::protocol::{LogLevel, Message, TraceType};
use tidemark::testing::{self, Output, incremental_catalog};
use tidemark::{Error, Secret, Sink, Slice, Source, Streams};

use crate::protocol_schema::{assert_valid, validators};
use crate::support::{first_error, temp_file};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct ApiConfig {
    /// The API key.
    api_key: Secret<String>,
    /// How many tickets to read.
    #[serde(default)]
    tickets: u64,
    /// Fail the read with an error that quotes the key.
    #[serde(default)]
    leak_in_error: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "tickets", cursor = "id", primary_key = "id")]
pub struct Ticket {
    id: u64,
}

struct Api;

impl Source for Api {
    const NAME: &'static str = "source-api";
    type Config = ApiConfig;

    fn check(&self, config: &ApiConfig) -> Result<(), Error> {
        Err(Error::config(format!(
            "the API rejected the key {}",
            config.api_key.expose()
        )))
    }

    fn streams<'a>(&'a self, config: &'a ApiConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().stream(move |_slice: &Slice<Ticket>, out: &mut Sink<Ticket>| {
                out.estimate(config.tickets)?;
                tracing::info!(key = config.api_key.expose().as_str(), "fetching tickets");
                for id in 1..=config.tickets {
                    if id == 2 {
                        let reset = chrono::DateTime::from_timestamp(1_700_000_000, 0);
                        out.rate_limited(reset)?;
                        tracing::warn!(retry_in_s = 0, "rate limited; retrying");
                    }
                    tracing::debug!("not shown at the default level");
                    out.emit(&Ticket { id })?;
                }
                if config.leak_in_error {
                    return Err(Error::system(format!(
                        "GET /tickets?key={} failed",
                        config.api_key.expose()
                    ))
                    .with_source(std::io::Error::other(format!(
                        "token {} expired",
                        config.api_key.expose()
                    ))));
                }
                Ok(())
            }),
        )
    }
}

const KEY: &str = "sk-live-0123456789";

fn read(config: &Value) -> Output {
    testing::read(&Api, config, &incremental_catalog(&Api, config), None)
}

fn logs(output: &Output) -> Vec<(LogLevel, String)> {
    output
        .messages
        .iter()
        .filter_map(|message| match message {
            Message::Log { log } => Some((log.level, log.message.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn tracing_events_become_log_messages_in_order_with_the_records() {
    let output = read(&json!({"api_key": KEY, "tickets": 3}));
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        logs(&output),
        [
            (LogLevel::Info, "fetching tickets key=****".to_owned()),
            (
                LogLevel::Warn,
                "rate limited; retrying retry_in_s=0".to_owned()
            ),
        ]
    );
    let kinds: Vec<&str> = output
        .stdout
        .lines()
        .map(|line| {
            let message: Value = serde_json::from_str(line).expect("JSON");
            match message["type"].as_str().expect("type") {
                "TRACE" => match message["trace"]["type"].as_str().expect("trace type") {
                    "ESTIMATE" => "ESTIMATE",
                    _ => "STATUS",
                },
                other => Box::leak(other.to_owned().into_boxed_str()),
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "STATUS", "ESTIMATE", "LOG", "STATUS", "RECORD", "STATUS", "LOG", "RECORD", "RECORD",
            "STATE", "STATUS"
        ]
    );
}

#[test]
fn estimates_and_rate_limits_follow_the_protocol() {
    let output = read(&json!({"api_key": KEY, "tickets": 3}));
    let estimate = &output.traces(TraceType::Estimate)[0];
    let estimate = estimate.estimate.as_ref().expect("an estimate");
    assert_eq!(
        (estimate.name.as_str(), estimate.row_estimate),
        ("tickets", Some(3))
    );
    let limited: Vec<Value> = output
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .filter(|message| message["trace"]["stream_status"]["reasons"].is_array())
        .collect();
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["trace"]["stream_status"]["status"], "RUNNING");
    assert_eq!(
        limited[0]["trace"]["stream_status"]["reasons"],
        json!([{"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1_700_000_000_000_i64}}])
    );
    if let Some(validators) = validators() {
        assert_valid(&validators, &output);
    }
}

#[test]
fn a_secret_is_marked_in_the_spec_and_masked_in_every_message() {
    let spec = testing::run(&Api, &["spec"]);
    let spec: Value = serde_json::from_str(spec.stdout.trim()).expect("JSON");
    let key = &spec["spec"]["connectionSpecification"]["properties"]["api_key"];
    assert_eq!(key["airbyte_secret"], true);
    assert_eq!(key["type"], "string");

    // CONNECTION_STATUS: the check's own message quotes the key.
    let config = temp_file("config.json", &json!({"api_key": KEY}).to_string());
    let check = testing::run(
        &Api,
        &["check", "--config", config.to_str().expect("utf-8")],
    );
    assert!(
        check.stdout.contains("the API rejected the key ****"),
        "{}",
        check.stdout
    );

    // TRACE ERROR: the reader's error and its cause quote the key.
    let output = read(&json!({"api_key": KEY, "tickets": 1, "leak_in_error": true}));
    let error = first_error(&output);
    assert_eq!(error.message, "GET /tickets?key=**** failed");
    assert!(
        error
            .internal_message
            .as_deref()
            .is_some_and(|m| m.contains("token **** expired"))
    );

    // A config error that would quote the value: the secret has the wrong type.
    let config = temp_file("config.json", r#"{"api_key": 987654321, "tickets": "x"}"#);
    let catalog = temp_file(
        "catalog.json",
        &incremental_catalog(&Api, &json!({"api_key": KEY})).to_string(),
    );
    let bad = testing::run(
        &Api,
        &[
            "read",
            "--config",
            config.to_str().expect("utf-8"),
            "--catalog",
            catalog.to_str().expect("utf-8"),
        ],
    );
    assert!(bad.stdout.contains("api_key"), "{}", bad.stdout);
    for output in [&output, &bad, &check] {
        assert!(
            !output.stdout.contains(KEY) && !output.stdout.contains("987654321"),
            "{}",
            output.stdout
        );
    }
    let config: ApiConfig = serde_json::from_value(json!({"api_key": KEY})).expect("parses");
    assert!(!format!("{config:?}").contains(KEY));
}
