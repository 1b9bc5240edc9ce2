//! Secrets in the configuration: [`Secret<T>`] marks a field, the runtime masks its value, in
//! every form a text can quote it in, in every LOG, TRACE and CONNECTION_STATUS message and in
//! its error lines and panic messages on stderr.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A configuration value that must not be shown: an API key, a password.
///
/// Its schema in the SPEC carries `"airbyte_secret": true`, so the Airbyte UI hides it; `Debug`
/// and `Display` print `****`; and the runtime replaces its value with `****` in every LOG,
/// TRACE and CONNECTION_STATUS message, including config validation errors, in the error
/// lines it writes to stderr and, in a connector process (`run!`), in panic messages once the
/// config is read. The value is masked however the text quotes it: as is,
/// escaped as in a JSON string, escaped by `{:?}`, or escaped twice (a JSON body holding the
/// key, logged with `{:?}`). Values shorter than 4 characters are not masked in text (they
/// would mask everything).
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
    /// Every form of every secret (see [`forms`]), longest first.
    forms: Mutex<Vec<String>>,
}

/// The secrets the process learnt while running (credentials the HTTP client sends, an access
/// token, a rotated refresh token). Every masker masks them too.
static REMEMBERED: Masker = Masker {
    forms: Mutex::new(Vec::new()),
};

/// Adds `secret` to what every message of the process masks (see [`Secret`]): for values the
/// connector learns while running, such as an access token. Values shorter than 4 characters
/// are not masked.
#[cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "used by the HTTP toolkit")
)]
pub(crate) fn remember(secret: &str) {
    REMEMBERED.add(secret);
}

/// `text` with every remembered secret (see [`remember`]) replaced by `****`.
#[cfg_attr(
    not(feature = "http"),
    allow(dead_code, reason = "used by the HTTP toolkit")
)]
pub(crate) fn mask_text(text: &str) -> String {
    REMEMBERED.mask_own(text).into_owned()
}

/// Shortest value masked in text.
const MIN_MASKED: usize = 4;

/// How many times a secret may have been escaped in a text: twice covers a value quoted inside
/// a quoted text (a JSON body containing the key, logged with `{:?}`).
const ESCAPE_DEPTH: usize = 2;

impl Masker {
    /// Adds the values of every `airbyte_secret` field of `schema` found in `config`, in every
    /// form they can take in a text.
    pub(crate) fn learn(&self, schema: &Value, config: &Value) {
        let mut found = Vec::new();
        collect(schema, schema, config, &mut found);
        for secret in found {
            self.add(&secret);
        }
    }

    /// Adds `secret`, in every form it can take in a text, unless it is too short.
    fn add(&self, secret: &str) {
        if secret.chars().count() < MIN_MASKED {
            return;
        }
        let mut known = self.forms.lock().unwrap_or_else(PoisonError::into_inner);
        let before = known.len();
        for form in forms(secret) {
            if !known.contains(&form) {
                known.push(form);
            }
        }
        if known.len() != before {
            // Longest first, so a secret (or a form) that contains another is masked whole.
            known.sort_by_key(|form| std::cmp::Reverse(form.len()));
        }
    }

    /// `text` with every secret, in any of its forms, replaced by `****`: this masker's and
    /// those the process remembered.
    pub(crate) fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match self.mask_own(text) {
            Cow::Borrowed(text) => REMEMBERED.mask_own(text),
            Cow::Owned(text) => Cow::Owned(REMEMBERED.mask_own(&text).into_owned()),
        }
    }

    /// [`Masker::mask`] for the panic hook, which must never wait for ever: `None` when the
    /// secrets cannot be read within a moment (a panic while this thread held them).
    pub(crate) fn try_mask(&self, text: &str) -> Option<String> {
        let give_up = Instant::now() + Duration::from_millis(200);
        let own = lock_before(&self.forms, give_up)?;
        let remembered = lock_before(&REMEMBERED.forms, give_up)?;
        let text = replace_forms(Cow::Borrowed(text), &own);
        Some(replace_forms(text, &remembered).into_owned())
    }

    /// `text` with this masker's secrets replaced by `****`.
    fn mask_own<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let forms = self.forms.lock().unwrap_or_else(PoisonError::into_inner);
        replace_forms(Cow::Borrowed(text), &forms)
    }
}

/// `text` with each of `forms` (longest first) replaced by `****`.
fn replace_forms<'t>(mut text: Cow<'t, str>, forms: &[String]) -> Cow<'t, str> {
    for form in forms {
        if text.contains(form.as_str()) {
            text = Cow::Owned(text.replace(form.as_str(), "****"));
        }
    }
    text
}

/// `forms` locked, unless it stays locked until `give_up`.
fn lock_before(
    forms: &Mutex<Vec<String>>,
    give_up: Instant,
) -> Option<MutexGuard<'_, Vec<String>>> {
    loop {
        match forms.try_lock() {
            Ok(forms) => return Some(forms),
            Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < give_up => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

/// The forms `secret` takes in a text, without duplicates: as is; escaped as inside a JSON
/// string (how the config's schema check quotes an offending value); escaped by `{:?}` (serde
/// errors, `tracing` fields recorded with `?`, `\u{301}` for a combining mark); and each
/// escaped form escaped again, up to [`ESCAPE_DEPTH`] times.
fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    let mut last = 0..forms.len();
    for _ in 0..ESCAPE_DEPTH {
        let start = forms.len();
        for index in last {
            for escaped in [json_escaped(&forms[index]), debug_escaped(&forms[index])] {
                if !forms.contains(&escaped) {
                    forms.push(escaped);
                }
            }
        }
        last = start..forms.len();
    }
    forms
}

/// `text` as `serde_json` writes it inside a string, without the quotes.
fn json_escaped(text: &str) -> String {
    unquoted(Value::from(text).to_string())
}

/// `text` as `{:?}` writes it, without the quotes.
fn debug_escaped(text: &str) -> String {
    unquoted(format!("{text:?}"))
}

/// A quoted string without its quotes.
fn unquoted(mut quoted: String) -> String {
    quoted.pop();
    quoted.remove(0);
    quoted
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Masker, forms};

    fn masker(secrets: &[&str]) -> Masker {
        let schema = json!({
            "properties": {"keys": {"type": "array", "items": {"airbyte_secret": true}}}
        });
        let masker = Masker::default();
        masker.learn(&schema, &json!({ "keys": secrets }));
        masker
    }

    #[test]
    fn masking_for_a_panic_gives_up_rather_than_wait_for_a_lock_held() {
        let masker = masker(&["sk-live-123"]);
        assert_eq!(
            masker.try_mask("key sk-live-123").as_deref(),
            Some("key ****")
        );
        let held = masker.forms.lock().expect("not poisoned");
        assert_eq!(masker.try_mask("key sk-live-123"), None);
        drop(held);
    }

    #[test]
    fn a_plain_secret_has_one_form() {
        assert_eq!(forms("sk-live-123"), ["sk-live-123"]);
    }

    #[test]
    fn escaped_forms_are_json_and_debug_escaping_up_to_twice() {
        assert_eq!(
            forms("a\"b\u{301}"),
            [
                "a\"b\u{301}",
                "a\\\"b\u{301}",
                "a\\\"b\\u{301}",
                "a\\\\\\\"b\u{301}",
                "a\\\\\\\"b\\u{301}",
                "a\\\\\\\"b\\\\u{301}",
            ]
        );
    }

    #[test]
    fn every_form_is_masked_and_short_values_are_not() {
        let masker = masker(&["sk\tkey", "abc"]);
        assert_eq!(
            masker.mask("raw sk\tkey json sk\\tkey twice sk\\\\tkey abc"),
            "raw **** json **** twice **** abc"
        );
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let masker = masker(&["key-1234", "key-1234-extra"]);
        assert_eq!(masker.mask("key-1234-extra and key-1234"), "**** and ****");
    }
}
