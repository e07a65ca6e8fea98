//! Fuzz target: `parse_documents` on arbitrary bytes must return documents
//! or a diagnostic naming the file — never panic (its `catch_unwind` would
//! turn a parser panic into the INTERNAL code, so that fails here too),
//! never blow the stack, never run away with memory — and positions must be
//! answerable for every value it returns.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir::spec::yaml::{YamlLimits, codes, parse_documents};

fuzz_target!(|data: &[u8]| {
    let limits = YamlLimits {
        max_alias_expansion_nodes: 20_000,
        ..YamlLimits::default()
    };
    match parse_documents("fuzz.yaml", data, &limits) {
        Ok(documents) => {
            for document in &documents {
                let mut pending = vec![(String::new(), &document.value)];
                let mut visited = 0;
                while let Some((pointer, value)) = pending.pop() {
                    visited += 1;
                    if visited > 1_000 {
                        break;
                    }
                    let span = document.span_of(&pointer);
                    assert!(span.line >= 1 && span.column >= 1);
                    let _ = document.key_span_of(&pointer);
                    match value {
                        serde_json::Value::Object(map) => pending.extend(
                            map.iter()
                                .map(|(k, v)| (format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")), v)),
                        ),
                        serde_json::Value::Array(items) => pending
                            .extend(items.iter().enumerate().map(|(i, v)| (format!("{pointer}/{i}"), v))),
                        _ => {}
                    }
                }
            }
        }
        Err(diagnostic) => {
            assert_ne!(diagnostic.code, codes::INTERNAL, "{diagnostic}");
            assert_eq!(diagnostic.file.as_deref(), Some("fuzz.yaml"));
        }
    }
});
