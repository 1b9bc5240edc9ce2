//! Input state: every form a platform or tool may pass with `--state`, reduced to one
//! `stream_state` JSON value per stream, then parsed into the stream's typed state.
//!
//! Accepted forms:
//!
//! - a list of state messages: `STREAM` (per stream), `GLOBAL` (its `stream_states` are used;
//!   `global_` is accepted as an alias) and `LEGACY` (its `data` is a legacy object);
//! - a single state message object;
//! - a protocol message `{"type": "STATE", "state": {...}}` as printed on stdout, alone or in
//!   a list, so an emitted STATE line can be fed back as it is; a `--state` file may also hold
//!   several such lines (JSON Lines), the later state of a stream replacing the earlier;
//! - a bare legacy object `{ "<stream>": { ... } }`;
//! - `[]`, `{}` and `null`: no state;
//! - explicit `null` anywhere a value is optional; unknown fields; duplicate keys (the last
//!   one wins, as in every JSON parser that keeps one value per key);
//! - the sentinel `{"__ab_no_cursor_state_message": true}` as a stream state: no state.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::Error;
use crate::protocol::StreamDescriptor;
use crate::stream::{IncrementalStream, StreamState};

/// The stream state the platform writes for streams that have no cursor state yet.
const NO_CURSOR_SENTINEL: &str = "__ab_no_cursor_state_message";

/// The input state, per stream.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InputState {
    streams: HashMap<StreamDescriptor, Value>,
    /// Legacy entries know only the stream name.
    legacy: HashMap<String, Value>,
}

impl InputState {
    /// Interprets a parsed `--state` file. The error message says what is wrong and where.
    pub fn from_json(json: Value) -> Result<Self, String> {
        let mut state = InputState::default();
        match json {
            Value::Null => {}
            Value::Array(messages) => {
                for (index, message) in messages.into_iter().enumerate() {
                    state
                        .add_message(message)
                        .map_err(|err| format!("state message [{index}]: {err}"))?;
                }
            }
            Value::Object(object) if looks_like_message(&object) || is_envelope(&object) => {
                state.add_message(Value::Object(object))?;
            }
            Value::Object(object) => state.add_legacy(object),
            other => {
                return Err(format!(
                    "expected a list of state messages or an object, found {}",
                    kind(&other)
                ));
            }
        }
        Ok(state)
    }

    /// The raw `stream_state` saved for a stream, if any.
    #[must_use]
    pub fn stream_state(&self, descriptor: &StreamDescriptor) -> Option<&Value> {
        self.streams.get(descriptor).or_else(|| {
            descriptor
                .namespace
                .is_none()
                .then(|| self.legacy.get(&descriptor.name))
                .flatten()
        })
    }

    /// Whether no stream has a saved state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.legacy.is_empty()
    }

    fn add_message(&mut self, message: Value) -> Result<(), String> {
        let mut object = match message {
            Value::Null => return Ok(()),
            Value::Object(object) => object,
            other => {
                return Err(format!(
                    "expected a state message object, found {}",
                    kind(&other)
                ));
            }
        };
        if let Some(inner) = unwrap_envelope(&mut object) {
            return self.add_message(inner);
        }
        let state_type = match object.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(other) => return Err(format!("`type` must be a string, found {}", kind(other))),
        };
        let global = object.remove("global").filter(|v| !v.is_null());
        let global = global.or_else(|| object.remove("global_").filter(|v| !v.is_null()));
        match state_type.as_deref() {
            Some("STREAM") => self.add_stream(object.remove("stream").unwrap_or(Value::Null)),
            Some("GLOBAL") => self.add_global(global.unwrap_or(Value::Null)),
            Some("LEGACY") => self.add_legacy_value(object.remove("data")),
            Some(other) => Err(format!(
                "unknown state type `{other}` (expected STREAM, GLOBAL or LEGACY)"
            )),
            // Old writers omitted `type`: go by the body that is present.
            None => {
                if let Some(stream) = object.remove("stream").filter(|v| !v.is_null()) {
                    self.add_stream(stream)
                } else if let Some(global) = global {
                    self.add_global(global)
                } else {
                    self.add_legacy_value(object.remove("data"))
                }
            }
        }
    }

    fn add_stream(&mut self, stream: Value) -> Result<(), String> {
        let Value::Object(mut stream) = stream else {
            return Err(format!(
                "`stream` must be an object with `stream_descriptor`, found {}",
                kind(&stream)
            ));
        };
        let descriptor = descriptor(stream.remove("stream_descriptor"))?;
        match stream.remove("stream_state") {
            None | Some(Value::Null) => {
                self.streams.remove(&descriptor);
            }
            Some(value) => {
                self.streams.insert(descriptor, value);
            }
        }
        Ok(())
    }

    fn add_global(&mut self, global: Value) -> Result<(), String> {
        let Value::Object(mut global) = global else {
            return Err(format!(
                "`global` must be an object with `stream_states`, found {}",
                kind(&global)
            ));
        };
        match global.remove("stream_states") {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Array(states)) => {
                for (index, stream) in states.into_iter().enumerate() {
                    if !stream.is_null() {
                        self.add_stream(stream)
                            .map_err(|err| format!("`stream_states[{index}]`: {err}"))?;
                    }
                }
                Ok(())
            }
            Some(other) => Err(format!(
                "`stream_states` must be a list, found {}",
                kind(&other)
            )),
        }
    }

    fn add_legacy_value(&mut self, data: Option<Value>) -> Result<(), String> {
        match data {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Object(object)) => {
                self.add_legacy(object);
                Ok(())
            }
            Some(other) => Err(format!(
                "legacy `data` must be an object, found {}",
                kind(&other)
            )),
        }
    }

    fn add_legacy(&mut self, object: Map<String, Value>) {
        for (name, value) in object {
            if value.is_null() {
                self.legacy.remove(&name);
            } else {
                self.legacy.insert(name, value);
            }
        }
    }
}

/// `{"type": "STATE", "state": {...}}`: a STATE line as printed on stdout.
fn is_envelope(object: &Map<String, Value>) -> bool {
    object.get("type") == Some(&Value::String("STATE".to_owned()))
        && object.get("state").is_some_and(Value::is_object)
}

fn unwrap_envelope(object: &mut Map<String, Value>) -> Option<Value> {
    is_envelope(object)
        .then(|| object.remove("state"))
        .flatten()
}

/// A single state message rather than a legacy object keyed by stream names.
fn looks_like_message(object: &Map<String, Value>) -> bool {
    matches!(
        object.get("type"),
        Some(Value::String(kind)) if matches!(kind.as_str(), "STREAM" | "GLOBAL" | "LEGACY")
    )
}

fn descriptor(value: Option<Value>) -> Result<StreamDescriptor, String> {
    let Some(Value::Object(mut object)) = value else {
        return Err("`stream_descriptor` with a `name` is required".to_owned());
    };
    let Some(Value::String(name)) = object.remove("name") else {
        return Err("`stream_descriptor.name` must be a string".to_owned());
    };
    let namespace = match object.remove("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(namespace)) => Some(namespace),
        Some(other) => {
            return Err(format!(
                "`stream_descriptor.namespace` must be a string, found {}",
                kind(&other)
            ));
        }
    };
    Ok(StreamDescriptor { name, namespace })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses a stream's saved `stream_state` into its typed state.
///
/// An object without the cursor key is an error, not "no state": reading the stream from
/// scratch because a key was renamed would silently duplicate everything.
pub fn parse_stream_state<S: IncrementalStream>(
    json: Option<&Value>,
) -> Result<Option<S::State>, Error> {
    let Some(json) = json else { return Ok(None) };
    let invalid = |message: String| Error::State {
        stream: S::descriptor().to_string(),
        message,
        json: json.to_string(),
    };
    let object = match json {
        Value::Null => return Ok(None),
        Value::Object(object) => object,
        other => {
            return Err(invalid(format!(
                "expected an object, found {}",
                kind(other)
            )));
        }
    };
    if object.is_empty() || object.get(NO_CURSOR_SENTINEL) == Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let keys = <S::State as StreamState>::KEYS;
    let quoted = |keys: &[&str]| -> String {
        let keys: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
        keys.join(" and ")
    };
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| !object.contains_key(*key))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!("no {} in the state", quoted(&missing))));
    }
    // All parts null is "no watermark yet"; some null is a state that claims half a cursor.
    let nulls: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| object.get(*key).is_some_and(Value::is_null))
        .collect();
    if !nulls.is_empty() && nulls.len() < keys.len() {
        return Err(invalid(format!(
            "{} is null but the rest of the compound cursor is set",
            quoted(&nulls)
        )));
    }
    let state: S::State = serde_path_to_error::deserialize(json)
        .map_err(|err| invalid(format!("`{}`: {}", err.path(), err.inner())))?;
    Ok(state.watermark().is_some().then_some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders() -> StreamDescriptor {
        StreamDescriptor::new("orders", None)
    }

    #[test]
    fn stream_messages_are_keyed_by_descriptor() {
        let state = InputState::from_json(json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders", "namespace": null}, "stream_state": {"c": 1}}},
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders", "namespace": "shop"}, "stream_state": {"c": 2}}},
        ]))
        .expect("valid");
        assert_eq!(state.stream_state(&orders()), Some(&json!({"c": 1})));
        assert_eq!(
            state.stream_state(&StreamDescriptor::new("orders", Some("shop"))),
            Some(&json!({"c": 2}))
        );
    }

    #[test]
    fn global_and_legacy_forms_are_understood() {
        let global = InputState::from_json(
            json!({"type": "GLOBAL", "global_": {"shared_state": null, "stream_states": [
                {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 3}}
            ]}}),
        )
        .expect("valid");
        assert_eq!(global.stream_state(&orders()), Some(&json!({"c": 3})));
        let legacy = InputState::from_json(json!({"orders": {"c": 4}})).expect("valid");
        assert_eq!(legacy.stream_state(&orders()), Some(&json!({"c": 4})));
        let wrapped =
            InputState::from_json(json!([{"type": "LEGACY", "data": {"orders": {"c": 5}}}]))
                .expect("valid");
        assert_eq!(wrapped.stream_state(&orders()), Some(&json!({"c": 5})));
    }

    #[test]
    fn empty_forms_mean_no_state() {
        for empty in [json!(null), json!([]), json!({}), json!([null])] {
            assert!(InputState::from_json(empty).expect("valid").is_empty());
        }
    }

    #[test]
    fn malformed_messages_are_errors_with_a_position() {
        let err = InputState::from_json(json!([{"type": "STREAM", "stream": {}}])).unwrap_err();
        assert!(
            err.contains("[0]") && err.contains("stream_descriptor"),
            "{err}"
        );
        let err = InputState::from_json(json!([{"type": "PARTIAL"}])).unwrap_err();
        assert!(err.contains("PARTIAL"), "{err}");
        let err = InputState::from_json(json!(42)).unwrap_err();
        assert!(err.contains("a number"), "{err}");
    }
}
