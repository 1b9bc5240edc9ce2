//! State bytes per sync of a partitioned stream: 10,000 partitions (`--partitions`), a few
//! records each, every partition taking about a millisecond to read (`--partition-ms`), as an
//! API call would. The same stream is declared with a STATE after every partition (the
//! default) and with `checkpoint_every = "PT1S"`; the output goes to a writer that counts the
//! bytes of STATE lines. Run with `cargo bench --bench partition_state`.

#![allow(missing_docs, reason = "a benchmark binary")]
#![allow(clippy::print_stdout, reason = "the benchmark prints its table")]

use std::io::{self, Write};
use std::time::{Duration, Instant};

use tidemark::{Error, Partitions, Sink, Slice, Source, Streams};

/// A record of a partition, a STATE after each partition.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues",
    cursor = "updated_at",
    partition = "repository",
    max_partitions = 20000
)]
struct Issue {
    repository: String,
    id: u64,
    updated_at: u64,
}

/// The same, at most one STATE per second.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues",
    cursor = "updated_at",
    partition = "repository",
    max_partitions = 20000,
    checkpoint_every = "PT1S"
)]
struct IssueEverySecond {
    repository: String,
    id: u64,
    updated_at: u64,
}

trait Row: tidemark::IncrementalStream<Cursor = u64, Partition = String> {
    fn row(repository: String, id: u64, updated_at: u64) -> Self;
}

impl Row for Issue {
    fn row(repository: String, id: u64, updated_at: u64) -> Self {
        Issue {
            repository,
            id,
            updated_at,
        }
    }
}

impl Row for IssueEverySecond {
    fn row(repository: String, id: u64, updated_at: u64) -> Self {
        IssueEverySecond {
            repository,
            id,
            updated_at,
        }
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Config {
    partitions: u64,
    records: u64,
    partition_us: u64,
}

struct Repos<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Row + 'static> Source for Repos<T> {
    const NAME: &'static str = "source-repos";
    type Config = Config;

    fn streams<'a>(&'a self, config: &'a Config) -> Result<Streams<'a>, Error> {
        let names = (0..config.partitions).map(|index| format!("org/repository-{index:05}"));
        let pause = Duration::from_micros(config.partition_us);
        Ok(Streams::new().partitioned(
            Partitions::list(names),
            move |slice: &Slice<T>, out: &mut Sink<T>| {
                std::thread::sleep(pause);
                let first = slice.after().map_or(1, |after| after + 1);
                for updated_at in first..=config.records {
                    out.emit(&T::row(
                        slice.partition().clone(),
                        updated_at,
                        1_700_000_000 + updated_at,
                    ))?;
                }
                Ok(())
            },
        ))
    }
}

/// Counts the bytes of STATE lines (and all lines) written to it.
#[derive(Default)]
struct Counter {
    in_state: bool,
    first: Vec<u8>,
    states: u64,
    state_bytes: u64,
    max_state: u64,
    current: u64,
    bytes: u64,
}

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &byte in buf {
            self.bytes += 1;
            if self.first.len() < 16 {
                self.first.push(byte);
                if self.first.len() == 16 {
                    self.in_state = self.first.starts_with(b"{\"type\":\"STATE\"");
                    if self.in_state {
                        self.states += 1;
                        self.state_bytes += 16;
                        self.current = 16;
                    }
                }
                continue;
            }
            if self.in_state {
                self.state_bytes += 1;
                self.current += 1;
            }
            if byte == b'\n' {
                self.max_state = self.max_state.max(self.current);
                self.first.clear();
                self.in_state = false;
                self.current = 0;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn run<T: Row + 'static>(label: &str, config: &std::path::Path, catalog: &std::path::Path) {
    let mut counter = Counter::default();
    let started = Instant::now();
    let args = [
        "bench",
        "read",
        "--config",
        config.to_str().expect("utf-8"),
        "--catalog",
        catalog.to_str().expect("utf-8"),
    ];
    let code = tidemark::run_with(
        &Repos::<T>(std::marker::PhantomData),
        "0",
        args,
        &mut counter,
        &mut io::sink(),
    );
    let elapsed = started.elapsed();
    assert_eq!(code, 0);
    #[expect(clippy::cast_precision_loss, reason = "figures for people")]
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!(
        "| {label} | {:.1} s | {} | {:.2} MiB | {:.3} MiB | {:.1} MiB |",
        elapsed.as_secs_f64(),
        counter.states,
        mib(counter.state_bytes),
        mib(counter.max_state),
        mib(counter.bytes),
    );
}

fn main() {
    let mut partitions = 10_000_u64;
    let mut records = 3_u64;
    let mut partition_us = 1_000_u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match arg.as_str() {
            "--partitions" => partitions = value(),
            "--records" => records = value(),
            "--partition-us" => partition_us = value(),
            _ => {}
        }
    }
    let dir = std::env::temp_dir().join(format!("tidemark-partition-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        serde_json::json!({"partitions": partitions, "records": records, "partition_us": partition_us}).to_string(),
    )
    .expect("writes");
    let catalog = dir.join("catalog.json");
    let entry = <Issue as tidemark::IncrementalStream>::catalog_entry();
    std::fs::write(
        &catalog,
        serde_json::json!({"streams": [{"stream": entry, "sync_mode": "incremental", "destination_sync_mode": "append"}]}).to_string(),
    )
    .expect("writes");
    println!(
        "{partitions} partitions x {records} records, {partition_us} us per partition, first sync\n"
    );
    println!("| declaration | sync | STATEs | STATE bytes | largest STATE | all output |");
    println!("|---|---|---|---|---|---|");
    run::<IssueEverySecond>("`checkpoint_every = \"PT1S\"`", &config, &catalog);
    run::<Issue>("a STATE after every partition", &config, &catalog);
    let _ = std::fs::remove_dir_all(&dir);
}
