//! The config-repo model: weir's own kinds ([`model`]), YAML documents that
//! remember where they came from ([`yaml`]), and the assembled repository
//! ([`repo`]) that validation, rendering and planning work on.

pub mod model;
pub mod repo;
pub mod yaml;
