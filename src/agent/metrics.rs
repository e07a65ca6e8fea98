//! The agent's Prometheus metrics, served at `/metrics` in the OpenMetrics
//! text format (prometheus-client). Labels name Syncs as
//! `namespace/name`; no label ever holds a URL, credential or token.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `weir_reconcile_duration_seconds` | histogram | `result` |
//! | `weir_reconciles_total` | counter | `sync`, `result` |
//! | `weir_git_fetch_duration_seconds` | histogram | |
//! | `weir_git_fetch_failures_total` | counter | `sync` |
//! | `weir_webhook_requests_total` | counter | `result` |
//! | `weir_managed_objects` | gauge | `sync` |
//! | `weir_drift_corrections_total` | counter | `sync` |
//! | `weir_last_applied_timestamp_seconds` | gauge | `sync` |
//!
//! `result` of a reconcile: `applied`, `unchanged`, `rejected`, `failed`,
//! `healed`; of a webhook: `accepted`, `unauthorized`, `not_found`,
//! `too_large`, `no_webhook`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncLabels {
    sync: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SyncResultLabels {
    sync: String,
    result: String,
}

type HistogramFamily = Family<ResultLabels, Histogram, fn() -> Histogram>;

/// Every metric of the agent, and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    reconcile_duration: HistogramFamily,
    reconciles: Family<SyncResultLabels, Counter>,
    fetch_duration: Histogram,
    fetch_failures: Family<SyncLabels, Counter>,
    webhooks: Family<ResultLabels, Counter>,
    managed: Family<SyncLabels, Gauge>,
    drift: Family<SyncLabels, Counter>,
    last_applied: Family<SyncLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn duration_histogram() -> Histogram {
    // 50 ms to about 55 minutes.
    Histogram::new(exponential_buckets(0.05, 2.0, 17))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("weir");
        let reconcile_duration: HistogramFamily =
            Family::new_with_constructor(duration_histogram as fn() -> Histogram);
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile of a Sync: fetch, check and sync",
            reconcile_duration.clone(),
        );
        let reconciles = Family::<SyncResultLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Reconciles by Sync and outcome",
            reconciles.clone(),
        );
        let fetch_duration = duration_histogram();
        registry.register(
            "git_fetch_duration_seconds",
            "Time of one Git fetch",
            fetch_duration.clone(),
        );
        let fetch_failures = Family::<SyncLabels, Counter>::default();
        registry.register(
            "git_fetch_failures",
            "Git fetches that failed, by Sync",
            fetch_failures.clone(),
        );
        let webhooks = Family::<ResultLabels, Counter>::default();
        registry.register(
            "webhook_requests",
            "Webhook requests by result",
            webhooks.clone(),
        );
        let managed = Family::<SyncLabels, Gauge>::default();
        registry.register(
            "managed_objects",
            "Objects in a Sync's inventory",
            managed.clone(),
        );
        let drift = Family::<SyncLabels, Counter>::default();
        registry.register(
            "drift_corrections",
            "Objects put back after they were changed or deleted by hand",
            drift.clone(),
        );
        let last_applied = Family::<SyncLabels, Gauge>::default();
        registry.register(
            "last_applied_timestamp_seconds",
            "When a Sync last applied a commit wholly and healthy (Unix time)",
            last_applied.clone(),
        );
        Self {
            registry,
            reconcile_duration,
            reconciles,
            fetch_duration,
            fetch_failures,
            webhooks,
            managed,
            drift,
            last_applied,
        }
    }
}

impl Metrics {
    /// One reconcile of `sync` ended with `result` after `seconds`.
    pub fn reconciled(&self, sync: &str, result: &str, seconds: f64) {
        self.reconcile_duration
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .observe(seconds);
        self.reconciles
            .get_or_create(&SyncResultLabels {
                sync: sync.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// A Git fetch took `seconds`; `ok: false` counts a failure of `sync`.
    pub fn fetched(&self, sync: &str, seconds: f64, ok: bool) {
        self.fetch_duration.observe(seconds);
        if !ok {
            self.fetch_failures
                .get_or_create(&SyncLabels {
                    sync: sync.to_owned(),
                })
                .inc();
        }
    }

    pub fn webhook(&self, result: &str) {
        self.webhooks
            .get_or_create(&ResultLabels {
                result: result.to_owned(),
            })
            .inc();
    }

    pub fn managed(&self, sync: &str, objects: u64) {
        self.managed
            .get_or_create(&SyncLabels {
                sync: sync.to_owned(),
            })
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
    }

    pub fn drift_corrected(&self, sync: &str, objects: u64) {
        self.drift
            .get_or_create(&SyncLabels {
                sync: sync.to_owned(),
            })
            .inc_by(objects);
    }

    pub fn applied_at(&self, sync: &str, unix_seconds: i64) {
        self.last_applied
            .get_or_create(&SyncLabels {
                sync: sync.to_owned(),
            })
            .set(unix_seconds);
    }

    /// A Sync is gone: its series go too.
    pub fn forget(&self, sync: &str) {
        let labels = SyncLabels {
            sync: sync.to_owned(),
        };
        self.managed.remove(&labels);
        self.last_applied.remove(&labels);
    }

    /// Everything, in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_family() {
        let m = Metrics::default();
        m.reconciled("ns/a", "applied", 1.5);
        m.fetched("ns/a", 0.2, false);
        m.webhook("accepted");
        m.managed("ns/a", 174);
        m.drift_corrected("ns/a", 2);
        m.applied_at("ns/a", 1_700_000_000);
        let text = m.encode();
        for needle in [
            "weir_reconcile_duration_seconds_bucket",
            "weir_reconciles_total{sync=\"ns/a\",result=\"applied\"} 1",
            "weir_git_fetch_duration_seconds_count 1",
            "weir_git_fetch_failures_total{sync=\"ns/a\"} 1",
            "weir_webhook_requests_total{result=\"accepted\"} 1",
            "weir_managed_objects{sync=\"ns/a\"} 174",
            "weir_drift_corrections_total{sync=\"ns/a\"} 2",
            "weir_last_applied_timestamp_seconds{sync=\"ns/a\"} 1700000000",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
    }
}
