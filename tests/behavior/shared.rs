//! Files the tests read from the project's shared directory: `../shared` beside the checkout, or
//! the directory `TIDEMARK_SHARED` names. Every test reads them through [`read`], so a missing
//! file is named with where it was looked for: the test fails in CI and is skipped elsewhere.

use std::path::{Path, PathBuf};

/// Names a shared directory to use instead of `../shared`.
const OVERRIDE: &str = "TIDEMARK_SHARED";

/// The shared directory, and where that choice comes from.
fn dir() -> (PathBuf, String) {
    match std::env::var_os(OVERRIDE) {
        Some(dir) => (
            PathBuf::from(dir),
            format!("the directory {OVERRIDE} names"),
        ),
        None => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
            "`../shared` beside the checkout".to_owned(),
        ),
    }
}

/// The text of `relative` in the shared directory, `what` saying what it is. When it cannot be
/// read, [`read_in`]'s message fails the test in CI (`CI` set), and elsewhere (a checkout
/// without the shared directory) is printed and the test is skipped: `None`.
pub(crate) fn read(relative: &str, what: &str) -> Option<String> {
    let (dir, from) = dir();
    match read_in(&dir, &from, relative, what) {
        Ok(text) => Some(text),
        Err(message) => {
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("skipped: {message}");
            None
        }
    }
}

/// The text of `relative` in `dir` (`from` says why that directory), or a message naming the
/// file, the path looked at and how to point the tests at another shared directory.
fn read_in(dir: &Path, from: &str, relative: &str, what: &str) -> Result<String, String> {
    let path = dir.join(relative);
    std::fs::read_to_string(&path).map_err(|error| {
        let looked = std::path::absolute(&path).unwrap_or(path);
        format!(
            "{what} is missing: cannot read {} ({error}); the tests read `{relative}` from the \
             shared directory, here {from}; set {OVERRIDE} to a directory holding `{relative}` \
             to use another one",
            looked.display()
        )
    })
}

#[test]
fn a_missing_shared_file_is_named_with_where_it_was_looked_for() {
    let message = read_in(
        Path::new("/nonexistent/shared"),
        "`../shared` beside the checkout",
        "protocol/airbyte_protocol.schema.json",
        "the Airbyte protocol schema",
    )
    .expect_err("the file does not exist");
    assert!(
        message.starts_with(
            "the Airbyte protocol schema is missing: cannot read \
             /nonexistent/shared/protocol/airbyte_protocol.schema.json ("
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "the tests read `protocol/airbyte_protocol.schema.json` from the shared directory, \
             here `../shared` beside the checkout; set TIDEMARK_SHARED to a directory holding \
             `protocol/airbyte_protocol.schema.json` to use another one"
        ),
        "{message}"
    );
}

#[test]
fn a_shared_file_is_read_from_the_directory_given() {
    let file = crate::support::temp_file("schema.json", "{}");
    let dir = file.parent().expect("a directory");
    let text = read_in(dir, "a test", "schema.json", "a file");
    assert_eq!(text.as_deref(), Ok("{}"));
}
