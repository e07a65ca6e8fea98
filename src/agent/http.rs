//! The agent's HTTP port (axum): `/healthz`, `/readyz`, `/metrics`, and
//! push webhooks at `POST /hooks/<namespace>/<name>`.
//!
//! A webhook is checked against the Sync's webhook token
//! ([`webhook::verify`]); one that is unsigned, wrongly signed, for a Sync
//! that does not exist or takes no webhooks gets the same 401 (no oracle
//! for Sync names) and triggers nothing. Bodies over
//! [`MAX_BODY`](webhook::MAX_BODY) get 413. A good one asks the Sync's
//! worker to fetch now: directly on the leader, through the Sync's
//! `weir.dev/reconcile-requested-at` annotation on a follower (the leader
//! sees the change). Bursts coalesce: a worker that already has a fetch
//! pending takes no second one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine as _;
use jiff::Timestamp;
use serde_json::{Value, json};

use super::Context;
use super::controller::Workers;
use super::leader::Leading;
use super::resource::{REQUESTED_AT, SyncObject};
use super::webhook;
use crate::object::ObjectRef;

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    pub ctx: Arc<Context>,
    pub workers: Workers,
    pub leading: Leading,
    /// Set once the agent has talked to the API server.
    pub ready: Arc<AtomicBool>,
}

/// The routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hooks/{namespace}/{name}", post(hook))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(shared)
}

/// Serves `router` on `addr` until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving /healthz, /readyz, /metrics and /hooks");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn readyz(State(shared): State<Shared>) -> impl IntoResponse {
    if shared.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the API server has not answered yet\n",
        )
    }
}

async fn metrics(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.ctx.metrics.encode(),
    )
}

fn unauthorized() -> (StatusCode, &'static str) {
    (
        StatusCode::UNAUTHORIZED,
        "unauthorized: no such Sync with a webhook, or a missing or wrong signature\n",
    )
}

async fn hook(
    State(shared): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let metrics = &shared.ctx.metrics;
    let cluster = &shared.ctx.cluster;
    let reference = ObjectRef {
        group: "weir.dev".into(),
        version: "v1alpha1".into(),
        kind: super::resource::KIND.into(),
        namespace: Some(namespace.clone()),
        name: name.clone(),
    };
    let sync = match cluster.get(&reference).await {
        Ok(Some(value)) => match SyncObject::from_value(value) {
            Ok(sync) => sync,
            Err(_) => {
                metrics.webhook("not_found");
                return unauthorized();
            }
        },
        Ok(None) => {
            metrics.webhook("not_found");
            return unauthorized();
        }
        Err(e) => {
            tracing::warn!("webhook for {namespace}/{name}: {e}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the API server did not answer\n",
            );
        }
    };
    let Some(secret_name) = sync
        .spec
        .webhook
        .as_ref()
        .map(|w| w.secret_ref.name.clone())
    else {
        metrics.webhook("no_webhook");
        return unauthorized();
    };
    let token = match webhook_token(&shared, &namespace, &secret_name).await {
        Some(token) => token,
        None => {
            metrics.webhook("no_webhook");
            tracing::warn!(
                sync = %sync.key(),
                "webhook refused: Secret {namespace}/{secret_name} has no key `token`"
            );
            return unauthorized();
        }
    };
    let provider = match webhook::verify(
        |name| headers.get(name).and_then(|v| v.to_str().ok()),
        &body,
        &token,
    ) {
        Ok(provider) => provider,
        Err(why) => {
            metrics.webhook("unauthorized");
            tracing::info!(sync = %sync.key(), "webhook refused: {why}");
            return unauthorized();
        }
    };
    metrics.webhook("accepted");
    tracing::info!(sync = %sync.key(), provider = provider.as_str(), "webhook: fetching now");
    if shared.workers.fetch_now(&sync.key()).await {
        return (StatusCode::ACCEPTED, "accepted: fetching now\n");
    }
    // Not the leader: ask it through the Sync.
    let patch = json!({"metadata": {"annotations": {
        REQUESTED_AT: Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }}});
    match cluster.merge_patch(&reference, &patch, false).await {
        Ok(_) => (StatusCode::ACCEPTED, "accepted: fetching now\n"),
        Err(e) => {
            tracing::warn!(sync = %sync.key(), "webhook: asking the leader failed: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the API server did not answer\n",
            )
        }
    }
}

/// The `token` key of the Secret, decoded.
async fn webhook_token(shared: &Shared, namespace: &str, secret: &str) -> Option<Vec<u8>> {
    let reference = ObjectRef {
        group: String::new(),
        version: "v1".into(),
        kind: "Secret".into(),
        namespace: Some(namespace.to_owned()),
        name: secret.to_owned(),
    };
    let value = shared.ctx.cluster.get(&reference).await.ok()??;
    secret_value(&value, "token")
}

/// One key of a Secret read from the API server, decoded (`data` is
/// base64; `stringData` never comes back from the server).
pub fn secret_value(secret: &Value, key: &str) -> Option<Vec<u8>> {
    let encoded = secret.pointer("/data")?.get(key)?.as_str()?;
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
}
