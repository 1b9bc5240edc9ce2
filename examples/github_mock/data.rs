//! The data set: repositories, issues, comments and events generated from the flags alone, and
//! the changes `POST /_mock/touch` makes to it.
//!
//! Times are whole seconds since [`ORIGIN_UNIX`] (2023-01-01T00:00:00Z), kept as `u32`. Each
//! issue and comment is a few integers; its JSON (title, body, user, URLs) is generated from
//! `(seed, repository, number)` when a page is written, so 640,000 issues cost about 16 MB.

use std::fmt::Write as _;

use serde_json::{Value, json};

/// 2023-01-01T00:00:00Z as Unix seconds: time 0 of the data set.
pub const ORIGIN_UNIX: i64 = 1_672_531_200;
const DAY: u32 = 86_400;
/// 2024-01-01T00:00:00Z: issues are created from here on.
const DATA_START: u32 = 365 * DAY;
/// Issues are created over the 366 days of 2024.
const CREATION_SPAN: u32 = 366 * DAY;
/// An issue is last updated up to 30 days after it was created.
const UPDATE_DELAY: u32 = 30 * DAY;
/// A comment is written up to 10 days after its issue was created.
const COMMENT_DELAY: u32 = 10 * DAY;
/// An edited comment was edited up to 5 days after it was written.
const EDIT_DELAY: u32 = 5 * DAY;
/// 2025-06-01T00:00:00Z: the first change made by `touch` happens one second after this, later
/// than every generated time.
pub const CHANGE_START: u32 = (365 + 517) * DAY;

const REPO_BASE: u64 = 700_000_000;
const ISSUE_BASE: u64 = 1_000_000_000;
const COMMENT_BASE: u64 = 3_000_000_000;
const EVENT_BASE: u64 = 20_000_000_000;
const USER_BASE: u64 = 9_000_000;

/// The largest issue, comment and event counts the mock accepts in total, to keep its memory
/// within a few hundred MB.
pub const MAX_ITEMS: u64 = 10_000_000;

/// What the data set is made of: every byte the API serves is a function of these values and
/// of the `touch` calls made so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The owner of every repository (`--org`).
    pub org: String,
    /// Number of repositories (`--repos`).
    pub repos: u32,
    /// Issues in each repository (`--issues-per-repo`).
    pub issues_per_repo: u32,
    /// Comments on each issue (`--comments-per-issue`).
    pub comments_per_issue: u32,
    /// Events in each repository (`--events-per-repo`).
    pub events_per_repo: u32,
    /// Varies titles, users and times (`--seed`).
    pub seed: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            org: "acme".to_owned(),
            repos: 4,
            issues_per_repo: 1000,
            comments_per_issue: 2,
            events_per_repo: 300,
            seed: 0,
        }
    }
}

impl Shape {
    /// Checks the counts: at least one repository, and at most `MAX_ITEMS` (10,000,000)
    /// issues, comments and events in total.
    pub fn check(&self) -> Result<(), String> {
        if self.repos == 0 {
            return Err("--repos must be at least 1".to_owned());
        }
        let repos = u64::from(self.repos);
        let issues = repos * u64::from(self.issues_per_repo);
        let comments = issues * u64::from(self.comments_per_issue);
        let events = repos * u64::from(self.events_per_repo);
        for (what, count) in [
            ("issues", issues),
            ("comments", comments),
            ("events", events),
        ] {
            if count > MAX_ITEMS {
                return Err(format!(
                    "{count} {what} in total is more than the {MAX_ITEMS} the mock holds"
                ));
            }
        }
        Ok(())
    }
}

/// The order of a listing (`sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// By `created_at`, then id (issue and comment ids grow with `created_at`).
    Created,
    /// By `updated_at`, then id.
    Updated,
}

/// Which issues a listing holds (`state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    /// Open issues only (GitHub's default).
    Open,
    /// Closed issues only.
    Closed,
    /// Every issue.
    All,
}

/// What a listing of issues or comments asks for.
#[derive(Debug, Clone, Copy)]
pub struct Listing {
    /// The order.
    pub sort: Sort,
    /// Newest first when true.
    pub descending: bool,
    /// Keep only items with `updated_at >=` this time (in data-set seconds).
    pub since: Option<u32>,
    /// Issues only: which states.
    pub state: StateFilter,
    /// The page, from 1.
    pub page: u32,
    /// Items per page, 1 to 100.
    pub per_page: u32,
}

/// A page of JSON written by the store.
pub struct Page {
    /// The JSON array.
    pub body: Vec<u8>,
    /// How many items the whole listing holds (every page).
    pub total: usize,
    /// How many items this page holds.
    pub count: usize,
}

#[derive(Debug, Clone, Copy)]
struct Issue {
    created: u32,
    updated: u32,
    closed: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Comment {
    id: u64,
    /// Index of the issue (number - 1).
    issue: u32,
    created: u32,
    updated: u32,
    /// How many times `touch` edited it.
    edits: u32,
}

#[derive(Debug, Clone, Copy)]
struct Event {
    id: u64,
    created: u32,
    kind: usize,
    /// Index of the issue it is about.
    issue: u32,
}

struct Repo {
    name: String,
    full_name: String,
    issues: Vec<Issue>,
    /// Issue indexes by `(updated_at, id)`.
    issues_by_updated: Vec<u32>,
    /// Comments by `(created_at, id)`, which is id order.
    comments: Vec<Comment>,
    /// Comment positions by `(updated_at, id)`.
    comments_by_updated: Vec<u32>,
    /// Events appended by `touch`, oldest first.
    added_events: Vec<Event>,
}

/// The data set, generated by [`Store::new`] and changed by [`Store::touch`].
pub struct Store {
    shape: Shape,
    repos: Vec<Repo>,
    /// The time of the last change.
    clock: u32,
    issues_touched: u64,
    comments_added: u64,
    comments_edited: u64,
    events_added: u64,
}

/// splitmix64's finaliser: a well-mixed 64-bit value of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A pseudo-random value for `parts` under `seed`.
fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(seed), |acc, &part| mix(acc ^ part))
}

/// `hash` reduced below `bound` (which is at most `u32::MAX`); 0 when `bound` is 0.
fn below(seed: u64, parts: &[u64], bound: u32) -> u32 {
    if bound == 0 {
        return 0;
    }
    u32::try_from(hash(seed, parts) % u64::from(bound)).unwrap_or(0)
}

/// A step coprime with `n`, so that `i * step % n` visits every value below `n` once.
fn coprime_step(n: u64) -> u64 {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    [7919, 7907, 7901, 7883, 7879]
        .into_iter()
        .find(|&p| gcd(p, n) == 1)
        .unwrap_or(1)
}

/// Salts for [`hash`], one per generated value.
mod salt {
    pub const CREATED: u64 = 1;
    pub const UPDATED: u64 = 2;
    pub const TIE: u64 = 3;
    pub const CLOSED: u64 = 4;
    pub const TITLE: u64 = 5;
    pub const USER: u64 = 6;
    pub const LABEL: u64 = 7;
    pub const COMMENT: u64 = 8;
    pub const EDIT: u64 = 9;
    pub const EVENT: u64 = 10;
    pub const REPO: u64 = 11;
}

impl Store {
    /// Generates the data set of `shape` (checked with [`Shape::check`] first).
    pub fn new(shape: Shape) -> Result<Store, String> {
        shape.check()?;
        let repos = (0..shape.repos).map(|r| generate_repo(&shape, r)).collect();
        Ok(Store {
            shape,
            repos,
            clock: CHANGE_START,
            issues_touched: 0,
            comments_added: 0,
            comments_edited: 0,
            events_added: 0,
        })
    }

    /// The shape the data set was generated from.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The index of the repository `owner/name` (ASCII case ignored, as GitHub does).
    pub fn find_repo(&self, owner: &str, name: &str) -> Option<usize> {
        if !owner.eq_ignore_ascii_case(&self.shape.org) {
            return None;
        }
        let number: usize = name.get(5..)?.parse().ok()?;
        let index = number.checked_sub(1)?;
        let repo = self.repos.get(index)?;
        repo.name.eq_ignore_ascii_case(name).then_some(index)
    }

    /// A page of repositories, ordered by `sort` (`full_name`, `created`, `updated` or
    /// `pushed`), then by id.
    pub fn repos_page(&self, sort: RepoSort, descending: bool, page: u32, per_page: u32) -> Page {
        let mut order: Vec<u32> = (0..self.shape.repos).collect();
        order.sort_by_key(|&r| {
            let (created, updated, pushed) = repo_times(&self.shape, r);
            let key = match sort {
                RepoSort::FullName => r,
                RepoSort::Created => created,
                RepoSort::Updated => updated,
                RepoSort::Pushed => pushed,
            };
            (key, r)
        });
        if descending {
            order.reverse();
        }
        let (picked, total) = window(order.len(), |i| order[i], page, per_page);
        let mut body = Vec::with_capacity(picked.len() * 700 + 2);
        body.push(b'[');
        for (i, &r) in picked.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            self.write_repo(&mut body, r);
        }
        body.push(b']');
        Page {
            body,
            total,
            count: picked.len(),
        }
    }

    /// Repository `repo` alone, as a JSON object.
    pub fn repo(&self, repo: usize) -> Page {
        let mut body = Vec::with_capacity(700);
        self.write_repo(&mut body, u32::try_from(repo).unwrap_or(u32::MAX));
        Page {
            body,
            total: 1,
            count: 1,
        }
    }

    /// A page of the issues of repository `repo` (an index from [`Store::find_repo`]).
    pub fn issues_page(&self, repo: usize, listing: &Listing) -> Page {
        let data = &self.repos[repo];
        let issues = &data.issues;
        let keep_state = |k: u32| {
            let closed = issues[k as usize].closed.is_some();
            match listing.state {
                StateFilter::All => true,
                StateFilter::Open => !closed,
                StateFilter::Closed => closed,
            }
        };
        let since = listing.since.unwrap_or(0);
        let all_states = listing.state == StateFilter::All;
        let (picked, total) = match listing.sort {
            Sort::Updated => {
                let from = data
                    .issues_by_updated
                    .partition_point(|&k| issues[k as usize].updated < since);
                let order = Order::Slice(&data.issues_by_updated[from..]);
                select(order, listing, (!all_states).then_some(&keep_state))
            }
            Sort::Created => {
                let keep = |k: u32| keep_state(k) && issues[k as usize].updated >= since;
                let filtered = listing.since.is_some() || !all_states;
                let order = Order::Natural(issues.len());
                select(order, listing, filtered.then_some(&keep))
            }
        };
        let mut body = Vec::with_capacity(picked.len() * 640 + 2);
        body.push(b'[');
        for (i, &k) in picked.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            self.write_issue(&mut body, repo, k);
        }
        body.push(b']');
        Page {
            body,
            total,
            count: picked.len(),
        }
    }

    /// A page of the comments of repository `repo`; `listing.state` is not used.
    pub fn comments_page(&self, repo: usize, listing: &Listing) -> Page {
        let data = &self.repos[repo];
        let comments = &data.comments;
        let since = listing.since.unwrap_or(0);
        let (picked, total) = match listing.sort {
            Sort::Updated => {
                let from = data
                    .comments_by_updated
                    .partition_point(|&c| comments[c as usize].updated < since);
                let order = Order::Slice(&data.comments_by_updated[from..]);
                select(order, listing, None::<&fn(u32) -> bool>)
            }
            Sort::Created => {
                let keep = |c: u32| comments[c as usize].updated >= since;
                let order = Order::Natural(comments.len());
                select(order, listing, listing.since.is_some().then_some(&keep))
            }
        };
        let mut body = Vec::with_capacity(picked.len() * 640 + 2);
        body.push(b'[');
        for (i, &c) in picked.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            self.write_comment(&mut body, repo, &comments[c as usize]);
        }
        body.push(b']');
        Page {
            body,
            total,
            count: picked.len(),
        }
    }

    /// A page of the events of repository `repo`, newest first (by `created_at`, then id).
    pub fn events_page(&self, repo: usize, page: u32, per_page: u32) -> Page {
        let data = &self.repos[repo];
        let added = data.added_events.len();
        let generated = self.shape.events_per_repo as usize;
        // Position i counts from the newest: the added events (newest last in the vector),
        // then the generated ones from the last.
        let (picked, total) = window(
            added + generated,
            |i| u32::try_from(i).unwrap_or(u32::MAX),
            page,
            per_page,
        );
        let mut body = Vec::with_capacity(picked.len() * 480 + 2);
        body.push(b'[');
        for (n, &i) in picked.iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            let i = i as usize;
            let event = if i < added {
                data.added_events[added - 1 - i]
            } else {
                let k = u32::try_from(generated - 1 - (i - added)).unwrap_or(0);
                self.generated_event(repo, k)
            };
            self.write_event(&mut body, repo, &event);
        }
        body.push(b']');
        Page {
            body,
            total,
            count: picked.len(),
        }
    }

    /// Changes the data set: moves `issues` issues to a new `updated_at` (and opens a closed
    /// one or closes an open one), adds `comments` comments, edits `comment_edits` comments
    /// and appends `events` events. Every change takes the next second of the mock's clock,
    /// which starts at 2025-06-01T00:00:00Z, so changed items are newer than every generated
    /// one and than every earlier change. Repositories are taken in turn; within one, issues
    /// (and comments to edit, while none is added) are picked in a fixed order that visits
    /// each before repeating one.
    /// Returns what changed, as JSON.
    pub fn touch(&mut self, issues: u32, comments: u32, comment_edits: u32, events: u32) -> Value {
        let touched: Vec<Value> = (0..issues).map_while(|_| self.touch_issue()).collect();
        let mut changed: Vec<Value> = (0..comments).map_while(|_| self.add_comment()).collect();
        changed.extend((0..comment_edits).map_while(|_| self.edit_comment()));
        let appended: Vec<Value> = (0..events).map(|_| self.append_event()).collect();
        json!({"issues": touched, "comments": changed, "events": appended})
    }

    /// The next second of the mock's clock.
    fn tick(&mut self) -> u32 {
        self.clock = self.clock.saturating_add(1);
        self.clock
    }

    /// The repository and the item for change number `seq` of a kind: repositories in turn,
    /// and in each, the items below `count` in an order that visits every one before any
    /// twice.
    fn pick(&self, seq: u64, count: u64) -> (usize, usize) {
        let repos = u64::from(self.shape.repos);
        let repo = usize::try_from(seq % repos).unwrap_or(0);
        let item = (seq / repos) % count.max(1) * coprime_step(count) % count.max(1);
        (repo, usize::try_from(item).unwrap_or(0))
    }

    /// Moves the next issue to the clock's next second, and flips its state.
    fn touch_issue(&mut self) -> Option<Value> {
        let per_repo = u64::from(self.shape.issues_per_repo);
        if per_repo == 0 {
            return None;
        }
        let (r, k) = self.pick(self.issues_touched, per_repo);
        self.issues_touched += 1;
        let now = self.tick();
        let data = &mut self.repos[r];
        let issue = &mut data.issues[k];
        issue.updated = now;
        issue.closed = if issue.closed.is_some() {
            None
        } else {
            Some(now)
        };
        let closed = issue.closed.is_some();
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        // The issue is now the most recently updated one: it moves to the end.
        data.issues_by_updated.retain(|&other| other != k);
        data.issues_by_updated.push(k);
        Some(json!({
            "repo": data.full_name,
            "id": issue_id(&self.shape, r, k),
            "number": k + 1,
            "state": if closed { "closed" } else { "open" },
            "updated_at": format_time(now),
        }))
    }

    /// Adds a comment, at the clock's next second, to the next issue.
    fn add_comment(&mut self) -> Option<Value> {
        let per_repo = u64::from(self.shape.issues_per_repo);
        if per_repo == 0 {
            return None;
        }
        let seq = self.comments_added;
        let (r, k) = self.pick(seq, per_repo);
        self.comments_added += 1;
        let now = self.tick();
        let generated =
            per_repo * u64::from(self.shape.comments_per_issue) * u64::from(self.shape.repos);
        let comment = Comment {
            id: COMMENT_BASE + generated + seq,
            issue: u32::try_from(k).unwrap_or(u32::MAX),
            created: now,
            updated: now,
            edits: 0,
        };
        let data = &mut self.repos[r];
        let position = u32::try_from(data.comments.len()).unwrap_or(u32::MAX);
        data.comments.push(comment);
        data.comments_by_updated.push(position);
        Some(comment_json(&data.full_name, &comment, true))
    }

    /// Edits the next comment at the clock's next second.
    fn edit_comment(&mut self) -> Option<Value> {
        let seq = self.comments_edited;
        let repos = u64::from(self.shape.repos);
        let count = self.repos[usize::try_from(seq % repos).unwrap_or(0)]
            .comments
            .len() as u64;
        if count == 0 {
            return None;
        }
        let (r, c) = self.pick(seq, count);
        self.comments_edited += 1;
        let now = self.tick();
        let data = &mut self.repos[r];
        let comment = &mut data.comments[c];
        comment.updated = now;
        comment.edits = comment.edits.saturating_add(1);
        let comment = *comment;
        let position = u32::try_from(c).unwrap_or(u32::MAX);
        data.comments_by_updated.retain(|&other| other != position);
        data.comments_by_updated.push(position);
        Some(comment_json(&data.full_name, &comment, false))
    }

    /// Appends an event, at the clock's next second, to the next repository.
    fn append_event(&mut self) -> Value {
        let seq = self.events_added;
        let (r, _) = self.pick(seq, 1);
        self.events_added += 1;
        let event = Event {
            id: EVENT_BASE
                + u64::from(self.shape.events_per_repo) * u64::from(self.shape.repos)
                + seq,
            created: self.tick(),
            kind: usize::try_from(seq % EVENT_KINDS.len() as u64).unwrap_or(0),
            issue: below(
                self.shape.seed,
                &[salt::EVENT, seq, 1],
                self.shape.issues_per_repo,
            ),
        };
        let data = &mut self.repos[r];
        data.added_events.push(event);
        json!({
            "repo": data.full_name,
            "id": event.id.to_string(),
            "type": EVENT_KINDS[event.kind].0,
            "created_at": format_time(event.created),
        })
    }

    fn generated_event(&self, repo: usize, k: u32) -> Event {
        let shape = &self.shape;
        let r = repo as u64;
        let step = CREATION_SPAN / shape.events_per_repo.max(1);
        let seed = shape.seed;
        Event {
            id: EVENT_BASE + u64::from(k) * u64::from(shape.repos) + r,
            created: DATA_START + k * step + below(seed, &[salt::EVENT, r, u64::from(k), 0], step),
            kind: below(seed, &[salt::EVENT, r, u64::from(k), 1], 1000) as usize
                % EVENT_KINDS.len(),
            issue: below(
                seed,
                &[salt::EVENT, r, u64::from(k), 2],
                shape.issues_per_repo,
            ),
        }
    }

    fn write_repo(&self, out: &mut Vec<u8>, r: u32) {
        let shape = &self.shape;
        let data = &self.repos[r as usize];
        let (created, updated, pushed) = repo_times(shape, r);
        let language = LANGUAGES
            [below(shape.seed, &[salt::REPO, u64::from(r), 3], 1000) as usize % LANGUAGES.len()];
        raw(out, "{\"id\":");
        number(out, REPO_BASE + u64::from(r));
        raw(out, ",\"name\":");
        string(out, &data.name);
        raw(out, ",\"full_name\":");
        string(out, &data.full_name);
        raw(out, ",\"private\":false,\"owner\":{\"login\":");
        string(out, &shape.org);
        raw(out, ",\"id\":");
        number(out, USER_BASE - 1);
        raw(out, ",\"type\":\"Organization\"},\"html_url\":");
        string(out, &format!("https://github.com/{}", data.full_name));
        raw(out, ",\"description\":");
        string(out, &format!("The {} service, in {language}", data.name));
        raw(out, ",\"fork\":false,\"url\":");
        string(
            out,
            &format!("https://api.github.com/repos/{}", data.full_name),
        );
        raw(out, ",\"created_at\":");
        time(out, created);
        raw(out, ",\"updated_at\":");
        time(out, updated);
        raw(out, ",\"pushed_at\":");
        time(out, pushed);
        raw(out, ",\"language\":");
        string(out, language);
        raw(out, ",\"stargazers_count\":");
        number(
            out,
            u64::from(below(shape.seed, &[salt::REPO, u64::from(r), 4], 5000)),
        );
        raw(
            out,
            ",\"default_branch\":\"main\",\"visibility\":\"public\",\"archived\":false}",
        );
    }

    fn write_issue(&self, out: &mut Vec<u8>, repo: usize, k: u32) {
        let shape = &self.shape;
        let data = &self.repos[repo];
        let issue = &data.issues[k as usize];
        let r = repo as u64;
        let key = u64::from(k);
        let word = |part: u64, len: usize| {
            below(shape.seed, &[salt::TITLE, r, key, part], 1 << 20) as usize % len
        };
        let user = below(shape.seed, &[salt::USER, r, key], 400);
        let label = below(shape.seed, &[salt::LABEL, r, key], 1000) as usize % (LABELS.len() + 3);
        raw(out, "{\"url\":\"https://api.github.com/repos/");
        raw(out, &data.full_name);
        raw(out, "/issues/");
        number(out, key + 1);
        raw(out, "\",\"html_url\":\"https://github.com/");
        raw(out, &data.full_name);
        raw(out, "/issues/");
        number(out, key + 1);
        raw(out, "\",\"id\":");
        number(out, issue_id(shape, repo, k));
        raw(out, ",\"number\":");
        number(out, key + 1);
        raw(out, ",\"title\":\"");
        raw(out, ACTIONS[word(0, ACTIONS.len())]);
        out.push(b' ');
        raw(out, SUBJECTS[word(1, SUBJECTS.len())]);
        out.push(b' ');
        raw(out, CONTEXTS[word(2, CONTEXTS.len())]);
        raw(out, "\",\"user\":");
        write_user(out, user);
        raw(out, ",\"labels\":[");
        if let Some(name) = LABELS.get(label) {
            raw(out, "{\"name\":\"");
            raw(out, name);
            raw(out, "\"}");
        }
        raw(out, "],\"state\":");
        raw(
            out,
            if issue.closed.is_some() {
                "\"closed\""
            } else {
                "\"open\""
            },
        );
        raw(out, ",\"locked\":false,\"created_at\":");
        time(out, issue.created);
        raw(out, ",\"updated_at\":");
        time(out, issue.updated);
        raw(out, ",\"closed_at\":");
        match issue.closed {
            Some(closed) => time(out, closed),
            None => raw(out, "null"),
        }
        raw(out, ",\"author_association\":\"");
        raw(out, ASSOCIATIONS[user as usize % ASSOCIATIONS.len()]);
        raw(out, "\",\"body\":\"Seen with ");
        raw(out, SUBJECTS[word(3, SUBJECTS.len())]);
        out.push(b' ');
        raw(out, CONTEXTS[word(4, CONTEXTS.len())]);
        raw(out, " in build ");
        number(
            out,
            1000 + u64::from(below(shape.seed, &[salt::TITLE, r, key, 5], 9000)),
        );
        raw(out, ".\"}");
    }

    fn write_comment(&self, out: &mut Vec<u8>, repo: usize, comment: &Comment) {
        let shape = &self.shape;
        let data = &self.repos[repo];
        let user = below(shape.seed, &[salt::USER, comment.id], 400);
        let issue = u64::from(comment.issue) + 1;
        raw(out, "{\"url\":\"https://api.github.com/repos/");
        raw(out, &data.full_name);
        raw(out, "/issues/comments/");
        number(out, comment.id);
        raw(out, "\",\"html_url\":\"https://github.com/");
        raw(out, &data.full_name);
        raw(out, "/issues/");
        number(out, issue);
        raw(out, "#issuecomment-");
        number(out, comment.id);
        raw(out, "\",\"issue_url\":\"https://api.github.com/repos/");
        raw(out, &data.full_name);
        raw(out, "/issues/");
        number(out, issue);
        raw(out, "\",\"id\":");
        number(out, comment.id);
        raw(out, ",\"user\":");
        write_user(out, user);
        raw(out, ",\"created_at\":");
        time(out, comment.created);
        raw(out, ",\"updated_at\":");
        time(out, comment.updated);
        raw(out, ",\"author_association\":\"");
        raw(out, ASSOCIATIONS[user as usize % ASSOCIATIONS.len()]);
        raw(out, "\",\"body\":\"");
        raw(
            out,
            REPLIES[below(shape.seed, &[salt::COMMENT, comment.id], 1000) as usize % REPLIES.len()],
        );
        if comment.edits > 0 {
            raw(out, " (edited ");
            number(out, u64::from(comment.edits));
            raw(out, ")");
        }
        raw(out, "\"}");
    }

    fn write_event(&self, out: &mut Vec<u8>, repo: usize, event: &Event) {
        let shape = &self.shape;
        let data = &self.repos[repo];
        let user = below(shape.seed, &[salt::USER, event.id], 400);
        let (kind, action) = EVENT_KINDS[event.kind];
        raw(out, "{\"id\":\"");
        number(out, event.id);
        raw(out, "\",\"type\":\"");
        raw(out, kind);
        raw(out, "\",\"actor\":");
        write_user(out, user);
        raw(out, ",\"repo\":{\"id\":");
        number(out, REPO_BASE + repo as u64);
        raw(out, ",\"name\":\"");
        raw(out, &data.full_name);
        raw(out, "\",\"url\":\"https://api.github.com/repos/");
        raw(out, &data.full_name);
        raw(out, "\"},\"payload\":{");
        if kind == "PushEvent" {
            raw(out, "\"ref\":\"refs/heads/main\",\"size\":");
            number(out, 1 + u64::from(event.issue % 5));
        } else {
            raw(out, "\"action\":\"");
            raw(out, action);
            raw(out, "\"");
            if kind != "WatchEvent" {
                raw(out, ",\"issue\":{\"number\":");
                number(out, u64::from(event.issue) + 1);
                raw(out, "}");
            }
        }
        raw(out, "},\"public\":true,\"created_at\":");
        time(out, event.created);
        raw(out, "}");
    }
}

/// How repositories are sorted (`sort` of `/user/repos`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepoSort {
    /// By `full_name` (GitHub's default; ascending by default).
    FullName,
    /// By `created_at` (descending by default).
    Created,
    /// By `updated_at` (descending by default).
    Updated,
    /// By `pushed_at` (descending by default).
    Pushed,
}

fn issue_id(shape: &Shape, repo: usize, k: u32) -> u64 {
    ISSUE_BASE + u64::from(k) * u64::from(shape.repos) + repo as u64
}

/// `(created_at, updated_at, pushed_at)` of repository `r`.
fn repo_times(shape: &Shape, r: u32) -> (u32, u32, u32) {
    let r = u64::from(r);
    let created = below(shape.seed, &[salt::REPO, r, 0], DATA_START);
    let pushed = DATA_START + below(shape.seed, &[salt::REPO, r, 1], CREATION_SPAN);
    let updated = pushed + below(shape.seed, &[salt::REPO, r, 2], UPDATE_DELAY);
    (created, updated, pushed)
}

fn generate_repo(shape: &Shape, r: u32) -> Repo {
    let seed = shape.seed;
    let rk = u64::from(r);
    let n = shape.issues_per_repo;
    let step = (CREATION_SPAN / n.max(1)).max(1);
    let mut issues: Vec<Issue> = Vec::with_capacity(n as usize);
    for k in 0..n {
        let key = u64::from(k);
        // Creation times grow with the number, as on GitHub: `k * step < CREATION_SPAN`
        // since `n` is at most `MAX_ITEMS`.
        let created = DATA_START + k * step + below(seed, &[salt::CREATED, rk, key], step);
        let mut updated = created + below(seed, &[salt::UPDATED, rk, key], UPDATE_DELAY);
        // One issue in 32 was last updated in the same second as the one before it: ties
        // exist, but are rare.
        if let Some(previous) = issues.last()
            && below(seed, &[salt::TIE, rk, key], 32) == 0
            && previous.updated >= created
        {
            updated = previous.updated;
        }
        let closed = (below(seed, &[salt::CLOSED, rk, key], 3) == 0).then_some(updated);
        issues.push(Issue {
            created,
            updated,
            closed,
        });
    }
    let mut issues_by_updated: Vec<u32> = (0..n).collect();
    issues_by_updated.sort_by_key(|&k| (issues[k as usize].updated, k));

    let per_issue = shape.comments_per_issue;
    let mut drafts: Vec<(u32, u32, u32, u32)> = Vec::with_capacity((n * per_issue) as usize);
    for (k, issue) in (0..n).zip(&issues) {
        for j in 0..per_issue {
            let parts = [salt::COMMENT, rk, u64::from(k), u64::from(j)];
            let created = issue.created + below(seed, &parts, COMMENT_DELAY);
            let edited = below(seed, &[salt::EDIT, rk, u64::from(k), u64::from(j)], 4) == 0;
            let updated = if edited {
                created
                    + 1
                    + below(
                        seed,
                        &[salt::EDIT, rk, u64::from(k), u64::from(j), 1],
                        EDIT_DELAY,
                    )
            } else {
                created
            };
            drafts.push((created, k, j, updated));
        }
    }
    drafts.sort_unstable();
    let repos = u64::from(shape.repos);
    let comments: Vec<Comment> = drafts
        .iter()
        .enumerate()
        .map(|(position, &(created, issue, _, updated))| Comment {
            id: COMMENT_BASE + position as u64 * repos + rk,
            issue,
            created,
            updated,
            edits: 0,
        })
        .collect();
    let count = u32::try_from(comments.len()).unwrap_or(u32::MAX);
    let mut comments_by_updated: Vec<u32> = (0..count).collect();
    comments_by_updated.sort_by_key(|&c| (comments[c as usize].updated, c));

    let name = format!("repo-{:04}", r + 1);
    Repo {
        full_name: format!("{}/{name}", shape.org),
        name,
        issues,
        issues_by_updated,
        comments,
        comments_by_updated,
        added_events: Vec::new(),
    }
}

/// The items of a listing, ascending.
#[derive(Clone, Copy)]
enum Order<'a> {
    /// These indexes.
    Slice(&'a [u32]),
    /// The indexes below this, in order.
    Natural(usize),
}

/// The page `listing.page` of `order` (walked backwards when `listing.descending`), keeping
/// the items `keep` accepts (every item when None). Returns the page's items and how many the
/// listing holds in all.
fn select(
    order: Order<'_>,
    listing: &Listing,
    keep: Option<&impl Fn(u32) -> bool>,
) -> (Vec<u32>, usize) {
    let len = match order {
        Order::Slice(slice) => slice.len(),
        Order::Natural(len) => len,
    };
    let at = |i: usize| {
        let i = if listing.descending { len - 1 - i } else { i };
        match order {
            Order::Slice(slice) => slice[i],
            Order::Natural(_) => u32::try_from(i).unwrap_or(u32::MAX),
        }
    };
    let Some(keep) = keep else {
        return window(len, at, listing.page, listing.per_page);
    };
    let skip = (listing.page as usize - 1).saturating_mul(listing.per_page as usize);
    let take = listing.per_page as usize;
    let mut picked = Vec::with_capacity(take);
    let mut total = 0;
    for i in 0..len {
        let item = at(i);
        if keep(item) {
            if total >= skip && picked.len() < take {
                picked.push(item);
            }
            total += 1;
        }
    }
    (picked, total)
}

/// The page `page` of a listing of `len` items whose item at position `i` is `at(i)`.
fn window(len: usize, at: impl Fn(usize) -> u32, page: u32, per_page: u32) -> (Vec<u32>, usize) {
    let start = (page as usize - 1)
        .saturating_mul(per_page as usize)
        .min(len);
    let end = start.saturating_add(per_page as usize).min(len);
    ((start..end).map(at).collect(), len)
}

fn comment_json(full_name: &str, comment: &Comment, new: bool) -> Value {
    json!({
        "repo": full_name,
        "id": comment.id,
        "issue_number": comment.issue + 1,
        "created_at": format_time(comment.created),
        "updated_at": format_time(comment.updated),
        "new": new,
    })
}

fn write_user(out: &mut Vec<u8>, user: u32) {
    raw(out, "{\"login\":\"user-");
    let digits = [
        b'0' + u8::try_from(user / 100 % 10).unwrap_or(0),
        b'0' + u8::try_from(user / 10 % 10).unwrap_or(0),
        b'0' + u8::try_from(user % 10).unwrap_or(0),
    ];
    out.extend_from_slice(&digits);
    raw(out, "\",\"id\":");
    number(out, USER_BASE + u64::from(user));
    raw(out, ",\"type\":\"User\"}");
}

fn raw(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
}

fn number(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// A JSON string, escaped.
fn string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => raw(out, "\\\""),
            '\\' => raw(out, "\\\\"),
            c if u32::from(c) < 0x20 => {
                let mut escaped = String::new();
                let _ = write!(escaped, "\\u{:04x}", u32::from(c));
                raw(out, &escaped);
            }
            c => {
                let mut buffer = [0; 4];
                raw(out, c.encode_utf8(&mut buffer));
            }
        }
    }
    out.push(b'"');
}

/// A time as a JSON string, `"2024-01-01T00:00:00Z"`.
fn time(out: &mut Vec<u8>, seconds: u32) {
    out.push(b'"');
    write_time(out, seconds);
    out.push(b'"');
}

/// A time as text, `2024-01-01T00:00:00Z`.
pub fn format_time(seconds: u32) -> String {
    let mut out = Vec::with_capacity(20);
    write_time(&mut out, seconds);
    String::from_utf8(out).unwrap_or_default()
}

fn write_time(out: &mut Vec<u8>, seconds: u32) {
    // Days since 2023-01-01 to a civil date (Howard Hinnant's `civil_from_days`, shifted to
    // the Unix epoch).
    let unix = ORIGIN_UNIX + i64::from(seconds);
    let days = unix.div_euclid(86_400);
    let of_day = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.push(b'0' + u8::try_from(v / 10 % 10).unwrap_or(0));
        out.push(b'0' + u8::try_from(v % 10).unwrap_or(0));
    };
    two(out, year / 100);
    two(out, year % 100);
    out.push(b'-');
    two(out, month);
    out.push(b'-');
    two(out, day);
    out.push(b'T');
    two(out, of_day / 3600);
    out.push(b':');
    two(out, of_day / 60 % 60);
    out.push(b':');
    two(out, of_day % 60);
    out.push(b'Z');
}

/// A time given as Unix seconds, in data-set seconds rounded up (so that `>=` on whole
/// seconds keeps its meaning), clamped to the data set's range.
pub fn from_unix_ceil(unix_seconds: i64, has_fraction: bool) -> u32 {
    let seconds = unix_seconds - ORIGIN_UNIX + i64::from(has_fraction);
    u32::try_from(seconds.max(0)).unwrap_or(u32::MAX)
}

const ACTIONS: [&str; 8] = [
    "Fix",
    "Improve",
    "Document",
    "Refactor",
    "Speed up",
    "Handle errors in",
    "Test",
    "Support retries in",
];
const SUBJECTS: [&str; 12] = [
    "pagination",
    "the login page",
    "rate limit handling",
    "date parsing",
    "the command line",
    "memory use",
    "error messages",
    "the cache",
    "config loading",
    "webhooks",
    "search",
    "exports",
];
const CONTEXTS: [&str; 8] = [
    "on Windows",
    "for large repositories",
    "after an upgrade",
    "with empty input",
    "under load",
    "in the API client",
    "when offline",
    "for new users",
];
const LABELS: [&str; 5] = [
    "bug",
    "enhancement",
    "documentation",
    "question",
    "good first issue",
];
const ASSOCIATIONS: [&str; 4] = ["MEMBER", "CONTRIBUTOR", "NONE", "COLLABORATOR"];
const LANGUAGES: [&str; 5] = ["Rust", "Go", "Python", "TypeScript", "Java"];
const REPLIES: [&str; 6] = [
    "Thanks, I can reproduce this on the latest release.",
    "Could you share the full log and the version you run?",
    "Fixed in the main branch; it will ship in the next release.",
    "This looks like a duplicate of an older report.",
    "I started working on a patch, review welcome.",
    "Closing as the steps no longer reproduce the problem.",
];
/// Event types and the `action` of their payload.
const EVENT_KINDS: [(&str, &str); 5] = [
    ("IssuesEvent", "opened"),
    ("IssueCommentEvent", "created"),
    ("PushEvent", ""),
    ("WatchEvent", "started"),
    ("IssuesEvent", "closed"),
];
