//! A source of one stream read from an in-memory table, with a reader whose bounds, order,
//! sloppiness and failure point each test chooses, and which logs the slices it was asked for.

use std::cell::RefCell;
use std::rc::Rc;

use serde_json::{Value, json};
use tidemark::testing::{self, Output};
use tidemark::{Error, IncrementalStream, Reader, Sink, Slice, Source, Streams};

use crate::support::NoConfig;

/// How the table's reader behaves.
pub struct Table<S: IncrementalStream> {
    /// The rows, in the order the source returns them.
    pub rows: Vec<S>,
    /// The start the reader supplies at run time (`Reader::start`).
    pub start: Option<S::Cursor>,
    /// The end the reader supplies (`Reader::end`).
    pub end: Option<S::Cursor>,
    /// Return every row in every slice, as an API that cannot filter would.
    pub sloppy: bool,
    /// Return each slice's rows in reverse order.
    pub reverse: bool,
    /// Fail with a transient error instead of returning the row at this position (counted over
    /// every row returned in the run).
    pub fail_at: Option<usize>,
}

impl<S: IncrementalStream> Table<S> {
    pub fn new(rows: Vec<S>) -> Self {
        Table {
            rows,
            start: None,
            end: None,
            sloppy: false,
            reverse: false,
            fail_at: None,
        }
    }
}

/// The source: one stream of `S` read from a [`Table`].
pub struct TableSource<S: IncrementalStream> {
    table: Table<S>,
    /// Each slice the reader was called with: `lower..upper` as `Debug` bounds.
    pub slices: Rc<RefCell<Vec<String>>>,
}

impl<S: IncrementalStream<Partition = ()> + Clone + 'static> TableSource<S> {
    pub fn new(table: Table<S>) -> Self {
        TableSource {
            table,
            slices: Rc::default(),
        }
    }

    /// Reads the stream with an optional saved state.
    pub fn read(&self, state: Option<&Value>) -> Output {
        let catalog = testing::incremental_catalog(self, &json!({}));
        testing::read(self, &json!({}), &catalog, state)
    }
}

struct TableReader<'t, S: IncrementalStream> {
    table: &'t Table<S>,
    returned: usize,
    slices: Rc<RefCell<Vec<String>>>,
}

impl<S> Reader<S> for TableReader<'_, S>
where
    S: IncrementalStream + Clone,
{
    fn read(&mut self, slice: &Slice<'_, S>, out: &mut Sink<'_, S>) -> Result<(), Error> {
        self.slices
            .borrow_mut()
            .push(format!("{:?}..{:?}", slice.lower(), slice.upper()));
        let mut rows: Vec<&S> = self
            .table
            .rows
            .iter()
            .filter(|row| {
                self.table.sloppy || row.cursor().is_none_or(|cursor| slice.contains(&cursor))
            })
            .collect();
        if self.table.reverse {
            rows.reverse();
        }
        for row in rows {
            if self.table.fail_at == Some(self.returned) {
                return Err(Error::transient("the table went away"));
            }
            self.returned += 1;
            out.emit(row)?;
        }
        Ok(())
    }

    fn start(&mut self) -> Result<Option<S::Cursor>, Error> {
        Ok(self.table.start.clone())
    }

    fn end(&mut self) -> Result<Option<S::Cursor>, Error> {
        Ok(self.table.end.clone())
    }
}

impl<S: IncrementalStream<Partition = ()> + Clone + 'static> Source for TableSource<S> {
    const NAME: &'static str = "source-table";
    type Config = NoConfig;

    fn streams<'a>(&'a self, _config: &'a NoConfig) -> Result<Streams<'a>, Error> {
        Ok(Streams::new().stream(TableReader {
            table: &self.table,
            returned: 0,
            slices: Rc::clone(&self.slices),
        }))
    }
}

/// The `stream_state` of every STATE, in order.
pub fn states(output: &Output) -> Vec<Value> {
    output
        .states()
        .iter()
        .map(|state| {
            state
                .stream
                .as_ref()
                .and_then(|stream| stream.stream_state.clone())
                .expect("a STREAM state")
        })
        .collect()
}

/// One field of every record, in order.
pub fn column(output: &Output, field: &str) -> Vec<Value> {
    output
        .records()
        .iter()
        .map(|record| record.data[field].clone())
        .collect()
}
