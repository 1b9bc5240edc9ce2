//! UI tests of `#[incremental_stream]` and `#[full_refresh_stream]`: every diagnostic the macros
//! promise, compared with the blessed `.stderr` files in `tests/ui/fail/`, and declarations that
//! must compile and run in `tests/ui/pass/`.
//!
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test --test ui`, then review
//! every diff. Diagnostics change between compiler versions, so on another compiler the test
//! fails, unless `TIDEMARK_SKIP_UI_TESTS` is set to skip it.

use std::process::Command;

/// The `rustc --version` prefix of the compiler that produced the `.stderr` files.
const BLESSED_RUSTC: &str = "rustc 1.95";

/// Set to skip the UI tests on a compiler other than the one that blessed them.
const SKIP: &str = "TIDEMARK_SKIP_UI_TESTS";

/// The version line of the compiler cargo builds with (`$RUSTC`, else `rustc`).
fn rustc_version() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

#[test]
fn ui() {
    let version = rustc_version();
    if !version
        .as_deref()
        .is_some_and(|version| version.starts_with(BLESSED_RUSTC))
    {
        let this = version.as_deref().unwrap_or("an unknown compiler");
        // Another compiler words diagnostics differently: say so rather than pass silently.
        assert!(
            std::env::var_os(SKIP).is_some(),
            "the UI tests' .stderr files were blessed with {BLESSED_RUSTC}, this is {this}: \
             run them with {BLESSED_RUSTC}, or set {SKIP}=1 to skip them"
        );
        eprintln!(
            "skipping the UI tests ({SKIP} is set): blessed with {BLESSED_RUSTC}, this is {this}"
        );
        return;
    }
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
