//! Large input files: read in memory close to their size, or refused with a clear error.

use crate::support::temp_file;

/// Items of `{"a":1}` making about `bytes` of JSON, comma-separated.
fn small_objects(bytes: usize) -> String {
    let item = r#"{"a":1}"#;
    let mut list = String::with_capacity(bytes + item.len());
    while list.len() < bytes {
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str(item);
    }
    list
}

/// Runs the `orders` example's `read` with these files and returns its peak resident memory in
/// bytes, read from `/proc` once its first output line shows the input files are parsed. The
/// example then writes far more than a pipe holds, so it is still running (blocked on stdout)
/// when its memory is read; it is killed afterwards.
#[cfg(target_os = "linux")]
fn peak_memory_of_read(catalog: &std::path::Path, state: Option<&std::path::Path>) -> u64 {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let config = temp_file("config.json", r#"{"count": 1000000}"#);
    let mut command = Command::new(crate::cli::example_binary("orders"));
    command
        .arg("read")
        .arg("--config")
        .arg(&config)
        .arg("--catalog")
        .arg(catalog);
    if let Some(state) = state {
        command.arg("--state").arg(state);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut first)
        .expect("output");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
    child.kill().expect("killed");
    child.wait().expect("ended");
    assert!(
        !first.contains(r#""type":"ERROR""#),
        "the read failed: {first}"
    );
    let status = status.expect("the process is still running");
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib * 1024
}

/// The example's own catalog.
fn orders_catalog() -> std::path::PathBuf {
    std::path::PathBuf::from(crate::orders_fixture::paths().1)
}

const MIB: u64 = 1024 * 1024;

/// What the example takes without large inputs, with room to spare.
const BASE: u64 = 32 * MIB;

#[cfg(target_os = "linux")]
#[test]
fn a_large_state_file_of_small_objects_is_read_in_memory_close_to_its_size() {
    // One stream state holding a long list of small objects, as a per-partition state might.
    let state = format!(
        r#"[{{"type":"STATE","state":{{"type":"STREAM","stream":{{"stream_descriptor":{{"name":"orders"}},"stream_state":{{"updated_at":"2024-01-01T00:00:05Z","partitions":[{}]}}}}}}}}]"#,
        small_objects(16 * 1024 * 1024)
    );
    let size = state.len() as u64;
    let file = temp_file("state.json", &state);
    drop(state);
    let peak = peak_memory_of_read(&orders_catalog(), Some(&file));
    assert!(
        peak < 3 * size + BASE,
        "reading a {} MiB state file took {} MiB",
        size / MIB,
        peak / MIB
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_large_catalog_is_read_without_holding_the_schemas() {
    let catalog = format!(
        r#"{{"streams":[{{"stream":{{"name":"orders","json_schema":{{"type":"object","examples":[{}]}},"supported_sync_modes":["incremental"]}},"sync_mode":"incremental","destination_sync_mode":"append_dedup"}}]}}"#,
        small_objects(16 * 1024 * 1024)
    );
    let size = catalog.len() as u64;
    let file = temp_file("catalog.json", &catalog);
    drop(catalog);
    let peak = peak_memory_of_read(&file, None);
    assert!(
        peak < 3 * size + BASE,
        "reading a {} MiB catalog took {} MiB",
        size / MIB,
        peak / MIB
    );
}

#[test]
fn a_config_that_would_take_far_more_memory_than_its_size_is_refused() {
    let config = format!(r#"{{"extra": [{}]}}"#, small_objects(4 * 1024 * 1024));
    let catalog = crate::support::catalog(&["events"]).to_string();
    let script = crate::support::Script {
        events: vec![1, 2],
        ..crate::support::Script::default()
    };
    let output = crate::support::read_files(&script, &config, &catalog, None);
    assert_eq!(output.exit_code, 1, "{}", output.stdout);
    assert!(output.records().is_empty());
    let error = crate::support::first_error(&output);
    assert_eq!(
        error.failure_type,
        Some(tidemark::protocol::FailureType::ConfigError)
    );
    assert!(
        error.message.contains("config file") && error.message.contains("MiB of memory"),
        "{}",
        error.message
    );
    // A config as large, of a few long strings, is read.
    let config = format!(r#"{{"extra": ["{}"]}}"#, "x".repeat(4 * 1024 * 1024));
    let output = crate::support::read_files(&script, &config, &catalog, None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
}
