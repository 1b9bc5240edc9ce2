//! Secrets in the configuration: [`Secret<T>`] marks a field, the runtime masks its value in
//! every LOG, TRACE and CONNECTION_STATUS message.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A configuration value that must not be shown: an API key, a password.
///
/// Its schema in the SPEC carries `"airbyte_secret": true`, so the Airbyte UI hides it; `Debug`
/// and `Display` print `****`; and the runtime replaces its value in every LOG, TRACE and
/// CONNECTION_STATUS message, including config validation errors, with `****`. Values shorter
/// than 4 characters are not masked in text (they would mask everything).
///
/// ```
/// use tidemark::Secret;
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Config {
///     /// The API key.
///     api_key: Secret<String>,
/// }
///
/// let config: Config = serde_json::from_str(r#"{"api_key": "sk-live-123"}"#).unwrap();
/// assert_eq!(format!("{:?}", config.api_key), "****");
/// assert_eq!(config.api_key.expose(), "sk-live-123");
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value, for the code that needs it (an `Authorization` header).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

impl<T: JsonSchema> JsonSchema for Secret<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = T::json_schema(generator);
        schema.insert("airbyte_secret".to_owned(), Value::Bool(true));
        schema
    }
}

/// The secret values of one run, replaced by `****` in messages.
#[derive(Debug, Default)]
pub(crate) struct Masker {
    secrets: Mutex<Vec<String>>,
}

/// Shortest value masked in text.
const MIN_MASKED: usize = 4;

impl Masker {
    /// Adds the values of every `airbyte_secret` field of `schema` found in `config`.
    pub(crate) fn learn(&self, schema: &Value, config: &Value) {
        let mut found = Vec::new();
        collect(schema, schema, config, &mut found);
        let mut secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        for secret in found {
            if secret.chars().count() >= MIN_MASKED && !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        // Longest first, so a secret that contains another is masked whole.
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
    }

    /// `text` with every secret replaced by `****`.
    pub(crate) fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let secrets = self.secrets.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = Cow::Borrowed(text);
        for secret in secrets.iter() {
            if text.contains(secret.as_str()) {
                text = Cow::Owned(text.replace(secret.as_str(), "****"));
            }
        }
        text
    }
}

/// Walks `schema` and `value` together, collecting the values under `airbyte_secret` schemas.
fn collect(root: &Value, schema: &Value, value: &Value, found: &mut Vec<String>) {
    let schema = resolve(root, schema);
    if schema.get("airbyte_secret") == Some(&Value::Bool(true)) {
        scalars(value, found);
        return;
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(combinator) {
            for option in options {
                collect(root, option, value, found);
            }
        }
    }
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = schema.get("properties") {
                for (key, property) in properties {
                    if let Some(inner) = object.get(key) {
                        collect(root, property, inner, found);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for inner in items {
                    collect(root, item, inner, found);
                }
            }
        }
        _ => {}
    }
}

/// Follows a local `$ref` (`#/definitions/X` or `#/$defs/X`).
fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(schema),
        None => schema,
    }
}

fn scalars(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::String(text) => found.push(text.clone()),
        Value::Number(number) => found.push(number.to_string()),
        Value::Array(items) => items.iter().for_each(|item| scalars(item, found)),
        Value::Object(object) => object.values().for_each(|item| scalars(item, found)),
        Value::Null | Value::Bool(_) => {}
    }
}
