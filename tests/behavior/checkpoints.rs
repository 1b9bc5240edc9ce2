//! When STATE is emitted, what it says, and that resuming from it loses and repeats nothing.

use serde_json::json;

use crate::support::{Script, ids, read, transcript};

fn script(events: &[u64]) -> Script {
    Script {
        events: events.to_vec(),
        ..Script::default()
    }
}

#[test]
fn interval_checkpoints_follow_every_nth_record_and_count_the_records_they_cover() {
    let output = read(&script(&[1, 2, 3, 4, 5, 6, 7]), &["events"], None);
    assert_eq!(output.exit_code, 0);
    assert_eq!(
        transcript(&output),
        [
            "T events Started",
            "T events Running",
            "R events 1",
            "R events 2",
            r#"S events {"ts":2} 2"#,
            "R events 3",
            "R events 4",
            r#"S events {"ts":4} 2"#,
            "R events 5",
            "R events 6",
            r#"S events {"ts":6} 2"#,
            "R events 7",
            r#"S events {"ts":7} 1"#,
            "T events Complete",
        ]
    );
}

#[test]
fn a_checkpoint_due_inside_a_tie_waits_for_the_next_cursor_value() {
    let output = read(&script(&[1, 2, 2, 2, 2, 3]), &["events"], None);
    let lines = transcript(&output);
    let body: Vec<&str> = lines[2..lines.len() - 1]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        body,
        [
            "R events 1",
            "R events 2",
            "R events 2",
            "R events 2",
            "R events 2",
            r#"S events {"ts":2} 5"#,
            "R events 3",
            r#"S events {"ts":3} 1"#,
        ]
    );
}

#[test]
fn the_default_policy_emits_one_state_at_the_end_and_end_policy_the_same() {
    let output = read(
        &Script {
            notes: 3,
            audits: vec![5, 6],
            ..Script::default()
        },
        &["notes", "audits"],
        None,
    );
    let states: Vec<String> = transcript(&output)
        .into_iter()
        .filter(|line| line.starts_with('S'))
        .collect();
    assert_eq!(states, [r#"S notes {"id":3} 3"#, r#"S audits {"ts":6} 2"#]);
}

#[test]
fn a_stream_without_records_still_ends_with_its_state() {
    let fresh = read(&script(&[]), &["events"], None);
    assert_eq!(
        transcript(&fresh),
        ["T events Started", r"S events {} 0", "T events Complete"]
    );
    // With a saved state and nothing new, the state is carried forward, never dropped.
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 9}}}]);
    let resumed = read(&script(&[3, 9]), &["events"], Some(&state));
    assert_eq!(
        transcript(&resumed),
        [
            "T events Started",
            r#"S events {"ts":9} 0"#,
            "T events Complete"
        ]
    );
}

/// Every record after a STATE in the full run, by id.
fn records_after_each_state(output: &tidemark::testing::Output) -> Vec<Vec<u64>> {
    let mut result = Vec::new();
    for (position, message) in output.messages.iter().enumerate() {
        if matches!(message, tidemark::protocol::Message::State { .. }) {
            let after: Vec<u64> = output.messages[position..]
                .iter()
                .filter_map(|m| match m {
                    tidemark::protocol::Message::Record { record } => record.data["id"].as_u64(),
                    _ => None,
                })
                .collect();
            result.push(after);
        }
    }
    result
}

#[test]
fn resuming_from_every_emitted_state_yields_exactly_the_records_after_it() {
    // Ties at 2 and 5, an API that filters with `>=`: the runtime drops what is not after the state.
    for inclusive in [false, true] {
        let script = Script {
            events: vec![1, 2, 2, 2, 3, 4, 5, 5, 5, 5, 6, 7, 7],
            inclusive,
            ..Script::default()
        };
        let full = read(&script, &["events"], None);
        let expected = records_after_each_state(&full);
        assert!(expected.len() >= 4, "several checkpoints: {expected:?}");
        for (index, after) in expected.iter().enumerate() {
            let resumed = read(&script, &["events"], Some(&full.state_file_at(index)));
            assert_eq!(
                &ids(&resumed, "events"),
                after,
                "resuming from STATE #{index} (inclusive API: {inclusive})"
            );
        }
    }
}

#[test]
fn records_at_or_below_the_resume_point_are_never_sent_again() {
    let script = Script {
        events: vec![1, 2, 3, 4],
        inclusive: true,
        ..Script::default()
    };
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}}}]);
    let output = read(&script, &["events"], Some(&state));
    assert_eq!(ids(&output, "events"), [2, 3]);
    // The dropped record does not count towards recordCount.
    assert_eq!(
        transcript(&output).last_chunk::<2>().expect("two lines")[0],
        r#"S events {"ts":4} 2"#
    );
}

#[test]
fn full_refresh_ignores_the_saved_state() {
    let script = script(&[1, 2, 3]);
    let mut catalog = crate::support::catalog(&["events"]);
    catalog["streams"][0]["sync_mode"] = json!("full_refresh");
    let state = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "events"}, "stream_state": {"ts": 2}}}]);
    let output = tidemark::testing::read(
        &crate::support::Scripted::new(script),
        &json!({}),
        &catalog,
        Some(&state),
    );
    assert_eq!(ids(&output, "events"), [0, 1, 2]);
}
