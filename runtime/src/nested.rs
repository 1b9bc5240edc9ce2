//! Nested cursor paths: `cursor = "meta.updated_at"` reaches into a field's struct.

/// A struct whose fields a nested `cursor` path can reach. Derive it with
/// `#[derive(tidemark::Nested)]` on the inner struct:
///
/// ```
/// use chrono::{DateTime, Utc};
///
/// #[derive(serde::Serialize, schemars::JsonSchema, tidemark::Nested)]
/// struct Meta {
///     #[serde(rename = "updatedAt")]
///     updated_at: DateTime<Utc>,
/// }
///
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// #[tidemark::incremental_stream(cursor = "meta.updated_at", primary_key = "id")]
/// struct Ticket {
///     id: u64,
///     meta: Meta,
/// }
///
/// use tidemark::IncrementalStream as _;
/// // The catalog and the state name the cursor by its JSON path.
/// assert_eq!(Ticket::CURSOR_FIELD, ["meta", "updatedAt"]);
/// assert_eq!(<TicketState as tidemark::StreamState>::KEYS, ["meta.updatedAt"]);
/// ```
///
/// The derive implements this trait and, for each serialized field, a hidden trait giving the
/// field's type and JSON name. The segments of a nested path are Rust field names; the cursor
/// field at the end cannot be an `Option`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not derive `tidemark::Nested`, so a nested `cursor` path cannot reach into it",
    label = "this path reaches into `{Self}`",
    note = "add `#[derive(tidemark::Nested)]` to every struct a nested `cursor` path goes through"
)]
pub trait Nested {
    /// The struct's name, for messages.
    #[doc(hidden)]
    const NAME: &'static str;
    /// The Rust names of the serialized fields: the segments a path may use.
    #[doc(hidden)]
    const FIELDS: &'static [&'static str];
}

/// The FNV-1a hash of a field name: the const parameter that identifies a field of a
/// [`Nested`] struct in the hidden field trait.
#[must_use]
pub const fn field_id(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// One field of a [`Nested`] struct, identified by the [`field_id`] of its Rust name.
#[diagnostic::on_unimplemented(
    message = "a segment of this nested `cursor` path does not name a field of `{Self}`",
    label = "no such field in `{Self}`, or `{Self}` does not derive `tidemark::Nested`",
    note = "every struct a nested `cursor` path goes through derives `tidemark::Nested`, and each \
            segment is the Rust name of one of its serialized fields"
)]
pub trait Field<const ID: u64> {
    /// The field's type.
    type Type;
    /// The field's name in JSON (after `#[serde(rename)]` and `rename_all`).
    const JSON_NAME: &'static str;
    /// The field.
    fn get(&self) -> &Self::Type;
}

/// The [`Field`] id of a segment that names no field, and has no close match either.
pub const MISSING: u64 = 0;

/// A segment that names no field of a [`Nested`] struct still has a type, so that the generated
/// code type-checks and the only error is the one of [`check_path`].
impl<T: Nested + ?Sized> Field<MISSING> for T {
    type Type = crate::__private::Unresolved;
    const JSON_NAME: &'static str = "";

    fn get(&self) -> &Self::Type {
        unreachable!("a nested `cursor` path that names no field does not compile")
    }
}

/// The [`Field`] id a path segment resolves to among `fields` (the [`Nested::FIELDS`] of the
/// struct it goes through): the segment's own, else that of the closest field name (the one
/// the error of [`check_path`] suggests, so code using the stream keeps type-checking against
/// what was meant), else [`MISSING`].
#[must_use]
pub const fn resolve(fields: &[&str], segment: &str) -> u64 {
    if position(fields, segment).is_some() {
        return field_id(segment);
    }
    match closest(fields, segment) {
        Some(index) => field_id(fields[index]),
        None => MISSING,
    }
}

/// One segment of a nested `cursor` path, with what is known of the struct it goes through.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// The segment as written.
    pub name: &'static str,
    /// [`Nested::NAME`] of the struct the segment names a field of.
    pub owner: &'static str,
    /// [`Nested::FIELDS`] of that struct.
    pub fields: &'static [&'static str],
}

/// The length of [`check_path`]'s message for `path`: 0 when every segment names a field.
#[must_use]
pub const fn check_path_len(path: &[Segment]) -> usize {
    path_message::<0>(path).len
}

/// The error for the first segment of `path` that names no field, as UTF-8 of length
/// [`check_path_len`]. The generated code panics with it at compile time, on the `cursor`
/// literal: "no field named `updatedat` in `Meta`", with a suggestion or the list of fields.
#[must_use]
pub const fn check_path<const N: usize>(path: &[Segment]) -> [u8; N] {
    path_message::<N>(path).bytes
}

const fn path_message<const N: usize>(path: &[Segment]) -> Writer<N> {
    let mut out = Writer::new();
    let mut i = 0;
    while i < path.len() {
        let segment = path[i];
        if position(segment.fields, segment.name).is_none() {
            out = out
                .push("no field named `")
                .push(segment.name)
                .push("` in `")
                .push(segment.owner)
                .push("`\nhelp: ");
            return match closest(segment.fields, segment.name) {
                Some(index) => out
                    .push("did you mean `")
                    .push(segment.fields[index])
                    .push("`?"),
                None => list(out.push("the serialized fields are "), segment.fields),
            };
        }
        i += 1;
    }
    out
}

/// `parts` joined into UTF-8 of length [`join_len`]: the state key of a nested cursor, from the
/// JSON names of its segments.
#[must_use]
pub const fn join<const N: usize>(parts: &[&str]) -> [u8; N] {
    join_parts::<N>(parts).bytes
}

/// The length of `parts` joined.
#[must_use]
pub const fn join_len(parts: &[&str]) -> usize {
    join_parts::<0>(parts).len
}

const fn join_parts<const N: usize>(parts: &[&str]) -> Writer<N> {
    let mut out = Writer::new();
    let mut i = 0;
    while i < parts.len() {
        out = out.push(parts[i]);
        i += 1;
    }
    out
}

/// The bytes of [`join`] or [`check_path`] as the string they are.
///
/// # Panics
///
/// When `bytes` are not UTF-8, which those of `join` and `check_path` are: they are whole
/// `&str`s put end to end, in an array of exactly their length.
#[must_use]
pub const fn utf8(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => panic!("joined strings are UTF-8"),
    }
}

/// Text written at compile time into `N` bytes; `len` counts every byte pushed, so a first pass
/// with `N = 0` measures what a second pass writes.
struct Writer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Writer<N> {
    const fn new() -> Self {
        Writer {
            bytes: [0; N],
            len: 0,
        }
    }

    const fn push(mut self, text: &str) -> Self {
        let text = text.as_bytes();
        let mut i = 0;
        while i < text.len() {
            if self.len < N {
                self.bytes[self.len] = text[i];
            }
            self.len += 1;
            i += 1;
        }
        self
    }
}

/// `` `a`, `b` and `c` ``, or `none`.
const fn list<const N: usize>(mut out: Writer<N>, names: &[&str]) -> Writer<N> {
    if names.is_empty() {
        return out.push("none");
    }
    let mut i = 0;
    while i < names.len() {
        if i > 0 {
            out = out.push(if i + 1 == names.len() { " and " } else { ", " });
        }
        out = out.push("`").push(names[i]).push("`");
        i += 1;
    }
    out
}

const fn position(names: &[&str], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < names.len() {
        if equal(names[i].as_bytes(), name.as_bytes()) {
            return Some(i);
        }
        i += 1;
    }
    None
}

const fn equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The name closest to `word` if it is close enough to be a typo: the macro's rule for
/// top-level fields (an edit distance of at most a third of the longer length, at least 1).
const fn closest(names: &[&str], word: &str) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < names.len() {
        let name = names[i].as_bytes();
        let longer = if name.len() > word.len() {
            name.len()
        } else {
            word.len()
        };
        let limit = if longer / 3 > 1 { longer / 3 } else { 1 };
        if let Some(distance) = edit_distance(word.as_bytes(), name) {
            let better = match best {
                Some((_, best_distance)) => distance < best_distance,
                None => true,
            };
            if distance <= limit && better {
                best = Some((i, distance));
            }
        }
        i += 1;
    }
    match best {
        Some((index, _)) => Some(index),
        None => None,
    }
}

/// The longest name [`edit_distance`] compares; longer ones are never suggested.
const LONGEST: usize = 64;

/// Levenshtein distance over bytes, `None` when `b` is longer than [`LONGEST`].
const fn edit_distance(a: &[u8], b: &[u8]) -> Option<usize> {
    if b.len() > LONGEST {
        return None;
    }
    let mut row = [0_usize; LONGEST + 1];
    let mut j = 0;
    while j <= b.len() {
        row[j] = j;
        j += 1;
    }
    let mut i = 0;
    while i < a.len() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        let mut j = 0;
        while j < b.len() {
            let substitution = diagonal + if a[i] == b[j] { 0 } else { 1 };
            diagonal = row[j + 1];
            let mut best = row[j] + 1;
            if row[j + 1] + 1 < best {
                best = row[j + 1] + 1;
            }
            if substitution < best {
                best = substitution;
            }
            row[j + 1] = best;
            j += 1;
        }
        i += 1;
    }
    Some(row[b.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(path: &[Segment]) -> String {
        String::from_utf8(path_message::<256>(path).bytes[..check_path_len(path)].to_vec()).unwrap()
    }

    const META: &[&str] = &["id", "updated_at"];

    #[test]
    fn a_typo_resolves_to_the_field_it_suggests() {
        assert_eq!(resolve(META, "updated_at"), field_id("updated_at"));
        assert_eq!(resolve(META, "updatedat"), field_id("updated_at"));
        assert_eq!(resolve(META, "modified"), MISSING);
    }

    #[test]
    fn the_first_missing_segment_is_reported() {
        let found = Segment {
            name: "updated_at",
            owner: "Meta",
            fields: META,
        };
        assert_eq!(check_path_len(&[found]), 0);
        let typo = Segment {
            name: "updatedat",
            ..found
        };
        assert_eq!(
            message(&[typo, found]),
            "no field named `updatedat` in `Meta`\nhelp: did you mean `updated_at`?"
        );
        let unknown = Segment {
            name: "modified",
            ..found
        };
        assert_eq!(
            message(&[found, unknown]),
            "no field named `modified` in `Meta`\nhelp: the serialized fields are `id` and `updated_at`"
        );
    }

    #[test]
    fn keys_are_joined() {
        const PARTS: &[&str] = &["meta", ".", "updatedAt"];
        const BYTES: [u8; join_len(PARTS)] = join(PARTS);
        assert_eq!(utf8(&BYTES), "meta.updatedAt");
    }
}
