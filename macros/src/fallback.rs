//! What to emit when the declaration has errors: the struct untouched, the errors, and the impls
//! with whatever could be resolved, so the user sees only our messages and code that uses the
//! stream keeps type-checking.

use proc_macro2::TokenStream;
use quote::quote;

use crate::args::{CheckpointAt, Order};
use crate::codegen::{self, CursorPart, FullRefresh, Model, PartitionPart, Stream};
use crate::errors::Errors;

/// An incremental stream's struct, the errors, and stub impls with the cursor and partition
/// that resolved.
pub(crate) fn incremental(
    stream: Stream<'_>,
    cursor: Vec<CursorPart<'_>>,
    partition: Option<PartitionPart<'_>>,
    errors: &Errors,
) -> TokenStream {
    let input = stream.input;
    let impls = is_struct(input).then(|| {
        codegen::expand(&Model {
            stream,
            cursor,
            interval: None,
            at: CheckpointAt::Slice,
            every: None,
            order: Order::Asc,
            on_null: None,
            step: None,
            lookback: None,
            start: None,
            partition,
            max_partitions: None,
        })
    });
    emit(input, errors, impls)
}

/// A full-refresh stream's struct, the errors, and its impl with what resolved.
pub(crate) fn full_refresh(model: &FullRefresh<'_>, errors: &Errors) -> TokenStream {
    let input = model.stream.input;
    let impls = is_struct(input).then(|| codegen::full_refresh(model));
    emit(input, errors, impls)
}

/// Enums and unions get no impls: the error says the attribute goes on a struct.
fn is_struct(input: &syn::DeriveInput) -> bool {
    matches!(input.data, syn::Data::Struct(_))
}

fn emit(input: &syn::DeriveInput, errors: &Errors, impls: Option<TokenStream>) -> TokenStream {
    let compile_errors = errors.to_compile_errors();
    let impls = impls.unwrap_or_default();
    quote! {
        #input
        #compile_errors
        #impls
    }
}
