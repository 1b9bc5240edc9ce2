//! What to emit when the declaration has errors: the struct untouched, the errors, and the impls
//! with whatever could be resolved, so the user sees only our messages and code that uses the
//! stream keeps type-checking.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::args::{CheckpointAt, Order};
use crate::codegen::{self, CursorPart, Model};
use crate::errors::Errors;

/// The struct, the errors and stub impls.
pub(crate) fn emit(
    input: &DeriveInput,
    krate: syn::Path,
    name: String,
    cursor: Vec<CursorPart<'_>>,
    errors: &Errors,
) -> TokenStream {
    let compile_errors = errors.to_compile_errors();
    let impls = if matches!(input.data, syn::Data::Struct(_)) {
        codegen::expand(&Model {
            input,
            krate,
            name,
            namespace: None,
            cursor,
            primary_key: Vec::new(),
            interval: None,
            at: CheckpointAt::Slice,
            every: None,
            order: Order::Asc,
            on_null: None,
            step: None,
            lookback: None,
            start: None,
        })
    } else {
        TokenStream::new()
    };
    quote! {
        #input
        #compile_errors
        #impls
    }
}
