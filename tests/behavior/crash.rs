//! The crash matrix of `tidemark::testing`, over the `orders` example, streams with ties,
//! windows and failing readers, and a broken reader it must catch.

use serde_json::{Value, json};
use tidemark::testing::{CrashTest, incremental_catalog};
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::orders_fixture::{OrdersSource, paths};
use crate::support::{NoConfig, Script, Scripted, catalog};
use crate::table::{Table, TableSource};
use crate::windows::{Bucket, buckets as buckets_with};

#[test]
fn the_orders_example_keeps_the_contract_at_every_cut() {
    let (config, catalog) = paths();
    let config: Value = serde_json::from_str(&std::fs::read_to_string(config).expect("config"))
        .expect("config is JSON");
    let catalog: Value = serde_json::from_str(&std::fs::read_to_string(catalog).expect("catalog"))
        .expect("catalog is JSON");
    let report = CrashTest::new(&OrdersSource, &config, &catalog).assert();
    assert_eq!(report.records, 1000);
    // 1000 records, 2 states, 3 statuses: sampled, with every STATE's neighbours.
    assert!(report.cuts >= 400, "{report:?}");
}

#[test]
fn ties_across_checkpoints_and_inclusive_apis_keep_the_contract() {
    for inclusive in [false, true] {
        let script = Script {
            events: vec![1, 2, 2, 2, 3, 3, 4, 5, 5, 5, 5, 6],
            notes: 4,
            audits: vec![1, 2, 3],
            inclusive,
            ..Script::default()
        };
        let source = Scripted::new(script);
        let report = CrashTest::new(
            &source,
            &json!({}),
            &catalog(&["events", "notes", "audits"]),
        )
        .assert();
        assert_eq!(report.cuts, report.messages);
        assert_eq!(report.records, 12 + 4 + 3);
    }
}

fn buckets() -> Table<Bucket> {
    let mut table = Table::new(buckets_with(&[1, 11, 11, 12, 20, 21, 21, 31]));
    table.end = Some(31);
    table
}

#[test]
fn windows_and_a_reader_that_keeps_failing_keep_the_contract() {
    let source = TableSource::new(buckets());
    let catalog = incremental_catalog(&source, &json!({}));
    CrashTest::new(&source, &json!({}), &catalog).assert();

    // Every sync fails after returning 3 rows: the chain resumes until one completes.
    let mut table = buckets();
    table.fail_at = Some(3);
    let source = TableSource::new(table);
    let report = CrashTest::new(&source, &json!({}), &catalog).assert();
    assert!(report.syncs > 2, "{report:?}");
}

/// A record of the broken source.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "items",
    cursor = "id",
    primary_key = "id",
    checkpoint_interval = 2
)]
pub struct Item {
    id: u64,
}

/// A reader with an off-by-one on resume: it skips the first record after the state.
struct SkipsOnResume;

impl Source for SkipsOnResume {
    const NAME: &'static str = "source-broken";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().stream(|slice: &Slice<Item>, out: &mut Sink<Item>| {
                let first = slice.after().map_or(1, |id| id + 2);
                for id in first..=6 {
                    out.emit(&Item { id })?;
                }
                Ok(())
            }),
        )
    }
}

#[test]
fn a_reader_that_loses_records_on_resume_is_caught_with_the_cut_and_the_state() {
    let catalog = incremental_catalog(&SkipsOnResume, &json!({}));
    let failure = CrashTest::new(&SkipsOnResume, &json!({}), &catalog)
        .run()
        .expect_err("records are lost");
    let text = failure.to_string();
    assert!(failure.cut.is_some(), "{text}");
    assert!(text.contains("records lost: items [3]"), "{text}");
    assert!(text.contains("resumed from state"), "{text}");
    assert!(text.contains(r#""stream_state":{"id":2}"#), "{text}");
}
