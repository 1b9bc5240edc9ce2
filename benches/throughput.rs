//! The hot path in-process: the `orders` example's `read` through the whole runtime (CLI,
//! checkpoint engine, emitter) into a sink, next to plain `serde_json` writing the same record
//! lines (the ceiling). Run with `cargo bench --bench throughput`; the whole-process figures
//! come from `benches/process.py` and `benches/compare.py` (see BENCHMARKS.md).

#![allow(
    missing_docs,
    reason = "a benchmark binary; criterion's macros generate undocumented functions"
)]

use std::hint::black_box;
use std::io::{self, Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::Serialize;

#[allow(dead_code, reason = "the example's `main` is not called here")]
#[path = "../examples/orders/main.rs"]
mod orders;

const N: u64 = 200_000;

/// The runtime: `read` of N orders, output to a sink.
fn runtime(config: &str, catalog: &str) -> u8 {
    let args = ["orders", "read", "--config", config, "--catalog", catalog];
    tidemark::run_with(
        &orders::OrdersSource,
        "0.1.0",
        args,
        &mut io::sink(),
        &mut io::sink(),
    )
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    record: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    stream: &'static str,
    data: &'a orders::Order,
    emitted_at: i64,
}

/// The ceiling: each record serialized by `serde_json` into a buffered sink, no runtime.
fn ceiling() -> io::Result<()> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::sink());
    for i in 0..N {
        let order = orders::Order::synthetic(i);
        serde_json::to_writer(
            &mut out,
            &Line {
                kind: "RECORD",
                record: Body {
                    stream: "orders",
                    data: &order,
                    emitted_at: 1_700_000_000_000,
                },
            },
        )?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn throughput(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tidemark-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.json");
    std::fs::write(&config, format!(r#"{{"count": {N}}}"#)).expect("config");
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/orders/catalog.json");
    let config = config.to_str().expect("utf-8 path").to_owned();

    let mut group = c.benchmark_group("orders");
    group.throughput(Throughput::Elements(N));
    group.sample_size(20);
    group.bench_function("runtime read", |b| {
        b.iter(|| assert_eq!(black_box(runtime(&config, catalog)), 0));
    });
    group.bench_function("serde_json ceiling", |b| {
        b.iter(|| ceiling().expect("writes"));
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
