//! Cross-checks between the arguments and the struct: one function per rule.

use proc_macro2::Span;

use crate::args::{Args, CheckpointAt};
use crate::ast::{Field, Record};
use crate::errors::{Errors, closest, list};

/// `cursor` is required: without it there is no watermark to keep.
pub(crate) fn check_cursor_given(args: &Args, errors: &mut Errors) {
    if !args.cursor_given {
        errors.at(
            Span::call_site(),
            "missing required argument `cursor`\nhelp: name the field that orders the records, \
             such as `cursor = \"updated_at\"`",
        );
    }
}

/// `cursor` must name a field that is serialized: the state stores its value under its name.
pub(crate) fn check_cursor_field<'r, 'a>(
    args: &Args,
    record: &'r Record<'a>,
    errors: &mut Errors,
) -> Option<&'r Field<'a>> {
    let lit = args.cursor.as_ref()?;
    let field = find_field(record, &lit.value(), lit.span(), "cursor", errors)?;
    if field.skipped {
        errors.at(
            lit.span(),
            format!(
                "the cursor field `{}` is skipped by serde, so records would carry no cursor value",
                field.ident
            ),
        );
        return None;
    }
    Some(field)
}

/// Every `primary_key` entry must name a field: the destination deduplicates on them.
pub(crate) fn check_primary_key(
    args: &Args,
    record: &Record<'_>,
    errors: &mut Errors,
) -> Vec<String> {
    let Some(keys) = &args.primary_key else {
        return Vec::new();
    };
    keys.iter()
        .filter_map(|lit| {
            find_field(record, &lit.value(), lit.span(), "primary_key", errors)
                .map(|field| field.json_name.clone())
        })
        .collect()
}

/// `checkpoint = "end"` emits one state at the end, so an interval has nothing to do.
pub(crate) fn check_policy(args: &Args, errors: &mut Errors) {
    if let (Some((CheckpointAt::End, _)), Some((_, key))) =
        (&args.checkpoint, &args.checkpoint_interval)
    {
        errors.at(
            key.span(),
            "`checkpoint_interval` cannot be combined with `checkpoint = \"end\"`, which emits \
             state only when the stream completes",
        );
    }
}

fn find_field<'r, 'a>(
    record: &'r Record<'a>,
    name: &str,
    span: Span,
    key: &str,
    errors: &mut Errors,
) -> Option<&'r Field<'a>> {
    if let Some(field) = record.field(name) {
        return Some(field);
    }
    let names = record.field_names();
    let help = match closest(name, names.iter().map(String::as_str)) {
        Some(suggestion) => format!("did you mean `{suggestion}`?"),
        None => format!("the fields are {}", list(&names)),
    };
    let message = if name.contains('.') {
        format!(
            "`{key}` must name a top-level field of `{}`; `{name}` is a path\nhelp: {help}",
            record.input.ident
        )
    } else {
        format!(
            "no field named `{name}` in `{}`\nhelp: {help}",
            record.input.ident
        )
    };
    errors.at(span, message);
    None
}
