//! Parsing the attribute's arguments: `key = value, ...`, each value kept with its span.
//!
//! Values are read from raw tokens (string, integer and float literals, a leading `-`, and
//! bracketed lists), not as expressions, so each mistake is reported on its own token.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use syn::{Lit, LitStr};

use std::fmt::Write as _;

use crate::errors::{self, Errors, closest};
use crate::iso;

/// Every key the attribute accepts.
pub(crate) const KEYS: &[&str] = &[
    "cursor",
    "name",
    "namespace",
    "primary_key",
    "checkpoint_interval",
    "checkpoint",
    "order",
    "step",
    "start",
    "lookback",
    "on_null",
    "crate",
];

/// A value as written, with the tokens it came from.
pub(crate) enum Value {
    Str(LitStr),
    Int {
        tokens: TokenStream,
        negative: bool,
        digits: String,
    },
    Float(TokenStream),
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
            Value::List { .. } | Value::BadList { .. } => "a list",
            Value::Other(_) => "an expression",
        }
    }

    fn error(&self, errors: &mut Errors, expected: &str) {
        let message = format!("expected {expected}, found {}", self.describe());
        match self {
            Value::Str(lit) => errors.at(lit.span(), message),
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
    Unsorted,
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
    pub(crate) order: Option<(Order, Ident)>,
    pub(crate) step: Option<Spanned<Distance>>,
    pub(crate) lookback: Option<Spanned<Distance>>,
    pub(crate) start: Option<Spanned<Start>>,
    /// The policy and the key.
    pub(crate) on_null: Option<(OnNull, Ident)>,
    pub(crate) krate: Option<syn::Path>,
    /// Whether `cursor` was written at all (even with a bad value).
    pub(crate) cursor_given: bool,
    /// Whether `on_null` was written at all (even with a bad value).
    pub(crate) on_null_given: bool,
}

/// Parses `key = value, ...`. Never fails: problems go to `errors`.
pub(crate) fn parse(tokens: TokenStream, errors: &mut Errors) -> Args {
    let mut args = Args::default();
    let mut seen: Vec<String> = Vec::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(token) = iter.next() {
        let TokenTree::Ident(key) = token else {
            errors.spanned(&token, "expected an argument name such as `cursor`");
            skip_to_comma(&mut iter);
            continue;
        };
        let key_name = key.to_string();
        args.cursor_given |= key_name == "cursor";
        args.on_null_given |= key_name == "on_null";
        let value = match iter.peek() {
            Some(TokenTree::Punct(eq)) if eq.as_char() == '=' => {
                iter.next();
                collect_value(&mut iter)
            }
            _ => {
                errors.at(
                    key.span(),
                    format!("expected `=` and a value after `{key_name}`"),
                );
                skip_to_comma(&mut iter);
                continue;
            }
        };
        let Some(value) = value else {
            errors.at(key.span(), format!("expected a value after `{key_name} =`"));
            continue;
        };
        if !KEYS.contains(&key_name.as_str()) {
            let mut message = format!("unknown `incremental_stream` argument `{key_name}`");
            match closest(&key_name, KEYS.iter().copied()) {
                Some(suggestion) => {
                    // A misspelt `cursor` or `on_null` is reported once, not also as missing.
                    args.cursor_given |= suggestion == "cursor";
                    args.on_null_given |= suggestion == "on_null";
                    let _ = write!(message, "\nhelp: did you mean `{suggestion}`?");
                }
                None => {
                    let keys: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
                    let _ = write!(message, "\nhelp: the arguments are {}", errors::list(&keys));
                }
            }
            errors.at(key.span(), message);
            continue;
        }
        if seen.contains(&key_name) {
            errors.at(
                key.span(),
                format!("duplicate `incremental_stream` argument `{key_name}`"),
            );
            continue;
        }
        seen.push(key_name.clone());
        assign(&mut args, &key, value, errors);
    }
    args
}

/// Stores one known key's value, checking its kind.
fn assign(args: &mut Args, key: &Ident, value: Value, errors: &mut Errors) {
    match key.to_string().as_str() {
        "cursor" => args.cursor = cursor(value, errors),
        "order" => match value {
            Value::Str(lit) => match lit.value().as_str() {
                "asc" => args.order = Some((Order::Asc, key.clone())),
                "unsorted" => args.order = Some((Order::Unsorted, key.clone())),
                other => errors.at(
                    lit.span(),
                    format!("unknown order `{other}`, expected `\"asc\"` or `\"unsorted\"`"),
                ),
            },
            other => other.error(errors, "`\"asc\"` or `\"unsorted\"`"),
        },
        "on_null" => match value {
            Value::Str(lit) => match lit.value().as_str() {
                "fail" => args.on_null = Some((OnNull::Fail, key.clone())),
                "skip" => args.on_null = Some((OnNull::Skip, key.clone())),
                "emit" => args.on_null = Some((OnNull::Emit, key.clone())),
                other => errors.at(
                    lit.span(),
                    format!(
                        "unknown `on_null` policy `{other}`, expected `\"fail\"`, `\"skip\"` or `\"emit\"`"
                    ),
                ),
            },
            other => other.error(errors, "`\"fail\"`, `\"skip\"` or `\"emit\"`"),
        },
        "step" | "lookback" => {
            let distance = distance(key, value, errors);
            if key == "step" {
                args.step = distance;
            } else {
                args.lookback = distance;
            }
        }
        "start" => args.start = start(value, errors),
        "name" | "namespace" => match value {
            Value::Str(lit) if lit.value().is_empty() => {
                errors.at(lit.span(), format!("`{key}` must not be empty"));
            }
            Value::Str(lit) if key == "name" => args.name = Some(lit),
            Value::Str(lit) => args.namespace = Some(lit),
            other => other.error(errors, "a string"),
        },
        "primary_key" => match value {
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
        "checkpoint_interval" => match value {
            Value::Int {
                tokens,
                negative: true,
                ..
            } => errors.spanned(
                &tokens,
                "`checkpoint_interval` must be a positive number of records",
            ),
            Value::Int { tokens, digits, .. } => match digits.parse::<u64>() {
                Ok(0) => errors.spanned(
                    &tokens,
                    "`checkpoint_interval` must be at least 1 (leave it out to checkpoint only at slice ends)",
                ),
                Ok(records) => args.checkpoint_interval = Some((records, key.clone())),
                Err(_) => errors.spanned(&tokens, "`checkpoint_interval` is too large"),
            },
            Value::Float(tokens) => errors.spanned(
                &tokens,
                "`checkpoint_interval` must be a whole number of records",
            ),
            other => other.error(errors, "a positive integer, such as `checkpoint_interval = 500`"),
        },
        "checkpoint" => match value {
            Value::Str(lit) => match lit.value().as_str() {
                "slice" => args.checkpoint = Some((CheckpointAt::Slice, key.clone())),
                "end" => args.checkpoint = Some((CheckpointAt::End, key.clone())),
                other => errors.at(
                    lit.span(),
                    format!("unknown checkpoint policy `{other}`, expected `\"slice\"` or `\"end\"`"),
                ),
            },
            other => other.error(errors, "`\"slice\"` or `\"end\"`"),
        },
        "crate" => match value {
            Value::Str(lit) => match lit.parse::<syn::Path>() {
                Ok(path) => args.krate = Some(path),
                Err(_) => errors.at(lit.span(), "`crate` must be a path, such as `\"::tidemark\"`"),
            },
            other => other.error(errors, "a string holding a path, such as `\"::tidemark\"`"),
        },
        _ => unreachable!("keys are checked against KEYS before assignment"),
    }
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
