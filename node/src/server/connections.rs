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
    collections::BTreeMap,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::ConnectInfo, Router};
use cairn_indexer::api::{Limits, Slot, Slots, TrustedProxies};
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

/// A socket that holds its slots until it is dropped (a trusted proxy's
/// takes none of its address's: it carries many clients).
struct Held {
    stream: TcpStream,
    _slots: (OwnedSemaphorePermit, Option<Slot<IpAddr>>),
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
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`], over TLS when `tls` is given: the handshake must end within
/// [`Limits::header_read_timeout`], and the connection holds its slots
/// from the first byte, so a slow handshake costs what a slow request does.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    tls: Option<Arc<super::tls::Tls>>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        max_per_ip = limits.max_connections_per_ip,
        "listening"
    );
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let proxies = Arc::new(limits.trusted_proxies.clone());
    let per_ip = Arc::new(Slots::default());
    let open = Arc::new(Open::default());
    // Below this many free slots, each new connection first closes the
    // oldest idle one.
    let headroom = (limits.max_connections / 16).max(1);
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
        // An address at its own cap makes no room by closing others'.
        let ip_slot = if limits.trusted_proxies.contains(peer.ip()) {
            None
        } else {
            let Some(slot) = per_ip.try_take(peer.ip(), limits.max_connections_per_ip) else {
                metrics::counter!("cairn_connections_refused_total", "cap" => "per_ip")
                    .increment(1);
                continue;
            };
            Some(slot)
        };
        if total.available_permits() <= headroom {
            open.close_oldest_idle();
        }
        let slot = match total.clone().try_acquire_owned() {
            Ok(slot) => Some(slot),
            // Full, and nothing was idle to close just before: try once more.
            Err(_) if open.close_oldest_idle() => {
                tokio::time::timeout(Duration::from_millis(200), total.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(slot) = slot else {
            metrics::counter!("cairn_connections_refused_total", "cap" => "total").increment(1);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let held = Held {
            stream,
            _slots: (slot, ip_slot),
        };
        let entry = open.register();
        let (router, timeout, shutdown) =
            (router.clone(), limits.header_read_timeout, shutdown.clone());
        let peer = Peer {
            addr: peer,
            proxies: proxies.clone(),
        };
        let Some(tls) = &tls else {
            tokio::spawn(serve_connection(
                held, peer, router, timeout, shutdown, entry,
            ));
            continue;
        };
        let acceptor = tls.acceptor();
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(held)).await {
                Ok(Ok(stream)) => {
                    serve_connection(stream, peer, router, timeout, shutdown, entry).await
                }
                Ok(Err(err)) => {
                    metrics::counter!("cairn_tls_handshakes_failed_total").increment(1);
                    tracing::debug!(%err, peer = %peer.addr, "TLS handshake failed");
                }
                Err(_) => {
                    metrics::counter!("cairn_tls_handshakes_failed_total").increment(1);
                    tracing::debug!(peer = %peer.addr, "TLS handshake timed out");
                }
            }
        });
    }
}

/// A connection's TCP peer, and the proxies whose word on the client it takes.
struct Peer {
    addr: SocketAddr,
    proxies: Arc<TrustedProxies>,
}

async fn serve_connection<I>(
    io: I,
    peer: Peer,
    router: Router,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
    entry: Entry,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    metrics::gauge!("cairn_connections").increment(1.0);
    let busy = entry.busy.clone();
    let addr = peer.addr;
    let service = tower::service_fn(move |mut request: axum::extract::Request<_>| {
        // The client: the peer, or whom a trusted proxy says it forwards.
        let client = peer.proxies.client(peer.addr, request.headers());
        request.extensions_mut().insert(ConnectInfo(client));
        // Busy from the request until its response's last byte is sent.
        let working = Working::start(busy.clone());
        let response = router.clone().oneshot(request.map(axum::body::Body::new));
        async move {
            let response = response.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                axum::body::Body::new(TrackedBody {
                    inner: body,
                    _working: working,
                })
            }))
        }
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
                tracing::debug!(%err, peer = %addr, "connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
        // Idle, and its slot is wanted: dropping it closes the socket.
        _ = entry.close.cancelled() => {
            metrics::counter!("cairn_connections_closed_for_room_total").increment(1);
        }
    }
    metrics::gauge!("cairn_connections").decrement(1.0);
}

/// The open connections, oldest first, so that the oldest idle one can be
/// closed when the cap is near.
#[derive(Default)]
struct Open {
    next: AtomicU64,
    by_age: Mutex<BTreeMap<u64, Tracked>>,
}

/// What [`Open`] knows of a connection.
struct Tracked {
    /// Requests whose response is not fully sent yet.
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
}

/// A connection's place in [`Open`], left when it is dropped.
struct Entry {
    open: Arc<Open>,
    id: u64,
    busy: Arc<AtomicUsize>,
    close: CancellationToken,
}

impl Open {
    fn register(self: &Arc<Self>) -> Entry {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (busy, close) = (Arc::new(AtomicUsize::new(0)), CancellationToken::new());
        let tracked = Tracked {
            busy: busy.clone(),
            close: close.clone(),
        };
        self.by_age
            .lock()
            .expect("the connection list is never poisoned")
            .insert(id, tracked);
        Entry {
            open: self.clone(),
            id,
            busy,
            close,
        }
    }

    /// Closes the oldest connection that is not answering a request;
    /// whether there was one.
    fn close_oldest_idle(&self) -> bool {
        let by_age = self
            .by_age
            .lock()
            .expect("the connection list is never poisoned");
        let idle = by_age
            .values()
            .find(|t| t.busy.load(Ordering::Acquire) == 0 && !t.close.is_cancelled());
        match idle {
            Some(tracked) => {
                tracked.close.cancel();
                true
            }
            None => false,
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.open
            .by_age
            .lock()
            .expect("the connection list is never poisoned")
            .remove(&self.id);
    }
}

/// One request in progress on a connection.
struct Working(Arc<AtomicUsize>);

impl Working {
    fn start(busy: Arc<AtomicUsize>) -> Self {
        busy.fetch_add(1, Ordering::AcqRel);
        Self(busy)
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its connection busy until it is sent, or dropped.
struct TrackedBody {
    inner: axum::body::Body,
    _working: Working,
}

impl hyper::body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
