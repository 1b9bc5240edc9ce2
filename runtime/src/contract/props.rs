//! Property tests of the core, with no process and no emitter: a pure driver runs syncs over
//! generated declarations, data, saved states and readers; a destination keeps what each cut
//! or failed sync committed; the chain resumes from the last STATE until a sync completes. An
//! independent checker, which knows only the data and the declaration, checks after every
//! STATE that the sentence of the contract holds, and over the chain that nothing is lost and
//! nothing committed is sent again.
//!
//! Every declaration the attribute accepts is generated: checkpoint policies, `order`, windows
//! (`step`), `lookback`, declared and run-time `start`, reader ends, `on_null`, compound cursors
//! (nested cursors are plain cursors to the core), integer cursors at their type's limits and
//! time cursors with their cap, newest-first feeds (`order = "desc"`, ties in any order) and
//! periods (`checkpoint_every`, whose elapsed signal is a generated bit per call to the core).
//! Readers return exactly their slice, filter with `>=`, or ignore the slice altogether (a
//! newest-first feed with no filter), stop paginating once the core says the feed caught up or
//! read on; they fail (or panic: the same failure to the core) at any record.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::num::NonZeroU64;
use std::ops::{Bound, RangeBounds};
use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Admit, Core, Declaration, Failure, ReaderBounds, Refusal};
use crate::cursor::Cursor;
use crate::stream::{CheckpointAt, CheckpointPolicy, OnNull, Order};
use crate::window::{Period, Step};

/// Cases per property: the issue of record asks for at least 10,000 in CI.
const CASES: u32 = 10_000;

type Bounder<C> = Rc<dyn Fn(&C, u64) -> Option<C>>;
type Looker<C> = Rc<dyn Fn(&C) -> Option<C>>;

/// A `step` or `lookback` distance: its text, and what it does to a cursor value.
#[derive(Clone)]
struct Distance<C> {
    text: String,
    /// `origin + index * distance`.
    forward: Bounder<C>,
    /// `value - distance`.
    back: Looker<C>,
}

impl<C> Debug for Distance<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// A declaration generated at run time.
#[derive(Debug, Clone)]
struct Decl<C> {
    policy: CheckpointPolicy,
    order: Order,
    on_null: OnNull,
    step: Option<Distance<C>>,
    lookback: Option<Distance<C>>,
    start: Option<C>,
}

impl<C: Cursor> Declaration for &Decl<C> {
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
        self.step.as_ref().map(|_| "the declared step")
    }

    fn window_bound(&self, origin: &C, index: u64) -> Option<C> {
        self.step
            .as_ref()
            .and_then(|step| (step.forward)(origin, index))
    }

    fn has_lookback(&self) -> bool {
        self.lookback.is_some()
    }

    fn look_back(&self, watermark: &C) -> Option<C> {
        self.lookback
            .as_ref()
            .and_then(|lookback| (lookback.back)(watermark))
    }

    fn start(&self) -> Option<Result<C, String>> {
        self.start.clone().map(Ok)
    }
}

/// How a reader treats its slice.
#[derive(Debug, Clone, Copy)]
enum Reader {
    /// Exactly the records of the slice.
    Exact,
    /// Records from the slice's lower value included (an API that filters with `>=`).
    Inclusive,
    /// Every record, whatever the slice.
    Everything,
}

/// One generated case.
#[derive(Debug, Clone)]
struct Scenario<C> {
    decl: Decl<C>,
    /// The records: index is the id, `None` a null cursor. Ascending by cursor (nulls anywhere)
    /// unless the declaration is unsorted.
    data: Vec<Option<C>>,
    /// The state saved by an earlier sync.
    saved: Option<C>,
    /// `Reader::start` and `Reader::end`.
    runtime_start: Option<C>,
    end: Option<C>,
    reader: Reader,
    /// Newest first: the reader stops paginating once the core says the feed caught up.
    stops: bool,
    /// Permutation seed for unsorted readers (and ties of newest-first ones).
    shuffle: u64,
    /// With a period: bit `n % 64` says whether it elapsed at the sync's `n`-th call to the core.
    ticks: u64,
    /// Per sync of the chain: the reader fails after handing over this many records.
    fails: Vec<Option<usize>>,
    /// Per sync of the chain: the destination receives only this many messages.
    cuts: Vec<Option<usize>>,
    /// When the first sync started; each resumed one starts `SYNC_GAP` later.
    started: DateTime<Utc>,
}

/// Time between the starts of two syncs of a chain.
const SYNC_GAP: TimeDelta = TimeDelta::seconds(7);

/// One message a sync wrote.
#[derive(Debug, Clone, PartialEq)]
enum Msg<C> {
    Record(usize),
    State { watermark: Option<C>, records: u64 },
}

/// What a sync wrote, and whether it completed.
struct Sync<C> {
    messages: Vec<Msg<C>>,
    completed: bool,
    /// Its slices could not be planned (windows without a first or a last bound).
    unplannable: bool,
    /// Slices the reader was asked for.
    slices: usize,
}

/// Runs one sync through the core, as the runtime's driver does.
fn sync<C: Cursor>(
    scenario: &Scenario<C>,
    saved: Option<C>,
    started: DateTime<Utc>,
    fail_after: Option<usize>,
) -> Result<Sync<C>, TestCaseError> {
    let decl = &scenario.decl;
    let start = Core::needs_start(&decl, saved.as_ref())
        .then(|| scenario.runtime_start.clone())
        .flatten();
    let bounds = ReaderBounds {
        start,
        end: scenario.end.clone(),
    };
    let has_origin = saved.is_some() || scenario.runtime_start.is_some() || decl.start.is_some();
    let has_end = scenario.end.is_some() || C::upper_cap(started).is_some();
    let mut core = match Core::new(decl, saved, started, bounds) {
        Ok(core) => core,
        Err(error) => {
            // Planning may only fail when windows have no first or no last bound.
            prop_assert!(
                decl.step.is_some() && !(has_origin && has_end),
                "planning failed: {:?}",
                error
            );
            return Ok(Sync {
                messages: Vec::new(),
                completed: false,
                unplannable: true,
                slices: 0,
            });
        }
    };
    let mut messages = Vec::new();
    let mut handed = 0;
    let mut failure = None;
    let mut slices = 0;
    let mut calls = 0_u32;
    let mut tick = |core: &mut Core<&Decl<C>>| {
        core.set_period_elapsed(scenario.ticks.rotate_right(calls % 64) & 1 == 1);
        calls += 1;
    };
    'slices: while let Some((lower, upper)) = core.next_slice() {
        slices += 1;
        prop_assert!(
            slices <= 1_000,
            "more than 1,000 slices: the plan does not end"
        );
        for id in batch(scenario, &lower, &upper) {
            if fail_after == Some(handed) {
                failure = Some(Failure::Stopped);
                break 'slices;
            }
            handed += 1;
            tick(&mut core);
            match core.admit(scenario.data[id].as_ref()) {
                Ok(Admit::Drop) => {}
                Ok(Admit::Emit) => messages.push(Msg::Record(id)),
                Ok(Admit::CheckpointThenEmit { records }) => {
                    messages.push(state(&core, records));
                    messages.push(Msg::Record(id));
                }
                Err(Refusal::OutOfOrder { .. }) => {
                    failure = Some(Failure::SourceOutOfOrder);
                    break 'slices;
                }
                Err(Refusal::NullCursor) => {
                    failure = Some(Failure::Stopped);
                    break 'slices;
                }
            }
            if scenario.stops && core.caught_up() {
                break;
            }
        }
        tick(&mut core);
        if let Some(records) = core.slice_done() {
            messages.push(state(&core, records));
        }
    }
    if let Some(failure) = failure {
        if let Some(records) = core.fail(failure) {
            messages.push(state(&core, records));
        }
        return Ok(Sync {
            messages,
            completed: false,
            unplannable: false,
            slices,
        });
    }
    let records = core.finish();
    messages.push(state(&core, records));
    Ok(Sync {
        messages,
        completed: true,
        unplannable: false,
        slices,
    })
}

fn state<D: Declaration>(core: &Core<D>, records: u64) -> Msg<D::Cursor> {
    Msg::State {
        watermark: core.watermark().cloned(),
        records,
    }
}

/// The ids a reader returns for a slice, in the order it returns them.
fn batch<C: Cursor>(scenario: &Scenario<C>, lower: &Bound<C>, upper: &Bound<C>) -> Vec<usize> {
    let inclusive_lower = match lower {
        Bound::Excluded(value) => Bound::Included(value),
        other => other.as_ref(),
    };
    let mut ids: Vec<usize> = scenario
        .data
        .iter()
        .enumerate()
        .filter(|(_, cursor)| match (scenario.reader, cursor) {
            (Reader::Everything, _) | (_, None) => true,
            (Reader::Exact, Some(c)) => (lower.as_ref(), upper.as_ref()).contains(c),
            (Reader::Inclusive, Some(c)) => (inclusive_lower, upper.as_ref()).contains(c),
        })
        .map(|(id, _)| id)
        .collect();
    match scenario.decl.order {
        Order::Asc => {}
        Order::Unsorted => {
            // A deterministic shuffle.
            let mut seed = scenario.shuffle | 1;
            for i in (1..ids.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let j = usize::try_from(seed % (i as u64 + 1)).unwrap_or(0);
                ids.swap(i, j);
            }
        }
        Order::Desc => {
            // Newest first, ties in any order.
            ids.reverse();
            for i in 1..ids.len() {
                if scenario.data[ids[i]].is_some()
                    && scenario.data[ids[i]] == scenario.data[ids[i - 1]]
                    && scenario
                        .shuffle
                        .rotate_right(u32::try_from(i % 64).unwrap_or(0))
                        & 1
                        == 1
                {
                    ids.swap(i, i - 1);
                }
            }
        }
    }
    ids
}

/// The independent checker: runs the chain of syncs and checks the contract.
#[expect(
    clippy::too_many_lines,
    reason = "one pass over the chain, each check next to the message it is about"
)]
fn check<C: Cursor>(scenario: &Scenario<C>) -> Result<(), TestCaseError> {
    let data = &scenario.data;
    let start = scenario
        .runtime_start
        .clone()
        .or_else(|| scenario.decl.start.clone());
    // Records the stream must deliver: above the saved state, from the start, up to the end.
    let wanted = |c: &C| {
        scenario.saved.as_ref().is_none_or(|w| c > w)
            && start.as_ref().is_none_or(|s| c >= s)
            && scenario.end.as_ref().is_none_or(|e| c <= e)
    };
    let mut committed: BTreeSet<usize> = BTreeSet::new();
    let mut saved = scenario.saved.clone();
    let mut started = scenario.started;
    let mut completed = false;
    let mut unplannable = false;
    let mut last_slices = 0;
    let max_syncs = scenario.fails.len().max(scenario.cuts.len()) + 2;
    for index in 0..max_syncs {
        let fail_after = scenario.fails.get(index).copied().flatten();
        let run = sync(scenario, saved.clone(), started, fail_after)?;
        let mut messages = run.messages;
        let mut done = run.completed;
        unplannable |= run.unplannable;
        last_slices = run.slices;
        if let Some(Some(cut)) = scenario.cuts.get(index)
            && *cut < messages.len()
        {
            messages.truncate(*cut);
            done = false;
        }
        let resumed_from = saved.clone();
        let mut this_sync: Vec<usize> = Vec::new();
        let mut since_state = 0;
        for message in &messages {
            match message {
                Msg::Record(id) => {
                    if let Some(c) = &data[*id] {
                        // Nothing at or below the watermark is sent again, `lookback` aside.
                        let covered = resumed_from.as_ref().is_some_and(|w| c <= w);
                        let overlap = scenario.decl.lookback.is_some()
                            && resumed_from.as_ref().is_some_and(|w| {
                                scenario
                                    .decl
                                    .lookback
                                    .as_ref()
                                    .and_then(|lookback| (lookback.back)(w))
                                    .is_none_or(|from| *c > from)
                            });
                        prop_assert!(
                            !covered || overlap,
                            "sync {}: record {} ({:?}) is at or below the watermark {:?} it \
                             resumed from",
                            index,
                            id,
                            c,
                            resumed_from
                        );
                        // Never below the start, unless a saved state below it says so.
                        if let Some(s) = &start
                            && c < s
                        {
                            prop_assert!(
                                scenario.saved.as_ref().is_some_and(|w| c > w)
                                    && scenario.saved.as_ref().is_some_and(|w| w < s),
                                "sync {}: record {} ({:?}) is below the start {:?}",
                                index,
                                id,
                                c,
                                s
                            );
                        }
                    }
                    this_sync.push(*id);
                    since_state += 1;
                }
                Msg::State { watermark, records } => {
                    prop_assert_eq!(*records, since_state, "sync {}: recordCount", index);
                    since_state = 0;
                    prop_assert!(
                        *watermark >= saved,
                        "sync {}: the watermark moved back from {:?} to {:?}",
                        index,
                        saved,
                        watermark
                    );
                    committed.extend(this_sync.drain(..));
                    if let Some(w) = watermark {
                        // A new claim is never past the sync's start (a saved state from a
                        // clock that ran ahead is only carried over).
                        prop_assert!(
                            *watermark == saved || !w.is_past(started),
                            "sync {}: the watermark {:?} is past the sync's start {}",
                            index,
                            w,
                            started
                        );
                        // The sentence: every record at or below it was emitted.
                        for (id, cursor) in data.iter().enumerate() {
                            if let Some(c) = cursor
                                && c <= w
                                && wanted(c)
                            {
                                prop_assert!(
                                    committed.contains(&id),
                                    "sync {}: STATE {:?} claims record {} ({:?}), which was \
                                     not emitted",
                                    index,
                                    w,
                                    id,
                                    c
                                );
                            }
                        }
                    }
                    saved.clone_from(watermark);
                }
            }
        }
        if done {
            completed = true;
            break;
        }
        started += SYNC_GAP;
    }
    if !completed {
        // Persistent failures (a null cursor with `on_null = "fail"`, windows that cannot be
        // planned) never complete.
        prop_assert!(
            scenario.decl.on_null == OnNull::Fail && data.iter().any(Option::is_none)
                || unplannable,
            "the chain never completed"
        );
        return Ok(());
    }
    // No loss: everything wanted that existed before the last sync's cap was committed.
    let windowed = scenario.decl.step.is_some();
    for (id, cursor) in data.iter().enumerate() {
        let must = match cursor {
            Some(c) => wanted(c) && !(windowed && c.is_past(started)),
            // A record without a cursor is in every slice: sent whenever one is read (unless
            // it comes after the point a newest-first reader stops at).
            None => {
                scenario.decl.on_null == OnNull::Emit
                    && last_slices > 0
                    && !(scenario.decl.order == Order::Desc && scenario.stops)
            }
        };
        if must {
            prop_assert!(
                committed.contains(&id),
                "record {} ({:?}) was never delivered",
                id,
                cursor
            );
        }
    }
    Ok(())
}

/// Policies the attribute accepts for an order: a period goes with `checkpoint = "slice"`.
fn policy(order: Order) -> BoxedStrategy<CheckpointPolicy> {
    let period = prop::option::of(Just(Duration::from_secs(30)));
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
            (1_u64..5, period).prop_map(|(n, period)| CheckpointPolicy {
                interval: NonZeroU64::new(n),
                at: CheckpointAt::Slice,
                period,
            }),
        ]
        .boxed(),
    }
}

fn reader() -> impl Strategy<Value = Reader> {
    prop_oneof![
        Just(Reader::Exact),
        Just(Reader::Inclusive),
        Just(Reader::Everything)
    ]
}

/// Failure and cut positions for the first few syncs of a chain.
fn positions() -> impl Strategy<Value = Vec<Option<usize>>> {
    prop::collection::vec(prop::option::weighted(0.6, 0_usize..40), 0..4)
}

/// What varies with the cursor type: values, and how far `step` and `lookback` go.
struct Kind<C> {
    value: BoxedStrategy<C>,
    /// A `step`/`lookback` distance, when the type takes one.
    distance: Option<BoxedStrategy<Distance<C>>>,
    /// Whether records may have no cursor (`Option<T>` with `on_null`).
    nullable: bool,
}

/// Distances up to `max`, and `u64::MAX` when `huge` (past the range of the type's values,
/// or, for `u128`, so many windows that no plan would end).
fn integer_distance<C>(max: u64, huge: bool) -> BoxedStrategy<Distance<C>>
where
    C: Step<u64> + 'static,
{
    let huge = if huge { u64::MAX } else { max };
    prop_oneof![1..=max, Just(huge)]
        .prop_map(|n| Distance {
            text: n.to_string(),
            forward: Rc::new(move |origin: &C, index| origin.forward(&n, index)),
            back: Rc::new(move |w: &C| w.backward(&n)),
        })
        .boxed()
}

fn scenario<C: Cursor>(kind: Kind<C>) -> impl Strategy<Value = Scenario<C>> {
    let Kind {
        value,
        distance,
        nullable,
    } = kind;
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
    let distance = match distance {
        Some(distance) => prop::option::of(distance.clone())
            .prop_flat_map(move |step| (Just(step), prop::option::of(distance.clone())))
            .boxed(),
        None => Just((None, None)).boxed(),
    };
    let cursors = prop::collection::vec(cursor, 0..30);
    (
        order.prop_flat_map(move |order| (Just(order), policy(order))),
        on_null,
        distance,
        prop::option::of(value.clone()),
        cursors,
        prop::option::of(value.clone()),
        prop::option::of(value.clone()),
        prop::option::of(value),
        (reader(), any::<u64>(), positions(), positions()),
        (-60_i64..60, any::<bool>(), any::<u64>()),
    )
        .prop_map(
            |(
                (order, policy),
                on_null,
                (step, lookback),
                start,
                mut data,
                saved,
                runtime_start,
                end,
                (reader, shuffle, fails, cuts),
                (offset, stops, ticks),
            )| {
                if order != Order::Unsorted {
                    // Ascending (newest-first readers return it backwards), nulls where they
                    // fell.
                    let mut values: Vec<C> = data.iter().flatten().cloned().collect();
                    values.sort();
                    let mut sorted = values.into_iter();
                    for slot in data.iter_mut().filter(|slot| slot.is_some()) {
                        *slot = sorted.next();
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
                    shuffle,
                    ticks,
                    fails,
                    cuts,
                    started: epoch() + TimeDelta::seconds(offset),
                }
            },
        )
}

fn epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

fn u8s() -> Kind<u8> {
    Kind {
        value: prop_oneof![0_u8..6, 120_u8..126, 250_u8..=255].boxed(),
        distance: Some(integer_distance(300, true)),
        nullable: false,
    }
}

fn nullable_u8s() -> Kind<u8> {
    Kind {
        nullable: true,
        ..u8s()
    }
}

/// One region of `i64` per case (near the minimum, around zero, near the maximum), so that
/// windows of a few values stay few. `huge` adds a distance of `u64::MAX`: out of the type's
/// range below the minimum and around zero, but not from near the maximum, where it reaches
/// across the whole range in windows of a few values.
fn i64s(region: std::ops::RangeInclusive<i64>, huge: bool) -> Kind<i64> {
    Kind {
        value: region.boxed(),
        distance: Some(integer_distance(10, huge)),
        nullable: false,
    }
}

/// One region of `u128` per case: around 2^64 or near the maximum.
fn u128s(region: std::ops::RangeInclusive<u128>) -> Kind<u128> {
    Kind {
        value: region.boxed(),
        distance: Some(integer_distance(5, false)),
        nullable: false,
    }
}

fn pairs() -> Kind<(u8, u8)> {
    Kind {
        value: (0_u8..4, prop_oneof![0_u8..3, Just(255)]).boxed(),
        distance: None,
        nullable: false,
    }
}

/// Timestamps around the first sync's start, so the time cap cuts through the data.
fn timestamps() -> Kind<DateTime<Utc>> {
    Kind {
        value: (-90_i64..90)
            .prop_map(|seconds| epoch() + TimeDelta::seconds(seconds))
            .boxed(),
        distance: Some(
            (1_u64..40)
                .prop_map(|seconds| {
                    let period = Period::new(0, 0, seconds, 0);
                    Distance {
                        text: format!("PT{seconds}S"),
                        forward: Rc::new(move |origin: &DateTime<Utc>, index| {
                            origin.forward(&period, index)
                        }),
                        back: Rc::new(move |w: &DateTime<Utc>| w.backward(&period)),
                    }
                })
                .boxed(),
        ),
        nullable: false,
    }
}

/// A case of any cursor type.
#[derive(Debug, Clone)]
enum Any {
    U8(Scenario<u8>),
    I64(Scenario<i64>),
    U128(Scenario<u128>),
    Pair(Scenario<(u8, u8)>),
    Time(Scenario<DateTime<Utc>>),
}

fn any_scenario() -> impl Strategy<Value = Any> {
    prop_oneof![
        2 => scenario(u8s()).prop_map(Any::U8),
        1 => scenario(nullable_u8s()).prop_map(Any::U8),
        1 => scenario(i64s(i64::MIN..=i64::MIN + 8, true)).prop_map(Any::I64),
        1 => scenario(i64s(-4..=4, true)).prop_map(Any::I64),
        1 => scenario(i64s(i64::MAX - 8..=i64::MAX, false)).prop_map(Any::I64),
        1 => scenario(u128s((1 << 64) - 4..=(1 << 64) + 4)).prop_map(Any::U128),
        1 => scenario(u128s(u128::MAX - 6..=u128::MAX)).prop_map(Any::U128),
        1 => scenario(pairs()).prop_map(Any::Pair),
        2 => scenario(timestamps()).prop_map(Any::Time),
    ]
}

fn check_any(case: &Any) -> Result<(), TestCaseError> {
    match case {
        Any::U8(s) => check(s),
        Any::I64(s) => check(s),
        Any::U128(s) => check(s),
        Any::Pair(s) => check(s),
        Any::Time(s) => check(s),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// The sentence of the contract after every STATE, no loss and no re-sent committed record
    /// over every chain of cut, failed and resumed syncs.
    #[test]
    fn the_contract_holds_across_cuts_failures_and_resumes(case in any_scenario()) {
        check_any(&case)?;
    }

    /// A source that breaks the declared order: once the core sees it, nothing more is claimed,
    /// and what was claimed before it was true of the records seen so far.
    #[test]
    fn a_source_out_of_order_gets_no_state_after_the_violation(
        data in prop::collection::vec(0_u8..8, 2..20),
        interval in 1_u64..4,
        desc in any::<bool>(),
    ) {
        let (policy, order) = if desc {
            (CheckpointPolicy::SLICE, Order::Desc)
        } else {
            (CheckpointPolicy::every(interval), Order::Asc)
        };
        let decl = Decl::<u8> {
            policy,
            order,
            on_null: OnNull::Fail,
            step: None,
            lookback: None,
            start: None,
        };
        let mut core = Core::new(&decl, None, epoch(), ReaderBounds { start: None, end: None })
            .map_err(|error| TestCaseError::fail(format!("{error:?}")))?;
        prop_assert!(core.next_slice().is_some());
        let mut violated = false;
        for c in &data {
            match core.admit(Some(c)) {
                Ok(Admit::CheckpointThenEmit { .. }) => prop_assert!(!violated),
                Ok(_) => {}
                Err(Refusal::OutOfOrder { previous, next }) => {
                    let against_order = if desc { next > previous } else { next < previous };
                    prop_assert!(against_order);
                    violated = true;
                    break;
                }
                Err(Refusal::NullCursor) => prop_assert!(false, "no nulls here"),
            }
        }
        let sorted = data
            .windows(2)
            .all(|pair| if desc { pair[0] >= pair[1] } else { pair[0] <= pair[1] });
        prop_assert_eq!(violated, !sorted);
        if violated {
            prop_assert_eq!(core.fail(Failure::Stopped), None);
            prop_assert_eq!(core.slice_done(), None);
        }
    }

    /// A reader that reports its source out of order (before the core could see it) gets no
    /// failure state, wherever it stops.
    #[test]
    fn a_reader_reported_violation_claims_nothing(
        data in prop::collection::vec(0_u8..8, 0..20),
        stop in 0_usize..20,
    ) {
        let decl = Decl::<u8> {
            policy: CheckpointPolicy::SLICE,
            order: Order::Asc,
            on_null: OnNull::Fail,
            step: None,
            lookback: None,
            start: None,
        };
        let mut sorted = data;
        sorted.sort_unstable();
        let mut core = Core::new(&decl, Some(0), epoch(), ReaderBounds { start: None, end: None })
            .map_err(|error| TestCaseError::fail(format!("{error:?}")))?;
        prop_assert!(core.next_slice().is_some());
        for c in sorted.iter().take(stop) {
            prop_assert!(core.admit(Some(c)).is_ok());
        }
        prop_assert_eq!(core.fail(Failure::SourceOutOfOrder), None);
        prop_assert_eq!(core.watermark(), Some(&0));
    }
}
