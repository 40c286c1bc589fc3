//! Accepting connections: HTTP/1.1 with read timeouts, so a client that
//! trickles its request costs one connection for at most the header (or
//! body) timeout while every other client is served, and a graceful
//! shutdown that stops accepting and lets requests in flight finish.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

/// How long a client may take to send a request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadTimeouts {
    /// From the first byte of a request to the end of its headers.
    pub header: Duration,
    /// To read the whole body.
    pub body: Duration,
    /// Largest body read.
    pub max_body: usize,
}

/// Reads the request body within the body timeout (and the size cap)
/// before any handler sees the request: a client that trickles its body is
/// answered 408 and dropped.
pub(crate) async fn read_body_in_time(
    State(limits): State<ReadTimeouts>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(limits.body, axum::body::to_bytes(body, limits.max_body)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(serde_json::json!({"error": {"code": "too-large", "message": format!(
                "the request body is over the {}-byte limit (server.max_body_bytes)", limits.max_body
            )}})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            [("connection", "close")],
            axum::Json(serde_json::json!({"error": {"code": "request-timeout", "message": format!(
                "the request body did not arrive within {} ms (server.body_read_timeout_ms)",
                limits.body.as_millis()
            )}})),
        )
            .into_response(),
    }
}

/// Waits until `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves `app` on `listener` until `stop` turns true, then waits for the
/// connections to finish their requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: ReadTimeouts,
    mut stop: watch::Receiver<bool>,
) {
    // Each connection holds a receiver; when all are gone, all are closed.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Responses go out in more than one write; without TCP_NODELAY the
        // second waits for the client's delayed ACK.
        let _ = tcp.set_nodelay(true);
        let service = TowerToHyperService::new(
            app.clone()
                .map_request(|r: Request<hyper::body::Incoming>| r.map(Body::new)),
        );
        let mut stop = stop.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended");
                    }
                }
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(open);
        });
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}
