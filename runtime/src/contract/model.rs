//! A second, independent checker of the core, written against DESIGN.md section 5 rather than
//! against the core's code, plus deterministic cases at the edges the checker of `props.rs`
//! does not reach.
//!
//! The model computes on its own which slices a sync must read (lower bound, look-back, start,
//! windows of `step` with exact integer arithmetic, end and time cap) and, message by message,
//! what the contract allows: the sentence after every STATE (including records above the
//! reader's end), no record at or below a STATE of the same sync re-sent later in it, no STATE
//! that does not move the watermark except the final one, a STATE exactly where the design
//! says one is due (every N records at the next cursor change, every window end, the safe
//! value on failure; with a period only where the driver said it elapsed, an interval too
//! reached), `recordCount`, the time cap, `on_null`, newest-first feeds (order within a slice,
//! no STATE inside one, when the reader is told it caught up), and over a chain of cut and
//! failed syncs, no loss.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::num::NonZeroU64;
use std::ops::{Bound, RangeBounds};
use std::time::Duration;

use chrono::{DateTime, Days, Months, NaiveDate, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Admit, Core, Declaration, Failure, ReaderBounds, Refusal};
use crate::cursor::Cursor;
use crate::stream::{CheckpointAt, CheckpointPolicy, OnNull, Order};
use crate::window::{DatePeriod, Period, Step};

/// Cases per cursor type; `TIDEMARK_MODEL_CASES` raises it for a long run.
fn cases() -> u32 {
    std::env::var("TIDEMARK_MODEL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

/// A cursor type as the model sees it: exact arithmetic of its own, and its own idea of the
/// time cap.
trait Kind: Cursor {
    /// A `step` or `lookback`.
    type Dist: Clone + Debug;
    /// The library's `origin + k * d` (what the macro generates).
    fn lib_forward(&self, d: &Self::Dist, k: u64) -> Option<Self>;
    /// The library's `self - d`.
    fn lib_backward(&self, d: &Self::Dist) -> Option<Self>;
    /// `origin + k * d`, computed exactly; `None` only when the result is out of range.
    fn forward_exact(&self, d: &Self::Dist, k: u64) -> Option<Self>;
    /// `self - d`, computed exactly.
    fn backward_exact(&self, d: &Self::Dist) -> Option<Self>;
    /// The last value a sync that started at `started` may claim.
    fn cap(started: DateTime<Utc>) -> Option<Self>;
    /// Rows with this value may still be written once the sync started.
    fn past(&self, started: DateTime<Utc>) -> bool;
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl Kind for $t {
            type Dist = u64;
            fn lib_forward(&self, d: &u64, k: u64) -> Option<Self> {
                Step::forward(self, d, k)
            }
            fn lib_backward(&self, d: &u64) -> Option<Self> {
                Step::backward(self, d)
            }
            fn forward_exact(&self, d: &u64, k: u64) -> Option<Self> {
                let delta = i128::from(*d).checked_mul(i128::from(k))?;
                <$t>::try_from(i128::from(*self).checked_add(delta)?).ok()
            }
            fn backward_exact(&self, d: &u64) -> Option<Self> {
                <$t>::try_from(i128::from(*self) - i128::from(*d)).ok()
            }
            fn cap(_: DateTime<Utc>) -> Option<Self> {
                None
            }
            fn past(&self, _: DateTime<Utc>) -> bool {
                false
            }
        }
    )*};
}

small_ints!(u8, i8, i64);

impl Kind for u128 {
    type Dist = u64;
    fn lib_forward(&self, d: &u64, k: u64) -> Option<Self> {
        Step::forward(self, d, k)
    }
    fn lib_backward(&self, d: &u64) -> Option<Self> {
        Step::backward(self, d)
    }
    fn forward_exact(&self, d: &u64, k: u64) -> Option<Self> {
        self.checked_add(u128::from(*d).checked_mul(u128::from(k))?)
    }
    fn backward_exact(&self, d: &u64) -> Option<Self> {
        self.checked_sub(u128::from(*d))
    }
    fn cap(_: DateTime<Utc>) -> Option<Self> {
        None
    }
    fn past(&self, _: DateTime<Utc>) -> bool {
        false
    }
}

/// A time distance: calendar months and days, then nanoseconds.
#[derive(Debug, Clone, Copy)]
struct TimeDist {
    months: u32,
    days: u32,
    nanos: u64,
}

impl TimeDist {
    fn period(self) -> Period {
        Period::new(
            self.months,
            self.days,
            self.nanos / 1_000_000_000,
            u32::try_from(self.nanos % 1_000_000_000).unwrap_or(0),
        )
    }
}

impl Kind for DateTime<Utc> {
    type Dist = TimeDist;
    fn lib_forward(&self, d: &TimeDist, k: u64) -> Option<Self> {
        Step::forward(self, &d.period(), k)
    }
    fn lib_backward(&self, d: &TimeDist) -> Option<Self> {
        Step::backward(self, &d.period())
    }
    fn forward_exact(&self, d: &TimeDist, k: u64) -> Option<Self> {
        let months = u32::try_from(u64::from(d.months).checked_mul(k)?).ok()?;
        let days = u64::from(d.days).checked_mul(k)?;
        let nanos = i64::try_from(d.nanos.checked_mul(k)?).ok()?;
        self.checked_add_months(Months::new(months))?
            .checked_add_days(Days::new(days))?
            .checked_add_signed(TimeDelta::nanoseconds(nanos))
    }
    fn backward_exact(&self, d: &TimeDist) -> Option<Self> {
        self.checked_sub_months(Months::new(d.months))?
            .checked_sub_days(Days::new(u64::from(d.days)))?
            .checked_sub_signed(TimeDelta::nanoseconds(i64::try_from(d.nanos).ok()?))
    }
    fn cap(started: DateTime<Utc>) -> Option<Self> {
        Some(started - TimeDelta::nanoseconds(1))
    }
    fn past(&self, started: DateTime<Utc>) -> bool {
        *self >= started
    }
}

impl Kind for NaiveDate {
    type Dist = DatePeriod;
    fn lib_forward(&self, d: &DatePeriod, k: u64) -> Option<Self> {
        Step::forward(self, d, k)
    }
    fn lib_backward(&self, d: &DatePeriod) -> Option<Self> {
        Step::backward(self, d)
    }
    fn forward_exact(&self, d: &DatePeriod, k: u64) -> Option<Self> {
        let months = u32::try_from(u64::from(d.months()).checked_mul(k)?).ok()?;
        self.checked_add_months(Months::new(months))?
            .checked_add_days(Days::new(u64::from(d.days()).checked_mul(k)?))
    }
    fn backward_exact(&self, d: &DatePeriod) -> Option<Self> {
        self.checked_sub_months(Months::new(d.months()))?
            .checked_sub_days(Days::new(u64::from(d.days())))
    }
    fn cap(started: DateTime<Utc>) -> Option<Self> {
        started.date_naive().pred_opt()
    }
    fn past(&self, started: DateTime<Utc>) -> bool {
        *self >= started.date_naive()
    }
}

/// `(updated_at, id)`: no distance, capped by its leading part.
impl Kind for (DateTime<Utc>, u8) {
    type Dist = ();
    fn lib_forward(&self, (): &(), _: u64) -> Option<Self> {
        None
    }
    fn lib_backward(&self, (): &()) -> Option<Self> {
        None
    }
    fn forward_exact(&self, (): &(), _: u64) -> Option<Self> {
        None
    }
    fn backward_exact(&self, (): &()) -> Option<Self> {
        None
    }
    fn cap(_: DateTime<Utc>) -> Option<Self> {
        None
    }
    fn past(&self, started: DateTime<Utc>) -> bool {
        self.0 >= started
    }
}

/// A declaration generated at run time; `step` and `lookback` go through the library's
/// arithmetic, as the macro's code does.
#[derive(Debug, Clone)]
struct Decl<C: Kind> {
    policy: CheckpointPolicy,
    order: Order,
    on_null: OnNull,
    step: Option<C::Dist>,
    lookback: Option<C::Dist>,
    start: Option<C>,
}

impl<C: Kind> Declaration for &Decl<C> {
    type Cursor = C;
    fn policy(&self) -> CheckpointPolicy {
        self.policy
    }
    fn order(&self) -> Order {
        self.order
    }
    fn on_null(&self) -> OnNull {
        self.on_null
    }
    fn step(&self) -> Option<&'static str> {
        self.step.as_ref().map(|_| "a step")
    }
    fn window_bound(&self, origin: &C, index: u64) -> Option<C> {
        origin.lib_forward(self.step.as_ref()?, index)
    }
    fn has_lookback(&self) -> bool {
        self.lookback.is_some()
    }
    fn look_back(&self, watermark: &C) -> Option<C> {
        watermark.lib_backward(self.lookback.as_ref()?)
    }
    fn start(&self) -> Option<Result<C, String>> {
        self.start.clone().map(Ok)
    }
}

/// How the reader treats its slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderKind {
    Exact,
    /// Filters with `>=` on the lower bound.
    Inclusive,
    /// Ignores the slice.
    Everything,
    /// The slice, plus records above its upper bound slipped in anywhere.
    Leaky,
}

/// Where a sync's reader fails.
#[derive(Debug, Clone, Copy)]
enum FailAt {
    /// Instead of handing over the n-th record of the sync.
    Record(usize),
    /// After handing over every record of the n-th slice, instead of returning `Ok`.
    SliceEnd(usize),
    /// At the start of the n-th slice, before any record.
    SliceStart(usize),
    /// The n-th record of the sync is admitted but cannot be written (it fails to serialize):
    /// the core is told to retract it and the stream stops.
    Unwritable(usize),
}

#[derive(Debug, Clone)]
struct Scenario<C: Kind> {
    decl: Decl<C>,
    data: Vec<Option<C>>,
    saved: Option<C>,
    runtime_start: Option<C>,
    end: Option<C>,
    reader: ReaderKind,
    /// Newest first: the reader stops paginating once the core says the feed caught up.
    stops: bool,
    seed: u64,
    /// With a period: bit `n % 64` says whether it elapsed at the sync's `n`-th call to the core.
    ticks: u64,
    fails: Vec<Option<FailAt>>,
    cuts: Vec<Option<usize>>,
    started: DateTime<Utc>,
    gap: TimeDelta,
    /// Rows past a sync's start may be missing from it (written during the sync).
    late_rows: bool,
    /// Ids of two records a source out of order swapped: claims made before the core could see
    /// the violation may be wrong about them.
    swapped: Vec<usize>,
}

/// What a sync did, in order: the output (records and STATEs) and, for the checker, where
/// slices started and ended and how the sync ended.
#[derive(Debug, Clone, PartialEq)]
enum Ev<C> {
    Slice(usize, Bound<C>, Bound<C>),
    Record(usize),
    /// A record admitted and retracted: not in the output.
    Unwritten(usize),
    State(Option<C>, u64),
    /// What the driver told the core before an admission or a slice end: the period elapsed.
    Tick(bool),
    /// The core said the feed caught up when it had not, or the reverse.
    CaughtUp(String),
    SliceDone(usize),
    Failed(Failure),
    Finished,
    Unplannable,
}

fn shuffle(ids: &mut [usize], seed: u64) {
    let mut s = seed | 1;
    for i in (1..ids.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let j = usize::try_from(s % (i as u64 + 1)).unwrap_or(0);
        ids.swap(i, j);
    }
}

/// Whether record `id` exists for sync `index` (started at `started`): rows with a value past
/// the start may be written during the sync, so half of them are not there yet.
fn visible<C: Kind>(sc: &Scenario<C>, id: usize, index: usize, started: DateTime<Utc>) -> bool {
    match &sc.data[id] {
        Some(c) if sc.late_rows && c.past(started) => {
            let h = sc
                .seed
                .rotate_left(17)
                .wrapping_add((id as u64) << 8 | index as u64)
                .wrapping_mul(0x2545_F491_4F6C_DD1D);
            h >> 63 == 0
        }
        _ => true,
    }
}

fn batch<C: Kind>(
    sc: &Scenario<C>,
    lower: &Bound<C>,
    upper: &Bound<C>,
    slice: usize,
    sync: (usize, DateTime<Utc>),
) -> Vec<usize> {
    let inside = |c: &C| (lower.as_ref(), upper.as_ref()).contains(c);
    let above = |c: &C| match upper {
        Bound::Included(u) => c > u,
        Bound::Excluded(u) => c >= u,
        Bound::Unbounded => false,
    };
    let mut ids: Vec<usize> = Vec::new();
    let mut extra: Vec<usize> = Vec::new();
    for (id, cursor) in sc.data.iter().enumerate() {
        if !visible(sc, id, sync.0, sync.1) {
            continue;
        }
        match (sc.reader, cursor) {
            (_, None) | (ReaderKind::Everything, _) => ids.push(id),
            (ReaderKind::Exact, Some(c)) => {
                if inside(c) {
                    ids.push(id);
                }
            }
            (ReaderKind::Inclusive, Some(c)) => {
                let on_lower = matches!(lower, Bound::Excluded(l) if l == c);
                if inside(c) || on_lower {
                    ids.push(id);
                }
            }
            (ReaderKind::Leaky, Some(c)) => {
                if inside(c) {
                    ids.push(id);
                } else if above(c) {
                    extra.push(id);
                }
            }
        }
    }
    let seed = sc
        .seed
        .wrapping_add(slice as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    if sc.decl.order == Order::Unsorted {
        ids.extend(extra);
        shuffle(&mut ids, seed);
    } else {
        if sc.decl.order == Order::Desc {
            // Newest first, ties in any order.
            ids.reverse();
            for i in 1..ids.len() {
                if sc.data[ids[i]].is_some()
                    && sc.data[ids[i]] == sc.data[ids[i - 1]]
                    && seed.rotate_right(u32::try_from(i % 64).unwrap_or(0)) & 1 == 1
                {
                    ids.swap(i, i - 1);
                }
            }
        }
        // Slip each record from above the window in somewhere; the rest keep their order.
        let mut s = seed | 1;
        for id in extra {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let at = usize::try_from(s % (ids.len() as u64 + 1)).unwrap_or(0);
            ids.insert(at, id);
        }
    }
    ids
}

/// Runs one sync through the core.
#[expect(
    clippy::too_many_lines,
    reason = "one driver loop, each event next to the call that causes it"
)]
fn sync<C: Kind>(
    sc: &Scenario<C>,
    sync_index: usize,
    saved: Option<C>,
    started: DateTime<Utc>,
    fail: Option<FailAt>,
) -> Vec<Ev<C>> {
    let decl = &sc.decl;
    let start = if Core::needs_start(&decl, saved.as_ref()) {
        sc.runtime_start.clone()
    } else {
        None
    };
    let bounds = ReaderBounds {
        start,
        end: sc.end.clone(),
    };
    let Ok(mut core) = Core::new(decl, saved, started, bounds) else {
        return vec![Ev::Unplannable];
    };
    let mut evs = Vec::new();
    let mut handed = 0;
    let mut index = 0;
    let state = |core: &Core<&Decl<C>>, n| Ev::State(core.watermark().cloned(), n);
    let mut calls = 0_u32;
    let mut tick = |core: &mut Core<&Decl<C>>, evs: &mut Vec<Ev<C>>| {
        let elapsed = sc.ticks.rotate_right(calls % 64) & 1 == 1;
        calls += 1;
        core.set_period_elapsed(elapsed);
        evs.push(Ev::Tick(elapsed));
    };
    while let Some((lower, upper)) = core.next_slice() {
        if index > 3_000 {
            break;
        }
        evs.push(Ev::Slice(index, lower.clone(), upper.clone()));
        let mut failure = None;
        if matches!(fail, Some(FailAt::SliceStart(k)) if k == index) {
            failure = Some(Failure::Stopped);
        }
        if failure.is_none() {
            // Newest first: the feed reached the slice's lower bound.
            let mut reached = false;
            for id in batch(sc, &lower, &upper, index, (sync_index, started)) {
                if matches!(fail, Some(FailAt::Record(n)) if n == handed) {
                    failure = Some(Failure::Stopped);
                    break;
                }
                let unwritable = matches!(fail, Some(FailAt::Unwritable(n)) if n == handed);
                handed += 1;
                tick(&mut core, &mut evs);
                let admitted = core.admit(sc.data[id].as_ref());
                reached |= sc.decl.order == Order::Desc
                    && sc.data[id].as_ref().is_some_and(|c| match &lower {
                        Bound::Included(l) => c < l,
                        Bound::Excluded(l) => c <= l,
                        Bound::Unbounded => false,
                    });
                if admitted.is_ok() && core.caught_up() != reached {
                    evs.push(Ev::CaughtUp(format!(
                        "after record {id} ({:?}) in {lower:?}..{upper:?}, caught up: {}",
                        sc.data[id],
                        core.caught_up()
                    )));
                }
                let stop = sc.stops && reached;
                let written = match admitted {
                    Ok(Admit::Drop) if stop => break,
                    Ok(Admit::Drop) => continue,
                    Ok(Admit::Emit) => true,
                    Ok(Admit::CheckpointThenEmit { records }) => {
                        evs.push(state(&core, records));
                        true
                    }
                    Err(Refusal::OutOfOrder { .. }) => {
                        failure = Some(Failure::SourceOutOfOrder);
                        break;
                    }
                    Err(Refusal::NullCursor) => {
                        failure = Some(Failure::Stopped);
                        break;
                    }
                };
                if written && unwritable {
                    core.retract();
                    evs.push(Ev::Unwritten(id));
                    failure = Some(Failure::Stopped);
                    break;
                }
                evs.push(Ev::Record(id));
            }
        }
        if failure.is_none() && matches!(fail, Some(FailAt::SliceEnd(k)) if k == index) {
            failure = Some(Failure::Stopped);
        }
        if let Some(failure) = failure {
            evs.push(Ev::Failed(failure));
            if let Some(n) = core.fail(failure) {
                evs.push(state(&core, n));
            }
            return evs;
        }
        tick(&mut core, &mut evs);
        evs.push(Ev::SliceDone(index));
        if let Some(n) = core.slice_done() {
            evs.push(state(&core, n));
        }
        index += 1;
    }
    evs.push(Ev::Finished);
    let n = core.finish();
    evs.push(state(&core, n));
    evs
}

/// The start that applies: the reader's, else the declared one.
fn start_of<C: Kind>(sc: &Scenario<C>) -> Option<C> {
    sc.runtime_start.clone().or_else(|| sc.decl.start.clone())
}

/// DESIGN 5.1/plan: where a sync resuming from `saved` starts.
fn expected_lower<C: Kind>(sc: &Scenario<C>, saved: Option<&C>) -> Bound<C> {
    let start = start_of(sc);
    let Some(w) = saved else {
        return start.map_or(Bound::Unbounded, Bound::Included);
    };
    let Some(lookback) = &sc.decl.lookback else {
        return Bound::Excluded(w.clone());
    };
    match (w.lib_backward(lookback), start) {
        (Some(back), Some(s)) if back >= s => Bound::Excluded(back),
        (Some(back), None) => Bound::Excluded(back),
        (_, Some(s)) if s <= *w => Bound::Included(s),
        (_, Some(_)) => Bound::Excluded(w.clone()),
        (None, None) => Bound::Unbounded,
    }
}

/// The slices a sync must read, or `None` when they cannot be planned (or are too many).
fn expected_slices<C: Kind>(
    sc: &Scenario<C>,
    saved: Option<&C>,
    started: DateTime<Utc>,
) -> Option<Vec<(Bound<C>, Bound<C>)>> {
    let mut lower = expected_lower(sc, saved);
    let Some(step) = &sc.decl.step else {
        // One open slice, unless the range starts past the reader's end.
        let past_end = sc.end.as_ref().is_some_and(|end| match &lower {
            Bound::Included(l) => l > end,
            Bound::Excluded(l) => l >= end,
            Bound::Unbounded => false,
        });
        if past_end {
            return Some(Vec::new());
        }
        let upper = sc.end.clone().map_or(Bound::Unbounded, Bound::Included);
        return Some(vec![(lower, upper)]);
    };
    let (origin, mut k) = match (&lower, saved) {
        (Bound::Included(o) | Bound::Excluded(o), _) => (o.clone(), 1),
        (Bound::Unbounded, Some(w)) => (w.clone(), 0),
        (Bound::Unbounded, None) => return None,
    };
    let end = sc.end.clone().or_else(|| C::cap(started))?;
    let empty = match &lower {
        Bound::Included(l) => *l > end,
        Bound::Excluded(l) => *l >= end,
        Bound::Unbounded => false,
    };
    let mut out = Vec::new();
    if empty {
        return Some(out);
    }
    loop {
        let upper = match origin.lib_forward(step, k) {
            Some(b) if b < end => b,
            _ => end.clone(),
        };
        out.push((lower, Bound::Included(upper.clone())));
        if upper == end || out.len() > 3_000 {
            return Some(out);
        }
        lower = Bound::Excluded(upper);
        k += 1;
    }
}

/// The chain's scope: records the stream is asked for at all.
fn in_scope<C: Kind>(sc: &Scenario<C>, c: &C) -> bool {
    match &sc.saved {
        Some(w) => c > w,
        None => start_of(sc).is_none_or(|s| *c >= s),
    }
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// What a claim at `candidate` may say, when the design is exact about it: `candidate` itself
/// unless it is past the sync's start (then the checker only asks for the sentence).
fn exact_target<C: Kind>(candidate: &C, started: DateTime<Utc>) -> Option<C> {
    (!candidate.past(started)).then(|| candidate.clone())
}

/// Checks one sync's events; returns the records and STATEs a destination keeps after `cut`.
#[expect(
    clippy::too_many_lines,
    reason = "one pass, each rule next to its event"
)]
fn check_sync<C: Kind>(
    sc: &Scenario<C>,
    index: usize,
    evs: &[Ev<C>],
    resume: Option<&C>,
    started: DateTime<Utc>,
    committed_before: &BTreeSet<usize>,
) -> Result<(), TestCaseError> {
    let ctx = |what: String| fail(format!("sync {index} (resumed from {resume:?}): {what}"));
    let slices = expected_slices(sc, resume, started);
    let mut handed_slices = Vec::new();
    let mut committed = resume.cloned();
    let mut this_sync_claim: Option<C> = None;
    let mut emitted: BTreeSet<usize> = BTreeSet::new();
    let mut values: Vec<C> = Vec::new();
    let mut since: u64 = 0;
    let mut current: Option<(Bound<C>, Bound<C>)> = None;
    let mut poisoned = false;
    let mut unwritten: Option<C> = None;
    let mut outcome: Option<&Ev<C>> = None;
    let asc = sc.decl.order == Order::Asc;
    let at_slice = sc.decl.policy.at == CheckpointAt::Slice;
    let period = sc.decl.policy.period.is_some();
    // What the driver said last: the period elapsed.
    let mut elapsed = false;
    // Newest first: the cursor of the last record of the current slice.
    let mut newest_first: Option<C> = None;
    for (position, ev) in evs.iter().enumerate() {
        let next = evs.get(position + 1);
        match ev {
            Ev::Tick(tick) => elapsed = *tick,
            Ev::CaughtUp(what) => return Err(ctx(format!("the core's caught-up signal: {what}"))),
            Ev::Unplannable => {
                if slices.is_some() {
                    return Err(ctx("planning failed although the slices exist".into()));
                }
                return Ok(());
            }
            Ev::Slice(k, lower, upper) => {
                let Some(expected) = &slices else {
                    return Err(ctx("slices planned that cannot be".into()));
                };
                let want = expected.get(*k);
                if want != Some(&(lower.clone(), upper.clone())) {
                    return Err(ctx(format!(
                        "slice {k} is {:?}..{:?}, expected {want:?} ({} slices planned)",
                        lower,
                        upper,
                        expected.len()
                    )));
                }
                handed_slices.push(*k);
                current = Some((lower.clone(), upper.clone()));
                newest_first = None;
            }
            Ev::Unwritten(id) => {
                if let Some(c) = &sc.data[*id] {
                    unwritten = Some(c.clone());
                }
            }
            Ev::Record(id) => {
                since += 1;
                let state_before = position > 0 && matches!(evs[position - 1], Ev::State(..));
                let Some(c) = &sc.data[*id] else {
                    if state_before {
                        return Err(ctx(format!("a STATE before record {id}, without a cursor")));
                    }
                    if sc.decl.on_null != OnNull::Emit {
                        return Err(ctx(format!(
                            "record {id} without a cursor emitted with {:?}",
                            sc.decl.on_null
                        )));
                    }
                    continue;
                };
                let (lower, upper) = current.clone().ok_or_else(|| ctx("no slice".into()))?;
                if !(lower.as_ref(), upper.as_ref()).contains(c) {
                    return Err(ctx(format!("record {id} ({c:?}) outside its slice")));
                }
                if !emitted.insert(*id) {
                    return Err(ctx(format!("record {id} ({c:?}) emitted twice in a sync")));
                }
                if let Some(w) = &this_sync_claim
                    && c <= w
                {
                    return Err(ctx(format!(
                        "record {id} ({c:?}) emitted after this sync's STATE {w:?} covered it"
                    )));
                }
                if sc.decl.lookback.is_none()
                    && let Some(w) = resume
                    && c <= w
                {
                    return Err(ctx(format!(
                        "record {id} ({c:?}) at or below the resume point"
                    )));
                }
                // A due checkpoint: right before the first record past the last one, once N
                // records came since the previous STATE and, with a period, it elapsed.
                let count_before = if state_before {
                    // `since` was reset by that STATE: count what it covered.
                    match &evs[position - 1] {
                        Ev::State(_, n) => *n,
                        _ => 0,
                    }
                } else {
                    since - 1
                };
                let policy = sc.decl.policy;
                let due = asc
                    && at_slice
                    && (policy.interval.is_some() || period)
                    && policy.interval.is_none_or(|n| count_before >= n.get())
                    && (!period || elapsed)
                    && values.last().is_some_and(|p| c > p);
                if state_before && !due {
                    return Err(ctx(format!(
                        "a STATE before record {id} ({c:?}) that was not due"
                    )));
                }
                if due && let Some(p) = values.last() {
                    match exact_target(p, started) {
                        Some(t)
                            if due
                                && !state_before
                                && committed.as_ref().is_none_or(|w| t > *w) =>
                        {
                            return Err(ctx(format!(
                                "a checkpoint at {t:?} was due before record {id} ({c:?}) \
                                 after {count_before} records, none came"
                            )));
                        }
                        Some(t) if due && state_before => {
                            if let Ev::State(w, _) = &evs[position - 1]
                                && *w != Some(t.clone())
                            {
                                return Err(ctx(format!(
                                    "the checkpoint before record {id} ({c:?}) says {w:?}, \
                                     the last record before it is {t:?}"
                                )));
                            }
                        }
                        _ => {}
                    }
                }
                if asc && values.last().is_some_and(|p| c < p) {
                    return Err(ctx(format!("record {id} ({c:?}) accepted out of order")));
                }
                if sc.decl.order == Order::Desc {
                    if newest_first.as_ref().is_some_and(|p| c > p) {
                        return Err(ctx(format!(
                            "record {id} ({c:?}) accepted above its predecessor {newest_first:?}"
                        )));
                    }
                    newest_first = Some(c.clone());
                }
                values.push(c.clone());
            }
            Ev::State(w, n) => {
                let final_state = matches!(outcome, Some(Ev::Finished)) && next.is_none();
                if *n != since {
                    return Err(ctx(format!(
                        "STATE {w:?}: recordCount {n}, expected {since}"
                    )));
                }
                since = 0;
                if *w < committed {
                    return Err(ctx(format!("STATE {w:?} moved back from {committed:?}")));
                }
                if *w == committed && !final_state {
                    return Err(ctx(format!("STATE {w:?} repeated without moving")));
                }
                if poisoned {
                    return Err(ctx(format!("STATE {w:?} after an order violation")));
                }
                if let Some(v) = w
                    && w.as_ref() != resume
                {
                    if v.past(started) {
                        return Err(ctx(format!("STATE {v:?} past the sync start {started}")));
                    }
                    if let Some(e) = &sc.end
                        && v > e
                    {
                        return Err(ctx(format!("STATE {v:?} above the reader's end {e:?}")));
                    }
                    // The sentence, over the whole data set (records above the end included).
                    for (id, cursor) in sc.data.iter().enumerate() {
                        if let Some(c) = cursor
                            && c <= v
                            && in_scope(sc, c)
                            && !sc.swapped.contains(&id)
                            && !committed_before.contains(&id)
                            && !emitted.contains(&id)
                        {
                            return Err(ctx(format!(
                                "STATE {v:?} claims record {id} ({c:?}), never emitted"
                            )));
                        }
                    }
                }
                if sc.decl.policy.at == CheckpointAt::End && !final_state {
                    return Err(ctx(format!(
                        "STATE {w:?} before the end with checkpoint = end"
                    )));
                }
                committed.clone_from(w);
                if w.as_ref() != resume {
                    this_sync_claim.clone_from(w);
                }
            }
            Ev::SliceDone(k) => {
                let Some((_, Bound::Included(upper))) = current.clone() else {
                    continue;
                };
                let last = slices.as_ref().is_some_and(|s| s.len() == k + 1);
                let state_next = match next {
                    Some(Ev::State(w, _)) => Some(w.clone()),
                    _ => None,
                };
                // With a period, a window end is a safe point only once it elapsed (and an
                // interval, when there is one too, was reached).
                let ready = !period
                    || (elapsed && sc.decl.policy.interval.is_none_or(|n| since >= n.get()));
                if sc.decl.step.is_some() && !last && at_slice && ready {
                    // Past the start: at least the largest value emitted that is not.
                    if upper.past(started)
                        && let Some(settled) = values
                            .iter()
                            .filter(|v| !v.past(started) && **v <= upper)
                            .max()
                        && committed.as_ref().is_none_or(|w| settled > w)
                        && state_next
                            .as_ref()
                            .is_none_or(|w| w.as_ref() < Some(settled))
                    {
                        return Err(ctx(format!(
                            "window {k} ended past the start at {upper:?}; {settled:?} was \
                             complete but the STATE says {state_next:?}"
                        )));
                    }
                    if let Some(t) = exact_target(&upper, started) {
                        let moves = committed.as_ref().is_none_or(|w| t > *w);
                        match (&state_next, moves) {
                            (Some(w), true) if *w != Some(t.clone()) => {
                                return Err(ctx(format!(
                                    "window {k} ended at {t:?}; its STATE says {w:?}"
                                )));
                            }
                            (None, true) => {
                                return Err(ctx(format!(
                                    "window {k} ended at {t:?} with no STATE"
                                )));
                            }
                            (Some(w), false) => {
                                return Err(ctx(format!(
                                    "window {k} ended at {t:?} below {committed:?}, yet STATE {w:?}"
                                )));
                            }
                            _ => {}
                        }
                    }
                } else if state_next.is_some() {
                    return Err(ctx(format!("a STATE after slice {k} that is not due")));
                }
            }
            Ev::Failed(failure) => {
                outcome = Some(ev);
                let state_next = match next {
                    Some(Ev::State(w, _)) => Some(w.clone()),
                    _ => None,
                };
                poisoned |= *failure == Failure::SourceOutOfOrder;
                if poisoned || !asc || !at_slice {
                    if let Some(w) = state_next {
                        return Err(ctx(format!("a failure STATE {w:?} that claims too much")));
                    }
                    continue;
                }
                // The last record the core saw, written or not: every value below it is out.
                let last = unwritten.as_ref().or(values.last());
                let safe = last.and_then(|last| values.iter().filter(|v| *v < last).max());
                if let Some(safe) = safe
                    && let Some(t) = exact_target(safe, started)
                {
                    let moves = committed.as_ref().is_none_or(|w| t > *w);
                    match (&state_next, moves) {
                        (Some(w), true) if *w != Some(t.clone()) => {
                            return Err(ctx(format!(
                                "failure: STATE {w:?}, the safe value is {t:?}"
                            )));
                        }
                        (None, true) => {
                            return Err(ctx(format!(
                                "failure: no STATE, the safe value {t:?} moved"
                            )));
                        }
                        _ => {}
                    }
                }
            }
            Ev::Finished => {
                outcome = Some(ev);
                // Every reader returns records without a cursor in every slice (a newest-first
                // reader that stops paginating may not reach them).
                if sc.decl.on_null == OnNull::Fail
                    && sc.data.iter().any(Option::is_none)
                    && !handed_slices.is_empty()
                    && !(sc.decl.order == Order::Desc && sc.stops)
                {
                    return Err(ctx(
                        "a record without a cursor did not stop the stream".into()
                    ));
                }
                let Some(Ev::State(w, _)) = next else {
                    return Err(ctx("no final STATE".into()));
                };
                // Progress: the final STATE claims at least the end of what was read.
                let read_to = if sc.decl.step.is_some() {
                    slices
                        .as_ref()
                        .and_then(|s| s.last())
                        .and_then(|(_, upper)| match upper {
                            Bound::Included(u) => Some(u.clone()),
                            _ => None,
                        })
                } else {
                    values.iter().max().cloned()
                };
                let settled = read_to.as_ref().and_then(|r| {
                    if r.past(started) {
                        values
                            .iter()
                            .filter(|v| !v.past(started) && *v <= r)
                            .max()
                            .cloned()
                    } else {
                        Some(r.clone())
                    }
                });
                if let Some(t) = settled
                    && *w < Some(t.clone())
                    && committed.as_ref().is_none_or(|c| *c < t)
                {
                    return Err(ctx(format!(
                        "final STATE {w:?}; everything up to {t:?} was read"
                    )));
                }
            }
        }
    }
    // Every planned slice was handed out when the sync completed.
    if matches!(outcome, Some(Ev::Finished))
        && let Some(s) = &slices
        && handed_slices.len() != s.len()
    {
        return Err(ctx(format!(
            "{} slices read, {} planned",
            handed_slices.len(),
            s.len()
        )));
    }
    Ok(())
}

/// Runs and checks a chain of syncs until one completes.
#[expect(
    clippy::too_many_lines,
    reason = "the chain, then the end-of-chain checks"
)]
fn check<C: Kind>(sc: &Scenario<C>) -> Result<(), TestCaseError> {
    let mut committed: BTreeSet<usize> = BTreeSet::new();
    let mut saved = sc.saved.clone();
    let mut started = sc.started;
    let max = sc.fails.len().max(sc.cuts.len()) + 3;
    let mut completed = false;
    let mut persistent = false;
    let mut final_slices = 0;
    let mut last_index = 0;
    for index in 0..max {
        let evs = sync(
            sc,
            index,
            saved.clone(),
            started,
            sc.fails.get(index).copied().flatten(),
        );
        last_index = index;
        if evs.iter().filter(|e| matches!(e, Ev::Slice(..))).count() > 3_000 {
            return Ok(());
        }
        check_sync(sc, index, &evs, saved.as_ref(), started, &committed)?;
        if matches!(evs.first(), Some(Ev::Unplannable)) {
            persistent = true;
            break;
        }
        if evs
            .iter()
            .any(|e| matches!(e, Ev::Failed(Failure::SourceOutOfOrder)))
        {
            persistent = true;
        }
        if sc.decl.on_null == OnNull::Fail && sc.data.iter().any(Option::is_none) {
            persistent = true;
        }
        final_slices = evs.iter().filter(|e| matches!(e, Ev::Slice(..))).count();
        // The output only: what a destination sees, cut short.
        let output: Vec<&Ev<C>> = evs
            .iter()
            .filter(|e| matches!(e, Ev::Record(_) | Ev::State(..)))
            .collect();
        let mut done = evs.iter().any(|e| matches!(e, Ev::Finished));
        let keep = match sc.cuts.get(index).copied().flatten() {
            Some(cut) if cut < output.len() => {
                done = false;
                cut
            }
            _ => output.len(),
        };
        let mut pending = Vec::new();
        for ev in &output[..keep] {
            match ev {
                Ev::Record(id) => {
                    // Nothing a STATE covered is sent again, look-back aside.
                    if let Some(c) = &sc.data[*id]
                        && committed.contains(id)
                        && sc.decl.lookback.is_none()
                        && saved.as_ref().is_some_and(|w| c <= w)
                    {
                        return Err(fail(format!(
                            "sync {index}: record {id} ({c:?}) was committed under {saved:?} \
                             and sent again"
                        )));
                    }
                    pending.push(*id);
                }
                Ev::State(w, _) => {
                    committed.extend(pending.drain(..));
                    saved.clone_from(w);
                }
                _ => {}
            }
        }
        if done {
            completed = true;
            break;
        }
        started += sc.gap;
    }
    if !completed {
        if persistent {
            return Ok(());
        }
        return Err(fail("the chain never completed".into()));
    }
    let windowed = sc.decl.step.is_some();
    let read_end = sc
        .end
        .clone()
        .or_else(|| if windowed { C::cap(started) } else { None });
    for (id, cursor) in sc.data.iter().enumerate() {
        let must = match cursor {
            Some(c) => {
                in_scope(sc, c)
                    && read_end.as_ref().is_none_or(|e| c <= e)
                    && visible(sc, id, last_index, started)
            }
            None => {
                sc.decl.on_null == OnNull::Emit
                    && final_slices > 0
                    && !(sc.decl.order == Order::Desc && sc.stops)
            }
        };
        if must && !committed.contains(&id) && !sc.swapped.contains(&id) {
            return Err(fail(format!(
                "record {id} ({cursor:?}) was never delivered"
            )));
        }
    }
    Ok(())
}

/// Policies the attribute accepts for an order: a period goes with `checkpoint = "slice"`.
fn policy(order: Order) -> BoxedStrategy<CheckpointPolicy> {
    let period = prop::option::of(Just(Duration::from_millis(5)));
    let plain = prop_oneof![
        Just(CheckpointPolicy::END),
        period.clone().prop_map(|period| CheckpointPolicy {
            period,
            ..CheckpointPolicy::SLICE
        }),
    ];
    match order {
        Order::Unsorted | Order::Desc => plain.boxed(),
        Order::Asc => prop_oneof![
            plain,
            (1_u64..4, period).prop_map(|(n, period)| CheckpointPolicy {
                interval: NonZeroU64::new(n),
                at: CheckpointAt::Slice,
                period,
            }),
        ]
        .boxed(),
    }
}

fn fail_at() -> impl Strategy<Value = Vec<Option<FailAt>>> {
    let one = prop_oneof![
        3 => (0_usize..30).prop_map(FailAt::Record),
        1 => (0_usize..30).prop_map(FailAt::Unwritable),
        1 => (0_usize..6).prop_map(FailAt::SliceEnd),
        1 => (0_usize..6).prop_map(FailAt::SliceStart),
    ];
    prop::collection::vec(prop::option::weighted(0.6, one), 0..4)
}

fn cuts() -> impl Strategy<Value = Vec<Option<usize>>> {
    prop::collection::vec(prop::option::weighted(0.5, 0_usize..40), 0..4)
}

fn reader() -> impl Strategy<Value = ReaderKind> {
    prop_oneof![
        Just(ReaderKind::Exact),
        Just(ReaderKind::Inclusive),
        Just(ReaderKind::Everything),
        Just(ReaderKind::Leaky),
    ]
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn scenario<C: Kind>(
    value: BoxedStrategy<C>,
    dist: Option<BoxedStrategy<C::Dist>>,
    nullable: bool,
    started: BoxedStrategy<DateTime<Utc>>,
) -> impl Strategy<Value = Scenario<C>>
where
    C::Dist: 'static,
{
    let order = prop_oneof![
        3 => Just(Order::Asc),
        1 => Just(Order::Unsorted),
        1 => Just(Order::Desc),
    ];
    let on_null = if nullable {
        prop_oneof![Just(OnNull::Fail), Just(OnNull::Skip), Just(OnNull::Emit)].boxed()
    } else {
        Just(OnNull::Fail).boxed()
    };
    let cursor = if nullable {
        prop::option::weighted(0.85, value.clone()).boxed()
    } else {
        value.clone().prop_map(Some).boxed()
    };
    let dists = match dist {
        Some(d) => (prop::option::of(d.clone()), prop::option::of(d)).boxed(),
        None => Just((None, None)).boxed(),
    };
    (
        order.prop_flat_map(|o| (Just(o), policy(o))),
        on_null,
        dists,
        prop::option::of(value.clone()),
        prop::collection::vec(cursor, 0..24),
        prop::option::of(value.clone()),
        prop::option::of(value.clone()),
        prop::option::of(value),
        (reader(), any::<u64>(), fail_at(), cuts()),
        started,
        (1_i64..100_000).prop_map(|s| TimeDelta::seconds(s / 1000)),
        (any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(
            move |(
                (order, policy),
                on_null,
                (step, lookback),
                start,
                mut data,
                saved,
                runtime_start,
                end,
                (reader, seed, fails, cuts),
                started,
                gap,
                (disorder, stops, ticks),
            )| {
                let mut swapped = Vec::new();
                // Ascending; newest-first readers return it backwards.
                if order != Order::Unsorted {
                    let mut values: Vec<C> = data.iter().flatten().cloned().collect();
                    values.sort();
                    let mut swap_at = None;
                    if disorder && values.len() >= 4 {
                        // A source that breaks its order once.
                        let i = usize::try_from(seed % (values.len() as u64 - 1)).unwrap_or(0);
                        values.swap(i, i + 1);
                        swap_at = Some(i);
                    }
                    let mut sorted = values.into_iter();
                    let mut nth = 0;
                    for (id, slot) in data.iter_mut().enumerate() {
                        if slot.is_some() {
                            *slot = sorted.next();
                            if swap_at.is_some_and(|i| nth == i || nth == i + 1) {
                                swapped.push(id);
                            }
                            nth += 1;
                        }
                    }
                }
                Scenario {
                    decl: Decl {
                        policy,
                        order,
                        on_null,
                        step,
                        lookback,
                        start,
                    },
                    data,
                    saved,
                    runtime_start,
                    end,
                    reader,
                    stops,
                    seed,
                    ticks,
                    fails,
                    cuts,
                    started,
                    gap,
                    late_rows: true,
                    swapped,
                }
            },
        )
}

fn int_dist(max: u64, huge: &[u64]) -> BoxedStrategy<u64> {
    let huge: Vec<u64> = huge.to_vec();
    prop_oneof![3 => 1..=max, 1 => prop::sample::select(huge)].boxed()
}

fn whole_seconds() -> BoxedStrategy<DateTime<Utc>> {
    (-40_i64..40)
        .prop_map(|s| epoch() + TimeDelta::seconds(s))
        .boxed()
}

fn u8_case(nullable: bool) -> impl Strategy<Value = Scenario<u8>> {
    scenario(
        prop_oneof![0_u8..5, 125_u8..130, 250_u8..=255].boxed(),
        Some(int_dist(12, &[250, 255, 256, 300, u64::MAX])),
        nullable,
        whole_seconds(),
    )
}

fn i64_case() -> impl Strategy<Value = Scenario<i64>> {
    let region = prop_oneof![
        (i64::MIN..=i64::MIN + 8).boxed(),
        (-4_i64..=4).boxed(),
        (i64::MAX - 8..=i64::MAX).boxed(),
    ];
    scenario(
        region.boxed(),
        Some(int_dist(6, &[1 << 63, (1 << 63) + 3, u64::MAX])),
        false,
        whole_seconds(),
    )
}

fn u128_case() -> impl Strategy<Value = Scenario<u128>> {
    let region = prop_oneof![
        ((1_u128 << 64) - 4..=(1 << 64) + 4).boxed(),
        (u128::MAX - 6..=u128::MAX).boxed(),
    ];
    scenario(
        region.boxed(),
        Some(int_dist(5, &[u64::MAX])),
        false,
        whole_seconds(),
    )
}

/// Timestamps on whole seconds and one nanosecond either side, so the cap (one nanosecond
/// before the start) is hit exactly.
fn instants() -> BoxedStrategy<DateTime<Utc>> {
    (-40_i64..40, prop_oneof![Just(0_i64), Just(-1), Just(1)])
        .prop_map(|(s, ns)| epoch() + TimeDelta::seconds(s) + TimeDelta::nanoseconds(ns))
        .boxed()
}

fn time_case() -> impl Strategy<Value = Scenario<DateTime<Utc>>> {
    let dist = prop_oneof![
        (1_u64..20).prop_map(|s| TimeDist {
            months: 0,
            days: 0,
            nanos: s * 1_000_000_000,
        }),
        Just(TimeDist {
            months: 0,
            days: 0,
            nanos: 500_000_000,
        }),
        Just(TimeDist {
            months: 0,
            days: 0,
            nanos: 1,
        }),
    ];
    scenario(instants(), Some(dist.boxed()), false, whole_seconds())
}

fn date_case() -> impl Strategy<Value = Scenario<NaiveDate>> {
    let day0 = epoch().date_naive();
    let dates = (-6_i64..6)
        .prop_map(move |d| day0 + TimeDelta::days(d))
        .boxed();
    let dist = prop_oneof![
        (1_u32..4).prop_map(|d| DatePeriod::new(0, d)),
        Just(DatePeriod::new(1, 0)),
    ];
    let started = (-100_i64..100)
        .prop_map(|h| epoch() + TimeDelta::hours(h) + TimeDelta::minutes(7))
        .boxed();
    scenario(dates, Some(dist.boxed()), false, started)
}

fn pair_case() -> impl Strategy<Value = Scenario<(DateTime<Utc>, u8)>> {
    let pairs = (instants(), prop_oneof![0_u8..3, Just(255)]).boxed();
    scenario(pairs, None, false, whole_seconds())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn the_model_agrees_on_u8(case in u8_case(false)) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_nullable_u8(case in u8_case(true)) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_i64(case in i64_case()) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_u128(case in u128_case()) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_timestamps(case in time_case()) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_dates(case in date_case()) { check(&case)?; }

    #[test]
    fn the_model_agrees_on_compound(case in pair_case()) { check(&case)?; }
}

/// Deterministic cases at the edges: each runs one sync through the core and states what the
/// design says about it.
mod edges {
    use super::*;

    fn decl<C: Kind>(policy: CheckpointPolicy) -> Decl<C> {
        Decl {
            policy,
            order: Order::Asc,
            on_null: OnNull::Fail,
            step: None,
            lookback: None,
            start: None,
        }
    }

    fn scenario<C: Kind>(decl: Decl<C>, data: Vec<C>) -> Scenario<C> {
        Scenario {
            decl,
            data: data.into_iter().map(Some).collect(),
            saved: None,
            runtime_start: None,
            end: None,
            reader: ReaderKind::Exact,
            stops: false,
            seed: 7,
            ticks: 0,
            fails: Vec::new(),
            cuts: Vec::new(),
            started: epoch(),
            gap: TimeDelta::seconds(5),
            late_rows: false,
            swapped: Vec::new(),
        }
    }

    /// The slices one sync hands to the reader.
    fn slices<C: Kind>(sc: &Scenario<C>) -> Vec<(Bound<C>, Bound<C>)> {
        sync(sc, 0, sc.saved.clone(), sc.started, None)
            .into_iter()
            .filter_map(|ev| match ev {
                Ev::Slice(_, lower, upper) => Some((lower, upper)),
                _ => None,
            })
            .collect()
    }

    /// The output of one sync, as `id` for records and `STATE w (n)` for states.
    fn output<C: Kind>(sc: &Scenario<C>, fail: Option<FailAt>) -> Vec<String> {
        sync(sc, 0, sc.saved.clone(), sc.started, fail)
            .into_iter()
            .filter_map(|ev| match ev {
                Ev::Record(id) => Some(format!("{id}")),
                Ev::State(w, n) => Some(format!("STATE {w:?} ({n})")),
                _ => None,
            })
            .collect()
    }

    use Bound::{Excluded, Included, Unbounded};

    #[test]
    fn u8_windows_at_the_top_of_the_type_end_at_its_maximum() {
        let mut d = decl::<u8>(CheckpointPolicy::SLICE);
        d.step = Some(300);
        d.start = Some(250);
        let mut sc = scenario(d, vec![250, 254, 255, 255]);
        sc.end = Some(255);
        assert_eq!(slices(&sc), [(Included(250), Included(255))]);
        assert_eq!(
            output(&sc, None),
            ["0", "1", "2", "3", "STATE Some(255) (4)"]
        );
        // Resuming from the top of the type: nothing left to read, the state is kept.
        sc.saved = Some(255);
        assert!(slices(&sc).is_empty());
        assert_eq!(output(&sc, None), ["STATE Some(255) (0)"]);
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn a_lookback_of_u64_max_on_i64_min_starts_at_the_beginning_and_windows_from_the_state() {
        let mut d = decl::<i64>(CheckpointPolicy::SLICE);
        d.step = Some(u64::MAX);
        d.lookback = Some(u64::MAX);
        let mut sc = scenario(d, vec![i64::MIN, i64::MIN + 1, 0, i64::MAX]);
        sc.saved = Some(i64::MIN + 1);
        sc.end = Some(i64::MAX);
        assert_eq!(
            slices(&sc),
            [
                (Unbounded, Included(i64::MIN + 1)),
                (Excluded(i64::MIN + 1), Included(i64::MAX)),
            ]
        );
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn u128_windows_above_two_to_the_64_step_exactly() {
        let mut d = decl::<u128>(CheckpointPolicy::SLICE);
        d.step = Some(u64::MAX);
        let base = 1_u128 << 64;
        d.start = Some(base);
        let mut sc = scenario(
            d,
            vec![
                base,
                base + u128::from(u64::MAX),
                base + 2 * u128::from(u64::MAX),
            ],
        );
        sc.end = Some(base * 3);
        assert_eq!(
            slices(&sc),
            [
                (Included(base), Included(base + u128::from(u64::MAX))),
                (
                    Excluded(base + u128::from(u64::MAX)),
                    Included(base + 2 * u128::from(u64::MAX))
                ),
                (
                    Excluded(base + 2 * u128::from(u64::MAX)),
                    Included(base * 3)
                ),
            ]
        );
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn a_timestamp_exactly_at_the_cap_is_claimed_and_one_at_the_start_is_not() {
        let started = epoch();
        let cap = started - TimeDelta::nanoseconds(1);
        let mut d = decl::<DateTime<Utc>>(CheckpointPolicy::every(1));
        d.step = Some(TimeDist {
            months: 0,
            days: 0,
            nanos: 10_000_000_000,
        });
        d.start = Some(started - TimeDelta::seconds(15));
        let mut sc = scenario(d, vec![cap, cap, started]);
        sc.started = started;
        // Windows end at the cap; the record at the start is the next sync's.
        assert_eq!(
            slices(&sc),
            [
                (
                    Included(started - TimeDelta::seconds(15)),
                    Included(started - TimeDelta::seconds(5))
                ),
                (Excluded(started - TimeDelta::seconds(5)), Included(cap)),
            ]
        );
        assert_eq!(
            output(&sc, None),
            [
                "STATE Some(2023-11-14T22:13:15Z) (0)",
                "0",
                "1",
                "STATE Some(2023-11-14T22:13:19.999999999Z) (2)"
            ]
        );
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn an_open_timestamp_slice_emits_rows_past_the_start_without_claiming_them() {
        let started = epoch();
        let cap = started - TimeDelta::nanoseconds(1);
        let d = decl::<DateTime<Utc>>(CheckpointPolicy::every(1));
        let sc = scenario(d, vec![cap, started, started + TimeDelta::seconds(1)]);
        assert_eq!(
            output(&sc, None),
            [
                "0",
                "STATE Some(2023-11-14T22:13:19.999999999Z) (1)",
                "1",
                "2",
                "STATE Some(2023-11-14T22:13:19.999999999Z) (2)"
            ]
        );
    }

    #[test]
    fn dates_are_capped_at_the_day_before_the_start_and_a_state_from_a_clock_ahead_is_kept() {
        let started = epoch(); // 2023-11-14T22:13:20Z
        let today = started.date_naive();
        let yesterday = today.pred_opt().expect("a date");
        let mut d = decl::<NaiveDate>(CheckpointPolicy::SLICE);
        d.step = Some(DatePeriod::new(0, 1));
        d.start = Some(yesterday - TimeDelta::days(2));
        let mut sc = scenario(
            d,
            vec![yesterday - TimeDelta::days(2), yesterday, yesterday, today],
        );
        assert_eq!(
            slices(&sc).last(),
            Some(&(
                Excluded(yesterday - TimeDelta::days(1)),
                Included(yesterday)
            ))
        );
        let out = output(&sc, None);
        assert_eq!(
            out.last().map(String::as_str),
            Some("STATE Some(2023-11-13) (2)")
        );
        assert!(
            !out.contains(&"3".to_owned()),
            "today's row waits for tomorrow: {out:?}"
        );
        // A state saved by a sync whose clock ran a day ahead: nothing to read, kept as it is.
        sc.saved = Some(today + TimeDelta::days(1));
        assert!(slices(&sc).is_empty());
        assert_eq!(output(&sc, None), ["STATE Some(2023-11-15) (0)"]);
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn a_compound_cursor_is_capped_by_its_leading_part_even_with_the_largest_id() {
        let started = epoch();
        let cap = started - TimeDelta::nanoseconds(1);
        let d = decl::<(DateTime<Utc>, u8)>(CheckpointPolicy::every(1));
        let sc = scenario(d, vec![(cap, 0), (cap, 255), (started, 0)]);
        assert_eq!(
            output(&sc, None),
            [
                "0",
                "STATE Some((2023-11-14T22:13:19.999999999Z, 0)) (1)",
                "1",
                "STATE Some((2023-11-14T22:13:19.999999999Z, 255)) (1)",
                "2",
                "STATE Some((2023-11-14T22:13:19.999999999Z, 255)) (1)"
            ]
        );
    }

    #[test]
    fn a_failure_right_at_a_window_end_claims_below_its_last_value_not_the_window() {
        let mut d = decl::<u8>(CheckpointPolicy::SLICE);
        d.step = Some(10);
        d.start = Some(1);
        let mut sc = scenario(d, vec![5, 11, 20, 20, 21]);
        sc.end = Some(30);
        // The reader returns every record of window (11, 21] and then fails: 21 may have more
        // rows, 20 is complete.
        assert_eq!(
            output(&sc, Some(FailAt::SliceEnd(1))),
            [
                "0",
                "1",
                "STATE Some(11) (2)",
                "2",
                "3",
                "4",
                "STATE Some(20) (3)"
            ]
        );
        sc.fails = vec![Some(FailAt::SliceEnd(1)), Some(FailAt::Record(0))];
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn records_above_the_window_are_dropped_and_read_by_the_next_window() {
        let mut d = decl::<u8>(CheckpointPolicy::every(1));
        d.step = Some(10);
        d.start = Some(1);
        let mut sc = scenario(d, vec![5, 15, 7, 25]);
        sc.end = Some(30);
        sc.reader = ReaderKind::Everything;
        // The source is unordered across windows, ordered within each: 15 and 25 are dropped
        // from (.., 11] and re-read by their windows.
        sc.data = vec![Some(5), Some(15), Some(25)];
        sc.reader = ReaderKind::Leaky;
        let out = output(&sc, None);
        assert_eq!(
            out,
            [
                "0",
                "STATE Some(11) (1)",
                "1",
                "STATE Some(21) (1)",
                "2",
                "STATE Some(30) (1)"
            ]
        );
        check(&sc)
            .map_err(|e| e.to_string())
            .expect("the contract holds");
    }

    #[test]
    fn a_record_that_cannot_be_written_after_a_checkpoint_is_not_counted() {
        let d = decl::<u8>(CheckpointPolicy::every(1));
        let sc = scenario(d, vec![1, 2, 3]);
        // Record 1 (cursor 2) is admitted with a checkpoint at 1, then fails to serialize.
        let evs = sync(&sc, 0, None, sc.started, Some(FailAt::Unwritable(1)));
        let states: Vec<_> = evs
            .iter()
            .filter(|ev| matches!(ev, Ev::State(..)))
            .collect();
        assert_eq!(states, [&Ev::State(Some(1), 1)]);
    }

    // ---- Defects the model found, fixed: regression tests ----

    /// windows `origin + n * step` while in the type's range: [-100, 0], (0, 100],
    /// (100, 127]. Before the fix: [-100, 0], (0, 127]: `Step<u64>::forward` for signed integers converts
    /// `n * step` (200) to `i8` before adding it to the origin, so a bound reachable from a
    /// negative origin is reported out of range and the rest of the range becomes one window
    /// wider than `step` (window.rs, `integer_windows!`, `forward`). Same for `i64` with a step
    /// above `i64::MAX`.
    #[test]
    fn signed_windows_from_a_negative_origin_step_exactly() {
        let mut d = decl::<i8>(CheckpointPolicy::SLICE);
        d.step = Some(100);
        d.start = Some(-100);
        let mut sc = scenario(d, vec![-100, 50, 120]);
        sc.end = Some(127);
        assert_eq!(
            slices(&sc),
            [
                (Included(-100), Included(0)),
                (Excluded(0), Included(100)),
                (Excluded(100), Included(127)),
            ]
        );
    }

    /// `100 - 200 = -100` is an `i8`, so the sync reads `c > -100`. Before the fix: the
    /// look-back is reported out of range (`Step<u64>::backward` converts the distance to `i8`
    /// first) and, without a start, the sync re-reads from the type's beginning (window.rs,
    /// `integer_windows!`, `backward`).
    #[test]
    fn a_signed_look_back_larger_than_the_types_maximum_stays_in_range() {
        let mut d = decl::<i8>(CheckpointPolicy::SLICE);
        d.lookback = Some(200);
        let mut sc = scenario(d, vec![-128, -100, -99, 100]);
        sc.saved = Some(100);
        assert_eq!(slices(&sc), [(Excluded(-100), Unbounded)]);
    }

    /// a saved state above the reader's end leaves nothing to read, as with windows
    /// (`Plan::next_slice` returns `None` for an empty range). Before the fix: a stream without `step`
    /// still calls its reader, with the inverted slice `> 10, <= 5`; an API that rejects
    /// `from > to` fails the stream on every sync (plan.rs, `next_slice`, the open-slice branch
    /// skips the `empty` test).
    #[test]
    fn an_open_slice_above_the_readers_end_is_not_read() {
        let d = decl::<u8>(CheckpointPolicy::SLICE);
        let mut sc = scenario(d, vec![3, 5]);
        sc.saved = Some(10);
        sc.end = Some(5);
        assert_eq!(slices(&sc), []);
        assert_eq!(output(&sc, None), ["STATE Some(10) (0)"]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The library's `origin + k * step` and `watermark - lookback` agree with exact arithmetic
    /// wherever the exact result is in the type's range.
    #[test]
    fn integer_distances_are_exact(origin in any::<i8>(), d in 1_u64..300, k in 0_u64..4, w in any::<i64>(), big in (1_u64 << 63)..=u64::MAX) {
        prop_assert_eq!(origin.lib_forward(&d, k), origin.forward_exact(&d, k));
        prop_assert_eq!(origin.lib_backward(&d), origin.backward_exact(&d));
        prop_assert_eq!(w.lib_forward(&big, 1), w.forward_exact(&big, 1));
        prop_assert_eq!(w.lib_backward(&big), w.backward_exact(&big));
    }
}
