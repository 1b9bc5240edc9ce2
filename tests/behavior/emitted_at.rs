//! A record's `emitted_at` is the wall clock when it was emitted, to the millisecond, however
//! slowly records come.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tidemark::testing;
use tidemark::{Error, Sink, Slice, Source, Streams};

use crate::support::NoConfig;

#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(name = "ticks", cursor = "id")]
pub struct Tick {
    id: u64,
}

/// Emits a record every 30 ms and notes the wall clock just before and just after each emit.
struct Slow {
    around: RefCell<Vec<(i64, i64)>>,
}

const RECORDS: u64 = 5;
const PAUSE: Duration = Duration::from_millis(30);

fn now_millis() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since_epoch.as_millis()).expect("fits")
}

impl Source for Slow {
    const NAME: &'static str = "source-slow";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(
            Streams::new().stream(move |_slice: &Slice<Tick>, out: &mut Sink<Tick>| {
                for id in 1..=RECORDS {
                    if id > 1 {
                        // Half the pauses with the runtime's wait, half with a plain sleep.
                        if id % 2 == 0 {
                            out.wait(PAUSE)?;
                        } else {
                            std::thread::sleep(PAUSE);
                        }
                    }
                    let before = now_millis();
                    out.emit(&Tick { id })?;
                    self.around.borrow_mut().push((before, now_millis()));
                }
                Ok(())
            }),
        )
    }
}

#[test]
fn records_that_come_slowly_carry_the_time_they_were_emitted() {
    let source = Slow {
        around: RefCell::new(Vec::new()),
    };
    let config = json!({});
    let catalog = testing::incremental_catalog(&source, &config);
    let output = testing::read(&source, &config, &catalog, None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    let emitted: Vec<i64> = output
        .records()
        .iter()
        .map(|record| record.emitted_at)
        .collect();
    let around = source.around.borrow();
    assert_eq!(emitted.len(), around.len());
    for (at, &(before, after)) in emitted.iter().zip(around.iter()) {
        assert!(
            before - 2 <= *at && *at <= after + 2,
            "emitted_at {at} is not between {before} and {after} (all: {emitted:?}, clock around \
             each emit: {around:?})"
        );
    }
    for pair in emitted.windows(2) {
        assert!(
            pair[1] - pair[0] >= 29,
            "records emitted 30 ms apart carry {emitted:?}"
        );
    }
}
