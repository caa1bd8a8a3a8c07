//! Accepting TCP connections, with caps and timeouts below HTTP.
//!
//! A public node must not let anyone hold its file descriptors. Every
//! connection takes a slot from a total cap and from a cap per client IP
//! before HTTP sees a byte; over either cap it is closed at once. A client
//! has [`Limits::header_read_timeout`] to send each request's headers, which also
//! closes keep-alive connections that sit idle. The slot lives as long as
//! the socket, WebSocket upgrades included, so streams count against the
//! same caps.

use std::{
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use cairn_indexer::api::{Limits, Slot, Slots};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    service::TowerToHyperService,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// A socket that holds its slots until it is dropped.
struct Held {
    stream: TcpStream,
    _slots: (OwnedSemaphorePermit, Slot<IpAddr>),
}

impl AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Held {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `router` over HTTP/1.1 (with upgrades) on `listener` until
/// `shutdown` is cancelled, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: CancellationToken,
) -> io::Result<()> {
    tracing::info!(
        addr = %listener.local_addr()?,
        max_connections = limits.max_connections,
        max_per_ip = limits.max_connections_per_ip,
        "listening"
    );
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let per_ip = Arc::new(Slots::default());
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or a connection reset before accept:
                    // pause rather than spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = total.clone().try_acquire_owned() else {
            metrics::counter!("cairn_connections_refused_total", "cap" => "total").increment(1);
            continue;
        };
        let Some(ip_slot) = per_ip.try_take(peer.ip(), limits.max_connections_per_ip) else {
            metrics::counter!("cairn_connections_refused_total", "cap" => "per_ip").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Held {
            stream,
            _slots: (slot, ip_slot),
        });
        tokio::spawn(serve_connection(
            io,
            peer,
            router.clone(),
            limits.header_read_timeout,
            shutdown.clone(),
        ));
    }
}

async fn serve_connection(
    io: TokioIo<Held>,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
) {
    metrics::gauge!("cairn_connections").increment(1.0);
    let service = tower::service_fn(move |mut request: axum::extract::Request<_>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(axum::body::Body::new))
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(%err, %peer, "connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    metrics::gauge!("cairn_connections").decrement(1.0);
}
