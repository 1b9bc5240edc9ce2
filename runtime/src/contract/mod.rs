//! The state contract, in one place, with no I/O and no clock.
//!
//! A STATE with watermark `W` means: every record with cursor `<= W` that existed when the sync
//! started has been emitted before that STATE. Everything that decides whether that sentence
//! holds lives in this folder, and nowhere else:
//!
//! - [`plan`]: which slices a sync reads. The lower bound (saved state, `lookback` never below
//!   `start`, declared or run-time `start`), the windows of `step`, and where they end (the
//!   reader's end or the time cap).
//! - [`engine`]: record by record, what is emitted and when a STATE is due (ties, order,
//!   newest-first feeds, client-side filtering, the time cap, the period of
//!   `checkpoint_every` as the driver reports it), and the state after a failure.
//! - [`Core`]: the two together, plus `on_null`, behind the few calls a driver makes.
//!
//! The driver (`source.rs`) only moves records between the reader, the core and the emitter:
//! it asks the core for the next slice, hands the reader's records to [`Core::admit`], writes
//! what the core says to write, and tells the core when a slice ends or the reader fails. The
//! core is given the sync's start time instead of reading a clock, so property tests run it
//! over every declaration the attribute accepts, checked by two independent checkers: `props.rs`
//! (the sentence, no loss and no re-send over chains of cut and failed syncs) and `model.rs` (a
//! model of the design that also says which slices must be read and exactly where each STATE
//! is due).

pub(crate) mod engine;
#[cfg(test)]
mod model;
pub(crate) mod plan;
#[cfg(test)]
mod props;

use std::marker::PhantomData;
use std::ops::Bound;

use chrono::{DateTime, Utc};

pub(crate) use engine::Admit;
use engine::Engine;
use plan::{Plan, PlanError};

use crate::cursor::Cursor;
use crate::stream::{CheckpointPolicy, IncrementalStream, OnNull, Order};

/// What a stream declares about its state: the attribute's keys, as the core reads them.
///
/// Implemented for every `#[incremental_stream]` type through [`Declared`]; property tests
/// implement it for declarations they generate at run time.
pub(crate) trait Declaration {
    /// The cursor type.
    type Cursor: Cursor;

    /// `checkpoint_interval` and `checkpoint`.
    fn policy(&self) -> CheckpointPolicy;
    /// `order`.
    fn order(&self) -> Order;
    /// `on_null`.
    fn on_null(&self) -> OnNull;
    /// The `step` as declared, when the stream is read in windows.
    fn step(&self) -> Option<&'static str>;
    /// `origin + index * step`; `None` when out of the cursor type's range.
    fn window_bound(&self, origin: &Self::Cursor, index: u64) -> Option<Self::Cursor>;
    /// Whether the stream declares `lookback`.
    fn has_lookback(&self) -> bool;
    /// `watermark - lookback`; `None` when out of the cursor type's range.
    fn look_back(&self, watermark: &Self::Cursor) -> Option<Self::Cursor>;
    /// The declared `start`, or why it does not fit the cursor type.
    fn start(&self) -> Option<Result<Self::Cursor, String>>;
}

/// The declaration of an `#[incremental_stream]` type.
pub(crate) struct Declared<S>(PhantomData<fn(&S)>);

impl<S> Declared<S> {
    pub(crate) const fn new() -> Self {
        Declared(PhantomData)
    }
}

impl<S: IncrementalStream> Declaration for Declared<S> {
    type Cursor = S::Cursor;

    fn policy(&self) -> CheckpointPolicy {
        S::POLICY
    }

    fn order(&self) -> Order {
        S::ORDER
    }

    fn on_null(&self) -> OnNull {
        S::ON_NULL
    }

    fn step(&self) -> Option<&'static str> {
        S::STEP
    }

    fn window_bound(&self, origin: &S::Cursor, index: u64) -> Option<S::Cursor> {
        S::window_bound(origin, index)
    }

    fn has_lookback(&self) -> bool {
        S::LOOKBACK.is_some()
    }

    fn look_back(&self, watermark: &S::Cursor) -> Option<S::Cursor> {
        match S::resume_bound(watermark) {
            Bound::Included(from) | Bound::Excluded(from) => Some(from),
            Bound::Unbounded => None,
        }
    }

    fn start(&self) -> Option<Result<S::Cursor, String>> {
        S::declared_start()
    }
}

/// The bounds of a slice: `(lower, upper)`.
pub(crate) type SliceBounds<C> = (Bound<C>, Bound<C>);

/// What the reader supplies about the range at run time ([`crate::Reader::start`] and
/// [`crate::Reader::end`]).
#[derive(Debug, Clone)]
pub(crate) struct ReaderBounds<C> {
    /// A start overriding the declared one.
    pub(crate) start: Option<C>,
    /// The inclusive end of the range this sync reads.
    pub(crate) end: Option<C>,
}

/// Why a record cannot be emitted: the stream stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal<C> {
    /// With `order = "asc"`, a cursor below its predecessor's; with `order = "desc"`, a cursor
    /// above its predecessor's in the same slice. No state is claimed after it.
    OutOfOrder {
        /// The previous record's cursor.
        previous: C,
        /// The offending record's cursor.
        next: C,
    },
    /// A record without a cursor value, with `on_null = "fail"`.
    NullCursor,
}

/// How a stream's reading ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The reader failed, panicked, was stopped, or a record was refused: the records so far
    /// came in the declared order.
    Stopped,
    /// The reader reported that its source broke the declared order: records below those
    /// already emitted may be missing, so no state may be claimed.
    SourceOutOfOrder,
}

/// One stream's sync, as the contract sees it: the slices to read and every record's fate.
pub(crate) struct Core<D: Declaration> {
    declaration: D,
    engine: Engine<D::Cursor>,
    plan: Plan<D::Cursor>,
}

impl<D: Declaration> Core<D> {
    /// Whether the sync needs the reader's run-time start: without saved state it is the lower
    /// bound, and with `lookback` it is the floor the look-back never passes.
    pub(crate) fn needs_start(declaration: &D, saved: Option<&D::Cursor>) -> bool {
        saved.is_none() || declaration.has_lookback()
    }

    /// A sync that started at `started`, resuming from `saved` (the saved state's watermark).
    ///
    /// # Errors
    ///
    /// The slices cannot be planned: a declared `start` out of the cursor type's range, windows
    /// with no start or no end.
    pub(crate) fn new(
        declaration: D,
        saved: Option<D::Cursor>,
        started: DateTime<Utc>,
        bounds: ReaderBounds<D::Cursor>,
    ) -> Result<Self, PlanError> {
        let engine = Engine::new(declaration.policy(), declaration.order(), saved, started);
        // Before the first record, the engine's watermark is the saved one.
        let plan = Plan::new(&declaration, engine.watermark(), engine.cap(), bounds)?;
        Ok(Core {
            declaration,
            engine,
            plan,
        })
    }

    /// A core reading the one window `(lower, upper)` of a sync that resumed from `saved`, for
    /// a reader running at the same time as the readers of the other windows: its watermark
    /// says what is complete within the window, which the driver claims only once every window
    /// below it is complete too.
    pub(crate) fn window(
        declaration: D,
        saved: Option<D::Cursor>,
        started: DateTime<Utc>,
        (lower, upper): SliceBounds<D::Cursor>,
    ) -> Self {
        let engine = Engine::new(declaration.policy(), declaration.order(), saved, started);
        Core {
            declaration,
            engine,
            plan: Plan::single(lower, upper),
        }
    }

    /// Hands out the next slice without reading it, for a driver that reads slices at the same
    /// time, each with its own [`Core::window`]: `(lower, upper)` and whether it is the last.
    pub(crate) fn take_slice(&mut self) -> Option<(SliceBounds<D::Cursor>, bool)> {
        let bounds = self.plan.next_slice(&self.declaration)?;
        let last = self.plan.slice_done().is_none();
        Some((bounds, last))
    }

    /// The window of a [`Core::window`] was read in full: its watermark moves to `upper` (or
    /// to what the time cap allows). Returns the records since the last safe point.
    pub(crate) fn finish_window(&mut self, upper: Option<&D::Cursor>) -> u64 {
        self.engine.finish(upper)
    }

    /// The next slice to read, `(lower, upper)`; `None` when every slice was read. Records
    /// outside it are dropped from now on.
    pub(crate) fn next_slice(&mut self) -> Option<SliceBounds<D::Cursor>> {
        let (lower, upper) = self.plan.next_slice(&self.declaration)?;
        self.engine.set_slice(lower.clone(), upper.clone());
        Some((lower, upper))
    }

    /// Decides what happens to a record with this cursor value (`None`: a null cursor).
    ///
    /// # Errors
    ///
    /// The record stops the stream: out of the declared order, or a null cursor with
    /// `on_null = "fail"`.
    #[inline]
    pub(crate) fn admit(
        &mut self,
        cursor: Option<&D::Cursor>,
    ) -> Result<Admit, Refusal<D::Cursor>> {
        match cursor {
            Some(cursor) => self
                .engine
                .admit(cursor)
                .map_err(|violation| Refusal::OutOfOrder {
                    previous: violation.previous,
                    next: violation.next,
                }),
            None => match self.declaration.on_null() {
                OnNull::Fail => Err(Refusal::NullCursor),
                OnNull::Skip => Ok(Admit::Drop),
                OnNull::Emit => Ok(self.engine.admit_null()),
            },
        }
    }

    /// With `order = "desc"`: the reader's feed reached the current slice's lower bound (a
    /// record at or below it came), so the rest of the slice was read by earlier syncs or lies
    /// below `start`. True until the next slice.
    pub(crate) fn caught_up(&self) -> bool {
        self.engine.caught_up()
    }

    /// With `checkpoint_every`: whether the period elapsed since the stream's previous STATE.
    /// The driver, which has the clock, says so before each [`Core::admit`] and
    /// [`Core::slice_done`]; without a declared period it is not read.
    pub(crate) fn set_period_elapsed(&mut self, elapsed: bool) {
        self.engine.set_period_elapsed(elapsed);
    }

    /// The last admitted record could not be written after all: it is not counted.
    pub(crate) fn retract(&mut self) {
        self.engine.retract();
    }

    /// The reader returned every record of the current slice. Returns the `recordCount` of a
    /// STATE to emit now, if one is due (a window other than the last one ended).
    pub(crate) fn slice_done(&mut self) -> Option<u64> {
        let upper = self.plan.slice_done()?;
        self.engine.end_window(&upper)
    }

    /// Every slice was read. Returns the `recordCount` of the final STATE, always emitted.
    pub(crate) fn finish(&mut self) -> u64 {
        self.engine.finish(self.plan.last_end())
    }

    /// The stream stopped early. Returns the `recordCount` of a last safe STATE to emit, if
    /// the safe watermark moved.
    pub(crate) fn fail(&mut self, failure: Failure) -> Option<u64> {
        match failure {
            Failure::Stopped => self.engine.fail(),
            Failure::SourceOutOfOrder => {
                self.engine.poison();
                None
            }
        }
    }

    /// The largest watermark every record emitted so far is complete up to, but for those equal
    /// to the last one (what [`Core::fail`] would claim now); `None` when there is none inside
    /// the slice (an unsorted or newest-first stream, an order violation).
    pub(crate) fn safe(&self) -> Option<&D::Cursor> {
        self.engine.safe()
    }

    /// The watermark of the latest STATE (or of the saved state): what a STATE emitted now says.
    pub(crate) fn watermark(&self) -> Option<&D::Cursor> {
        self.engine.watermark()
    }
}
