//! The config-repo model: which files are loaded ([`filter`]), YAML
//! documents loaded with their file and position ([`yaml`]), weir's own
//! kinds ([`model`]), and the assembled repository ([`repo`]) that
//! validation, rendering and planning work on.

pub mod checks;
pub mod filter;
pub mod model;
pub mod repo;
pub mod yaml;
