//! The listener: HTTP/1.1 and h2c on one port, one task per connection, graceful shutdown that
//! stops accepting and lets in-flight requests finish within a bound.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::app::App;
use crate::endpoints;

/// A bound, not yet running, gateway.
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    /// Binds the configured address (port 0 picks a free one).
    pub async fn bind(app: App) -> std::io::Result<Server> {
        let listener = TcpListener::bind(app.addr()).await?;
        Ok(Server { listener, app: Arc::new(app) })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for in-flight
    /// requests (streams included) up to the configured grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                conn = self.listener.accept() => {
                    let Ok((stream, _peer)) = conn else { continue };
                    let _ = stream.set_nodelay(true);
                    let app = self.app.clone();
                    let service = service_fn(move |req| {
                        let app = app.clone();
                        async move { Ok::<_, Infallible>(endpoints::route(&app, req).await) }
                    });
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    let conn = graceful.watch(conn);
                    // A panic in one request ends only its connection's task, never the server.
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(self.listener);
        let _ = tokio::time::timeout(self.app.shutdown_grace, graceful.shutdown()).await;
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes.
pub async fn serve(app: App, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    Server::bind(app).await?.run(shutdown).await
}
