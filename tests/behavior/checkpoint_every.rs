//! Time-based checkpoints (`checkpoint_every`): at most one STATE per period per stream, at safe
//! points only, and always the final one and the safe one of a failure.
//!
//! Each test makes the period's outcome certain, so that it asserts positions and never
//! timings: a reader that waits longer than a short period before every record (the period has
//! always elapsed at the next record), or a period of an hour (it never elapses).

use std::time::Duration;

use serde_json::json;
use tidemark::testing::{self, CrashTest, incremental_catalog};
use tidemark::{Error, IncrementalStream, Reader, Sink, Slice, Source, Streams};

use crate::support::{NoConfig, transcript};

/// A period of a millisecond, no interval.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "ticks",
    cursor = "seq",
    primary_key = "id",
    checkpoint_every = "PT0.001S"
)]
pub struct Tick {
    pub id: usize,
    pub seq: u64,
}

/// A period of a millisecond and an interval of 3 records.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "batches",
    cursor = "seq",
    primary_key = "id",
    checkpoint_interval = 3,
    checkpoint_every = "PT0.001S"
)]
pub struct Batch {
    pub id: usize,
    pub seq: u64,
}

/// An interval of one record, throttled by a period of an hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "hourly",
    cursor = "seq",
    primary_key = "id",
    checkpoint_interval = 1,
    checkpoint_every = "PT1H"
)]
pub struct Hourly {
    pub id: usize,
    pub seq: u64,
}

/// Windows of 5, throttled by a period of an hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "windowed",
    cursor = "seq",
    primary_key = "id",
    step = 5,
    start = 1,
    checkpoint_every = "PT1H"
)]
pub struct Windowed {
    pub id: usize,
    pub seq: u64,
}

/// A record type the scripted reader builds.
trait Row: IncrementalStream<Cursor = u64> {
    fn row(id: usize, seq: u64) -> Self;
}

macro_rules! rows {
    ($($t:ty),*) => {$(
        impl Row for $t {
            fn row(id: usize, seq: u64) -> Self {
                Self { id, seq }
            }
        }
    )*};
}

rows!(Tick, Batch, Hourly, Windowed);

/// What every reader of the source does.
#[derive(Clone, Default)]
struct Script {
    /// Cursor values in the order the source returns them (ids are positions).
    seqs: Vec<u64>,
    /// Wait this long before every record.
    wait: Option<Duration>,
    /// Fail with a transient error after returning this many records.
    fail_after: Option<usize>,
}

/// Returns the script's records in the slice.
struct Rows<'a> {
    script: &'a Script,
}

impl<S: Row> Reader<S> for Rows<'_> {
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        for (returned, (id, &seq)) in self
            .script
            .seqs
            .iter()
            .enumerate()
            .filter(|(_, seq)| slice.contains(seq))
            .enumerate()
        {
            if self.script.fail_after == Some(returned) {
                return Err(Error::transient("the API timed out"));
            }
            if let Some(wait) = self.script.wait {
                out.wait(wait)?;
            }
            out.emit(&S::row(id, seq))?;
        }
        Ok(())
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(self.script.seqs.iter().copied().max())
    }
}

struct Timed {
    script: Script,
}

impl Source for Timed {
    const NAME: &'static str = "source-timed";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        let script = &self.script;
        Ok(Streams::new()
            .stream::<Tick, _>(Rows { script })
            .stream::<Batch, _>(Rows { script })
            .stream::<Hourly, _>(Rows { script })
            .stream::<Windowed, _>(Rows { script }))
    }
}

/// A configured catalog of one stream of the source.
fn catalog(source: &Timed, stream: &str) -> serde_json::Value {
    let all = incremental_catalog(source, &json!({}));
    let selected: Vec<serde_json::Value> = all["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter(|s| s["stream"]["name"] == stream)
        .cloned()
        .collect();
    json!({ "streams": selected })
}

/// Reads one stream; its records (`R seq`) and states, the statuses left out.
fn run(script: Script, stream: &str) -> (u8, Vec<String>) {
    let source = Timed { script };
    let output = testing::read(&source, &json!({}), &catalog(&source, stream), None);
    let lines = transcript_of(&output, stream);
    (output.exit_code, lines)
}

fn transcript_of(output: &testing::Output, stream: &str) -> Vec<String> {
    let records = output.records();
    let mut records = records.iter();
    transcript(output)
        .into_iter()
        .filter(|line| !line.starts_with('T'))
        .map(|line| {
            if line.starts_with('R') {
                let record = records.next().expect("a record per line");
                format!("R {}", record.data["seq"])
            } else {
                line.replacen(&format!("S {stream} "), "S ", 1)
            }
        })
        .collect()
}

fn waiting(seqs: &[u64]) -> Script {
    Script {
        seqs: seqs.to_vec(),
        wait: Some(Duration::from_millis(2)),
        fail_after: None,
    }
}

#[test]
fn once_the_period_elapsed_a_state_comes_at_the_next_cursor_change_never_inside_a_tie() {
    let (code, lines) = run(waiting(&[1, 2, 2, 3, 4]), "ticks");
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [
            "R 1",
            r#"S {"seq":1} 1"#,
            "R 2",
            "R 2",
            r#"S {"seq":2} 2"#,
            "R 3",
            r#"S {"seq":3} 1"#,
            "R 4",
            r#"S {"seq":4} 1"#,
        ]
    );
}

#[test]
fn with_an_interval_too_a_state_needs_both_the_records_and_the_period() {
    let (code, lines) = run(waiting(&[1, 2, 3, 4, 5, 6, 7]), "batches");
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        [
            "R 1",
            "R 2",
            "R 3",
            r#"S {"seq":3} 3"#,
            "R 4",
            "R 5",
            "R 6",
            r#"S {"seq":6} 3"#,
            "R 7",
            r#"S {"seq":7} 1"#,
        ]
    );
}

#[test]
fn a_period_that_has_not_elapsed_holds_back_every_state_but_the_final_one() {
    let seqs: Vec<u64> = (1..=50).collect();
    let (code, lines) = run(
        Script {
            seqs,
            ..Script::default()
        },
        "hourly",
    );
    assert_eq!(code, 0);
    let states: Vec<&String> = lines.iter().filter(|l| l.starts_with('S')).collect();
    // `checkpoint_interval = 1` alone would checkpoint 49 times before the end.
    assert_eq!(states, [r#"S {"seq":50} 50"#]);
    assert_eq!(lines.len(), 51);
}

#[test]
fn window_ends_are_held_back_too() {
    let seqs: Vec<u64> = (1..=20).collect();
    let (code, lines) = run(
        Script {
            seqs,
            ..Script::default()
        },
        "windowed",
    );
    assert_eq!(code, 0);
    let states: Vec<&String> = lines.iter().filter(|l| l.starts_with('S')).collect();
    // Windows [1, 6], (6, 11], (11, 16], (16, 20]: one STATE, at the end.
    assert_eq!(states, [r#"S {"seq":20} 20"#]);
}

#[test]
fn the_safe_state_of_a_failure_is_never_held_back() {
    let (code, lines) = run(
        Script {
            seqs: vec![1, 2, 3, 3, 4, 5],
            fail_after: Some(5),
            wait: None,
        },
        "hourly",
    );
    assert_eq!(code, 1);
    // 4 may have more rows the failure lost; 3 is complete.
    assert_eq!(
        lines,
        ["R 1", "R 2", "R 3", "R 3", "R 4", r#"S {"seq":3} 5"#]
    );
}

#[test]
fn every_cut_of_a_throttled_stream_resumes_without_loss_or_repeat() {
    for stream in ["ticks", "batches", "hourly", "windowed"] {
        let source = Timed {
            script: Script {
                seqs: vec![1, 2, 2, 3, 5, 5, 8],
                wait: Some(Duration::from_millis(1)),
                fail_after: None,
            },
        };
        let report = CrashTest::new(&source, &json!({}), &catalog(&source, stream)).assert();
        assert_eq!(report.records, 7, "{stream}");
        assert_eq!(report.cuts, report.messages, "{stream}");
    }
}
