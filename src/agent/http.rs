//! The agent's HTTP port (axum): `/healthz`, `/readyz`, `/metrics`, push
//! webhooks at `POST /hooks/<namespace>/<name>`, and, when turned on, the
//! read-only status page ([`page`](super::page)): `GET /` and
//! `GET /syncs/<namespace>/<name>`, behind a token or the cluster's
//! TokenReview. The page has no route but GET: no request through it
//! changes anything.
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

use super::controller::Workers;
use super::leader::Leading;
use super::resource::{REQUESTED_AT, SyncObject};
use super::webhook;
use super::{Context, UiAccess, page};
use crate::object::ObjectRef;

/// What the handlers share.
#[derive(Clone)]
pub struct Shared {
    pub ctx: Arc<Context>,
    pub workers: Workers,
    pub leading: Leading,
    /// Set once the agent has talked to the API server.
    pub ready: Arc<AtomicBool>,
    pub reviews: Arc<Reviews>,
}

/// Tokens the cluster accepted lately (a TokenReview each), so a page
/// refreshing every few seconds does not ask every time.
#[derive(Debug, Default)]
pub struct Reviews {
    accepted: tokio::sync::Mutex<std::collections::HashMap<u64, std::time::Instant>>,
}

/// How long an accepted token is believed without asking again.
const REVIEW_TTL: std::time::Duration = std::time::Duration::from_secs(60);

impl Reviews {
    async fn allows(&self, cluster: &crate::sync::Cluster, token: &str) -> bool {
        let key = crate::sync::inventory::fnv1a(token.as_bytes());
        if let Some(at) = self.accepted.lock().await.get(&key)
            && at.elapsed() < REVIEW_TTL
        {
            return true;
        }
        let review = json!({
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
            "metadata": {"name": "weir-status-page"},
            "spec": {"token": token}
        });
        let ok = match cluster.create(&review).await {
            Ok(answer) => answer.pointer("/status/authenticated") == Some(&Value::Bool(true)),
            Err(e) => {
                tracing::warn!("status page: the TokenReview failed: {e}");
                false
            }
        };
        if ok {
            self.accepted
                .lock()
                .await
                .insert(key, std::time::Instant::now());
        }
        ok
    }
}

/// The routes.
pub fn router(shared: Shared) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/hooks/{namespace}/{name}", post(hook));
    if shared.ctx.options.ui != UiAccess::Off {
        router = router
            .route("/", get(overview_page))
            .route("/syncs/local", get(local_page))
            .route("/syncs/{namespace}/{name}", get(sync_page));
    }
    router
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY))
        .with_state(shared)
}

// ---------------------------------------------------------------- the page

type Page = (StatusCode, [(header::HeaderName, &'static str); 2], String);

fn html(body: String) -> Page {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

fn denied() -> Page {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                "Basic realm=\"weir\", charset=\"UTF-8\"",
            ),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        "unauthorized: give the status page's token as a bearer token or as the password\n"
            .to_owned(),
    )
}

/// The token a request presents: `Bearer <token>`, or the password of
/// `Basic <base64(user:password)>`.
fn presented(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_owned())
}

/// Whether the request may see the page.
async fn allowed(shared: &Shared, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq as _;
    match &shared.ctx.options.ui {
        UiAccess::Off => false,
        UiAccess::Open => true,
        UiAccess::Token(token) => presented(headers)
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes()))),
        UiAccess::TokenReview => match presented(headers) {
            Some(token) => shared.reviews.allows(&shared.ctx.cluster, &token).await,
            None => false,
        },
    }
}

async fn overview_page(State(shared): State<Shared>, headers: HeaderMap) -> Page {
    if !allowed(&shared, &headers).await {
        return denied();
    }
    html(page::overview(&shared.ctx.board.all()))
}

async fn sync_page(
    State(shared): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Page {
    if !allowed(&shared, &headers).await {
        return denied();
    }
    match shared.ctx.board.get(&format!("{namespace}/{name}")) {
        Some(view) => html(page::detail(&view)),
        None => (
            StatusCode::NOT_FOUND,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            format!("this agent serves no Sync {namespace}/{name}\n"),
        ),
    }
}

/// `--path` mode's one worker.
async fn local_page(State(shared): State<Shared>, headers: HeaderMap) -> Page {
    if !allowed(&shared, &headers).await {
        return denied();
    }
    let views = shared.ctx.board.all();
    match views.as_slice() {
        [one] => html(page::detail(one)),
        _ => html(page::overview(&views)),
    }
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
