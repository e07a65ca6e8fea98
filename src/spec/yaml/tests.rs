//! Unit tests of the YAML loader: values, positions, merges, multi-document
//! files, and each refusal with its code and position.

use crate::spec::filter::FileFilter;
use serde_json::json;

use super::*;

fn parse(text: &str) -> Vec<Document> {
    parse_documents("t.yaml", text.as_bytes(), &YamlLimits::default()).unwrap()
}

fn parse_err(text: impl AsRef<[u8]>) -> Diagnostic {
    parse_documents("t.yaml", text.as_ref(), &YamlLimits::default()).unwrap_err()
}

fn at(line: u32, column: u32) -> Span {
    Span { line, column }
}

#[test]
fn multi_document_files_skip_empty_documents() {
    let docs = parse(
        "# leading comment\n---\na: 1\n---\n# only a comment\n---\n---\nnull\n---\n- x\n...\n---\nb: 2\n",
    );
    let found: Vec<_> = docs
        .iter()
        .map(|d| (d.index, d.span.line, d.value.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (0, 2, json!({"a": 1})),
            (4, 9, json!(["x"])),
            (5, 12, json!({"b": 2}))
        ]
    );
    assert!(parse("").is_empty());
    assert!(parse("# nothing\n").is_empty());
    assert!(parse("---\n").is_empty());
    let implicit = parse("\n\nkind: A\n");
    assert_eq!(implicit[0].index, 0);
    assert_eq!(implicit[0].span_of(""), at(3, 1));
}

#[test]
fn values_of_a_manifest() {
    let docs = parse(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 3\n  paused: false\n  x: ~\n  \
         template:\n    spec:\n      containers:\n        - name: web\n          args: ['--port', \"8080\", 8080]\n          \
         command: |\n            run\n            it\n      volumes:\n        - configMap: {defaultMode: 0644}\n",
    );
    assert_eq!(
        docs[0].value,
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "spec": {
                "replicas": 3,
                "paused": false,
                "x": null,
                "template": {"spec": {
                    "containers": [{"name": "web", "args": ["--port", "8080", 8080], "command": "run\nit\n"}],
                    "volumes": [{"configMap": {"defaultMode": 420}}]
                }}
            }
        })
    );
}

#[test]
fn positions_of_nested_keys_and_sequence_items() {
    let text = "\
kind: Deployment
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: nginx
        - name: sidecar
          ports: [80, 443]
";
    let doc = &parse(text)[0];
    assert_eq!(doc.span_of(""), at(1, 1));
    assert_eq!(doc.span_of("/kind"), at(1, 7));
    assert_eq!(doc.key_span_of("/kind"), Some(at(1, 1)));
    assert_eq!(doc.span_of("/spec/replicas"), at(3, 13));
    assert_eq!(doc.key_span_of("/spec/replicas"), Some(at(3, 3)));
    assert_eq!(doc.span_of("/spec/template/spec/containers/0"), at(7, 11));
    assert_eq!(
        doc.span_of("/spec/template/spec/containers/0/image"),
        at(8, 18)
    );
    assert_eq!(
        doc.key_span_of("/spec/template/spec/containers/0/image"),
        Some(at(8, 11))
    );
    assert_eq!(
        doc.span_of("/spec/template/spec/containers/1/ports/1"),
        at(10, 23)
    );
    // Sequence items and the root have no key.
    assert_eq!(doc.key_span_of("/spec/template/spec/containers/1"), None);
    assert_eq!(doc.key_span_of(""), None);
    // Missing paths fall back to the nearest ancestor that exists.
    assert_eq!(
        doc.span_of("/spec/template/spec/containers/7/name"),
        doc.span_of("/spec/template/spec/containers")
    );
    assert_eq!(doc.span_of("/spec/replicas/deeper"), at(3, 13));
    assert_eq!(doc.span_of("/nope"), at(1, 1));
    assert_eq!(doc.key_span_of("/nope"), None);
    assert_eq!(doc.span_of("not-a-pointer"), at(1, 1));
}

#[test]
fn positions_use_escaped_pointers_and_characters() {
    let doc = &parse(
        "metadata:\n  labels:\n    app.kubernetes.io/name: \"héllo\"\n    a~b: ü-x\n    é: 1\n",
    )[0];
    assert_eq!(
        doc.span_of("/metadata/labels/app.kubernetes.io~1name"),
        at(3, 29)
    );
    assert_eq!(doc.span_of("/metadata/labels/a~0b"), at(4, 10));
    // Columns count characters, not bytes.
    assert_eq!(doc.span_of("/metadata/labels/é"), at(5, 8));
    let located = doc.locate(
        Diagnostic::error(crate::diagnostic::Code("E9999"), "unknown field"),
        "/metadata/labels/a~0b",
        true,
    );
    assert_eq!(located.file.as_deref(), Some("t.yaml"));
    assert_eq!(located.span, Some(at(4, 5)));
    assert_eq!(located.path.as_deref(), Some(".metadata.labels[\"a~b\"]"));
}

#[test]
fn anchors_and_aliases_expand() {
    let doc = &parse(
        "defaults: &d\n  cpu: 100m\n  memory: 1Gi\nlist: &l [1, 2]\nname: &n web\na: *d\nb: *l\nc: *n\nd: [*n, *d]\n",
    )[0];
    assert_eq!(doc.value["a"], json!({"cpu": "100m", "memory": "1Gi"}));
    assert_eq!(doc.value["b"], json!([1, 2]));
    assert_eq!(doc.value["c"], json!("web"));
    assert_eq!(
        doc.value["d"],
        json!(["web", {"cpu": "100m", "memory": "1Gi"}])
    );
    assert_eq!(doc.value["defaults"], doc.value["a"]);
    // The alias is where it is written; what it expands to is where the
    // anchor's content is.
    assert_eq!(doc.span_of("/a"), at(6, 4));
    assert_eq!(doc.key_span_of("/a"), Some(at(6, 1)));
    assert_eq!(doc.span_of("/a/memory"), at(3, 11));
    assert_eq!(doc.span_of("/d/1/cpu"), at(2, 8));
}

#[test]
fn merge_keys() {
    let text = "\
base: &base
  image: nginx
  replicas: 1
extra: &extra
  replicas: 5
  port: 80
one:
  <<: *base
  replicas: 3
many:
  <<: [*extra, *base]
  name: x
inline:
  <<: {a: 1}
  b: 2
tagged:
  !!merge <<: *base
quoted:
  \"<<\": literal
";
    let doc = &parse(text)[0];
    assert_eq!(doc.value["one"], json!({"image": "nginx", "replicas": 3}));
    assert_eq!(
        doc.value["many"],
        json!({"image": "nginx", "replicas": 5, "port": 80, "name": "x"})
    );
    assert_eq!(doc.value["inline"], json!({"a": 1, "b": 2}));
    assert_eq!(
        doc.value["tagged"],
        json!({"image": "nginx", "replicas": 1})
    );
    assert_eq!(doc.value["quoted"], json!({"<<": "literal"}));
    assert_eq!(doc.value["base"], json!({"image": "nginx", "replicas": 1}));
    // The mapping's own key wins and keeps its position; merged ones point
    // where they are defined.
    assert_eq!(doc.span_of("/one/replicas"), at(9, 13));
    assert_eq!(doc.span_of("/one/image"), at(2, 10));
    assert_eq!(doc.key_span_of("/many/port"), Some(at(6, 3)));
    // Overriding a merged key is not a duplicate.
    assert!(
        parse("a: &a {x: 1}\nb:\n  <<: *a\n  <<: {y: 2}\n  x: 2\n")[0].value["b"]
            == json!({"x": 2, "y": 2})
    );
}

#[test]
fn bad_merges_are_errors() {
    let err = parse_err("a: &a 1\nb:\n  <<: *a\n");
    assert_eq!(err.code, codes::BAD_MERGE);
    assert_eq!(err.span, Some(at(1, 4)));
    let err = parse_err("b:\n  <<: [{x: 1}, 2]\n");
    assert_eq!(err.code, codes::BAD_MERGE);
    assert_eq!(err.span, Some(at(2, 16)));
}

#[test]
fn keys_are_strings() {
    let doc = &parse("1: a\ntrue: b\nnull: c\n0x10: d\n1.5: e\n'2': f\n")[0];
    assert_eq!(
        doc.value,
        json!({"1": "a", "true": "b", "null": "c", "16": "d", "1.5": "e", "2": "f"})
    );
    assert_eq!(
        parse("&k key: 1\nother:\n  *k : 2\n")[0].value,
        json!({"key": 1, "other": {"key": 2}})
    );
    for text in [
        "? [a]\n: 1\n",
        "{[a]: 1}\n",
        "? {a: 1}\n: 1\n",
        "a: &x [1]\nb:\n  *x : 2\n",
    ] {
        assert_eq!(parse_err(text).code, codes::COMPLEX_KEY, "{text}");
    }
    // `1` and `"1"` are the same key once converted.
    assert_eq!(parse_err("1: a\n'1': b\n").code, codes::DUPLICATE_KEY);
}

#[test]
fn duplicate_keys_name_both_lines() {
    let err = parse_err("metadata:\n  name: a\n  labels: {}\n  name: b\n");
    assert_eq!(err.code, codes::DUPLICATE_KEY);
    assert_eq!(err.file.as_deref(), Some("t.yaml"));
    assert_eq!(err.span, Some(at(4, 3)));
    assert!(
        err.message.contains("`name`") && err.message.contains("line 2"),
        "{}",
        err.message
    );
    // Large mappings take another path.
    let mut text: String = (0..40).map(|i| format!("k{i}: {i}\n")).collect();
    text.push_str("k7: again\n");
    let err = parse_err(text);
    assert_eq!(
        (err.code, err.span),
        (codes::DUPLICATE_KEY, Some(at(41, 1)))
    );
    assert!(err.message.contains("line 8"), "{}", err.message);
}

#[test]
fn hostile_nesting_fails_fast_at_the_limit() {
    let flow = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(parse_err(flow).code, codes::TOO_DEEP);
    let flow_maps = "{a: ".repeat(10_000);
    assert_eq!(parse_err(flow_maps).code, codes::TOO_DEEP);
    // Block style 10,000 deep fits in a small file only as compact
    // sequences; indented mappings that deep would be 50 MB.
    let compact = format!("{}x\n", "- ".repeat(10_000));
    let err = parse_err(compact);
    assert_eq!((err.code, err.span), (codes::TOO_DEEP, Some(at(1, 513))));
    let block: String = (0..300).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let err = parse_err(block);
    assert_eq!((err.code, err.span), (codes::TOO_DEEP, Some(at(257, 257))));
    let seq: String = (0..300).map(|i| format!("{}-\n", " ".repeat(i))).collect();
    assert_eq!(parse_err(seq).code, codes::TOO_DEEP);
    // Just inside the limit is fine.
    let limits = YamlLimits {
        max_depth: 8,
        ..YamlLimits::default()
    };
    assert!(parse_documents("t", b"[[[[[[[[1]]]]]]]]", &limits).is_ok());
    assert!(parse_documents("t", b"[[[[[[[[[1]]]]]]]]]", &limits).is_err());
    // Through an alias, too.
    let err = parse_documents("t", b"a: &x [[[[[[1]]]]]]\nb: [[[*x]]]\n", &limits).unwrap_err();
    assert_eq!((err.code, err.span), (codes::TOO_DEEP, Some(at(2, 7))));
}

#[test]
fn alias_bombs_fail_before_expanding() {
    let mut text = String::from(
        "a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for level in 1..10 {
        let prev = format!("*a{}", level - 1);
        text.push_str(&format!(
            "a{level}: &a{level} [{}]\n",
            vec![prev; 9].join(", ")
        ));
    }
    let err = parse_err(&text);
    assert_eq!(err.code, codes::ALIAS_BUDGET);
    assert!(err.span.unwrap().line <= 7, "{:?}", err.span);
    // The same through merge keys.
    let mut text = String::from("m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n");
    for level in 1..12 {
        let merges: Vec<String> = (0..9).map(|i| format!("k{i}: *m{}", level - 1)).collect();
        text.push_str(&format!("m{level}: &m{level} {{{}}}\n", merges.join(", ")));
    }
    assert_eq!(parse_err(&text).code, codes::ALIAS_BUDGET);
    // One huge string aliased many times is a bomb too.
    let big = "x".repeat(1 << 20);
    let text = format!("a: &s {big}\nb: [{}]\n", vec!["*s"; 64].join(", "));
    assert_eq!(parse_err(text).code, codes::ALIAS_BUDGET);
}

#[test]
fn recursive_aliases_are_refused() {
    let err = parse_err("a: &x [1, *x]\n");
    assert_eq!(
        (err.code, err.span),
        (codes::RECURSIVE_ALIAS, Some(at(1, 11)))
    );
    assert_eq!(parse_err("a: &x {b: *x}\n").code, codes::RECURSIVE_ALIAS);
    assert_eq!(parse_err("a: &x {<<: *x}\n").code, codes::RECURSIVE_ALIAS);
}

#[test]
fn bad_bytes_are_refused_with_their_position() {
    let err = parse_err(b"a: 1\nb: \xff\xfe\n");
    assert_eq!((err.code, err.span), (codes::NOT_UTF8, Some(at(2, 4))));
    assert!(err.message.contains("0xFF"), "{}", err.message);
    let err = parse_err(b"a: 1\nb: \xc3\xa9\x00\x01\x02\n");
    assert_eq!((err.code, err.span), (codes::BINARY, Some(at(2, 5))));
    let err = parse_err(b"\xff\xfea\x00:\x00");
    assert_eq!(err.code, codes::NOT_UTF8);
    assert!(err.message.contains("UTF-16"), "{}", err.message);
    // A UTF-8 byte order mark is fine.
    assert_eq!(parse("\u{feff}a: 1\n")[0].value, json!({"a": 1}));
}

#[test]
fn tabs_for_indentation_point_at_the_tab() {
    let err = parse_err("a:\n\tb: 1\n");
    assert_eq!((err.code, err.span), (codes::TAB_INDENT, Some(at(2, 1))));
    assert!(err.hint.as_deref().unwrap().contains("spaces"));
    let err = parse_err("a:\n  b: 1\n\tc: 2\n");
    assert_eq!((err.code, err.span), (codes::TAB_INDENT, Some(at(3, 1))));
    // Tabs inside values are fine.
    assert_eq!(
        parse("a: \"x\\ty\"\nb: x\ty\n")[0].value,
        json!({"a": "x\ty", "b": "x\ty"})
    );
}

#[test]
fn syntax_errors_have_positions() {
    let err = parse_err("a: [1, 2\nb: 3\n");
    assert_eq!(err.code, codes::SYNTAX);
    assert!(
        err.span.is_some() && err.message.starts_with("invalid YAML"),
        "{err}"
    );
    let err = parse_err("a: &x 1\n---\nb: *x\n");
    assert_eq!((err.code, err.span), (codes::SYNTAX, Some(at(3, 4))));
    let err = parse_err("a: *nope\n");
    assert_eq!((err.code, err.span), (codes::SYNTAX, Some(at(1, 4))));
    let err = parse_err("a: .inf\n");
    assert_eq!((err.code, err.span), (codes::BAD_SCALAR, Some(at(1, 4))));
    assert_eq!(parse_err("a: !!int x\n").code, codes::BAD_SCALAR);
}

#[test]
fn too_many_documents() {
    let limits = YamlLimits {
        max_documents: 3,
        ..YamlLimits::default()
    };
    assert!(parse_documents("t", b"a: 1\n---\nb: 1\n---\nc: 1\n", &limits).is_ok());
    let err =
        parse_documents("t", b"a: 1\n---\nb: 1\n---\nc: 1\n---\nd: 1\n", &limits).unwrap_err();
    assert_eq!(
        (err.code, err.span),
        (codes::TOO_MANY_DOCUMENTS, Some(at(6, 1)))
    );
}

#[test]
fn too_many_nodes() {
    let limits = YamlLimits {
        max_nodes: 14,
        ..YamlLimits::default()
    };
    // The mapping, 4 keys, 3 scalar values, the sequence and its 5 items.
    let ok = b"a: 1\nb: 2\nc: 3\nd: [1, 2, 3, 4, 5]\n";
    assert!(parse_documents("t", ok, &limits).is_ok());
    let err =
        parse_documents("t", b"a: 1\nb: 2\nc: 3\nd: [1, 2, 3, 4, 5, 6]\n", &limits).unwrap_err();
    assert_eq!(
        (err.code, err.span),
        (codes::TOO_MANY_NODES, Some(at(4, 20)))
    );
    // Counted over the whole file.
    let docs = b"[1, 2, 3, 4]\n---\n[1, 2, 3, 4]\n---\n[1, 2, 3, 4]\n";
    let err = parse_documents("t", docs, &limits).unwrap_err();
    assert_eq!(
        (err.code, err.span),
        (codes::TOO_MANY_NODES, Some(at(5, 11)))
    );
}

#[test]
fn yaml_paths() {
    assert!(is_yaml_path("a.yaml"));
    assert!(is_yaml_path("dir/b.YML"));
    assert!(!is_yaml_path(".yaml"));
    assert!(!is_yaml_path("a.json"));
    assert!(!is_yaml_path("a.yaml.tpl"));
}

#[test]
fn load_documents_selects_files_and_collects_diagnostics() {
    let tree: FileTree = [
        ("weir.yaml", "kind: Repository\n"),
        (
            "apps/web/deploy.yaml",
            "kind: Deployment\n---\nkind: Service\n",
        ),
        ("apps/web/bad.yaml", "a: [\n"),
        ("apps/web/notes.txt", "not yaml: ["),
        ("apps/db/chart/Chart.yaml", "name: db\n"),
        ("apps/db/chart/values.yaml", "x: 1\n"),
        (
            "apps/db/chart/templates/deploy.yaml",
            "{{ if .Values.x }}\n",
        ),
        ("apps/db/component.yml", "kind: Component\n"),
        (".github/workflows/ci.yml", "on: push\n"),
        ("scratch/tmp.yaml", "kind: Scratch\n"),
    ]
    .into_iter()
    .collect();
    let limits = YamlLimits::default();
    let kinds = |docs: &[Document]| -> Vec<(String, String)> {
        docs.iter()
            .map(|d| {
                (
                    d.file.clone(),
                    d.value["kind"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let (docs, diagnostics) = load_documents(
        &tree,
        &FileFilter::all(),
        &limits,
        &crate::budget::Budget::default(),
    );
    assert_eq!(
        kinds(&docs),
        [
            ("apps/db/component.yml".into(), "Component".into()),
            ("apps/web/deploy.yaml".into(), "Deployment".into()),
            ("apps/web/deploy.yaml".into(), "Service".into()),
            ("scratch/tmp.yaml".into(), "Scratch".into()),
            ("weir.yaml".into(), "Repository".into()),
        ]
    );
    assert_eq!(docs[2].index, 1);
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0].file.as_deref(), Some("apps/web/bad.yaml"));

    let filter = FileFilter::new(&["apps/**", "weir.yaml"], &["**/bad.yaml"]).unwrap();
    let (docs, diagnostics) =
        load_documents(&tree, &filter, &limits, &crate::budget::Budget::default());
    assert_eq!(docs.len(), 4);
    assert!(diagnostics.is_empty());
    let (docs, _) = load_documents(
        &tree,
        &FileFilter::new(&[], &[]).unwrap(),
        &limits,
        &crate::budget::Budget::default(),
    );
    assert_eq!(docs.len(), 5, "an empty include set selects everything");

    // A chart at the root: nothing is a manifest.
    let chart: FileTree = [
        ("Chart.yaml", "name: x\n"),
        ("templates/a.yaml", "{{ x }}\n"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        load_documents(
            &chart,
            &FileFilter::all(),
            &limits,
            &crate::budget::Budget::default()
        )
        .0
        .len(),
        0
    );
}
