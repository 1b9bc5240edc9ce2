//! The checkpoint engine: a pure state machine deciding, record by record, what is emitted and
//! when a STATE is due. It does no I/O, so every rule of the state contract is testable on its
//! own.
//!
//! The contract: a STATE with watermark `W` means every record with cursor `<= W` that existed
//! when the sync started has been emitted before that STATE. The engine keeps it by
//!
//! - checkpointing an interval only when the cursor moves past the last emitted value, so a run
//!   of equal values (a tie) is never split;
//! - dropping records at or below the resume point, whatever the source returns;
//! - refusing records below their predecessor when the stream promises ascending order;
//! - capping the watermark at the sync's start for time cursors;
//! - on failure, claiming only the largest value strictly below the last emitted one.

use crate::cursor::Cursor;
use crate::stream::{CheckpointAt, CheckpointPolicy};

/// What to do with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// The record is at or below the resume point: already delivered by an earlier sync.
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
pub struct OrderViolation<C> {
    /// The previous record's cursor.
    pub previous: C,
    /// The offending record's cursor.
    pub next: C,
}

/// Per-stream checkpoint state machine. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Engine<C: Cursor> {
    policy: CheckpointPolicy,
    /// Records at or below this were delivered by an earlier sync.
    resume: Option<C>,
    /// The watermark may not pass this (time cursors: just before the sync started).
    cap: Option<C>,
    /// Watermark of the last STATE (or of the input state).
    committed: Option<C>,
    /// Cursor of the last emitted record.
    last: Option<C>,
    /// Largest emitted cursor strictly below `last`: complete, since records come in order.
    below_last: Option<C>,
    /// Records emitted since the last STATE.
    since_state: u64,
    /// The interval was reached; checkpoint at the next cursor change.
    due: bool,
    /// An order violation happened: nothing may be checkpointed any more.
    poisoned: bool,
}

impl<C: Cursor> Engine<C> {
    /// An engine starting from `resume` (the input state's watermark, if any).
    #[must_use]
    pub fn new(policy: CheckpointPolicy, resume: Option<C>, cap: Option<C>) -> Self {
        Engine {
            policy,
            committed: resume.clone(),
            resume,
            cap,
            last: None,
            below_last: None,
            since_state: 0,
            due: false,
            poisoned: false,
        }
    }

    /// The watermark of the latest STATE (or of the input state): what a STATE emitted now says.
    #[must_use]
    pub fn watermark(&self) -> Option<&C> {
        self.committed.as_ref()
    }

    /// Records emitted since the last STATE.
    #[must_use]
    pub fn since_state(&self) -> u64 {
        self.since_state
    }

    /// Decides what happens to a record with cursor `cursor`.
    pub fn admit(&mut self, cursor: &C) -> Result<Admit, OrderViolation<C>> {
        if self.resume.as_ref().is_some_and(|resume| cursor <= resume) {
            return Ok(Admit::Drop);
        }
        let mut admit = Admit::Emit;
        match &mut self.last {
            None => self.last = Some(cursor.clone()),
            Some(last) if cursor > last => {
                if self.due
                    && let Some(records) = Self::advance(
                        &mut self.committed,
                        &mut self.since_state,
                        last,
                        self.cap.as_ref(),
                    )
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
            Some(_) => {}
        }
        self.since_state += 1;
        if let Some(interval) = self.policy.interval
            && self.since_state >= interval.get()
        {
            self.due = true;
        }
        Ok(admit)
    }

    /// The slice ended with every record in it emitted. Returns the `recordCount` of a STATE to
    /// emit now, if the policy asks for one and the watermark moved.
    pub fn end_slice(&mut self) -> Option<u64> {
        if self.policy.at == CheckpointAt::End || self.poisoned {
            return None;
        }
        let last = self.last.as_ref()?;
        let records = Self::advance(
            &mut self.committed,
            &mut self.since_state,
            last,
            self.cap.as_ref(),
        );
        if records.is_some() {
            self.due = false;
        }
        records
    }

    /// The stream completed. Returns the `recordCount` of the final STATE, which is always
    /// emitted, even when the watermark did not move.
    pub fn finish(&mut self) -> u64 {
        let moved = self.last.as_ref().and_then(|last| {
            Self::advance(
                &mut self.committed,
                &mut self.since_state,
                last,
                self.cap.as_ref(),
            )
        });
        moved.unwrap_or_else(|| std::mem::take(&mut self.since_state))
    }

    /// The stream failed. Returns the `recordCount` of a last safe STATE to emit, if the safe
    /// watermark moved: the largest emitted value strictly below the last emitted one, since
    /// more records equal to the last one may have been lost with the failure.
    pub fn fail(&mut self) -> Option<u64> {
        if self.policy.at == CheckpointAt::End || self.poisoned {
            return None;
        }
        let safe = self.below_last.as_ref()?;
        Self::advance(
            &mut self.committed,
            &mut self.since_state,
            safe,
            self.cap.as_ref(),
        )
    }

    /// Moves the committed watermark to `min(candidate, cap)` if that is past it; returns the
    /// records covered by the new STATE.
    fn advance(
        committed: &mut Option<C>,
        since_state: &mut u64,
        candidate: &C,
        cap: Option<&C>,
    ) -> Option<u64> {
        let target = match cap {
            Some(cap) if cap < candidate => cap,
            _ => candidate,
        };
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
    use super::*;

    fn run(engine: &mut Engine<u32>, cursors: &[u32]) -> Vec<String> {
        let mut out = Vec::new();
        for &c in cursors {
            match engine.admit(&c).expect("in order") {
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
        let mut engine = Engine::new(CheckpointPolicy::every(2), None, None);
        assert_eq!(
            run(&mut engine, &[1, 2, 3, 4, 5]),
            ["1", "2", "STATE 2 (2)", "3", "4", "STATE 4 (2)", "5"]
        );
        assert_eq!(engine.finish(), 1);
        assert_eq!(engine.watermark(), Some(&5));
    }

    #[test]
    fn a_due_checkpoint_waits_for_the_end_of_a_tie() {
        let mut engine = Engine::new(CheckpointPolicy::every(2), None, None);
        assert_eq!(
            run(&mut engine, &[1, 2, 2, 2, 3]),
            ["1", "2", "2", "2", "STATE 2 (4)", "3"]
        );
    }

    #[test]
    fn records_at_or_below_the_resume_point_are_dropped() {
        let mut engine = Engine::new(CheckpointPolicy::every(10), Some(3), None);
        assert_eq!(run(&mut engine, &[2, 3, 4]), ["drop 2", "drop 3", "4"]);
    }

    #[test]
    fn failure_claims_only_values_below_the_last_emitted_one() {
        let mut engine = Engine::new(CheckpointPolicy::SLICE, None, None);
        run(&mut engine, &[1, 2, 2]);
        // recordCount: the three records emitted since the (absent) previous STATE.
        assert_eq!(engine.fail(), Some(3));
        assert_eq!(engine.watermark(), Some(&1));
    }

    #[test]
    fn the_cap_bounds_the_watermark_and_no_state_repeats() {
        let mut engine = Engine::new(CheckpointPolicy::every(1), None, Some(2));
        assert_eq!(
            run(&mut engine, &[1, 2, 3, 4]),
            ["1", "STATE 1 (1)", "2", "STATE 2 (1)", "3", "4"]
        );
        assert_eq!(engine.finish(), 2);
        assert_eq!(engine.watermark(), Some(&2));
    }

    #[test]
    fn an_order_violation_poisons_the_engine() {
        let mut engine = Engine::new(CheckpointPolicy::every(1), None, None);
        run(&mut engine, &[1, 3]);
        assert_eq!(
            engine.admit(&2),
            Err(OrderViolation {
                previous: 3,
                next: 2
            })
        );
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.end_slice(), None);
    }

    #[test]
    fn checkpoint_end_emits_nothing_before_the_end() {
        let mut engine = Engine::new(CheckpointPolicy::END, None, None);
        assert_eq!(run(&mut engine, &[1, 2, 3]), ["1", "2", "3"]);
        assert_eq!(engine.end_slice(), None);
        assert_eq!(engine.fail(), None);
        assert_eq!(engine.finish(), 3);
        assert_eq!(engine.watermark(), Some(&3));
    }
}
