//! The `orders` example as a real process: what a platform or a person sees.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::orders_fixture;

/// The `orders` example binary.
fn orders_binary() -> PathBuf {
    example_binary("orders")
}

/// An example binary that `cargo test` builds next to the test binaries.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
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

/// Sends SIGTERM to a child process.
pub(crate) fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn sigterm_during_read_flushes_the_last_safe_state_and_ends_by_the_signal() {
    use std::io::BufRead as _;
    use std::os::unix::process::ExitStatusExt as _;

    let (_, catalog) = orders_fixture::paths();
    let config = crate::support::temp_file("config.json", r#"{"count": 100000000}"#);
    let mut child = Command::new(orders_binary())
        .args(["read", "--config"])
        .arg(&config)
        .args(["--catalog", &catalog])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen: Vec<serde_json::Value> = Vec::new();
    // Let it emit a few checkpoints, then stop it.
    while seen.iter().filter(|m| m["type"] == "STATE").count() < 3 {
        let line = lines.next().expect("more output").expect("a line");
        seen.push(serde_json::from_str(&line).expect("a JSON message"));
    }
    terminate(&child);
    for line in lines {
        let line = line.expect("a line");
        seen.push(serde_json::from_str(&line).unwrap_or_else(|err| panic!("{err}: {line}")));
    }
    let status = child.wait().expect("exits");
    assert_eq!(status.signal(), Some(15), "{status:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(stderr.contains("stopped by SIGTERM"), "{stderr}");

    // The tail: the safe STATE (covering records emitted since the previous one), INCOMPLETE
    // and an error naming the signal, and nothing after.
    let tail: Vec<&serde_json::Value> = seen.iter().rev().take(3).collect();
    assert_eq!(tail[0]["trace"]["error"]["failure_type"], "transient_error");
    assert!(
        tail[0]["trace"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("SIGTERM"))
    );
    assert_eq!(tail[1]["trace"]["stream_status"]["status"], "INCOMPLETE");
    assert_eq!(tail[2]["type"], "STATE");
    let records = seen.iter().filter(|m| m["type"] == "RECORD").count();
    let counted: f64 = seen
        .iter()
        .filter(|m| m["type"] == "STATE")
        .map(|m| {
            m["state"]["sourceStats"]["recordCount"]
                .as_f64()
                .expect("count")
        })
        .sum();
    // Every record but the last one (its value may have more records) is covered by a STATE.
    #[expect(clippy::cast_precision_loss, reason = "a few thousand records")]
    let records = records as f64;
    assert!(
        counted <= records && counted >= records - 1.0,
        "{counted} of {records}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_after_spec_answered_is_not_turned_into_an_error_exit() {
    use std::os::unix::process::ExitStatusExt as _;

    for _ in 0..3 {
        let child = Command::new(orders_binary())
            .arg("spec")
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts");
        terminate(&child);
        let output = child.wait_with_output().expect("exits");
        // Either it finished first (exit 0) or the signal ended it; never exit 1.
        assert!(
            output.status.success() || output.status.signal() == Some(15),
            "{:?}",
            output.status
        );
    }
}

/// A connector process that panics prints the panic on stderr with its config's secrets
/// masked, and reports it as a failed check, masked too.
#[test]
fn a_panic_in_a_connector_process_is_printed_with_its_secrets_masked() {
    let dir = std::env::temp_dir().join(format!("tidemark-panicking-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let config = dir.join("config.json");
    std::fs::write(&config, r#"{"api_key": "sk-live-secret-4242"}"#).expect("the config");
    let output = Command::new(example_binary("panicking"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("panicked at") && stderr.contains("items?key=****"),
        "{stderr}"
    );
    assert!(!stderr.contains("sk-live-secret-4242"), "{stderr}");
    assert!(!stdout.contains("sk-live-secret-4242"), "{stdout}");
    // The check failed, and said so on stdout: exit 0, as for any failed check.
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let status: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one message");
    assert_eq!(status["type"], "CONNECTION_STATUS", "{stdout}");
    assert_eq!(status["connectionStatus"]["status"], "FAILED", "{stdout}");
    let message = status["connectionStatus"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("`check` panicked") && message.contains("items?key=****"),
        "{message}"
    );
}
