//! Parsing the attribute's arguments: `key = value, ...`, each value kept with its span.
//!
//! Values are read from raw tokens (string, integer and float literals, a leading `-`, and
//! bracketed lists), not as expressions, so each mistake is reported on its own token.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use syn::{Lit, LitStr};

use std::fmt::Write as _;

use crate::errors::{self, Errors, closest};

/// Every key the attribute accepts.
pub(crate) const KEYS: &[&str] = &[
    "cursor",
    "name",
    "namespace",
    "primary_key",
    "checkpoint_interval",
    "checkpoint",
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
    Other(TokenStream),
}

impl Value {
    /// What kind of value this is, for messages.
    fn describe(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int { .. } => "an integer",
            Value::Float(_) => "a float",
            Value::List { .. } => "a list",
            Value::Other(_) => "an expression",
        }
    }

    fn error(&self, errors: &mut Errors, expected: &str) {
        let message = format!("expected {expected}, found {}", self.describe());
        match self {
            Value::Str(lit) => errors.at(lit.span(), message),
            Value::List { span, .. } => errors.at(*span, message),
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

/// The parsed arguments. Each is `None` when absent or invalid (the error is recorded).
#[derive(Default)]
pub(crate) struct Args {
    /// The `cursor` literal: a field name.
    pub(crate) cursor: Option<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) namespace: Option<LitStr>,
    /// Field names, each with its literal's span.
    pub(crate) primary_key: Option<Vec<LitStr>>,
    /// The interval and the key's span.
    pub(crate) checkpoint_interval: Option<(u64, Ident)>,
    pub(crate) checkpoint: Option<(CheckpointAt, Ident)>,
    pub(crate) krate: Option<syn::Path>,
    /// Whether `cursor` was written at all (even with a bad value).
    pub(crate) cursor_given: bool,
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
        if key_name == "cursor" {
            args.cursor_given = true;
        }
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
                    // A misspelt `cursor` is reported once, not also as missing.
                    args.cursor_given |= suggestion == "cursor";
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
        "cursor" => {
            match value {
                Value::Str(lit) if lit.value().is_empty() => {
                    errors.at(lit.span(), "`cursor` must name a field");
                }
                Value::Str(lit) => args.cursor = Some(lit),
                other => other.error(errors, "a string naming the cursor field"),
            }
        }
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

/// Reads the tokens of one value up to the next top-level comma.
fn collect_value(iter: &mut std::iter::Peekable<impl Iterator<Item = TokenTree>>) -> Option<Value> {
    let mut tokens: Vec<TokenTree> = Vec::new();
    while let Some(token) = iter.peek() {
        if matches!(token, TokenTree::Punct(p) if p.as_char() == ',') {
            iter.next();
            break;
        }
        tokens.extend(iter.next());
    }
    let stream: TokenStream = tokens.iter().cloned().collect();
    Some(match tokens.as_slice() {
        [] => return None,
        [TokenTree::Literal(lit)] => literal(lit, false, stream),
        [TokenTree::Punct(minus), TokenTree::Literal(lit)] if minus.as_char() == '-' => {
            literal(lit, true, stream)
        }
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::Bracket => {
            list(group.stream(), group.span()).unwrap_or(Value::Other(stream))
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

/// `["a", "b"]`: string literals separated by commas (a trailing comma is fine).
fn list(tokens: TokenStream, span: Span) -> Option<Value> {
    let mut items = Vec::new();
    let mut expect_item = true;
    for token in tokens {
        match token {
            TokenTree::Literal(lit) if expect_item => match Lit::new(lit) {
                Lit::Str(lit) => items.push(lit),
                _ => return None,
            },
            TokenTree::Punct(p) if !expect_item && p.as_char() == ',' => {}
            _ => return None,
        }
        expect_item = !expect_item;
    }
    Some(Value::List { span, items })
}

fn skip_to_comma(iter: &mut impl Iterator<Item = TokenTree>) {
    for token in iter {
        if matches!(token, TokenTree::Punct(ref p) if p.as_char() == ',') {
            break;
        }
    }
}
