//! Our model of the annotated struct: its fields with their JSON names, keeping references to
//! the original syntax for spans.

use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

use crate::errors::Errors;

/// A named field.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    /// The name the field is serialized with (after `#[serde(rename)]` / `rename_all`).
    pub(crate) json_name: String,
    /// `#[serde(skip)]` or `#[serde(skip_serializing)]`: absent from the record's JSON.
    pub(crate) skipped: bool,
}

/// The struct the attribute is on.
pub(crate) struct Record<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) fields: Vec<Field<'a>>,
}

impl<'a> Record<'a> {
    /// The model, or `None` (with the error recorded) for enums, unions, tuple and unit structs.
    /// `what` names the attribute or derive in the error.
    pub(crate) fn from_input(
        input: &'a DeriveInput,
        what: &str,
        errors: &mut Errors,
    ) -> Option<Self> {
        let why = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => {
                    let rename_all = rename_all(&input.attrs);
                    let fields = named
                        .named
                        .iter()
                        .filter_map(|field| {
                            let ident = field.ident.as_ref()?;
                            let serde = FieldSerde::parse(&field.attrs);
                            let json_name = serde.rename.unwrap_or_else(|| {
                                let name = ident.to_string();
                                let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                                rename_all.map_or(name.clone(), |rule| rule.apply(&name))
                            });
                            Some(Field {
                                ident,
                                ty: &field.ty,
                                json_name,
                                skipped: serde.skipped,
                            })
                        })
                        .collect();
                    return Some(Record { input, fields });
                }
                Fields::Unnamed(fields) => {
                    errors.spanned(
                        fields,
                        format!("`{what}` needs a struct with named fields, not a tuple struct"),
                    );
                    return None;
                }
                Fields::Unit => "a unit struct",
            },
            Data::Enum(data) => {
                errors.at(
                    data.enum_token.span,
                    format!("`{what}` goes on a struct with named fields, not an enum"),
                );
                return None;
            }
            Data::Union(data) => {
                errors.at(
                    data.union_token.span,
                    format!("`{what}` goes on a struct with named fields, not a union"),
                );
                return None;
            }
        };
        errors.at(
            input.ident.span(),
            format!("`{what}` needs a struct with named fields, not {why}"),
        );
        None
    }

    /// The field with this Rust name.
    pub(crate) fn field(&self, name: &str) -> Option<&Field<'a>> {
        let unraw = |name: &str| name.strip_prefix("r#").unwrap_or(name).to_owned();
        let name = unraw(name);
        self.fields
            .iter()
            .find(|field| unraw(&field.ident.to_string()) == name)
    }

    /// The Rust names of all fields.
    pub(crate) fn field_names(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|field| field.ident.to_string())
            .collect()
    }
}

/// What `#[serde(...)]` on a field says about its JSON name.
#[derive(Default)]
struct FieldSerde {
    rename: Option<String>,
    skipped: bool,
}

impl FieldSerde {
    fn parse(attrs: &[syn::Attribute]) -> Self {
        let mut serde = FieldSerde::default();
        for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
            // serde reports errors in its own attributes; ours would only repeat them.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if let Some(name) = serialize_name(&meta)? {
                        serde.rename = Some(name);
                    }
                } else if meta.path.is_ident("skip") || meta.path.is_ident("skip_serializing") {
                    serde.skipped = true;
                } else {
                    skip_meta_value(&meta)?;
                }
                Ok(())
            });
        }
        serde
    }
}

/// The serialize-side name of `rename = "x"` or `rename(serialize = "x", ...)`.
fn serialize_name(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<Option<String>> {
    if meta.input.peek(syn::Token![=]) {
        let lit: LitStr = meta.value()?.parse()?;
        return Ok(Some(lit.value()));
    }
    let mut name = None;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("serialize") {
            let lit: LitStr = inner.value()?.parse()?;
            name = Some(lit.value());
        } else {
            skip_meta_value(&inner)?;
        }
        Ok(())
    })?;
    Ok(name)
}

/// Consumes the value of a serde option we do not interpret.
fn skip_meta_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        // A value ends at the next top-level comma.
        meta.value()?.step(|cursor| {
            let mut rest = *cursor;
            while let Some((token, next)) = rest.token_tree() {
                if matches!(&token, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                    break;
                }
                rest = next;
            }
            Ok(((), rest))
        })?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_meta_value(&inner))?;
    }
    Ok(())
}

/// `#[serde(rename_all = "...")]` (or its `serialize = "..."` form) on the struct.
fn rename_all(attrs: &[syn::Attribute]) -> Option<RenameRule> {
    let mut rule = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                if let Some(name) = serialize_name(&meta)? {
                    rule = RenameRule::from_name(&name);
                }
            } else {
                skip_meta_value(&meta)?;
            }
            Ok(())
        });
    }
    rule
}

/// serde's `rename_all` rules.
#[derive(Clone, Copy)]
enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    /// Applies the rule to a `snake_case` field name, as serde does.
    fn apply(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_owned(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Pascal | RenameRule::Camel => {
                let mut out = String::new();
                let mut capitalize = matches!(self, RenameRule::Pascal);
                for ch in field.chars() {
                    if ch == '_' {
                        capitalize = true;
                    } else if capitalize {
                        out.push(ch.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        out.push(ch);
                    }
                }
                out
            }
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::ScreamingKebab => field.replace('_', "-").to_ascii_uppercase(),
        }
    }
}

/// `OrderLine` -> `order_line`, `HTTPLog` -> `http_log`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &ch) in chars.iter().enumerate() {
        if ch.is_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let ends_acronym = i > 0
                && chars[i - 1].is_uppercase()
                && chars.get(i + 1).is_some_and(|next| next.is_lowercase());
            if after_lower || ends_acronym {
                out.push('_');
            }
            out.extend(ch.to_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_names_become_snake_case() {
        assert_eq!(snake_case("Order"), "order");
        assert_eq!(snake_case("OrderLine"), "order_line");
        assert_eq!(snake_case("HTTPLog"), "http_log");
        assert_eq!(snake_case("V2Event"), "v2_event");
    }

    #[test]
    fn rename_rules_match_serde() {
        assert_eq!(RenameRule::Camel.apply("updated_at"), "updatedAt");
        assert_eq!(RenameRule::Pascal.apply("updated_at"), "UpdatedAt");
        assert_eq!(RenameRule::ScreamingKebab.apply("updated_at"), "UPDATED-AT");
    }
}
