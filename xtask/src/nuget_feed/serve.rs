//! A loopback HTTP server for a feed directory, serving files the way a static web server or an
//! object store does (the query string is ignored), so the real NuGet client can read a feed in
//! the demo and the tests.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{anyhow, Result};

/// A running server; stops when dropped.
pub struct StaticServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    /// `http://127.0.0.1:<port>`, the base URL the directory is served at.
    pub url: String,
}

impl StaticServer {
    /// Serves `root` on a free loopback port.
    pub fn start(root: &Path) -> Result<StaticServer> {
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0")
                .map_err(|e| anyhow!("cannot listen on 127.0.0.1: {e}"))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| anyhow!("the feed server has no IP address"))?;
        let root = root.to_path_buf();
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            for request in serving.incoming_requests() {
                let response = match file(&root, request.url()).map(std::fs::read) {
                    Some(Ok(bytes)) => tiny_http::Response::from_data(bytes).boxed(),
                    _ => tiny_http::Response::empty(404).boxed(),
                };
                // A client that went away is its own problem; keep serving the others.
                let _ = request.respond(response);
            }
        });
        Ok(StaticServer {
            server,
            thread: Some(thread),
            url: format!("http://127.0.0.1:{port}"),
        })
    }
}

/// The file a request path names under `root`; none for a path that climbs out of it.
fn file(root: &Path, url: &str) -> Option<PathBuf> {
    let path = Path::new(url.split('?').next()?.trim_start_matches('/'));
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| root.join(path))
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
