//! The JSON Schemas in `schemas/` and the serde types of `spec::model` agree:
//! every document of `tests/fixtures/schema-corpus/valid` passes both, every
//! document of `.../invalid` fails both.

use std::path::Path;

use serde_json::Value;
use weir::spec::model::{Component, Repository, Workload};
use weir::validate::weir_schemas::WeirSchemas;

fn corpus(dir: &str) -> Vec<(String, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema-corpus")
        .join(dir);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        out.push((
            path.file_name().unwrap().to_string_lossy().to_string(),
            value,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no documents in {}", root.display());
    out
}

/// `Ok` when serde accepts the document as its kind, else serde's error.
fn serde_accepts(value: &Value) -> Result<(), String> {
    let kind = value["kind"].as_str().unwrap_or_default();
    let result = match kind {
        "Repository" => serde_json::from_value::<Repository>(value.clone()).map(drop),
        "Component" => serde_json::from_value::<Component>(value.clone()).map(drop),
        "Workload" => serde_json::from_value::<Workload>(value.clone()).map(drop),
        other => panic!("corpus document of unknown kind {other}"),
    };
    result.map_err(|e| e.to_string())
}

/// `Ok` when the kind's schema accepts the document, else its errors.
fn schema_accepts(value: &Value) -> Result<(), String> {
    let schemas = WeirSchemas::get().unwrap();
    let kind = value["kind"].as_str().unwrap_or_default();
    let schema = schemas.for_kind(kind).unwrap();
    let errors: Vec<String> = schema
        .validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn valid_documents_pass_serde_and_schema() {
    let mut failures = Vec::new();
    for (name, doc) in corpus("valid") {
        if let Err(e) = serde_accepts(&doc) {
            failures.push(format!("{name}: serde rejects: {e}"));
        }
        if let Err(e) = schema_accepts(&doc) {
            failures.push(format!("{name}: schema rejects: {e}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn invalid_documents_fail_serde_and_schema() {
    let mut failures = Vec::new();
    for (name, doc) in corpus("invalid") {
        if serde_accepts(&doc).is_ok() {
            failures.push(format!("{name}: serde accepts it"));
        }
        if schema_accepts(&doc).is_ok() {
            failures.push(format!("{name}: schema accepts it"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Round trip: what serde writes back, the schema still accepts.
#[test]
fn serialised_models_pass_the_schema() {
    for (name, doc) in corpus("valid") {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        let back = match kind.as_str() {
            "Repository" => {
                serde_json::to_value(serde_json::from_value::<Repository>(doc).unwrap())
            }
            "Component" => serde_json::to_value(serde_json::from_value::<Component>(doc).unwrap()),
            _ => serde_json::to_value(serde_json::from_value::<Workload>(doc).unwrap()),
        }
        .unwrap();
        assert!(
            schema_accepts(&back).is_ok(),
            "{name}: {:?}",
            schema_accepts(&back)
        );
    }
}
