//! JSON helpers for the input files: a pass that checks a text is JSON without building
//! anything, and small facts about raw JSON values.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// What [`survey`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Survey {
    /// About how many bytes a `serde_json::Value` of the text would take: the measure that
    /// tells a small config from one that would take far more memory than its size.
    pub(crate) tree_bytes: u64,
}

/// Checks that `bytes` is one JSON value exactly as `serde_json::from_slice::<Value>` would
/// (syntax, UTF-8, the nesting limit, numbers in range, with the same errors), without building
/// anything, and estimates what a `Value` of it would take.
pub(crate) fn survey(bytes: &[u8]) -> Result<Survey, serde_json::Error> {
    let mut tree_bytes = 0;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    Node(&mut tree_bytes).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(Survey { tree_bytes })
}

/// Checks like [`survey`] that `bytes` is one JSON value or several separated by whitespace
/// (JSON Lines).
pub(crate) fn check_values(bytes: &[u8]) -> Result<(), serde_json::Error> {
    /// A value checked and dropped.
    struct Checked;

    impl<'de> serde::Deserialize<'de> for Checked {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            Node(&mut 0).deserialize(deserializer).map(|()| Checked)
        }
    }

    for value in serde_json::Deserializer::from_slice(bytes).into_iter::<Checked>() {
        value?;
    }
    Ok(())
}

/// Size of a `serde_json::Value`.
const VALUE: u64 = 32;
/// A `BTreeMap<String, Value>` node: 11 keys, 11 values and its links, as allocated.
const MAP_NODE: u64 = 640;
/// Entries per map node, on average once a map has split.
const MAP_FILL: u64 = 8;

/// One JSON value, visited to check it; its estimated `Value` size is added to the counter.
struct Node<'c>(&'c mut u64);

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Node<'_> {
    /// A heap-allocated string of `len` bytes, with the allocator's overhead.
    fn string(&mut self, len: usize) {
        if len > 0 {
            *self.0 += (len as u64 + 8).next_multiple_of(16).max(32);
        }
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(mut self, text: &str) -> Result<(), E> {
        self.string(text.len());
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut len: u64 = 0;
        while seq.next_element_seed(Node(&mut *self.0))?.is_some() {
            len += 1;
        }
        if len > 0 {
            // A `Vec<Value>` grown by doubling from 4.
            *self.0 += VALUE * len.next_power_of_two().max(4);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut len: u64 = 0;
        while map.next_key_seed(Node(&mut *self.0))?.is_some() {
            map.next_value_seed(Node(&mut *self.0))?;
            len += 1;
        }
        if len > 0 {
            *self.0 += MAP_NODE * len.div_ceil(MAP_FILL);
        }
        Ok(())
    }
}

/// What kind of JSON value `raw` is, for messages: "a number", "an object", ...
pub(crate) fn kind(raw: &RawValue) -> &'static str {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "a list",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

/// Whether `raw` is `null`.
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get().trim() == "null"
}

/// Whether `raw` is an object.
pub(crate) fn is_object(raw: &RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// An error's text without the position `serde_json` appends: positions in a raw value that was
/// cut out of a file mean nothing to the reader, who is told the entry and field instead.
pub(crate) fn error_text(err: &serde_json::Error) -> String {
    let text = err.to_string();
    if err.line() == 0 {
        return text;
    }
    let position = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&position) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// `raw` without the whitespace between tokens, for messages that quote it.
pub(crate) fn compact(raw: &RawValue) -> String {
    let mut out = String::with_capacity(raw.get().len());
    let mut in_string = false;
    let mut escaped = false;
    for c in raw.get().chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// An object key, borrowed from the text when it has no escapes.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'a> serde::Deserialize<'a> for Key<'a> {
    fn deserialize<D: serde::Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;

        impl<'a> Visitor<'a> for Visit {
            type Value = Key<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, key: &'a str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, key: String) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }

        deserializer.deserialize_str(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn the_survey_fails_where_a_value_parse_fails_with_the_same_error() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        for text in [
            "{\"a\": ",
            "[1, 2",
            "{\"ts\": 1e999}",
            deep.as_str(),
            "\"\\ud800\"",
            "{} x",
            "",
        ] {
            let expected = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
            let found = survey(text.as_bytes()).unwrap_err();
            assert_eq!(found.to_string(), expected.to_string(), "{text}");
        }
        let invalid_utf8 = b"[\"\xff\"]";
        let expected = serde_json::from_slice::<serde_json::Value>(invalid_utf8).unwrap_err();
        assert_eq!(
            survey(invalid_utf8).unwrap_err().to_string(),
            expected.to_string()
        );
        assert!(check_values(b"{} {}\n[]").is_ok());
        assert!(check_values(b"{} [1e999]").is_err());
        assert!(survey(b"{} {}").is_err());
    }

    #[test]
    fn the_estimate_grows_with_small_objects_far_faster_than_the_text() {
        let small: String = std::iter::repeat_n(r#"{"a":1}"#, 10_000)
            .collect::<Vec<_>>()
            .join(",");
        let small = format!("[{small}]");
        let tree = survey(small.as_bytes()).expect("JSON").tree_bytes;
        assert!(tree > 50 * small.len() as u64, "{tree} for {}", small.len());
        let text = format!(r#"{{"key": "{}"}}"#, "x".repeat(100_000));
        let tree = survey(text.as_bytes()).expect("JSON").tree_bytes;
        assert!(tree < 2 * text.len() as u64, "{tree} for {}", text.len());
    }

    #[test]
    fn raw_value_facts() {
        assert_eq!(kind(raw("5")), "a number");
        assert_eq!(kind(raw("-5")), "a number");
        assert_eq!(kind(raw("[]")), "a list");
        assert!(is_null(raw("null")));
        assert!(is_object(raw("{}")));
        assert_eq!(
            compact(raw("{ \"a b\" : [1, \"\\\" x\"] ,\n \"c\":{} }")),
            r#"{"a b":[1,"\" x"],"c":{}}"#
        );
    }

    #[test]
    fn positions_are_left_out_of_error_texts() {
        let err = serde_json::from_str::<u8>("\n 300").unwrap_err();
        assert!(err.line() > 0);
        assert!(error_text(&err).starts_with("invalid value"));
        assert!(!error_text(&err).contains("line"), "{}", error_text(&err));
    }
}
