//! Input state: every form a platform or tool may pass with `--state`, reduced to one
//! `stream_state` per stream, kept as the JSON text it was saved as, then parsed into the
//! stream's typed state.
//!
//! Accepted forms:
//!
//! - a list of state messages: `STREAM` (per stream), `GLOBAL` (its `stream_states` are used;
//!   `global_` is accepted as an alias) and `LEGACY` (its `data` is a legacy object);
//! - a single state message object;
//! - a protocol message `{"type": "STATE", "state": {...}}` as printed on stdout, alone or in
//!   a list, so an emitted STATE line can be fed back as it is; a `--state` file may also hold
//!   several such lines (JSON Lines), the later state of a stream replacing the earlier;
//! - a bare stream state `{"stream_descriptor": {...}, "stream_state": {...}}` (the protocol's
//!   `AirbyteStreamState` without its message), alone or in a list;
//! - a bare legacy object `{ "<stream>": { ... } }`;
//! - `[]`, `{}` and `null`: no state;
//! - explicit `null` anywhere a value is optional; unknown fields; duplicate keys (the last
//!   one wins, as in every JSON parser that keeps one value per key);
//! - the sentinel `{"__ab_no_cursor_state_message": true}` as a stream state: no state.
//!
//! Anything else is an error that names the entry: a list entry with neither a `type` nor a
//! body (`[{"foo": 1}]`) would otherwise be read as no state and the streams read again from
//! the start, and so would a stream state that holds the sentinel beside other keys.
//!
//! A legacy entry is keyed by stream name only: it applies to the stream of that name in any
//! namespace, unless a `STREAM` state names the stream exactly.
//!
//! Stream states are kept as JSON text ([`RawValue`]), not as a [`Value`], for two reasons: an
//! integer cursor past 64 bits (`u128`, `i128`) reads back exactly, and a large state file
//! takes memory close to its size rather than the many times more a tree of small values takes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::json::{self, Key};
use crate::protocol::{GlobalState, StateMessage, StateType, StreamDescriptor, StreamState};
use crate::stream::{IncrementalStream, StreamState as _};

/// The stream state the platform writes for streams that have no cursor state yet.
const NO_CURSOR_SENTINEL: &str = "__ab_no_cursor_state_message";

/// Keys that make an object without `type` a state message.
const BODIES: [&str; 4] = ["stream", "global", "global_", "data"];

/// The input state, per stream.
#[derive(Debug, Default, Clone)]
pub struct InputState {
    streams: HashMap<StreamDescriptor, Box<RawValue>>,
    /// Legacy entries know only the stream name.
    legacy: HashMap<String, Box<RawValue>>,
}

impl InputState {
    /// Interprets the text of a `--state` file: one JSON value, or several one after the other
    /// (JSON Lines), which are read as the entries of a list. The error message says what is
    /// wrong and where.
    pub fn from_text(text: &str) -> Result<Self, String> {
        // Syntax, nesting and number range are checked once, over the whole text, so that every
        // raw value taken out of it below is valid JSON of bounded depth.
        json::check_values(text.as_bytes()).map_err(|err| format!("is not valid JSON: {err}"))?;
        let mut state = InputState::default();
        let mut values = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        let invalid = |err: serde_json::Error| format!("is not valid JSON: {err}");
        let first = values.next().transpose().map_err(invalid)?;
        let second = values.next().transpose().map_err(invalid)?;
        match (first, second) {
            (None, _) => return Err("holds no JSON value".to_owned()),
            (Some(only), None) => state.add_file(only)?,
            (Some(first), Some(second)) => {
                state.add_entry(0, first)?;
                state.add_entry(1, second)?;
                for (index, value) in (2..).zip(values) {
                    state.add_entry(index, value.map_err(invalid)?)?;
                }
            }
        }
        Ok(state)
    }

    /// Interprets a parsed `--state` file. The error message says what is wrong and where.
    ///
    /// A [`Value`] cannot hold an integer past 64 bits exactly: read such states with
    /// [`InputState::from_text`].
    pub fn from_json(json: &Value) -> Result<Self, String> {
        Self::from_text(&json.to_string())
    }

    /// The raw `stream_state` saved for a stream, if any: the `STREAM` state of exactly this
    /// stream, or else the legacy entry of its name.
    #[must_use]
    pub fn stream_state(&self, descriptor: &StreamDescriptor) -> Option<&RawValue> {
        self.streams
            .get(descriptor)
            .or_else(|| self.legacy.get(&descriptor.name))
            .map(AsRef::as_ref)
    }

    /// Whether no stream has a saved state.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.legacy.is_empty()
    }

    /// The file's only value.
    fn add_file(&mut self, value: &RawValue) -> Result<(), String> {
        if json::is_null(value) {
            return Ok(());
        }
        if value.get().trim_start().starts_with('[') {
            return read(value, Entries(self)).map_err(|err| json::error_text(&err));
        }
        if !json::is_object(value) {
            return Err(format!(
                "expected a list of state messages or an object, found {}",
                json::kind(value)
            ));
        }
        let probe = Probe::of(value)?;
        // Without a `type`, an object is a legacy object keyed by stream names (a stream may
        // well be called `stream` or `data`), unless it is a bare stream state.
        if probe.state_type.is_some_and(|raw| !json::is_null(raw))
            || (probe.is_bare_stream_state() && probe.other_keys.is_empty())
        {
            self.add_message(value, &probe)
        } else {
            self.add_legacy(value)
                .map_err(|err| format!("legacy state: {err}"))
        }
    }

    /// Entry `index` of a list (or of JSON Lines).
    fn add_entry(&mut self, index: usize, entry: &RawValue) -> Result<(), String> {
        let added = if json::is_null(entry) {
            Ok(())
        } else if json::is_object(entry) {
            Probe::of(entry).and_then(|probe| self.add_message(entry, &probe))
        } else {
            Err(format!(
                "expected a state message object, found {}",
                json::kind(entry)
            ))
        };
        added.map_err(|err| format!("state message [{index}]: {err}"))
    }

    /// A state message, a STATE line's envelope or a bare stream state.
    fn add_message(&mut self, object: &RawValue, probe: &Probe<'_>) -> Result<(), String> {
        match probe.type_name()?.as_deref() {
            Some("STATE") => match probe.state {
                None => Ok(()),
                Some(inner) if json::is_null(inner) => Ok(()),
                Some(inner) if json::is_object(inner) => {
                    self.add_message(inner, &Probe::of(inner)?)
                }
                Some(inner) => Err(format!(
                    "`state` must be a state message object, found {}",
                    json::kind(inner)
                )),
            },
            Some("STREAM" | "GLOBAL" | "LEGACY") => self.apply(parse(object)?),
            Some(other) => Err(format!(
                "unknown state type `{other}` (expected STREAM, GLOBAL or LEGACY)"
            )),
            None if probe.body => self.apply(parse(object)?),
            None if probe.is_bare_stream_state() => self.add_stream(parse(object)?),
            None if probe.keys == 0 => Ok(()),
            None => Err(format!(
                "not a state message: it has no `type`, no `stream`, `global` or `data`, and \
                 no `stream_descriptor`, only {}",
                probe.others()
            )),
        }
    }

    fn apply(&mut self, message: StateMessage<&RawValue>) -> Result<(), String> {
        let StateMessage {
            state_type,
            stream,
            global,
            data,
            ..
        } = message;
        match (state_type, stream, global) {
            (Some(StateType::Stream) | None, Some(stream), _) => self.add_stream(stream),
            (Some(StateType::Stream), None, _) => {
                Err("a STREAM state needs a `stream` object with a `stream_descriptor`".to_owned())
            }
            (Some(StateType::Global) | None, _, Some(global)) => self.add_global(global),
            (Some(StateType::Global), _, None) => {
                Err("a GLOBAL state needs a `global` object with `stream_states`".to_owned())
            }
            (Some(StateType::Legacy) | None, _, _) => match data {
                None => Ok(()),
                Some(data) if json::is_object(data) => self
                    .add_legacy(data)
                    .map_err(|err| format!("`data`: {err}")),
                Some(data) => Err(format!(
                    "legacy `data` must be an object, found {}",
                    json::kind(data)
                )),
            },
        }
    }

    fn add_stream(&mut self, stream: StreamState<&RawValue>) -> Result<(), String> {
        let StreamState {
            stream_descriptor: descriptor,
            stream_state,
        } = stream;
        match stream_state {
            None => {
                self.streams.remove(&descriptor);
            }
            Some(state) => {
                check_sentinel(state)
                    .map_err(|err| format!("`stream_state` of stream `{descriptor}`: {err}"))?;
                self.streams.insert(descriptor, state.to_owned());
            }
        }
        Ok(())
    }

    fn add_global(&mut self, global: GlobalState<&RawValue>) -> Result<(), String> {
        for (index, stream) in global.stream_states.into_iter().enumerate() {
            self.add_stream(stream)
                .map_err(|err| format!("`stream_states[{index}]`: {err}"))?;
        }
        Ok(())
    }

    /// A legacy object: each stream's state under its name; `null` removes it.
    fn add_legacy(&mut self, object: &RawValue) -> Result<(), String> {
        read(object, Legacy(self)).map_err(|err| json::error_text(&err))
    }
}

/// Reads `raw` with `seed`.
fn read<'a, S: DeserializeSeed<'a, Value = ()>>(
    raw: &'a RawValue,
    seed: S,
) -> Result<(), serde_json::Error> {
    seed.deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
}

/// Deserializes part of the protocol model from `raw`; the error names the field.
fn parse<'a, T: serde::Deserialize<'a>>(raw: &'a RawValue) -> Result<T, String> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(raw.get())).map_err(
        |err| {
            let message = json::error_text(err.inner());
            match err.path().iter().next() {
                None => message,
                Some(_) => format!("`{}`: {message}", err.path()),
            }
        },
    )
}

/// A stream state that holds the no-cursor sentinel beside other keys is refused: which one
/// was meant cannot be known, and reading it as no state would read the stream again.
fn check_sentinel(state: &RawValue) -> Result<(), String> {
    if !json::is_object(state) {
        return Ok(());
    }
    let members = members(state).map_err(|err| json::error_text(&err))?;
    if !sentinel_is_set(&members) {
        return Ok(());
    }
    match members.iter().find(|(key, _)| key != NO_CURSOR_SENTINEL) {
        Some((key, _)) => Err(format!(
            "`{NO_CURSOR_SENTINEL}` (no state) is set beside `{key}`; keep one or the other"
        )),
        None => Ok(()),
    }
}

/// Whether the last `__ab_no_cursor_state_message` among `members` is `true`.
fn sentinel_is_set(members: &[(Cow<'_, str>, &RawValue)]) -> bool {
    members
        .iter()
        .rev()
        .find(|(key, _)| key == NO_CURSOR_SENTINEL)
        .is_some_and(|(_, value)| value.get().trim() == "true")
}

/// The members of a JSON object, in order, repeated keys included.
fn members(object: &RawValue) -> Result<Vec<(Cow<'_, str>, &RawValue)>, serde_json::Error> {
    struct Members;

    impl<'a> Visitor<'a> for Members {
        type Value = Vec<(Cow<'a, str>, &'a RawValue)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(Key(key)) = map.next_key()? {
                members.push((key, map.next_value()?));
            }
            Ok(members)
        }
    }

    serde_json::Deserializer::from_str(object.get()).deserialize_map(Members)
}

/// The keys of a state message object that tell its form.
#[derive(Default)]
struct Probe<'a> {
    /// The last `type`.
    state_type: Option<&'a RawValue>,
    /// The last `state`: the body of a STATE line's envelope.
    state: Option<&'a RawValue>,
    /// Whether one of [`BODIES`] is present.
    body: bool,
    /// Whether `stream_descriptor` is present.
    descriptor: bool,
    /// Every key that is none of the above, for messages (the first few).
    other_keys: Vec<String>,
    /// How many keys there are.
    keys: usize,
}

impl<'a> Probe<'a> {
    const LISTED: usize = 3;

    fn of(object: &'a RawValue) -> Result<Self, String> {
        struct Visit;

        impl<'a> Visitor<'a> for Visit {
            type Value = Probe<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a state message object")
            }

            fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Probe<'a>, A::Error> {
                let mut probe = Probe::default();
                while let Some(Key(key)) = map.next_key()? {
                    probe.keys += 1;
                    let value: &RawValue = map.next_value()?;
                    match &*key {
                        "type" => probe.state_type = Some(value),
                        "state" => probe.state = Some(value),
                        "stream_descriptor" => probe.descriptor = true,
                        // Known, but not enough to tell the form.
                        "stream_state" | "sourceStats" | "destinationStats" => {}
                        key if BODIES.contains(&key) => probe.body = true,
                        key => {
                            if probe.other_keys.len() < Probe::LISTED {
                                probe.other_keys.push(key.to_owned());
                            }
                        }
                    }
                }
                Ok(probe)
            }
        }

        serde_json::Deserializer::from_str(object.get())
            .deserialize_map(Visit)
            .map_err(|err| json::error_text(&err))
    }

    /// The `type`, when one is given.
    fn type_name(&self) -> Result<Option<String>, String> {
        match self.state_type {
            None => Ok(None),
            Some(raw) if json::is_null(raw) => Ok(None),
            Some(raw) => serde_json::from_str(raw.get())
                .map(Some)
                .map_err(|_| format!("`type` must be a string, found {}", json::kind(raw))),
        }
    }

    /// `{"stream_descriptor": .., "stream_state": ..}` with no message around it.
    fn is_bare_stream_state(&self) -> bool {
        self.descriptor && !self.body && self.state_type.is_none_or(json::is_null)
    }

    /// The keys that say nothing about the form, for messages.
    fn others(&self) -> String {
        let mut listed: Vec<String> = self
            .other_keys
            .iter()
            .map(|key| format!("`{key}`"))
            .collect();
        let unlisted = self.keys.saturating_sub(self.other_keys.len());
        if unlisted > 0 && !listed.is_empty() {
            listed.push(format!("{unlisted} more"));
        }
        if listed.is_empty() {
            "keys that carry no state".to_owned()
        } else {
            listed.join(", ")
        }
    }
}

/// The entries of a list of state messages, added as they are read.
struct Entries<'s>(&'s mut InputState);

impl<'a> DeserializeSeed<'a> for Entries<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'a>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'a> Visitor<'a> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of state messages")
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(entry) = seq.next_element::<&'a RawValue>()? {
            self.0.add_entry(index, entry).map_err(de::Error::custom)?;
            index += 1;
        }
        Ok(())
    }
}

/// The members of a legacy object, added as they are read.
struct Legacy<'s>(&'s mut InputState);

impl<'a> DeserializeSeed<'a> for Legacy<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'a>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'a> Visitor<'a> for Legacy<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of stream states keyed by stream name")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key::<String>()? {
            match map.next_value::<Option<&'a RawValue>>()? {
                None => {
                    self.0.legacy.remove(&name);
                }
                Some(state) => {
                    check_sentinel(state)
                        .map_err(|err| de::Error::custom(format_args!("stream `{name}`: {err}")))?;
                    self.0.legacy.insert(name, state.to_owned());
                }
            }
        }
        Ok(())
    }
}

/// Parses a stream's saved `stream_state` (its JSON text) into its typed state.
///
/// `null`, `{}` and the no-cursor sentinel `{"__ab_no_cursor_state_message": true}` are no
/// state. An object without the cursor key is an error, not "no state": reading the stream
/// from scratch because a key was renamed would silently duplicate everything; so is the
/// sentinel beside other keys. A repeated key keeps its last value.
pub fn parse_stream_state<S: IncrementalStream>(
    json: Option<&RawValue>,
) -> Result<Option<S::State>, Error> {
    let Some(json) = json else { return Ok(None) };
    let invalid = |message: String| Error::State {
        stream: S::descriptor().to_string(),
        message,
        json: json::compact(json),
    };
    if json::is_null(json) {
        return Ok(None);
    }
    if !json::is_object(json) {
        return Err(invalid(format!(
            "expected an object, found {}",
            json::kind(json)
        )));
    }
    let mut members = members(json).map_err(|err| invalid(json::error_text(&err)))?;
    // The last of repeated keys wins.
    let mut seen = std::collections::HashSet::new();
    members.reverse();
    members.retain(|(key, _)| seen.insert(key.clone()));
    members.reverse();
    if members.is_empty() {
        return Ok(None);
    }
    if sentinel_is_set(&members) {
        return match members.iter().find(|(key, _)| key != NO_CURSOR_SENTINEL) {
            Some((key, _)) => Err(invalid(format!(
                "`{NO_CURSOR_SENTINEL}` (no state) is set beside `{key}`"
            ))),
            None => Ok(None),
        };
    }
    let value = |key: &str| {
        members
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| *value)
    };
    let keys = <S::State as crate::stream::StreamState>::KEYS;
    let quoted = |keys: &[&str]| -> String {
        let keys: Vec<String> = keys.iter().map(|key| format!("`{key}`")).collect();
        keys.join(" and ")
    };
    let missing: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| value(key).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!("no {} in the state", quoted(&missing))));
    }
    // All parts null is "no watermark yet"; some null is a state that claims half a cursor.
    let nulls: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|key| value(key).is_some_and(json::is_null))
        .collect();
    if !nulls.is_empty() && nulls.len() < keys.len() {
        return Err(invalid(format!(
            "{} is null but the rest of the compound cursor is set",
            quoted(&nulls)
        )));
    }
    let deserializer = de::value::MapDeserializer::<_, serde_json::Error>::new(members.into_iter());
    let state: S::State = serde_path_to_error::deserialize(deserializer).map_err(|err| {
        invalid(format!(
            "`{}`: {}",
            err.path(),
            json::error_text(err.inner())
        ))
    })?;
    Ok(state.watermark().is_some().then_some(state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn orders() -> StreamDescriptor {
        StreamDescriptor::new("orders", None)
    }

    fn text(raw: Option<&RawValue>) -> Option<&str> {
        raw.map(RawValue::get)
    }

    #[test]
    fn stream_messages_are_keyed_by_descriptor() {
        let state = InputState::from_json(&json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders", "namespace": null}, "stream_state": {"c": 1}}},
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders", "namespace": "shop"}, "stream_state": {"c": 2}}},
        ]))
        .expect("valid");
        assert_eq!(text(state.stream_state(&orders())), Some(r#"{"c":1}"#));
        assert_eq!(
            text(state.stream_state(&StreamDescriptor::new("orders", Some("shop")))),
            Some(r#"{"c":2}"#)
        );
    }

    #[test]
    fn global_and_legacy_forms_are_understood() {
        let global = InputState::from_json(
            &json!({"type": "GLOBAL", "global_": {"shared_state": null, "stream_states": [
                {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 3}}
            ]}}),
        )
        .expect("valid");
        assert_eq!(text(global.stream_state(&orders())), Some(r#"{"c":3}"#));
        let legacy = InputState::from_json(&json!({"orders": {"c": 4}})).expect("valid");
        assert_eq!(text(legacy.stream_state(&orders())), Some(r#"{"c":4}"#));
        let wrapped =
            InputState::from_json(&json!([{"type": "LEGACY", "data": {"orders": {"c": 5}}}]))
                .expect("valid");
        assert_eq!(text(wrapped.stream_state(&orders())), Some(r#"{"c":5}"#));
    }

    #[test]
    fn stream_states_are_kept_as_written() {
        let big = u128::MAX;
        let state = InputState::from_text(&format!(
            r#"[{{"type": "STREAM", "stream": {{"stream_descriptor": {{"name": "orders"}}, "stream_state": {{"c": {big}, "d": 1.50}}}}}}]"#
        ))
        .expect("valid");
        assert_eq!(
            text(state.stream_state(&orders())),
            Some(format!(r#"{{"c": {big}, "d": 1.50}}"#).as_str())
        );
    }

    #[test]
    fn later_states_of_a_stream_replace_earlier_ones() {
        let lines = [
            r#"{"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 1}}}"#,
            r#"{"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 2}}}}"#,
        ];
        let state = InputState::from_text(&lines.join("\n")).expect("valid");
        assert_eq!(text(state.stream_state(&orders())), Some(r#"{"c": 2}"#));
        let cleared = InputState::from_text(&format!(
            r#"{} {{"stream": {{"stream_descriptor": {{"name": "orders"}}, "stream_state": null}}}}"#,
            lines[0]
        ))
        .expect("valid");
        assert!(cleared.is_empty());
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_at_every_level() {
        let state = InputState::from_text(
            r#"[{"type": "GLOBAL", "type": "GLOBAL",
                "global": {"stream_states": [{"stream_descriptor": {"name": "x", "name": "orders"}, "stream_state": {"c": 1}}]},
                "global": {"stream_states": null, "stream_states": [{"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 1}, "stream_state": {"c": 2}}]}}]"#,
        )
        .expect("valid");
        assert_eq!(text(state.stream_state(&orders())), Some(r#"{"c": 2}"#));
        assert!(
            state
                .stream_state(&StreamDescriptor::new("x", None))
                .is_none()
        );
    }

    #[test]
    fn legacy_entries_apply_to_the_name_in_any_namespace() {
        let shop = StreamDescriptor::new("orders", Some("shop"));
        let legacy = InputState::from_json(&json!({"orders": {"c": 4}})).expect("valid");
        assert_eq!(text(legacy.stream_state(&shop)), Some(r#"{"c":4}"#));
        let both = InputState::from_json(&json!([
            {"type": "STREAM", "stream": {"stream_descriptor": {"name": "orders", "namespace": "shop"}, "stream_state": {"c": 5}}},
            {"type": "LEGACY", "data": {"orders": {"c": 4}}},
        ]))
        .expect("valid");
        assert_eq!(text(both.stream_state(&shop)), Some(r#"{"c":5}"#));
        assert_eq!(text(both.stream_state(&orders())), Some(r#"{"c":4}"#));
    }

    #[test]
    fn empty_forms_mean_no_state() {
        for empty in [
            json!(null),
            json!([]),
            json!({}),
            json!([null]),
            json!([{}]),
            json!([{"data": null}]),
            json!([{"stream": null, "global_": null}]),
            json!([{"type": "STATE", "state": null}]),
            json!([{"type": "LEGACY"}]),
            json!({"orders": null}),
        ] {
            assert!(
                InputState::from_json(&empty).expect("valid").is_empty(),
                "{empty}"
            );
        }
    }

    #[test]
    fn malformed_messages_are_errors_with_a_position() {
        let err = InputState::from_json(&json!([{"type": "STREAM", "stream": {}}])).unwrap_err();
        assert!(
            err.contains("[0]") && err.contains("stream_descriptor"),
            "{err}"
        );
        let err = InputState::from_json(&json!([{"type": "PARTIAL"}])).unwrap_err();
        assert!(err.contains("PARTIAL"), "{err}");
        let err = InputState::from_json(&json!(42)).unwrap_err();
        assert!(err.contains("a number"), "{err}");
        let err = InputState::from_json(&json!([{"type": "STREAM"}])).unwrap_err();
        assert!(err.contains("[0]") && err.contains("`stream`"), "{err}");
        let err = InputState::from_json(&json!([{"type": "GLOBAL", "global": 5}])).unwrap_err();
        assert!(err.contains("`global`"), "{err}");
        let err = InputState::from_json(&json!([{"type": 5}])).unwrap_err();
        assert!(err.contains("`type` must be a string"), "{err}");
        let err = InputState::from_json(&json!([{"type": "STATE", "state": []}])).unwrap_err();
        assert!(err.contains("`state`"), "{err}");
        let err = InputState::from_json(&json!([{"type": "LEGACY", "data": [1]}])).unwrap_err();
        assert!(err.contains("legacy `data`"), "{err}");
        let err = InputState::from_text("[1] [2]").unwrap_err();
        assert!(err.contains("[0]") && err.contains("a list"), "{err}");
    }

    #[test]
    fn unrecognised_shapes_name_the_entry() {
        let err = InputState::from_json(&json!([{"foo": 1, "bar": 2}])).unwrap_err();
        assert!(
            err.starts_with("state message [0]: not a state message") && err.contains("`foo`"),
            "{err}"
        );
        let err =
            InputState::from_json(&json!([{"sourceStats": {"recordCount": 1.0}}])).unwrap_err();
        assert!(err.contains("keys that carry no state"), "{err}");
        let sentinel = json!({"__ab_no_cursor_state_message": true, "c": 1});
        let err = InputState::from_json(&json!([
            {"stream_descriptor": {"name": "orders"}, "stream_state": sentinel}
        ]))
        .unwrap_err();
        assert!(
            err.starts_with("state message [0]: `stream_state` of stream `orders`")
                && err.contains("beside `c`"),
            "{err}"
        );
        let err = InputState::from_json(&json!({"orders": sentinel})).unwrap_err();
        assert!(err.contains("stream `orders`"), "{err}");
        // The sentinel alone, or set to false, is accepted.
        for fine in [
            json!({"__ab_no_cursor_state_message": true}),
            json!({"__ab_no_cursor_state_message": false, "c": 1}),
        ] {
            InputState::from_json(&json!({"orders": fine})).expect("valid");
        }
    }

    #[test]
    fn bare_stream_states_are_understood() {
        let state = InputState::from_json(&json!([
            {"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 1}},
        ]))
        .expect("valid");
        assert_eq!(text(state.stream_state(&orders())), Some(r#"{"c":1}"#));
        let alone = InputState::from_json(
            &json!({"stream_descriptor": {"name": "orders"}, "stream_state": {"c": 2}}),
        )
        .expect("valid");
        assert_eq!(text(alone.stream_state(&orders())), Some(r#"{"c":2}"#));
    }
}
