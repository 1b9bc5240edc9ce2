//! STATE messages of streams with cursors past 64 bits and with namespaces, as printed.

use serde_json::json;
use tidemark::testing::{self, Output};
use tidemark::{Error, Records, Slice, Source, Streams};

use crate::support::{NoConfig, temp_file};

/// A record of the `big` stream: a `u128` cursor, a STATE after every record.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "big", cursor = "n", checkpoint_interval = 1)]
pub struct Big {
    pub n: u128,
}

/// A record of the `low` stream: an `i128` cursor, a STATE after every record.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "low", cursor = "n", checkpoint_interval = 1)]
pub struct Low {
    pub n: i128,
}

/// A record of the `ledger` stream, which lives in the `shop` namespace.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "ledger", namespace = "shop", cursor = "ts")]
pub struct Entry {
    pub ts: u64,
}

const TWO_64: u128 = 1 << 64;
const BIG: [u128; 6] = [
    TWO_64 - 1,
    TWO_64,
    TWO_64 + 1,
    u128::MAX - 2,
    u128::MAX - 1,
    u128::MAX,
];
const LOW: [i128; 6] = [
    i128::MIN,
    i128::MIN + 1,
    i64::MIN as i128 - 2,
    i64::MIN as i128 - 1,
    i64::MIN as i128,
    0,
];

/// The three streams above, each returning its values past the slice's lower bound.
struct Wide;

impl Source for Wide {
    const NAME: &'static str = "source-wide";
    const VERSION: &'static str = "0.0.1";
    type Config = NoConfig;

    fn check(&self, _config: &NoConfig) -> Result<(), Error> {
        Ok(())
    }

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new()
            .stream(|slice: &Slice<Big>, out: &mut Records<Big>| {
                for n in BIG {
                    if slice.after().is_none_or(|&after| n > after) {
                        out.emit(&Big { n })?;
                    }
                }
                Ok(())
            })
            .stream(|slice: &Slice<Low>, out: &mut Records<Low>| {
                for n in LOW {
                    if slice.after().is_none_or(|&after| n > after) {
                        out.emit(&Low { n })?;
                    }
                }
                Ok(())
            })
            .stream(|slice: &Slice<Entry>, out: &mut Records<Entry>| {
                for ts in 1..=4 {
                    if slice.after().is_none_or(|&after| ts > after) {
                        out.emit(&Entry { ts })?;
                    }
                }
                Ok(())
            }))
    }
}

/// Runs `read` of `stream` as a process would, with the state file holding `state`.
fn read_wide(stream: &str, state: Option<&str>) -> Output {
    let catalog = testing::incremental_catalog(&Wide, &json!({}));
    let selected: Vec<serde_json::Value> = catalog["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .filter(|s| s["stream"]["name"] == stream)
        .cloned()
        .collect();
    let config = temp_file("config.json", "{}");
    let catalog = temp_file("catalog.json", &json!({ "streams": selected }).to_string());
    let state = state.map(|text| temp_file("state.json", text));
    let mut args = vec![
        "read",
        "--config",
        config.to_str().expect("utf-8 path"),
        "--catalog",
        catalog.to_str().expect("utf-8 path"),
    ];
    if let Some(state) = &state {
        args.extend(["--state", state.to_str().expect("utf-8 path")]);
    }
    testing::run(&Wide, &args)
}

#[test]
fn state_lines_are_printed_byte_for_byte_as_before() {
    let big = read_wide("big", None);
    let first = big
        .stdout
        .lines()
        .find(|line| line.contains(r#""type":"STATE""#))
        .expect("a STATE");
    assert_eq!(
        first,
        r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"big"},"stream_state":{"n":18446744073709551615}},"sourceStats":{"recordCount":1.0}}}"#
    );
    let ledger = read_wide("ledger", None);
    let last = ledger
        .stdout
        .lines()
        .rfind(|line| line.contains(r#""type":"STATE""#))
        .expect("a STATE");
    assert_eq!(
        last,
        r#"{"type":"STATE","state":{"type":"STREAM","stream":{"stream_descriptor":{"name":"ledger","namespace":"shop"},"stream_state":{"ts":4}},"sourceStats":{"recordCount":4.0}}}"#
    );
}
