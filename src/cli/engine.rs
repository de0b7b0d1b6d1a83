//! `tripmail engine`: the embedded engine ([`crate::recommend::engine`]) served over HTTP until
//! SIGINT or SIGTERM, either of which ends it cleanly (exit 0), as `systemctl stop` expects.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use super::console::outln;
use super::Exit;
use crate::catalog::Catalog;
use crate::config::Secret;
use crate::recommend::engine;

/// The flags of `tripmail engine`.
#[derive(Debug, clap::Args)]
pub(crate) struct EngineArgs {
    /// Catalog file to serve.
    #[arg(long)]
    catalog: PathBuf,
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long)]
    listen: SocketAddr,
    /// Required key: `Token <key>` (cross-sell) or the Basic password (contact recommendations);
    /// without it any non-empty one is accepted (a missing one is still refused).
    #[arg(long, env = "TRIPMAIL_ENGINE__API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// Serves until a signal.
pub(crate) async fn engine(args: EngineArgs) -> anyhow::Result<Exit> {
    let catalog = Arc::new(Catalog::load(&args.catalog)?);
    let listen = args.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    outln!("cross-sell engine on http://{addr}/v2/products/{{id}}/recommendations/cross-sell (Ctrl-C stops)");
    outln!("contact recommendations on http://{addr}/api/v2/contacts/recoms/{{dataSourceId}}?email=…&products=…");
    let server = engine::serve(listener, catalog, args.api_key.map(Secret::new));
    tokio::select! {
        r = server => r?,
        _ = crate::runner::next_signal() => {}
    }
    Ok(Exit::Clean)
}
