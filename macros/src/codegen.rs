//! The generated code: constants and short impls calling the runtime.

use std::fmt::Write as _;

use proc_macro2::{Group, Ident, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::{DeriveInput, Type};

use crate::args::{CheckpointAt, Distance, OnNull, Order, Spanned, Start};
use crate::iso;

/// One field of the cursor as the generated code needs it.
pub(crate) struct CursorPart<'a> {
    pub(crate) ident: &'a Ident,
    /// The cursor type (`T` for an `Option<T>` field).
    pub(crate) ty: &'a Type,
    pub(crate) json_name: String,
    pub(crate) optional: bool,
    /// The segments after the first of a nested path (`meta.updated_at`: `["updated_at"]`).
    pub(crate) nested: Vec<String>,
    /// The `cursor` literal naming it: where errors about a nested path land.
    pub(crate) span: Span,
}

/// Where a cursor path ends, as generated code: its type, an expression borrowing it from
/// `self`, and the JSON names of the segments after the first.
struct Reached {
    ty: TokenStream,
    access: TokenStream,
    names: Vec<TokenStream>,
}

impl CursorPart<'_> {
    /// The field the path ends at. Each segment of a nested path is the field
    /// `__private::resolve` finds among the `Nested::FIELDS` of the struct before it: the
    /// segment itself, or the field the error suggests, or a placeholder. So the path always
    /// has a type and only `check_path` reports a segment that names no field. Every token
    /// carries the literal's span, so what the compiler says about the path lands there.
    fn reach(&self, private: &TokenStream) -> Reached {
        let ty = self.ty;
        let member = self.ident;
        let mut reached = Reached {
            ty: quote!(#ty),
            access: quote!(&self.#member),
            names: Vec::new(),
        };
        for segment in &self.nested {
            let Reached { ty, access, names } = &mut reached;
            let field = located_at(
                quote!(#private::Field<{ #private::resolve(<#ty as #private::Nested>::FIELDS, #segment) }>),
                self.span,
            );
            *access = located_at(quote!(<#ty as #field>::get(#access)), self.span);
            names.push(located_at(quote!(<#ty as #field>::JSON_NAME), self.span));
            *ty = located_at(quote!(<#ty as #field>::Type), self.span);
        }
        reached
    }

    /// The state's field and accessor name: the last segment.
    fn state_field(&self) -> Ident {
        match self.nested.last() {
            Some(segment) => format_ident!("{}", segment),
            None => self.ident.clone(),
        }
    }

    /// How the docs name this part: its JSON name, or a nested path as written (the JSON names
    /// of the inner structs are not known here).
    fn doc_name(&self) -> String {
        if self.nested.is_empty() {
            return self.json_name.clone();
        }
        let first = self.ident.to_string();
        let mut name = first.strip_prefix("r#").unwrap_or(&first).to_owned();
        for segment in &self.nested {
            name.push('.');
            name.push_str(segment);
        }
        name
    }

    /// The key of this part in the state JSON, as a `&'static str` expression: the JSON name,
    /// or for a nested path the JSON names of its segments joined by dots, a const only the
    /// compiler can compute (the inner structs' renames are known through `Nested`).
    fn state_key(&self, private: &TokenStream, names: &[TokenStream]) -> TokenStream {
        let first = &self.json_name;
        if names.is_empty() {
            return quote!(#first);
        }
        quote!({
            const PARTS: &[&#private::core::primitive::str] = &[#first #(, ".", #names)*];
            const BYTES: [#private::core::primitive::u8; #private::join_len(PARTS)] =
                #private::join(PARTS);
            #private::utf8(&BYTES)
        })
    }

    /// A compile-time check that every segment of a nested path names a field: a panic on the
    /// `cursor` literal with the first one that does not ("no field named `updatedat` in
    /// `Meta`", with a suggestion). Nothing for a plain field, which the macro checked itself.
    fn check_path(&self, private: &TokenStream) -> TokenStream {
        if self.nested.is_empty() {
            return TokenStream::new();
        }
        let ty = self.ty;
        let mut owner = quote!(#ty);
        let mut segments = Vec::new();
        for name in &self.nested {
            segments.push(quote! {
                #private::Segment {
                    name: #name,
                    owner: <#owner as #private::Nested>::NAME,
                    fields: <#owner as #private::Nested>::FIELDS,
                }
            });
            owner = quote!(<#owner as #private::Field<{ #private::resolve(<#owner as #private::Nested>::FIELDS, #name) }>>::Type);
        }
        let fail =
            quote_spanned!(self.span=> #private::core::panic!("{}", #private::utf8(&MESSAGE)));
        located_at(
            quote! {
                const _: () = {
                    const PATH: &[#private::Segment] = &[#(#segments),*];
                    const MESSAGE: [#private::core::primitive::u8; #private::check_path_len(PATH)] =
                        #private::check_path(PATH);
                    if !MESSAGE.is_empty() {
                        #fail
                    }
                };
            },
            self.span,
        )
    }
}

/// What every stream declares: the struct, where the runtime is, and how the catalog describes
/// the stream.
pub(crate) struct Stream<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) krate: syn::Path,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    /// The JSON names of the primary key's fields.
    pub(crate) primary_key: Vec<String>,
}

/// The partition field as the generated code needs it.
pub(crate) struct PartitionPart<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) json_name: String,
}

/// Everything the incremental stream's code needs, resolved and checked.
pub(crate) struct Model<'a> {
    pub(crate) stream: Stream<'a>,
    /// Empty only in the fallback, when the cursor could not be resolved.
    pub(crate) cursor: Vec<CursorPart<'a>>,
    pub(crate) interval: Option<u64>,
    pub(crate) at: CheckpointAt,
    /// `checkpoint_every`.
    pub(crate) every: Option<&'a Spanned<iso::Fixed>>,
    pub(crate) order: Order,
    pub(crate) on_null: Option<OnNull>,
    pub(crate) step: Option<&'a Spanned<Distance>>,
    pub(crate) lookback: Option<&'a Spanned<Distance>>,
    pub(crate) start: Option<&'a Spanned<Start>>,
    pub(crate) partition: Option<PartitionPart<'a>>,
    pub(crate) max_partitions: Option<u64>,
}

/// Everything the full-refresh stream's code needs.
pub(crate) struct FullRefresh<'a> {
    pub(crate) stream: Stream<'a>,
    pub(crate) resumable: bool,
}

impl Model<'_> {
    /// The cursor as written in prose: `updated_at` or `(updated_at, id)`.
    fn cursor_words(&self) -> String {
        let names: Vec<String> = self.cursor.iter().map(CursorPart::doc_name).collect();
        match names.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join(", ")),
        }
    }
}

/// What the stream's state means, in a few sentences, as printed in the generated docs.
pub(crate) fn policy_doc(model: &Model<'_>) -> String {
    let cursor = model.cursor_words();
    let mut doc = when_state(model, &cursor);
    if model.order == Order::Desc {
        let _ = write!(
            doc,
            " The reader is told when its records reach the saved `{cursor}`, so it stops \
             there."
        );
    }
    if let Some(every) = model.every {
        let _ = write!(
            doc,
            " At most one STATE is emitted per `{}`, and always one when the stream completes.",
            every.text
        );
    }
    if let Some(step) = model.step {
        let _ = write!(
            doc,
            " The range is read in windows of `{}`, each covering `lower < {cursor} <= upper`, \
             from the saved state (or `start`) up to the sync's start (time cursors) or the \
             reader's end.",
            step.text
        );
    }
    if let Some(start) = model.start {
        let _ = write!(
            doc,
            " Without saved state the first sync starts at `{}` (included), unless the reader \
             supplies another start.",
            start.text
        );
    }
    if let Some(lookback) = model.lookback {
        let _ = write!(
            doc,
            " Every sync starts `{}` before the saved `{cursor}`: records in that overlap are \
             sent again (expected duplicates) and never move the watermark backwards.",
            lookback.text
        );
    }
    if model.cursor.iter().any(|part| part.optional) {
        let _ = match model.on_null {
            Some(OnNull::Skip) => write!(doc, " Records without `{cursor}` are dropped."),
            Some(OnNull::Emit) => write!(
                doc,
                " Records without `{cursor}` are emitted, never move the watermark, and are sent \
                 again by every sync whose reader returns them."
            ),
            _ => write!(
                doc,
                " A record without `{cursor}` stops the stream with an error."
            ),
        };
    }
    if let Some(partition) = &model.partition {
        let limit = model.max_partitions.map_or_else(
            || "`tidemark::DEFAULT_MAX_PARTITIONS`".to_owned(),
            |limit| limit.to_string(),
        );
        let _ = write!(
            doc,
            " Each partition (`{}`) keeps its own watermark, each with this guarantee; the state \
             tracks at most {limit} partitions, the most recently read; a partition with no \
             entry is read from its start (re-read, never lost).",
            partition.json_name
        );
    }
    doc
}

/// When state is emitted and where a sync after a failure starts: the first sentence of the
/// policy.
fn when_state(model: &Model<'_>, cursor: &str) -> String {
    match (model.at, model.interval, model.order, model.step) {
        (CheckpointAt::End, ..) => format!(
            "State is emitted once, when the stream completes; after a failure the next sync \
             starts again from where the last successful sync ended (its `{cursor}`)."
        ),
        (CheckpointAt::Slice, Some(n), ..) => format!(
            "State is emitted every {n} records (at the next change of `{cursor}` when the \
             {n}th record is inside a run of equal values), at the end of each slice and when \
             the stream completes; after a failure the next sync resumes after the last \
             emitted `{cursor}`."
        ),
        (CheckpointAt::Slice, None, Order::Unsorted, None) => format!(
            "Records come in any order, so state is emitted only when the stream completes; \
             after a failure the next sync starts again after the previous sync's `{cursor}`."
        ),
        (CheckpointAt::Slice, None, Order::Unsorted, Some(_)) => format!(
            "Records come in any order within a window, so state is emitted at the end of each \
             window and when the stream completes; after a failure the next sync resumes after \
             the last finished window's `{cursor}`."
        ),
        (CheckpointAt::Slice, None, Order::Desc, None) => format!(
            "Records come newest first, so the watermark moves only when the slice is read to \
             the end: state is emitted when the stream completes; after a failure the next sync \
             starts again after the previous sync's `{cursor}`."
        ),
        (CheckpointAt::Slice, None, Order::Desc, Some(_)) => format!(
            "Records come newest first within a window, so the watermark moves only when a \
             window is read to the end: state is emitted at the end of each window and when the \
             stream completes; after a failure the next sync resumes after the last finished \
             window's `{cursor}`."
        ),
        (CheckpointAt::Slice, None, Order::Asc, _) => format!(
            "State is emitted at the end of each slice and when the stream completes; after a \
             failure the next sync resumes after the last finished slice's `{cursor}`."
        ),
    }
}

/// A `step` or `lookback` value: its runtime type and an expression of it.
fn distance(private: &TokenStream, distance: &Spanned<Distance>) -> (TokenStream, TokenStream) {
    match distance.value {
        Distance::Count(count) => (quote!(#private::core::primitive::u64), quote!(#count)),
        Distance::Duration(iso::Duration::Date { months, days }) => (
            quote!(#private::DatePeriod),
            quote!(#private::DatePeriod::new(#months, #days)),
        ),
        Distance::Duration(iso::Duration::Time {
            months,
            days,
            seconds,
            nanos,
        }) => (
            quote!(#private::Period),
            quote!(#private::Period::new(#months, #days, #seconds, #nanos)),
        ),
    }
}

/// A `start` value: its runtime type and an expression of it.
fn start(private: &TokenStream, start: &Spanned<Start>) -> (TokenStream, TokenStream) {
    match start.value {
        Start::Int(value) => (quote!(#private::core::primitive::i128), quote!(#value)),
        Start::Instant(iso::Instant::Timestamp { seconds, nanos }) => (
            quote!(#private::Timestamp),
            quote!(#private::Timestamp::new(#seconds, #nanos)),
        ),
        Start::Instant(iso::Instant::Date { year, month, day }) => (
            quote!(#private::Date),
            quote!(#private::Date::new(#year, #month, #day)),
        ),
    }
}

/// `tokens` moved to `span` for diagnostics, each keeping its own name resolution: an unmet
/// `Step` or `Start` bound in a call is reported on the literal, while the generated names in
/// it (`origin`, the runtime path) still resolve as generated, even inside a `macro_rules!`.
fn located_at(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|token| match token {
            TokenTree::Group(group) => {
                let mut moved = Group::new(group.delimiter(), located_at(group.stream(), span));
                moved.set_span(group.span().located_at(span));
                TokenTree::Group(moved)
            }
            mut token => {
                token.set_span(token.span().located_at(span));
                token
            }
        })
        .collect()
}

/// The impls and the state type.
#[expect(
    clippy::too_many_lines,
    reason = "one template of the generated code reads best whole"
)]
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let input = model.stream.input;
    let private = private(&model.stream);
    let option = quote!(#private::core::option::Option);
    let str = quote!(#private::core::primitive::str);
    let ident = &input.ident;
    let vis = &input.vis;
    let state = format_ident!("{}State", ident);
    let name = &model.stream.name;
    let interval = match model.interval {
        Some(records) => quote!(#private::interval(#records)),
        None => quote!(#option::None),
    };
    let at = match model.at {
        CheckpointAt::Slice => quote!(#private::CheckpointAt::Slice),
        CheckpointAt::End => quote!(#private::CheckpointAt::End),
    };
    let order = match model.order {
        Order::Asc => quote!(#private::Order::Asc),
        Order::Unsorted => quote!(#private::Order::Unsorted),
        Order::Desc => quote!(#private::Order::Desc),
    };
    let period = match model.every {
        Some(every) => {
            let iso::Fixed { seconds, nanos } = every.value;
            quote!(#option::Some(#private::core::time::Duration::new(#seconds, #nanos)))
        }
        None => quote!(#option::None),
    };
    let on_null = match model.on_null {
        None | Some(OnNull::Fail) => quote!(#private::OnNull::Fail),
        Some(OnNull::Skip) => quote!(#private::OnNull::Skip),
        Some(OnNull::Emit) => quote!(#private::OnNull::Emit),
    };

    // The state's fields: one per cursor part (a placeholder when the cursor did not resolve).
    let unresolved = model.cursor.is_empty();
    let reached: Vec<Reached> = model
        .cursor
        .iter()
        .map(|part| part.reach(&private))
        .collect();
    let fields: Vec<Ident> = if unresolved {
        vec![format_ident!("watermark")]
    } else {
        model.cursor.iter().map(CursorPart::state_field).collect()
    };
    let types: Vec<TokenStream> = if unresolved {
        vec![quote!(#private::Unresolved)]
    } else {
        reached.iter().map(|reached| reached.ty.clone()).collect()
    };
    let keys: Vec<TokenStream> = if unresolved {
        vec![quote!("")]
    } else {
        model
            .cursor
            .iter()
            .zip(&reached)
            .map(|(part, reached)| part.state_key(&private, &reached.names))
            .collect()
    };
    let doc_keys: Vec<String> = if unresolved {
        vec![String::new()]
    } else {
        model.cursor.iter().map(CursorPart::doc_name).collect()
    };
    let check_paths = model.cursor.iter().map(|part| part.check_path(&private));
    let cursor_field = match (model.cursor.first(), reached.first()) {
        (Some(part), Some(reached)) => {
            let first = &part.json_name;
            let names = &reached.names;
            quote!(&[#first, #(#names),*])
        }
        _ => quote!(&[""]),
    };
    let cursor_ty = match types.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    let optional_types: Vec<TokenStream> = types.iter().map(|ty| quote!(#option<#ty>)).collect();
    let accesses = reached.iter().map(|reached| &reached.access);
    let cursor_body = match model.cursor.as_slice() {
        [] => quote!(#private::core::unreachable!()),
        [part] if part.optional => {
            let field = part.ident;
            quote!(#option::map(#option::as_ref(&self.#field), #private::Cow::Borrowed))
        }
        [_] => {
            let access = &reached[0].access;
            quote!(#option::Some(#private::Cow::Borrowed(#access)))
        }
        // Only in the fallback: an `Option` part of a compound cursor is an error (see
        // `check_on_null`), and the struct's field does not have the cursor's type.
        parts if parts.iter().any(|part| part.optional) => quote!(#option::None),
        _ => quote!(#option::Some(#private::Cow::Owned((
            #(#private::Clone::clone(#accesses)),*
        )))),
    };
    let (watermark_body, from_watermark_body) = match fields.as_slice() {
        [field] => (
            quote!(#private::Clone::clone(&self.#field)),
            quote!(Self { #field: watermark }),
        ),
        many => (
            quote! {
                match (#(&self.#many),*) {
                    (#(#option::Some(#many)),*) => #option::Some((#(#private::Clone::clone(#many)),*)),
                    _ => #option::None,
                }
            },
            quote! {
                match watermark {
                    #option::Some((#(#many),*)) => Self { #(#many: #option::Some(#many)),* },
                    #option::None => #private::core::default::Default::default(),
                }
            },
        ),
    };

    // Each call names its types, so the cursor type is checked against the literal's type
    // (`Step<DatePeriod>`, `Start<i128>`, ...) rather than inferred from the only impl there is.
    let mut windows = TokenStream::new();
    if let Some(step) = model.step {
        let (ty, value) = distance(&private, step);
        let text = &step.text;
        let call = located_at(
            quote!(#private::window_bound::<Self::Cursor, #ty>(origin, &#value, index)),
            step.span,
        );
        windows.extend(quote! {
            const STEP: #option<&'static #str> = #option::Some(#text);

            fn window_bound(origin: &Self::Cursor, index: #private::core::primitive::u64) -> #option<Self::Cursor> {
                #call
            }
        });
    }
    if let Some(lookback) = model.lookback {
        let (ty, value) = distance(&private, lookback);
        let text = &lookback.text;
        let call = located_at(
            quote!(#private::look_back::<Self::Cursor, #ty>(watermark, &#value)),
            lookback.span,
        );
        windows.extend(quote! {
            const LOOKBACK: #option<&'static #str> = #option::Some(#text);

            fn resume_bound(watermark: &Self::Cursor) -> #private::Bound<Self::Cursor> {
                #call
            }
        });
    }
    if let Some(literal) = model.start {
        let (ty, value) = start(&private, literal);
        let text = &literal.text;
        let call = located_at(
            quote!(#private::start::<Self::Cursor, #ty>(&#value, #text)),
            literal.span,
        );
        windows.extend(quote! {
            fn declared_start() -> #option<#private::core::result::Result<Self::Cursor, #private::String>> {
                #option::Some(#call)
            }
        });
    }

    // The state's serde impls: an object with a key per part that has a value, read back
    // ignoring other keys. Each value goes through `Cursor::serialize_state` when its type is a
    // cursor, chosen by method lookup, so a type that is not one is reported only by the
    // stream's bound.
    let result = quote!(#private::core::result::Result);
    let indices: Vec<Literal> = (0..fields.len()).map(Literal::usize_unsuffixed).collect();
    let state_serde = quote! {
        #[automatically_derived]
        impl #private::serde::Serialize for #state {
            fn serialize<__S: #private::serde::Serializer>(
                &self,
                serializer: __S,
            ) -> #result<__S::Ok, __S::Error> {
                #private::serialize_state(self, serializer)
            }
        }

        #[automatically_derived]
        impl<'de> #private::serde::Deserialize<'de> for #state {
            fn deserialize<__D: #private::serde::Deserializer<'de>>(
                deserializer: __D,
            ) -> #result<Self, __D::Error> {
                #private::deserialize_state(deserializer)
            }
        }

        #[automatically_derived]
        impl #private::StateFields for #state {
            fn write<__M: #private::serde::ser::SerializeMap>(
                &self,
                map: &mut __M,
            ) -> #result<(), __M::Error> {
                #[allow(unused_imports)]
                use #private::{ViaCursor as _, ViaSerde as _};
                #(
                    if let #option::Some(value) = &self.#fields {
                        __M::serialize_entry(
                            map,
                            <Self as #private::StreamState>::KEYS[#indices],
                            &(&&#private::Watermark(value)).state_form(),
                        )?;
                    }
                )*
                #result::Ok(())
            }

            fn read<'de, __A: #private::serde::de::MapAccess<'de>>(
                &mut self,
                index: #private::core::primitive::usize,
                map: &mut __A,
            ) -> #result<(), __A::Error> {
                #[allow(unused_imports)]
                use #private::{ReadViaCursor as _, ReadViaSerde as _};
                match index {
                    #(
                        #indices => {
                            self.#fields = __A::next_value_seed(
                                map,
                                (&&#private::Read::<#types>::new()).seed(),
                            )?;
                        }
                    )*
                    _ => {
                        __A::next_value::<#private::serde::de::IgnoredAny>(map)?;
                    }
                }
                #result::Ok(())
            }
        }
    };
    let policy = policy_doc(model);
    let cursor_words = model.cursor_words();
    let stream_doc = format!("Reads `{ident}` as the incremental stream `{name}`. {policy}");
    let state_doc = format!(
        "Saved state of the `{name}` stream: the `{cursor_words}` watermark.\n\n\
         A state holding `W` means every record with `{cursor_words} <= W` that existed when the \
         sync started has been emitted; the next sync reads records with `{cursor_words} > W`. \
         {policy}"
    );
    let compound_note = if fields.len() > 1 {
        " The state's watermark is set only when every part of the compound cursor is."
    } else {
        ""
    };
    let getters = fields
        .iter()
        .zip(&types)
        .zip(&doc_keys)
        .map(|((field, ty), key)| {
            let getter_doc = format!(
                "The watermark's `{key}`: every record with `{cursor_words}` at or below the \
             watermark was emitted by an earlier sync. `None` before the first sync."
            );
            let setter_doc = format!(
                "Sets the watermark's `{key}`: the next sync reads only records with \
             `{cursor_words}` above the watermark.{compound_note}"
            );
            // `format_ident!` drops the `r#` of a raw identifier: `r#type` -> `set_type`.
            let setter = format_ident!("set_{}", field);
            quote! {
                #[doc = #getter_doc]
                #[must_use]
                #vis fn #field(&self) -> #option<&#ty> {
                    #option::as_ref(&self.#field)
                }

                #[doc = #setter_doc]
                #vis fn #setter(&mut self, value: #ty) {
                    self.#field = #option::Some(value);
                }
            }
        });

    let (partition_ty, partition_field, partition_access) = match &model.partition {
        Some(partition) => {
            let (ty, member, json_name) = (partition.ty, partition.ident, &partition.json_name);
            (quote!(#ty), quote!(&[#json_name]), quote!(&self.#member))
        }
        None => (quote!(()), quote!(&[]), quote!(&())),
    };
    // A partition type that is not a `PartitionKey` would be reported by the associated type's
    // bound through the trait's supertraits (`f64: Ord`), in the compiler's words. So, as for
    // the record's derives, `assert_partition_key` reports it once, at the field's type, in
    // ours, and the impl takes it as given under a binder. A generic struct's field type may
    // name its parameters, which the assertion cannot: there the bound speaks.
    let (partition_bound, assert_partition) = match &model.partition {
        Some(partition) if input.generics.params.is_empty() => {
            let ty = partition.ty;
            (
                Some(quote!(for<'__tidemark> #ty: #private::PartitionKey)),
                quote!(const _: () = #private::assert_partition_key::<#ty>();),
            )
        }
        _ => (None, TokenStream::new()),
    };
    let max_partitions = model.max_partitions.map(|limit| {
        let limit = Literal::u64_unsuffixed(limit);
        quote!(const MAX_PARTITIONS: #private::core::primitive::usize = #limit;)
    });
    let stream_impl = stream_impl(
        &model.stream,
        &quote!(#private::IncrementalStream),
        partition_bound,
        &stream_doc,
        &quote! {
            type Cursor = #cursor_ty;
            type State = #state;
            const CURSOR_FIELD: &'static [&'static #str] = #cursor_field;
            const POLICY: #private::CheckpointPolicy = #private::CheckpointPolicy {
                interval: #interval,
                at: #at,
                period: #period,
            };
            const ORDER: #private::Order = #order;
            const ON_NULL: #private::OnNull = #on_null;
            type Partition = #partition_ty;
            const PARTITION_FIELD: &'static [&'static #str] = #partition_field;
            #max_partitions

            fn partition(&self) -> &Self::Partition {
                #partition_access
            }

            fn cursor(&self) -> #option<#private::Cow<'_, Self::Cursor>> {
                #cursor_body
            }

            #windows
        },
    );

    quote! {
        #stream_impl

        #assert_partition

        #[doc = #state_doc]
        #[derive(
            #private::core::clone::Clone,
            #private::core::fmt::Debug,
            #private::core::default::Default,
            #private::core::cmp::PartialEq,
        )]
        #vis struct #state {
            #(#fields: #optional_types,)*
        }

        #[automatically_derived]
        impl #state {
            #(#getters)*
        }

        const _: () = {
            #state_serde
        };

        #(#check_paths)*

        #[automatically_derived]
        impl #private::StreamState for #state {
            type Cursor = #cursor_ty;
            const KEYS: &'static [&'static #str] = &[#(#keys),*];

            fn watermark(&self) -> #option<Self::Cursor> {
                #watermark_body
            }

            fn from_watermark(watermark: #option<Self::Cursor>) -> Self {
                #from_watermark_body
            }
        }
    }
}

/// `<crate>::__private`, the path of everything the generated code uses.
fn private(stream: &Stream<'_>) -> TokenStream {
    let krate = &stream.krate;
    quote!(#krate::__private)
}

/// The impl of `stream_trait` (with `doc`, and `bound` in its where clause) for the record: the
/// description's constants, `json_schema` and `items`, and the check that the record has the
/// derives the trait needs.
fn stream_impl(
    stream: &Stream<'_>,
    stream_trait: &TokenStream,
    bound: Option<TokenStream>,
    doc: &str,
    items: &TokenStream,
) -> TokenStream {
    let input = stream.input;
    let private = private(stream);
    let option = quote!(#private::core::option::Option);
    let str = quote!(#private::core::primitive::str);
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let mut where_clause = where_clause
        .cloned()
        .unwrap_or_else(|| syn::parse_quote!(where));
    // The impl needs the record to be `Serialize` (the trait's supertrait) and `JsonSchema`.
    // A generic struct may be so for some parameters only, which its bound states. A struct
    // without parameters has the derives or not: `assert_record` reports a missing one once,
    // at the struct's name, in our words, and the impl takes them as given through a bound
    // under a `for<'__tidemark>` binder, which rustc does not reject as trivially false (it
    // checks only bounds without a binder, rust-lang/rust#48214), so no error of the
    // compiler's own follows on the attribute.
    let assert_record = if input.generics.params.is_empty() {
        where_clause.predicates.push(syn::parse_quote!(
            for<'__tidemark> Self: #private::serde::Serialize + #private::JsonSchema
        ));
        let assert = quote_spanned!(ident.span()=> #private::assert_record::<#ident>());
        quote!(const _: () = #assert;)
    } else {
        where_clause.predicates.push(syn::parse_quote!(
            Self: #private::serde::Serialize + #private::JsonSchema
        ));
        TokenStream::new()
    };
    if let Some(bound) = bound {
        where_clause.predicates.push(syn::parse_quote!(#bound));
    }
    let name = &stream.name;
    let namespace = match &stream.namespace {
        Some(namespace) => quote!(#option::Some(#namespace)),
        None => quote!(#option::None),
    };
    let primary_key = stream.primary_key.iter().map(|key| quote!(&[#key]));
    quote! {
        #[doc = #doc]
        #[automatically_derived]
        impl #impl_generics #stream_trait for #ident #ty_generics #where_clause {
            const NAME: &'static #str = #name;
            const NAMESPACE: #option<&'static #str> = #namespace;
            const PRIMARY_KEY: &'static [&'static [&'static #str]] = &[#(#primary_key),*];

            fn json_schema() -> #private::Value {
                #private::json_schema::<Self>()
            }

            #items
        }

        #assert_record
    }
}

/// What a full-refresh stream's state means, as printed in the generated docs.
pub(crate) fn full_refresh_doc(model: &FullRefresh<'_>) -> String {
    let ident = &model.stream.input.ident;
    let name = &model.stream.name;
    let resume = if model.resumable {
        "A resumable stream's state holds the last saved position only while an attempt is \
         unfinished: an attempt retried with that state resumes there, and the stream's \
         completion clears it, so the next sync starts over."
    } else {
        "After a failure, the next attempt reads the stream again from its start."
    };
    format!(
        "Reads `{ident}` as the full-refresh stream `{name}`: read in full by every sync, \
         with no cursor; the stream ends with a STATE when it completes. {resume}"
    )
}

/// The full-refresh stream's impl.
pub(crate) fn full_refresh(model: &FullRefresh<'_>) -> TokenStream {
    let private = private(&model.stream);
    let resumable = model.resumable;
    stream_impl(
        &model.stream,
        &quote!(#private::FullRefreshStream),
        None,
        &full_refresh_doc(model),
        &quote!(const RESUMABLE: #private::core::primitive::bool = #resumable;),
    )
}
