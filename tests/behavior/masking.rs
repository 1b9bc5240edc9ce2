//! Secrets masked in whatever form a message quotes them: as is, escaped as in a JSON string (a
//! schema violation quotes the offending value so), escaped by `{:?}` (serde errors, `tracing`
//! fields recorded with `?`), on stdout and on stderr.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{Deserialize, Deserializer, Error as _, Unexpected};
use serde_json::{Value, json};
use tidemark::testing::{self, Output};
use tidemark::{Error, Secret, Sink, Slice, Source, Streams};

use crate::support::temp_file;

/// Secrets that escaping changes: a quote, backslashes, control characters, a tab, non-ASCII
/// (a letter nothing escapes, and a combining mark that `{:?}` writes as `\u{301}`).
const SECRETS: [&str; 7] = [
    "sk-\"quoted\"-1234",
    r"sk\back\slash",
    "sk-\u{1}ctrl-5678",
    "sk-line\nbreak-9012",
    "sk-\ttab-3456",
    "sk-naïve-7890",
    "sk-cafe\u{301}-2468",
];

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(
    dead_code,
    reason = "`pin` and `signing_key` are only there to fail validation"
)]
pub struct VaultConfig {
    /// The API key.
    api_key: Secret<String>,
    /// The account's numeric PIN, when the API asks for one.
    #[serde(default)]
    pin: Option<Secret<u32>>,
    /// A signing key: `key-` and the key.
    #[serde(default)]
    signing_key: Option<Secret<SigningKey>>,
}

/// A key that checks its form when the config is read; its schema only says "a string", so a
/// wrong one fails deserialization, whose error quotes it with `{:?}`.
#[derive(Debug)]
pub struct SigningKey;

impl<'de> Deserialize<'de> for SigningKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.starts_with("key-") {
            Ok(SigningKey)
        } else {
            Err(D::Error::invalid_value(
                Unexpected::Str(&text),
                &"a key starting with `key-`",
            ))
        }
    }
}

impl JsonSchema for SigningKey {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SigningKey".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string"})
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "documents", cursor = "id")]
pub struct Document {
    id: u64,
}

/// A source whose check and reader quote the API key in every way a connector might.
struct Vault;

impl Source for Vault {
    const NAME: &'static str = "source-vault";
    type Config = VaultConfig;

    fn check(&self, config: &VaultConfig) -> Result<(), Error> {
        Err(Error::config(format!(
            "the API rejected the key {:?}",
            config.api_key.expose()
        )))
    }

    fn streams<'a>(&'a self, config: &'a VaultConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().stream(move |_slice: &Slice<Document>, out: &mut Sink<Document>| {
                let key = config.api_key.expose();
                let body = json!({"error": "expired", "key": key}).to_string();
                tracing::info!(key = %key, "calling the API");
                tracing::info!(key = ?key, "calling the API again");
                tracing::warn!("the API answered {body:?}");
                out.emit(&Document { id: 1 })?;
                Err(Error::system(format!("GET /documents answered {body}"))
                    .with_source(std::io::Error::other(format!("token {key:?} expired"))))
            }),
        )
    }
}

/// Every form `secret` could leak in: as is, JSON-escaped, `{:?}`-escaped, and each of those
/// escaped again (as a message's text is when written as a JSON line).
fn encodings(secret: &str) -> Vec<String> {
    let json = |text: &str| {
        let quoted = Value::from(text).to_string();
        quoted[1..quoted.len() - 1].to_owned()
    };
    let debug = |text: &str| {
        let quoted = format!("{text:?}");
        quoted[1..quoted.len() - 1].to_owned()
    };
    let once = [secret.to_owned(), json(secret), debug(secret)];
    let mut all = once.to_vec();
    for form in &once {
        all.push(json(form));
        all.push(debug(form));
    }
    all
}

/// Every string in a JSON value, keys included.
fn strings(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => found.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|item| strings(item, found)),
        Value::Object(object) => {
            for (key, item) in object {
                found.push(key.clone());
                strings(item, found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Fails when stdout (as printed and as decoded) or stderr holds `secret` in any form.
fn assert_not_leaked(output: &Output, secret: &str, what: &str) {
    let mut texts = vec![output.stdout.clone(), output.stderr.clone()];
    for line in output.stdout.lines() {
        strings(&serde_json::from_str(line).expect("JSON"), &mut texts);
    }
    for form in encodings(secret) {
        for text in &texts {
            assert!(
                !text.contains(&form),
                "{what}: secret {secret:?} leaked as {form:?} in {text:?}\nstdout: {}\nstderr: {}",
                output.stdout,
                output.stderr
            );
        }
    }
}

/// Runs `command` (`check`, `discover` or `read`) with `config` as the config file.
fn run(command: &str, config: &Value) -> Output {
    let config = temp_file("config.json", &config.to_string());
    let config = config.to_str().expect("utf-8 path");
    if command == "read" {
        let valid = json!({"api_key": "placeholder-key"});
        let catalog = testing::incremental_catalog(&Vault, &valid).to_string();
        let catalog = temp_file("catalog.json", &catalog);
        let catalog = catalog.to_str().expect("utf-8 path");
        testing::run(&Vault, &[command, "--config", config, "--catalog", catalog])
    } else {
        testing::run(&Vault, &[command, "--config", config])
    }
}

/// The text of the run's CONNECTION_STATUS or first TRACE ERROR.
fn reported(output: &Output) -> String {
    output
        .stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .find_map(|message| {
            message["connectionStatus"]["message"]
                .as_str()
                .or_else(|| message["trace"]["error"]["message"].as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("nothing reported in: {}", output.stdout))
}

#[test]
fn a_secret_quoted_by_a_schema_violation_is_masked_whatever_its_characters() {
    for secret in SECRETS {
        // A string where the schema wants a number: the schema check quotes it as JSON.
        let config = json!({"api_key": "placeholder-key", "pin": secret});
        for command in ["check", "discover", "read"] {
            let output = run(command, &config);
            let message = reported(&output);
            assert!(
                message.contains("`pin`") && message.contains("\"****\""),
                "{command}: {message}"
            );
            assert_not_leaked(&output, secret, command);
        }
    }
}

#[test]
fn a_secret_quoted_by_a_deserialization_error_is_masked_whatever_its_characters() {
    for secret in SECRETS {
        // A string of the right type and the wrong form: serde quotes it with `{:?}`.
        let config = json!({"api_key": secret, "signing_key": secret});
        for command in ["check", "discover", "read"] {
            let output = run(command, &config);
            let message = reported(&output);
            assert!(
                message.contains("`signing_key`") && message.contains("string \"****\""),
                "{command}: {message}"
            );
            assert_not_leaked(&output, secret, command);
        }
    }
}

#[test]
fn a_secret_in_a_check_a_reader_error_or_a_log_is_masked_whatever_its_characters() {
    for secret in SECRETS {
        let config = json!({"api_key": secret});
        let check = run("check", &config);
        assert_eq!(reported(&check), "the API rejected the key \"****\"");
        assert_not_leaked(&check, secret, "check");

        let read = run("read", &config);
        assert_eq!(read.exit_code, 1);
        assert_eq!(
            reported(&read),
            r#"GET /documents answered {"error":"expired","key":"****"}"#
        );
        let logs: Vec<String> = read
            .stdout
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
            .filter(|message| message["type"] == "LOG")
            .map(|message| message["log"]["message"].as_str().expect("text").to_owned())
            .collect();
        assert_eq!(
            logs,
            [
                "calling the API key=****",
                "calling the API again key=\"****\"",
                r#"the API answered "{\"error\":\"expired\",\"key\":\"****\"}""#,
            ]
        );
        assert!(read.stderr.contains("\"key\":\"****\""), "{}", read.stderr);
        assert_not_leaked(&read, secret, "read");
    }
}
