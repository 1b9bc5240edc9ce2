//! Each attribute's pipeline: parse the arguments and the struct, validate, expand; on error,
//! the fallback.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::args::{self, Args, Attr, CheckpointAt, Order};
use crate::ast::Record;
use crate::codegen::{self, CursorPart, FullRefresh, Model, PartitionPart, Stream};
use crate::errors::Errors;
use crate::{ast, fallback, validate};

/// `#[incremental_stream(attr)]` on `item`.
pub(crate) fn incremental(attr: TokenStream, item: &TokenStream) -> TokenStream {
    let (input, args, mut errors) = match parse(Attr::Incremental, attr, item) {
        Ok(parsed) => parsed,
        Err(tokens) => return tokens,
    };
    validate::check_cursor_given(&args, &mut errors);
    let Some(record) = Record::from_input(&input, Attr::Incremental.name(), &mut errors) else {
        let stream = stream(&args, &input, Vec::new());
        return fallback::incremental(stream, Vec::new(), None, &errors);
    };
    let parts = validate::check_cursor_fields(&args, &record, &mut errors);
    let primary_key = validate::check_primary_key(&args, &record, &mut errors);
    validate::check_policy(&args, &mut errors);
    validate::check_order(&args, &mut errors);
    validate::check_max_partitions(&args, &mut errors);
    let partition =
        validate::check_partition(&args, &record, &mut errors).map(|field| PartitionPart {
            ident: field.ident,
            ty: field.ty,
            json_name: field.json_name.clone(),
        });
    if let Some(parts) = &parts {
        validate::check_on_null(&args, parts, &mut errors);
        validate::check_windows(&args, parts, &mut errors);
    }
    let cursor: Vec<CursorPart<'_>> = parts
        .iter()
        .flatten()
        .map(|part| CursorPart {
            ident: part.field.ident,
            ty: part.ty,
            json_name: part.field.json_name.clone(),
            optional: part.optional,
            nested: part.nested.clone(),
            span: part.lit.span(),
        })
        .collect();
    let stream = stream(&args, &input, primary_key);
    if !errors.is_empty() || cursor.is_empty() {
        // Keep what resolved, so code using the stream sees only our errors.
        return fallback::incremental(stream, cursor, partition, &errors);
    }
    let model = Model {
        stream,
        cursor,
        interval: args
            .checkpoint_interval
            .as_ref()
            .map(|(records, _)| *records),
        at: args
            .checkpoint
            .as_ref()
            .map_or(CheckpointAt::Slice, |(at, _)| *at),
        every: args.checkpoint_every.as_ref().map(|(every, _)| every),
        order: args.order.as_ref().map_or(Order::Asc, |(order, _)| *order),
        on_null: args.on_null.as_ref().map(|(on_null, _)| *on_null),
        step: args.step.as_ref(),
        lookback: args.lookback.as_ref(),
        start: args.start.as_ref(),
        partition,
        max_partitions: args.max_partitions.as_ref().map(|(limit, _)| *limit),
    };
    let impls = codegen::expand(&model);
    quote! {
        #input
        #impls
    }
}

/// `#[full_refresh_stream(attr)]` on `item`.
pub(crate) fn full_refresh(attr: TokenStream, item: &TokenStream) -> TokenStream {
    let (input, args, mut errors) = match parse(Attr::FullRefresh, attr, item) {
        Ok(parsed) => parsed,
        Err(tokens) => return tokens,
    };
    let record = ast::Record::from_input(&input, Attr::FullRefresh.name(), &mut errors);
    let primary_key = record
        .as_ref()
        .map(|record| validate::check_primary_key(&args, record, &mut errors))
        .unwrap_or_default();
    let model = FullRefresh {
        stream: stream(&args, &input, primary_key),
        resumable: args.resumable.unwrap_or(false),
    };
    if !errors.is_empty() {
        return fallback::full_refresh(&model, &errors);
    }
    let impls = codegen::full_refresh(&model);
    quote! {
        #input
        #impls
    }
}

/// The item and `attr`'s arguments, with the errors so far. An item that is no struct, enum
/// or union (which validation rejects in our words) is left as written for rustc to report.
fn parse(
    kind: Attr,
    attr: TokenStream,
    item: &TokenStream,
) -> Result<(DeriveInput, Args, Errors), TokenStream> {
    let input: DeriveInput = syn::parse2(item.clone()).map_err(|error| {
        let error = error.to_compile_error();
        quote!(#item #error)
    })?;
    let mut errors = Errors::default();
    let args = args::parse(kind, attr, &mut errors);
    Ok((input, args, errors))
}

/// What both attributes declare about the stream, with the defaults of what is not given.
fn stream<'a>(args: &Args, input: &'a DeriveInput, primary_key: Vec<String>) -> Stream<'a> {
    Stream {
        input,
        krate: args
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::tidemark)),
        name: args.name.as_ref().map_or_else(
            || ast::snake_case(&input.ident.to_string()),
            syn::LitStr::value,
        ),
        namespace: args.namespace.as_ref().map(syn::LitStr::value),
        primary_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM: &str = "struct Issue { repository: String, number: u64, updated_at: i64 }";

    /// The incremental attribute's output for `attr` on [`ITEM`], as text.
    fn incremental_text(attr: &str) -> String {
        let attr: TokenStream = attr.parse().expect("attribute tokens");
        let item: TokenStream = ITEM.parse().expect("item tokens");
        let text = incremental(attr, &item).to_string();
        assert!(!text.contains("compile_error"), "{text}");
        text
    }

    #[test]
    fn docs_say_what_each_new_key_guarantees() {
        let desc = incremental_text(r#"cursor = "updated_at", order = "desc""#);
        assert!(desc.contains("Records come newest first"));
        assert!(desc.contains("the watermark moves only when the slice is read to the end"));
        assert!(desc.contains("reach the saved `updated_at`, so it stops"));
        assert!(desc.contains("Order :: Desc"));

        let every = incremental_text(r#"cursor = "updated_at", checkpoint_every = "PT1M30.5S""#);
        assert!(every.contains(
            "At most one STATE is emitted per `PT1M30.5S`, and always one when the stream \
             completes."
        ));
        assert!(every.contains("Duration :: new (90u64 , 500000000u32)"));

        let partition = incremental_text(
            r#"cursor = "updated_at", partition = "repository", max_partitions = 50"#,
        );
        assert!(partition.contains(
            "Each partition (`repository`) keeps its own watermark, each with this guarantee; \
             the state tracks at most 50 partitions, the most recently read; a partition with \
             no entry is read from its start (re-read, never lost)."
        ));
        assert!(partition.contains("const MAX_PARTITIONS"));
        let default = incremental_text(r#"cursor = "updated_at", partition = "repository""#);
        assert!(default.contains("at most `tidemark::DEFAULT_MAX_PARTITIONS` partitions"));
        assert!(!default.contains("const MAX_PARTITIONS"));
    }

    #[test]
    fn full_refresh_docs_say_what_state_holds() {
        let expand = |attr: &str| {
            let attr: TokenStream = attr.parse().expect("attribute tokens");
            let item: TokenStream = ITEM.parse().expect("item tokens");
            full_refresh(attr, &item).to_string()
        };
        let resumable = expand("resumable = true");
        assert!(resumable.contains("read in full by every sync"));
        assert!(resumable.contains(
            "A resumable stream's state holds the last saved position only while an attempt is \
             unfinished"
        ));
        assert!(resumable.contains(
            "const RESUMABLE : :: tidemark :: __private :: core :: primitive :: bool = true"
        ));
        let plain = expand("");
        assert!(plain.contains("reads the stream again from its start"));
        assert!(plain.contains("= false"));
        assert!(!plain.contains("compile_error"));
    }
}
