//! Kubernetes objects: built-in kinds against the pinned Kubernetes
//! version's OpenAPI, custom resources against the CRDs the repo defines.

use std::borrow::Borrow;

use serde_json::Value;

use super::codes;
use super::paths::{json_path, one_of_list};
use crate::diagnostic::did_you_mean;
use crate::diagnostic::{Code, Diagnostic};
use crate::kubernetes::crd::{CrdCatalog, is_crd};
use crate::kubernetes::schema::{Finding, Problem};
use crate::kubernetes::{Catalog, GroupVersionKind, split_api_version};
use crate::spec::yaml::Document;

/// Most findings reported for one object.
const MAX_PER_OBJECT: usize = 50;

/// Builds the catalog of custom resource kinds from the CRDs among
/// `docs`; CRDs whose schema cannot be used are reported.
pub fn crd_catalog<'a, I>(docs: I, diags: &mut Vec<Diagnostic>) -> CrdCatalog
where
    I: IntoIterator<Item = &'a Document>,
{
    let mut catalog = CrdCatalog::new();
    add_crds(&mut catalog, docs, diags);
    catalog
}

/// Adds the CRDs among `docs` to `catalog` (e.g. those Helm charts render);
/// CRDs whose schema cannot be used are reported.
pub fn add_crds<'a, I>(catalog: &mut CrdCatalog, docs: I, diags: &mut Vec<Diagnostic>)
where
    I: IntoIterator<Item = &'a Document>,
{
    for doc in docs {
        if !is_crd(&doc.value) {
            continue;
        }
        if let Err(errors) = catalog.add(&doc.value) {
            for e in errors {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_CRD,
                        format!("unusable CustomResourceDefinition: {e}"),
                    )
                    .in_file(doc.file.clone())
                    .at(doc.span_of("/spec/versions"))
                    .with_path(".spec.versions"),
                );
            }
        }
    }
}

/// Checks one manifest document (an object, or a list of them, see
/// [`is_list`](crate::object::is_list)).
pub fn check_document(
    doc: &Document,
    catalog: &Catalog,
    crds: &CrdCatalog,
    diags: &mut Vec<Diagnostic>,
) {
    // A SOPS-encrypted document is the object without sops's metadata.
    let stripped;
    let value = if crate::render::sops::is_encrypted(&doc.value) {
        stripped = crate::render::sops::without_metadata(&doc.value);
        &stripped
    } else {
        &doc.value
    };
    if crate::object::is_list(value) {
        match value.get("items").and_then(Value::as_array) {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_object(doc, &format!("/items/{i}"), item, catalog, crds, diags);
                }
            }
            None => diags.push(at(
                doc,
                "",
                codes::MISSING_FIELD,
                "a List needs `items`".into(),
            )),
        }
        return;
    }
    check_object(doc, "", value, catalog, crds, diags);
}

/// [`check_document`] over many documents, in parallel; the findings come
/// back in the documents' order.
pub fn check_documents<D: Borrow<Document> + Sync>(
    docs: &[D],
    catalog: &Catalog,
    crds: &CrdCatalog,
) -> Vec<Diagnostic> {
    crate::parallel::map(docs, |doc| {
        let mut found = Vec::new();
        check_document(doc.borrow(), catalog, crds, &mut found);
        found
    })
    .into_iter()
    .flatten()
    .collect()
}

/// Whether checking `doc` needs no CRD: it is one object of a kind the
/// built-in catalog serves (not a `List`, not a custom resource).
pub fn needs_no_crd(doc: &Document, catalog: &Catalog) -> bool {
    gvk_of(&doc.value).is_some_and(|gvk| catalog.kind(&gvk).is_some())
}

fn at(doc: &Document, pointer: &str, code: Code, message: String) -> Diagnostic {
    Diagnostic::error(code, message)
        .in_file(doc.file.clone())
        .at(doc.span_of(pointer))
        .with_path(json_path(&doc.value, pointer))
}

/// The `(group, version, kind)` of an object, if it has them as strings.
pub fn gvk_of(object: &Value) -> Option<GroupVersionKind> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let kind = object.get("kind")?.as_str()?;
    let (group, version) = split_api_version(api_version);
    Some(GroupVersionKind::gvk(group, version, kind))
}

fn check_object(
    doc: &Document,
    prefix: &str,
    object: &Value,
    catalog: &Catalog,
    crds: &CrdCatalog,
    diags: &mut Vec<Diagnostic>,
) {
    if !object.is_object() {
        diags.push(
            at(
                doc,
                prefix,
                codes::NOT_AN_OBJECT,
                format!(
                    "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                    crate::kubernetes::schema::describe_value(object)
                ),
            )
            .with_hint(not_a_manifest_hint()),
        );
        return;
    }
    let mut missing = Vec::new();
    for field in ["apiVersion", "kind"] {
        match object.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => missing.push(field),
        }
    }
    if !missing.is_empty() {
        diags.push(
            at(
                doc,
                prefix,
                codes::NOT_AN_OBJECT,
                format!(
                    "not a Kubernetes object: no {}",
                    one_of_list(&missing).replace(" or ", " and ")
                ),
            )
            .with_hint(not_a_manifest_hint()),
        );
        return;
    }
    let Some(gvk) = gvk_of(object) else { return };
    check_name(doc, prefix, object, diags);

    let mut findings = Vec::new();
    if let Some(kind) = catalog.kind(&gvk) {
        catalog.validate(kind, object, &mut findings, MAX_PER_OBJECT);
    } else if let Some(kind) = crds.kind(&gvk) {
        crds.validate(kind, object, &mut findings, MAX_PER_OBJECT);
        if let Some(meta) = object.get("metadata") {
            let mut meta_findings = Vec::new();
            catalog.validate_object_meta(meta, &mut meta_findings, MAX_PER_OBJECT);
            findings.extend(meta_findings.into_iter().map(|f| Finding {
                pointer: format!("/metadata{}", f.pointer),
                problem: f.problem,
            }));
        }
    } else {
        diags.push(unknown_kind(doc, prefix, &gvk, catalog, crds));
        return;
    }
    for finding in findings {
        diags.push(describe(doc, prefix, object, finding));
    }
}

fn not_a_manifest_hint() -> String {
    "if this file is not a Kubernetes manifest (e.g. Helm values), list it in a component's \
     `source.helm.valuesFiles` or in `exclude` of weir.yaml"
        .into()
}

fn check_name(doc: &Document, prefix: &str, object: &Value, diags: &mut Vec<Diagnostic>) {
    let meta = object.get("metadata");
    let has = |field: &str| {
        meta.and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !has("name") && !has("generateName") {
        let pointer = if meta.is_some() {
            format!("{prefix}/metadata")
        } else {
            prefix.to_string()
        };
        diags.push(
            at(
                doc,
                &pointer,
                codes::MISSING_NAME,
                "the object has no `metadata.name`".into(),
            )
            .with_hint("every object needs a name: add `metadata: {name: ...}`"),
        );
    }
}

/// Neither the built-in catalog nor the repo's CRDs know this kind at this
/// version: an unserved version, a typo in a built-in kind, or a custom
/// resource without a CRD.
fn unknown_kind(
    doc: &Document,
    prefix: &str,
    gvk: &GroupVersionKind,
    catalog: &Catalog,
    crds: &CrdCatalog,
) -> Diagnostic {
    let api_version = crate::kubernetes::api_version(&gvk.group, &gvk.version);
    let k8s = catalog.kubernetes_version();
    let served = catalog.versions_of(&gvk.group, &gvk.kind);
    if !served.is_empty() {
        let versions: Vec<String> = served.iter().map(|k| k.api_version()).collect();
        return at(
            doc,
            &format!("{prefix}/apiVersion"),
            codes::UNKNOWN_BUILTIN_KIND,
            format!(
                "{} `{api_version}` is not served by Kubernetes {k8s}",
                gvk.kind
            ),
        )
        .with_hint(format!("use apiVersion {}", one_of_list(&versions)));
    }
    let crd_served = crds.versions_of(&gvk.group, &gvk.kind);
    if !crd_served.is_empty() {
        let versions: Vec<String> = crd_served
            .iter()
            .map(|k| crate::kubernetes::api_version(&k.group, &k.version))
            .collect();
        return at(
            doc,
            &format!("{prefix}/apiVersion"),
            codes::UNSERVED_VERSION,
            format!(
                "the CRD `{}` does not serve {} at `{api_version}`",
                crd_served[0].crd_name, gvk.kind
            ),
        )
        .with_hint(format!("use apiVersion {}", one_of_list(&versions)));
    }
    // Groups without a dot are Kubernetes' own (CRD groups must have one):
    // `extensions/v1beta1` and friends were removed.
    if !gvk.group.contains('.') && !catalog.is_builtin_group(&gvk.group) {
        let elsewhere: Vec<String> = catalog
            .kinds()
            .iter()
            .filter(|k| k.kind == gvk.kind)
            .map(|k| k.api_version())
            .collect();
        let d = at(
            doc,
            &format!("{prefix}/apiVersion"),
            codes::UNKNOWN_BUILTIN_KIND,
            format!("Kubernetes {k8s} does not serve `{api_version}`"),
        );
        return if elsewhere.is_empty() {
            d
        } else {
            d.with_hint(format!(
                "{} is served as {}",
                gvk.kind,
                one_of_list(&elsewhere)
            ))
        };
    }
    if catalog.is_builtin_group(&gvk.group) {
        let kinds: Vec<&str> = catalog
            .kinds()
            .iter()
            .filter(|k| k.group == gvk.group)
            .map(|k| k.kind.as_str())
            .collect();
        let mut d = at(
            doc,
            &format!("{prefix}/kind"),
            codes::UNKNOWN_BUILTIN_KIND,
            format!(
                "Kubernetes {k8s} has no kind `{}` in `{api_version}`",
                gvk.kind
            ),
        );
        if let Some(s) = did_you_mean(&gvk.kind, kinds.iter().copied()) {
            d.message.push_str(&format!(", did you mean `{s}`?"));
            d = d.with_hint(format!("rename the kind to `{s}`"));
        }
        return d;
    }
    Diagnostic::warning(
        codes::NO_SCHEMA,
        format!(
            "no schema for {} `{api_version}`: no CustomResourceDefinition in the repo defines it",
            gvk.kind
        ),
    )
    .in_file(doc.file.clone())
    .at(doc.span_of(&format!("{prefix}/kind")))
    .with_path(json_path(&doc.value, &format!("{prefix}/kind")))
    .with_hint(
        "the object is not checked; add its CRD to the repo to validate it (this warning is an \
         error with --strict)",
    )
}

/// A walker finding as a diagnostic; `prefix` is the object's pointer in
/// its document.
fn describe(doc: &Document, prefix: &str, object: &Value, finding: Finding) -> Diagnostic {
    let pointer = format!("{prefix}{}", finding.pointer);
    match finding.problem {
        Problem::UnknownField { known } => {
            let name = finding
                .pointer
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .replace("~1", "/")
                .replace("~0", "~");
            let mut message = format!("unknown field `{name}`");
            let suggestion = did_you_mean(&name, known.iter().map(String::as_str));
            if let Some(s) = suggestion {
                message.push_str(&format!(", did you mean `{s}`?"));
            }
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("object");
            let hint = match suggestion {
                Some(s) => format!("rename `{name}` to `{s}`"),
                None if known.len() <= 12 && !known.is_empty() => {
                    format!("fields allowed here: {}", known.join(", "))
                }
                None => format!(
                    "check the field's spelling and indentation against the {kind} API reference"
                ),
            };
            Diagnostic::error(codes::UNKNOWN_FIELD, message)
                .in_file(doc.file.clone())
                .at(doc
                    .key_span_of(&pointer)
                    .unwrap_or_else(|| doc.span_of(&pointer)))
                .with_path(json_path(&doc.value, &pointer))
                .with_hint(hint)
        }
        Problem::WrongType { expected, found } => {
            let mut d = at(
                doc,
                &pointer,
                codes::WRONG_TYPE,
                format!("expected {expected}, found {found}"),
            );
            if expected.contains("a string") && !matches!(found, "a mapping" | "a list") {
                // The value itself is not echoed: it may be a Secret's.
                d = d.with_hint("quote the value to make it a string, e.g. \"true\" or \"8080\"");
            }
            d
        }
        Problem::MissingField { name } => at(
            doc,
            &pointer,
            codes::MISSING_FIELD,
            format!("missing required field `{name}`"),
        ),
        Problem::NotAllowed { allowed } => {
            let value = shown(doc, &pointer, object);
            let allowed: Vec<String> = allowed.iter().map(plain).collect();
            let mut message = format!("`{value}` is not one of {}", one_of_list(&allowed));
            if let Some(s) = did_you_mean(&value, allowed.iter().map(String::as_str)) {
                message.push_str(&format!("; did you mean `{s}`?"));
            }
            at(doc, &pointer, codes::BAD_VALUE, message)
        }
        Problem::Constraint { expected } => {
            let value = shown(doc, &pointer, object);
            at(
                doc,
                &pointer,
                codes::BAD_VALUE,
                format!("`{value}` is not valid here: expected {expected}"),
            )
        }
        Problem::Alternatives { expected } => at(
            doc,
            &pointer,
            codes::ALTERNATIVES,
            format!("expected {expected}"),
        ),
    }
}

/// The value at `pointer` for a message; never a Secret's content.
fn shown(doc: &Document, pointer: &str, object: &Value) -> String {
    if object.get("kind").and_then(Value::as_str) == Some("Secret") {
        return "(redacted)".into();
    }
    doc.value.pointer(pointer).map(plain).unwrap_or_default()
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
