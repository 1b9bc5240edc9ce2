//! A small check of a config against the JSON Schema (draft-07) that schemars generated for it:
//! the config check when the `jsonschema` feature is off.
//!
//! It checks the keywords schemars emits: `type`, `enum`, `const`, `required`, `properties`,
//! `additionalProperties`, `patternProperties`, `minProperties`, `maxProperties`, `items`
//! (one schema or a list), `additionalItems`, `minItems`, `maxItems`, `uniqueItems`,
//! `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`, `maxLength`,
//! `pattern`, `allOf`, `anyOf`, `oneOf`, `not`, boolean schemas and `$ref` within the schema.
//!
//! It does not check `format`, `multipleOf`, `contains`, `propertyNames`, `dependencies`,
//! `if`/`then`/`else`, nor a `$ref` to another document. `pattern` is a [`regex_lite`] regular
//! expression, searched anywhere in the string as JSON Schema says; a pattern it cannot compile
//! (Unicode classes such as `\p{L}`, look-around, back-references) is reported as a problem of
//! the schema, not silently skipped.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::Write as _;

use regex_lite::Regex;
use serde_json::{Map, Number, Value};

use crate::input::Violations;

/// How deep schemas may nest, `$ref`s included, before the schema is taken to refer to itself
/// without end.
const MAX_DEPTH: usize = 256;

/// Checks `value` against `schema`, listing at most `max_listed` violations. An `Err` is a
/// problem of the schema itself (a `$ref` that cannot be resolved, a pattern that does not
/// compile, a schema that refers to itself without end).
pub(crate) fn check(
    schema: &Value,
    value: &Value,
    max_listed: usize,
) -> Result<Violations, String> {
    let mut checker = Checker {
        root: schema,
        patterns: HashMap::new(),
        depth: 0,
    };
    let mut out = Report::listing(max_listed);
    checker.check(schema, value, &mut Vec::new(), &mut out)?;
    Ok(Violations {
        listed: out.listed,
        more: out.count.saturating_sub(max_listed),
    })
}

/// One step of the path to a value: a property name or an index.
#[derive(Clone, Copy)]
enum Step<'v> {
    Key(&'v str),
    Index(usize),
}

/// A path as a JSON pointer (`/a/b~1c/0`).
fn pointer(path: &[Step<'_>]) -> String {
    let mut pointer = String::new();
    for step in path {
        match step {
            Step::Key(key) => crate::input::push_key(&mut pointer, key),
            Step::Index(index) => {
                let _ = write!(pointer, "/{index}");
            }
        }
    }
    pointer
}

/// Where violations go: listed (up to a bound, counted past it), or only counted while trying
/// the options of an `anyOf` or `oneOf`.
struct Report {
    listed: Vec<(String, String)>,
    max_listed: usize,
    count: usize,
}

impl Report {
    fn listing(max_listed: usize) -> Self {
        Report {
            listed: Vec::new(),
            max_listed,
            count: 0,
        }
    }

    /// A report that only tells whether there was a violation.
    fn probe() -> Self {
        Report::listing(0)
    }

    /// Records a violation at `path`; the message is built only when it is listed.
    fn fail(&mut self, path: &[Step<'_>], message: impl FnOnce() -> String) {
        if self.listed.len() < self.max_listed {
            self.listed.push((pointer(path), message()));
        }
        self.count += 1;
    }

    /// A probe stops at the first violation.
    fn done(&self) -> bool {
        self.max_listed == 0 && self.count > 0
    }
}

struct Checker<'s> {
    root: &'s Value,
    /// Compiled patterns, by their text.
    patterns: HashMap<&'s str, Regex>,
    depth: usize,
}

impl<'s> Checker<'s> {
    fn check<'v>(
        &mut self,
        schema: &'s Value,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        let schema = match schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => {
                out.fail(path, || format!("{} is not allowed", shown(value)));
                return Ok(());
            }
            Value::Object(schema) => schema,
            other => return Err(format!("{other} is not a schema")),
        };
        if out.done() {
            return Ok(());
        }
        if self.depth == MAX_DEPTH {
            return Err("it refers to itself without end".to_owned());
        }
        self.depth += 1;
        let result = self.keywords(schema, value, path, out);
        self.depth -= 1;
        result
    }

    fn keywords<'v>(
        &mut self,
        schema: &'s Map<String, Value>,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        if let Some(reference) = schema.get("$ref") {
            // Draft-07: the keywords beside a `$ref` are ignored.
            let target = self.resolve(reference)?;
            return self.check(target, value, path, out);
        }
        if let Some(types) = schema.get("type") {
            check_type(types, value, path, out);
        }
        if let Some(Value::Array(options)) = schema.get("enum")
            && !options.iter().any(|option| equal(option, value))
        {
            out.fail(path, || {
                format!("{} is not one of {}", shown(value), listed(options))
            });
        }
        if let Some(constant) = schema.get("const")
            && !equal(constant, value)
        {
            out.fail(path, || format!("{} is not {constant}", shown(value)));
        }
        self.combinators(schema, value, path, out)?;
        match value {
            Value::Number(number) => check_number(schema, number, path, out),
            Value::String(text) => self.check_string(schema, text, path, out)?,
            Value::Array(items) => self.check_array(schema, items, path, out)?,
            Value::Object(object) => self.check_object(schema, object, path, out)?,
            Value::Null | Value::Bool(_) => {}
        }
        Ok(())
    }

    /// The schema a `$ref` within this schema points to (`#`, `#/definitions/X`, `#/$defs/X`).
    fn resolve(&self, reference: &Value) -> Result<&'s Value, String> {
        let unresolved = || format!("`$ref` {reference} cannot be resolved within the schema");
        let fragment = reference
            .as_str()
            .and_then(|reference| reference.strip_prefix('#'))
            .ok_or_else(unresolved)?;
        let fragment = percent_decoded(fragment).ok_or_else(unresolved)?;
        self.root.pointer(&fragment).ok_or_else(unresolved)
    }

    fn combinators<'v>(
        &mut self,
        schema: &'s Map<String, Value>,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for option in all {
                self.check(option, value, path, out)?;
            }
        }
        for (keyword, one) in [("anyOf", false), ("oneOf", true)] {
            let Some(Value::Array(options)) = schema.get(keyword) else {
                continue;
            };
            // `Option<T>` is `anyOf: [T, null]`: a value that is not null is checked against T
            // alone, so that its own violations are reported.
            let not_null: Vec<&Value> = options
                .iter()
                .filter(|option| value.is_null() || !only_null(option))
                .collect();
            if let [option] = not_null[..]
                && !value.is_null()
            {
                self.check(option, value, path, out)?;
                continue;
            }
            // An enum whose variants are objects (a tag property, or the variant's name as the
            // one key): the violations of the variant the value names are the useful ones.
            if let Value::Object(object) = value {
                let mut claimed = Vec::new();
                for option in options {
                    if self.claims(option, object)? {
                        claimed.push(option);
                    }
                }
                if let [option] = claimed[..] {
                    let before = out.count;
                    self.check(option, value, path, out)?;
                    // A `oneOf` the variant satisfies must still match no other option.
                    if !one || out.count > before {
                        continue;
                    }
                }
            }
            let mut matched = 0;
            for option in options {
                if self.matches(option, value, path)? {
                    matched += 1;
                    if !one || matched > 1 {
                        break;
                    }
                }
            }
            if matched == 0 {
                out.fail(path, || match constants(options) {
                    Some(allowed) => format!("{} is not one of {allowed}", shown(value)),
                    None => format!("{} matches none of the allowed forms", shown(value)),
                });
            } else if one && matched > 1 {
                out.fail(path, || {
                    format!(
                        "{} matches more than one of the allowed forms",
                        shown(value)
                    )
                });
            }
        }
        if let Some(not) = schema.get("not")
            && self.matches(not, value, path)?
        {
            out.fail(path, || format!("{} is not allowed", shown(value)));
        }
        Ok(())
    }

    /// Whether an option of an `anyOf` or `oneOf` is the variant `object` names: every
    /// property the option fixes with a `const` has that value in `object`, or, for an option
    /// that fixes none, every property it requires is there.
    fn claims(&self, option: &'s Value, object: &Map<String, Value>) -> Result<bool, String> {
        let mut option = option;
        for _ in 0..MAX_DEPTH {
            match option.get("$ref") {
                Some(reference) => option = self.resolve(reference)?,
                None => break,
            }
        }
        let properties = option.get("properties").and_then(Value::as_object);
        let mut tags = properties
            .into_iter()
            .flatten()
            .filter_map(|(key, property)| Some((key, property.get("const")?)))
            .peekable();
        if tags.peek().is_some() {
            return Ok(tags.all(|(key, tag)| object.get(key).is_some_and(|v| equal(v, tag))));
        }
        Ok(match option.get("required") {
            Some(Value::Array(required)) if !required.is_empty() => required
                .iter()
                .all(|key| key.as_str().is_some_and(|key| object.contains_key(key))),
            _ => false,
        })
    }

    /// Whether `value` satisfies `schema`, reporting nothing.
    fn matches<'v>(
        &mut self,
        schema: &'s Value,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
    ) -> Result<bool, String> {
        let mut probe = Report::probe();
        self.check(schema, value, path, &mut probe)?;
        Ok(probe.count == 0)
    }

    fn check_string(
        &mut self,
        schema: &'s Map<String, Value>,
        text: &str,
        path: &[Step<'_>],
        out: &mut Report,
    ) -> Result<(), String> {
        let length = || text.chars().count();
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (length() as u64) < min
        {
            out.fail(path, || {
                format!("{} is shorter than {min} characters", Value::from(text))
            });
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length() as u64 > max
        {
            out.fail(path, || {
                format!("{} is longer than {max} characters", Value::from(text))
            });
        }
        if let Some(Value::String(pattern)) = schema.get("pattern")
            && !self.pattern(pattern)?.is_match(text)
        {
            out.fail(path, || {
                format!(
                    "{} does not match {}",
                    Value::from(text),
                    Value::from(&**pattern)
                )
            });
        }
        Ok(())
    }

    /// A pattern, compiled once.
    fn pattern(&mut self, pattern: &'s str) -> Result<&Regex, String> {
        match self.patterns.entry(pattern) {
            Entry::Occupied(entry) => Ok(entry.into_mut()),
            Entry::Vacant(entry) => {
                let regex = Regex::new(pattern).map_err(|err| {
                    format!(
                        "pattern {} is not supported: {err}; the `jsonschema` feature of \
                         tidemark checks every ECMA-262 pattern",
                        Value::from(pattern)
                    )
                })?;
                Ok(entry.insert(regex))
            }
        }
    }

    fn check_array<'v>(
        &mut self,
        schema: &'s Map<String, Value>,
        items: &'v [Value],
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        check_count(
            schema,
            ("minItems", "maxItems"),
            items.len(),
            "item",
            path,
            out,
        );
        if schema.get("uniqueItems") == Some(&Value::Bool(true))
            && let Some((first, second)) = duplicate(items)
        {
            out.fail(path, || format!("items [{first}] and [{second}] are equal"));
        }
        let (each, rest): (&[Value], Option<&Value>) = match schema.get("items") {
            Some(Value::Array(tuple)) => (tuple, schema.get("additionalItems")),
            Some(every) => (&[], Some(every)),
            None => (&[], None),
        };
        for (index, item) in items.iter().enumerate() {
            let Some(item_schema) = each.get(index).or(rest) else {
                break;
            };
            path.push(Step::Index(index));
            let result = self.check(item_schema, item, path, out);
            path.pop();
            result?;
            if out.done() {
                break;
            }
        }
        Ok(())
    }

    fn check_object<'v>(
        &mut self,
        schema: &'s Map<String, Value>,
        object: &'v Map<String, Value>,
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        check_count(
            schema,
            ("minProperties", "maxProperties"),
            object.len(),
            "property",
            path,
            out,
        );
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    out.fail(path, || {
                        format!("{} is a required property", Value::from(name))
                    });
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let patterns = schema.get("patternProperties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        for (key, item) in object {
            path.push(Step::Key(key));
            let result =
                self.check_property(properties, patterns, additional, key, item, path, out);
            path.pop();
            result?;
            if out.done() {
                break;
            }
        }
        Ok(())
    }

    /// Checks one property against the schemas that apply to it: its own, those of the
    /// patterns its name matches, or else `additionalProperties`.
    #[expect(
        clippy::too_many_arguments,
        reason = "the three keywords that decide a property's schemas, read once per object"
    )]
    fn check_property<'v>(
        &mut self,
        properties: Option<&'s Map<String, Value>>,
        patterns: Option<&'s Map<String, Value>>,
        additional: Option<&'s Value>,
        key: &'v str,
        item: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Report,
    ) -> Result<(), String> {
        let mut applied = false;
        if let Some(property) = properties.and_then(|properties| properties.get(key)) {
            applied = true;
            self.check(property, item, path, out)?;
        }
        for (pattern, property) in patterns.into_iter().flatten() {
            if self.pattern(pattern)?.is_match(key) {
                applied = true;
                self.check(property, item, path, out)?;
            }
        }
        match additional {
            Some(Value::Bool(false)) if !applied => {
                out.fail(path, || {
                    let mut message = "unknown field".to_owned();
                    if let Some(properties) = properties.filter(|p| !p.is_empty()) {
                        let names: Vec<Value> =
                            properties.keys().map(|k| Value::from(&**k)).collect();
                        let _ = write!(message, ", expected one of {}", listed(&names));
                    }
                    message
                });
            }
            Some(additional) if !applied => self.check(additional, item, path, out)?,
            _ => {}
        }
        Ok(())
    }
}

/// `value` in a message: scalars as JSON, objects and arrays by kind (they can be large).
fn shown(value: &Value) -> String {
    match value {
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
        scalar => scalar.to_string(),
    }
}

/// `"a", "b", "c"`.
fn listed(values: &[Value]) -> String {
    let shown: Vec<String> = values.iter().map(shown).collect();
    shown.join(", ")
}

/// The `min*` and `max*` keywords (`keys`) of a count of `what`s: items or properties.
fn check_count(
    schema: &Map<String, Value>,
    (min_key, max_key): (&str, &str),
    count: usize,
    what: &str,
    path: &[Step<'_>],
    out: &mut Report,
) {
    let count = count as u64;
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && count < min
    {
        out.fail(path, || {
            format!("has {}, at least {min} required", plural(count, what))
        });
    }
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && count > max
    {
        out.fail(path, || {
            format!("has {}, at most {max} allowed", plural(count, what))
        });
    }
}
/// `1 item`, `3 items`.
fn plural(count: u64, noun: &str) -> String {
    match (count, noun) {
        (1, noun) => format!("1 {noun}"),
        (count, "property") => format!("{count} properties"),
        (count, noun) => format!("{count} {noun}s"),
    }
}

/// Whether a schema accepts only `null` (the second half of an `Option`'s `anyOf`).
fn only_null(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::from("null"))
        || schema.get("const") == Some(&Value::Null)
        || schema.get("enum") == Some(&Value::Array(vec![Value::Null]))
}

/// The allowed values, when every option of an `anyOf` or `oneOf` is a constant or an enum
/// (an enum whose variants carry doc comments): `"a", "b"`.
fn constants(options: &[Value]) -> Option<String> {
    let mut values = Vec::new();
    for option in options {
        match (option.get("const"), option.get("enum")) {
            (Some(constant), _) => values.push(constant.clone()),
            (None, Some(Value::Array(each))) => values.extend(each.iter().cloned()),
            _ => return None,
        }
    }
    Some(listed(&values))
}

fn check_type(types: &Value, value: &Value, path: &[Step<'_>], out: &mut Report) {
    let is = |name: &Value| match name.as_str() {
        Some("null") => value.is_null(),
        Some("boolean") => value.is_boolean(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("number") => value.is_number(),
        Some("string") => value.is_string(),
        Some("integer") => value.as_number().is_some_and(is_integer),
        _ => false,
    };
    let accepted = match types {
        Value::Array(names) => names.iter().any(is),
        name => is(name),
    };
    if !accepted {
        out.fail(path, || {
            let names = match types {
                Value::Array(names) => names.iter().map(Value::to_string).collect(),
                name => vec![name.to_string()],
            };
            format!("{} is not of type {}", shown(value), names.join(" or "))
        });
    }
}

fn check_number(schema: &Map<String, Value>, number: &Number, path: &[Step<'_>], out: &mut Report) {
    /// What the number is, for each bound it breaks.
    const BOUNDS: [(&str, &str); 4] = [
        ("minimum", "less than the minimum of"),
        ("maximum", "greater than the maximum of"),
        (
            "exclusiveMinimum",
            "less than or equal to the exclusive minimum of",
        ),
        (
            "exclusiveMaximum",
            "greater than or equal to the exclusive maximum of",
        ),
    ];
    for (keyword, says) in BOUNDS {
        let Some(Value::Number(bound)) = schema.get(keyword) else {
            continue;
        };
        let breaks = compare(number, bound).is_some_and(|order| match keyword {
            "minimum" => order.is_lt(),
            "maximum" => order.is_gt(),
            "exclusiveMinimum" => order.is_le(),
            _ => order.is_ge(),
        });
        if breaks {
            out.fail(path, || format!("{number} is {says} {bound}"));
        }
    }
}

/// A number as an exact integer, when it is one that fits.
fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

/// JSON Schema's integers include numbers written with a zero fraction (`1.0`).
fn is_integer(number: &Number) -> bool {
    integer(number).is_some() || number.as_f64().is_some_and(|float| float.fract() == 0.0)
}

/// Compares two numbers, exactly when both are integers.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// JSON equality: numbers by value (`1` equals `1.0`), objects whatever their key order.
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| equal(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| equal(a, b)))
        }
        (a, b) => a == b,
    }
}

/// The indices of the first two equal items, found through a canonical text of each item (so
/// a long list takes linear time).
fn duplicate(items: &[Value]) -> Option<(usize, usize)> {
    let mut seen = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let mut key = String::new();
        canonical(item, &mut key);
        if let Some(first) = seen.insert(key, index) {
            return Some((first, index));
        }
    }
    None
}

/// A text equal for equal JSON values: keys sorted, integral numbers written as integers.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Number(number) => {
            match number.as_f64().filter(|_| integer(number).is_none()) {
                // A float with no fraction that fits an integer is written as that integer.
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "the range is checked first"
                )]
                Some(float) if float.fract() == 0.0 && float.abs() < 1e38 => {
                    let _ = write!(out, "{}", float as i128);
                }
                _ => {
                    let _ = write!(out, "{number}");
                }
            }
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            out.push('{');
            for key in keys {
                let _ = write!(out, "{}:", Value::from(&**key));
                canonical(&object[key], out);
                out.push(',');
            }
            out.push('}');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// A URI fragment with its `%XX` escapes decoded; `None` when the result is not UTF-8.
fn percent_decoded(fragment: &str) -> Option<String> {
    let bytes = fragment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};
    use std::num::NonZeroU32;

    use schemars::JsonSchema;
    use serde_json::{Value, json};

    use super::check;
    use crate::input::config_schema;

    /// A config that uses every keyword schemars emits from its attributes and types.
    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only its schema is used")]
    struct Everything {
        #[schemars(range(min = 1, max = 100))]
        count: u32,
        #[schemars(range(min = 0.0, max = 1.0))]
        ratio: f64,
        #[schemars(length(min = 2, max = 5))]
        name: String,
        #[schemars(regex(pattern = r"^[a-z]+$"))]
        slug: String,
        #[schemars(length(min = 1, max = 3))]
        tags: Vec<String>,
        mode: Mode,
        level: Level,
        auth: Auth,
        #[serde(default)]
        nested: Option<Inner>,
        #[schemars(required)]
        named: Option<String>,
        #[serde(default)]
        ids: BTreeSet<u8>,
        #[serde(default)]
        limits: HashMap<u32, u16>,
        #[serde(default)]
        nonzero: Option<NonZeroU32>,
        #[serde(default)]
        pair: Option<(u8, String)>,
        #[serde(default)]
        tree: Option<Tree>,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Fast,
        Safe,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    enum Level {
        /// Everything.
        Debug,
        /// Less.
        Info,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code, reason = "only its schema is used")]
    enum Auth {
        Token { token: String },
        Basic { user: String, password: String },
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only its schema is used")]
    struct Inner {
        #[schemars(range(max = 10))]
        depth: i32,
    }

    #[derive(serde::Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "only its schema is used")]
    struct Tree {
        #[schemars(length(max = 3))]
        label: String,
        #[serde(default)]
        children: Vec<Tree>,
    }

    fn valid() -> Value {
        json!({
            "count": 10, "ratio": 0.5, "name": "shop", "slug": "shop", "tags": ["a"],
            "mode": "fast", "level": "info", "auth": {"token": {"token": "t"}}, "named": "n",
        })
    }

    /// `valid()` with `key` set to `value` (or removed, for `null` on a required key).
    fn with(key: &str, value: Value) -> Value {
        let mut config = valid();
        config[key] = value;
        config
    }

    /// The violations of `config`, as `(pointer, message)`.
    fn violations<C: JsonSchema>(config: &Value) -> Vec<(String, String)> {
        check(&config_schema::<C>(), config, 5)
            .expect("the schema is supported")
            .listed
    }

    fn one(config: &Value) -> (String, String) {
        let found = violations::<Everything>(config);
        assert_eq!(found.len(), 1, "{config}: {found:?}");
        found.into_iter().next().expect("one")
    }

    fn pair(pointer: &str, message: &str) -> (String, String) {
        (pointer.to_owned(), message.to_owned())
    }

    #[test]
    fn a_valid_config_has_no_violations() {
        assert_eq!(violations::<Everything>(&valid()), []);
        let full = json!({
            "count": 1, "ratio": 1, "name": "ab", "slug": "z", "tags": ["a", "b", "c"],
            "mode": "safe", "level": "debug", "auth": {"basic": {"user": "u", "password": "p"}},
            "nested": {"depth": -4}, "named": "n", "ids": [1, 2, 255], "limits": {"7": 65535},
            "nonzero": 3, "pair": [1, "x"], "tree": {"label": "a", "children": [{"label": "b"}]},
        });
        assert_eq!(violations::<Everything>(&full), []);
    }

    #[test]
    fn types_required_and_unknown_fields_are_named() {
        assert_eq!(
            one(&with("count", json!("many"))),
            pair("/count", r#""many" is not of type "integer""#)
        );
        assert_eq!(
            one(&with("count", json!(2.5))),
            pair("/count", r#"2.5 is not of type "integer""#)
        );
        // JSON Schema's integers include a zero fraction; serde decides about `2.0` itself.
        assert_eq!(violations::<Everything>(&with("count", json!(2.0))), []);
        let mut missing = valid();
        missing.as_object_mut().expect("object").remove("name");
        assert_eq!(one(&missing), pair("", r#""name" is a required property"#));
        let mut missing = valid();
        missing.as_object_mut().expect("object").remove("named");
        assert_eq!(one(&missing), pair("", r#""named" is a required property"#));
        let (pointer, message) = one(&with("nmae", json!("x")));
        assert_eq!(pointer, "/nmae");
        assert!(
            message.starts_with(r#"unknown field, expected one of "auth", "count", "#)
                && message.contains(r#""name""#),
            "{message}"
        );
        assert_eq!(
            one(&json!([1])),
            pair("", r#"an array is not of type "object""#)
        );
    }

    #[test]
    #[expect(clippy::too_many_lines, reason = "one table of cases")]
    fn constraint_keywords_name_the_field() {
        let cases = [
            (
                "count",
                json!(0),
                "/count",
                "0 is less than the minimum of 1",
            ),
            (
                "count",
                json!(101),
                "/count",
                "101 is greater than the maximum of 100",
            ),
            (
                "ratio",
                json!(1.5),
                "/ratio",
                "1.5 is greater than the maximum of 1.0",
            ),
            (
                "name",
                json!("a"),
                "/name",
                r#""a" is shorter than 2 characters"#,
            ),
            (
                "name",
                json!("abcdéf"),
                "/name",
                r#""abcdéf" is longer than 5 characters"#,
            ),
            (
                "slug",
                json!("Shop"),
                "/slug",
                r#""Shop" does not match "^[a-z]+$""#,
            ),
            (
                "tags",
                json!([]),
                "/tags",
                "has 0 items, at least 1 required",
            ),
            (
                "tags",
                json!(["a", "b", "c", "d"]),
                "/tags",
                "has 4 items, at most 3 allowed",
            ),
            (
                "tags",
                json!(["a", 1]),
                "/tags/1",
                r#"1 is not of type "string""#,
            ),
            (
                "mode",
                json!("slow"),
                "/mode",
                r#""slow" is not one of "fast", "safe""#,
            ),
            (
                "level",
                json!("warn"),
                "/level",
                r#""warn" is not one of "debug", "info""#,
            ),
            (
                "named",
                json!(null),
                "/named",
                r#"null is not of type "string""#,
            ),
            (
                "nested",
                json!({"depth": 11}),
                "/nested/depth",
                "11 is greater than the maximum of 10",
            ),
            (
                "ids",
                json!([1, 2, 1]),
                "/ids",
                "items [0] and [2] are equal",
            ),
            (
                "ids",
                json!([1, 256]),
                "/ids/1",
                "256 is greater than the maximum of 255",
            ),
            (
                "limits",
                json!({"7": 70000}),
                "/limits/7",
                "70000 is greater than the maximum of 65535",
            ),
            ("limits", json!({"x": 1}), "/limits/x", "unknown field"),
            (
                "nonzero",
                json!(0),
                "/nonzero",
                "0 is less than the minimum of 1",
            ),
            (
                "pair",
                json!([1]),
                "/pair",
                "has 1 item, at least 2 required",
            ),
            (
                "pair",
                json!([1, 2]),
                "/pair/1",
                r#"2 is not of type "string""#,
            ),
            (
                "tree",
                json!({"label": "a", "children": [{"label": "long"}]}),
                "/tree/children/0/label",
                r#""long" is longer than 3 characters"#,
            ),
        ];
        for (key, value, pointer, message) in cases {
            assert_eq!(one(&with(key, value)), pair(pointer, message), "{key}");
        }
    }

    #[test]
    fn an_enum_of_variants_with_data_names_the_variant_or_the_value() {
        let (pointer, message) = one(&with("auth", json!({"oauth": {}})));
        assert_eq!(
            (pointer.as_str(), message.as_str()),
            ("/auth", "an object matches none of the allowed forms")
        );
        assert_eq!(
            one(&with("auth", json!({"token": {"token": 5}}))),
            pair("/auth/token/token", r#"5 is not of type "string""#)
        );
        assert_eq!(
            one(&with("auth", json!({"basic": {"user": "u"}}))),
            pair("/auth/basic", r#""password" is a required property"#)
        );
        assert_eq!(
            one(&with(
                "auth",
                json!({"basic": {"user": "u", "password": "p"}, "token": {}})
            )),
            pair("/auth", "an object matches none of the allowed forms")
        );
    }

    #[test]
    fn an_internally_tagged_enum_names_the_field_of_the_variant_it_tags() {
        #[derive(serde::Deserialize, JsonSchema)]
        #[serde(tag = "auth_type", rename_all = "snake_case")]
        #[allow(dead_code, reason = "only its schema is used")]
        enum Auth {
            ApiKey {
                api_key: String,
            },
            OAuth {
                client_id: String,
                client_secret: String,
            },
        }
        #[derive(serde::Deserialize, JsonSchema)]
        #[allow(dead_code, reason = "only its schema is used")]
        struct Config {
            auth: Auth,
        }
        let config = json!({"auth": {"auth_type": "o_auth", "client_id": 7}});
        assert_eq!(
            violations::<Config>(&config),
            [
                pair("/auth", r#""client_secret" is a required property"#),
                pair("/auth/client_id", r#"7 is not of type "string""#),
            ]
        );
        assert_eq!(
            violations::<Config>(&json!({"auth": {"auth_type": "basic"}})),
            [pair("/auth", "an object matches none of the allowed forms")]
        );
    }

    #[test]
    fn keywords_schemars_emits_for_other_types() {
        let schema = json!({
            "definitions": {"Odd %name": {"type": "string"}},
            "properties": {
                "a": {"$ref": "#/definitions/Odd%20%25name"},
                "b": {"not": {"const": 0}},
                "c": {"exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "d": {"minProperties": 1, "maxProperties": 1},
                "e": {"allOf": [{"type": "integer"}, {"minimum": 3}]},
                "f": {"oneOf": [{"type": "integer"}, {"minimum": 3}]},
                "g": false,
                "h": {"items": [{"type": "integer"}], "additionalItems": false},
                "i": {"const": {"k": [1, 2]}},
                "j": {"enum": [1, "one"]},
                "k": {"oneOf": [{"required": ["a"]}, {"type": "object"}]},
            }
        });
        let cases = [
            (json!({"a": 1}), "/a", r#"1 is not of type "string""#),
            (json!({"b": 0}), "/b", "0 is not allowed"),
            (
                json!({"c": 0}),
                "/c",
                "0 is less than or equal to the exclusive minimum of 0",
            ),
            (
                json!({"c": 1.0}),
                "/c",
                "1.0 is greater than or equal to the exclusive maximum of 1",
            ),
            (
                json!({"d": {}}),
                "/d",
                "has 0 properties, at least 1 required",
            ),
            (
                json!({"d": {"x": 1, "y": 2}}),
                "/d",
                "has 2 properties, at most 1 allowed",
            ),
            (json!({"e": 2}), "/e", "2 is less than the minimum of 3"),
            (
                json!({"f": 4}),
                "/f",
                "4 matches more than one of the allowed forms",
            ),
            (
                json!({"f": 2.5}),
                "/f",
                "2.5 matches none of the allowed forms",
            ),
            (json!({"g": null}), "/g", "null is not allowed"),
            (json!({"h": [1, 2]}), "/h/1", "2 is not allowed"),
            (
                json!({"i": {"k": [1, 3]}}),
                "/i",
                r#"an object is not {"k":[1,2]}"#,
            ),
            (json!({"j": 2}), "/j", r#"2 is not one of 1, "one""#),
            (
                json!({"k": {"a": 1}}),
                "/k",
                "an object matches more than one of the allowed forms",
            ),
        ];
        for (config, pointer, message) in cases {
            let found = check(&schema, &config, 5).expect("supported").listed;
            assert_eq!(found, [pair(pointer, message)], "{config}");
        }
        let valid = json!({
            "a": "x", "b": 1, "c": 0.5, "d": {"x": 1}, "e": 3, "f": 2, "g": 1, "h": [1],
            "i": {"k": [1.0, 2]}, "j": "one",
        });
        let mut without_g = valid.clone();
        without_g.as_object_mut().expect("object").remove("g");
        assert_eq!(check(&schema, &without_g, 5).expect("supported").listed, []);
    }

    #[test]
    fn violations_past_the_listed_ones_are_counted() {
        let schema = json!({"items": {"type": "string"}});
        let config = Value::Array((0..1000).map(Value::from).collect());
        let found = check(&schema, &config, 5).expect("supported");
        assert_eq!(found.listed.len(), 5);
        assert_eq!(found.listed[4].0, "/4");
        assert_eq!(found.more, 995);
    }

    #[test]
    fn a_schema_that_cannot_be_checked_is_an_error_not_a_pass() {
        let problem = |schema: Value| check(&schema, &json!("x"), 5).expect_err("unsupported");
        assert!(problem(json!({"$ref": "#"})).contains("refers to itself"));
        assert!(problem(json!({"$ref": "#/definitions/Missing"})).contains("cannot be resolved"));
        assert!(
            problem(json!({"$ref": "https://example.com/s.json"})).contains("cannot be resolved")
        );
        for pattern in [r"\p{Greek}", "a(?=b)"] {
            let message = problem(json!({ "pattern": pattern }));
            assert!(
                message.contains("is not supported") && message.contains("`jsonschema`"),
                "{message}"
            );
        }
        assert!(problem(json!({"anyOf": [3]})).contains("3 is not a schema"));
    }

    /// Values for each field of [`Everything`], valid and not, for the comparison with a complete
    /// validator.
    #[cfg(feature = "jsonschema")]
    fn candidates() -> Value {
        json!({
            "count": [1, 0, 100, 101, 2.0, "1"],
            "ratio": [0, 1.0, 1.01, -0.5, null],
            "name": ["ab", "a", "abcde", "abcdéf", 3],
            "slug": ["a", "", "Ab", "a-b", ["a"]],
            "tags": [["a"], [], ["a", "a", "a", "a"], [1]],
            "mode": ["fast", "safe", "Fast", 0],
            "level": ["debug", "warn", null, {"debug": 1}],
            "auth": [
                {"token": {"token": "t"}},
                {"token": {"token": 1}},
                {"basic": {"user": "u"}},
                {"basic": {"user": "u", "password": "p"}, "token": {"token": "t"}},
                "token",
            ],
            "nested": [null, {"depth": 10}, {"depth": 11}, {}],
            "named": ["n", null, 1],
            "ids": [[], [0, 255], [1, 1.0], [256], [-1]],
            "limits": [{}, {"1": 1}, {"a": 1}, {"1": -1}],
            "nonzero": [null, 1, 0, -1],
            "pair": [null, [1, "a"], [1], [1, "a", 2], ["a", 1]],
            "tree": [
                {"label": "a"},
                {"label": "a", "children": [{"label": "abcd"}]},
                {"label": "a", "children": [{"children": []}]},
                {"label": "a", "extra": true},
            ],
        })
    }

    #[cfg(feature = "jsonschema")]
    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Whatever the mix of valid and invalid fields, the check accepts exactly the configs a
        /// complete validator accepts.
        #[test]
        fn the_check_agrees_with_a_complete_validator(
            // Mostly the first, valid, value: most configs break the schema in one or two places.
            picks in proptest::collection::vec(proptest::prop_oneof![6 => proptest::strategy::Just(0usize), 2 => 0usize..7], 15),
            unknown in proptest::bool::weighted(0.1),
        ) {
            let schema = config_schema::<Everything>();
            let validator = jsonschema::validator_for(&schema).expect("compiles");
            let mut config = serde_json::Map::new();
            let candidates = candidates();
            let fields = candidates.as_object().expect("an object");
            for ((key, values), pick) in fields.iter().zip(picks) {
                // Past the list of values, the field is left out.
                if let Some(value) = values.get(pick) {
                    config.insert(key.to_owned(), value.clone());
                }
            }
            if unknown {
                config.insert("unknown".to_owned(), json!(1));
            }
            let config = Value::Object(config);
            // The top-level fields with a violation ("" for the config itself): the two may
            // point at different depths inside a field.
            let top = |pointer: &str| pointer.split('/').nth(1).unwrap_or_default().to_owned();
            let ours: std::collections::BTreeSet<String> = check(&schema, &config, 100)
                .expect("supported")
                .listed
                .iter()
                .map(|(pointer, _)| top(pointer))
                .collect();
            // It reports unknown fields at their object, this check at each field.
            let theirs: std::collections::BTreeSet<String> = validator
                .iter_errors(&config)
                .flat_map(|err| match (err.kind(), err.instance_path().as_str()) {
                    (jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected }, "") => {
                        unexpected.clone()
                    }
                    (_, pointer) => vec![top(pointer)],
                })
                .collect();
            proptest::prop_assert_eq!(ours, theirs, "{}", config);
        }
    }
}
