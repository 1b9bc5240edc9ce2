//! The `github_mock` example's server, run in the test process on port 0 and read over HTTP:
//! pagination links, `since`, ordering, events, errors, rate limits, `touch` and determinism.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../../examples/github_mock/main.rs"]
pub mod example;

use example::{Mock, Options, Shape};

/// Three repositories of 250 issues, small enough to walk whole in each test.
fn options() -> Options {
    Options {
        shape: Shape {
            org: "acme".to_owned(),
            repos: 3,
            issues_per_repo: 250,
            comments_per_issue: 2,
            events_per_repo: 120,
            seed: 7,
        },
        threads: 4,
        ..Options::default()
    }
}

fn start(options: Options) -> Mock {
    Mock::start(options).expect("the mock starts")
}

/// One answer: status, headers (lowercase names) and body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `Link` header as `rel -> URL`.
    fn links(&self) -> BTreeMap<String, String> {
        self.header("link")
            .map(|link| {
                link.split(", ")
                    .map(|part| {
                        let (url, rel) = part.split_once("; ").expect("`<url>; rel=\"..\"`");
                        let url = url.strip_prefix('<').and_then(|u| u.strip_suffix('>'));
                        let rel = rel.strip_prefix("rel=\"").and_then(|r| r.strip_suffix('"'));
                        (
                            rel.expect("a rel").to_owned(),
                            url.expect("a URL in <>").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn call(method: &str, url: &str, token: Option<&str>) -> Answer {
    let agent = agent();
    let response = match method {
        "POST" => agent.post(url).send_empty(),
        _ => {
            let mut request = agent.get(url);
            if let Some(token) = token {
                request = request.header("Authorization", token);
            }
            request.call()
        }
    };
    let mut response = response.expect("the mock answers");
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_ascii_lowercase(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    Answer {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string().expect("a text body"),
    }
}

fn get(url: &str) -> Answer {
    call("GET", url, None)
}

fn post(url: &str) -> Answer {
    call("POST", url, None)
}

/// Every item of a listing, following `rel="next"` from `url`; and the number of pages.
fn walk(url: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next = Some(url.to_owned());
    while let Some(url) = next {
        let answer = get(&url);
        assert_eq!(answer.status, 200, "{url}: {}", answer.body);
        let page = answer.json();
        items.extend(page.as_array().expect("a JSON array").iter().cloned());
        pages += 1;
        next = answer.links().remove("next");
        assert!(pages < 1000, "the links loop");
    }
    (items, pages)
}

fn time(item: &Value, field: &str) -> DateTime<Utc> {
    item[field]
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("`{field}` is a time in {item}"))
}

fn id(item: &Value) -> u64 {
    item["id"]
        .as_u64()
        .or_else(|| item["id"].as_str().and_then(|id| id.parse().ok()))
        .unwrap_or_else(|| panic!("an id in {item}"))
}

fn ids(items: &[Value]) -> Vec<u64> {
    items.iter().map(id).collect()
}

fn stats(mock: &Mock) -> Value {
    get(&format!("{}/_mock/stats", mock.url())).json()
}

#[test]
fn link_headers_walk_every_page_as_github_sends_them() {
    let mock = start(options());
    let base = format!(
        "{}/repos/acme/repo-0002/issues?state=all&sort=updated&direction=asc&per_page=30",
        mock.url()
    );
    let first = get(&base);
    let links = first.links();
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links["next"], format!("{base}&page=2"));
    assert_eq!(links["last"], format!("{base}&page=9"));
    let third = get(&format!("{base}&page=3"));
    assert_eq!(
        third.header("link"),
        Some(
            format!(
                "<{base}&page=2>; rel=\"prev\", <{base}&page=4>; rel=\"next\", \
                 <{base}&page=9>; rel=\"last\", <{base}&page=1>; rel=\"first\""
            )
            .as_str()
        ),
    );

    let (issues, pages) = walk(&base);
    assert_eq!(pages, 9);
    assert_eq!(issues.len(), 250);
    let numbers: BTreeSet<u64> = issues
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (1..=250).collect());
    assert_eq!(stats(&mock)["by_kind"]["issues"], 9 + 2);

    // The last page has no `next`; past it, an empty page.
    let last = get(&format!("{base}&page=9"));
    assert_eq!(last.json().as_array().unwrap().len(), 250 - 8 * 30);
    assert!(!last.links().contains_key("next"));
    assert_eq!(get(&format!("{base}&page=10")).body, "[]");
    // `per_page` is at most 100, 30 by default; one page needs no links.
    let big = get(&format!(
        "{}/repos/acme/repo-0001/issues?state=all&per_page=500",
        mock.url()
    ));
    assert_eq!(big.json().as_array().unwrap().len(), 100);
    assert!(big.links()["last"].ends_with("per_page=500&page=3"));
    let default = get(&format!(
        "{}/repos/acme/repo-0001/issues?state=all",
        mock.url()
    ));
    assert_eq!(default.json().as_array().unwrap().len(), 30);
    let repos = get(&format!("{}/user/repos", mock.url()));
    assert_eq!(repos.header("link"), None);
    let names: Vec<Value> = repos
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].clone())
        .collect();
    assert_eq!(
        names,
        ["acme/repo-0001", "acme/repo-0002", "acme/repo-0003"]
    );
}

#[test]
fn issues_since_is_inclusive_and_sorted_by_updated_then_id() {
    let mock = start(options());
    let url = format!(
        "{}/repos/acme/repo-0001/issues?state=all&sort=updated&direction=asc&per_page=100",
        mock.url()
    );
    let (issues, _) = walk(&url);
    let keys: Vec<(DateTime<Utc>, u64)> = issues
        .iter()
        .map(|i| (time(i, "updated_at"), id(i)))
        .collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "ascending by (updated_at, id)"
    );
    let ties = keys.windows(2).filter(|w| w[0].0 == w[1].0).count();
    assert!(ties > 0, "the data set has ties on updated_at");
    for issue in &issues {
        assert!(time(issue, "created_at") <= time(issue, "updated_at"));
        assert!(issue["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(issue["user"]["login"].as_str().is_some());
        assert!(["open", "closed"].contains(&issue["state"].as_str().unwrap()));
        let size = issue.to_string().len();
        assert!((300..800).contains(&size), "{size} bytes: {issue}");
    }

    // From a tie: `since` at the tied second returns both tied issues first.
    let at = keys.windows(2).position(|w| w[0].0 == w[1].0).unwrap();
    let since = keys[at].0;
    let stamp = since.format("%Y-%m-%dT%H:%M:%SZ");
    let (after, _) = walk(&format!("{url}&since={stamp}"));
    let expected: Vec<u64> = keys.iter().filter(|k| k.0 >= since).map(|k| k.1).collect();
    assert_eq!(ids(&after), expected);
    assert_eq!(ids(&after)[..2], [keys[at].1, keys[at + 1].1]);
    // Percent-encoded and with an offset, the same instant.
    let encoded = (since + TimeDelta::hours(2)).format("%Y-%m-%dT%H%%3A%M%%3A%S%%2B02%%3A00");
    assert_eq!(ids(&walk(&format!("{url}&since={encoded}")).0), expected);
    // Half a second later excludes that second.
    let (later, _) = walk(&format!(
        "{url}&since={}",
        since.format("%Y-%m-%dT%H:%M:%S.500Z")
    ));
    assert_eq!(ids(&later), expected[2..]);

    // Descending is the exact reverse; GitHub's default is created, newest first, open only.
    let desc = walk(&url.replace("direction=asc", "direction=desc")).0;
    assert_eq!(
        ids(&desc),
        keys.iter().rev().map(|k| k.1).collect::<Vec<_>>()
    );
    let (default, _) = walk(&format!(
        "{}/repos/acme/repo-0001/issues?per_page=100",
        mock.url()
    ));
    let numbers: Vec<u64> = default
        .iter()
        .map(|i| i["number"].as_u64().unwrap())
        .collect();
    assert!(
        numbers.windows(2).all(|w| w[0] > w[1]),
        "created, newest first"
    );
    assert!(default.iter().all(|i| i["state"] == "open"));
    let open = issues.iter().filter(|i| i["state"] == "open").count();
    assert_eq!(default.len(), open);
    assert!(open > 100 && open < 250, "{open} open issues");
    let (closed, _) = walk(&url.replace("state=all", "state=closed"));
    let closed_ids: Vec<u64> = issues
        .iter()
        .filter(|i| i["state"] == "closed")
        .map(id)
        .collect();
    assert_eq!(ids(&closed), closed_ids);
    let created = walk(&format!("{}/repos/acme/repo-0001/issues?state=all&sort=created&direction=asc&per_page=100&since={stamp}", mock.url())).0;
    let mut by_created: Vec<u64> = expected.clone();
    by_created.sort_unstable();
    assert_eq!(ids(&created), by_created, "issue ids grow with created_at");
}

#[test]
fn comments_ascend_by_id_by_default_and_filter_on_updated() {
    let mock = start(options());
    let base = format!("{}/repos/acme/repo-0003/issues/comments", mock.url());
    let (all, pages) = walk(&format!("{base}?per_page=100"));
    assert_eq!((all.len(), pages), (500, 5));
    let all_ids = ids(&all);
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]));
    let created: Vec<DateTime<Utc>> = all.iter().map(|c| time(c, "created_at")).collect();
    assert!(
        created.windows(2).all(|w| w[0] <= w[1]),
        "ids grow with created_at"
    );
    assert!(
        all.iter()
            .any(|c| time(c, "updated_at") > time(c, "created_at")),
        "some edited"
    );
    for comment in &all {
        assert!(
            comment["issue_url"]
                .as_str()
                .unwrap()
                .contains("/repos/acme/repo-0003/issues/")
        );
    }

    let (by_updated, _) = walk(&format!("{base}?sort=updated&direction=asc&per_page=100"));
    let keys: Vec<(DateTime<Utc>, u64)> = by_updated
        .iter()
        .map(|c| (time(c, "updated_at"), id(c)))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
    let since = keys[321].0;
    let (after, _) = walk(&format!(
        "{base}?sort=updated&direction=asc&per_page=100&since={}",
        since.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    assert_eq!(
        ids(&after),
        keys.iter()
            .filter(|k| k.0 >= since)
            .map(|k| k.1)
            .collect::<Vec<_>>()
    );
    // With `sort`, the direction defaults to descending.
    let (desc, _) = walk(&format!("{base}?sort=created&per_page=100"));
    assert_eq!(
        ids(&desc),
        all_ids.iter().rev().copied().collect::<Vec<_>>()
    );
}

#[test]
fn events_come_newest_first() {
    let mock = start(options());
    let (events, pages) = walk(&format!(
        "{}/repos/acme/repo-0001/events?per_page=50",
        mock.url()
    ));
    assert_eq!((events.len(), pages), (120, 3));
    assert!(
        events
            .iter()
            .all(|e| e["id"].is_string() && e["type"].is_string())
    );
    let keys: Vec<(DateTime<Utc>, u64)> = events
        .iter()
        .map(|e| (time(e, "created_at"), id(e)))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "newest first");
    assert!(events.iter().all(|e| e["repo"]["name"] == "acme/repo-0001"));
}

#[test]
fn errors_are_github_shaped() {
    let mock = start(Options {
        token: Some("ghp_secret".to_owned()),
        ..options()
    });
    let url = format!("{}/repos/acme/repo-0001/issues", mock.url());
    let missing = call("GET", &url, None);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json()["message"], "Requires authentication");
    let wrong = call("GET", &url, Some("Bearer ghp_other"));
    assert_eq!(
        (wrong.status, wrong.json()["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    assert_eq!(call("GET", &url, Some("Bearer ghp_secret")).status, 200);
    assert_eq!(call("GET", &url, Some("token ghp_secret")).status, 200);

    let token = Some("token ghp_secret");
    for path in [
        "/repos/acme/repo-0004/issues",
        "/repos/acme/repo-4/issues",
        "/repos/other/repo-0001/issues",
        "/repos/acme/repo-0001/pulls",
        "/nothing",
    ] {
        let answer = call("GET", &format!("{}{path}", mock.url()), token);
        assert_eq!(answer.status, 404, "{path}");
        assert_eq!(answer.json()["message"], "Not Found", "{path}");
    }
    // Names ignore case, as on GitHub.
    assert_eq!(
        call(
            "GET",
            &format!("{}/repos/ACME/Repo-0001/events", mock.url()),
            token
        )
        .status,
        200
    );
    for query in [
        "state=any",
        "sort=comments",
        "direction=up",
        "since=yesterday",
    ] {
        let answer = call("GET", &format!("{url}?{query}"), token);
        assert_eq!(answer.status, 422, "{query}");
        assert_eq!(answer.json()["message"], "Validation Failed");
    }
    assert_eq!(stats(&mock)["by_status"]["401"], 2);
}

#[test]
fn rate_limits_answer_with_retry_after_then_recover() {
    let mock = start(options());
    let url = format!("{}/repos/acme/repo-0001/events", mock.url());
    let ok = get(&url);
    assert_eq!(ok.header("x-ratelimit-limit"), Some("1000000"));
    assert_eq!(ok.header("x-ratelimit-remaining"), Some("999999"));
    let reset: u64 = ok.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = Utc::now().timestamp().unsigned_abs();
    assert!(reset > now && reset <= now + 3600);

    for status in [429, 403] {
        let set = post(&format!(
            "{}/_mock/rate-limit?status={status}&count=2&retry_after=3",
            mock.url()
        ));
        assert_eq!(set.status, 200);
        for _ in 0..2 {
            let limited = get(&url);
            assert_eq!(limited.status, status);
            assert_eq!(limited.header("retry-after"), Some("3"));
            assert!(limited.header("x-ratelimit-remaining").is_some());
            assert!(
                limited.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("secondary rate limit")
            );
        }
        assert_eq!(get(&url).status, 200);
    }
    assert_eq!(
        post(&format!("{}/_mock/rate-limit?status=500", mock.url())).status,
        400
    );
    let counted = stats(&mock);
    assert_eq!(counted["by_status"]["429"], 2);
    assert_eq!(counted["by_status"]["403"], 2);
    assert_eq!(counted["requests"], 7);

    // The primary quota: spent after two requests.
    let strict = start(Options {
        quota: 2,
        rate_limit_every: Some(5),
        ..options()
    });
    let url = format!("{}/user/repos", strict.url());
    assert_eq!(get(&url).header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(get(&url).header("x-ratelimit-remaining"), Some("0"));
    let spent = get(&url);
    assert_eq!(
        (spent.status, spent.header("x-ratelimit-remaining")),
        (403, Some("0"))
    );
    assert_eq!(spent.json()["message"], "API rate limit exceeded.");
    assert_eq!(get(&url).status, 403);
    // Every fifth request is a 429, before the quota is looked at.
    let fifth = get(&url);
    assert_eq!(
        (fifth.status, fifth.header("retry-after")),
        (429, Some("1"))
    );
}

/// Every issue, comment and event of every repository, each listing by `updated_at` (events
/// newest first).
fn snapshot(mock: &Mock) -> [Vec<Value>; 3] {
    let mut all: [Vec<Value>; 3] = Default::default();
    for repo in ["repo-0001", "repo-0002", "repo-0003"] {
        let base = format!("{}/repos/acme/{repo}", mock.url());
        let query = "sort=updated&direction=asc&per_page=100";
        all[0].extend(walk(&format!("{base}/issues?state=all&{query}")).0);
        all[1].extend(walk(&format!("{base}/issues/comments?{query}")).0);
        all[2].extend(walk(&format!("{base}/events?per_page=100")).0);
    }
    all
}

#[test]
fn touch_changes_exactly_what_it_says() {
    let mock = start(options());
    let before = snapshot(&mock);
    let watermark = before[..2]
        .iter()
        .flatten()
        .map(|item| time(item, "updated_at"))
        .max()
        .unwrap();
    let changed = post(&format!(
        "{}/_mock/touch?issues=5&comments=4&comment_edits=2&events=3",
        mock.url()
    ));
    assert_eq!(changed.status, 200);
    let changed = changed.json();
    let touched: Vec<u64> = ids(changed["issues"].as_array().unwrap());
    let comments: Vec<u64> = ids(changed["comments"].as_array().unwrap());
    let events: Vec<u64> = ids(changed["events"].as_array().unwrap());
    assert_eq!((touched.len(), comments.len(), events.len()), (5, 6, 3));
    assert_eq!(touched.iter().collect::<BTreeSet<_>>().len(), 5);

    // What a second sync with the first sync's state reads: exactly the changes.
    let after = snapshot(&mock);
    let since = (watermark + TimeDelta::seconds(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let mut new_issues = Vec::new();
    let mut new_comments = Vec::new();
    for repo in ["repo-0001", "repo-0002", "repo-0003"] {
        let base = format!("{}/repos/acme/{repo}", mock.url());
        let query = format!("sort=updated&direction=asc&per_page=100&since={since}");
        new_issues.extend(ids(&walk(&format!("{base}/issues?state=all&{query}")).0));
        new_comments.extend(ids(&walk(&format!("{base}/issues/comments?{query}")).0));
    }
    let sorted = |mut v: Vec<u64>| {
        v.sort_unstable();
        v
    };
    assert_eq!(sorted(new_issues), sorted(touched.clone()));
    assert_eq!(sorted(new_comments), sorted(comments.clone()));

    // Nothing else moved: the other items are byte for byte what they were.
    let unchanged = |items: &[Value], changed: &[u64]| -> BTreeMap<u64, String> {
        items
            .iter()
            .filter(|item| !changed.contains(&id(item)))
            .map(|item| (id(item), item.to_string()))
            .collect()
    };
    assert_eq!(
        unchanged(&before[0], &touched),
        unchanged(&after[0], &touched)
    );
    assert_eq!(
        unchanged(&before[1], &comments),
        unchanged(&after[1], &comments)
    );
    assert_eq!(after[0].len(), before[0].len());
    assert_eq!(after[1].len(), before[1].len() + 4);
    assert_eq!(after[2].len(), before[2].len() + 3);
    for issue in after[0].iter().filter(|i| touched.contains(&id(i))) {
        let old = before[0].iter().find(|o| id(o) == id(issue)).unwrap();
        assert!(time(issue, "updated_at") > watermark);
        assert_ne!(
            issue["state"], old["state"],
            "a touched issue is closed or reopened"
        );
        assert_eq!(issue["created_at"], old["created_at"]);
    }
    // The new events are the newest of their repositories.
    for event in changed["events"].as_array().unwrap() {
        let repo = event["repo"].as_str().unwrap();
        let top = &get(&format!("{}/repos/{repo}/events?per_page=1", mock.url())).json()[0];
        assert_eq!(top["id"], event["id"]);
    }
    // A second touch picks other issues, later still.
    let again = post(&format!("{}/_mock/touch?issues=5", mock.url())).json();
    let again_ids = ids(again["issues"].as_array().unwrap());
    assert!(again_ids.iter().all(|i| !touched.contains(i)));
    let first_last = changed["events"][2]["created_at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        again["issues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["updated_at"].as_str().unwrap() > first_last.as_str())
    );
    assert_eq!(
        post(&format!("{}/_mock/touch?issues=x", mock.url())).status,
        400
    );
}

#[test]
fn same_flags_same_bytes() {
    let paths = [
        "/user/repos",
        "/repos/acme/repo-0002",
        "/repos/acme/repo-0002/issues?state=all&sort=updated&direction=asc&per_page=100&page=2",
        "/repos/acme/repo-0003/issues/comments?per_page=100&page=3",
        "/repos/acme/repo-0001/events?per_page=100",
    ];
    let bodies = |options: Options, touch: bool| -> Vec<String> {
        let mock = start(options);
        let mut bodies: Vec<String> = paths
            .iter()
            .map(|path| get(&format!("{}{path}", mock.url())).body)
            .collect();
        if touch {
            bodies.push(
                post(&format!(
                    "{}/_mock/touch?issues=3&comments=2&comment_edits=2&events=2",
                    mock.url()
                ))
                .body,
            );
            bodies.extend(
                paths
                    .iter()
                    .map(|path| get(&format!("{}{path}", mock.url())).body),
            );
        }
        bodies
    };
    let first = bodies(options(), true);
    assert_eq!(first, bodies(options(), true));
    let mut reseeded = options();
    reseeded.shape.seed = 8;
    let other = bodies(reseeded, false);
    assert!(first.iter().zip(&other).skip(2).all(|(a, b)| a != b));
}

#[test]
fn flags_are_checked() {
    let parse = |args: &[&str]| {
        example::parse_args(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    };
    let options = parse(&[
        "--port",
        "0",
        "--repos",
        "64",
        "--issues-per-repo",
        "10000",
        "--latency-ms",
        "50",
        "--token",
        "t",
        "--org",
        "octo",
    ])
    .unwrap();
    assert_eq!(
        (options.shape.repos, options.shape.issues_per_repo),
        (64, 10_000)
    );
    assert_eq!(options.latency, Duration::from_millis(50));
    assert_eq!(options.shape.org, "octo");
    for bad in [
        &["--repos"][..],
        &["--repos", "0"],
        &["--repos", "-1"],
        &["--port", "70000"],
        &["--threads", "0"],
        &["--issues-per-repo", "99999999999"],
        &["--repos", "1000", "--issues-per-repo", "100000"],
        &["--org", "a/b"],
        &["--verbose", "1"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// Throughput under the benchmark's load: 64 repositories of 10,000 issues, 100 per page,
/// 50 ms per request, 64 clients. Run on a quiet machine with
/// `cargo test --release --test behavior github_mock::load -- --ignored --nocapture`; with
/// `GITHUB_MOCK_URL=http://127.0.0.1:PORT`, the clients load a mock started apart
/// (`--repos 64 --issues-per-repo 10000 --latency-ms 50`) instead of one in this process.
#[test]
#[ignore = "a measurement: about 6 s of load"]
fn load() {
    let external = std::env::var("GITHUB_MOCK_URL").ok();
    let mock = external.is_none().then(|| {
        start(Options {
            shape: Shape {
                repos: 64,
                issues_per_repo: 10_000,
                ..Shape::default()
            },
            latency: Duration::from_millis(50),
            ..Options::default()
        })
    });
    let url = external.unwrap_or_else(|| mock.as_ref().map(Mock::url).unwrap_or_default());
    let started = Instant::now();
    let clients: Vec<_> = (1..=64)
        .map(|repo| {
            let url = url.clone();
            std::thread::spawn(move || {
                let agent = agent();
                let mut records = 0;
                for page in 1..=100 {
                    let mut response = agent
                        .get(format!("{url}/repos/acme/repo-{repo:04}/issues?state=all&sort=updated&direction=asc&since=2024-01-01T00:00:00Z&per_page=100&page={page}"))
                        .call()
                        .expect("a page");
                    let body = response.body_mut().read_to_string().expect("a body");
                    // Counted, not parsed: the client should cost little next to the server.
                    records += body.matches("\"number\":").count();
                }
                records
            })
        })
        .collect();
    let records: usize = clients
        .into_iter()
        .map(|c| c.join().expect("a client"))
        .sum();
    let elapsed = started.elapsed();
    assert_eq!(records, 640_000);
    #[allow(clippy::cast_precision_loss, reason = "a rate for people to read")]
    let rate = records as f64 / elapsed.as_secs_f64();
    let cpu = cpu_seconds().unwrap_or(f64::NAN);
    eprintln!(
        "{records} records in {elapsed:.2?}: {rate:.0} records/s (ideal 128000); \
         {cpu:.2} s of CPU in this process"
    );
    assert!(rate > 100_000.0, "{rate:.0} records/s");
}

/// The CPU time this process used so far (user and system), from `/proc/self/stat`.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses: utime and stime are the
    // 12th and 13th, in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u32 = fields.get(11)?.parse::<u32>().ok()? + fields.get(12)?.parse::<u32>().ok()?;
    Some(f64::from(ticks) / 100.0)
}

/// What a raw request over TCP gets back, up to the server closing the connection.
fn raw_exchange(mock: &Mock, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", mock.port())).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    stream.write_all(request).expect("the request is sent");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn malformed_requests_get_an_error_and_the_server_goes_on() {
    let mock = start(options());
    assert!(raw_exchange(&mock, b"garbage\r\n\r\n").starts_with("HTTP/1.1 400 "));
    assert!(raw_exchange(&mock, b"GET nowhere HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 400 "));
    let long = format!(
        "GET /user/repos HTTP/1.1\r\nX-Long: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(raw_exchange(&mock, long.as_bytes()).starts_with("HTTP/1.1 431 "));
    let huge_body = b"POST /_mock/touch HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n";
    assert!(raw_exchange(&mock, huge_body).starts_with("HTTP/1.1 413 "));
    // HTTP/1.0 without keep-alive: one answer, then the server closes; two pipelined
    // HTTP/1.1 requests, the second asking to close: two answers.
    let one = raw_exchange(&mock, b"GET /repos/acme/repo-0001 HTTP/1.0\r\n\r\n");
    assert!(one.starts_with("HTTP/1.1 200 OK\r\n") && one.contains("Connection: close"));
    let two = raw_exchange(
        &mock,
        b"GET /user/repos HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.matches("HTTP/1.1 ").count(), 2, "{two}");
    assert!(two.contains("HTTP/1.1 404 Not Found"));
    assert_eq!(get(&format!("{}/user/repos", mock.url())).status, 200);
}
