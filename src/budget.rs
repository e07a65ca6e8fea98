//! The work budget of one run: a config repo is untrusted input, so every
//! stage after reading files (YAML loading, values, `valuesFrom`, objects,
//! patches, chart output) charges what it builds to one [`Budget`] before
//! building it, and stops the moment the run would pass it.
//!
//! Work is counted in *nodes*: every mapping, sequence and scalar built or
//! copied, a string weighing one more node per [`BYTES_PER_NODE`] bytes
//! ([`weight`]), the unit the YAML loader's alias budget uses. Nodes are
//! what memory and time grow with: a run within the default budget stays
//! well under 200 MB. A repo that needs more is refused with a finding that
//! names where it passed the budget, the limit, and the flag that raises it
//! (`--max-nodes`); the repo itself can never raise it.
//!
//! `helm template` is bounded the same way, per chart: [`Limits::helm_timeout`],
//! [`Limits::max_helm_output`] and [`Limits::max_helm_memory`], past which
//! helm is stopped.
//!
//! The budget is shared by threads (files parse in parallel): charges are
//! atomic, and the first charge past the limit is the one reported
//! ([`Budget::first_report`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic};

/// A string weighs one node, plus one per this many bytes.
pub const BYTES_PER_NODE: usize = 64;

/// Default of [`Limits::max_nodes`].
pub const DEFAULT_MAX_NODES: u64 = 1_000_000;
/// Default of [`Limits::helm_timeout`].
pub const DEFAULT_HELM_TIMEOUT: Duration = Duration::from_secs(4);
/// Default of [`Limits::max_helm_output`].
pub const DEFAULT_MAX_HELM_OUTPUT: u64 = 32 * 1024 * 1024;
/// Default of [`Limits::max_helm_memory`].
pub const DEFAULT_MAX_HELM_MEMORY: u64 = 128 * 1024 * 1024;

/// The flag that raises [`Limits::max_nodes`], as findings name it.
pub const MAX_NODES_FLAG: &str = "--max-nodes";
/// The flag that raises [`Limits::helm_timeout`].
pub const HELM_TIMEOUT_FLAG: &str = "--helm-timeout";
/// The flag that raises [`Limits::max_helm_output`].
pub const MAX_HELM_OUTPUT_FLAG: &str = "--max-helm-output";
/// The flag that raises [`Limits::max_helm_memory`].
pub const MAX_HELM_MEMORY_FLAG: &str = "--max-helm-memory";

/// What one run may cost. Set by whoever runs weir (flags), never by the
/// repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most nodes one run builds: loaded documents (aliases expanded),
    /// values, rendered objects and what patches add (default 1,000,000).
    pub max_nodes: u64,
    /// Longest one `helm template` may run before it is killed (default 4 s).
    pub helm_timeout: Duration,
    /// Most bytes one `helm template` may write before it is killed
    /// (default 32 MiB).
    pub max_helm_output: u64,
    /// Most memory (its data segment, `RLIMIT_DATA`) one `helm template`
    /// may take (default 128 MiB): helm builds its whole output in memory
    /// before it writes any, so only this stops a chart that renders
    /// gigabytes before the time limit does. Linux only.
    pub max_helm_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_nodes: DEFAULT_MAX_NODES,
            helm_timeout: DEFAULT_HELM_TIMEOUT,
            max_helm_output: DEFAULT_MAX_HELM_OUTPUT,
            max_helm_memory: DEFAULT_MAX_HELM_MEMORY,
        }
    }
}

/// The run passed its budget (see [`Budget::charge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this would take the run past weir's budget of {limit} nodes")]
pub struct Exhausted {
    /// The limit that was passed.
    pub limit: u64,
}

impl Exhausted {
    /// The finding, with `code`: `what` (e.g. "patch 0 of component `web`
    /// on ConfigMap web/c") would pass the budget; the hint names the flag.
    pub fn diagnostic(&self, code: Code, what: &str) -> Diagnostic {
        Diagnostic::error(
            code,
            format!(
                "{what} would take the run past weir's budget of {} nodes of values and \
                 objects, so weir stopped there",
                group_digits(self.limit)
            ),
        )
        .with_hint(format!(
            "if the repo really is this large, raise the budget where weir runs \
             ({MAX_NODES_FLAG} N on weir validate, plan, render, diff, sync and agent); \
             a repo cannot raise it. Output that grows exponentially (patches copying \
             into themselves, valuesFrom copying all values twice) never fits"
        ))
    }
}

/// The work budget of one run; see the module documentation.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    used: AtomicU64,
    exhausted: AtomicBool,
    reported: AtomicBool,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            used: AtomicU64::new(0),
            exhausted: AtomicBool::new(false),
            reported: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Nodes charged so far (never more than the limit).
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Nodes that may still be charged.
    pub fn remaining(&self) -> u64 {
        self.limits.max_nodes.saturating_sub(self.used())
    }

    /// Whether a charge has failed: nothing more should be built.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Charges `nodes` about to be built. `Err` when they would take the
    /// run past its limit (and on every charge after that): the caller
    /// must not build them.
    pub fn charge(&self, nodes: u64) -> Result<(), Exhausted> {
        let exhausted = Exhausted {
            limit: self.limits.max_nodes,
        };
        if self.is_exhausted() {
            return Err(exhausted);
        }
        let max = self.limits.max_nodes;
        let charged = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(nodes).filter(|total| *total <= max)
            });
        if charged.is_err() {
            self.exhausted.store(true, Ordering::Relaxed);
            return Err(exhausted);
        }
        Ok(())
    }

    /// Charges the [`weight`] of `value`, about to be copied.
    pub fn charge_value(&self, value: &Value) -> Result<(), Exhausted> {
        // One past what is left is enough to know it does not fit.
        self.charge(weight(value, self.remaining().saturating_add(1)))
    }

    /// True exactly once, for the first caller whose charge failed: only
    /// that one reports it, the others stop quietly.
    pub fn first_report(&self) -> bool {
        !self.reported.swap(true, Ordering::Relaxed)
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// The weight of a scalar string of `len` bytes.
pub fn string_weight(len: usize) -> u64 {
    1 + (len / BYTES_PER_NODE) as u64
}

/// Nodes of `value` (map keys count as strings), counting stopped once
/// past `cap`, so weighing a huge value costs no more than the budget left.
/// Iterative: no recursion on the value's shape.
pub fn weight(value: &Value, cap: u64) -> u64 {
    let mut total: u64 = 0;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        total = total.saturating_add(match v {
            Value::String(s) => string_weight(s.len()),
            Value::Array(items) => {
                pending.extend(items.iter());
                1
            }
            Value::Object(map) => {
                let keys: u64 = map.keys().map(|k| string_weight(k.len())).sum();
                pending.extend(map.values());
                1 + keys
            }
            _ => 1,
        });
        if total > cap {
            break;
        }
    }
    total
}

/// `2000000` → `2,000,000`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn weighs_nodes_and_string_bytes() {
        assert_eq!(weight(&json!(1), u64::MAX), 1);
        assert_eq!(weight(&json!("x".repeat(130)), u64::MAX), 3);
        // map, key "a", value [1, 2]: 1 + 1 + (1 + 2)
        assert_eq!(weight(&json!({"a": [1, 2]}), u64::MAX), 5);
        assert!(
            weight(&json!([1, 2, 3, 4, 5, 6]), 2) <= 3,
            "stops past the cap"
        );
    }

    #[test]
    fn charges_until_the_limit_then_refuses_everything() {
        let budget = Budget::new(Limits {
            max_nodes: 10,
            ..Limits::default()
        });
        assert!(budget.charge(6).is_ok());
        assert!(budget.charge(4).is_ok());
        assert_eq!(budget.remaining(), 0);
        assert_eq!(budget.charge(1), Err(Exhausted { limit: 10 }));
        assert!(budget.is_exhausted());
        assert!(budget.charge(0).is_err(), "nothing more after exhaustion");
        assert!(budget.first_report());
        assert!(!budget.first_report());
        assert!(budget.charge(u64::MAX).is_err(), "no overflow");
    }

    #[test]
    fn the_finding_names_the_limit_and_the_flag() {
        let d = Exhausted { limit: 2_000_000 }.diagnostic(Code("E0215"), "patch 0 of `web`");
        assert!(d.message.contains("2,000,000 nodes"), "{}", d.message);
        assert!(d.hint.unwrap().contains("--max-nodes"));
    }

    #[test]
    fn digits_are_grouped() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(2_000_000), "2,000,000");
    }
}
