//! Compiled structural schemas of Kubernetes objects, and the walker that
//! checks an object against them.
//!
//! Both sources of schemas compile to the same [`SchemaSet`]: the compact
//! OpenAPI of the built-in kinds (definitions that refer to each other by
//! name) and the `openAPIV3Schema` of CustomResourceDefinitions (one tree
//! per served version). The walker follows the API server's rules rather
//! than plain JSON Schema: `null` counts as absent, an object with
//! `properties` is closed unless it has `additionalProperties` or
//! `x-kubernetes-preserve-unknown-fields`, integers must be integers, and
//! `x-kubernetes-int-or-string` accepts both. It reports [`Finding`]s with
//! JSON pointers; `validate` turns them into diagnostics with file and line.

use std::collections::HashMap;
use std::fmt::Write as _;

use regex::Regex;
use serde_json::{Map, Value};

/// Index of a node in its [`SchemaSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(u32);

/// The JSON types a node accepts, as a bit set (empty: any).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Types(u8);

impl Types {
    const OBJECT: u8 = 1;
    const ARRAY: u8 = 2;
    const STRING: u8 = 4;
    const INTEGER: u8 = 8;
    const NUMBER: u8 = 16;
    const BOOLEAN: u8 = 32;

    fn from_name(name: &str) -> u8 {
        match name {
            "object" => Self::OBJECT,
            "array" => Self::ARRAY,
            "string" => Self::STRING,
            "integer" => Self::INTEGER,
            // A number accepts integers too.
            "number" => Self::NUMBER | Self::INTEGER,
            "boolean" => Self::BOOLEAN,
            _ => 0,
        }
    }

    fn accepts(self, value: &Value) -> bool {
        self.0 == 0 || self.0 & type_bit(value) != 0
    }

    fn describe(self) -> String {
        let names: Vec<&str> = [
            (Self::OBJECT, "a mapping"),
            (Self::ARRAY, "a list"),
            (Self::STRING, "a string"),
            (Self::NUMBER, "a number"),
            (Self::BOOLEAN, "a boolean"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.0 & bit != 0)
        .map(|(_, name)| name)
        .collect();
        let names = if names.is_empty() && self.0 & Self::INTEGER != 0 {
            vec!["an integer"]
        } else if self.0 & Self::INTEGER != 0 && self.0 & Self::NUMBER == 0 {
            let mut n = names;
            n.push("an integer");
            n
        } else {
            names
        };
        names.join(" or ")
    }
}

fn type_bit(value: &Value) -> u8 {
    match value {
        Value::Object(_) => Types::OBJECT,
        Value::Array(_) => Types::ARRAY,
        Value::String(_) => Types::STRING,
        Value::Bool(_) => Types::BOOLEAN,
        Value::Number(n) if n.is_i64() || n.is_u64() => Types::INTEGER,
        Value::Number(_) => Types::NUMBER,
        Value::Null => 0,
    }
}

/// What a value is, for messages: `a string`, `an integer`, ...
pub fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "a mapping",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::Null => "null",
    }
}

/// How a node treats properties it does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    /// Unknown properties are errors.
    Closed,
    /// Anything goes.
    Open,
    /// Every other property must match this schema.
    Schema(NodeId),
}

/// List semantics from `x-kubernetes-list-type` and friends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListKeys {
    /// `atomic`, `set` or `map` (`x-kubernetes-list-type`).
    pub list_type: Option<String>,
    /// The keys that identify an item: `x-kubernetes-list-map-keys`, else
    /// `x-kubernetes-patch-merge-key` alone.
    pub merge_keys: Vec<String>,
}

/// One compiled schema node.
#[derive(Debug, Default)]
struct Node {
    reference: Option<NodeId>,
    types: Types,
    properties: Option<HashMap<String, NodeId>>,
    required: Vec<String>,
    extra: Option<Extra>,
    items: Option<NodeId>,
    enumeration: Option<Vec<Value>>,
    preserve_unknown: bool,
    embedded_resource: bool,
    int32: bool,
    pattern: Option<Regex>,
    minimum: Option<(f64, bool)>,
    maximum: Option<(f64, bool)>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    one_of: Vec<NodeId>,
    any_of: Vec<NodeId>,
    all_of: Vec<NodeId>,
    not: Option<NodeId>,
    list: ListKeys,
}

/// Whether objects without `properties` accept any field (the built-in
/// OpenAPI, e.g. `RawExtension`) or none (a CRD's structural schema, whose
/// API server prunes such fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    BuiltIn,
    Crd,
}

/// A set of compiled nodes; built once, then shared read-only.
#[derive(Debug)]
pub struct SchemaSet {
    nodes: Vec<Node>,
    dialect: Dialect,
    /// Definition name → node, for sets compiled from named definitions.
    names: HashMap<String, NodeId>,
}

/// Why a schema could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("reference to unknown definition `{0}`")]
    UnknownRef(String),
    #[error("`pattern` `{pattern}` is not a valid regular expression: {source}")]
    BadPattern {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("schema nesting is deeper than {0} levels")]
    TooDeep(usize),
}

/// Deepest schema tree compiled; CRD schemas come from the repo, so their
/// depth is bounded like any hostile input.
const MAX_SCHEMA_DEPTH: usize = 256;

impl SchemaSet {
    /// Compiles named definitions whose `$ref`s name each other (the
    /// compact built-in OpenAPI).
    pub fn from_definitions(defs: &Map<String, Value>) -> Result<Self, CompileError> {
        let mut set = SchemaSet {
            nodes: Vec::with_capacity(defs.len() * 8),
            dialect: Dialect::BuiltIn,
            names: HashMap::with_capacity(defs.len()),
        };
        for name in defs.keys() {
            let id = set.push(Node::default());
            set.names.insert(name.clone(), id);
        }
        for (name, def) in defs {
            let id = set.names[name];
            let node = set.compile_node(def, 0)?;
            set.nodes[id.0 as usize] = node;
        }
        Ok(set)
    }

    /// An empty set of CRD schemas; add trees with [`SchemaSet::add_tree`].
    pub fn crds() -> Self {
        SchemaSet {
            nodes: Vec::new(),
            dialect: Dialect::Crd,
            names: HashMap::new(),
        }
    }

    /// Compiles one self-contained schema tree (a CRD version's
    /// `openAPIV3Schema`) and returns its root.
    pub fn add_tree(&mut self, schema: &Value) -> Result<NodeId, CompileError> {
        let node = self.compile_node(schema, 0)?;
        Ok(self.push(node))
    }

    /// The node of a named definition.
    pub fn definition(&self, name: &str) -> Option<NodeId> {
        self.names.get(name).copied()
    }

    fn push(&mut self, node: Node) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        self.nodes.push(node);
        id
    }

    fn node(&self, id: NodeId) -> &Node {
        // Ids are only made by `push`, so they are always in range.
        &self.nodes[id.0 as usize]
    }

    fn child(&mut self, value: &Value, depth: usize) -> Result<NodeId, CompileError> {
        // A bare `{"$ref": name}` is the definition itself.
        if let Some(map) = value.as_object()
            && map.len() == 1
            && let Some(name) = map.get("$ref").and_then(Value::as_str)
        {
            return self
                .names
                .get(name)
                .copied()
                .ok_or_else(|| CompileError::UnknownRef(name.to_string()));
        }
        let node = self.compile_node(value, depth + 1)?;
        Ok(self.push(node))
    }

    fn compile_node(&mut self, value: &Value, depth: usize) -> Result<Node, CompileError> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(CompileError::TooDeep(MAX_SCHEMA_DEPTH));
        }
        let mut node = Node::default();
        let Some(map) = value.as_object() else {
            // `true`/`false` schemas only occur as additionalProperties.
            return Ok(node);
        };
        if let Some(name) = map.get("$ref").and_then(Value::as_str) {
            node.reference = Some(
                self.names
                    .get(name)
                    .copied()
                    .ok_or_else(|| CompileError::UnknownRef(name.to_string()))?,
            );
        }
        match map.get("type") {
            Some(Value::String(t)) => node.types = Types(Types::from_name(t)),
            Some(Value::Array(ts)) => {
                node.types = Types(
                    ts.iter()
                        .filter_map(Value::as_str)
                        .fold(0, |acc, t| acc | Types::from_name(t)),
                );
            }
            _ => {}
        }
        let format = map.get("format").and_then(Value::as_str);
        if format == Some("int-or-string") || flag(map, "x-kubernetes-int-or-string") {
            node.types = Types(Types::INTEGER | Types::STRING);
        }
        node.int32 = format == Some("int32");
        node.preserve_unknown = flag(map, "x-kubernetes-preserve-unknown-fields");
        node.embedded_resource = flag(map, "x-kubernetes-embedded-resource");
        if let Some(props) = map.get("properties").and_then(Value::as_object) {
            let mut compiled = HashMap::with_capacity(props.len());
            for (k, v) in props {
                compiled.insert(k.clone(), self.child(v, depth)?);
            }
            node.properties = Some(compiled);
        }
        node.required = strings(map.get("required"));
        node.extra = match map.get("additionalProperties") {
            Some(Value::Bool(false)) => Some(Extra::Closed),
            Some(Value::Bool(true)) => Some(Extra::Open),
            Some(schema @ Value::Object(_)) => Some(Extra::Schema(self.child(schema, depth)?)),
            _ => None,
        };
        if let Some(items) = map.get("items")
            && items.is_object()
        {
            node.items = Some(self.child(items, depth)?);
        }
        node.enumeration = map.get("enum").and_then(Value::as_array).cloned();
        if let Some(pattern) = map.get("pattern").and_then(Value::as_str) {
            node.pattern =
                Some(
                    Regex::new(pattern).map_err(|source| CompileError::BadPattern {
                        pattern: pattern.to_string(),
                        source: Box::new(source),
                    })?,
                );
        }
        node.minimum = bound(map, "minimum", "exclusiveMinimum");
        node.maximum = bound(map, "maximum", "exclusiveMaximum");
        node.min_length = map.get("minLength").and_then(Value::as_u64);
        node.max_length = map.get("maxLength").and_then(Value::as_u64);
        node.min_items = map.get("minItems").and_then(Value::as_u64);
        node.max_items = map.get("maxItems").and_then(Value::as_u64);
        node.unique_items = flag(map, "uniqueItems");
        for (key, target) in [
            ("oneOf", &mut node.one_of),
            ("anyOf", &mut node.any_of),
            ("allOf", &mut node.all_of),
        ] {
            if let Some(branches) = map.get(key).and_then(Value::as_array) {
                for b in branches {
                    let id = self.child(b, depth)?;
                    target.push(id);
                }
            }
        }
        // `oneOf: [{type: string}, {type: number}]` (Quantity) is a type union.
        if node.types.0 == 0 && !node.one_of.is_empty() {
            let simple: Option<u8> = node.one_of.iter().try_fold(0u8, |acc, id| {
                let b = self.node(*id);
                (b.is_type_only() && b.types.0 != 0).then_some(acc | b.types.0)
            });
            if let Some(types) = simple {
                node.types = Types(types);
                node.one_of.clear();
            }
        }
        if let Some(not) = map.get("not") {
            node.not = Some(self.child(not, depth)?);
        }
        node.list = ListKeys {
            list_type: map
                .get("x-kubernetes-list-type")
                .and_then(Value::as_str)
                .map(str::to_string),
            merge_keys: match map.get("x-kubernetes-list-map-keys") {
                Some(keys) => strings(Some(keys)),
                None => map
                    .get("x-kubernetes-patch-merge-key")
                    .and_then(Value::as_str)
                    .map(|k| vec![k.to_string()])
                    .unwrap_or_default(),
            },
        };
        Ok(node)
    }

    /// List semantics of the array at `path` (segments of property names;
    /// list indices are skipped) below `root`.
    pub fn list_keys(&self, root: NodeId, path: &[&str]) -> Option<&ListKeys> {
        let mut id = self.resolve(root);
        for seg in path {
            let node = self.node(id);
            if let Some(items) = node.items {
                // Into the list's items, whether or not the path has an index.
                id = self.resolve(items);
                if seg.parse::<usize>().is_ok() {
                    continue;
                }
            }
            id = self.resolve(self.property(id, seg)?);
        }
        let node = self.node(id);
        node.items.map(|_| &node.list)
    }

    /// Follows `$ref`s to the node that holds the content; list and merge
    /// keys on a referring node win over the definition's.
    fn resolve(&self, mut id: NodeId) -> NodeId {
        for _ in 0..64 {
            let node = self.node(id);
            match node.reference {
                Some(target) if node.properties.is_none() && node.items.is_none() => id = target,
                _ => break,
            }
        }
        id
    }

    fn property(&self, id: NodeId, name: &str) -> Option<NodeId> {
        let node = self.node(id);
        if let Some(p) = node.properties.as_ref().and_then(|p| p.get(name)) {
            return Some(*p);
        }
        match node.reference {
            Some(r) => self.property(r, name),
            None => match node.extra {
                Some(Extra::Schema(s)) => Some(s),
                _ => None,
            },
        }
    }

    /// Checks `value` against the node `root`, appending findings (at most
    /// `limit` in total) to `out`.
    pub fn validate(&self, root: NodeId, value: &Value, out: &mut Vec<Finding>, limit: usize) {
        self.validate_skipping(root, value, &[], out, limit);
    }

    /// Checks `value` against `root` with the fields of the root object
    /// named in `skip` left alone (a custom resource's `apiVersion`, `kind`
    /// and `metadata`, which are checked elsewhere).
    pub fn validate_skipping(
        &self,
        root: NodeId,
        value: &Value,
        skip: &[&str],
        out: &mut Vec<Finding>,
        limit: usize,
    ) {
        let mut walker = Walker {
            set: self,
            path: String::new(),
            out,
            limit,
            skip_root: skip,
            closing: true,
        };
        walker.walk(root, value, 0);
    }
}

impl Node {
    fn is_type_only(&self) -> bool {
        self.reference.is_none()
            && self.properties.is_none()
            && self.items.is_none()
            && self.enumeration.is_none()
            && self.pattern.is_none()
            && self.one_of.is_empty()
            && self.any_of.is_empty()
            && self.all_of.is_empty()
    }
}

fn flag(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `(limit, exclusive)` from OpenAPI v3.0's `minimum` + boolean
/// `exclusiveMinimum` (or the numeric 2020-12 form).
fn bound(map: &Map<String, Value>, key: &str, exclusive: &str) -> Option<(f64, bool)> {
    match (map.get(key).and_then(Value::as_f64), map.get(exclusive)) {
        (Some(v), Some(Value::Bool(e))) => Some((v, *e)),
        (Some(v), _) => Some((v, false)),
        (None, Some(Value::Number(n))) => n.as_f64().map(|v| (v, true)),
        _ => None,
    }
}

/// What is wrong at one place of an object.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A field the schema does not declare; `known` are the declared ones.
    UnknownField {
        known: Vec<String>,
    },
    WrongType {
        expected: String,
        found: &'static str,
    },
    /// A required field is missing; the pointer is the object's.
    MissingField {
        name: String,
    },
    NotAllowed {
        allowed: Vec<Value>,
    },
    /// A constraint on the value (pattern, range, length...), described.
    Constraint {
        expected: String,
    },
    /// None (or several) of `oneOf`/`anyOf` alternatives match.
    Alternatives {
        expected: String,
    },
}

/// A problem and where it is: a JSON pointer into the object
/// (`/spec/replicas`); for unknown fields, the pointer names the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub pointer: String,
    pub problem: Problem,
}

struct Walker<'s, 'o> {
    set: &'s SchemaSet,
    path: String,
    out: &'o mut Vec<Finding>,
    limit: usize,
    /// Fields of the root object not checked here.
    skip_root: &'s [&'s str],
    /// Whether undeclared properties are errors; they are not inside
    /// `oneOf`/`anyOf`/`allOf`/`not` branches, which only constrain.
    closing: bool,
}

impl<'s, 'o> Walker<'s, 'o> {
    fn report(&mut self, pointer: String, problem: Problem) {
        if self.out.len() < self.limit {
            self.out.push(Finding { pointer, problem });
        }
    }

    fn full(&self) -> bool {
        self.out.len() >= self.limit
    }

    fn walk(&mut self, id: NodeId, value: &Value, depth: usize) {
        if value.is_null() || self.full() || depth > MAX_SCHEMA_DEPTH {
            return;
        }
        let set = self.set;
        let node = set.node(id);
        if let Some(r) = node.reference {
            self.walk(r, value, depth + 1);
        }
        if !node.types.accepts(value) {
            let expected = node.types.describe();
            let found = describe_value(value);
            self.report(self.path.clone(), Problem::WrongType { expected, found });
            return;
        }
        if let Some(allowed) = &node.enumeration
            && !allowed.contains(value)
        {
            self.report(
                self.path.clone(),
                Problem::NotAllowed {
                    allowed: allowed.clone(),
                },
            );
        }
        match value {
            Value::Object(map) => self.walk_object(node, map, depth),
            Value::Array(items) => self.walk_array(node, items, depth),
            Value::String(s) => self.check_string(node, s),
            Value::Number(n) => self.check_number(node, n),
            _ => {}
        }
        self.check_alternatives(node, value, depth);
    }

    fn walk_object(&mut self, node: &'s Node, map: &Map<String, Value>, depth: usize) {
        let at_root = self.path.is_empty();
        for name in &node.required {
            if map.get(name).is_none_or(Value::is_null)
                && !(at_root && self.skip_root.contains(&name.as_str()))
            {
                self.report(
                    self.path.clone(),
                    Problem::MissingField { name: name.clone() },
                );
            }
        }
        let extra = match node.extra {
            Some(extra) => extra,
            None if node.preserve_unknown => Extra::Open,
            None if node.properties.is_some() => Extra::Closed,
            None if node.reference.is_some() => Extra::Open,
            None => match self.set.dialect {
                Dialect::BuiltIn => Extra::Open,
                Dialect::Crd if node.types.0 == 0 => Extra::Open,
                Dialect::Crd => Extra::Closed,
            },
        };
        let extra = if node.preserve_unknown && extra == Extra::Closed {
            Extra::Open
        } else {
            extra
        };
        for (key, child) in map {
            if self.full() {
                return;
            }
            if at_root && self.skip_root.contains(&key.as_str()) {
                continue;
            }
            let len = self.path.len();
            push_pointer(&mut self.path, key);
            match node.properties.as_ref().and_then(|p| p.get(key)) {
                Some(&child_id) => self.walk(child_id, child, depth + 1),
                None => match extra {
                    Extra::Schema(s) => self.walk(s, child, depth + 1),
                    Extra::Open => {}
                    Extra::Closed => {
                        let embedded_meta = node.embedded_resource
                            && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                        if self.closing && !embedded_meta && node.reference.is_none() {
                            let mut known: Vec<String> = node
                                .properties
                                .as_ref()
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default();
                            known.sort_unstable();
                            self.report(self.path.clone(), Problem::UnknownField { known });
                        }
                    }
                },
            }
            self.path.truncate(len);
        }
    }

    fn walk_array(&mut self, node: &'s Node, items: &[Value], depth: usize) {
        if let Some(min) = node.min_items
            && (items.len() as u64) < min
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("at least {min} item(s)"),
                },
            );
        }
        if let Some(max) = node.max_items
            && (items.len() as u64) > max
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("at most {max} item(s)"),
                },
            );
        }
        if node.unique_items
            && items
                .iter()
                .enumerate()
                .any(|(i, v)| items[..i].contains(v))
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: "items that are all different".into(),
                },
            );
        }
        if let Some(item_id) = node.items {
            for (i, item) in items.iter().enumerate() {
                if self.full() {
                    return;
                }
                let len = self.path.len();
                let _ = write!(self.path, "/{i}");
                self.walk(item_id, item, depth + 1);
                self.path.truncate(len);
            }
        }
    }

    fn check_string(&mut self, node: &Node, s: &str) {
        if let Some(re) = &node.pattern
            && !re.is_match(s)
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("a string matching `{}`", re.as_str()),
                },
            );
        }
        let len = s.chars().count() as u64;
        if let Some(min) = node.min_length
            && len < min
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("at least {min} character(s)"),
                },
            );
        }
        if let Some(max) = node.max_length
            && len > max
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("at most {max} character(s)"),
                },
            );
        }
    }

    fn check_number(&mut self, node: &Node, n: &serde_json::Number) {
        let Some(v) = n.as_f64() else { return };
        if node.int32 && (n.is_i64() || n.is_u64()) && !(-2147483648.0..=2147483647.0).contains(&v)
        {
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: "a 32-bit integer".into(),
                },
            );
        }
        if let Some((min, exclusive)) = node.minimum
            && (v < min || (exclusive && v == min))
        {
            let op = if exclusive { "above" } else { "at least" };
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("a number {op} {min}"),
                },
            );
        }
        if let Some((max, exclusive)) = node.maximum
            && (v > max || (exclusive && v == max))
        {
            let op = if exclusive { "below" } else { "at most" };
            self.report(
                self.path.clone(),
                Problem::Constraint {
                    expected: format!("a number {op} {max}"),
                },
            );
        }
    }

    /// `oneOf`, `anyOf`, `allOf`, `not`: branches only constrain, so they
    /// are checked without the unknown-field rule, and reported as one
    /// finding at the value.
    fn check_alternatives(&mut self, node: &Node, value: &Value, depth: usize) {
        if node.one_of.is_empty()
            && node.any_of.is_empty()
            && node.all_of.is_empty()
            && node.not.is_none()
        {
            return;
        }
        let passes = |walker: &Self, id: NodeId| {
            let mut scratch = Vec::new();
            let mut sub = Walker {
                set: walker.set,
                path: walker.path.clone(),
                out: &mut scratch,
                limit: 1,
                skip_root: &[],
                closing: false,
            };
            sub.walk(id, value, depth + 1);
            scratch.is_empty()
        };
        if !node.one_of.is_empty() {
            let matching = node.one_of.iter().filter(|id| passes(self, **id)).count();
            if matching != 1 {
                let expected = if matching == 0 {
                    "a value matching exactly one of the allowed forms".to_string()
                } else {
                    format!("a value matching exactly one of the allowed forms, not {matching}")
                };
                self.report(self.path.clone(), Problem::Alternatives { expected });
            }
        }
        if !node.any_of.is_empty() && !node.any_of.iter().any(|id| passes(self, *id)) {
            self.report(
                self.path.clone(),
                Problem::Alternatives {
                    expected: "a value matching at least one of the allowed forms".into(),
                },
            );
        }
        for id in &node.all_of {
            let mut scratch = Vec::new();
            let mut sub = Walker {
                set: self.set,
                path: self.path.clone(),
                out: &mut scratch,
                limit: self.limit.saturating_sub(self.out.len()),
                skip_root: &[],
                closing: false,
            };
            sub.walk(*id, value, depth + 1);
            for f in scratch {
                self.report(f.pointer, f.problem);
            }
        }
        if let Some(not) = node.not
            && passes(self, not)
        {
            self.report(
                self.path.clone(),
                Problem::Alternatives {
                    expected: "a value that does not match the excluded form".into(),
                },
            );
        }
    }
}

/// Appends `/key` to a JSON pointer, escaping `~` and `/`.
pub fn push_pointer(path: &mut String, key: &str) {
    path.push('/');
    for c in key.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            c => path.push(c),
        }
    }
}
