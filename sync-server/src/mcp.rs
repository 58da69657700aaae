//! `/mcp`: cathode's notebook tools over MCP's streamable HTTP, for agents
//! that reach the server rather than run beside it. Each request must carry
//! a user token (the same check as every API route, before the MCP layer
//! sees it); the tools act with that token's user and role, as a peer of
//! this server over loopback (`cathode-mcp`, the same implementation as
//! the stdio `cathode-mcp` binary).

use axum::Router;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use std::sync::Arc;

/// The MCP service, reaching this server at `self_url`.
pub fn routes<S: Clone + Send + Sync + 'static>(self_url: String, bind_host: String) -> Router<S> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !hosts.contains(&bind_host) && bind_host != "0.0.0.0" && bind_host != "::" {
        hosts.push(bind_host);
    }
    let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts);
    let service = StreamableHttpService::new(
        move || Ok(cathode_mcp::CathodeMcp::new(&self_url, None)),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Router::new().route_service("/mcp", service)
}
