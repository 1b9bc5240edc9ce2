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
/// // The catalog names the cursor by its JSON path; the state key is the path as declared.
/// assert_eq!(Ticket::CURSOR_FIELD, ["meta", "updatedAt"]);
/// assert_eq!(<TicketState as tidemark::StreamState>::KEYS, ["meta.updated_at"]);
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
