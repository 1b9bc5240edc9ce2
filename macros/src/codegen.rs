//! The generated code: constants and short impls calling the runtime.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::{DeriveInput, Type};

use crate::args::CheckpointAt;

/// The cursor as the generated code needs it.
pub(crate) struct CursorModel<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) json_name: String,
}

/// Everything codegen needs, resolved and checked.
pub(crate) struct Model<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) krate: syn::Path,
    pub(crate) name: String,
    pub(crate) namespace: Option<String>,
    /// `None` only in the fallback, when the cursor could not be resolved.
    pub(crate) cursor: Option<CursorModel<'a>>,
    pub(crate) primary_key: Vec<String>,
    pub(crate) interval: Option<u64>,
    pub(crate) at: CheckpointAt,
}

/// The one-sentence checkpoint policy, as printed in the generated docs.
pub(crate) fn policy_sentence(interval: Option<u64>, at: CheckpointAt, cursor: &str) -> String {
    match (at, interval) {
        (CheckpointAt::End, _) => format!(
            "State is emitted once, when the stream completes; after a failure the next sync \
             starts again from where the last successful sync ended (its `{cursor}`)."
        ),
        (CheckpointAt::Slice, Some(n)) => format!(
            "State is emitted every {n} records (at the next change of `{cursor}` when the \
             {n}th record is inside a run of equal values), at the end of each slice and when \
             the stream completes; after a failure the next sync resumes after the last \
             emitted `{cursor}`."
        ),
        (CheckpointAt::Slice, None) => format!(
            "State is emitted at the end of each slice and when the stream completes; after a \
             failure the next sync resumes after the last finished slice's `{cursor}`."
        ),
    }
}

/// The impls and the state type.
#[expect(
    clippy::too_many_lines,
    reason = "one template of the generated code reads best whole"
)]
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let input = model.input;
    let krate = &model.krate;
    let private = quote!(#krate::__private);
    let ident = &input.ident;
    let vis = &input.vis;
    let state = format_ident!("{}State", ident);
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let name = &model.name;
    let namespace = match &model.namespace {
        Some(namespace) => quote!(#private::core::option::Option::Some(#namespace)),
        None => quote!(#private::core::option::Option::None),
    };
    let primary_key = model.primary_key.iter().map(|key| quote!(&[#key]));
    let interval = match model.interval {
        Some(records) => quote!(#private::interval(#records)),
        None => quote!(#private::core::option::Option::None),
    };
    let at = match model.at {
        CheckpointAt::Slice => quote!(#private::CheckpointAt::Slice),
        CheckpointAt::End => quote!(#private::CheckpointAt::End),
    };

    let (cursor_ty, cursor_json, cursor_body, getter, setter) = match &model.cursor {
        Some(cursor) => {
            let ty = cursor.ty;
            let field = cursor.ident;
            let json = cursor.json_name.clone();
            let getter = field.clone();
            // `format_ident!` drops the `r#` of a raw identifier: `r#type` -> `set_type`.
            let setter = format_ident!("set_{}", field);
            (quote!(#ty), json, quote!(&self.#field), getter, setter)
        }
        None => (
            quote!(#private::Unresolved),
            String::new(),
            quote!(#private::core::unreachable!()),
            format_ident!("watermark"),
            format_ident!("set_watermark"),
        ),
    };

    let serde_path = format!("{}::__private::serde", quote!(#krate));
    let is_none = format!(
        "{}::__private::core::option::Option::is_none",
        quote!(#krate)
    );
    let sentence = policy_sentence(model.interval, model.at, &cursor_json);
    let stream_doc = format!("Reads `{ident}` as the incremental stream `{name}`. {sentence}");
    let state_doc = format!(
        "Saved state of the `{name}` stream: the `{cursor_json}` watermark.\n\n\
         A state holding `W` means every record with `{cursor_json} <= W` that existed when the \
         sync started has been emitted; the next sync reads records with `{cursor_json} > W`. \
         {sentence}"
    );
    let getter_doc = format!(
        "The watermark: every record with `{cursor_json}` at or below it was emitted by an \
         earlier sync. `None` before the first sync."
    );
    let setter_doc = format!(
        "Sets the watermark: the next sync reads only records with `{cursor_json}` above it."
    );

    quote! {
        #[doc = #stream_doc]
        #[automatically_derived]
        impl #impl_generics #private::IncrementalStream for #ident #ty_generics #where_clause {
            type Cursor = #cursor_ty;
            type State = #state;
            const NAME: &'static str = #name;
            const NAMESPACE: #private::core::option::Option<&'static str> = #namespace;
            const CURSOR_FIELD: &'static [&'static str] = &[#cursor_json];
            const PRIMARY_KEY: &'static [&'static [&'static str]] = &[#(#primary_key),*];
            const POLICY: #private::CheckpointPolicy = #private::CheckpointPolicy {
                interval: #interval,
                at: #at,
            };

            fn cursor(&self) -> &Self::Cursor {
                #cursor_body
            }

            fn json_schema() -> #private::Value {
                #private::json_schema::<Self>()
            }
        }

        #[doc = #state_doc]
        #[derive(
            #private::core::clone::Clone,
            #private::core::fmt::Debug,
            #private::core::default::Default,
            #private::core::cmp::PartialEq,
            #private::serde::Serialize,
            #private::serde::Deserialize,
        )]
        #[serde(crate = #serde_path)]
        #vis struct #state {
            #[serde(rename = #cursor_json, default, skip_serializing_if = #is_none)]
            watermark: #private::core::option::Option<#cursor_ty>,
        }

        #[automatically_derived]
        impl #state {
            #[doc = #getter_doc]
            #[must_use]
            #vis fn #getter(&self) -> #private::core::option::Option<&#cursor_ty> {
                self.watermark.as_ref()
            }

            #[doc = #setter_doc]
            #vis fn #setter(&mut self, value: #cursor_ty) {
                self.watermark = #private::core::option::Option::Some(value);
            }
        }

        #[automatically_derived]
        impl #private::StreamState for #state {
            type Cursor = #cursor_ty;
            const KEY: &'static str = #cursor_json;

            fn watermark(&self) -> #private::core::option::Option<&Self::Cursor> {
                self.watermark.as_ref()
            }

            fn from_watermark(watermark: #private::core::option::Option<Self::Cursor>) -> Self {
                Self { watermark }
            }
        }
    }
}
