//! Scalar resolution: what a YAML scalar's text means as a JSON value.
//!
//! The YAML 1.2 core schema, as serde_yaml and Kubernetes read it:
//! - quoted and block (`|`, `>`) scalars are strings;
//! - plain `null`/`Null`/`NULL`/`~`/empty are null; `true`/`false` (also
//!   `True`, `TRUE`…) are booleans; `yes`/`no`/`on`/`off` stay strings;
//! - integers: decimal, `0x1F`, `0o17`, and — the one YAML 1.1 rule kept,
//!   because Kubernetes (go-yaml) applies it and `defaultMode: 0644` is
//!   everywhere — a leading zero with only octal digits is octal
//!   (`0644` = 420). Integers beyond 64 bits become floats, as in Kubernetes;
//! - floats: `1.5`, `.5`, `1e3`, `-2.5E-3`; `.inf` and `.nan` have no JSON
//!   form and are an error;
//! - core tags are honoured (`!!str 3` is a string, `!!int "3"` a number,
//!   `!!float 1` a float); the non-specific `!` makes a string; other tags
//!   (`!Ref`) are ignored and the scalar resolves as if untagged.

use std::borrow::Cow;

use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};

/// The suffix of a core-schema tag (`str` for `!!str` or
/// `!<tag:yaml.org,2002:str>`), `Some("!")` for the non-specific `!` tag.
fn core_tag(tag: &Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if tag.is_yaml_core_schema() {
        Some(tag.suffix.as_str())
    } else if tag.handle.is_empty() {
        tag.suffix
            .strip_prefix(CORE)
            .or((tag.suffix == "!").then_some("!"))
    } else {
        None
    }
}

/// Whether a tagged key means a merge (`!!merge <<`).
pub(super) fn is_merge_tag(tag: &Tag) -> bool {
    core_tag(tag) == Some("merge")
}

/// Resolves one scalar. The error is a message for the user.
pub(super) fn resolve(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Value, String> {
    match tag.and_then(core_tag) {
        Some("str" | "binary" | "timestamp" | "!") => Ok(Value::String(owned(text))),
        Some("null") => Ok(Value::Null),
        Some("bool") => parse_bool(&text)
            .map(Value::Bool)
            .ok_or_else(|| format!("`{text}` is tagged !!bool but is not `true` or `false`")),
        Some("int") => parse_int(&text)
            .map(Value::Number)
            .ok_or_else(|| format!("`{text}` is tagged !!int but is not an integer")),
        Some("float") => match parse_float(&text) {
            Some(result) => result.map(Value::Number),
            None => parse_int(&text)
                .and_then(|n| n.as_f64())
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{text}` is tagged !!float but is not a number")),
        },
        _ if style != ScalarStyle::Plain => Ok(Value::String(owned(text))),
        _ => plain(text),
    }
}

/// The text of a scalar used as a mapping key. Most keys are plain words
/// and are used as written, without resolving them.
pub(super) fn key<'t>(
    text: &'t str,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<Cow<'t, str>, String> {
    if tag.is_none() && (style != ScalarStyle::Plain || !maybe_not_string(text)) {
        return Ok(Cow::Borrowed(text));
    }
    resolve(Cow::Borrowed(text), style, tag).map(|value| match value {
        Value::String(text) => Cow::Owned(text),
        other => Cow::Owned(key_text(&other)),
    })
}

/// Whether a plain scalar might resolve to something else than a string.
fn maybe_not_string(text: &str) -> bool {
    text.is_empty()
        || text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | '~'))
        || matches!(
            text,
            "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
        )
}

/// The scalar's text as a `String` that holds no more memory than needed:
/// saphyr reserves generously while scanning, which documents would keep
/// for as long as they live.
fn owned(text: Cow<'_, str>) -> String {
    match text {
        // A fresh allocation rather than `shrink_to_fit`: shrinking in place
        // leaves the slack as fragments between live strings.
        Cow::Owned(text) if text.capacity() > text.len() => String::from(text.as_str()),
        text => text.into_owned(),
    }
}

/// Resolves an untagged plain scalar.
fn plain(text: Cow<'_, str>) -> Result<Value, String> {
    // Every non-string starts with a digit, a sign, a dot or is a keyword:
    // most strings stop here.
    if !maybe_not_string(&text) {
        return Ok(Value::String(owned(text)));
    }
    match &*text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        _ => {}
    }
    if let Some(b) = parse_bool(&text) {
        return Ok(Value::Bool(b));
    }
    if let Some(number) = parse_int(&text) {
        return Ok(Value::Number(number));
    }
    match parse_float(&text) {
        Some(result) => result.map(Value::Number),
        None => Ok(Value::String(owned(text))),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// `[-+]?` then `0x` hex, `0o` octal, `0` + octal digits (YAML 1.1 octal, as
/// Kubernetes reads it), or decimal digits.
fn parse_int(text: &str) -> Option<Number> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let all = |s: &str, f: fn(&u8) -> bool| !s.is_empty() && s.as_bytes().iter().all(f);
    let magnitude: u128 = if let Some(hex) = unsigned.strip_prefix("0x") {
        if !all(hex, u8::is_ascii_hexdigit) {
            return None;
        }
        u128::from_str_radix(hex, 16).ok()?
    } else if let Some(octal) = unsigned.strip_prefix("0o") {
        if !all(octal, |b| (b'0'..=b'7').contains(b)) {
            return None;
        }
        u128::from_str_radix(octal, 8).ok()?
    } else if unsigned.len() > 1
        && unsigned.starts_with('0')
        && all(unsigned, |b| (b'0'..=b'7').contains(b))
    {
        u128::from_str_radix(&unsigned[1..], 8).ok()?
    } else if all(unsigned, u8::is_ascii_digit) {
        match unsigned.parse::<u128>() {
            Ok(n) => n,
            // Too long even for 128 bits: a float, as in Kubernetes.
            Err(_) => return text.parse::<f64>().ok().and_then(Number::from_f64),
        }
    } else {
        return None;
    };
    if negative {
        match i64::try_from(magnitude) {
            Ok(n) => Some(Number::from(-n)),
            Err(_) if magnitude == 1 << 63 => Some(Number::from(i64::MIN)),
            Err(_) => Number::from_f64(-(magnitude as f64)),
        }
    } else {
        match u64::try_from(magnitude) {
            Ok(n) => Some(Number::from(n)),
            Err(_) => Number::from_f64(magnitude as f64),
        }
    }
}

/// Core-schema floats. `Some(Err)` for `.inf`/`.nan`, which JSON cannot hold.
fn parse_float(text: &str) -> Option<Result<Number, String>> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(Err(format!(
            "`{text}` is an infinite or not-a-number float, which JSON and Kubernetes cannot represent"
        )));
    }
    if !is_core_float(unsigned) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    Some(Number::from_f64(value).ok_or_else(|| format!("`{text}` is too large for a 64-bit float")))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, without the sign.
fn is_core_float(s: &str) -> bool {
    let bytes = s.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut i = digits(0);
    let int_digits = i;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        frac_digits = digits(i + 1);
        i += 1 + frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = digits(i);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == bytes.len()
}

/// The string form of a scalar used as a mapping key: Kubernetes turns
/// non-string keys into their text (`1` → `"1"`, `true` → `"true"`,
/// `null` → `"null"`).
pub(super) fn key_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(text: &str) -> Value {
        resolve(text.into(), ScalarStyle::Plain, None).unwrap()
    }

    fn tagged(text: &str, style: ScalarStyle, suffix: &str) -> Result<Value, String> {
        let tag = Tag {
            handle: "tag:yaml.org,2002:".into(),
            suffix: suffix.into(),
        };
        resolve(text.into(), style, Some(&tag))
    }

    #[test]
    fn nulls_and_booleans() {
        for text in ["", "~", "null", "Null", "NULL"] {
            assert_eq!(plain(text), Value::Null, "{text:?}");
        }
        assert_eq!(plain("true"), json!(true));
        assert_eq!(plain("FALSE"), json!(false));
        // YAML 1.1 booleans are strings in the core schema.
        for text in ["yes", "no", "on", "off", "y", "n", "nULL", "tRUE"] {
            assert_eq!(plain(text), json!(text), "{text:?}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(plain("0"), json!(0));
        assert_eq!(plain("42"), json!(42));
        assert_eq!(plain("-17"), json!(-17));
        assert_eq!(plain("+5"), json!(5));
        assert_eq!(plain("0x1F"), json!(31));
        assert_eq!(plain("0o17"), json!(15));
        assert_eq!(plain("0644"), json!(420));
        assert_eq!(plain("-0x10"), json!(-16));
        assert_eq!(plain("9223372036854775807"), json!(i64::MAX));
        assert_eq!(plain("-9223372036854775808"), json!(i64::MIN));
        assert_eq!(plain("18446744073709551615"), json!(u64::MAX));
        assert_eq!(plain("18446744073709551616"), json!(18446744073709551616.0));
        // A leading zero with 8 or 9 is plain decimal; underscores and
        // sexagesimal (YAML 1.1) stay strings.
        assert_eq!(plain("089"), json!(89));
        assert_eq!(plain("1_000"), json!("1_000"));
        assert_eq!(plain("1:30"), json!("1:30"));
        assert_eq!(plain("0x"), json!("0x"));
        assert_eq!(plain("0xZZ"), json!("0xZZ"));
        assert_eq!(plain("-"), json!("-"));
        assert_eq!(plain("1.2.3"), json!("1.2.3"));
        assert_eq!(plain("v1"), json!("v1"));
        assert_eq!(plain("100m"), json!("100m"));
        assert_eq!(plain("1Gi"), json!("1Gi"));
    }

    #[test]
    fn floats() {
        assert_eq!(plain("1.5"), json!(1.5));
        assert_eq!(plain(".5"), json!(0.5));
        assert_eq!(plain("-2.5e-3"), json!(-0.0025));
        assert_eq!(plain("1e3"), json!(1000.0));
        assert_eq!(plain("1."), json!(1.0));
        assert_eq!(plain("."), json!("."));
        assert_eq!(plain("1e"), json!("1e"));
        assert_eq!(plain("e3"), json!("e3"));
        // Rust would parse these; YAML does not.
        assert_eq!(plain("inf"), json!("inf"));
        assert_eq!(plain("NaN"), json!("NaN"));
        assert_eq!(plain("infinity"), json!("infinity"));
        for text in [".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1e999"] {
            assert!(
                resolve(text.into(), ScalarStyle::Plain, None).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn quoted_and_block_scalars_are_strings() {
        for style in [
            ScalarStyle::SingleQuoted,
            ScalarStyle::DoubleQuoted,
            ScalarStyle::Literal,
            ScalarStyle::Folded,
        ] {
            assert_eq!(resolve("123".into(), style, None).unwrap(), json!("123"));
            assert_eq!(resolve("true".into(), style, None).unwrap(), json!("true"));
            assert_eq!(resolve("".into(), style, None).unwrap(), json!(""));
        }
    }

    #[test]
    fn tags() {
        use ScalarStyle::*;
        assert_eq!(tagged("3", Plain, "str").unwrap(), json!("3"));
        assert_eq!(tagged("3", DoubleQuoted, "int").unwrap(), json!(3));
        assert_eq!(tagged("1", Plain, "float").unwrap(), json!(1.0));
        assert_eq!(tagged("true", SingleQuoted, "bool").unwrap(), json!(true));
        assert_eq!(tagged("anything", Plain, "null").unwrap(), Value::Null);
        assert!(tagged("abc", Plain, "int").unwrap_err().contains("!!int"));
        assert!(tagged("yes", Plain, "bool").is_err());
        let non_specific = Tag {
            handle: String::new(),
            suffix: "!".into(),
        };
        assert_eq!(
            resolve("12".into(), Plain, Some(&non_specific)).unwrap(),
            json!("12")
        );
        let verbatim = Tag {
            handle: String::new(),
            suffix: "tag:yaml.org,2002:str".into(),
        };
        assert_eq!(
            resolve("12".into(), Plain, Some(&verbatim)).unwrap(),
            json!("12")
        );
        let local = Tag {
            handle: "!".into(),
            suffix: "Ref".into(),
        };
        assert_eq!(
            resolve("12".into(), Plain, Some(&local)).unwrap(),
            json!(12)
        );
    }

    #[test]
    fn keys() {
        use ScalarStyle::*;
        assert_eq!(key("name", Plain, None).unwrap(), "name");
        assert!(matches!(
            key("name", Plain, None).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(key("0x10", Plain, None).unwrap(), "16");
        assert_eq!(key("0x10", SingleQuoted, None).unwrap(), "0x10");
        assert_eq!(key("~", Plain, None).unwrap(), "null");
        assert_eq!(key("", Plain, None).unwrap(), "null");
        assert_eq!(key("", DoubleQuoted, None).unwrap(), "");
        assert_eq!(key("1.50", Plain, None).unwrap(), "1.5");
        assert_eq!(key("-x", Plain, None).unwrap(), "-x");
        assert!(key(".inf", Plain, None).is_err());
        assert_eq!(key_text(&json!("a")), "a");
        assert_eq!(key_text(&json!(1)), "1");
        assert_eq!(key_text(&json!(true)), "true");
        assert_eq!(key_text(&Value::Null), "null");
    }
}
