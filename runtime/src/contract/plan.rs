//! Slice planning: which part of the cursor range a sync reads, and in which slices.
//!
//! - Without saved state the range starts at the reader's start, else the declared `start`
//!   (included), else at the beginning.
//! - With a saved watermark `W` it starts after `W`; with `lookback` after `W - lookback`, but
//!   never below the start (declared or the reader's): the look-back re-reads what may have
//!   arrived late, not what the stream declares it does not want. When `W - lookback` leaves
//!   the cursor type's range and there is no start, the range starts at the beginning.
//! - Without `step` the range is one open slice, up to the reader's end if it gives one.
//! - With `step` it is cut into windows `lower < cursor <= upper` whose bounds are
//!   `origin + n * step` from the range's first bound, up to the reader's end, or for time
//!   cursors the time cap (just before the sync started). A range that starts at the beginning
//!   (a look-back past the type's range) has a first window ending at the saved watermark.

use std::ops::Bound;

use super::Declaration;
use crate::cursor::Cursor;

/// Why a sync's slices cannot be planned. Each message completes "stream `x` ...".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlanError {
    /// The declared `start` does not fit the cursor type.
    Start(String),
    /// Windows need a first bound: a saved state or a start.
    NoOrigin {
        /// The declared `step`.
        step: &'static str,
    },
    /// Windows need a last bound: the reader's end or a time cap.
    NoEnd {
        /// The declared `step`.
        step: &'static str,
    },
}

impl PlanError {
    /// The error's message about `stream`.
    pub(crate) fn message(&self, stream: &str) -> String {
        match self {
            PlanError::Start(message) => {
                format!("stream `{stream}`: the declared `start` {message}")
            }
            PlanError::NoOrigin { step } => format!(
                "stream `{stream}` is read in windows of {step} but has neither a saved state \
                 nor a start: declare `start` or return one from `Reader::start`"
            ),
            PlanError::NoEnd { step } => format!(
                "stream `{stream}` is read in windows of {step} but its reader gives no end: \
                 return the range's upper bound from `Reader::end`"
            ),
        }
    }
}

/// The slices of one sync, handed out one at a time.
#[derive(Debug, Clone)]
pub(crate) struct Plan<C> {
    /// The lower bound of the next slice; `None` once every slice was handed out.
    lower: Option<Bound<C>>,
    /// The inclusive end of the range, if any.
    end: Option<C>,
    /// Windows: `origin + index * step` bounds the next window.
    windows: Option<Windows<C>>,
    /// The upper bound of the slice being read, and whether it is the last one.
    current: Option<(C, bool)>,
    /// The end of the last window, once it was read.
    last_end: Option<C>,
}

#[derive(Debug, Clone)]
struct Windows<C> {
    origin: C,
    index: u64,
}

impl<C: Cursor> Plan<C> {
    /// Plans a sync resuming from `saved`, for a cursor capped at `cap` (the engine's time cap).
    pub(crate) fn new<D: Declaration<Cursor = C>>(
        declaration: &D,
        saved: Option<&C>,
        cap: Option<&C>,
        bounds: super::ReaderBounds<C>,
    ) -> Result<Self, PlanError> {
        let start = match bounds.start {
            Some(start) => Some(start),
            None => declaration.start().transpose().map_err(PlanError::Start)?,
        };
        let lower = lower_bound(declaration, saved, start);
        let Some(step) = declaration.step() else {
            return Ok(Plan {
                lower: Some(lower),
                end: bounds.end,
                windows: None,
                current: None,
                last_end: None,
            });
        };
        // The first window of a range starting at the beginning ends at the saved watermark.
        let (origin, index) = match (&lower, saved) {
            (Bound::Included(origin) | Bound::Excluded(origin), _) => (origin.clone(), 1),
            (Bound::Unbounded, Some(saved)) => (saved.clone(), 0),
            (Bound::Unbounded, None) => return Err(PlanError::NoOrigin { step }),
        };
        let Some(end) = bounds.end.or_else(|| cap.cloned()) else {
            return Err(PlanError::NoEnd { step });
        };
        Ok(Plan {
            lower: Some(lower),
            end: Some(end),
            windows: Some(Windows { origin, index }),
            current: None,
            last_end: None,
        })
    }

    /// One slice, `(lower, upper)`, as another plan handed it out.
    pub(crate) fn single(lower: Bound<C>, upper: Bound<C>) -> Self {
        let end = match upper {
            Bound::Included(end) => Some(end),
            Bound::Excluded(_) | Bound::Unbounded => None,
        };
        Plan {
            lower: Some(lower),
            end,
            windows: None,
            current: None,
            last_end: None,
        }
    }

    /// The next slice, `(lower, upper)`; `None` when the range is read.
    pub(crate) fn next_slice<D: Declaration<Cursor = C>>(
        &mut self,
        declaration: &D,
    ) -> Option<super::SliceBounds<C>> {
        let lower = self.lower.take()?;
        // Nothing is left when the range starts past its end (a saved state above the
        // reader's end): the reader is not asked for an inverted slice.
        if let Some(end) = &self.end
            && match &lower {
                Bound::Included(from) => from > end,
                Bound::Excluded(after) => after >= end,
                Bound::Unbounded => false,
            }
        {
            return None;
        }
        let Some(windows) = &mut self.windows else {
            // One open slice.
            let upper = self.end.clone().map_or(Bound::Unbounded, Bound::Included);
            return Some((lower, upper));
        };
        let end = self.end.as_ref()?;
        let upper = declaration
            .window_bound(&windows.origin, windows.index)
            .filter(|bound| bound < end)
            .unwrap_or_else(|| end.clone());
        windows.index += 1;
        let last = upper == *end;
        self.current = Some((upper.clone(), last));
        Some((lower, Bound::Included(upper)))
    }

    /// The slice handed out last was read. Returns the upper bound of a window that ended and
    /// is not the last one (a STATE may be due there); the next slice starts after it.
    pub(crate) fn slice_done(&mut self) -> Option<C> {
        let (upper, last) = self.current.take()?;
        if last {
            self.last_end = Some(upper);
            return None;
        }
        self.lower = Some(Bound::Excluded(upper.clone()));
        Some(upper)
    }

    /// The end of the last window, once read; `None` for an open slice (its end is the last
    /// emitted record) or when no window was read.
    pub(crate) fn last_end(&self) -> Option<&C> {
        self.last_end.as_ref()
    }
}

/// Where a sync starts, given the saved watermark and the start (the reader's or declared).
fn lower_bound<D: Declaration>(
    declaration: &D,
    saved: Option<&D::Cursor>,
    start: Option<D::Cursor>,
) -> Bound<D::Cursor> {
    let Some(watermark) = saved else {
        return start.map_or(Bound::Unbounded, Bound::Included);
    };
    if !declaration.has_lookback() {
        return Bound::Excluded(watermark.clone());
    }
    let back = declaration.look_back(watermark);
    match (back, start) {
        (Some(back), Some(start)) if back < start => floor(watermark, start),
        (Some(back), _) => Bound::Excluded(back),
        (None, Some(start)) => floor(watermark, start),
        (None, None) => Bound::Unbounded,
    }
}

/// A look-back that would pass `start`: from `start` (included), unless the watermark itself
/// is below it, then right after the watermark (no look-back at all).
fn floor<C: Cursor>(watermark: &C, start: C) -> Bound<C> {
    if start <= *watermark {
        Bound::Included(start)
    } else {
        Bound::Excluded(watermark.clone())
    }
}
