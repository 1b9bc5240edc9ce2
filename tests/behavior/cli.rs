//! The `orders` example as a real process: what a platform or a person sees.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::orders_fixture;

/// The example binary that `cargo test` builds next to the test binaries.
fn orders_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir
        .join("examples")
        .join(format!("orders{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run the whole suite with `cargo test --workspace`, which builds the examples",
        binary.display()
    );
    binary
}

#[test]
fn help_and_version() {
    let help = Command::new(orders_binary())
        .arg("--help")
        .output()
        .expect("runs");
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).expect("utf-8");
    for command in ["spec", "check", "discover", "read"] {
        assert!(text.contains(command), "{text}");
    }
    let version = Command::new(orders_binary())
        .arg("--version")
        .output()
        .expect("runs");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8(version.stdout).expect("utf-8").trim(),
        "source-orders 0.1.0"
    );
}

#[test]
fn a_usage_error_exits_2_and_prints_nothing_on_stdout() {
    let output = Command::new(orders_binary())
        .args(["read", "--config"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(!output.stderr.is_empty());
}

#[test]
fn read_prints_one_protocol_message_per_line_and_exits_0() {
    let (config, catalog) = orders_fixture::paths();
    let output = Command::new(orders_binary())
        .args(["read", "--config", &config, "--catalog", &catalog])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1000 + 2 + 3);
    for line in lines {
        let message: tidemark::protocol::Message =
            serde_json::from_str(line).expect("a protocol message");
        let _ = message;
    }
}

#[test]
fn a_bad_config_exits_1_with_a_config_error() {
    let (_, catalog) = orders_fixture::paths();
    let config = crate::support::temp_file("config.json", r#"{"count": "many"}"#);
    let output = Command::new(orders_binary())
        .args([
            "read",
            "--config",
            config.to_str().expect("utf-8"),
            "--catalog",
            &catalog,
        ])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        stdout.contains(r#""failure_type":"config_error""#) && stdout.contains("count"),
        "{stdout}"
    );
}

#[test]
fn a_closed_stdout_ends_the_run_with_one_clear_line_and_no_panic() {
    let dir = crate::support::temp_file("config.json", r#"{"count": 5000000}"#);
    let (_, catalog) = orders_fixture::paths();
    let mut child = Command::new(orders_binary())
        .args([
            "read",
            "--config",
            dir.to_str().expect("utf-8"),
            "--catalog",
            &catalog,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).expect("some output");
    drop(stdout);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("exits");
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("stdout was closed"), "{stderr}");
}
