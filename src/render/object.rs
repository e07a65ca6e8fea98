//! The values rendering produces: [`RenderedObject`] (one Kubernetes object
//! with the unit it belongs to and the file it came from), its identity
//! [`ObjectRef`], [`RenderedHook`] (and [`DroppedHook`], a hook no sync
//! runs), the plan [`Unit`]s, and the labels and annotation weir puts on
//! everything it renders.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::hooks::{DeletePolicy, HookOrigin};
use crate::diagnostic::Span;
use crate::spec::model::{ComponentPrune, Health, HookPhase, Selector, WaveRef};

/// Label that marks an object as managed by weir (value [`MANAGED_BY`]).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY: &str = "weir";
/// Label holding the name of the component (or workload) an object belongs to.
pub const COMPONENT_LABEL: &str = "weir.dev/component";
/// Annotation holding the repo-relative file an object was rendered from.
pub const SOURCE_ANNOTATION: &str = "weir.dev/source";

use crate::object::ObjectRef;

/// One object weir will apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedObject {
    /// The unit (component or workload) it belongs to; also the value of
    /// its [`COMPONENT_LABEL`].
    pub component: String,
    /// Repo-relative file it was rendered from (a manifest, a chart
    /// template, a Workload), also its [`SOURCE_ANNOTATION`].
    pub source_file: String,
    /// Where in `source_file`, when known.
    #[serde(skip)]
    pub source_span: Option<Span>,
    /// Its id after namespace defaulting and patches; always agrees with
    /// `value`.
    pub id: ObjectRef,
    /// The full object as it will be applied.
    pub value: Value,
    /// The wave it is applied in; set by `plan`.
    pub wave: Option<u32>,
    /// True for a Namespace weir adds for a unit's target namespace
    /// (`createNamespace`); `plan` keeps one per namespace.
    #[serde(skip)]
    pub implied: bool,
}

impl RenderedObject {
    /// The object's `metadata.labels` (empty when it has none).
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.value
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
    }

    /// Whether `selector` picks this object ([`Selector::matches`]).
    pub fn selected_by(&self, selector: &Selector) -> bool {
        selector.matches(&self.id, self.value.pointer("/metadata/labels"))
    }

    /// Sets `metadata.namespace` (or removes it) in both `value` and `id`.
    pub(crate) fn set_namespace(&mut self, namespace: Option<&str>) {
        self.id.namespace = namespace.map(str::to_owned);
        if let Some(meta) = metadata_mut(&mut self.value) {
            match namespace {
                Some(ns) => {
                    meta.insert("namespace".into(), Value::String(ns.to_owned()));
                }
                None => {
                    meta.remove("namespace");
                }
            }
        }
    }

    /// Puts weir's tracking labels and annotation on the object.
    pub(crate) fn track(&mut self) {
        let component = self.component.clone();
        let source = self.source_file.clone();
        if let Some(meta) = metadata_mut(&mut self.value) {
            if let Some(labels) = sub_object(meta, "labels") {
                labels.insert(MANAGED_BY_LABEL.into(), Value::String(MANAGED_BY.into()));
                labels.insert(COMPONENT_LABEL.into(), Value::String(component));
            }
            if let Some(annotations) = sub_object(meta, "annotations") {
                annotations.insert(SOURCE_ANNOTATION.into(), Value::String(source));
            }
        }
    }
}

/// `metadata` of an object as a mutable map, created when absent.
pub(crate) fn metadata_mut(value: &mut Value) -> Option<&mut Map<String, Value>> {
    sub_object(value.as_object_mut()?, "metadata")
}

/// The map under `key`, created (or replacing a non-map) when needed.
/// `None` never happens in practice; it keeps the code free of panics.
pub(crate) fn sub_object<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

/// An object run at a point of a component's sync (a Job, or any object a
/// Helm or Argo CD hook annotation makes a hook), kept apart from the
/// objects the component applies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderedHook {
    pub component: String,
    /// The hook's name in the Component; for a hook from annotations, its
    /// object's name (or `generateName`).
    pub name: String,
    pub phase: HookPhase,
    pub delete: DeletePolicy,
    /// Hooks of a phase run by weight (ascending), then kind order, then
    /// name; a Component's own hooks weigh 0 and keep their order.
    pub weight: i64,
    pub origin: HookOrigin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The object, namespaced and tracked like any rendered object.
    pub object: RenderedObject,
}

/// An object whose hook annotations name only phases a sync never reaches
/// (Helm's `test`, delete and rollback hooks; Argo CD's `Skip` and
/// `PostDelete`): not applied, and listed by `plan`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DroppedHook {
    pub component: String,
    pub object: ObjectRef,
    /// The annotation that makes it one, as written (`helm.sh/hook: test`).
    pub annotation: String,
}

/// Whether a plan unit came from a Component or a Workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    Component,
    Workload,
}

impl fmt::Display for UnitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnitKind::Component => "component",
            UnitKind::Workload => "workload",
        })
    }
}

/// A unit of the plan (a component or a workload) and what `plan` needs
/// to know about it to order it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub name: String,
    pub kind: UnitKind,
    /// The file that declares it; `None` for the implicit component.
    pub file: Option<String>,
    pub span: Option<Span>,
    /// Target namespace of its namespaced objects.
    pub namespace: String,
    /// Explicit wave, when given.
    pub wave: Option<WaveRef>,
    pub depends_on: Vec<String>,
    /// Components whose values it reads (`valuesFrom`), in order.
    pub values_from: Vec<String>,
    pub health: Health,
    /// Its Component's pruning rules (`plan` shows what they protect).
    pub prune: ComponentPrune,
}
