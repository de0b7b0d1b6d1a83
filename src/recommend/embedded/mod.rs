//! The embedded engine: serves both recommendation APIs from a catalog file with documented
//! semantics, so anyone can check what a campaign should contain. One file per endpoint (`cross_sell`,
//! `contact`: each says what it answers); here their routes, the server, and the in-process start-up
//! a run uses when a `base_url` is `embedded`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

use super::SourceError;
use crate::catalog::Catalog;
use crate::config::Secret;

mod contact;
mod cross_sell;

pub use contact::{
    contact_recommend, parse_contact_params, ContactItem, ContactParams, MAX_CONTACT_ITEMS,
    OUT_OF_STOCK_ONE_IN,
};
pub use cross_sell::{parse_params, recommend, Params, MAX_ITEMS};

/// The elements of a list value written `[a,b]` or `a,b` (a repeated key gives one each).
fn list_elements(value: &str) -> impl Iterator<Item = &str> {
    let inner = value.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(inner);
    inner.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn parse_ids(key: &str, value: &str) -> Result<Vec<u64>, String> {
    list_elements(value)
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| format!("{key} holds {s:?}, not an id"))
        })
        .collect()
}

struct EngineState {
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"error": message, "status": status.as_u16()})),
    )
        .into_response()
}

/// The engine's routes.
pub fn router(catalog: Arc<Catalog>, api_key: Option<Secret>) -> Router {
    Router::new()
        .route(
            "/v2/products/{product}/recommendations/cross-sell",
            get(cross_sell::answer),
        )
        .route(
            "/api/v2/contacts/recoms/{data_source}",
            get(contact::answer),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(Arc::new(EngineState { catalog, api_key }))
}

/// Serves the engine on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
) -> std::io::Result<()> {
    axum::serve(listener, router(catalog, api_key)).await
}

/// Starts the engine on an ephemeral 127.0.0.1 port; the engine stops when the handle is aborted or
/// the runtime ends.
pub async fn spawn(
    catalog: Arc<Catalog>,
    api_key: Option<Secret>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    Ok((addr, tokio::spawn(serve(listener, catalog, api_key))))
}

/// The API key the in-process engine and its client share when none is configured.
const EMBEDDED_KEY: &str = "embedded";

/// The engine running inside a run, for the APIs whose `base_url` is `embedded`; it stops when
/// dropped.
pub(crate) struct Embedded {
    /// Where it listens, `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    /// The key its clients send.
    pub(crate) key: Secret,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Embedded {
    /// Starts the engine on `catalog` with `api_key` (else [`EMBEDDED_KEY`]).
    pub(crate) async fn start(
        catalog: Option<Arc<Catalog>>,
        api_key: Option<Secret>,
    ) -> Result<Embedded, SourceError> {
        let catalog = catalog.ok_or_else(|| {
            SourceError::Engine("the embedded engine needs engine.catalog".into())
        })?;
        let key = api_key.unwrap_or_else(|| Secret::new(EMBEDDED_KEY));
        let (addr, task) = spawn(catalog, Some(key.clone())).await.map_err(|err| {
            SourceError::Engine(format!("cannot start the embedded engine: {err}"))
        })?;
        Ok(Embedded {
            url: format!("http://{addr}"),
            key,
            task,
        })
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.task.abort();
    }
}
