//! Paginators: how a listing's next request follows from the page just read.
//!
//! A [`Paginator`] sets up the first request ([`Paginator::first`]) and then, after each page,
//! turns the request into the next page's or says the listing ended ([`Paginator::next`]).
//! The kinds APIs use are here: [`PageNumber`], [`Offset`], [`BodyCursor`], [`BodyNextLink`],
//! [`LinkHeader`] and [`NoPagination`], with two adaptors that stop a listing early,
//! [`Paginator::max_pages`] and [`Paginator::stop_when`]. `Box<dyn Paginator>` is a paginator
//! too, for a listing whose kind is chosen at run time.
//!
//! An API that answers with the same cursor or next link twice in a row, or with the same page
//! again although the page number moved on, would make a listing endless: each paginator here
//! stops it with a system error naming the URL instead.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};

use super::decode::{MAX_INFLATED, inflate, pointer_tokens, value_at};
use super::message::{Request, Response, quote};
use crate::Error;

/// How a listing pages: the first request's setup, and each next request.
///
/// ```
/// use tidemark::http::{Paginator, PageNumber, Request, Response};
///
/// let mut paginator = PageNumber::new("page").size("per_page", 2);
/// let mut request = Request::get("/tickets");
/// paginator.first(&mut request);
/// assert_eq!(request.query_pairs(), [("page".into(), "1".into()), ("per_page".into(), "2".into())]);
///
/// let full = Response::new(200, "https://api.example.com/tickets?page=1&per_page=2".into(),
///                          Default::default(), br#"[{"id":1},{"id":2}]"#.to_vec());
/// assert!(paginator.next(&full, 2, &mut request)?);
/// assert_eq!(request.query_pairs()[1], ("page".into(), "2".into()));
///
/// let short = Response::new(200, "https://api.example.com/tickets?page=2&per_page=2".into(),
///                           Default::default(), br#"[{"id":3}]"#.to_vec());
/// assert!(!paginator.next(&short, 1, &mut request)?); // a short page is the last
/// # Ok::<(), tidemark::Error>(())
/// ```
pub trait Paginator: Send {
    /// Sets up the first request (`page=1`, `limit=100`, ...) and forgets any earlier listing.
    fn first(&mut self, request: &mut Request) {
        let _ = request;
    }

    /// Turns `request` (the one `response` answered) into the next page's, or returns `false`
    /// when the listing ended. `records`: how many records the page had.
    ///
    /// # Errors
    ///
    /// A system error naming the URL when the answer does not say how to go on in the way the
    /// paginator expects, or would make the listing loop.
    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error>;

    /// Ends the listing after `pages` pages (the first included; `0` reads the first page
    /// only, as it is always requested).
    #[must_use]
    fn max_pages(self, pages: u64) -> MaxPages<Self>
    where
        Self: Sized,
    {
        MaxPages {
            inner: self,
            max: pages,
            read: 0,
        }
    }

    /// Ends the listing after a page for which `stop(response, records)` is true, before
    /// asking this paginator for the next request: for example, an API that says "no more"
    /// in a body field (`has_more: false`) next to a cursor that is never empty.
    #[must_use]
    fn stop_when<F>(self, stop: F) -> StopWhen<Self, F>
    where
        Self: Sized,
        F: FnMut(&Response, usize) -> bool + Send,
    {
        StopWhen { inner: self, stop }
    }
}

impl<P: Paginator + ?Sized> Paginator for Box<P> {
    fn first(&mut self, request: &mut Request) {
        (**self).first(request);
    }

    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        (**self).next(response, records, request)
    }
}

/// One page, and nothing more.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPagination;

impl Paginator for NoPagination {
    fn next(&mut self, _: &Response, _: usize, _: &mut Request) -> Result<bool, Error> {
        Ok(false)
    }
}

/// A page number in a query parameter: `?page=1`, `?page=2`, ...
///
/// The listing ends on an empty page, or, when a page size is given with [`PageNumber::size`],
/// on a page with fewer records than that (unless [`PageNumber::stop_on_short_page`] is
/// `false`, for an API that may answer short pages before the last). A full page whose body is
/// the same as the previous page's is a system error: the API ignores the page parameter.
#[derive(Clone, Debug)]
pub struct PageNumber {
    param: String,
    start: u64,
    size: Option<(String, u64)>,
    stop_on_short: bool,
    page: u64,
    previous: Option<u64>,
}

impl PageNumber {
    /// Pages numbered in the query parameter `param`, from 1.
    #[must_use]
    pub fn new(param: &str) -> Self {
        PageNumber {
            param: param.to_owned(),
            start: 1,
            size: None,
            stop_on_short: true,
            page: 1,
            previous: None,
        }
    }

    /// The first page's number (`0` for an API that counts from zero).
    #[must_use]
    pub fn start(mut self, first: u64) -> Self {
        self.start = first;
        self
    }

    /// Asks for `size` records a page in the query parameter `param`: a page with fewer ends
    /// the listing.
    #[must_use]
    pub fn size(mut self, param: &str, size: u64) -> Self {
        self.size = Some((param.to_owned(), size));
        self
    }

    /// Whether a page shorter than the size ends the listing (the default); with `false`
    /// only an empty page does.
    #[must_use]
    pub fn stop_on_short_page(mut self, stop: bool) -> Self {
        self.stop_on_short = stop;
        self
    }
}

impl Paginator for PageNumber {
    fn first(&mut self, request: &mut Request) {
        self.page = self.start;
        self.previous = None;
        request.set_query(&self.param, self.page);
        if let Some((param, size)) = &self.size {
            request.set_query(param, size);
        }
    }

    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        let size = self.size.as_ref().map(|(_, size)| *size);
        if ends(records, size, self.stop_on_short) {
            return Ok(false);
        }
        same_page_guard(&mut self.previous, response, &self.param)?;
        self.page = self.page.checked_add(1).ok_or_else(|| {
            Error::system(format!(
                "the listing at {} passed page {}: it does not end",
                response.url(),
                u64::MAX
            ))
        })?;
        request.set_query(&self.param, self.page);
        Ok(true)
    }
}

/// A record offset and a page size in query parameters: `?offset=0&limit=100`,
/// `?offset=100&limit=100`, ...
///
/// The offset moves on by the number of records each page had, so an API that answers fewer
/// records than asked skips nothing. The listing ends on an empty page or, by default, on a
/// page shorter than the limit ([`Offset::stop_on_short_page`]`(false)` for an API that caps the
/// limit below what was asked). A page whose body is the same as the previous page's is a
/// system error: the API ignores the offset.
#[derive(Clone, Debug)]
pub struct Offset {
    at_param: String,
    size_param: String,
    limit: u64,
    start: u64,
    stop_on_short: bool,
    at: u64,
    previous: Option<u64>,
}

impl Offset {
    /// The offset in `offset_param` (from 0) and `limit` records a page in `limit_param`.
    #[must_use]
    pub fn new(offset_param: &str, limit_param: &str, limit: u64) -> Self {
        Offset {
            at_param: offset_param.to_owned(),
            size_param: limit_param.to_owned(),
            limit,
            start: 0,
            stop_on_short: true,
            at: 0,
            previous: None,
        }
    }

    /// The first page's offset (`1` for an API that counts records from one).
    #[must_use]
    pub fn start(mut self, first: u64) -> Self {
        self.start = first;
        self
    }

    /// Whether a page shorter than the limit ends the listing (the default); with `false`
    /// only an empty page does.
    #[must_use]
    pub fn stop_on_short_page(mut self, stop: bool) -> Self {
        self.stop_on_short = stop;
        self
    }
}

impl Paginator for Offset {
    fn first(&mut self, request: &mut Request) {
        self.at = self.start;
        self.previous = None;
        request.set_query(&self.at_param, self.at);
        request.set_query(&self.size_param, self.limit);
    }

    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        if ends(records, Some(self.limit), self.stop_on_short) {
            return Ok(false);
        }
        same_page_guard(&mut self.previous, response, &self.at_param)?;
        self.at = u64::try_from(records)
            .ok()
            .and_then(|records| self.at.checked_add(records))
            .ok_or_else(|| {
                Error::system(format!(
                    "the listing at {} passed offset {}: it does not end",
                    response.url(),
                    u64::MAX
                ))
            })?;
        request.set_query(&self.at_param, self.at);
        Ok(true)
    }
}

/// Whether a page of `records` ends a numbered listing.
fn ends(records: usize, size: Option<u64>, stop_on_short: bool) -> bool {
    records == 0
        || (stop_on_short
            && size.is_some_and(|size| u64::try_from(records).is_ok_and(|records| records < size)))
}

/// Fails when this page's body is the one of the page before (an API ignoring the page
/// parameter would make the listing endless), and remembers it.
fn same_page_guard(
    previous: &mut Option<u64>,
    response: &Response,
    param: &str,
) -> Result<(), Error> {
    let mut hasher = DefaultHasher::new();
    response.body().hash(&mut hasher);
    let digest = hasher.finish();
    if previous.replace(digest) == Some(digest) {
        return Err(Error::system(format!(
            "the API answered {} with the same page as the request before: it seems to ignore \
             `{param}`, so the listing would never end",
            response.url()
        )));
    }
    Ok(())
}

/// A cursor in the body (`{"meta": {"next_cursor": "abc"}}`) sent back in a query parameter
/// (`?cursor=abc`).
///
/// The cursor is a string or a number; `null`, an absent member or `""` ends the listing.
/// The same cursor twice in a row is a system error: the API loops. For an API that always
/// answers a fresh cursor, end the listing another way, with [`Paginator::stop_when`]: on an
/// empty page (`|_, records| records == 0`) or on a `has_more: false` in the body.
#[derive(Clone, Debug)]
pub struct BodyCursor {
    pointer: String,
    param: String,
    previous: Option<String>,
}

impl BodyCursor {
    /// The cursor at the JSON pointer `pointer` (`"/meta/next_cursor"`), sent in the query
    /// parameter `param`.
    #[must_use]
    pub fn new(pointer: &str, param: &str) -> Self {
        BodyCursor {
            pointer: pointer.to_owned(),
            param: param.to_owned(),
            previous: None,
        }
    }
}

impl Paginator for BodyCursor {
    fn first(&mut self, _: &mut Request) {
        self.previous = None;
    }

    fn next(
        &mut self,
        response: &Response,
        _: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        let Some(cursor) = string_at(response, &self.pointer, "cursor")? else {
            return Ok(false);
        };
        let current = request
            .query_pairs()
            .iter()
            .find(|(name, _)| *name == self.param)
            .map(|(_, value)| value.as_str());
        if self.previous.as_deref() == Some(cursor.as_str()) || current == Some(cursor.as_str()) {
            return Err(Error::system(format!(
                "the API answered {} with the cursor it was sent ({}) at `{}`: the listing \
                 would never end",
                response.url(),
                quote(&cursor),
                self.pointer
            )));
        }
        request.set_query(&self.param, &cursor);
        self.previous = Some(cursor);
        Ok(true)
    }
}

/// The next page's URL in the body (`{"next": "https://api.example.com/items?page=2"}` or
/// `{"next": "/items?page=2"}`).
///
/// A relative URL is resolved against the URL of the answer (RFC 3986). `null`, an absent
/// member or `""` ends the listing. The next request is the link as it is: its query replaces
/// the request's. A link to the page just read, or the same link twice in a row, is a system
/// error: the API loops.
#[derive(Clone, Debug)]
pub struct BodyNextLink {
    pointer: String,
    previous: Option<String>,
}

impl BodyNextLink {
    /// The next URL at the JSON pointer `pointer` (`"/next"`, `"/links/next"`).
    #[must_use]
    pub fn new(pointer: &str) -> Self {
        BodyNextLink {
            pointer: pointer.to_owned(),
            previous: None,
        }
    }
}

impl Paginator for BodyNextLink {
    fn first(&mut self, _: &mut Request) {
        self.previous = None;
    }

    fn next(
        &mut self,
        response: &Response,
        _: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        let Some(link) = string_at(response, &self.pointer, "next link")? else {
            return Ok(false);
        };
        follow(&mut self.previous, response, &link, request)?;
        Ok(true)
    }
}

/// The next page's URL in the `Link` header (RFC 8288): the target of the link whose `rel`
/// holds `next`, as GitHub and many others send it.
///
/// Every `Link` header of the answer is read; link parameters may be quoted or not, and a
/// target may contain commas and semicolons. A relative target is resolved against the URL of
/// the answer. No `next` link ends the listing. A link to the page just read, or the same link
/// twice in a row, is a system error: the API loops.
#[derive(Clone, Debug)]
pub struct LinkHeader {
    rel: String,
    previous: Option<String>,
}

impl LinkHeader {
    /// Follows `rel="next"`.
    #[must_use]
    pub fn new() -> Self {
        LinkHeader::rel("next")
    }

    /// Follows the link with relation type `rel` instead (compared case-insensitively).
    #[must_use]
    pub fn rel(rel: &str) -> Self {
        LinkHeader {
            rel: rel.to_owned(),
            previous: None,
        }
    }
}

impl Default for LinkHeader {
    fn default() -> Self {
        LinkHeader::new()
    }
}

impl Paginator for LinkHeader {
    fn first(&mut self, _: &mut Request) {
        self.previous = None;
    }

    fn next(
        &mut self,
        response: &Response,
        _: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        let target = response
            .headers()
            .get_all(http::header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_links)
            .find(|link| link.has_rel(&self.rel))
            .map(|link| link.target);
        let Some(target) = target.filter(|target| !target.trim().is_empty()) else {
            return Ok(false);
        };
        follow(&mut self.previous, response, &target, request)?;
        Ok(true)
    }
}

/// Points `request` at `link` resolved against the answer's URL, unless that loops.
fn follow(
    previous: &mut Option<String>,
    response: &Response,
    link: &str,
    request: &mut Request,
) -> Result<(), Error> {
    let next = resolve(response.url(), link.trim());
    if next == response.url() || previous.as_deref() == Some(next.as_str()) {
        return Err(Error::system(format!(
            "the API answered {} with a link to the same page ({}): the listing would never end",
            response.url(),
            quote(&next)
        )));
    }
    request.set_url(next.clone());
    *previous = Some(next);
    Ok(())
}

/// The string (or number, as text) at `pointer` in a JSON body; `None` for `null`, an absent
/// member or `""`.
fn string_at(response: &Response, pointer: &str, what: &str) -> Result<Option<String>, Error> {
    let url = response.url();
    let tokens = pointer_tokens(pointer)
        .map_err(|error| Error::system(format!("the {what} of {url}: {error}")))?;
    let body = inflate(response, MAX_INFLATED)?;
    let value = value_at::<serde_json::Value>(&body, &tokens).map_err(|error| {
        Error::system(format!(
            "the answer to {url} is not JSON, so it has no {what} at `{pointer}` ({error}): {}",
            quote(&String::from_utf8_lossy(&body))
        ))
        .with_source(error)
    })?;
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) if text.is_empty() => Ok(None),
        Some(serde_json::Value::String(text)) => Ok(Some(text)),
        Some(serde_json::Value::Number(number)) => Ok(Some(number.to_string())),
        Some(other) => Err(Error::system(format!(
            "the answer to {url} has no {what} at `{pointer}` but {}",
            quote(&other.to_string())
        ))),
    }
}

/// One link of a `Link` header: its target and its parameters (names lowercase, values
/// unquoted).
#[derive(Clone, Debug, PartialEq)]
struct Link {
    target: String,
    params: Vec<(String, String)>,
}

impl Link {
    /// Whether the link's `rel` (a space-separated list) holds `rel`, case-insensitively.
    fn has_rel(&self, rel: &str) -> bool {
        self.params
            .iter()
            .filter(|(name, _)| name == "rel")
            .take(1) // RFC 8288: only the first `rel` counts.
            .any(|(_, rels)| {
                rels.split_ascii_whitespace()
                    .any(|candidate| candidate.eq_ignore_ascii_case(rel))
            })
    }
}

/// The links of one `Link` header value (RFC 8288 section 3). A malformed link is skipped up
/// to the next comma outside `<...>` and quotes; what can be read is kept.
fn parse_links(header: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut chars = header.chars().peekable();
    loop {
        // Between links: whitespace and commas.
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        match chars.next() {
            None => return links,
            Some('<') => {}
            Some(_) => {
                skip_link(&mut chars);
                continue;
            }
        }
        let mut target = String::new();
        let mut closed = false;
        for c in chars.by_ref() {
            if c == '>' {
                closed = true;
                break;
            }
            target.push(c);
        }
        if !closed {
            return links;
        }
        let mut link = Link {
            target: target.trim().to_owned(),
            params: Vec::new(),
        };
        // Parameters: `; name`, `; name=token`, `; name="quoted \" string"`.
        let valid = loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            match chars.peek() {
                None | Some(',') => break true,
                Some(';') => {
                    chars.next();
                }
                Some(_) => break false,
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut name = String::new();
            while let Some(c) =
                chars.next_if(|c| !matches!(c, '=' | ';' | ',') && !c.is_whitespace())
            {
                name.push(c.to_ascii_lowercase());
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'=').is_some() {
                while chars.next_if(|c| c.is_whitespace()).is_some() {}
                if chars.next_if_eq(&'"').is_some() {
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => value.extend(chars.next()),
                            c => value.push(c),
                        }
                    }
                    if !closed {
                        break false;
                    }
                } else {
                    while let Some(c) =
                        chars.next_if(|c| !matches!(c, ';' | ',') && !c.is_whitespace())
                    {
                        value.push(c);
                    }
                }
            }
            if !name.is_empty() {
                link.params.push((name, value));
            }
        };
        if valid {
            links.push(link);
        } else {
            skip_link(&mut chars);
        }
    }
}

/// Skips the rest of a malformed link: up to a comma outside `<...>` and quotes.
fn skip_link(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let mut in_target = false;
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quotes => {
                chars.next();
            }
            '"' if !in_target => in_quotes = !in_quotes,
            '<' if !in_quotes => in_target = true,
            '>' if !in_quotes => in_target = false,
            ',' if !in_target && !in_quotes => return,
            _ => {}
        }
    }
}

/// `reference` resolved against `base` (RFC 3986 section 5.2): an absolute URL is kept, a
/// relative one takes the scheme, host and, as the case may be, path and query of `base`.
/// A `base` without a scheme and host (a bare path) still resolves paths.
pub(crate) fn resolve(base: &str, reference: &str) -> String {
    if has_scheme(reference) {
        return reference.to_owned();
    }
    let base = base.split('#').next().unwrap_or_default();
    let (scheme, rest) = match base.split_once(':').filter(|_| has_scheme(base)) {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, base),
    };
    let scheme_part = scheme
        .map(|scheme| format!("{scheme}:"))
        .unwrap_or_default();
    if reference.starts_with("//") {
        return format!("{scheme_part}{reference}");
    }
    let (authority, path_and_query) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find(['/', '?']).unwrap_or(after.len());
            (&rest[..end + 2], &after[end..])
        }
        None => ("", rest),
    };
    let (base_path, base_query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let origin = format!("{scheme_part}{authority}");
    let reference = reference.split('#').next().unwrap_or_default();
    if reference.is_empty() {
        let query = base_query
            .map(|query| format!("?{query}"))
            .unwrap_or_default();
        return format!("{origin}{base_path}{query}");
    }
    if reference.starts_with('?') {
        return format!("{origin}{base_path}{reference}");
    }
    let (path, query) = match reference.find('?') {
        Some(at) => reference.split_at(at),
        None => (reference, ""),
    };
    let merged = if path.starts_with('/') {
        path.to_owned()
    } else if !authority.is_empty() && base_path.is_empty() {
        format!("/{path}")
    } else {
        let directory = base_path.rfind('/').map_or("", |at| &base_path[..=at]);
        format!("{directory}{path}")
    };
    format!("{origin}{}{query}", remove_dot_segments(&merged))
}

/// Whether `text` starts with a URI scheme and a colon (`https:`).
fn has_scheme(text: &str) -> bool {
    let Some((scheme, _)) = text.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// RFC 3986 section 5.2.4: `/a/b/../c/./d` is `/a/c/d`.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    let pop = |output: &mut String| {
        let at = output.rfind('/').unwrap_or(0);
        output.truncate(at);
    };
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..];
            pop(&mut output);
        } else if input == "/.." {
            input = "/";
            pop(&mut output);
        } else if input == "." || input == ".." {
            input = "";
        } else {
            let skip = usize::from(input.starts_with('/'));
            let end = input[skip..].find('/').map_or(input.len(), |at| at + skip);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// A wrapper that ends the listing after a number of pages: see [`Paginator::max_pages`].
#[derive(Clone, Debug)]
pub struct MaxPages<P> {
    inner: P,
    max: u64,
    read: u64,
}

impl<P: Paginator> Paginator for MaxPages<P> {
    fn first(&mut self, request: &mut Request) {
        self.read = 0;
        self.inner.first(request);
    }

    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        self.read = self.read.saturating_add(1);
        if self.read >= self.max {
            return Ok(false);
        }
        self.inner.next(response, records, request)
    }
}

/// A wrapper that ends the listing on a condition: see [`Paginator::stop_when`].
#[derive(Clone, Debug)]
pub struct StopWhen<P, F> {
    inner: P,
    stop: F,
}

impl<P: Paginator, F: FnMut(&Response, usize) -> bool + Send> Paginator for StopWhen<P, F> {
    fn first(&mut self, request: &mut Request) {
        self.inner.first(request);
    }

    fn next(
        &mut self,
        response: &Response,
        records: usize,
        request: &mut Request,
    ) -> Result<bool, Error> {
        if (self.stop)(response, records) {
            return Ok(false);
        }
        self.inner.next(response, records, request)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use proptest::prelude::*;

    use super::*;

    const BASE: &str = "https://api.example.com/v1/tickets";

    fn response(url: &str, body: &str) -> Response {
        Response::new(200, url.to_owned(), http::HeaderMap::new(), body.into())
    }

    fn with_links(url: &str, links: &[&str]) -> Response {
        let mut headers = http::HeaderMap::new();
        for link in links {
            headers.append(http::header::LINK, link.parse().unwrap());
        }
        Response::new(200, url.to_owned(), headers, b"[]".to_vec())
    }

    fn query(request: &Request) -> Vec<(&str, &str)> {
        request
            .query_pairs()
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect()
    }

    fn system_message<T: std::fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::System { message, .. }) => message,
            other => panic!("expected a system error, got {other:?}"),
        }
    }

    #[test]
    fn page_numbers_count_up_until_a_short_page() {
        let mut paginator = PageNumber::new("page").size("per_page", 2);
        let mut request = Request::get("/tickets")
            .query("state", "open")
            .query("page", 9);
        paginator.first(&mut request);
        assert_eq!(
            query(&request),
            [("state", "open"), ("page", "1"), ("per_page", "2")]
        );
        assert!(
            paginator
                .next(&response(BASE, "[1,2]"), 2, &mut request)
                .unwrap()
        );
        assert_eq!(
            query(&request),
            [("state", "open"), ("per_page", "2"), ("page", "2")]
        );
        assert!(
            paginator
                .next(&response(BASE, "[3,4]"), 2, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request)[2], ("page", "3"));
        assert!(
            !paginator
                .next(&response(BASE, "[5]"), 1, &mut request)
                .unwrap()
        );
        // A new listing starts over.
        paginator.first(&mut request);
        assert_eq!(
            query(&request),
            [("state", "open"), ("page", "1"), ("per_page", "2")]
        );
        assert!(
            paginator
                .next(&response(BASE, "[1,2]"), 2, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn page_numbers_stop_on_an_empty_page_and_may_go_on_after_short_ones() {
        let mut paginator = PageNumber::new("p")
            .start(0)
            .size("n", 10)
            .stop_on_short_page(false);
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        assert_eq!(query(&request), [("p", "0"), ("n", "10")]);
        assert!(
            paginator
                .next(&response(BASE, "[1]"), 1, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request)[1], ("p", "1"));
        assert!(
            !paginator
                .next(&response(BASE, "[]"), 0, &mut request)
                .unwrap()
        );
        // Without a size, any non-empty page goes on.
        let mut paginator = PageNumber::new("page");
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&response(BASE, "[1]"), 1, &mut request)
                .unwrap()
        );
        assert!(
            !paginator
                .next(&response(BASE, "[]"), 0, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn a_page_number_the_api_ignores_is_an_error_not_an_endless_listing() {
        let mut paginator = PageNumber::new("page").size("per_page", 2);
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        let url = format!("{BASE}?page=1");
        assert!(
            paginator
                .next(&response(&url, "[1,2]"), 2, &mut request)
                .unwrap()
        );
        let url = format!("{BASE}?page=2");
        let message = system_message(paginator.next(&response(&url, "[1,2]"), 2, &mut request));
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("ignore `page`"), "{message}");
    }

    #[test]
    fn offsets_move_on_by_the_records_read_until_a_short_page() {
        let mut paginator = Offset::new("offset", "limit", 3);
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        assert_eq!(query(&request), [("offset", "0"), ("limit", "3")]);
        assert!(
            paginator
                .next(&response(BASE, "[1,2,3]"), 3, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request), [("limit", "3"), ("offset", "3")]);
        assert!(
            !paginator
                .next(&response(BASE, "[4]"), 1, &mut request)
                .unwrap()
        );

        // An API capping the limit below what was asked: nothing skipped, the empty page ends.
        let mut paginator = Offset::new("skip", "top", 100)
            .start(1)
            .stop_on_short_page(false);
        paginator.first(&mut request);
        assert_eq!(query(&request)[2..], [("skip", "1"), ("top", "100")]);
        assert!(
            paginator
                .next(&response(BASE, "[1,2]"), 2, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request)[3], ("skip", "3"));
        assert!(
            paginator
                .next(&response(BASE, "[3,4]"), 2, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request)[3], ("skip", "5"));
        assert!(
            !paginator
                .next(&response(BASE, "[]"), 0, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn an_offset_the_api_ignores_is_an_error() {
        let mut paginator = Offset::new("offset", "limit", 2);
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&response(BASE, "[1,2]"), 2, &mut request)
                .unwrap()
        );
        let message = system_message(paginator.next(&response(BASE, "[1,2]"), 2, &mut request));
        assert!(message.contains("ignore `offset`"), "{message}");
    }

    #[test]
    fn a_body_cursor_goes_into_the_query_until_it_is_null_absent_or_empty() {
        let mut paginator = BodyCursor::new("/meta/next_cursor", "cursor");
        let mut request = Request::get("/tickets").query("limit", 50);
        paginator.first(&mut request);
        assert_eq!(query(&request), [("limit", "50")]);
        let page = r#"{"data": [1], "meta": {"next_cursor": "c2"}}"#;
        assert!(
            paginator
                .next(&response(BASE, page), 1, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request), [("limit", "50"), ("cursor", "c2")]);
        let page = r#"{"meta": {"next_cursor": 17}, "data": []}"#;
        assert!(
            paginator
                .next(&response(BASE, page), 0, &mut request)
                .unwrap()
        );
        assert_eq!(query(&request), [("limit", "50"), ("cursor", "17")]);
        for last in [
            r#"{"meta": {"next_cursor": null}}"#,
            r#"{"meta": {"next_cursor": ""}}"#,
            r#"{"meta": {}}"#,
            r#"{"data": []}"#,
        ] {
            assert!(
                !paginator
                    .next(&response(BASE, last), 1, &mut request)
                    .unwrap()
            );
        }
    }

    #[test]
    fn the_same_cursor_twice_is_an_error_naming_the_url() {
        let mut paginator = BodyCursor::new("/next", "cursor");
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&response(BASE, r#"{"next": "a"}"#), 1, &mut request)
                .unwrap()
        );
        let url = format!("{BASE}?cursor=a");
        let message =
            system_message(paginator.next(&response(&url, r#"{"next": "a"}"#), 1, &mut request));
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("the cursor it was sent (a)"), "{message}");
    }

    #[test]
    fn a_cursor_of_the_wrong_kind_or_a_body_that_is_not_json_is_an_error() {
        let mut paginator = BodyCursor::new("/next", "cursor");
        let mut request = Request::get("/tickets");
        let message = system_message(paginator.next(
            &response(BASE, r#"{"next": {"id": 1}}"#),
            1,
            &mut request,
        ));
        assert!(message.contains(BASE), "{message}");
        assert!(
            message.contains(r#"no cursor at `/next` but {"id":1}"#),
            "{message}"
        );
        let message =
            system_message(paginator.next(&response(BASE, "<html>busy</html>"), 1, &mut request));
        assert!(message.contains("is not JSON"), "{message}");
        assert!(message.contains("<html>busy</html>"), "{message}");
        let mut paginator = BodyCursor::new("next", "cursor");
        let message = system_message(paginator.next(&response(BASE, "{}"), 1, &mut request));
        assert!(
            message.contains("`next` is not a JSON pointer"),
            "{message}"
        );
    }

    #[test]
    fn a_next_link_in_the_body_replaces_the_url_and_its_query() {
        let mut paginator = BodyNextLink::new("/links/next");
        let mut request = Request::get("/tickets").query("page_size", 2);
        paginator.first(&mut request);
        let first = format!("{BASE}?page_size=2");
        let page =
            r#"{"links": {"next": "https://api.example.com/v1/tickets?page=2&page_size=2"}}"#;
        assert!(
            paginator
                .next(&response(&first, page), 2, &mut request)
                .unwrap()
        );
        assert_eq!(
            request.url(),
            "https://api.example.com/v1/tickets?page=2&page_size=2"
        );
        assert!(request.query_pairs().is_empty());
        let page = r#"{"links": {"next": null}}"#;
        assert!(
            !paginator
                .next(&response(request.url(), page), 2, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn a_relative_next_link_is_resolved_against_the_answer_url() {
        let cases = [
            (
                "/v2/items?page=2",
                "https://api.example.com/v2/items?page=2",
            ),
            ("items?page=2", "https://api.example.com/v1/items?page=2"),
            ("?page=2", "https://api.example.com/v1/tickets?page=2"),
            ("../v0/t?page=2", "https://api.example.com/v0/t?page=2"),
            ("//cdn.example.com/p2", "https://cdn.example.com/p2"),
        ];
        for (link, expected) in cases {
            let mut paginator = BodyNextLink::new("/next");
            let mut request = Request::get("/tickets");
            let body = serde_json::json!({ "next": link }).to_string();
            let answer = response(&format!("{BASE}?page=1"), &body);
            assert!(paginator.next(&answer, 1, &mut request).unwrap());
            assert_eq!(request.url(), expected, "{link}");
        }
    }

    #[test]
    fn a_next_link_to_the_same_page_is_an_error() {
        let mut paginator = BodyNextLink::new("/next");
        let mut request = Request::get("/tickets");
        let url = format!("{BASE}?page=1");
        let body = r#"{"next": "?page=1"}"#;
        let message = system_message(paginator.next(&response(&url, body), 1, &mut request));
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("link to the same page"), "{message}");
        // The same link twice in a row, though the answer's URL is spelled otherwise.
        let mut paginator = BodyNextLink::new("/next");
        let body = r#"{"next": "/v1/tickets?page=2"}"#;
        assert!(
            paginator
                .next(&response(&url, body), 1, &mut request)
                .unwrap()
        );
        let spelled = format!("{BASE}?page=%32");
        let message = system_message(paginator.next(&response(&spelled, body), 1, &mut request));
        assert!(message.contains("link to the same page"), "{message}");
    }

    #[test]
    fn the_link_header_is_followed_to_rel_next() {
        let mut paginator = LinkHeader::new();
        let mut request = Request::get("/tickets").query("per_page", 100);
        let github = format!(
            "<{BASE}?page=1>; rel=\"prev\", <{BASE}?page=3>; rel=\"next\", <{BASE}?page=9>; rel=\"last\""
        );
        let answer = with_links(&format!("{BASE}?page=2"), &[&github]);
        assert!(paginator.next(&answer, 1, &mut request).unwrap());
        assert_eq!(request.url(), format!("{BASE}?page=3"));
        assert!(request.query_pairs().is_empty());
        // The last page has no `next`.
        let answer = with_links(
            &format!("{BASE}?page=3"),
            &[&format!("<{BASE}?page=2>; rel=\"prev\"")],
        );
        assert!(!paginator.next(&answer, 1, &mut request).unwrap());
        assert!(
            !paginator
                .next(&response(BASE, "[]"), 1, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn link_headers_in_every_spelling_rfc_8288_allows() {
        let cases: [&[&str]; 6] = [
            // Several relation types; unquoted, upper case.
            &[r#"</a>; rel="prev"; title="x", </b?x=1,2;y>; rel="start NEXT""#],
            &["</b?x=1,2;y>;rel=next"],
            // A comma and a semicolon inside a quoted parameter.
            &[
                r#"</a>; title="a, b; c" ; rel=prev,</b?x=1,2;y> ; title*=UTF-8'de'n%c3%a4chstes ; rel = next"#,
            ],
            // Several Link headers.
            &["</a>; rel=prev", "</b?x=1,2;y>; rel=\"next\""],
            // A malformed link before the good one is skipped.
            &["garbage; rel=next, </b?x=1,2;y>; rel=next"],
            // An escaped quote; only the first `rel` counts.
            &[r#"</a>; title="say \"next\""; rel=prev; rel=next, </b?x=1,2;y>; rel=next"#],
        ];
        for links in cases {
            let mut paginator = LinkHeader::new();
            let mut request = Request::get("/tickets");
            let answer = with_links("https://api.example.com/v1/list", links);
            assert!(
                paginator.next(&answer, 1, &mut request).unwrap(),
                "{links:?}"
            );
            assert_eq!(
                request.url(),
                "https://api.example.com/b?x=1,2;y",
                "{links:?}"
            );
        }
    }

    #[test]
    fn the_same_link_header_twice_is_an_error() {
        let mut paginator = LinkHeader::new();
        let mut request = Request::get("/tickets");
        let link = format!("<{BASE}?page=2>; rel=next");
        assert!(
            paginator
                .next(&with_links(BASE, &[&link]), 1, &mut request)
                .unwrap()
        );
        let url = format!("{BASE}?page=2");
        let message = system_message(paginator.next(&with_links(&url, &[&link]), 1, &mut request));
        assert!(message.contains(&url), "{message}");
        // A new listing forgets the links of the last one.
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&with_links(BASE, &[&link]), 1, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn no_pagination_reads_one_page() {
        let mut request = Request::get("/tickets");
        assert!(
            !NoPagination
                .next(&response(BASE, "[1]"), 1, &mut request)
                .unwrap()
        );
    }

    #[test]
    fn adaptors_stop_early_and_boxes_are_paginators() {
        let mut paginator: Box<dyn Paginator> = Box::new(PageNumber::new("page").max_pages(2));
        let mut request = Request::get("/tickets");
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&response(BASE, "[1]"), 1, &mut request)
                .unwrap()
        );
        assert!(
            !paginator
                .next(&response(BASE, "[2]"), 1, &mut request)
                .unwrap()
        );
        paginator.first(&mut request);
        assert!(
            paginator
                .next(&response(BASE, "[1]"), 1, &mut request)
                .unwrap()
        );

        let mut paginator = BodyCursor::new("/cursor", "after").stop_when(|response, _| {
            response
                .json::<serde_json::Value>()
                .is_ok_and(|body| body["has_more"] == false)
        });
        let page = r#"{"has_more": true, "cursor": "x"}"#;
        assert!(
            paginator
                .next(&response(BASE, page), 1, &mut request)
                .unwrap()
        );
        let page = r#"{"has_more": false, "cursor": "y"}"#;
        assert!(
            !paginator
                .next(&response(BASE, page), 1, &mut request)
                .unwrap()
        );

        let mut one = NoPagination.max_pages(0);
        assert!(!one.next(&response(BASE, "[1]"), 1, &mut request).unwrap());
    }

    #[test]
    fn references_resolve_as_rfc_3986_section_5_4_says() {
        let base = "http://a/b/c/d;p?q";
        let cases = [
            ("g:h", "g:h"),
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("g?y#s", "http://a/b/c/g?y"),
            (";x", "http://a/b/c/;x"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            ("..g", "http://a/b/c/..g"),
            ("./../g", "http://a/b/g"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
        ];
        for (reference, expected) in cases {
            assert_eq!(resolve(base, reference), expected, "{reference}");
        }
        assert_eq!(resolve("http://a", "g"), "http://a/g");
        assert_eq!(resolve("http://a?q", "?r"), "http://a?r");
        assert_eq!(resolve("/v1/items?page=1", "?page=2"), "/v1/items?page=2");
        assert_eq!(resolve("/v1/items", "other"), "/v1/other");
    }

    /// A link target: any text without `>` (what `<...>` can hold), commas and semicolons
    /// included.
    fn target() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9/:?=&,; ._~%-]{0,30}".prop_map(|target| target.trim().to_owned())
    }

    /// A parameter: a token name and a value written as a token or a quoted string.
    fn param() -> impl Strategy<Value = (String, String, bool)> {
        (
            "[a-z][a-z0-9*-]{0,8}",
            "[a-zA-Z0-9 ,;=\"\\\\<>.-]{0,12}",
            any::<bool>(),
        )
            .prop_map(|(name, value, quoted)| {
                let token = !value.is_empty()
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
                (name, value, quoted || !token)
            })
    }

    proptest! {
        /// Links written in any legal spelling read back as written.
        #[test]
        fn link_headers_round_trip(
            links in prop::collection::vec((target(), prop::collection::vec(param(), 0..4)), 0..4),
            space in "[ \t]{0,2}",
        ) {
            let header = links
                .iter()
                .map(|(target, params)| {
                    let mut link = format!("<{target}>");
                    for (name, value, quoted) in params {
                        let value = if *quoted {
                            format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
                        } else {
                            value.clone()
                        };
                        let _ = write!(link, "{space};{space}{name}{space}={space}{value}");
                    }
                    link
                })
                .collect::<Vec<_>>()
                .join(&format!("{space},{space}"));
            let parsed = parse_links(&header);
            let expected: Vec<Link> = links
                .iter()
                .map(|(target, params)| Link {
                    target: target.clone(),
                    params: params.iter().map(|(name, value, _)| (name.clone(), value.clone())).collect(),
                })
                .collect();
            prop_assert_eq!(parsed, expected, "{}", header);
        }

        /// No header value makes the parser panic, and every target it reads was in `<...>`.
        #[test]
        fn any_link_header_parses_without_panicking(header in "\\PC{0,60}") {
            for link in parse_links(&header) {
                let opened = format!("<{}", link.target);
                prop_assert!(header.contains(&opened));
            }
        }

        /// Resolving never panics, and an absolute reference stays as it is.
        #[test]
        fn resolving_never_panics(base in "\\PC{0,30}", reference in "\\PC{0,30}") {
            let resolved = resolve(&base, &reference);
            if has_scheme(&reference) {
                prop_assert_eq!(resolved, reference);
            }
        }
    }
}
