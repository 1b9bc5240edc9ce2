//! The records of the four streams, and the API's JSON they are made from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A repository, read in full by every sync (GitHub has no filter on its repository
/// listings). Resumable: an attempt that fails is retried from the page it reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::full_refresh_stream(name = "repositories", primary_key = "id", resumable = true)]
pub struct Repository {
    /// Repository id.
    pub id: u64,
    /// `owner/name`, the key of the partitions of the other streams.
    pub full_name: String,
    /// The name, without the owner.
    pub name: String,
    /// The owner's login.
    pub owner: String,
    /// Whether only collaborators can see it.
    pub private: bool,
    /// Whether it is read-only.
    pub archived: bool,
    /// One-line description.
    pub description: Option<String>,
    /// The main language, as detected by the API.
    pub language: Option<String>,
    /// The branch pushed to by default.
    pub default_branch: Option<String>,
    /// Stars.
    pub stargazers_count: u64,
    /// The repository's page.
    pub html_url: String,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
    /// When its settings or description last changed (UTC).
    pub updated_at: DateTime<Utc>,
    /// When a commit was last pushed (UTC).
    pub pushed_at: Option<DateTime<Utc>>,
}

/// An issue (or pull request) of a repository, synced by `updated_at`, one watermark per
/// repository.
///
/// `checkpoint_every = "PT10S"`: a STATE carries the watermark of every repository read so
/// far, so one STATE after each repository (the default) would write a state the size of the
/// repository list once per repository, quadratic in the number of repositories. At most one
/// every 10 seconds keeps the output small, and a failure loses at most 10 seconds of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "issues",
    cursor = "updated_at",
    primary_key = "id",
    partition = "repository",
    checkpoint_every = "PT10S"
)]
pub struct Issue {
    /// `owner/name` of the repository.
    pub repository: String,
    /// Issue id, unique across repositories.
    pub id: u64,
    /// Number within the repository, as in `#12`.
    pub number: u64,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    /// The author's login (`None` for a deleted account).
    pub user: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Whether the issue is a pull request.
    pub pull_request: bool,
    /// Text, in Markdown.
    pub body: Option<String>,
    /// The issue's page.
    pub html_url: String,
    /// When it was opened (UTC).
    pub created_at: DateTime<Utc>,
    /// When it last changed (UTC): the cursor.
    pub updated_at: DateTime<Utc>,
    /// When it was closed, if it is (UTC).
    pub closed_at: Option<DateTime<Utc>>,
}

/// A comment on an issue, synced by `updated_at`, one watermark per repository
/// (`checkpoint_every` as for [`Issue`], for the same reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "comments",
    cursor = "updated_at",
    primary_key = "id",
    partition = "repository",
    checkpoint_every = "PT10S"
)]
pub struct Comment {
    /// `owner/name` of the repository.
    pub repository: String,
    /// Comment id.
    pub id: u64,
    /// The number of the issue commented on.
    pub issue_number: Option<u64>,
    /// The author's login (`None` for a deleted account).
    pub user: Option<String>,
    /// Text, in Markdown.
    pub body: Option<String>,
    /// The comment's page.
    pub html_url: String,
    /// When it was written (UTC).
    pub created_at: DateTime<Utc>,
    /// When it was last edited, or written (UTC): the cursor.
    pub updated_at: DateTime<Utc>,
}

/// An event of a repository's activity feed, which the API lists newest first with no filter:
/// read down to the repository's watermark (`order = "desc"`), whose STATE moves only once the
/// feed was read down to it (`checkpoint_every` as for [`Issue`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[tidemark::incremental_stream(
    name = "events",
    cursor = "created_at",
    primary_key = "id",
    partition = "repository",
    order = "desc",
    checkpoint_every = "PT10S"
)]
pub struct Event {
    /// `owner/name` of the repository.
    pub repository: String,
    /// Event id (a numeric string).
    pub id: String,
    /// `IssuesEvent`, `PushEvent`, `WatchEvent`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The login of who acted.
    pub actor: Option<String>,
    /// What happened, as the API describes it for this type of event.
    pub payload: Value,
    /// Whether the event is public.
    pub public: bool,
    /// When it happened (UTC): the cursor.
    pub created_at: DateTime<Utc>,
}

/// An account, as the API nests it.
#[derive(Debug, Deserialize)]
pub struct ApiUser {
    login: String,
}

/// A label, as the API nests it.
#[derive(Debug, Deserialize)]
pub struct ApiLabel {
    name: String,
}

/// A repository as the API returns it.
#[derive(Debug, Deserialize)]
pub struct ApiRepository {
    id: u64,
    name: String,
    full_name: String,
    owner: ApiUser,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    archived: bool,
    description: Option<String>,
    language: Option<String>,
    default_branch: Option<String>,
    #[serde(default)]
    stargazers_count: u64,
    html_url: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    pushed_at: Option<DateTime<Utc>>,
}

impl ApiRepository {
    /// The `owner/name` the API gives.
    pub fn full_name(&self) -> &str {
        &self.full_name
    }
}

impl From<ApiRepository> for Repository {
    fn from(api: ApiRepository) -> Self {
        Repository {
            id: api.id,
            full_name: api.full_name,
            name: api.name,
            owner: api.owner.login,
            private: api.private,
            archived: api.archived,
            description: api.description,
            language: api.language,
            default_branch: api.default_branch,
            stargazers_count: api.stargazers_count,
            html_url: api.html_url,
            created_at: api.created_at,
            updated_at: api.updated_at,
            pushed_at: api.pushed_at,
        }
    }
}

/// An issue as the API returns it.
#[derive(Debug, Deserialize)]
pub struct ApiIssue {
    id: u64,
    number: u64,
    title: String,
    state: String,
    user: Option<ApiUser>,
    #[serde(default)]
    labels: Vec<ApiLabel>,
    /// Present on pull requests only.
    pull_request: Option<Value>,
    body: Option<String>,
    html_url: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

impl ApiIssue {
    /// The record, in `repository`.
    pub fn into_record(self, repository: &str) -> Issue {
        Issue {
            repository: repository.to_owned(),
            id: self.id,
            number: self.number,
            title: self.title,
            state: self.state,
            user: self.user.map(|user| user.login),
            labels: self.labels.into_iter().map(|label| label.name).collect(),
            pull_request: self.pull_request.is_some(),
            body: self.body,
            html_url: self.html_url,
            created_at: self.created_at,
            updated_at: self.updated_at,
            closed_at: self.closed_at,
        }
    }
}

/// A comment as the API returns it.
#[derive(Debug, Deserialize)]
pub struct ApiComment {
    id: u64,
    issue_url: String,
    user: Option<ApiUser>,
    body: Option<String>,
    html_url: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl ApiComment {
    /// The record, in `repository`.
    pub fn into_record(self, repository: &str) -> Comment {
        Comment {
            repository: repository.to_owned(),
            id: self.id,
            // `.../repos/{owner}/{repo}/issues/{number}`.
            issue_number: self
                .issue_url
                .rsplit('/')
                .next()
                .and_then(|number| number.parse().ok()),
            user: self.user.map(|user| user.login),
            body: self.body,
            html_url: self.html_url,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// An event as the API returns it.
#[derive(Debug, Deserialize)]
pub struct ApiEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    actor: Option<ApiUser>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    public: bool,
    created_at: DateTime<Utc>,
}

impl ApiEvent {
    /// The record, in `repository`.
    pub fn into_record(self, repository: &str) -> Event {
        Event {
            repository: repository.to_owned(),
            id: self.id,
            kind: self.kind,
            actor: self.actor.map(|actor| actor.login),
            payload: self.payload,
            public: self.public,
            created_at: self.created_at,
        }
    }
}
