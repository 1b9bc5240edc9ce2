//! Parsing the attribute's arguments: `key = value, ...`, each value kept with its span.
//!
//! Values are read from raw tokens (string, integer, float and bool literals, a leading `-`,
//! and bracketed lists), not as expressions, so each mistake is reported on its own token.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use syn::{Lit, LitStr};

use std::fmt::Write as _;

use crate::errors::{self, Errors, closest};
use crate::iso;

/// The attribute whose arguments are parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attr {
    /// `#[incremental_stream]`.
    Incremental,
    /// `#[full_refresh_stream]`.
    FullRefresh,
}

impl Attr {
    /// The attribute's name, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Attr::Incremental => "incremental_stream",
            Attr::FullRefresh => "full_refresh_stream",
        }
    }
}

/// A key of either attribute.
#[derive(Clone, Copy, PartialEq, Eq)]
#[expect(
    clippy::enum_variant_names,
    reason = "the variants are the keys as written, and one of them is `primary_key`"
)]
pub(crate) enum Key {
    Cursor,
    Name,
    Namespace,
    PrimaryKey,
    CheckpointInterval,
    Checkpoint,
    CheckpointEvery,
    Order,
    Step,
    Start,
    Lookback,
    OnNull,
    Partition,
    MaxPartitions,
    Resumable,
    Crate,
}

impl Key {
    /// Every key, in the order the help lists them.
    const ALL: [Key; 16] = [
        Key::Cursor,
        Key::Name,
        Key::Namespace,
        Key::PrimaryKey,
        Key::CheckpointInterval,
        Key::Checkpoint,
        Key::CheckpointEvery,
        Key::Order,
        Key::Step,
        Key::Start,
        Key::Lookback,
        Key::OnNull,
        Key::Partition,
        Key::MaxPartitions,
        Key::Resumable,
        Key::Crate,
    ];

    /// The key as written.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Cursor => "cursor",
            Key::Name => "name",
            Key::Namespace => "namespace",
            Key::PrimaryKey => "primary_key",
            Key::CheckpointInterval => "checkpoint_interval",
            Key::Checkpoint => "checkpoint",
            Key::CheckpointEvery => "checkpoint_every",
            Key::Order => "order",
            Key::Step => "step",
            Key::Start => "start",
            Key::Lookback => "lookback",
            Key::OnNull => "on_null",
            Key::Partition => "partition",
            Key::MaxPartitions => "max_partitions",
            Key::Resumable => "resumable",
            Key::Crate => "crate",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|key| key.name() == name)
    }

    /// Whether `attr` takes this key: a full-refresh stream has no cursor, so none of the keys
    /// about cursors, checkpoints and partitions; only it has `resumable`.
    fn accepted_by(self, attr: Attr) -> bool {
        match self {
            Key::Name | Key::Namespace | Key::PrimaryKey | Key::Crate => true,
            Key::Resumable => attr == Attr::FullRefresh,
            Key::Cursor
            | Key::CheckpointInterval
            | Key::Checkpoint
            | Key::CheckpointEvery
            | Key::Order
            | Key::Step
            | Key::Start
            | Key::Lookback
            | Key::OnNull
            | Key::Partition
            | Key::MaxPartitions => attr == Attr::Incremental,
        }
    }

    /// The keys `attr` takes, in the order the help lists them.
    fn of(attr: Attr) -> impl Iterator<Item = Key> {
        Key::ALL
            .into_iter()
            .filter(move |key| key.accepted_by(attr))
    }
}

/// A value as written, with the tokens it came from.
pub(crate) enum Value {
    Str(LitStr),
    Int {
        tokens: TokenStream,
        negative: bool,
        digits: String,
    },
    Float(TokenStream),
    Bool(syn::LitBool),
    List {
        span: Span,
        items: Vec<LitStr>,
    },
    /// A bracketed list with a token that does not fit: `["a", 5]`.
    BadList {
        span: Span,
        /// The first token that does not fit.
        token: TokenTree,
        /// What was expected in its place.
        expected: &'static str,
    },
    Other(TokenStream),
}

impl Value {
    /// What kind of value this is, for messages.
    fn describe(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int { .. } => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a bool",
            Value::List { .. } | Value::BadList { .. } => "a list",
            Value::Other(_) => "an expression",
        }
    }

    fn error(&self, errors: &mut Errors, expected: &str) {
        let message = format!("expected {expected}, found {}", self.describe());
        match self {
            Value::Str(lit) => errors.at(lit.span(), message),
            Value::Bool(lit) => errors.at(lit.span, message),
            Value::List { span, .. } | Value::BadList { span, .. } => errors.at(*span, message),
            Value::Int { tokens, .. } | Value::Float(tokens) | Value::Other(tokens) => {
                errors.spanned(tokens, message);
            }
        }
    }
}

/// The `checkpoint` key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckpointAt {
    Slice,
    End,
}

/// The `order` key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Asc,
    Desc,
    Unsorted,
}

impl Order {
    /// The value as written.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
            Order::Unsorted => "unsorted",
        }
    }
}

/// The `on_null` key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnNull {
    Fail,
    Skip,
    Emit,
}

/// A `step` or `lookback`: an integer count or an ISO-8601 duration.
#[derive(Clone, Copy)]
pub(crate) enum Distance {
    Count(u64),
    Duration(iso::Duration),
}

/// A `start`: an integer or an instant.
#[derive(Clone, Copy)]
pub(crate) enum Start {
    Int(i128),
    Instant(iso::Instant),
}

/// A value with the text it was written as and the span of its literal.
pub(crate) struct Spanned<T> {
    pub(crate) value: T,
    pub(crate) text: String,
    pub(crate) span: Span,
}

/// The parsed arguments. Each is `None` when absent or invalid (the error is recorded).
#[derive(Default)]
pub(crate) struct Args {
    /// The `cursor` literals: one field, or the fields of a compound cursor.
    pub(crate) cursor: Option<Vec<LitStr>>,
    pub(crate) name: Option<LitStr>,
    pub(crate) namespace: Option<LitStr>,
    /// Field names, each with its literal's span.
    pub(crate) primary_key: Option<Vec<LitStr>>,
    /// The interval and the key's span.
    pub(crate) checkpoint_interval: Option<(u64, Ident)>,
    pub(crate) checkpoint: Option<(CheckpointAt, Ident)>,
    /// The period and the key.
    pub(crate) checkpoint_every: Option<(Spanned<iso::Fixed>, Ident)>,
    pub(crate) order: Option<(Order, Ident)>,
    pub(crate) step: Option<Spanned<Distance>>,
    pub(crate) lookback: Option<Spanned<Distance>>,
    pub(crate) start: Option<Spanned<Start>>,
    /// The policy and the key.
    pub(crate) on_null: Option<(OnNull, Ident)>,
    /// The `partition` literal.
    pub(crate) partition: Option<LitStr>,
    /// The limit and the key.
    pub(crate) max_partitions: Option<(u64, Ident)>,
    pub(crate) resumable: Option<bool>,
    pub(crate) krate: Option<syn::Path>,
    /// The keys written at all, even with a bad value or misspelt (as the key the help
    /// suggests), so that a mistake in one is not also reported as its absence.
    given: Vec<Key>,
}

impl Args {
    /// Whether `key` was written, even with a bad value or misspelt.
    pub(crate) fn given(&self, key: Key) -> bool {
        self.given.contains(&key)
    }
}

/// Parses `key = value, ...` for `attr`. Never fails: problems go to `errors`.
pub(crate) fn parse(attr: Attr, tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<Key> = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        let TokenTree::Ident(ident) = token else {
            let example = if attr == Attr::Incremental {
                "cursor"
            } else {
                "name"
            };
            errors.spanned(
                &token,
                format!("expected an argument name such as `{example}`"),
            );
            skip_to_comma(&mut iter);
            continue;
        };
        let key_name = ident.to_string();
        let key = Key::from_name(&key_name).filter(|key| key.accepted_by(attr));
        args.given.extend(key);
        let value = match iter.peek() {
            Some(TokenTree::Punct(eq)) if eq.as_char() == '=' => {
                iter.next();
                collect_value(&mut iter)
            }
            _ => {
                errors.at(
                    ident.span(),
                    format!("expected `=` and a value after `{key_name}`"),
                );
                skip_to_comma(&mut iter);
                continue;
            }
        };
        let Some(value) = value else {
            errors.at(
                ident.span(),
                format!("expected a value after `{key_name} =`"),
            );
            continue;
        };
        let Some(key) = key else {
            unknown(attr, &ident, &mut args, errors);
            continue;
        };
        if seen.contains(&key) {
            errors.at(
                ident.span(),
                format!("duplicate `{}` argument `{key_name}`", attr.name()),
            );
            continue;
        }
        seen.push(key);
        assign(&mut args, key, &ident, value, errors);
    }
    args
}

/// The error on a key `attr` does not take: a key of the other attribute says why it does not
/// apply; any other suggests the closest key, or lists them.
fn unknown(attr: Attr, ident: &Ident, args: &mut Args, errors: &mut Errors) {
    let key_name = ident.to_string();
    let message = match (attr, Key::from_name(&key_name)) {
        (Attr::FullRefresh, Some(_)) => format!(
            "`full_refresh_stream` takes no `{key_name}`: a full-refresh stream has no cursor\n\
             help: use `#[incremental_stream]` for a stream read by its cursor"
        ),
        (Attr::Incremental, Some(_)) => format!(
            "`incremental_stream` takes no `{key_name}`: an incremental stream always resumes \
             after its saved watermark\nhelp: `{key_name}` is an argument of \
             `#[full_refresh_stream]`"
        ),
        (_, None) => {
            let mut message = format!("unknown `{}` argument `{key_name}`", attr.name());
            match closest(&key_name, Key::of(attr).map(Key::name)) {
                Some(suggestion) => {
                    // A misspelt key is reported once, not also as missing.
                    args.given.extend(Key::from_name(suggestion));
                    let _ = write!(message, "\nhelp: did you mean `{suggestion}`?");
                }
                None => {
                    let keys: Vec<String> = Key::of(attr).map(|k| k.name().to_owned()).collect();
                    let _ = write!(message, "\nhelp: the arguments are {}", errors::list(&keys));
                }
            }
            message
        }
    };
    errors.at(ident.span(), message);
}

/// Stores one known key's value, checking its kind.
fn assign(args: &mut Args, key: Key, ident: &Ident, value: Value, errors: &mut Errors) {
    match key {
        Key::Cursor => args.cursor = cursor(value, errors),
        Key::Order => {
            let orders = [
                ("asc", Order::Asc),
                ("desc", Order::Desc),
                ("unsorted", Order::Unsorted),
            ];
            args.order = keyword(value, "order", &orders, errors).map(keyed(ident));
        }
        Key::OnNull => {
            let policies = [
                ("fail", OnNull::Fail),
                ("skip", OnNull::Skip),
                ("emit", OnNull::Emit),
            ];
            args.on_null = keyword(value, "`on_null` policy", &policies, errors).map(keyed(ident));
        }
        Key::Checkpoint => {
            let policies = [("slice", CheckpointAt::Slice), ("end", CheckpointAt::End)];
            args.checkpoint =
                keyword(value, "checkpoint policy", &policies, errors).map(keyed(ident));
        }
        Key::CheckpointEvery => {
            args.checkpoint_every = match value {
                Value::Str(lit) => parsed(&lit, iso::fixed, errors).map(keyed(ident)),
                other => {
                    other.error(errors, "an ISO-8601 duration such as `\"PT30S\"`");
                    None
                }
            }
        }
        Key::Step => args.step = distance(ident, value, errors),
        Key::Lookback => args.lookback = distance(ident, value, errors),
        Key::Start => args.start = start(value, errors),
        Key::Name => args.name = non_empty(key, value, errors),
        Key::Namespace => args.namespace = non_empty(key, value, errors),
        Key::PrimaryKey => match value {
            Value::Str(lit) => args.primary_key = Some(vec![lit]),
            Value::List { items, span } if items.is_empty() => {
                errors.at(span, "`primary_key` needs at least one field");
            }
            Value::List { items, .. } => args.primary_key = Some(items),
            Value::BadList {
                token, expected, ..
            } => bad_item(&token, expected, errors),
            other => other.error(errors, "a field name or a list of field names"),
        },
        Key::CheckpointInterval => {
            let records = count(
                key,
                value,
                "records",
                "leave it out to checkpoint only at slice ends",
                errors,
            );
            args.checkpoint_interval = records.map(keyed(ident));
        }
        Key::Partition => match value {
            Value::Str(lit) if lit.value().is_empty() => {
                errors.at(lit.span(), "`partition` must name a field");
            }
            Value::Str(lit) => args.partition = Some(lit),
            other => other.error(errors, "a string naming the partition field"),
        },
        Key::MaxPartitions => {
            let limit = count(
                key,
                value,
                "partitions",
                "leave it out for the default, `tidemark::DEFAULT_MAX_PARTITIONS`",
                errors,
            );
            args.max_partitions = limit.map(keyed(ident));
        }
        Key::Resumable => match value {
            Value::Bool(lit) => args.resumable = Some(lit.value),
            other => other.error(errors, "`true` or `false`"),
        },
        Key::Crate => match value {
            Value::Str(lit) => match lit.parse::<syn::Path>() {
                Ok(path) => args.krate = Some(path),
                Err(_) => errors.at(
                    lit.span(),
                    "`crate` must be a path, such as `\"::tidemark\"`",
                ),
            },
            other => other.error(errors, "a string holding a path, such as `\"::tidemark\"`"),
        },
    }
}

/// Pairs a value with its key, whose span the cross-checks report on.
fn keyed<T>(ident: &Ident) -> impl FnOnce(T) -> (T, Ident) + '_ {
    move |value| (value, ident.clone())
}

/// A `name` or `namespace`: a string that is not empty.
fn non_empty(key: Key, value: Value, errors: &mut Errors) -> Option<LitStr> {
    match value {
        Value::Str(lit) if lit.value().is_empty() => {
            errors.at(lit.span(), format!("`{}` must not be empty", key.name()));
            None
        }
        Value::Str(lit) => Some(lit),
        other => {
            other.error(errors, "a string");
            None
        }
    }
}

/// A string naming one of `choices`; otherwise an error on the literal that lists them (and
/// suggests the closest).
fn keyword<T: Copy>(
    value: Value,
    what: &str,
    choices: &[(&str, T)],
    errors: &mut Errors,
) -> Option<T> {
    let names: Vec<String> = choices
        .iter()
        .map(|(name, _)| format!("\"{name}\""))
        .collect();
    let expected = errors::one_of(&names);
    let lit = match value {
        Value::Str(lit) => lit,
        other => {
            other.error(errors, &expected);
            return None;
        }
    };
    let text = lit.value();
    if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == text) {
        return Some(*choice);
    }
    let mut message = format!("unknown {what} `{text}`, expected {expected}");
    if let Some(suggestion) = closest(&text, choices.iter().map(|(name, _)| *name)) {
        let _ = write!(message, "\nhelp: did you mean `\"{suggestion}\"`?");
    }
    errors.at(lit.span(), message);
    None
}

/// A whole number of `unit` of at least 1 (`checkpoint_interval`, `max_partitions`); `zero`
/// says what to write instead of 0.
fn count(key: Key, value: Value, unit: &str, zero: &str, errors: &mut Errors) -> Option<u64> {
    let key = key.name();
    match value {
        Value::Int {
            tokens,
            negative: true,
            ..
        } => errors.spanned(
            &tokens,
            format!("`{key}` must be a positive number of {unit}"),
        ),
        Value::Int { tokens, digits, .. } => match digits.parse::<u64>() {
            Ok(0) => errors.spanned(&tokens, format!("`{key}` must be at least 1 ({zero})")),
            Ok(count) => return Some(count),
            Err(_) => errors.spanned(&tokens, format!("`{key}` is too large")),
        },
        Value::Float(tokens) => {
            errors.spanned(&tokens, format!("`{key}` must be a whole number of {unit}"));
        }
        other => other.error(
            errors,
            &format!("a positive integer, such as `{key} = 500`"),
        ),
    }
    None
}

/// A `cursor` value: one field name, or a list of them (a compound cursor).
fn cursor(value: Value, errors: &mut Errors) -> Option<Vec<LitStr>> {
    match value {
        Value::Str(lit) if lit.value().is_empty() => {
            errors.at(lit.span(), "`cursor` must name a field");
            None
        }
        Value::Str(lit) => Some(vec![lit]),
        Value::List { items, span } if items.is_empty() => {
            errors.at(
                span,
                "a compound `cursor` needs at least one field, such as `[\"updated_at\", \"id\"]`",
            );
            None
        }
        Value::List { items, .. } => {
            let mut fields: Vec<LitStr> = Vec::new();
            for lit in items {
                if lit.value().is_empty() {
                    errors.at(lit.span(), "`cursor` must name a field");
                } else if fields.iter().any(|seen| seen.value() == lit.value()) {
                    errors.at(
                        lit.span(),
                        format!("`{}` appears twice in the compound cursor", lit.value()),
                    );
                } else {
                    fields.push(lit);
                }
            }
            Some(fields)
        }
        Value::BadList {
            token, expected, ..
        } => {
            bad_item(&token, expected, errors);
            None
        }
        other => {
            other.error(
                errors,
                "a string naming the cursor field or a list of field names",
            );
            None
        }
    }
}

/// A string literal parsed by `parse`, kept with its text and span; the parser's message is
/// reported on the literal.
fn parsed<T>(
    lit: &LitStr,
    parse: fn(&str) -> Result<T, String>,
    errors: &mut Errors,
) -> Option<Spanned<T>> {
    match parse(&lit.value()) {
        Ok(value) => Some(Spanned {
            value,
            text: lit.value(),
            span: lit.span(),
        }),
        Err(message) => {
            errors.at(lit.span(), message);
            None
        }
    }
}

/// A `step` or `lookback` value: a positive integer or an ISO-8601 duration.
fn distance(key: &Ident, value: Value, errors: &mut Errors) -> Option<Spanned<Distance>> {
    match value {
        Value::Str(lit) => parsed(&lit, iso::duration, errors).map(|spanned| Spanned {
            value: Distance::Duration(spanned.value),
            text: spanned.text,
            span: spanned.span,
        }),
        Value::Int {
            tokens,
            negative: true,
            ..
        } => {
            errors.spanned(&tokens, format!("`{key}` must be positive"));
            None
        }
        Value::Int { tokens, digits, .. } => match digits.parse::<u64>() {
            Ok(0) => {
                errors.spanned(&tokens, format!("`{key}` must be positive"));
                None
            }
            Ok(count) => Some(Spanned {
                value: Distance::Count(count),
                text: digits,
                span: last_span(&tokens),
            }),
            Err(_) => {
                errors.spanned(&tokens, format!("`{key}` is too large"));
                None
            }
        },
        other => {
            other.error(
                errors,
                "an ISO-8601 duration such as `\"P1D\"` (time cursors) or a positive integer (integer cursors)",
            );
            None
        }
    }
}

/// A `start` value: an integer or an RFC 3339 timestamp or date.
fn start(value: Value, errors: &mut Errors) -> Option<Spanned<Start>> {
    match value {
        Value::Str(lit) => parsed(&lit, iso::instant, errors).map(|spanned| Spanned {
            value: Start::Instant(spanned.value),
            text: spanned.text,
            span: spanned.span,
        }),
        Value::Int {
            tokens,
            negative,
            digits,
        } => match digits.parse::<i128>() {
            Ok(number) => Some(Spanned {
                value: Start::Int(if negative { -number } else { number }),
                text: if negative {
                    format!("-{digits}")
                } else {
                    digits
                },
                span: last_span(&tokens),
            }),
            Err(_) => {
                errors.spanned(&tokens, "`start` is too large");
                None
            }
        },
        other => {
            other.error(
                errors,
                "an RFC 3339 timestamp such as `\"2024-01-01T00:00:00Z\"` or an integer",
            );
            None
        }
    }
}

/// The span of a value's literal (the last token: `5` in `-5`).
fn last_span(tokens: &TokenStream) -> Span {
    tokens
        .clone()
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |token| token.span())
}

/// Reads the tokens of one value up to the next top-level comma.
fn collect_value(iter: &mut std::iter::Peekable<impl Iterator<Item = TokenTree>>) -> Option<Value> {
    let mut tokens: Vec<TokenTree> = Vec::new();
    while let Some(token) = iter.peek() {
        if matches!(token, TokenTree::Punct(p) if p.as_char() == ',') {
            iter.next();
            break;
        }
        match iter.next() {
            // A value passed through `macro_rules!` (`$value:literal`) arrives wrapped in an
            // invisible group: look through it.
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::None => {
                tokens.extend(group.stream());
            }
            token => tokens.extend(token),
        }
    }
    let stream: TokenStream = tokens.iter().cloned().collect();
    Some(match tokens.as_slice() {
        [] => return None,
        [TokenTree::Literal(lit)] => literal(lit, false, stream),
        [TokenTree::Ident(ident)] if ident == "true" || ident == "false" => {
            Value::Bool(syn::LitBool::new(ident == "true", ident.span()))
        }
        [TokenTree::Punct(minus), TokenTree::Literal(lit)] if minus.as_char() == '-' => {
            literal(lit, true, stream)
        }
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::Bracket => {
            list(group.stream(), group.span())
        }
        _ => Value::Other(stream),
    })
}

fn literal(lit: &proc_macro2::Literal, negative: bool, tokens: TokenStream) -> Value {
    match Lit::new(lit.clone()) {
        Lit::Str(lit) if !negative => Value::Str(lit),
        Lit::Int(int) => Value::Int {
            tokens,
            negative,
            digits: int.base10_digits().to_owned(),
        },
        Lit::Float(_) => Value::Float(tokens),
        _ => Value::Other(tokens),
    }
}

/// The error on the first token of a list of field names that does not fit.
fn bad_item(token: &TokenTree, expected: &str, errors: &mut Errors) {
    let found = match token {
        TokenTree::Literal(lit) => match Lit::new(lit.clone()) {
            Lit::Str(_) => "a string".to_owned(),
            Lit::Int(_) => "an integer".to_owned(),
            Lit::Float(_) => "a float".to_owned(),
            _ => "a literal".to_owned(),
        },
        TokenTree::Group(group) if group.delimiter() == Delimiter::Bracket => "a list".to_owned(),
        TokenTree::Group(_) => "an expression".to_owned(),
        TokenTree::Ident(_) | TokenTree::Punct(_) => format!("`{token}`"),
    };
    errors.spanned(token, format!("expected {expected}, found {found}"));
}

/// `["a", "b"]`: string literals separated by commas (a trailing comma is fine).
fn list(tokens: TokenStream, span: Span) -> Value {
    let mut items = Vec::new();
    let mut expect_item = true;
    for token in tokens {
        let expected = match &token {
            TokenTree::Literal(lit) if expect_item => match Lit::new(lit.clone()) {
                Lit::Str(lit) => {
                    items.push(lit);
                    expect_item = false;
                    continue;
                }
                _ => "a field name in quotes, such as `\"id\"`",
            },
            TokenTree::Punct(p) if !expect_item && p.as_char() == ',' => {
                expect_item = true;
                continue;
            }
            _ if expect_item => "a field name in quotes, such as `\"id\"`",
            _ => "`,` between the fields",
        };
        return Value::BadList {
            span,
            token,
            expected,
        };
    }
    Value::List { span, items }
}

fn skip_to_comma(iter: &mut impl Iterator<Item = TokenTree>) {
    for token in iter {
        if matches!(token, TokenTree::Punct(ref p) if p.as_char() == ',') {
            break;
        }
    }
}
