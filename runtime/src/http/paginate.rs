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
/// The same cursor twice in a row is a system error: the API loops.
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
