//! Record admission: a pure state machine deciding, record by record, what is emitted and when
//! a STATE is due, and what the state after a failure claims.
//!
//! The contract: a STATE with watermark `W` means every record with cursor `<= W` that existed
//! when the sync started has been emitted before that STATE. The engine keeps it by
//!
//! - checkpointing an interval only when the cursor moves past the last emitted value, so a run
//!   of equal values (a tie) is never split;
//! - dropping records outside the current slice (at or below the resume point, above the
//!   window), whatever the source returns;
//! - refusing records below their predecessor when the stream promises ascending order;
//! - with `order = "unsorted"` or `"desc"`, moving the watermark only when a whole slice is
//!   done;
//! - refusing, with `order = "desc"`, a record above its predecessor in the same slice, and
//!   telling the reader once its feed has reached the slice's lower bound ([`Engine::caught_up`]);
//! - with `checkpoint_every`, checkpointing at a safe point only once the driver said the period
//!   elapsed since the previous STATE ([`Engine::set_period_elapsed`]): the engine has no clock;
//! - never claiming a value that is past the sync's start (time cursors), so rows written
//!   during the sync are read again next time;
//! - on failure, claiming only the largest value strictly below the last emitted one.

use std::ops::{Bound, RangeBounds};

use chrono::{DateTime, Utc};

use crate::cursor::Cursor;
use crate::stream::{CheckpointAt, CheckpointPolicy, Order};

/// What to do with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// The record is outside the slice: at or below the resume point (already delivered by an
    /// earlier sync) or beyond the window (the next window reads it).
    Drop,
    /// Emit the record.
    Emit,
    /// Emit a STATE (the engine's [`Engine::watermark`], covering `records` records) and then
    /// the record.
    CheckpointThenEmit {
        /// Records since the previous STATE (the `recordCount` of this one).
        records: u64,
    },
}

/// A record whose cursor is below its predecessor's in a stream declared ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderViolation<C> {
    /// The previous record's cursor.
    pub(crate) previous: C,
    /// The offending record's cursor.
    pub(crate) next: C,
}

/// When the sync started, and what that means for a cursor type.
#[derive(Debug, Clone)]
struct Horizon<C> {
    started: DateTime<Utc>,
    /// `C::upper_cap(started)`, computed once: for a cursor with a cap, past means above it.
    cap: Option<C>,
}

impl<C: Cursor> Horizon<C> {
    /// Whether rows with `cursor` may still be written during the sync ([`Cursor::is_past`]).
    fn is_past(&self, cursor: &C) -> bool {
        match &self.cap {
            Some(cap) => cursor > cap,
            None => cursor.is_past(self.started),
        }
    }
}

/// Per-stream checkpoint state machine. See the module docs for the rules.
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "four independent facts of the state machine, each set and read on its own path"
)]
pub(crate) struct Engine<C: Cursor> {
    policy: CheckpointPolicy,
    order: Order,
    /// When the sync started: values past it are never claimed.
    horizon: Horizon<C>,
    /// The slice being read: records outside it are dropped.
    lower: Bound<C>,
    upper: Bound<C>,
    /// Watermark of the last STATE (or of the input state).
    committed: Option<C>,
    /// Ascending: cursor of the last emitted record. Unsorted and newest first: the largest
    /// emitted cursor.
    last: Option<C>,
    /// Newest first: cursor of the last record emitted in the current slice.
    previous: Option<C>,
    /// Newest first: a record at or below the slice's lower bound came in the current slice.
    caught_up: bool,
    /// `checkpoint_every`: the driver said the period elapsed since the previous STATE.
    period_elapsed: bool,
    /// Largest emitted cursor strictly below `last`: complete, since records come in order.
    below_last: Option<C>,
    /// Largest emitted cursor that is not past the sync's start.
    settled: Option<C>,
    /// Records emitted since the last STATE.
    since_state: u64,
    /// The interval was reached; checkpoint at the next cursor change.
    due: bool,
    /// An order violation happened: nothing may be checkpointed any more.
    poisoned: bool,
}

impl<C: Cursor> Engine<C> {
    /// An engine for a sync that started at `started`, resuming from `watermark` (the input
    /// state's, if any). The slice is unbounded until [`Engine::set_slice`] narrows it.
    #[must_use]
    pub(crate) fn new(
        policy: CheckpointPolicy,
        order: Order,
        watermark: Option<C>,
        started: DateTime<Utc>,
    ) -> Self {
        Engine {
            policy,
            order,
            horizon: Horizon {
                cap: C::upper_cap(started),
                started,
            },
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
            committed: watermark,
            last: None,
            previous: None,
            caught_up: false,
            period_elapsed: false,
            below_last: None,
            settled: None,
            since_state: 0,
            due: false,
            poisoned: false,
        }
    }

    /// The highest value a watermark may claim in this sync, for cursors with a time cap.
    pub(crate) fn cap(&self) -> Option<&C> {
        self.horizon.cap.as_ref()
    }

    /// The source broke the declared order: nothing may be claimed any more.
    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
    }

    /// The slice about to be read: records outside `lower..upper` are dropped from now on.
    pub(crate) fn set_slice(&mut self, lower: Bound<C>, upper: Bound<C>) {
        self.lower = lower;
        self.upper = upper;
        self.previous = None;
        self.caught_up = false;
    }

    /// With `order = "desc"`: a record at or below the current slice's lower bound came, so the
    /// feed, read newest first, has reached what earlier syncs read (or what lies below
    /// `start`). Stays true until the next slice; always false for other orders.
    #[must_use]
    pub(crate) fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// With `checkpoint_every`: whether the period has elapsed since the stream's previous
    /// STATE, as the driver's clock says. Without a declared period it is not read.
    pub(crate) fn set_period_elapsed(&mut self, elapsed: bool) {
        self.period_elapsed = elapsed;
    }

    /// The watermark of the latest STATE (or of the input state): what a STATE emitted now says.
    #[must_use]
    pub(crate) fn watermark(&self) -> Option<&C> {
        self.committed.as_ref()
    }

    /// Decides what happens to a record with cursor `cursor`.
    ///
    /// # Errors
    ///
    /// With `order = "asc"`, a cursor below the previous record's; with `order = "desc"`, a
    /// cursor above the previous record's in the same slice. The engine is then poisoned and
    /// claims nothing more.
    #[inline]
    pub(crate) fn admit(&mut self, cursor: &C) -> Result<Admit, OrderViolation<C>> {
        // A newest-first feed is checked over every record it pushes, those outside the slice
        // too: a record above one already at or below the lower bound (after `caught_up`)
        // would mean records of the slice may still be coming after the reader stopped.
        if self.order == Order::Desc {
            match &mut self.previous {
                Some(previous) if cursor > previous => {
                    self.poisoned = true;
                    return Err(OrderViolation {
                        previous: previous.clone(),
                        next: cursor.clone(),
                    });
                }
                Some(previous) => previous.clone_from(cursor),
                None => self.previous = Some(cursor.clone()),
            }
        }
        if !(self.lower.as_ref(), self.upper.as_ref()).contains(cursor) {
            if self.order == Order::Desc && self.is_below_slice(cursor) {
                self.caught_up = true;
            }
            return Ok(Admit::Drop);
        }
        let admit = match self.order {
            Order::Asc => self.admit_ascending(cursor)?,
            Order::Desc | Order::Unsorted => self.admit_any(cursor),
        };
        self.count();
        Ok(admit)
    }

    /// The last admitted record could not be written after all (it failed to serialize): it is
    /// not counted in the next STATE. Its cursor stays the last one, which only makes the safe
    /// watermark of a failure more conservative.
    pub(crate) fn retract(&mut self) {
        self.since_state = self.since_state.saturating_sub(1);
    }

    /// A record without a cursor value (`on_null = "emit"`): it is emitted and counted, and
    /// leaves the watermark alone.
    pub(crate) fn admit_null(&mut self) -> Admit {
        self.count();
        Admit::Emit
    }

    /// Whether `cursor` is at or below the current slice's lower bound.
    fn is_below_slice(&self, cursor: &C) -> bool {
        match &self.lower {
            Bound::Included(lower) => cursor < lower,
            Bound::Excluded(lower) => cursor <= lower,
            Bound::Unbounded => false,
        }
    }

    /// A record of a stream whose watermark moves only at slice ends: it raises the largest
    /// emitted value.
    fn admit_any(&mut self, cursor: &C) -> Admit {
        if self.last.as_ref().is_none_or(|last| cursor > last) {
            self.last = Some(cursor.clone());
        }
        self.settle(cursor);
        Admit::Emit
    }

    /// Whether a safe point may checkpoint now: an interval reached and, with a period, the
    /// period elapsed (a period alone: only the period). Takes the fields it reads, so that it
    /// is only evaluated at a safe point.
    fn ready(policy: &CheckpointPolicy, due: bool, period_elapsed: bool) -> bool {
        if policy.at == CheckpointAt::End {
            return false;
        }
        match (policy.period, policy.interval) {
            (None, _) => due,
            (Some(_), None) => period_elapsed,
            (Some(_), Some(_)) => period_elapsed && due,
        }
    }

    fn admit_ascending(&mut self, cursor: &C) -> Result<Admit, OrderViolation<C>> {
        let mut admit = Admit::Emit;
        match &mut self.last {
            None => self.last = Some(cursor.clone()),
            Some(last) if cursor > last => {
                if Self::ready(&self.policy, self.due, self.period_elapsed)
                    && let Some(target) = Self::target(last, self.settled.as_ref(), &self.horizon)
                    && let Some(records) =
                        Self::advance(&mut self.committed, &mut self.since_state, target)
                {
                    self.due = false;
                    admit = Admit::CheckpointThenEmit { records };
                }
                let previous = self.below_last.get_or_insert_with(|| last.clone());
                std::mem::swap(previous, last);
                last.clone_from(cursor);
            }
            Some(last) if cursor < last => {
                self.poisoned = true;
                return Err(OrderViolation {
                    previous: last.clone(),
                    next: cursor.clone(),
                });
            }
            Some(_) => return Ok(admit),
        }
        self.settle(cursor);
        Ok(admit)
    }

    fn count(&mut self) {
        self.since_state += 1;
        if let Some(interval) = self.policy.interval
            && self.since_state >= interval.get()
        {
            self.due = true;
        }
    }

    /// Remembers `cursor` as the largest emitted value a watermark may claim, if it is one.
    fn settle(&mut self, cursor: &C) {
        if !self.horizon.is_past(cursor) && self.settled.as_ref().is_none_or(|s| cursor > s) {
            match &mut self.settled {
                Some(settled) => settled.clone_from(cursor),
                None => self.settled = Some(cursor.clone()),
            }
        }
    }

    /// The window ending at `upper` (inclusive) was read in full. Returns the `recordCount` of
    /// a STATE to emit now, if the policy asks for one and the watermark moved. With a period,
    /// only once it elapsed (and, with an interval too, once it was reached).
    pub(crate) fn end_window(&mut self, upper: &C) -> Option<u64> {
        if self.policy.at == CheckpointAt::End
            || self.poisoned
            || (self.policy.period.is_some()
                && !Self::ready(&self.policy, self.due, self.period_elapsed))
        {
            return None;
        }
        let target = Self::target(upper, self.settled.as_ref(), &self.horizon)?;
        let records = Self::advance(&mut self.committed, &mut self.since_state, target);
        if records.is_some() {
            self.due = false;
        }
        records
    }

    /// The stream completed; `upper` is the end of its last window (`None` for an open slice,
    /// whose end is the last emitted record). Returns the `recordCount` of the final STATE,
    /// which is always emitted, even when the watermark did not move.
    pub(crate) fn finish(&mut self, upper: Option<&C>) -> u64 {
        let moved = upper
            .or(self.last.as_ref())
            .and_then(|end| Self::target(end, self.settled.as_ref(), &self.horizon))
            .and_then(|target| Self::advance(&mut self.committed, &mut self.since_state, target));
        moved.unwrap_or_else(|| std::mem::take(&mut self.since_state))
    }

    /// The stream failed. Returns the `recordCount` of a last safe STATE to emit, if the safe
    /// watermark moved: the largest emitted value strictly below the last emitted one, since
    /// more records equal to the last one may have been lost with the failure. An unsorted or
    /// newest-first stream has no safe value inside a slice: it resumes at its last finished
    /// window. Never throttled by a period.
    pub(crate) fn fail(&mut self) -> Option<u64> {
        if self.policy.at == CheckpointAt::End || self.poisoned || self.order != Order::Asc {
            return None;
        }
        let safe = self.below_last.as_ref()?;
        let target = Self::target(safe, self.settled.as_ref(), &self.horizon)?;
        Self::advance(&mut self.committed, &mut self.since_state, target)
    }

    /// The watermark [`Engine::fail`] would claim now, without claiming it: for an ascending
    /// stream, the largest emitted value strictly below the last one.
    pub(crate) fn safe(&self) -> Option<&C> {
        if self.policy.at == CheckpointAt::End || self.poisoned || self.order != Order::Asc {
            return None;
        }
        Self::target(
            self.below_last.as_ref()?,
            self.settled.as_ref(),
            &self.horizon,
        )
    }

    /// What a watermark may claim when everything up to `candidate` is complete: `candidate`
    /// itself, or, when it is past the sync's start, the largest emitted value that is not.
    fn target<'a>(candidate: &'a C, settled: Option<&'a C>, horizon: &Horizon<C>) -> Option<&'a C> {
        if horizon.is_past(candidate) {
            settled.filter(|settled| *settled <= candidate)
        } else {
            Some(candidate)
        }
    }

    /// Moves the committed watermark to `target` if that is past it; returns the records
    /// covered by the new STATE.
    fn advance(committed: &mut Option<C>, since_state: &mut u64, target: &C) -> Option<u64> {
        if committed.as_ref().is_some_and(|done| done >= target) {
            return None;
        }
        match committed {
            Some(done) => done.clone_from(target),
            None => *committed = Some(target.clone()),
        }
        Some(std::mem::take(since_state))
    }
}
#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use super::*;

    fn epoch() -> DateTime<Utc> {
        DateTime::UNIX_EPOCH
    }

    fn engine(policy: CheckpointPolicy, order: Order, watermark: Option<u32>) -> Engine<u32> {
        Engine::new(policy, order, watermark, epoch())
    }

    fn run<C: Cursor + std::fmt::Display>(engine: &mut Engine<C>, cursors: &[C]) -> Vec<String> {
        let mut out = Vec::new();
        for c in cursors {
            match engine.admit(c).expect("in order") {
                Admit::Drop => out.push(format!("drop {c}")),
                Admit::Emit => out.push(format!("{c}")),
                Admit::CheckpointThenEmit { records } => {
                    out.push(format!(
                        "STATE {} ({records})",
                        engine.watermark().expect("set")
                    ));
                    out.push(format!("{c}"));
                }
            }
        }
        out
    }

    #[test]
    fn interval_checkpoints_land_after_every_n_records_without_ties() {
        let mut engine = engine(CheckpointPolicy::every(2), Order::Asc, None);
        assert_eq!(
            run(&mut engine, &[1, 2, 3, 4, 5]),
            ["1", "2", "STATE 2 (2)", "3", "4", "STATE 4 (2)", "5"]
        );
        assert_eq!(engine.finish(None), 1);
        assert_eq!(engine.watermark(), Some(&5));
    }

    #[test]
    fn a_due_checkpoint_waits_for_the_end_of_a_tie() {
        let mut engine = engine(CheckpointPolicy::every(2), Order::Asc, None);
        assert_eq!(
            run(&mut engine, &[1, 2, 2, 2, 3]),
            ["1", "2", "2", "2", "STATE 2 (4)", "3"]
        );
    }

    #[test]
    fn records_outside_the_slice_are_dropped() {
        let mut engine = engine(CheckpointPolicy::every(10), Order::Asc, Some(3));
        engine.set_slice(Bound::Excluded(3), Bound::Included(5));
        assert_eq!(
            run(&mut engine, &[2, 3, 4, 5, 6]),
            ["drop 2", "drop 3", "4", "5", "drop 6"]
        );
    }

    #[test]
    fn failure_claims_only_values_below_the_last_emitted_one() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Asc, None);
        run(&mut engine, &[1, 2, 2]);
        // recordCount: the three records emitted since the (absent) previous STATE.
        assert_eq!(engine.fail(), Some(3));
        assert_eq!(engine.watermark(), Some(&1));
    }

    #[test]
    fn a_finished_window_claims_its_upper_bound_even_without_records_on_it() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Asc, None);
        engine.set_slice(Bound::Unbounded, Bound::Included(10));
        run(&mut engine, &[1, 4]);
        assert_eq!(engine.end_window(&10), Some(2));
        engine.set_slice(Bound::Excluded(10), Bound::Included(20));
        // An empty window still moves the watermark: nothing exists in it.
        assert_eq!(engine.end_window(&20), Some(0));
        assert_eq!(engine.finish(Some(&20)), 0);
        assert_eq!(engine.watermark(), Some(&20));
    }

    #[test]
    fn the_watermark_never_claims_values_past_the_sync_start() {
        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("in range");
        let mut engine = Engine::new(CheckpointPolicy::every(1), Order::Asc, None, at(3));
        let records: Vec<String> = run(&mut engine, &[at(1), at(2), at(3), at(4)])
            .into_iter()
            .map(|line| line.replace("1970-01-01 00:00:0", "").replace(" UTC", ""))
            .collect();
        assert_eq!(records, ["1", "STATE 1 (1)", "2", "STATE 2 (1)", "3", "4"]);
        // 3 and 4 are at or after the start: the final STATE stays at 2.
        assert_eq!(engine.finish(None), 2);
        assert_eq!(engine.watermark(), Some(&at(2)));
    }

    #[test]
    fn a_compound_cursor_is_capped_by_its_leading_part() {
        let at = |s: i64| DateTime::from_timestamp(s, 0).expect("in range");
        let mut engine = Engine::new(CheckpointPolicy::SLICE, Order::Asc, None, at(3));
        for cursor in [(at(1), 7), (at(2), 1), (at(2), 5), (at(3), 0)] {
            assert_eq!(engine.admit(&cursor), Ok(Admit::Emit));
        }
        assert_eq!(engine.finish(None), 4);
        assert_eq!(engine.watermark(), Some(&(at(2), 5)));
    }

    #[test]
    fn an_order_violation_poisons_the_engine() {
        let mut engine = engine(CheckpointPolicy::every(1), Order::Asc, None);
        run(&mut engine, &[1, 3]);
        assert_eq!(
            engine.admit(&2),
            Err(OrderViolation {
                previous: 3,
                next: 2
            })
        );
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.end_window(&5), None);
    }

    #[test]
    fn unsorted_records_move_the_watermark_only_at_window_ends() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Unsorted, Some(0));
        engine.set_slice(Bound::Excluded(0), Bound::Included(10));
        assert_eq!(run(&mut engine, &[7, 2, 9, 1]), ["7", "2", "9", "1"]);
        assert_eq!(engine.end_window(&10), Some(4));
        engine.set_slice(Bound::Excluded(10), Bound::Included(20));
        run(&mut engine, &[15, 12]);
        // A failure inside a window claims nothing: the window is not known complete.
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.watermark(), Some(&10));
    }

    #[test]
    fn records_without_a_cursor_are_counted_and_leave_the_watermark_alone() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Asc, Some(5));
        assert_eq!(engine.admit_null(), Admit::Emit);
        run(&mut engine, &[6]);
        assert_eq!(engine.admit_null(), Admit::Emit);
        assert_eq!(engine.finish(None), 3);
        assert_eq!(engine.watermark(), Some(&6));
    }

    #[test]
    fn a_lookback_overlap_never_moves_the_watermark_backwards() {
        let mut engine = engine(CheckpointPolicy::every(1), Order::Asc, Some(10));
        engine.set_slice(Bound::Excluded(7), Bound::Unbounded);
        assert_eq!(
            run(&mut engine, &[8, 9, 10, 11, 12]),
            ["8", "9", "10", "11", "STATE 11 (4)", "12"]
        );
    }

    #[test]
    fn checkpoint_end_emits_nothing_before_the_end() {
        let mut engine = engine(CheckpointPolicy::END, Order::Asc, None);
        assert_eq!(run(&mut engine, &[1, 2, 3]), ["1", "2", "3"]);
        assert_eq!(engine.end_window(&3), None);
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.finish(None), 3);
        assert_eq!(engine.watermark(), Some(&3));
    }

    #[test]
    fn newest_first_records_move_the_watermark_only_at_window_ends() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Desc, Some(0));
        engine.set_slice(Bound::Excluded(0), Bound::Included(10));
        assert_eq!(run(&mut engine, &[9, 7, 7, 2]), ["9", "7", "7", "2"]);
        assert_eq!(engine.end_window(&10), Some(4));
        engine.set_slice(Bound::Excluded(10), Bound::Included(20));
        // Each window is read newest first on its own: 15 above 2 is no violation.
        run(&mut engine, &[15, 12]);
        // A failure inside a window claims nothing: the older part of it may be missing.
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.watermark(), Some(&10));
    }

    #[test]
    fn a_newest_first_record_above_its_predecessor_poisons_the_engine() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Desc, None);
        run(&mut engine, &[5, 3]);
        assert_eq!(
            engine.admit(&4),
            Err(OrderViolation {
                previous: 3,
                next: 4
            })
        );
        assert_eq!(engine.end_window(&9), None);
    }

    #[test]
    fn a_newest_first_feed_is_caught_up_from_the_first_record_at_or_below_the_slice() {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Desc, Some(4));
        engine.set_slice(Bound::Excluded(4), Bound::Included(8));
        assert_eq!(run(&mut engine, &[9, 8, 5]), ["drop 9", "8", "5"]);
        assert!(!engine.caught_up(), "above the window is not caught up");
        assert_eq!(run(&mut engine, &[4]), ["drop 4"]);
        assert!(engine.caught_up());
        // A reader reading on: older records stay dropped, the flag stays up.
        assert_eq!(run(&mut engine, &[3]), ["drop 3"]);
        assert!(engine.caught_up());
        engine.set_slice(Bound::Excluded(8), Bound::Included(12));
        assert!(!engine.caught_up(), "a new slice starts afresh");
        // Below an inclusive start: the start itself is in the slice.
        let mut engine = engine_with_start();
        assert_eq!(run(&mut engine, &[3]), ["3"]);
        assert!(!engine.caught_up());
        assert_eq!(run(&mut engine, &[2]), ["drop 2"]);
        assert!(engine.caught_up());
    }

    fn engine_with_start() -> Engine<u32> {
        let mut engine = engine(CheckpointPolicy::SLICE, Order::Desc, None);
        engine.set_slice(Bound::Included(3), Bound::Unbounded);
        engine
    }

    #[test]
    fn other_orders_are_never_caught_up() {
        for order in [Order::Asc, Order::Unsorted] {
            let mut engine = engine(CheckpointPolicy::SLICE, order, Some(4));
            engine.set_slice(Bound::Excluded(4), Bound::Unbounded);
            run(&mut engine, &[4, 5]);
            assert!(!engine.caught_up());
        }
    }

    fn period(interval: Option<u64>) -> CheckpointPolicy {
        CheckpointPolicy {
            interval: interval.and_then(NonZeroU64::new),
            at: CheckpointAt::Slice,
            period: Some(std::time::Duration::from_secs(30)),
        }
    }

    /// Admits `cursors`, telling the engine before each one whether the period elapsed.
    fn run_timed(engine: &mut Engine<u32>, cursors: &[(u32, bool)]) -> Vec<String> {
        let mut out = Vec::new();
        for (c, elapsed) in cursors {
            engine.set_period_elapsed(*elapsed);
            out.extend(run(engine, &[*c]));
        }
        out
    }

    #[test]
    fn a_period_alone_checkpoints_at_the_first_cursor_change_once_it_elapsed() {
        let mut engine = engine(period(None), Order::Asc, None);
        let out = run_timed(
            &mut engine,
            &[
                (1, false),
                (2, false),
                (2, true),
                (2, true),
                (3, true),
                (4, false),
            ],
        );
        assert_eq!(out, ["1", "2", "2", "2", "STATE 2 (4)", "3", "4"]);
        assert_eq!(engine.finish(None), 2);
    }

    #[test]
    fn a_period_with_an_interval_needs_both() {
        let mut engine = engine(period(Some(2)), Order::Asc, None);
        let out = run_timed(
            &mut engine,
            &[
                (1, true),
                (2, true),
                (3, false),
                (4, false),
                (5, true),
                (6, true),
            ],
        );
        // Before 2: one record only. Before 3 and 4: the period has not elapsed.
        assert_eq!(out, ["1", "2", "3", "4", "STATE 4 (4)", "5", "6"]);
    }

    #[test]
    fn a_period_throttles_window_ends_but_never_the_failure_state() {
        let mut engine = engine(period(None), Order::Asc, None);
        engine.set_slice(Bound::Unbounded, Bound::Included(10));
        run(&mut engine, &[1]);
        engine.set_period_elapsed(false);
        assert_eq!(engine.end_window(&10), None);
        engine.set_slice(Bound::Excluded(10), Bound::Included(20));
        run_timed(&mut engine, &[(12, false), (13, false)]);
        engine.set_period_elapsed(true);
        assert_eq!(engine.end_window(&20), Some(3));
        assert_eq!(engine.watermark(), Some(&20));
        engine.set_slice(Bound::Excluded(20), Bound::Included(30));
        run_timed(&mut engine, &[(21, false), (22, false)]);
        assert_eq!(engine.fail(), Some(2));
        assert_eq!(engine.watermark(), Some(&21));
    }

    #[test]
    fn a_period_throttles_the_window_ends_of_a_newest_first_stream() {
        let mut engine = engine(period(None), Order::Desc, Some(0));
        engine.set_slice(Bound::Excluded(0), Bound::Included(10));
        run(&mut engine, &[7]);
        engine.set_period_elapsed(false);
        assert_eq!(engine.end_window(&10), None);
        engine.set_slice(Bound::Excluded(10), Bound::Included(20));
        run(&mut engine, &[18, 11]);
        engine.set_period_elapsed(true);
        assert_eq!(engine.end_window(&20), Some(3));
        assert_eq!(engine.finish(Some(&30)), 0);
        assert_eq!(engine.watermark(), Some(&30));
    }
}
