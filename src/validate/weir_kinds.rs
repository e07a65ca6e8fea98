//! weir's own kinds against their JSON Schemas, with diagnostics that say
//! where (file, line, column, JSON path), what was expected, and for an
//! unknown field which known one was probably meant.

use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::codes;
use super::paths::{json_path, one_of_list};
use super::weir_schemas::{KindSchema, WeirSchemas};
use crate::diagnostic::did_you_mean;
use crate::diagnostic::{Code, Diagnostic};
use crate::spec::model;
use crate::spec::yaml::Document;

/// Most findings reported for one document; the rest are summarised.
const MAX_PER_DOCUMENT: usize = 50;

/// Checks every weir document against its kind's schema. Returns the
/// documents that may go on to assembly: everything except weir documents
/// that failed their schema.
pub fn check(docs: Vec<Document>, diags: &mut Vec<Diagnostic>) -> Vec<Document> {
    let schemas = match WeirSchemas::get() {
        Ok(s) => s,
        Err(message) => {
            diags.push(Diagnostic::error(codes::INTERNAL, message));
            return docs;
        }
    };
    docs.into_iter()
        .filter(|doc| {
            let is_weir =
                doc.value.get("apiVersion").and_then(Value::as_str) == Some(model::API_VERSION);
            let kind = doc.value.get("kind").and_then(Value::as_str).unwrap_or("");
            match schemas.for_kind(kind) {
                Some(schema) if is_weir => {
                    let found = check_document(doc, schema);
                    let ok = found.is_empty();
                    diags.extend(found);
                    ok
                }
                // Unknown weir kinds are reported by assembly.
                _ => true,
            }
        })
        .collect()
}

/// The diagnostics of one weir document against its schema.
pub fn check_document(doc: &Document, schema: &KindSchema) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut total = 0;
    for error in schema.validator.iter_errors(&doc.value) {
        total += 1;
        if out.len() < MAX_PER_DOCUMENT {
            describe(doc, schema, &error, &mut out);
        }
    }
    if total > MAX_PER_DOCUMENT {
        out.push(
            Diagnostic::error(
                codes::BAD_VALUE,
                format!(
                    "{} more problems in this document",
                    total - MAX_PER_DOCUMENT
                ),
            )
            .in_file(doc.file.clone())
            .at(doc.span),
        );
    }
    out
}

/// A diagnostic at the value at `pointer`.
fn at(doc: &Document, pointer: &str, code: Code, message: String) -> Diagnostic {
    Diagnostic::error(code, message)
        .in_file(doc.file.clone())
        .at(doc.span_of(pointer))
        .with_path(json_path(&doc.value, pointer))
}

/// The schema object holding the keyword that failed (`/$defs/spec` for
/// `/$defs/spec/additionalProperties`).
fn keyword_parent<'s>(schema: &'s KindSchema, error: &ValidationError<'_>) -> Option<&'s Value> {
    let path = error.schema_path().as_str();
    let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
    schema.document.pointer(parent)
}

/// Resolves a local `$ref` once.
fn deref<'s>(schema: &'s KindSchema, node: &'s Value) -> &'s Value {
    node.get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| schema.document.pointer(p))
        .unwrap_or(node)
}

fn title_of(schema: &KindSchema, node: Option<&Value>) -> Option<String> {
    let node = node?;
    node.get("title")
        .or_else(|| deref(schema, node).get("title"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn describe(
    doc: &Document,
    schema: &KindSchema,
    error: &ValidationError<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = error.instance_path().as_str().to_string();
    let file_hint = format!("see schemas/{}.schema.json", schema.name);
    match error.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known: Vec<String> = keyword_parent(schema, error)
                .and_then(|p| p.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default();
            for name in unexpected {
                out.push(unknown_field(doc, &pointer, name, &known, &file_hint));
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let mut d = at(
                doc,
                &pointer,
                codes::MISSING_FIELD,
                format!("missing required field `{name}`"),
            );
            let described = keyword_parent(schema, error)
                .and_then(|p| p.pointer(&format!("/properties/{name}")))
                .and_then(|p| {
                    p.get("description")
                        .or_else(|| deref(schema, p).get("description"))
                })
                .and_then(Value::as_str);
            if let Some(text) = described {
                d = d.with_hint(format!("`{name}`: {text}"));
            }
            out.push(d);
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => type_name(&t.to_string()).to_string(),
                TypeKind::Multiple(set) => {
                    let names: Vec<&str> = set.iter().map(|t| type_name(&t.to_string())).collect();
                    names.join(" or ")
                }
            };
            let found = crate::kubernetes::schema::describe_value(error.instance());
            let mut d = at(
                doc,
                &pointer,
                codes::WRONG_TYPE,
                format!("expected {expected}, found {found}"),
            );
            if expected == "a string"
                && !error.instance().is_object()
                && !error.instance().is_array()
            {
                d = d.with_hint("quote the value to make it a string, e.g. \"true\" or \"8080\"");
            }
            out.push(d);
        }
        ValidationErrorKind::Enum { options } => {
            let allowed: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(plain).collect())
                .unwrap_or_default();
            let value = plain(error.instance());
            let mut d = at(
                doc,
                &pointer,
                codes::BAD_VALUE,
                format!("`{value}` is not one of {}", one_of_list(&allowed)),
            );
            if let Some(s) = did_you_mean(&value, allowed.iter().map(String::as_str)) {
                d.message = format!("{}; did you mean `{s}`?", d.message);
            }
            out.push(d);
        }
        ValidationErrorKind::Constant { expected_value } => {
            out.push(at(
                doc,
                &pointer,
                codes::BAD_VALUE,
                format!(
                    "expected `{}`, found `{}`",
                    plain(expected_value),
                    plain(error.instance())
                ),
            ));
        }
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::Format { .. } => {
            let expected = title_of(schema, keyword_parent(schema, error))
                .unwrap_or_else(|| "a value of the documented form".into());
            out.push(
                at(
                    doc,
                    &pointer,
                    codes::BAD_VALUE,
                    format!("`{}` is not {expected}", plain(error.instance())),
                )
                .with_hint(file_hint),
            );
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            let key = plain(inner.instance());
            let expected = match inner.kind() {
                ValidationErrorKind::Pattern { .. } | ValidationErrorKind::MaxLength { .. } => {
                    title_of(
                        schema,
                        keyword_parent(schema, error).and_then(|p| p.get("propertyNames")),
                    )
                }
                _ => None,
            }
            .unwrap_or_else(|| "a valid key".into());
            let mut child = pointer.clone();
            crate::kubernetes::schema::push_pointer(&mut child, &key);
            let mut d = at(
                doc,
                &pointer,
                codes::BAD_VALUE,
                format!("key `{key}` is not {expected}"),
            );
            if let Some(span) = doc.key_span_of(&child) {
                d = d.at(span);
            }
            out.push(d);
        }
        ValidationErrorKind::OneOfNotValid { context } => {
            one_of(doc, schema, error, &pointer, context, false, out);
        }
        ValidationErrorKind::OneOfMultipleValid { context } => {
            one_of(doc, schema, error, &pointer, context, true, out);
        }
        other => {
            let message = match other {
                ValidationErrorKind::MinLength { limit: 1 } => "must not be empty".to_string(),
                ValidationErrorKind::MinItems { limit: 1 } => "the list must not be empty".into(),
                ValidationErrorKind::MinLength { limit } => {
                    format!("shorter than {limit} characters")
                }
                ValidationErrorKind::MaxLength { limit } => {
                    let title = title_of(schema, keyword_parent(schema, error));
                    match title {
                        Some(t) => format!("`{}` is not {t}", plain(error.instance())),
                        None => format!("longer than {limit} characters"),
                    }
                }
                ValidationErrorKind::Minimum { limit } => {
                    format!("{} is less than the minimum of {limit}", error.instance())
                }
                ValidationErrorKind::Maximum { limit } => {
                    format!("{} is more than the maximum of {limit}", error.instance())
                }
                ValidationErrorKind::UniqueItems => "the list has the same item twice".into(),
                _ => error.to_string(),
            };
            out.push(at(doc, &pointer, codes::BAD_VALUE, message));
        }
    }
}

fn unknown_field(
    doc: &Document,
    object_pointer: &str,
    name: &str,
    known: &[String],
    file_hint: &str,
) -> Diagnostic {
    let mut pointer = object_pointer.to_string();
    crate::kubernetes::schema::push_pointer(&mut pointer, name);
    let mut message = format!("unknown field `{name}`");
    let suggestion = did_you_mean(name, known.iter().map(String::as_str));
    if let Some(s) = suggestion {
        message.push_str(&format!(", did you mean `{s}`?"));
    }
    let mut d = Diagnostic::error(codes::UNKNOWN_FIELD, message)
        .in_file(doc.file.clone())
        .at(doc
            .key_span_of(&pointer)
            .unwrap_or_else(|| doc.span_of(&pointer)))
        .with_path(json_path(&doc.value, &pointer));
    d = match (suggestion, known.is_empty()) {
        (Some(s), _) => d.with_hint(format!("rename `{name}` to `{s}`")),
        (None, false) => d.with_hint(format!(
            "fields allowed here: {}; {file_hint}",
            known.join(", ")
        )),
        (None, true) => d.with_hint(file_hint.to_string()),
    };
    d
}

/// `oneOf` failures. When the alternatives are "exactly one of these
/// fields", say so; when exactly one alternative has the value's type,
/// report that alternative's own errors (they are the useful ones);
/// otherwise describe the alternatives by their titles.
fn one_of(
    doc: &Document,
    schema: &KindSchema,
    error: &ValidationError<'_>,
    pointer: &str,
    context: &[Vec<ValidationError<'static>>],
    several: bool,
    out: &mut Vec<Diagnostic>,
) {
    let node = keyword_parent(schema, error);
    let branches: Vec<&Value> = node
        .and_then(|n| n.get("oneOf"))
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    // "exactly one of" field groups: each branch is `{required: [field]}`.
    let fields: Option<Vec<&str>> = branches
        .iter()
        .map(|b| {
            match b
                .get("required")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                Some([Value::String(f)]) => Some(f.as_str()),
                _ => None,
            }
        })
        .collect();
    if let Some(fields) = fields.filter(|f| !f.is_empty()) {
        let given: Vec<&str> = fields
            .iter()
            .copied()
            .filter(|f| error.instance().get(*f).is_some())
            .collect();
        let message = if given.is_empty() {
            format!("needs one of {}", one_of_list(&fields))
        } else {
            format!("{} cannot be used together; keep one", one_of_list(&given))
        };
        out.push(
            at(doc, pointer, codes::ALTERNATIVES, message)
                .with_hint(format!("set exactly one of {}", one_of_list(&fields))),
        );
        return;
    }
    if !several {
        let instance_type = crate::kubernetes::schema::describe_value(error.instance());
        let typed: Vec<usize> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| branch_accepts_type(schema, b, instance_type))
            .map(|(i, _)| i)
            .collect();
        if let [only] = typed.as_slice()
            && let Some(errors) = context.get(*only)
            && !errors.is_empty()
        {
            for e in errors {
                describe(doc, schema, e, out);
            }
            return;
        }
    }
    let expected = title_of(schema, node).unwrap_or_else(|| {
        let titles: Vec<String> = branches
            .iter()
            .filter_map(|b| title_of(schema, Some(b)))
            .collect();
        titles.join(", or ")
    });
    out.push(at(
        doc,
        pointer,
        codes::BAD_VALUE,
        format!("`{}` is not {expected}", plain(error.instance())),
    ));
}

/// Whether a `oneOf` branch accepts values of this type at all.
fn branch_accepts_type(schema: &KindSchema, branch: &Value, found: &str) -> bool {
    let node = deref(schema, branch);
    let types: Vec<&str> = match node.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types
        .iter()
        .any(|t| type_name(t) == found || (*t == "number" && found == "an integer"))
}

fn type_name(t: &str) -> &'static str {
    match t {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        _ => "a value",
    }
}

/// A value as written: strings without quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
