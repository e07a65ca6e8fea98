//! Codes of validation findings (E01xx errors, W01xx warnings). Codes never
//! change meaning; README's table of diagnostics lists them.

use crate::diagnostic::Code;

/// A field the schema does not declare (a typo, or a field of another
/// kind or version).
pub const UNKNOWN_FIELD: Code = Code("E0101");
/// A value of the wrong type (a string where a number belongs, ...).
pub const WRONG_TYPE: Code = Code("E0102");
/// A required field is missing.
pub const MISSING_FIELD: Code = Code("E0103");
/// A value the schema does not allow: not one of an enum, not matching a
/// pattern, out of range, too long or too short.
pub const BAD_VALUE: Code = Code("E0104");
/// None, or more than one, of mutually exclusive alternatives is given
/// (e.g. a component's `source` needs exactly one of `path` or `helm`).
pub const ALTERNATIVES: Code = Code("E0105");
/// A document that is not a Kubernetes object: not a mapping, or without
/// `apiVersion` or `kind`.
pub const NOT_AN_OBJECT: Code = Code("E0106");
/// A built-in kind at an `apiVersion` the pinned Kubernetes version does
/// not serve, or a kind its group does not have.
pub const UNKNOWN_BUILTIN_KIND: Code = Code("E0107");
/// A CustomResourceDefinition whose schema cannot be used.
pub const BAD_CRD: Code = Code("E0108");
/// An object without `metadata.name` (or `generateName`).
pub const MISSING_NAME: Code = Code("E0109");
/// The same object (group, kind, namespace, name) defined twice.
pub const DUPLICATE_OBJECT: Code = Code("E0110");
/// `dependsOn` names no component or workload of the repo.
pub const UNKNOWN_DEPENDENCY: Code = Code("E0111");
/// A placement names a node pool `weir.yaml` does not define.
pub const UNKNOWN_POOL: Code = Code("E0112");
/// A wave name that `weir.yaml`'s `waves` does not list.
pub const UNKNOWN_WAVE: Code = Code("E0113");
/// `valuesFrom` names no component of the repo.
pub const UNKNOWN_VALUES_SOURCE: Code = Code("E0114");
/// A custom resource at a version its CRD does not serve.
pub const UNSERVED_VERSION: Code = Code("E0115");
/// weir itself is broken (its embedded schemas do not load); please report.
pub const INTERNAL: Code = Code("E0199");

/// A custom resource whose kind has no schema anywhere (no CRD in the repo
/// defines it); an error with `--strict`.
pub const NO_SCHEMA: Code = Code("W0101");
/// A namespaced object in a namespace that the repo does not create and
/// that is not its component's target namespace.
pub const UNDEFINED_NAMESPACE: Code = Code("W0102");
/// The repo's Helm charts could not be rendered (no `helm` binary): the
/// objects they render, and the custom resources their CRDs define, were
/// not checked. An error with `--strict`.
pub const NOT_RENDERED: Code = Code("W0103");
