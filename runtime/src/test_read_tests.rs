//! A slice cut short by a test read's `--max-pages` (`Context::cut_slice`, what the HTTP
//! toolkit's listings call): no STATE of the stream after the cut, later slices still read up
//! to `--max-slices`, INCOMPLETE and exit 0; read one slice after the other and concurrently.

use serde_json::{Value, json};

use crate::http::Context as _;
use crate::protocol::{Message, StreamStatus};
use crate::testing::{self, Output};
use crate::{Error, Reader, Sink, Slice, Source, Streams};

/// Windows of 10 over `n` in 1..=60, read one after the other.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(
    crate = "crate",
    name = "pages",
    cursor = "n",
    primary_key = "n",
    step = 10,
    start = 1
)]
struct Page {
    n: u64,
}

/// The same windows, read concurrently.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[crate::incremental_stream(
    crate = "crate",
    name = "cpages",
    cursor = "n",
    primary_key = "n",
    step = 10,
    start = 1
)]
struct ConcurrentPage {
    n: u64,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoConfig {}

/// The window holding 15 is cut after its first three records, as a listing stopped at its
/// page limit.
fn read_window<T>(slice: &Slice<T>, out: &mut Sink<T>, make: fn(u64) -> T) -> Result<(), Error>
where
    T: crate::IncrementalStream<Cursor = u64>,
{
    let values: Vec<u64> = (1..=60).filter(|n| slice.contains(n)).collect();
    let cut = values.contains(&15);
    for (index, n) in values.into_iter().enumerate() {
        if cut && index == 3 {
            return out.cut_slice();
        }
        out.emit(&make(n))?;
    }
    Ok(())
}

#[derive(Clone)]
struct Windows;

impl Reader<Page> for Windows {
    fn read(&mut self, slice: &Slice<Page>, out: &mut Sink<Page>) -> Result<(), Error> {
        read_window(slice, out, |n| Page { n })
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(60))
    }
}

impl Reader<ConcurrentPage> for Windows {
    fn read(
        &mut self,
        slice: &Slice<ConcurrentPage>,
        out: &mut Sink<ConcurrentPage>,
    ) -> Result<(), Error> {
        read_window(slice, out, |n| ConcurrentPage { n })
    }

    fn end(&mut self) -> Result<Option<u64>, Error> {
        Ok(Some(60))
    }
}

struct Cut;

impl Source for Cut {
    const NAME: &'static str = "source-cut";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .concurrency(3)
            .stream::<Page, _>(Windows)
            .concurrent::<ConcurrentPage, _>(Windows))
    }
}

fn read(stream: &str, options: &[&str]) -> Output {
    let mut catalog = testing::incremental_catalog(&Cut, &json!({}));
    catalog["streams"]
        .as_array_mut()
        .expect("streams")
        .retain(|configured| configured["stream"]["name"] == stream);
    let dir = std::env::temp_dir().join(format!(
        "tidemark-cut-{}-{stream}-{}",
        std::process::id(),
        options.join("")
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let (config, catalog_path) = (dir.join("config.json"), dir.join("catalog.json"));
    std::fs::write(&config, "{}").expect("config");
    std::fs::write(&catalog_path, catalog.to_string()).expect("catalog");
    let mut args = vec![
        "read",
        "--config",
        config.to_str().expect("utf-8"),
        "--catalog",
        catalog_path.to_str().expect("utf-8"),
    ];
    args.extend(options);
    let output = testing::run(&Cut, &args);
    let _ = std::fs::remove_dir_all(&dir);
    output
}

/// The values of the stream's records, and the watermark of each STATE, in order.
fn records_and_states(output: &Output) -> (Vec<u64>, Vec<(usize, u64)>) {
    let mut records = Vec::new();
    let mut states = Vec::new();
    for message in &output.messages {
        match message {
            Message::Record { record } => records.push(record.data["n"].as_u64().expect("n")),
            Message::State { state } => {
                let value: Value = serde_json::to_value(
                    &state.stream.as_ref().expect("a stream state").stream_state,
                )
                .expect("a state");
                states.push((records.len(), value["n"].as_u64().expect("a watermark")));
            }
            _ => {}
        }
    }
    (records, states)
}

fn assert_cut(output: &Output, stream: &str) {
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        output.statuses(stream).last(),
        Some(&StreamStatus::Incomplete),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("a slice was cut short at --max-pages 1"),
        "{}",
        output.stdout
    );
}

#[test]
fn after_a_cut_no_state_follows_and_later_slices_are_read() {
    let output = read("pages", &["--max-pages", "1", "--max-slices", "4"]);
    assert_cut(&output, "pages");
    let (records, states) = records_and_states(&output);
    // Windows 1..=11 and 12..=21 (cut after 12, 13, 14), then 22..=31 and 32..=41.
    let mut expected: Vec<u64> = (1..=14).collect();
    expected.extend(22..=41);
    assert_eq!(records, expected);
    // Only the STATE of the first window, written before the cut.
    assert_eq!(states, vec![(11, 11)], "{}", output.stdout);
}

#[test]
fn after_a_cut_in_a_concurrent_read_no_state_claims_what_was_not_read() {
    for _ in 0..10 {
        let output = read("cpages", &["--max-pages", "1"]);
        assert_cut(&output, "cpages");
        let (mut records, states) = records_and_states(&output);
        for (_, watermark) in &states {
            assert!(*watermark < 15, "a STATE past the cut: {}", output.stdout);
        }
        records.sort_unstable();
        let mut expected: Vec<u64> = (1..=14).collect();
        expected.extend(22..=60);
        assert_eq!(records, expected);
    }
}
