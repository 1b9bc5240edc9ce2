//! Turning a page's body into records: JSON at a pointer, JSON Lines or CSV, each possibly
//! gzip-compressed without a `Content-Encoding` (an export file).

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::io::Read as _;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};

use super::message::{Response, quote};
use crate::Error;

/// The most bytes a gzip-compressed body may inflate to by default: 1 GiB. A larger body fails
/// with a system error instead of taking unbounded memory (see [`Records::decode_within`]).
pub const MAX_INFLATED: u64 = 1 << 30;

/// The gzip magic bytes a compressed body starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// How a page's body holds its records.
///
/// A body that starts with the gzip magic bytes is inflated first (a `Content-Encoding: gzip`
/// answer is already decoded by the transport), to at most [`MAX_INFLATED`] bytes. Every error
/// is a system error that names the URL of the answer and quotes the offending part of the
/// body: the JSON around the error, the JSON line or the CSV line.
///
/// ```
/// use tidemark::http::{Records, Response};
///
/// #[derive(serde::Deserialize)]
/// struct Ticket { id: u64 }
///
/// let body = br#"{"meta": {"next": null}, "tickets": [{"id": 1}, {"id": 2}]}"#.to_vec();
/// let response = Response::new(200, "https://api.example.com/tickets".into(), Default::default(), body);
/// let tickets: Vec<Ticket> = Records::json("/tickets").decode(&response)?;
/// assert_eq!(tickets.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2]);
/// # Ok::<(), tidemark::Error>(())
/// ```
#[derive(Clone, Debug)]
pub enum Records {
    /// A JSON array at a JSON pointer (RFC 6901) into the body: `""` when the body is the
    /// array, `"/tickets"`, `"/data/items"`. A member that is `null` is a page of no records
    /// (as APIs written in Go send an empty list); a body without that member, or whose member
    /// is neither an array nor `null`, is an error.
    Json {
        /// The JSON pointer to the array of records.
        pointer: String,
    },
    /// One JSON value per line; blank lines are skipped.
    JsonLines,
    /// CSV with a header row whose names are the records' field names; every row must have as
    /// many fields as the header.
    Csv {
        /// The field delimiter, `b','` for [`Records::csv`].
        delimiter: u8,
    },
}

impl Records {
    /// The array at `pointer` in a JSON body: `""` for a body that is the array itself,
    /// `"/tickets"` for the member `tickets` of the body's object.
    #[must_use]
    pub fn json(pointer: &str) -> Self {
        Records::Json {
            pointer: pointer.to_owned(),
        }
    }

    /// JSON Lines: one record per non-blank line.
    #[must_use]
    pub fn json_lines() -> Self {
        Records::JsonLines
    }

    /// Comma-separated values with a header row.
    #[must_use]
    pub fn csv() -> Self {
        Records::Csv { delimiter: b',' }
    }

    /// The records of `response`'s body, in order; a gzip body inflates to at most
    /// [`MAX_INFLATED`] bytes.
    ///
    /// JSON at a pointer is read in one pass: the members around the array are skipped, never
    /// built.
    ///
    /// # Errors
    ///
    /// A system error naming the URL and quoting the offending part of the body when the body
    /// does not hold records of type `T` in the expected format, or inflates past the cap.
    pub fn decode<T: DeserializeOwned>(&self, response: &Response) -> Result<Vec<T>, Error> {
        self.decode_within(response, MAX_INFLATED)
    }

    /// [`Records::decode`], with a gzip body inflating to at most `max_inflated` bytes.
    ///
    /// # Errors
    ///
    /// As [`Records::decode`].
    pub fn decode_within<T: DeserializeOwned>(
        &self,
        response: &Response,
        max_inflated: u64,
    ) -> Result<Vec<T>, Error> {
        let body = inflate(response, max_inflated)?;
        match self {
            Records::Json { pointer } => json_at(response.url(), &body, pointer),
            Records::JsonLines => json_lines(response.url(), &body),
            Records::Csv { delimiter } => csv_rows(response.url(), &body, *delimiter),
        }
    }
}

/// The body, inflated when it starts with the gzip magic bytes, to at most `max` bytes.
pub(crate) fn inflate(response: &Response, max: u64) -> Result<Cow<'_, [u8]>, Error> {
    let body = response.body();
    if !body.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(body));
    }
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(max.saturating_add(1))
        .read_to_end(&mut inflated)
        .map_err(|error| {
            Error::system(format!(
                "the answer to {} starts as gzip but does not inflate ({error})",
                response.url()
            ))
            .with_source(error)
        })?;
    if inflated.len() as u64 > max {
        return Err(Error::system(format!(
            "the answer to {} inflates to more than {max} bytes (a {} byte gzip body): \
             not read any further",
            response.url(),
            body.len()
        )));
    }
    Ok(Cow::Owned(inflated))
}

/// The reference tokens of a JSON pointer (`~1` is `/`, `~0` is `~`), or an error for a
/// pointer that is neither empty nor starts with `/`.
pub(crate) fn pointer_tokens(pointer: &str) -> Result<Vec<String>, Error> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(Error::system(format!(
            "`{pointer}` is not a JSON pointer: it must be empty (the whole body) or start \
             with `/`, as `/{pointer}`"
        )));
    };
    Ok(rest
        .split('/')
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// The value at a JSON pointer (as its tokens) of a JSON text, deserialized as `T`, in one
/// pass: every other member and element is skipped without being built. `Ok(None)` when the
/// pointer leads nowhere (a missing member, an index past the end, a scalar on the way).
pub(crate) fn value_at<T: DeserializeOwned>(
    json: &[u8],
    tokens: &[String],
) -> Result<Option<T>, serde_json::Error> {
    let seed = AtPointer {
        tokens,
        target: PhantomData,
    };
    // UTF-8 checked once for the whole body (fast), not string by string.
    if let Ok(text) = std::str::from_utf8(json) {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let value = seed.deserialize(&mut deserializer)?;
        deserializer.end()?;
        return Ok(value);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = seed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

/// Deserializes the value at `tokens` as `T`, skipping the rest.
struct AtPointer<'p, T> {
    tokens: &'p [String],
    target: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for AtPointer<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Option<T>, D::Error> {
        match self.tokens.split_first() {
            None => T::deserialize(deserializer).map(Some),
            Some((token, rest)) => deserializer.deserialize_any(Step {
                token,
                rest,
                target: PhantomData,
            }),
        }
    }
}

/// One step down a pointer: the member or element named `token` of an object or array.
struct Step<'p, T> {
    token: &'p str,
    rest: &'p [String],
    target: PhantomData<T>,
}

impl<'de, T: de::Deserialize<'de>> de::Visitor<'de> for Step<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(matches) = map.next_key_seed(KeyIs(self.token))? {
            if matches && found.is_none() {
                found = map.next_value_seed(AtPointer {
                    tokens: self.rest,
                    target: PhantomData,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
        // RFC 6901: an index is `0` or digits without a leading zero.
        let index = match self.token.parse::<usize>() {
            Ok(index) if self.token == "0" || !self.token.starts_with('0') => Some(index),
            _ => None,
        };
        let mut found = None;
        let mut position = 0_usize;
        loop {
            if Some(position) == index {
                match seq.next_element_seed(AtPointer {
                    tokens: self.rest,
                    target: PhantomData,
                })? {
                    Some(value) => found = value,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            position = position.saturating_add(1);
        }
        Ok(found)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
}

/// Whether a map key equals the token, compared without allocating.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl de::Visitor<'_> for KeyIs<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// The array at `pointer`, in one pass; on failure, a second look says what is wrong.
fn json_at<T: DeserializeOwned>(url: &str, body: &[u8], pointer: &str) -> Result<Vec<T>, Error> {
    let tokens = pointer_tokens(pointer)
        .map_err(|error| Error::system(format!("the records of {url}: {error}")))?;
    match value_at::<Option<Vec<T>>>(body, &tokens) {
        Ok(Some(records)) => Ok(records.unwrap_or_default()),
        Ok(None) | Err(_) => Err(json_error::<T>(url, body, pointer)),
    }
}

/// What is wrong with a JSON body whose records did not decode: read again, slowly, to say
/// where.
fn json_error<T: DeserializeOwned>(url: &str, body: &[u8], pointer: &str) -> Error {
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => value,
        Err(error) => {
            return Error::system(format!(
                "the answer to {url} is not JSON ({error}): {}",
                excerpt_at(body, error.line(), error.column())
            ))
            .with_source(error);
        }
    };
    let whole = || quote(&String::from_utf8_lossy(body));
    let at = if pointer.is_empty() {
        "the body".to_owned()
    } else {
        format!("`{pointer}`")
    };
    let Some(array) = value.pointer(pointer) else {
        return Error::system(format!(
            "the answer to {url} has no records at {at}: {}",
            whole()
        ));
    };
    if !array.is_array() {
        return Error::system(format!(
            "the answer to {url} has no array of records at {at} but {}: {}",
            kind(array),
            quote(&array.to_string())
        ));
    }
    match serde_path_to_error::deserialize::<_, Vec<T>>(array) {
        Ok(_) => Error::system(format!(
            "the answer to {url} has records at {at} that could not be read: {}",
            whole()
        )),
        Err(error) => {
            let path = error.path().to_string();
            let index = error
                .path()
                .iter()
                .next()
                .and_then(|segment| match segment {
                    serde_path_to_error::Segment::Seq { index } => Some(*index),
                    _ => None,
                });
            let record = index
                .and_then(|index| array.get(index))
                .map_or_else(whole, |record| quote(&record.to_string()));
            Error::system(format!(
                "the answer to {url} has a record that is not what was expected: {at}{}: {}: {record}",
                path_suffix(&path),
                error.inner()
            ))
            .with_source(error.into_inner())
        }
    }
}

/// `[3].id` after the pointer, from serde's path `[3].id` (empty for the array itself).
fn path_suffix(path: &str) -> Cow<'_, str> {
    if path == "." || path.is_empty() {
        Cow::Borrowed("")
    } else if path.starts_with('[') {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(format!(".{path}"))
    }
}

/// What kind of JSON value this is, for a message.
fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The part of `text` around line `line`, column `column` (both from 1, as `serde_json` counts),
/// quoted; the whole start of the text when the position is unknown.
fn excerpt_at(text: &[u8], line: usize, column: usize) -> String {
    const BEFORE: usize = 100;
    let text = String::from_utf8_lossy(text);
    let mut offset = 0;
    if line > 0 {
        for (number, content) in text.split_inclusive('\n').enumerate() {
            if number + 1 == line {
                offset += column.min(content.len());
                break;
            }
            offset += content.len();
        }
    }
    let mut start = offset.saturating_sub(BEFORE).min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    if start == 0 {
        quote(&text)
    } else {
        format!("...{}", quote(&text[start..]))
    }
}

/// One record per non-blank line.
fn json_lines<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<Vec<T>, Error> {
    let mut records = Vec::new();
    for (index, line) in body.split(|&byte| byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = serde_json::from_slice(line).map_err(|error| {
            Error::system(format!(
                "line {} of the answer to {url} is not what was expected ({error}): {}",
                index + 1,
                quote(&String::from_utf8_lossy(line))
            ))
            .with_source(error)
        })?;
        records.push(record);
    }
    Ok(records)
}

/// One record per CSV row after the header.
fn csv_rows<T: DeserializeOwned>(url: &str, body: &[u8], delimiter: u8) -> Result<Vec<T>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_reader(body);
    let mut records = Vec::new();
    for record in reader.deserialize() {
        records.push(record.map_err(|error| csv_error(url, body, error))?);
    }
    Ok(records)
}

/// A CSV error naming its line and quoting it.
fn csv_error(url: &str, body: &[u8], error: csv::Error) -> Error {
    let position = match error.kind() {
        csv::ErrorKind::Utf8 { pos, .. } | csv::ErrorKind::UnequalLengths { pos, .. } => {
            pos.as_ref()
        }
        csv::ErrorKind::Deserialize { pos, .. } => pos.as_ref(),
        _ => error.position(),
    };
    let what = match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Deserialize { err, .. } => {
            let mut what = String::new();
            if let Some(field) = err.field() {
                let _ = write!(what, "field {}: ", field + 1);
            }
            let _ = write!(what, "{}", err.kind());
            what
        }
        _ => error.to_string(),
    };
    let message = match position {
        Some(position) => {
            let start = usize::try_from(position.byte())
                .unwrap_or(usize::MAX)
                .min(body.len());
            let rest = &body[start..];
            let end = rest
                .iter()
                .position(|&byte| byte == b'\n')
                .unwrap_or(rest.len());
            format!(
                "line {} of the answer to {url} is not what was expected ({what}): {}",
                position.line(),
                quote(&String::from_utf8_lossy(&rest[..end]))
            )
        }
        None => format!(
            "the answer to {url} is not the CSV expected ({what}): {}",
            quote(&String::from_utf8_lossy(body))
        ),
    };
    Error::system(message).with_source(error)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::Value;

    use super::*;

    const URL: &str = "https://api.example.com/v1/tickets?page=2";

    #[derive(Debug, Deserialize, PartialEq)]
    struct Ticket {
        id: u64,
        title: String,
    }

    fn response(body: impl Into<Vec<u8>>) -> Response {
        Response::new(200, URL.to_owned(), http::HeaderMap::new(), body.into())
    }

    fn ticket(id: u64, title: &str) -> Ticket {
        Ticket {
            id,
            title: title.to_owned(),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn system_message<T: fmt::Debug>(result: Result<T, Error>) -> String {
        match result {
            Err(Error::System { message, .. }) => message,
            other => panic!("expected a system error, got {other:?}"),
        }
    }

    #[test]
    fn json_records_are_the_body_when_the_pointer_is_empty() {
        let body = r#"[{"id": 1, "title": "a"}, {"id": 2, "title": "b"}]"#;
        let records: Vec<Ticket> = Records::json("").decode(&response(body)).unwrap();
        assert_eq!(records, [ticket(1, "a"), ticket(2, "b")]);
    }

    #[test]
    fn json_records_at_a_pointer_skip_every_other_member() {
        let body = r#"{"meta": {"next": "x", "deep": [[{"tickets": 0}]]}, "tickets":
            [{"id": 1, "title": "a", "extra": {"nested": [1, 2]}}], "after": [1, {"tickets": 3}]}"#;
        let records: Vec<Ticket> = Records::json("/tickets").decode(&response(body)).unwrap();
        assert_eq!(records, [ticket(1, "a")]);
    }

    #[test]
    fn json_pointers_go_through_objects_and_arrays_and_unescape_tokens() {
        let body = r#"{"data": {"a/b": [{"x~y": []}, {"x~y": [{"id": 7, "title": "t"}]}]}}"#;
        let records: Vec<Ticket> = Records::json("/data/a~1b/1/x~0y")
            .decode(&response(body))
            .unwrap();
        assert_eq!(records, [ticket(7, "t")]);
        let empty: Vec<Ticket> = Records::json("/data/a~1b/0/x~0y")
            .decode(&response(body))
            .unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn a_null_member_is_a_page_of_no_records() {
        for body in [r#"{"tickets": null, "next": null}"#, "null"] {
            let pointer = if body == "null" { "" } else { "/tickets" };
            let records: Vec<Ticket> = Records::json(pointer).decode(&response(body)).unwrap();
            assert!(records.is_empty(), "{body}");
        }
    }

    #[test]
    fn a_missing_pointer_is_an_error_naming_the_url_and_quoting_the_body() {
        let message = system_message(
            Records::json("/tickets").decode::<Ticket>(&response(r#"{"items": []}"#)),
        );
        assert!(message.contains(URL), "{message}");
        assert!(message.contains("no records at `/tickets`"), "{message}");
        assert!(message.contains(r#"{"items": []}"#), "{message}");
    }

    #[test]
    fn a_member_that_is_not_an_array_is_an_error_saying_what_it_is() {
        let message = system_message(
            Records::json("/tickets").decode::<Ticket>(&response(r#"{"tickets": {"id": 1}}"#)),
        );
        assert!(message.contains(URL), "{message}");
        assert!(message.contains("but an object"), "{message}");
        assert!(message.contains(r#"{"id":1}"#), "{message}");
        let message = system_message(
            Records::json("/tickets").decode::<Ticket>(&response(r#"{"tickets": "none"}"#)),
        );
        assert!(message.contains("but a string"), "{message}");
        let message = system_message(Records::json("").decode::<Ticket>(&response("{}")));
        assert!(
            message.contains("array of records at the body"),
            "{message}"
        );
    }

    #[test]
    fn a_record_of_the_wrong_shape_is_named_by_its_path_and_quoted() {
        let body = r#"{"tickets": [{"id": 1, "title": "a"}, {"id": "two", "title": "b"}]}"#;
        let message = system_message(Records::json("/tickets").decode::<Ticket>(&response(body)));
        assert!(message.contains(URL), "{message}");
        assert!(message.contains("`/tickets`[1].id"), "{message}");
        assert!(
            message.contains("invalid type: string \"two\""),
            "{message}"
        );
        assert!(message.contains(r#"{"id":"two","title":"b"}"#), "{message}");
    }

    #[test]
    fn a_body_that_is_not_json_is_quoted_around_the_error() {
        let body = format!(
            r#"{{"tickets": [{}{{"id": 1,, "title": "a"}}]}}"#,
            "{\"id\": 0, \"title\": \"padding\"},".repeat(20)
        );
        let message = system_message(Records::json("/tickets").decode::<Ticket>(&response(body)));
        assert!(message.contains("is not JSON"), "{message}");
        assert!(message.contains(r#"{"id": 1,, "title""#), "{message}");
        assert!(message.contains("..."), "{message}");
        let message = system_message(Records::json("").decode::<Ticket>(&response("")));
        assert!(message.contains("(empty body)"), "{message}");
        let message = system_message(Records::json("").decode::<Ticket>(&response("[] []")));
        assert!(message.contains("trailing characters"), "{message}");
    }

    #[test]
    fn a_pointer_without_a_leading_slash_is_refused() {
        let message = system_message(Records::json("tickets").decode::<Ticket>(&response("{}")));
        assert!(
            message.contains("`tickets` is not a JSON pointer"),
            "{message}"
        );
        assert!(message.contains("`/tickets`"), "{message}");
    }

    #[test]
    fn json_lines_skip_blank_lines_and_accept_crlf() {
        let body = "{\"id\": 1, \"title\": \"a\"}\r\n\r\n  \n{\"id\": 2, \"title\": \"b\"}\n";
        let records: Vec<Ticket> = Records::json_lines().decode(&response(body)).unwrap();
        assert_eq!(records, [ticket(1, "a"), ticket(2, "b")]);
        let none: Vec<Ticket> = Records::json_lines().decode(&response("\n\n")).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_bad_json_line_is_named_by_its_number_and_quoted() {
        let body = "{\"id\": 1, \"title\": \"a\"}\n\n{\"id\": 2, \"title\": 3}\n";
        let message = system_message(Records::json_lines().decode::<Ticket>(&response(body)));
        assert!(message.starts_with("line 3 of the answer to"), "{message}");
        assert!(message.contains(URL), "{message}");
        assert!(message.contains(r#"{"id": 2, "title": 3}"#), "{message}");
    }

    #[test]
    fn csv_rows_are_read_by_their_header() {
        let body = "title,id\na,1\n\"b, with a comma\",2\n";
        let records: Vec<Ticket> = Records::csv().decode(&response(body)).unwrap();
        assert_eq!(records, [ticket(1, "a"), ticket(2, "b, with a comma")]);
        let body = "id;title\n3;c\n";
        let records: Vec<Ticket> = Records::Csv { delimiter: b';' }
            .decode(&response(body))
            .unwrap();
        assert_eq!(records, [ticket(3, "c")]);
        let none: Vec<Ticket> = Records::csv().decode(&response("")).unwrap();
        assert!(none.is_empty());
        let none: Vec<Ticket> = Records::csv().decode(&response("id,title\n")).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_csv_row_with_a_wrong_field_count_names_its_line() {
        let body = "id,title\n1,a\n2,b,extra\n3,c\n";
        let message = system_message(Records::csv().decode::<Ticket>(&response(body)));
        assert!(message.starts_with("line 3 of the answer to"), "{message}");
        assert!(message.contains(URL), "{message}");
        assert!(
            message.contains("3 fields where the header has 2"),
            "{message}"
        );
        assert!(message.ends_with(": 2,b,extra"), "{message}");
    }

    #[test]
    fn a_csv_field_of_the_wrong_type_names_its_line_and_field() {
        let body = "id,title\n1,a\nx,b\n";
        let message = system_message(Records::csv().decode::<Ticket>(&response(body)));
        assert!(message.starts_with("line 3 of the answer to"), "{message}");
        assert!(message.contains("field 1"), "{message}");
        assert!(message.ends_with(": x,b"), "{message}");
    }

    #[test]
    fn gzip_bodies_are_inflated_first_in_every_format() {
        let json = gzip(br#"{"tickets": [{"id": 1, "title": "a"}]}"#);
        let records: Vec<Ticket> = Records::json("/tickets").decode(&response(json)).unwrap();
        assert_eq!(records, [ticket(1, "a")]);
        let lines = gzip(b"{\"id\": 1, \"title\": \"a\"}\n");
        let records: Vec<Ticket> = Records::json_lines().decode(&response(lines)).unwrap();
        assert_eq!(records, [ticket(1, "a")]);
        let mut csv = gzip(b"id,title\n1,a\n");
        // Concatenated gzip members are one body, as `gzip -c a b` writes them.
        csv.extend(gzip(b"2,b\n"));
        let records: Vec<Ticket> = Records::csv().decode(&response(csv)).unwrap();
        assert_eq!(records, [ticket(1, "a"), ticket(2, "b")]);
    }

    #[test]
    fn a_gzip_body_past_the_cap_fails_without_inflating_it_all() {
        // 64 MiB of zeros, compressed to about 64 KiB.
        let bomb = gzip(&vec![0_u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let message = system_message(
            Records::json_lines().decode_within::<Value>(&response(bomb.clone()), 1 << 20),
        );
        assert!(message.contains(URL), "{message}");
        assert!(
            message.contains("inflates to more than 1048576 bytes"),
            "{message}"
        );
        // At the cap exactly, the body is read.
        let exact = gzip(b"[1, 2]");
        let records: Vec<u8> = Records::json("")
            .decode_within(&response(exact), 6)
            .unwrap();
        assert_eq!(records, [1, 2]);
    }

    #[test]
    fn a_corrupt_gzip_body_is_an_error() {
        let mut body = gzip(br#"[{"id": 1, "title": "a"}]"#);
        body.truncate(body.len() - 10);
        let message = system_message(Records::json("").decode::<Ticket>(&response(body)));
        assert!(
            message.contains("starts as gzip but does not inflate"),
            "{message}"
        );
        assert!(message.contains(URL), "{message}");
    }

    /// Arbitrary JSON values, a few levels deep.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-c~/]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c~/]{0,2}", inner), 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The one-pass pointer reads what `serde_json::Value::pointer` finds.
        #[test]
        fn value_at_agrees_with_serde_json_pointer(
            value in json_value(),
            tokens in prop::collection::vec(prop_oneof!["[a-c~/]{0,2}", "[0-3]", Just("01".to_owned())], 0..4),
        ) {
            let mut pointer = String::new();
            for token in &tokens {
                let _ = write!(pointer, "/{}", token.replace('~', "~0").replace('/', "~1"));
            }
            let text = serde_json::to_vec(&value).unwrap();
            let found: Option<Value> = value_at(&text, &pointer_tokens(&pointer).unwrap()).unwrap();
            prop_assert_eq!(found.as_ref(), value.pointer(&pointer));
        }

        /// No body makes a decoder panic.
        #[test]
        fn decoders_never_panic(body in prop::collection::vec(any::<u8>(), 0..200), gz in any::<bool>()) {
            let body = if gz { gzip(&body) } else { body };
            for records in [Records::json(""), Records::json("/a/0"), Records::json_lines(), Records::csv()] {
                let _ = records.decode::<Value>(&response(body.clone()));
                let _ = records.decode::<Ticket>(&response(body.clone()));
            }
        }
    }
}
