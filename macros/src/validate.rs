//! Cross-checks between the arguments and the struct: one function per rule.

use proc_macro2::Span;
use syn::{LitStr, Type};

use crate::args::{Args, CheckpointAt, Key, Order};
use crate::ast::{Field, Record};
use crate::errors::{Errors, closest, list};

/// `cursor` is required: without it there is no watermark to keep.
pub(crate) fn check_cursor_given(args: &Args, errors: &mut Errors) {
    if !args.given(Key::Cursor) {
        errors.at(
            Span::call_site(),
            "missing required argument `cursor`\nhelp: name the field that orders the records, \
             such as `cursor = \"updated_at\"`",
        );
    }
}

/// One field of the cursor, resolved.
pub(crate) struct CursorPart<'r, 'a> {
    pub(crate) field: &'r Field<'a>,
    /// The cursor type: the field's type, or `T` for an `Option<T>` field.
    pub(crate) ty: &'a Type,
    /// Whether the field is an `Option`.
    pub(crate) optional: bool,
    /// The `cursor` literal naming it.
    pub(crate) lit: &'r LitStr,
    /// The segments after the first of a nested path (`meta.updated_at`: `["updated_at"]`).
    pub(crate) nested: Vec<String>,
    /// The literal names no field; this is the one its error suggests.
    pub(crate) recovered: bool,
}

impl CursorPart<'_, '_> {
    /// The name of the field the path ends at.
    fn name(&self) -> String {
        self.nested
            .last()
            .map_or_else(|| self.field.ident.to_string(), Clone::clone)
    }
}

/// A Rust field name as a nested path segment may hold.
fn is_identifier(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_alphabetic())
        && chars.all(|ch| ch == '_' || ch.is_alphanumeric())
}

/// Every `cursor` entry must name a field that is serialized: the state stores its value under
/// its name. Returns the parts that resolved; `None` when one did not.
pub(crate) fn check_cursor_fields<'r, 'a>(
    args: &'r Args,
    record: &'r Record<'a>,
    errors: &mut Errors,
) -> Option<Vec<CursorPart<'r, 'a>>> {
    let lits = args.cursor.as_ref()?;
    let mut parts = Vec::new();
    for lit in lits {
        let path = lit.value();
        let mut segments = path.split('.');
        let first = segments.next().unwrap_or_default();
        let nested: Vec<String> = segments.map(str::to_owned).collect();
        if first.is_empty() || nested.iter().any(|segment| !is_identifier(segment)) {
            errors.at(
                lit.span(),
                format!("`{path}` is not a field name or a dotted path of field names"),
            );
            continue;
        }
        let (field, recovered) = match find_field(record, first, lit.span(), "cursor", errors) {
            Some(field) => (field, false),
            // Like rustc after a typo, go on with the field the help suggests: the stub impls
            // then have the types and accessors the author meant, so code using the stream
            // shows no knock-on errors.
            None => match suggested_field(record, first) {
                Some(field) if !field.skipped => (field, true),
                _ => continue,
            },
        };
        if field.skipped {
            errors.at(
                lit.span(),
                format!(
                    "the cursor field `{}` is skipped by serde, so records would carry no cursor value",
                    field.ident
                ),
            );
            continue;
        }
        let (ty, optional) = match option_inner(field.ty) {
            Some(inner) if nested.is_empty() => (inner, true),
            _ => (field.ty, false),
        };
        let last = nested
            .last()
            .map_or_else(|| field.ident.to_string(), Clone::clone);
        if parts
            .iter()
            .any(|part: &CursorPart<'_, '_>| part.name() == last)
        {
            if recovered {
                continue;
            }
            errors.at(
                lit.span(),
                format!(
                    "two fields of the compound cursor are named `{last}`; the state needs one \
                     name per field"
                ),
            );
            continue;
        }
        parts.push(CursorPart {
            field,
            ty,
            optional,
            lit,
            nested,
            recovered,
        });
    }
    (parts.len() == lits.len() && !parts.is_empty()).then_some(parts)
}

/// An `Option` cursor needs `on_null`: a record without a value has no place in the order, and
/// only the author knows whether that is an error, noise or data to keep. A compound cursor's
/// parts cannot be optional: the pair would have no order.
pub(crate) fn check_on_null(args: &Args, parts: &[CursorPart<'_, '_>], errors: &mut Errors) {
    // A field the author did not name is no ground for an error about `on_null`.
    if parts.iter().any(|part| part.recovered) {
        return;
    }
    let optional: Vec<&CursorPart<'_, '_>> = parts.iter().filter(|part| part.optional).collect();
    if parts.len() > 1 {
        for part in &optional {
            errors.at(
                part.lit.span(),
                format!(
                    "`{}` is an `Option`, but the fields of a compound cursor must always have a value",
                    part.field.ident
                ),
            );
        }
        return;
    }
    match (optional.first(), &args.on_null) {
        // An `on_null` with a bad value is reported where it is written, not also as missing.
        (Some(part), None) if !args.given(Key::OnNull) => errors.at(
            part.lit.span(),
            format!(
                "the cursor field `{}` is an `Option`, so `on_null` is required\nhelp: add \
                 `on_null = \"fail\"`, `\"skip\"` or `\"emit\"` to say what a record without a \
                 cursor value does",
                part.field.ident
            ),
        ),
        (None, Some((_, key))) => errors.at(
            key.span(),
            "`on_null` applies only to a cursor field of type `Option<T>`",
        ),
        _ => {}
    }
}

/// `order = "unsorted"` or `"desc"` with an interval: a running maximum of unsorted records is
/// not a safe resume point, since lower values may still come, and the watermark of a
/// newest-first stream moves only when a slice is read to the end.
pub(crate) fn check_order(args: &Args, errors: &mut Errors) {
    let (Some((order, _)), Some((_, key))) = (&args.order, &args.checkpoint_interval) else {
        return;
    };
    let why = match order {
        Order::Asc => return,
        Order::Unsorted => "the largest cursor seen in unsorted records is not a safe resume point",
        Order::Desc => {
            "the watermark of a newest-first stream moves only when a slice is read to the end"
        }
    };
    errors.at(
        key.span(),
        format!(
            "`checkpoint_interval` cannot be combined with `order = \"{}\"`: {why}\nhelp: use \
             `step` to checkpoint at the end of every window instead",
            order.name()
        ),
    );
}

/// `step`, `lookback` and `start` measure one cursor value; a compound cursor's pair has no
/// distance and no single starting value.
pub(crate) fn check_windows(args: &Args, parts: &[CursorPart<'_, '_>], errors: &mut Errors) {
    if parts.len() < 2 {
        return;
    }
    for (key, span) in [
        ("step", args.step.as_ref().map(|s| s.span)),
        ("lookback", args.lookback.as_ref().map(|s| s.span)),
        ("start", args.start.as_ref().map(|s| s.span)),
    ] {
        let why = if key == "start" {
            "no single starting value"
        } else {
            "no notion of distance"
        };
        if let Some(span) = span {
            errors.at(
                span,
                format!("`{key}` cannot be used with a compound cursor, which has {why}"),
            );
        }
    }
}

/// `partition` must name a top-level field that is serialized, and not the cursor's: each
/// partition keeps its own watermark, under the field's JSON name, so the field must say which
/// partition a record is in, not where in the order it is. Returns the field the partition
/// resolved to (the one the help suggests after a typo), for the stub impls too.
pub(crate) fn check_partition<'r, 'a>(
    args: &'r Args,
    record: &'r Record<'a>,
    errors: &mut Errors,
) -> Option<&'r Field<'a>> {
    let lit = args.partition.as_ref()?;
    let name = lit.value();
    let Some(field) = find_field(record, &name, lit.span(), "partition", errors) else {
        return suggested_field(record, &name).filter(|field| !field.skipped);
    };
    if field.skipped {
        errors.at(
            lit.span(),
            format!(
                "the partition field `{}` is skipped by serde, so records would carry no \
                 partition value",
                field.ident
            ),
        );
        return Some(field);
    }
    let cursor = args.cursor.iter().flatten().find(|cursor| {
        let path = cursor.value();
        let first = path.split('.').next().unwrap_or_default();
        record
            .field(first)
            .is_some_and(|part| part.ident == field.ident)
    });
    if let Some(cursor) = cursor {
        let held = if cursor.value() == name {
            "be the cursor field"
        } else {
            "hold the cursor"
        };
        errors.at(
            lit.span(),
            format!(
                "the partition field cannot {held} `{}`: each partition keeps its own watermark \
                 of the cursor\nhelp: name the field that says which partition a record is in, \
                 such as an account or repository id",
                cursor.value()
            ),
        );
    }
    Some(field)
}

/// `max_partitions` bounds the partitions a state tracks: without `partition` there are none.
pub(crate) fn check_max_partitions(args: &Args, errors: &mut Errors) {
    if let (Some((_, key)), false) = (&args.max_partitions, args.given(Key::Partition)) {
        errors.at(
            key.span(),
            "`max_partitions` applies only to a partitioned stream\nhelp: add `partition = \
             \"field\"` to name the field that says which partition a record is in",
        );
    }
}

/// `Option<T>` as written (`Option`, `std::option::Option`, `core::option::Option`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<String> = path
        .path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    let is_option = match segments.as_slice() {
        [option] => option == "Option",
        [krate, module, option] => {
            (krate == "std" || krate == "core") && module == "option" && option == "Option"
        }
        _ => false,
    };
    let last = path.path.segments.last()?;
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) if is_option && args.args.len() == 1 => {
            match args.args.first()? {
                syn::GenericArgument::Type(inner) => Some(inner),
                _ => None,
            }
        }
        _ => None,
    }
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

/// `checkpoint = "end"` emits one state at the end, so an interval or a period has nothing to
/// do.
pub(crate) fn check_policy(args: &Args, errors: &mut Errors) {
    let Some((CheckpointAt::End, _)) = &args.checkpoint else {
        return;
    };
    let interval = args.checkpoint_interval.as_ref().map(|(_, key)| key);
    let every = args.checkpoint_every.as_ref().map(|(_, key)| key);
    for key in interval.into_iter().chain(every) {
        errors.at(
            key.span(),
            format!(
                "`{key}` cannot be combined with `checkpoint = \"end\"`, which emits state only \
                 when the stream completes"
            ),
        );
    }
}

/// The field the "did you mean" help of [`find_field`] names.
fn suggested_field<'r, 'a>(record: &'r Record<'a>, name: &str) -> Option<&'r Field<'a>> {
    let names = record.field_names();
    let suggestion = closest(name, names.iter().map(String::as_str))?;
    record.field(suggestion)
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
