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
// E0110–E0114 are retired: the rules about the repo as a whole have one
// home each, where rendering and planning need them, and are reported with
// those stages' codes (objects defined twice E0405, `dependsOn` E0402,
// node pools E0210, wave names E0401, `valuesFrom` E0204). Their numbers
// are never reused.
/// A custom resource at a version its CRD does not serve.
pub const UNSERVED_VERSION: Code = Code("E0115");
/// A SOPS-encrypted file whose `sops` block weir cannot decrypt with an
/// age key: not a mapping, no age recipient, no `mac` or `lastmodified`,
/// or another key source (KMS, PGP, Vault, key groups).
pub const SOPS_METADATA: Code = Code("E0120");
/// A value of `data` or `stringData` in clear in a SOPS-encrypted file: it
/// would be committed unencrypted.
pub const PLAINTEXT_IN_ENCRYPTED: Code = Code("E0121");
/// A SOPS-encrypted file with a field outside `data` and `stringData`
/// encrypted: weir validates and plans objects without the key.
pub const ENCRYPTED_OUTSIDE_VALUES: Code = Code("E0122");
/// weir itself is broken (its embedded schemas do not load); please report.
pub const INTERNAL: Code = Code("E0199");

/// A custom resource whose kind has no schema anywhere (no CRD in the repo
/// defines it); an error with `--strict`.
pub const NO_SCHEMA: Code = Code("W0101");
// W0102 (a namespace nobody creates) is reported by rendering, with the
// same code: `render::codes::UNDEFINED_NAMESPACE`.
/// The repo's Helm charts could not be rendered (no `helm` binary): the
/// objects they render, and the custom resources their CRDs define, were
/// not checked. An error with `--strict`.
pub const NOT_RENDERED: Code = Code("W0103");
