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
pub trait Nested {}

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

/// The bytes of [`join`] as the string they are.
///
/// # Panics
///
/// When `bytes` are not UTF-8, which those of `join` are: they are whole `&str`s put end to
/// end, in an array of exactly their length.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_joined() {
        const PARTS: &[&str] = &["meta", ".", "updatedAt"];
        const BYTES: [u8; join_len(PARTS)] = join(PARTS);
        assert_eq!(utf8(&BYTES), "meta.updatedAt");
    }
}
