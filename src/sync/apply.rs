//! The apply layer: [`Cluster`] is the one owner of the `kube::Client`.
//!
//! Everything else in `sync` computes desired state as plain values; the
//! cluster turns them into requests: API discovery (refreshed once CRDs are
//! applied), fetching live objects (one LIST per resource and namespace
//! where that is cheaper than GETs), server-side apply with field manager
//! `weir` and bounded concurrency, dry runs, deletes, and retries of
//! transient errors with backoff ([`retry`](super::retry)).
//!
//! An object that already holds what weir would apply is not sent at all
//! (see [`compare`](super::compare)); when the fast comparison is not
//! conclusive, a server-side dry run decides, so a sync with no changes
//! makes no mutating request. `weir diff --cluster` reuses
//! [`Cluster::apply`] with [`ApplyOptions::dry_run`]. Requests that are not
//! applies (create, replace with a precondition, status patches, watches of
//! changes) are in [`rest`](super::rest), on the same `Cluster`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt, stream};
use kube::core::params::{
    DeleteParams, GetParams, ListParams, Patch, PatchParams, PropagationPolicy, ValidationDirective,
};
use kube::core::{DynamicObject, GroupVersionKind, Request, Resource};
use kube::discovery::{ApiResource, Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::compare;
use super::retry::{Backoff, retry};
use crate::object::{ObjectError, ObjectRef};

/// The field manager weir applies as.
pub const FIELD_MANAGER: &str = "weir";

/// Errors of the apply layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kubeconfig, a bad one, or an unknown context.
    #[error("cannot load the Kubernetes client configuration: {message}")]
    Config { message: String },
    #[error("cannot create a Kubernetes client: {0}")]
    Client(#[source] kube::Error),
    #[error("API discovery failed: {}", describe(.0))]
    Discovery(#[source] kube::Error),
    /// A rendered value that is not an addressable object.
    #[error("a rendered object is not valid: {0}")]
    Object(#[from] ObjectError),
    /// The cluster serves no such kind (a CRD not installed yet).
    #[error(
        "the cluster does not serve {api_version} {kind} (needed by {object}): install its CustomResourceDefinition in an earlier wave, or check the apiVersion"
    )]
    UnknownKind {
        api_version: String,
        kind: String,
        object: String,
    },
    /// A namespaced object without a namespace.
    #[error("{object} is namespaced but has no metadata.namespace")]
    NoNamespace { object: String },
    /// Server-side apply found fields owned by other managers.
    #[error("{}", conflict_message(.object, .conflicts))]
    Conflict {
        object: Box<ObjectRef>,
        conflicts: Vec<FieldConflict>,
    },
    /// Any other failed request.
    #[error("{action} {object}: {}", describe(.source))]
    Api {
        action: &'static str,
        object: String,
        #[source]
        source: kube::Error,
    },
}

/// Result alias of the apply layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A field that another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldConflict {
    /// The field manager that owns the field (e.g. `kubectl-client-side-apply`).
    pub manager: String,
    /// The field, as the API server names it (e.g. `.spec.replicas`).
    pub field: String,
}

fn conflict_message(object: &ObjectRef, conflicts: &[FieldConflict]) -> String {
    let mut by_manager: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager.entry(&c.manager).or_default().push(&c.field);
    }
    let owners: Vec<String> = by_manager
        .iter()
        .map(|(m, fields)| format!("{} (owned by {m:?})", fields.join(", ")))
        .collect();
    format!(
        "{object}: conflict with other field managers on {}; let weir take them over with --force-conflicts, or remove them from the repo",
        owners.join("; ")
    )
}

/// A short description of an API error: the server's message and reason,
/// not the whole debug dump.
pub fn describe(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) if !status.message.is_empty() => {
            if status.reason.is_empty() {
                format!("{} (HTTP {})", status.message, status.code)
            } else {
                format!(
                    "{} ({}, HTTP {})",
                    status.message, status.reason, status.code
                )
            }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => {
            format!(
                "cannot reach the API server ({err}): is the cluster up and the kubeconfig right?"
            )
        }
        other => other.to_string(),
    }
}

fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Where the client configuration comes from: `--kubeconfig` and
/// `--context`, else `KUBECONFIG` / `~/.kube/config`, else the in-cluster
/// service account (as kubectl does).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// What weir tells the API server it is (`User-Agent`); default
    /// `weir/<version>`.
    pub user_agent: Option<String>,
}

/// How objects are applied.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Server-side dry run: nothing is persisted.
    pub dry_run: bool,
    /// Take over fields owned by other managers.
    pub force_conflicts: bool,
    /// Requests in flight at once within a wave.
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            force_conflicts: false,
            concurrency: 16,
        }
    }
}

/// What applying one object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and changed.
    Configured,
    /// It already held what the repo says: no request was sent.
    Unchanged,
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Applied {
    pub object: ObjectRef,
    pub action: Action,
    /// The object as the server holds it now (or would, in a dry run),
    /// without `metadata.managedFields`: nothing after an apply reads them
    /// (health, the inventory's version, a diff), and they are most of a
    /// small object's size, which a wave of thousands holds at once.
    pub live: Value,
}

impl Applied {
    fn new(object: ObjectRef, action: Action, mut live: Value) -> Self {
        if let Some(metadata) = live.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
        }
        Self {
            object,
            action,
            live,
        }
    }
}

/// The resource an object is served as.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl Resolved {
    pub(super) fn url(&self, namespace: Option<&str>) -> String {
        let ns = if self.namespaced { namespace } else { None };
        DynamicObject::url_path(&self.resource, ns)
    }
}

/// The connection to one cluster, and the only owner of its client.
pub struct Cluster {
    pub(super) client: Client,
    /// The same connection for watches, without the read timeout of other
    /// requests: a watch is quiet for minutes when nothing changes, and the
    /// server ends it itself (after about five minutes).
    pub(super) watch_client: Client,
    /// The API server's URL, when connected from a kubeconfig.
    server: Option<String>,
    /// The configuration the client was made from, when connected with
    /// [`Cluster::connect`]: what [`Cluster::impersonating`] starts from.
    config: Option<Config>,
    /// For a cluster that impersonates someone: the connection it was made
    /// from, which keeps weir's own records (see [`Cluster::records`]).
    records: Option<Arc<Cluster>>,
    /// The field manager its applies use ([`FIELD_MANAGER`] unless
    /// [`with_field_manager`](Cluster::with_field_manager) says otherwise).
    field_manager: &'static str,
    discovery: RwLock<Option<Discovery>>,
    /// Serialises discovery refreshes; holds the generation last loaded.
    refresh: Mutex<u64>,
    generation: AtomicU64,
    backoff: Backoff,
    /// Set when a request used up its retries on transient errors.
    unreachable: AtomicBool,
    requests: RequestCounter,
}

/// Counts the requests a sync sent, by kind (for reports and tests).
#[derive(Debug, Default)]
pub struct RequestCounter {
    reads: AtomicU64,
    writes: AtomicU64,
    dry_runs: AtomicU64,
    leases: AtomicU64,
}

/// A snapshot of [`RequestCounter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestCounts {
    pub reads: u64,
    /// Requests that may change the cluster (apply, delete, create).
    pub writes: u64,
    /// Server-side dry-run applies.
    pub dry_runs: u64,
    /// Writes of Leases, which coordinate writers and change nothing weir
    /// manages (taking, renewing and giving up a target's Lease).
    pub lease_writes: u64,
}

impl Cluster {
    /// Connects as kubectl would (see [`ConnectOptions`]).
    pub async fn connect(options: &ConnectOptions) -> Result<Self> {
        install_crypto_provider();
        let mut config = load_config(options).await?;
        let agent = options
            .user_agent
            .clone()
            .unwrap_or_else(|| format!("weir/{}", env!("CARGO_PKG_VERSION")));
        if let Ok(value) = http::HeaderValue::from_str(&agent) {
            config.headers.push((http::header::USER_AGENT, value));
        }
        let server = crate::repo::redact_url(&config.cluster_url.to_string());
        let mut watch_config = config.clone();
        watch_config.read_timeout = None;
        let client = Client::try_from(config.clone()).map_err(Error::Client)?;
        let watch_client = Client::try_from(watch_config).map_err(Error::Client)?;
        Ok(Self {
            server: Some(server),
            config: Some(config),
            watch_client,
            ..Self::new(client)
        })
    }

    /// A connection to the same cluster that acts as `user` (Kubernetes
    /// impersonation: the `Impersonate-User` header), e.g.
    /// `system:serviceaccount:team-a:deployer` for a Sync's
    /// `spec.serviceAccountName`: every request it sends is allowed only
    /// if `user` may make it. The API server checks that this connection's
    /// own identity may `impersonate` that user (for a ServiceAccount: the
    /// verb on `serviceaccounts` in its namespace).
    ///
    /// weir's own records (the target's Lease, the inventory, the
    /// namespace that holds them) stay with `self`'s identity: see
    /// [`records`](Self::records).
    pub fn impersonating(self: &Arc<Self>, user: &str) -> Result<Self> {
        let Some(config) = &self.config else {
            return Err(Error::Config {
                message: format!(
                    "cannot act as {user}: this connection was not made from a kubeconfig or the in-cluster service account"
                ),
            });
        };
        let mut config = config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups = None;
        let mut watch_config = config.clone();
        watch_config.read_timeout = None;
        let client = Client::try_from(config.clone()).map_err(Error::Client)?;
        let watch_client = Client::try_from(watch_config).map_err(Error::Client)?;
        Ok(Self {
            server: self.server.clone(),
            config: Some(config),
            watch_client,
            records: Some(self.clone()),
            backoff: self.backoff,
            field_manager: self.field_manager,
            ..Self::new(client)
        })
    }

    /// The connection that keeps weir's own records (Leases, inventories,
    /// the `weir-system` namespace): `self`, unless `self` impersonates
    /// someone ([`impersonating`](Self::impersonating)), whose rights are
    /// for what the repo holds, not for weir's bookkeeping.
    pub fn records(&self) -> &Cluster {
        self.records.as_deref().unwrap_or(self)
    }

    /// The user this connection impersonates, if any.
    pub fn impersonated(&self) -> Option<&str> {
        self.records.as_ref()?;
        self.config.as_ref()?.auth_info.impersonate.as_deref()
    }

    /// Wraps an existing client (tests, the agent).
    pub fn new(client: Client) -> Self {
        Self {
            watch_client: client.clone(),
            client,
            server: None,
            config: None,
            records: None,
            field_manager: FIELD_MANAGER,
            discovery: RwLock::new(None),
            refresh: Mutex::new(0),
            generation: AtomicU64::new(0),
            backoff: Backoff::default(),
            unreachable: AtomicBool::new(false),
            requests: RequestCounter::default(),
        }
    }

    /// Applies as another field manager than [`FIELD_MANAGER`]: for a
    /// writer whose objects the agent may also apply (`weir bootstrap`), so
    /// neither removes the fields the other set.
    pub fn with_field_manager(mut self, manager: &'static str) -> Self {
        self.field_manager = manager;
        self
    }

    /// Changes how transient errors are retried.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The API server's URL (as the kubeconfig names it), for messages;
    /// `None` for a cluster made with [`Cluster::new`].
    pub fn server(&self) -> Option<&str> {
        self.server.as_deref()
    }

    /// The namespace of the kubeconfig context (`default` when none).
    pub fn default_namespace(&self) -> &str {
        self.client.default_namespace()
    }

    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            reads: self.requests.reads.load(Ordering::Relaxed),
            writes: self.requests.writes.load(Ordering::Relaxed),
            dry_runs: self.requests.dry_runs.load(Ordering::Relaxed),
            lease_writes: self.requests.leases.load(Ordering::Relaxed),
        }
    }

    pub(super) fn count_read(&self) {
        self.requests.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a Lease write apart from the writes of what weir manages.
    pub(super) fn count_lease_write(&self) {
        self.requests.leases.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_write(&self, dry_run: bool) {
        let counter = if dry_run {
            &self.requests.dry_runs
        } else {
            &self.requests.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The server's version (`/version`).
    pub async fn server_version(&self) -> Result<k8s_openapi::apimachinery::pkg::version::Info> {
        self.count_read();
        self.call("GET /version", || self.client.apiserver_version())
            .await
            .map_err(|source| Error::Api {
                action: "get",
                object: "the server version".into(),
                source,
            })
    }

    /// Sends a request through [`retry`]. Once a request has used up its
    /// retries on transient errors the server counts as unreachable, and
    /// later requests get one attempt each until one succeeds: a sync fails
    /// fast instead of retrying every object of a wave in turn.
    pub(super) async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let backoff = if self.unreachable.load(Ordering::Relaxed) {
            Backoff {
                max_attempts: 1,
                ..self.backoff
            }
        } else {
            self.backoff
        };
        let result = retry(&backoff, what, op).await;
        match &result {
            Ok(_) => self.unreachable.store(false, Ordering::Relaxed),
            Err(e) if super::retry::is_transient(e) => {
                self.unreachable.store(true, Ordering::Relaxed)
            }
            Err(_) => {}
        }
        result
    }

    // ------------------------------------------------------------ discovery

    /// Reloads the API resources the server serves (after CRDs changed).
    pub async fn refresh_discovery(&self) -> Result<()> {
        let mut loaded = self.refresh.lock().await;
        self.load_discovery().await?;
        *loaded = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(())
    }

    async fn load_discovery(&self) -> Result<()> {
        self.count_read();
        let client = self.client.clone();
        let discovery = self
            .call("API discovery", || {
                let client = client.clone();
                async move {
                    match Discovery::new(client.clone()).run_aggregated().await {
                        Ok(d) => Ok(d),
                        // Servers before 1.26 have no aggregated discovery.
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 406 => {
                            Discovery::new(client).run().await
                        }
                        Err(e) => Err(e),
                    }
                }
            })
            .await
            .map_err(Error::Discovery)?;
        *self.discovery.write().await = Some(discovery);
        Ok(())
    }

    fn lookup(discovery: &Discovery, object: &ObjectRef) -> Option<Resolved> {
        let gvk = GroupVersionKind::gvk(&object.group, &object.version, &object.kind);
        discovery
            .resolve_gvk(&gvk)
            .map(|(resource, caps)| Resolved {
                resource,
                namespaced: caps.scope == Scope::Namespaced,
            })
    }

    /// The resource serving an object's kind. Discovery is loaded on first
    /// use and refreshed once when the kind is unknown (a CRD just applied).
    pub async fn resolve(&self, object: &ObjectRef) -> Result<Resolved> {
        let seen = self.generation.load(Ordering::SeqCst);
        if let Some(d) = self.discovery.read().await.as_ref()
            && let Some(r) = Self::lookup(d, object)
        {
            return Ok(r);
        }
        {
            let mut loaded = self.refresh.lock().await;
            // Someone else refreshed while we waited: use theirs.
            if *loaded <= seen || self.discovery.read().await.is_none() {
                self.load_discovery().await?;
                *loaded = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            }
        }
        self.discovery
            .read()
            .await
            .as_ref()
            .and_then(|d| Self::lookup(d, object))
            .ok_or_else(|| Error::UnknownKind {
                api_version: object.api_version(),
                kind: object.kind.clone(),
                object: object.to_string(),
            })
    }

    /// Fills in what the server needs to address an object: drops the
    /// namespace of a cluster-scoped object, and gives a namespaced object
    /// without one `default_namespace`. Returns its final identity (for a
    /// hook with only `generateName`, named by that prefix).
    pub async fn normalise(
        &self,
        value: &mut Value,
        default_namespace: Option<&str>,
    ) -> Result<(ObjectRef, Resolved)> {
        let (mut object, _) = ObjectRef::from_value_or_generated(value)?;
        let resolved = self.resolve(&object).await?;
        if resolved.namespaced {
            if object.namespace.is_none() {
                let ns = default_namespace.ok_or_else(|| Error::NoNamespace {
                    object: object.to_string(),
                })?;
                value["metadata"]["namespace"] = Value::String(ns.to_owned());
                object.namespace = Some(ns.to_owned());
            }
        } else if object.namespace.take().is_some()
            && let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("namespace");
        }
        Ok((object, resolved))
    }

    // ----------------------------------------------------------------- read

    /// Fetches one object; `None` when it does not exist.
    pub async fn get(&self, object: &ObjectRef) -> Result<Option<Value>> {
        let resolved = self.resolve(object).await?;
        self.get_resolved(object, &resolved).await
    }

    async fn get_resolved(&self, object: &ObjectRef, resolved: &Resolved) -> Result<Option<Value>> {
        let url = resolved.url(object.namespace.as_deref());
        self.count_read();
        let result = self
            .call("get", || {
                let req = Request::new(url.clone()).get(&object.name, &GetParams::default());
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await;
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(source) => Err(Error::Api {
                action: "get",
                object: object.to_string(),
                source,
            }),
        }
    }

    /// Lists the objects of a resource, in one namespace or all, optionally
    /// filtered by a label selector. Items carry `apiVersion` and `kind`.
    pub async fn list(
        &self,
        resolved: &Resolved,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<Value>> {
        self.list_selected(resolved, namespace, label_selector, None)
            .await
    }

    /// [`list`](Self::list) with a field selector too
    /// (`involvedObject.name=x`).
    pub async fn list_selected(
        &self,
        resolved: &Resolved,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<Value>> {
        let url = resolved.url(namespace);
        let mut items = Vec::new();
        let mut continue_token: Option<String> = None;
        loop {
            let mut lp = ListParams::default().limit(500);
            if let Some(sel) = label_selector {
                lp = lp.labels(sel);
            }
            if let Some(sel) = field_selector {
                lp = lp.fields(sel);
            }
            if let Some(token) = &continue_token {
                lp = lp.continue_token(token);
            }
            self.count_read();
            let page: Value = self
                .call("list", || {
                    let req = Request::new(url.clone()).list(&lp);
                    async move {
                        let req = req.map_err(kube::Error::BuildRequest)?;
                        self.client.request::<Value>(req).await
                    }
                })
                .await
                .map_err(|source| Error::Api {
                    action: "list",
                    object: format!(
                        "{} {}",
                        resolved.resource.api_version, resolved.resource.plural
                    ),
                    source,
                })?;
            if let Some(Value::Array(page_items)) = page.get("items") {
                for item in page_items {
                    let mut item = item.clone();
                    item["apiVersion"] = Value::String(resolved.resource.api_version.clone());
                    item["kind"] = Value::String(resolved.resource.kind.clone());
                    items.push(item);
                }
            }
            continue_token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if continue_token.is_none() {
                return Ok(items);
            }
        }
    }

    /// Fetches the live state of many objects: one LIST per resource and
    /// namespace holding many of them, GETs for the rest. Absent objects map
    /// to `None`.
    pub async fn fetch_live(
        &self,
        objects: &[ObjectRef],
        concurrency: usize,
    ) -> Result<HashMap<ObjectRef, Option<Value>>> {
        const LIST_THRESHOLD: usize = 8;
        let mut groups: BTreeMap<(String, String, Option<String>), Vec<&ObjectRef>> =
            BTreeMap::new();
        for o in objects {
            groups
                .entry((o.api_version(), o.kind.clone(), o.namespace.clone()))
                .or_default()
                .push(o);
        }
        let mut found = HashMap::with_capacity(objects.len());
        let mut singles = Vec::new();
        for ((_, _, namespace), members) in groups {
            if members.len() < LIST_THRESHOLD {
                singles.extend(members);
                continue;
            }
            let resolved = self.resolve(members[0]).await?;
            let items = self.list(&resolved, namespace.as_deref(), None).await?;
            let mut by_name: HashMap<String, Value> = items
                .into_iter()
                .filter_map(|i| {
                    let name = i.pointer("/metadata/name")?.as_str()?.to_owned();
                    Some((name, i))
                })
                .collect();
            for m in members {
                found.insert(m.clone(), by_name.remove(&m.name));
            }
        }
        // Futures are built up front (not in `map`) so the stream stays `Send`.
        let gets: Vec<_> = singles
            .into_iter()
            .map(|o| async move { Ok::<_, Error>((o.clone(), self.get(o).await?)) })
            .collect();
        let fetched: Vec<(ObjectRef, Option<Value>)> = stream::iter(gets)
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        found.extend(fetched);
        Ok(found)
    }

    /// Watches the objects of a resource in one namespace (or all), or one
    /// object by name: every version of them the server reports, from the
    /// current state on. Errors of the watch are retried with backoff
    /// inside the stream (and logged); callers that must not hang on a
    /// silent stream poll too.
    pub fn watch(
        &self,
        resolved: &Resolved,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> impl futures::Stream<Item = Value> + Send + 'static {
        use kube::runtime::{WatchStreamExt as _, watcher};
        self.count_read();
        let api: kube::Api<DynamicObject> = match (resolved.namespaced, namespace) {
            (true, Some(ns)) => {
                kube::Api::namespaced_with(self.watch_client.clone(), ns, &resolved.resource)
            }
            _ => kube::Api::all_with(self.watch_client.clone(), &resolved.resource),
        };
        // The initial list is a consistent read (not the watch cache, which
        // may lag behind the apply that just happened).
        let mut config = watcher::Config::default();
        if let Some(name) = name {
            config = config.fields(&format!("metadata.name={name}"));
        }
        let api_version = resolved.resource.api_version.clone();
        let kind = resolved.resource.kind.clone();
        watcher(api, config)
            .default_backoff()
            .filter_map(move |event| {
                let object = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                        serde_json::to_value(o).ok().map(|mut v| {
                            v["apiVersion"] = Value::String(api_version.clone());
                            v["kind"] = Value::String(kind.clone());
                            v
                        })
                    }
                    Ok(_) => None,
                    Err(e) => {
                        tracing::debug!(error = %e, "watch failed, retrying");
                        None
                    }
                };
                std::future::ready(object)
            })
    }

    // ---------------------------------------------------------------- write

    async fn patch(
        &self,
        object: &ObjectRef,
        resolved: &Resolved,
        desired: &Value,
        dry_run: bool,
        force: bool,
    ) -> Result<Value> {
        let url = resolved.url(object.namespace.as_deref());
        let params = PatchParams {
            dry_run,
            force,
            field_manager: Some(self.field_manager.to_owned()),
            field_validation: Some(ValidationDirective::Strict),
        };
        self.count_write(dry_run);
        let result = self
            .call("apply", || {
                let req =
                    Request::new(url.clone()).patch(&object.name, &params, &Patch::Apply(desired));
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request::<Value>(req).await
                }
            })
            .await;
        result.map_err(|source| match &source {
            kube::Error::Api(status) if status.code == 409 => Error::Conflict {
                object: Box::new(object.clone()),
                conflicts: parse_conflicts(status),
            },
            _ => Error::Api {
                action: if dry_run { "dry-run apply" } else { "apply" },
                object: object.to_string(),
                source,
            },
        })
    }

    /// Applies one object (already [`normalise`](Self::normalise)d), unless
    /// `live` shows it is already as desired.
    pub async fn apply(
        &self,
        desired: &Value,
        live: Option<&Value>,
        options: &ApplyOptions,
    ) -> Result<Applied> {
        let object = ObjectRef::from_value(desired)?;
        let resolved = self.resolve(&object).await?;
        let force = options.force_conflicts;
        if let Some(live) = live {
            match compare::in_sync(desired, live, self.field_manager) {
                Ok(()) => return Ok(Applied::new(object, Action::Unchanged, live.clone())),
                Err(drift) => tracing::debug!(%object, %drift, "may differ, asking the server"),
            }
            let dry = self.patch(&object, &resolved, desired, true, force).await?;
            if compare::same_object(&dry, live) {
                return Ok(Applied::new(object, Action::Unchanged, live.clone()));
            }
            if options.dry_run {
                return Ok(Applied::new(object, Action::Configured, dry));
            }
        }
        let result = self
            .patch(&object, &resolved, desired, options.dry_run, force)
            .await?;
        let action = if live.is_some() {
            Action::Configured
        } else {
            Action::Created
        };
        Ok(Applied::new(object, action, result))
    }

    /// Applies many objects with at most `options.concurrency` requests in
    /// flight. `live` is what [`fetch_live`](Self::fetch_live) returned; it
    /// is consumed, each live object leaving the map as its apply starts, so
    /// a wave holds one copy of the live state (in the map, or in the
    /// results), not two. `on_done` sees each result as it completes; the
    /// results come back in the order of `objects`.
    pub async fn apply_all(
        &self,
        objects: &[&Value],
        live: HashMap<ObjectRef, Option<Value>>,
        options: &ApplyOptions,
        on_done: &(dyn Fn(&Result<Applied>) + Send + Sync),
    ) -> Vec<Result<Applied>> {
        let live = &std::sync::Mutex::new(live);
        // The requests are made as the stream is polled: only
        // `concurrency` of them exist at once, not one per object.
        let mut results: Vec<(usize, Result<Applied>)> = stream::iter(0..objects.len())
            .map(|i| async move {
                let desired = objects[i];
                let current = ObjectRef::from_value(desired).ok().and_then(|r| {
                    live.lock()
                        .ok()
                        .and_then(|mut live| live.remove(&r))
                        .flatten()
                });
                let result = self.apply(desired, current.as_ref(), options).await;
                on_done(&result);
                (i, result)
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    /// Deletes an object. `Ok(false)` when it was already gone.
    pub async fn delete(
        &self,
        object: &ObjectRef,
        propagation: PropagationPolicy,
        dry_run: bool,
    ) -> Result<bool> {
        let resolved = match self.resolve(object).await {
            Ok(r) => r,
            // Its kind is gone (CRD removed), so the object is too.
            Err(Error::UnknownKind { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let url = resolved.url(object.namespace.as_deref());
        let params = DeleteParams {
            dry_run,
            propagation_policy: Some(propagation),
            ..DeleteParams::default()
        };
        self.count_write(dry_run);
        let result = self
            .call("delete", || {
                let req = Request::new(url.clone()).delete(&object.name, &params);
                async move {
                    let req = req.map_err(kube::Error::BuildRequest)?;
                    self.client.request_text(req).await
                }
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(source) => Err(Error::Api {
                action: "delete",
                object: object.to_string(),
                source,
            }),
        }
    }
}

/// Selects rustls' `ring` provider for the process: with more than one
/// provider compiled in (kube uses ring, jsonschema's HTTP client aws-lc),
/// rustls cannot choose by itself and would panic on the first connection.
/// Call before creating a `kube::Client` by other means than
/// [`Cluster::connect`]. Idempotent.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the conflicting managers and fields from a 409's Status causes
/// (`reason: FieldManagerConflict`, `message: conflict with "m" ...`).
fn parse_conflicts(status: &kube::core::Status) -> Vec<FieldConflict> {
    let causes = status
        .details
        .as_ref()
        .map(|d| d.causes.as_slice())
        .unwrap_or_default();
    let mut conflicts: Vec<FieldConflict> = causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict" || !c.field.is_empty())
        .map(|c| FieldConflict {
            manager: c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(c.message.as_str())
                .to_owned(),
            field: c.field.clone(),
        })
        .collect();
    if conflicts.is_empty() {
        conflicts.push(FieldConflict {
            manager: "unknown".into(),
            field: status.message.clone(),
        });
    }
    conflicts
}

async fn load_config(options: &ConnectOptions) -> Result<Config> {
    let kube_options = kube::config::KubeConfigOptions {
        context: options.context.clone(),
        ..Default::default()
    };
    let config_err = |e: &dyn std::fmt::Display| Error::Config {
        message: e.to_string(),
    };
    let mut config = match (&options.kubeconfig, &options.context) {
        (Some(path), _) => {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(|e| Error::Config {
                    message: format!("{}: {e}", path.display()),
                })?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| config_err(&e))?
        }
        (None, Some(_)) => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|e| config_err(&e))?,
        (None, None) => Config::infer().await.map_err(|e| Error::Config {
            message: format!(
                "{e}; pass --kubeconfig FILE, set KUBECONFIG, or run inside a cluster"
            ),
        })?,
    };
    // weir retries transient errors itself, with its own bounds.
    config.default_retry = false;
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    config.reset_reader_on_write = true;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use kube::core::{Status, response::StatusCause, response::StatusDetails};

    use super::*;

    #[test]
    fn conflicts_from_status() {
        let status = Status {
            code: 409,
            reason: "Conflict".into(),
            message: "Apply failed with 2 conflicts".into(),
            details: Some(StatusDetails {
                causes: vec![
                    StatusCause {
                        reason: "FieldManagerConflict".into(),
                        message: "conflict with \"kubectl-client-side-apply\" using v1".into(),
                        field: ".data.key".into(),
                    },
                    StatusCause {
                        reason: "FieldManagerConflict".into(),
                        message: "conflict with \"helm\" using v1".into(),
                        field: ".data.other".into(),
                    },
                ],
                name: "b".into(),
                group: String::new(),
                kind: "configmaps".into(),
                uid: String::new(),
                retry_after_seconds: 0,
            }),
            ..Default::default()
        };
        let conflicts = parse_conflicts(&status);
        assert_eq!(conflicts[0].manager, "kubectl-client-side-apply");
        assert_eq!(conflicts[1].field, ".data.other");
        let object = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: "b".into(),
        };
        insta::assert_snapshot!(conflict_message(&object, &conflicts), @r#"ConfigMap a/b: conflict with other field managers on .data.other (owned by "helm"); .data.key (owned by "kubectl-client-side-apply"); let weir take them over with --force-conflicts, or remove them from the repo"#);
    }

    #[test]
    fn server_urls_lose_their_credentials() {
        assert_eq!(
            crate::repo::redact_url("https://admin:s3cret@k8s.example:6443/"),
            "https://k8s.example:6443/"
        );
        assert_eq!(
            crate::repo::redact_url("https://127.0.0.1:6443/"),
            "https://127.0.0.1:6443/"
        );
        assert_eq!(
            crate::repo::redact_url("k8s.example:6443"),
            "k8s.example:6443"
        );
    }
}
