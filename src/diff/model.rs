//! The diff's input — two [`Side`]s of rendered objects and weir documents —
//! and its output, the [`Report`].
//!
//! The input is deliberately small and owned by this module, so that the
//! engine does not depend on how the render stage or the cluster reader
//! produce objects: each of them converts into a [`Side`] (see
//! [`Side::push_rendered`] for the shape of the conversion from rendered
//! objects). The [`Report`] is what every output format prints; its
//! serde form *is* the stable `--output json` schema (see README, "weir diff
//! --output json").

use serde::Serialize;
use serde_json::Value;

use crate::object::ObjectRef;

/// One rendered Kubernetes object of a side.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffObject {
    pub id: ObjectRef,
    /// The component that renders it.
    pub component: String,
    /// The wave it is applied in.
    pub wave: u32,
    /// Repo-relative file it came from, when it came from one.
    pub file: Option<String>,
    /// Remarks the producer of the side wants shown with the object, e.g.
    /// "the CRD of this kind is not installed yet".
    pub notes: Vec<String>,
    /// The object as it would be applied (or, on the live side, as it is).
    pub value: Value,
}

/// Which rendered objects a weir document governs: a change to the document
/// that changes none of them is reported as such.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The objects rendered by this component.
    Component(String),
    /// Every rendered object (`weir.yaml`).
    All,
}

/// One of weir's own documents (`Repository`, `Component`, `Workload`).
#[derive(Debug, Clone, PartialEq)]
pub struct WeirDoc {
    /// Repo-relative file.
    pub file: String,
    pub scope: Scope,
    pub value: Value,
}

impl WeirDoc {
    /// A weir document with the scope weir gives its kind: a `Repository`
    /// governs everything, a `Component` its own objects, and a `Workload`
    /// the objects of the component named after it (the render stage puts
    /// each workload in a component of its own name).
    pub fn new(file: impl Into<String>, value: Value) -> Self {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let scope = match kind {
            "Repository" => Scope::All,
            _ => Scope::Component(name.to_owned()),
        };
        Self {
            file: file.into(),
            scope,
            value,
        }
    }
}

/// Everything one revision (or the cluster) holds: the input of
/// [`diff`](super::diff).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Side {
    pub objects: Vec<DiffObject>,
    pub weir_docs: Vec<WeirDoc>,
    /// The remote charts each component was rendered from, as the
    /// pipeline resolved them; `None` where that is not known (the live
    /// cluster).
    pub charts: Option<std::collections::BTreeMap<String, Vec<crate::render::Resolved>>>,
}

impl Side {
    /// A revision's side: its rendered objects (each one
    /// [`push_rendered`](Self::push_rendered)) and its weir documents.
    pub fn of_revision(
        objects: Vec<crate::render::RenderedObject>,
        weir_docs: Vec<WeirDoc>,
    ) -> Self {
        let mut side = Side {
            objects: Vec::with_capacity(objects.len()),
            weir_docs,
            charts: None,
        };
        for o in objects {
            side.push_rendered(
                o.id,
                o.component,
                o.wave.unwrap_or(0),
                Some(o.source_file),
                o.value,
            );
        }
        side
    }

    /// Adds one rendered object. This is the whole adapter from the render
    /// stage: each `RenderedObject { component, source_file, id, value,
    /// wave }` becomes one [`DiffObject`] with the same fields, and each of
    /// the repo's weir documents becomes a [`WeirDoc::new`].
    pub fn push_rendered(
        &mut self,
        id: ObjectRef,
        component: impl Into<String>,
        wave: u32,
        file: Option<String>,
        value: Value,
    ) {
        self.objects.push(DiffObject {
            id,
            component: component.into(),
            wave,
            file,
            notes: Vec::new(),
            value,
        });
    }
}

// -------------------------------------------------------------------- output

/// What happened to an object, a field or a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Removed,
}

impl Change {
    /// The one-character marker of text output: `+`, `~`, `-`.
    pub fn sigil(self) -> char {
        match self {
            Change::Added => '+',
            Change::Changed => '~',
            Change::Removed => '-',
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Changed => "changed",
            Change::Removed => "removed",
        }
    }
}

/// One changed field of an object, at a path such as
/// `spec.template.spec.containers[name=api].image`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub path: String,
    pub change: Change,
    /// The value before; absent when added or redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after; absent when removed or redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// True when the values are a secret's and are never shown.
    pub redacted: bool,
}

/// A rendered object that was added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDiff {
    pub change: Change,
    /// The head's identity (the base's for a removal).
    pub id: ObjectRef,
    /// The base's `apiVersion` when it differs from the head's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_api_version: Option<String>,
    pub component: String,
    pub wave: u32,
    pub file: Option<String>,
    pub notes: Vec<String>,
    /// Changed fields; for an added or removed object, empty.
    pub fields: Vec<FieldChange>,
    /// Unified diff of the normalised, redacted YAML of both sides.
    pub diff: String,
}

/// Counts of one component in one wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummary {
    pub wave: u32,
    pub component: String,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
}

/// The totals at the top of every output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Weir documents added, changed or removed.
    pub weir_documents: usize,
    /// Per wave and component, in apply order; only groups with changes.
    pub groups: Vec<GroupSummary>,
}

/// A weir document (Repository, Component, Workload) added, removed or
/// changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WeirDocDiff {
    pub change: Change,
    pub kind: String,
    pub name: String,
    pub file: String,
    pub fields: Vec<FieldChange>,
    /// Whether any rendered object it governs was added, changed or
    /// removed. `false` means the change is visible only in weir's
    /// behaviour (waves, health gates, hooks, pruning), not in the objects.
    pub changes_rendered_objects: bool,
}

impl WeirDocDiff {
    /// What the change does to the cluster, in words.
    pub fn effect(&self) -> &'static str {
        if self.changes_rendered_objects {
            "changes rendered objects"
        } else {
            "no change to rendered objects"
        }
    }
}

/// What happened to a remote chart between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartChange {
    Added,
    /// Another version or digest.
    Changed,
    Removed,
    Unchanged,
}

/// A remote chart a component is rendered from, on each side: the exact
/// version and digest the pipeline resolved (every chart of the head, and
/// of the base, is listed, changed or not, so a reviewer sees what a range
/// resolved to).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChartDiff {
    pub component: String,
    pub change: ChartChange,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<crate::render::Resolved>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub head: Option<crate::render::Resolved>,
}

/// The result of a diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub summary: Summary,
    /// Changed objects in apply order (wave, component, kind, namespace,
    /// name).
    pub objects: Vec<ObjectDiff>,
    pub weir_documents: Vec<WeirDocDiff>,
    /// The remote charts of both sides, by component.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ChartDiff>,
}

impl Report {
    /// True when anything — a rendered object or a weir document — differs.
    pub fn has_differences(&self) -> bool {
        !self.objects.is_empty() || !self.weir_documents.is_empty()
    }
}
