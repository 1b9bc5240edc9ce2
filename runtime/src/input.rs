//! Reading the command-line input files: config, configured catalog and state.

use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, InputFile};
use crate::protocol::ConfiguredCatalog;
use crate::state::InputState;

/// Most schema violations listed in one message.
const MAX_LISTED: usize = 5;

/// The largest input file read: configs, catalogs and states are small, and a bound keeps a
/// wrong path (a device, a huge file) from exhausting memory.
pub(crate) const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads a file as JSON. Missing, unreadable, oversized, empty and non-JSON files are errors that
/// name the file and the problem.
pub(crate) fn read_json(file: InputFile, path: &Path) -> Result<Value, Error> {
    use std::io::Read as _;
    let input = |message: String| Error::Input {
        file,
        path: path.display().to_string(),
        message,
    };
    let cannot_read = |err: std::io::Error| input(format!("cannot be read: {err}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot_read)?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(input(format!(
            "is larger than {} MiB",
            MAX_INPUT_BYTES / 1024 / 1024
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(input("is empty".to_owned()));
    }
    if file == InputFile::State {
        // A state file may also be the STATE lines a sync printed, one JSON value per line.
        let values: Vec<Value> = serde_json::Deserializer::from_slice(&bytes)
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|err| input(format!("is not valid JSON: {err}")))?;
        return Ok(match <[Value; 1]>::try_from(values) {
            Ok([value]) => value,
            Err(values) => Value::Array(values),
        });
    }
    serde_json::from_slice(&bytes).map_err(|err| input(format!("is not valid JSON: {err}")))
}

/// The JSON Schema (draft-07) of a configuration type: the SPEC's `connectionSpecification`.
pub(crate) fn config_schema<C: JsonSchema>() -> Value {
    let schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<C>();
    schema.to_value()
}

/// Validates a configuration against its schema, then deserializes it. Every error names the
/// offending field.
pub(crate) fn parse_config<C: DeserializeOwned + JsonSchema>(json: Value) -> Result<C, Error> {
    let schema = config_schema::<C>();
    let validator = jsonschema::validator_for(&schema)
        .map_err(|err| Error::system(format!("the config schema does not compile: {err}")))?;
    let mut problems: Vec<String> = validator
        .iter_errors(&json)
        .map(|err| format!("{}: {err}", field_name(err.instance_path().as_str())))
        .collect();
    if !problems.is_empty() {
        let total = problems.len();
        problems.truncate(MAX_LISTED);
        let mut message = format!(
            "the config does not match the specification: {}",
            problems.join("; ")
        );
        if total > MAX_LISTED {
            let _ = write!(message, "; and {} more", total - MAX_LISTED);
        }
        return Err(Error::config(message));
    }
    serde_path_to_error::deserialize(json).map_err(|err| {
        Error::config(format!(
            "the config is invalid: {}: {}",
            field_name(&pointer_of(err.path())),
            err.inner()
        ))
    })
}

/// `count` for `/count`, `a.b[0]` for `/a/b/0`, `the config` for the root.
fn field_name(pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return "the config".to_owned();
    }
    let mut name = String::new();
    for segment in pointer.trim_start_matches('/').split('/') {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            let _ = write!(name, "[{segment}]");
        } else {
            if !name.is_empty() {
                name.push('.');
            }
            name.push_str(&segment);
        }
    }
    format!("`{name}`")
}

/// A serde path (`a.b[0]`) as a JSON pointer, so both error sources print fields alike.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(pointer, "/{index}");
            }
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let _ = write!(pointer, "/{}", key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}

/// Parses the configured catalog.
pub(crate) fn parse_catalog(json: Value, path: &Path) -> Result<ConfiguredCatalog, Error> {
    serde_path_to_error::deserialize(json).map_err(|err| Error::Input {
        file: InputFile::Catalog,
        path: path.display().to_string(),
        message: format!("{}: {}", field_name(&pointer_of(err.path())), err.inner()),
    })
}

/// Parses the input state.
pub(crate) fn parse_state(json: Value, path: &Path) -> Result<InputState, Error> {
    InputState::from_json(json).map_err(|message| Error::Input {
        file: InputFile::State,
        path: path.display().to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::field_name;

    #[test]
    fn pointers_become_field_names() {
        assert_eq!(field_name(""), "the config");
        assert_eq!(field_name("/count"), "`count`");
        assert_eq!(field_name("/a/b/0/c"), "`a.b[0].c`");
        assert_eq!(field_name("/a~1b"), "`a/b`");
    }
}
