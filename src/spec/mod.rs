//! The config-repo model: loading every YAML document with its file and
//! position (`yaml`), and weir's own kinds.

pub mod yaml;
