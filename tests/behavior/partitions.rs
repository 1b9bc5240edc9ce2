//! Partitioned streams: one watermark per partition, partitions from a list or a parent stream,
//! partitions appearing and vanishing between syncs, the `max_partitions` fallback, each proved
//! with the crash matrix and a property test over chains of cut syncs.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Value, json};
use tidemark::protocol::TraceType;
use tidemark::testing::{self, CrashTest, Output, incremental_catalog};
use tidemark::{Error, Partitions, Reader, Sink, Slice, Source, Streams};

/// An issue of a repository: partitioned by `repo`, state at the end of each partition.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues",
    cursor = "c",
    partition = "repo",
    primary_key = ["repo", "id"]
)]
pub struct Issue {
    repo: String,
    id: u64,
    c: u64,
}

/// Issues with a state every 2 records inside a partition too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues_every_2",
    cursor = "c",
    partition = "repo",
    primary_key = ["repo", "id"],
    checkpoint_interval = 2
)]
pub struct IssueEvery2 {
    repo: String,
    id: u64,
    c: u64,
}

/// Issues with one state when the stream completes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues_at_end",
    cursor = "c",
    partition = "repo",
    primary_key = ["repo", "id"],
    checkpoint = "end"
)]
pub struct IssueAtEnd {
    repo: String,
    id: u64,
    c: u64,
}

/// Issues whose state tracks at most 2 repositories.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues_of_2",
    cursor = "c",
    partition = "repo",
    primary_key = ["repo", "id"],
    max_partitions = 2
)]
pub struct IssueOf2 {
    repo: String,
    id: u64,
    c: u64,
}

/// A repository: the parent of issue partitions, incremental on `pushed`, a state every record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "repositories",
    cursor = "pushed",
    primary_key = "name",
    checkpoint_interval = 1
)]
pub struct Repository {
    name: String,
    pushed: u64,
}

/// Builds each stream's record from a row.
pub trait Row: tidemark::IncrementalStream<Cursor = u64, Partition = String> + 'static {
    fn row(repo: &str, id: u64, c: u64) -> Self;
}

macro_rules! rows {
    ($($name:ident),*) => {$(
        impl Row for $name {
            fn row(repo: &str, id: u64, c: u64) -> Self {
                $name { repo: repo.to_owned(), id, c }
            }
        }
    )*};
}

rows!(Issue, IssueEvery2, IssueAtEnd, IssueOf2);

/// The data: each repository's issues as `(id, cursor)`, in ascending cursor order; the
/// repositories read, in order (`null`: every repository in `issues`, by name); a repository
/// whose reader fails after emitting `fail_after` records.
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
pub struct Data {
    issues: BTreeMap<String, Vec<(u64, u64)>>,
    #[serde(default)]
    read: Option<Vec<String>>,
    /// The repositories as parent records: `(name, pushed)`, in ascending `pushed` order.
    #[serde(default)]
    parents: Vec<(String, u64)>,
    #[serde(default)]
    fail: Option<(String, usize)>,
}

/// Reads one repository's issues after the slice's lower bound.
struct IssueReader<'d, T> {
    data: &'d Data,
    /// Repositories whose reader was asked for a slice, in order.
    asked: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
    record: std::marker::PhantomData<fn() -> T>,
}

impl<T: Row> Reader<T> for IssueReader<'_, T> {
    fn read(&mut self, slice: &Slice<T>, out: &mut Sink<T>) -> Result<(), Error> {
        let repo = slice.partition();
        self.asked.borrow_mut().push(repo.clone());
        let rows = self.data.issues.get(repo).map_or(&[][..], Vec::as_slice);
        for (emitted, &(id, c)) in rows.iter().filter(|(_, c)| slice.contains(c)).enumerate() {
            if let Some((failing, after)) = &self.data.fail
                && failing == repo
                && emitted == *after
            {
                return Err(Error::transient(format!("{repo} is unavailable")));
            }
            out.emit(&T::row(repo, id, c))?;
        }
        Ok(())
    }
}

/// A source with one partitioned stream of type `T`, partitions listed by the data.
struct Listed<T>(std::marker::PhantomData<fn() -> T>);

impl<T: Row> Listed<T> {
    fn new() -> Self {
        Listed(std::marker::PhantomData)
    }
}

impl<T: Row> Source for Listed<T> {
    const NAME: &'static str = "source-partitions";
    type Config = Data;

    fn streams<'a>(&'a self, data: &'a Data) -> Result<Streams<'a>, Error> {
        let repos = data
            .read
            .clone()
            .unwrap_or_else(|| data.issues.keys().cloned().collect());
        let reader = IssueReader::<T> {
            data,
            asked: std::rc::Rc::default(),
            record: std::marker::PhantomData,
        };
        Ok(Streams::new().partitioned(Partitions::list(repos), reader))
    }
}

/// A source whose issue partitions come from the `repositories` parent stream.
struct Parented;

impl Source for Parented {
    const NAME: &'static str = "source-parented";
    type Config = Data;

    fn streams<'a>(&'a self, data: &'a Data) -> Result<Streams<'a>, Error> {
        let parents = move |slice: &Slice<Repository>, out: &mut Sink<Repository>| {
            for (name, pushed) in &data.parents {
                if slice.contains(pushed) {
                    out.emit(&Repository {
                        name: name.clone(),
                        pushed: *pushed,
                    })?;
                }
            }
            Ok(())
        };
        let reader = IssueReader::<Issue> {
            data,
            asked: std::rc::Rc::default(),
            record: std::marker::PhantomData,
        };
        let partitions = Partitions::from_parent(parents, |repo: &Repository| repo.name.clone());
        Ok(Streams::new().partitioned(partitions, reader))
    }
}

fn read<S: Source<Config = Data>>(source: &S, data: &Value, state: Option<&Value>) -> Output {
    let catalog = incremental_catalog(source, data);
    testing::read(source, data, &catalog, state)
}

/// Each record as `repo:id`.
fn keys(output: &Output) -> Vec<String> {
    output
        .records()
        .iter()
        .map(|record| {
            format!(
                "{}:{}",
                record.data["repo"].as_str().unwrap_or("?"),
                record.data["id"]
            )
        })
        .collect()
}

/// The `stream_state` of the last STATE.
fn last_state(output: &Output) -> Value {
    let states = output.states();
    let last = states.last().expect("a STATE");
    serde_json::to_value(&last.stream.as_ref().expect("a stream state").stream_state)
        .expect("serializes")
}

/// The file a destination would pass back after this sync.
fn state_file(output: &Output) -> Value {
    output.state_file_at(output.states().len() - 1)
}

fn three_repos() -> Value {
    json!({"issues": {
        "a/x": [[1, 10], [2, 20], [3, 20]],
        "a/y": [[4, 5]],
        "b/z": [[5, 7], [6, 8]],
    }})
}

#[test]
fn each_partition_keeps_its_own_watermark() {
    let output = read(&Listed::<Issue>::new(), &three_repos(), None);
    assert_eq!(output.exit_code, 0, "{}", output.stdout);
    assert_eq!(
        keys(&output),
        ["a/x:1", "a/x:2", "a/x:3", "a/y:4", "b/z:5", "b/z:6"]
    );
    // A STATE after each partition and one at the end, each with the whole state.
    assert_eq!(output.states().len(), 4);
    assert_eq!(
        last_state(&output),
        json!({"states": [
            {"partition": "a/x", "cursor": {"c": 20}},
            {"partition": "a/y", "cursor": {"c": 5}},
            {"partition": "b/z", "cursor": {"c": 8}},
        ]})
    );
    // The next sync reads only what is past each partition's own watermark: a/y's new issue
    // at 6 is above a/y's watermark (5) though below a/x's (20).
    let mut data = three_repos();
    data["issues"]["a/y"] = json!([[4, 5], [7, 6]]);
    let next = read(&Listed::<Issue>::new(), &data, Some(&state_file(&output)));
    assert_eq!(keys(&next), ["a/y:7"]);
}

#[test]
fn partitions_appear_and_vanish_between_syncs_without_loss_or_re_reads() {
    let mut data = three_repos();
    data["read"] = json!(["a/x", "a/y"]);
    let first = read(&Listed::<Issue>::new(), &data, None);
    assert_eq!(keys(&first), ["a/x:1", "a/x:2", "a/x:3", "a/y:4"]);
    // a/x vanishes, b/z appears: b/z is read from its start, a/y resumes.
    data["read"] = json!(["a/y", "b/z"]);
    data["issues"]["a/y"] = json!([[4, 5], [7, 6]]);
    let second = read(&Listed::<Issue>::new(), &data, Some(&state_file(&first)));
    assert_eq!(keys(&second), ["a/y:7", "b/z:5", "b/z:6"]);
    // a/x's entry was kept: when it comes back it resumes where it was.
    data["read"] = json!(["a/x"]);
    data["issues"]["a/x"] = json!([[1, 10], [2, 20], [3, 20], [8, 21]]);
    let third = read(&Listed::<Issue>::new(), &data, Some(&state_file(&second)));
    assert_eq!(keys(&third), ["a/x:8"]);
    let state = last_state(&third);
    let partitions: Vec<&str> = state["states"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|entry| entry["partition"].as_str().expect("a name"))
        .collect();
    // Least recently read first.
    assert_eq!(partitions, ["a/y", "b/z", "a/x"]);
}

#[test]
fn past_the_limit_the_least_recently_read_partitions_are_read_again_from_their_start() {
    let data = three_repos();
    let first = read(&Listed::<IssueOf2>::new(), &data, None);
    assert_eq!(first.exit_code, 0, "{}", first.stdout);
    let state = last_state(&first);
    assert_eq!(state["states"].as_array().map(Vec::len), Some(2), "{state}");
    let logs: Vec<String> = first
        .messages
        .iter()
        .filter_map(|message| match message {
            tidemark::protocol::Message::Log { log } => Some(log.message.clone()),
            _ => None,
        })
        .collect();
    assert!(
        logs.iter()
            .any(|log| log.contains("partitions dropped from the state")),
        "{logs:?}"
    );
    // a/x was dropped: the next sync reads it again in full; the others resume, though
    // reading a/x first pushes them out of the live state before they are read.
    let second = read(&Listed::<IssueOf2>::new(), &data, Some(&state_file(&first)));
    assert_eq!(keys(&second), ["a/x:1", "a/x:2", "a/x:3"]);
    // Every sync re-reads the partitions the state could not keep, never the others.
    let third = read(
        &Listed::<IssueOf2>::new(),
        &data,
        Some(&state_file(&second)),
    );
    assert_eq!(keys(&third), ["a/x:1", "a/x:2", "a/x:3"]);
}

#[test]
fn a_record_of_another_partition_stops_the_stream() {
    struct Wrong;
    impl Source for Wrong {
        const NAME: &'static str = "source-wrong";
        type Config = Data;
        fn streams<'a>(&'a self, _: &'a Data) -> Result<Streams<'a>, Error> {
            Ok(Streams::new().partitioned(
                Partitions::list(["a".to_owned()]),
                |_: &Slice<Issue>, out: &mut Sink<Issue>| out.emit(&Issue::row("b", 1, 1)),
            ))
        }
    }
    let output = read(&Wrong, &json!({"issues": {}}), None);
    assert_eq!(output.exit_code, 1);
    let errors = output.traces(TraceType::Error);
    let message = &errors[0].error.as_ref().expect("an error").message;
    assert!(
        message.contains("partition \"b\"") && message.contains("\"a\""),
        "{message}"
    );
    assert!(output.records().is_empty());
}

#[test]
fn a_failing_partition_keeps_the_partitions_read_before_it() {
    let mut data = three_repos();
    data["fail"] = json!(["a/y", 0]);
    let output = read(&Listed::<IssueEvery2>::new(), &data, None);
    assert_eq!(output.exit_code, 1);
    assert_eq!(
        last_state(&output),
        json!({"states": [{"partition": "a/x", "cursor": {"c": 20}}]})
    );
}

#[test]
fn a_state_saved_before_the_stream_was_partitioned_is_an_error_not_a_full_re_read() {
    let state = json!([{"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "issues"},
        "stream_state": {"c": 5},
    }}]);
    let output = read(&Listed::<Issue>::new(), &three_repos(), Some(&state));
    assert_eq!(output.exit_code, 1);
    assert!(output.records().is_empty());
    let errors = output.traces(TraceType::Error);
    let message = &errors[0].error.as_ref().expect("an error").message;
    assert!(message.contains("partitioned"), "{message}");
}

/// The crash matrix over every cut of a read of `data`.
fn crash<T: Row>(data: &Value) {
    let source = Listed::<T>::new();
    let catalog = incremental_catalog(&source, data);
    let report = CrashTest::new(&source, data, &catalog).assert();
    assert_eq!(report.cuts, report.messages);
}

#[test]
fn the_crash_matrix_holds_for_every_policy_and_the_limit() {
    let data = json!({"issues": {
        "a": [[1, 1], [2, 2], [3, 2], [4, 5]],
        "b": [],
        "c": [[5, 1], [6, 1], [7, 3]],
        "d": [[8, 9]],
    }});
    crash::<Issue>(&data);
    crash::<IssueEvery2>(&data);
    crash::<IssueAtEnd>(&data);
    crash::<IssueOf2>(&data);
}

#[test]
fn a_parent_state_moves_only_past_parents_whose_partitions_were_read() {
    let data = json!({
        "issues": {"r1": [[1, 1], [2, 2]], "r2": [[3, 1]], "r3": [[4, 4], [5, 5]]},
        "parents": [["r1", 10], ["r2", 20], ["r3", 30]],
        "fail": ["r3", 1],
    });
    let output = read(&Parented, &data, None);
    assert_eq!(output.exit_code, 1);
    // r3 failed after its first record: the parent state stays at r2 (pushed 20), so r3 is
    // read again; r3 has no watermark yet (a failure claims only values below the last
    // emitted one, which may have had ties), so its first record is sent again.
    let state = last_state(&output);
    assert_eq!(
        state["parent_state"],
        json!({"repositories": {"pushed": 20}}),
        "{state}"
    );
    let mut data = data;
    data["fail"] = Value::Null;
    let next = read(&Parented, &data, Some(&state_file(&output)));
    assert_eq!(keys(&next), ["r3:4", "r3:5"]);
    assert_eq!(
        last_state(&next)["parent_state"],
        json!({"repositories": {"pushed": 30}})
    );
    // Once the parents' state passed them, unchanged repositories are not read again.
    let again = read(&Parented, &data, Some(&state_file(&next)));
    assert!(keys(&again).is_empty());
}

#[test]
fn the_crash_matrix_holds_for_partitions_from_a_parent() {
    let data = json!({
        "issues": {"r1": [[1, 1], [2, 2]], "r2": [[3, 1]], "r3": [[4, 4], [5, 5]], "r4": []},
        "parents": [["r1", 10], ["r2", 20], ["r2", 20], ["r3", 20], ["r4", 30]],
    });
    let catalog = incremental_catalog(&Parented, &data);
    let report = CrashTest::new(&Parented, &data, &catalog).assert();
    assert_eq!(report.cuts, report.messages);
}

/// One sync of a property case: the repositories it lists and where its output is cut.
#[derive(Debug, Clone)]
struct Step {
    read: Vec<String>,
    cut: Option<usize>,
}

fn repo_name(index: u8) -> String {
    format!("r{index}")
}

prop_compose! {
    fn issues()(rows in proptest::collection::vec((0_u64..6, 1_u8..4), 0..8))
        -> BTreeMap<String, Vec<(u64, u64)>> {
        // Cursors ascending per repository, ties included; ids unique.
        let mut by_repo: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for (index, (c, repo)) in rows.into_iter().enumerate() {
            by_repo.entry(repo_name(repo)).or_default().push((index as u64, c));
        }
        for rows in by_repo.values_mut() {
            rows.sort_by_key(|&(id, c)| (c, id));
        }
        by_repo
    }
}

prop_compose! {
    fn step()(read in proptest::sample::subsequence(vec![1_u8, 2, 3], 0..=3),
              shuffle in any::<bool>(), cut in proptest::option::of(0_usize..30)) -> Step {
        let mut read: Vec<String> = read.into_iter().map(repo_name).collect();
        if shuffle {
            read.reverse();
        }
        Step { read, cut }
    }
}

/// Runs the steps as a chain of syncs, each from the state the previous one left (cut syncs
/// commit up to their last STATE), and checks: every record of a repository listed by a sync
/// that completed was committed by then; no committed record is committed again unless its
/// repository had no entry in a full state.
fn check_chain<T: Row>(data: &BTreeMap<String, Vec<(u64, u64)>>, steps: &[Step]) {
    let source = Listed::<T>::new();
    let mut state: Option<Value> = None;
    let mut committed: BTreeSet<(String, u64)> = BTreeSet::new();
    for step in steps {
        let config = json!({"issues": data, "read": step.read});
        let output = read(&source, &config, state.as_ref());
        assert_eq!(output.exit_code, 0, "{}", output.stdout);
        let end = step
            .cut
            .map_or(output.messages.len(), |cut| cut.min(output.messages.len()));
        let resumed: Option<&Value> = state.as_ref();
        let resumed_entries: BTreeSet<String> = resumed
            .and_then(|file| {
                file[0]["stream"]["stream_state"]["states"]
                    .as_array()
                    .cloned()
            })
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| entry["partition"].as_str().map(str::to_owned))
            .collect();
        let full = resumed_entries.len() >= T::MAX_PARTITIONS;
        let mut pending = Vec::new();
        let mut states = 0;
        for message in output.messages.iter().take(end) {
            match message {
                tidemark::protocol::Message::Record { record } => pending.push((
                    record.data["repo"].as_str().expect("a repo").to_owned(),
                    record.data["id"].as_u64().expect("an id"),
                )),
                tidemark::protocol::Message::State { .. } => {
                    for key in pending.drain(..) {
                        let dropped = full && !resumed_entries.contains(&key.0);
                        assert!(
                            committed.insert(key.clone()) || dropped,
                            "{key:?} committed twice; steps {steps:?}"
                        );
                    }
                    states += 1;
                }
                _ => {}
            }
        }
        if states > 0 {
            state = Some(output.state_file_at(states - 1));
        }
        if step.cut.is_none() {
            for repo in &step.read {
                for &(id, _) in data.get(repo).map_or(&[][..], Vec::as_slice) {
                    assert!(
                        committed.contains(&(repo.clone(), id)),
                        "{repo}:{id} lost; steps {steps:?}"
                    );
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn chains_of_cut_syncs_with_changing_partitions_lose_nothing(
        data in issues(),
        steps in proptest::collection::vec(step(), 1..5),
    ) {
        check_chain::<Issue>(&data, &steps);
        check_chain::<IssueEvery2>(&data, &steps);
        check_chain::<IssueAtEnd>(&data, &steps);
        check_chain::<IssueOf2>(&data, &steps);
    }
}

prop_compose! {
    /// Parent repositories `r1..r4` in ascending `pushed` order (ties included), some listed
    /// twice, and each repository's issues.
    fn parented()(pushed in proptest::collection::vec((1_u8..5, 0_u64..4), 0..6), data in issues())
        -> Value {
        let mut parents: Vec<(String, u64)> = pushed
            .into_iter()
            .map(|(repo, pushed)| (repo_name(repo), pushed))
            .collect();
        parents.sort_by_key(|(name, pushed)| (*pushed, name.clone()));
        json!({"issues": data, "parents": parents})
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn partitions_from_a_parent_keep_the_contract_at_every_cut(data in parented()) {
        let catalog = incremental_catalog(&Parented, &data);
        CrashTest::new(&Parented, &data, &catalog).assert();
    }
}

#[test]
fn a_saved_state_over_the_limit_is_read_in_full_before_it_is_trimmed() {
    // Saved with a higher limit (or by the CDK): three partitions for a limit of two. Each is
    // read from its saved watermark; only the state written next keeps two.
    let data = json!({"issues": {"r0": [[1, 1], [2, 5]], "r1": [[3, 2]], "r2": [[5, 3]]}});
    let state = json!([{"type": "STREAM", "stream": {
        "stream_descriptor": {"name": "issues_of_2"},
        "stream_state": {"states": [
            {"partition": "r0", "cursor": {"c": 1}},
            {"partition": "r1", "cursor": {"c": 2}},
            {"partition": "r2", "cursor": {"c": 3}},
        ]},
    }}]);
    let output = read(&Listed::<IssueOf2>::new(), &data, Some(&state));
    assert_eq!(keys(&output), ["r0:2"]);
    assert_eq!(
        last_state(&output)["states"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_sync_with_nothing_new_emits_only_its_final_state() {
    let first = read(&Listed::<Issue>::new(), &three_repos(), None);
    let again = read(
        &Listed::<Issue>::new(),
        &three_repos(),
        Some(&state_file(&first)),
    );
    assert!(keys(&again).is_empty());
    assert_eq!(again.states().len(), 1, "{}", again.stdout);
    // Parents too: an unchanged parent does not repeat its state.
    let data =
        json!({"issues": {"r1": [[1, 1]], "r2": [[2, 2]]}, "parents": [["r1", 1], ["r2", 2]]});
    let first = read(&Parented, &data, None);
    let again = read(&Parented, &data, Some(&state_file(&first)));
    assert_eq!(again.states().len(), 1, "{}", again.stdout);
}

#[test]
fn checkpoint_end_emits_no_state_when_a_partition_fails() {
    let data = json!({"issues": {"r0": [[1, 1]], "r1": [[2, 2]]}, "fail": ["r1", 0]});
    let output = read(&Listed::<IssueAtEnd>::new(), &data, None);
    assert_eq!(output.exit_code, 1);
    assert!(output.states().is_empty(), "{}", output.stdout);
}
