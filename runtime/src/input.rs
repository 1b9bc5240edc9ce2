//! Reading the command-line input files: config, configured catalog and state.

use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, InputFile};
use crate::json::{self, Survey};
use crate::protocol::ConfiguredCatalog;
use crate::state::InputState;

/// Most schema violations listed in one message.
const MAX_LISTED: usize = 5;

/// The largest input file read: configs, catalogs and states are small, and a bound keeps a
/// wrong path (a device, a huge file) from exhausting memory.
pub(crate) const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// A config is parsed into a `serde_json::Value` (its schema is checked on it and its secrets
/// learned from it), which takes memory by the node: several hundred bytes for an object of
/// one short field. A config whose tree would take more than this many times its size, and
/// more than [`CONFIG_TREE_FLOOR`], is refused before the tree is built.
const CONFIG_TREE_FACTOR: u64 = 16;

/// Configs whose tree takes less than this are never refused, whatever their shape.
const CONFIG_TREE_FLOOR: u64 = 128 * 1024 * 1024;

/// Reads a file's bytes. Missing, unreadable, oversized and empty files are errors that name
/// the file and the problem.
fn read_bytes(file: InputFile, path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let cannot_read = |err: std::io::Error| input(file, path, format!("cannot be read: {err}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot_read)?
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot_read)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(input(
            file,
            path,
            format!("is larger than {} MiB", MAX_INPUT_BYTES / 1024 / 1024),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(input(file, path, "is empty".to_owned()));
    }
    Ok(bytes)
}

/// An [`Error::Input`] about `file`.
fn input(file: InputFile, path: &Path, message: String) -> Error {
    Error::Input {
        file,
        path: path.display().to_string(),
        message,
    }
}

/// Checks that `bytes` is JSON, with the error naming the file and the position.
fn survey(file: InputFile, path: &Path, bytes: &[u8]) -> Result<Survey, Error> {
    json::survey(bytes).map_err(|err| input(file, path, format!("is not valid JSON: {err}")))
}

/// Reads the config file as JSON.
///
/// A config far larger in memory than on disk is refused before it is parsed: see
/// [`CONFIG_TREE_FACTOR`].
pub(crate) fn read_config(path: &Path) -> Result<Value, Error> {
    const MIB: u64 = 1024 * 1024;
    let file = InputFile::Config;
    let bytes = read_bytes(file, path)?;
    let size = bytes.len() as u64;
    let tree = survey(file, path, &bytes)?.tree_bytes;
    if tree > CONFIG_TREE_FLOOR.max(CONFIG_TREE_FACTOR * size) {
        return Err(input(
            file,
            path,
            format!(
                "would take about {} MiB of memory once parsed, {} times its size: it is made \
                 of many small objects or list items, which no connector config needs",
                tree.div_ceil(MIB),
                tree / size
            ),
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|err| input(file, path, format!("is not valid JSON: {err}")))
}

/// Reads the configured catalog file.
pub(crate) fn read_catalog(path: &Path) -> Result<ConfiguredCatalog, Error> {
    parse_catalog(&read_bytes(InputFile::Catalog, path)?, path)
}

/// Parses a configured catalog straight into its model: the parts a source does not use, such
/// as each stream's `json_schema`, are skipped as they are read, never held in memory.
pub(crate) fn parse_catalog(bytes: &[u8], path: &Path) -> Result<ConfiguredCatalog, Error> {
    let file = InputFile::Catalog;
    survey(file, path, bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| {
            let at = field_name("the catalog", &pointer_of(err.path()));
            input(file, path, format!("{at}: {}", err.inner()))
        })
        .and_then(|catalog| {
            deserializer
                .end()
                .map(|()| catalog)
                .map_err(|err| input(file, path, format!("is not valid JSON: {err}")))
        })
}

/// Reads the state file: see [`InputState::from_text`] for the forms it may take.
pub(crate) fn read_state(path: &Path) -> Result<InputState, Error> {
    let file = InputFile::State;
    let bytes = read_bytes(file, path)?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        // JSON that is not UTF-8 fails the check, which says where.
        Err(err) => {
            json::check_values(&bytes)
                .map_err(|err| input(file, path, format!("is not valid JSON: {err}")))?;
            return Err(input(file, path, format!("is not valid UTF-8: {err}")));
        }
    };
    InputState::from_text(text).map_err(|message| input(file, path, message))
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
    let violations = violations(&schema, &json)?;
    if !violations.listed.is_empty() {
        let problems: Vec<String> = violations
            .listed
            .iter()
            .map(|(pointer, message)| format!("{}: {message}", field_name("the config", pointer)))
            .collect();
        let mut message = format!(
            "the config does not match the specification: {}",
            problems.join("; ")
        );
        if violations.more > 0 {
            let _ = write!(message, "; and {} more", violations.more);
        }
        return Err(Error::config(message));
    }
    serde_path_to_error::deserialize(json).map_err(|err| {
        Error::config(format!(
            "the config is invalid: {}: {}",
            field_name("the config", &pointer_of(err.path())),
            err.inner()
        ))
    })
}

/// The violations of a schema that a check found: the first few, each as a JSON pointer to the
/// offending value and a message, and how many more there were.
#[derive(Debug, Default)]
pub(crate) struct Violations {
    /// The first violations, at most [`MAX_LISTED`].
    pub(crate) listed: Vec<(String, String)>,
    /// How many violations were found past the listed ones.
    pub(crate) more: usize,
}

/// The config's violations of its schema, by the checker of the keywords schemars emits (see
/// [`crate::schema_check`]).
#[cfg(not(feature = "jsonschema"))]
fn violations(schema: &Value, config: &Value) -> Result<Violations, Error> {
    crate::schema_check::check(schema, config, MAX_LISTED)
        .map_err(|problem| Error::system(format!("the config schema cannot be checked: {problem}")))
}

/// The config's violations of its schema, by a complete JSON Schema validator.
#[cfg(feature = "jsonschema")]
fn violations(schema: &Value, config: &Value) -> Result<Violations, Error> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|err| Error::system(format!("the config schema does not compile: {err}")))?;
    // Only the listed violations are formatted: a config may break its schema in every one of
    // a million list items.
    let mut errors = validator.iter_errors(config);
    let listed = errors
        .by_ref()
        .take(MAX_LISTED)
        .map(|err| (err.instance_path().as_str().to_owned(), err.to_string()))
        .collect();
    Ok(Violations {
        listed,
        more: errors.count(),
    })
}

/// `count` for `/count`, `a.b[0]` for `/a/b/0`, `root` for the root.
fn field_name(root: &str, pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return root.to_owned();
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

/// Appends `/key` to a JSON pointer, escaping `~` and `/` as RFC 6901 says.
pub(crate) fn push_key(pointer: &mut String, key: &str) {
    let _ = write!(pointer, "/{}", key.replace('~', "~0").replace('/', "~1"));
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
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut pointer, key),
            Segment::Unknown => {}
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::field_name;

    #[test]
    fn pointers_become_field_names() {
        assert_eq!(field_name("the config", ""), "the config");
        assert_eq!(field_name("the config", "/count"), "`count`");
        assert_eq!(field_name("the config", "/a/b/0/c"), "`a.b[0].c`");
        assert_eq!(field_name("the config", "/a~1b"), "`a/b`");
    }
}
