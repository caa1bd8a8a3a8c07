//! `GET /v1/stream?address=<addr>&after=<cursor>` (or `?channel=<id>`):
//! confirmed events over WebSocket.
//!
//! The stream is a view of the store's event log. A connection catches up
//! from its cursor by reading the store, then takes new events from the
//! in-memory [`crate::fanout`], which reads each of them once for every
//! connection (see there why nothing is missed or repeated in between).
//! Resuming with the last cursor therefore misses nothing and repeats
//! nothing, whether the events were confirmed while the client was
//! connected or away.
//!
//! Frames are JSON text: `{"type":"message"|"retracted","cursor":…,"message":{…}}`,
//! plus `{"type":"heartbeat","cursor":…}` every heartbeat interval (browsers
//! cannot see ping frames). The server also pings, and closes a connection
//! that has not answered the previous ping.
//!
//! The first frame is always a heartbeat with the cursor the connection
//! starts from. A client that connected without one ("from now") keeps it,
//! and resumes from there after a drop: events confirmed before its first
//! message are not lost.
//!
//! Slow consumers: each connection has its own bounded send buffer. A client
//! that leaves it full for longer than the send timeout is closed with code
//! 1008 and the reason `slow consumer`; it can reconnect with its last cursor.
//! Other connections never wait for it.
//!
//! Signed in: a connection whose session is the subscribed address's own is
//! never sent messages from senders its owner blocked (their events are
//! skipped, and the cursor moves past them), and it takes part in
//! [`super::presence`]: it may send presence frames and receives those of
//! the senders its owner allowed.

use std::time::Duration;

use alloy::primitives::Address;
use axum::{
    extract::{
        rejection::QueryRejection,
        ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade},
        Query, State,
    },
    http::{HeaderMap, StatusCode},
    response::Response,
};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::{presence::ClientFrame, query, ApiError, ApiState, Slot};
use crate::{
    fanout::Live,
    store::{ConsentState, StreamCursor, StreamEvent},
};

/// Largest message a stream client may send.
const MAX_CLIENT_MESSAGE: usize = 4096;

/// The WebSocket's read buffer, and how much it gathers before writing.
pub(super) const SOCKET_BUFFER: usize = 8 * 1024;

/// Stream tuning.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// Frames buffered per connection.
    pub buffer: usize,
    /// Events the fan-out queues per connection before it lets go of it;
    /// the connection then catches up from the store.
    pub queue: usize,
    /// How long a full buffer may stay full before the client is dropped.
    pub send_timeout: Duration,
    /// Heartbeat and ping interval.
    pub heartbeat: Duration,
    /// Events read from the store per query.
    pub batch: u32,
    /// Open streams at most per subscribed address for its signed-in
    /// owner, and per channel (the per-IP cap on connections bounds streams
    /// per client).
    pub max_per_address: usize,
    /// Open anonymous streams at most per subscribed address. They have
    /// their own slots, so that strangers holding them cannot lock the
    /// owner out of their own stream.
    pub max_anonymous_per_address: usize,
    /// How long a close frame may wait for a stalled client to read.
    pub close_grace: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            buffer: 1024,
            queue: crate::fanout::QUEUE,
            send_timeout: Duration::from_secs(10),
            heartbeat: Duration::from_secs(15),
            batch: 256,
            max_per_address: 16,
            max_anonymous_per_address: 8,
            close_grace: Duration::from_secs(10),
        }
    }
}

/// `?address=&after=` or `?channel=&after=`.
#[derive(Debug, Deserialize)]
pub(super) struct StreamParams {
    address: Option<String>,
    channel: Option<String>,
    after: Option<String>,
}

/// Upgrades to a WebSocket after validating the query.
pub(super) async fn stream(
    State(state): State<ApiState>,
    headers: HeaderMap,
    q: Result<Query<StreamParams>, QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(p) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    // A channel's stream is its messages' events, as an inbox's: the same
    // cursor, confirmation and retraction guarantees. Consent and presence
    // are an owner's, and a channel has none.
    let (recipient, owner, owned) = match (p.address, p.channel) {
        (Some(address), None) => {
            let subscribed = query::address(&address)?;
            let owner = state.viewer(&headers).await?.filter(|v| *v == subscribed);
            (query::recipient_key(subscribed), owner, owner.is_some())
        }
        (None, Some(channel)) => (query::channel(&channel)?.to_string(), None, true),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_address",
                "pass ?address=<wallet address> or ?channel=<channel id>, not both",
            ))
        }
    };
    // No cursor: start from now, so only events confirmed from here on arrive.
    let after = match query::stream_cursor(p.after.as_deref())? {
        Some(c) => c,
        None => StreamCursor(state.store.last_event_seq().await?),
    };
    let slot = take_slot(&state, &recipient, owned)?;
    // What the session opened ends with it: the stream keeps the cookie to
    // ask again at each heartbeat.
    let mut session = HeaderMap::new();
    if owner.is_some() {
        for cookie in headers.get_all(axum::http::header::COOKIE) {
            session.append(axum::http::header::COOKIE, cookie.clone());
        }
    }
    metrics::gauge!("cairn_stream_connections").increment(1.0);
    // Clients send only pongs and small presence frames: a large frame is an attack.
    // Small socket buffers: tungstenite's 128 KiB defaults cost 10,000
    // streams over a GiB, for clients that send a few bytes and are sent
    // frames of one or two KiB, each flushed as soon as it is queued.
    let viewer = if owner.is_some() {
        "owner"
    } else {
        "anonymous"
    };
    let mut response = ws
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(SOCKET_BUFFER)
        .on_upgrade(move |socket| async move {
            serve(socket, state, recipient, owner, after, session).await;
            drop(slot);
            metrics::gauge!("cairn_stream_connections").decrement(1.0);
        });
    // Says how the node took the connection, so that a client that signed
    // in can refuse a stream served to it as anonymous (blocked senders
    // would be pushed).
    response
        .headers_mut()
        .insert(VIEWER_HEADER, axum::http::HeaderValue::from_static(viewer));
    Ok(response)
}

/// A hold on one of `recipient`'s stream slots, or `429 too_many_streams`.
/// `owned` streams (the signed-in owner's, and channels', which have no
/// owner) and anonymous streams of an address count apart.
pub(super) fn take_slot(
    state: &ApiState,
    recipient: &str,
    owned: bool,
) -> Result<Slot<String>, ApiError> {
    let (key, cap, whose) = match owned {
        true => (recipient.to_string(), state.stream.max_per_address, ""),
        false => (
            format!("anonymous:{recipient}"),
            state.stream.max_anonymous_per_address,
            "anonymous ",
        ),
    };
    state.streams.try_take(key, cap).ok_or_else(|| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_streams",
            format!("{cap} {whose}streams are already open for this address"),
        )
    })
}

/// The handshake response's header naming how the stream was opened:
/// `owner` (signed in as the subscribed address) or `anonymous`.
pub const VIEWER_HEADER: &str = "x-cairn-viewer";

/// The close code of a signed-in stream whose session ended.
pub const SESSION_ENDED: u16 = 4401;

enum End {
    ClientGone,
    Close(u16, &'static str),
}

async fn serve(
    socket: WebSocket,
    state: ApiState,
    recipient: String,
    owner: Option<Address>,
    after: StreamCursor,
    session: HeaderMap,
) {
    let config = state.stream.clone();
    let close_grace = config.close_grace;
    let (mut sink, mut incoming) = socket.split();
    let (out, mut queue) = mpsc::channel::<WsMessage>(config.buffer);
    let (close_tx, close_rx) = oneshot::channel::<(u16, &'static str)>();

    // The writer owns the socket's sending half, so a stalled client stalls
    // only this task. Stalls are detected by the pump (the bounded queue stays
    // full past the send timeout); a close request then interrupts whatever
    // the writer is waiting on. The close frame gets a grace period, so a
    // client that resumes reading still learns why it was cut off.
    let writer = tokio::spawn(async move {
        tokio::pin!(close_rx);
        let close = loop {
            let message = tokio::select! {
                biased;
                close = &mut close_rx => break close.ok(),
                next = queue.recv() => match next {
                    Some(message) => message,
                    None => break None,
                },
            };
            tokio::select! {
                biased;
                close = &mut close_rx => break close.ok(),
                sent = sink.send(message) => if sent.is_err() { break None },
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ =
                tokio::time::timeout(close_grace, sink.send(WsMessage::Close(Some(frame)))).await;
        }
    });

    let joined = owner.map(|o| state.presence.join(o, out.clone()));
    let end = pump(
        &state,
        &recipient,
        owner,
        &session,
        after,
        &out,
        &mut incoming,
    )
    .await;
    drop(joined);
    if let End::Close(code, reason) = end {
        tracing::info!(code, reason, "closing stream");
        let _ = close_tx.send((code, reason));
    }
    drop(out);
    let _ = writer.await;
}

async fn pump(
    state: &ApiState,
    recipient: &str,
    owner: Option<Address>,
    session: &HeaderMap,
    mut after: StreamCursor,
    out: &mpsc::Sender<WsMessage>,
    incoming: &mut futures::stream::SplitStream<WebSocket>,
) -> End {
    let config = &state.stream;
    // Subscribe first, then catch up: see `crate::fanout`.
    let mut live = state.fanout.subscribe(recipient);
    // Where this connection starts, before anything else: a client that
    // came without a cursor resumes from here, not from a later "now".
    let start = json!({"type": "heartbeat", "cursor": after.encode()}).to_string();
    if let Err(end) = send(out, start.into(), config.send_timeout).await {
        return end;
    }
    if let Err(end) = catch_up(state, recipient, owner, &mut after, out).await {
        return end;
    }
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.tick().await;
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            next = live.recv() => match next {
                Live::Event(published) => {
                    let seq = published.event.seq();
                    if seq <= after.0 {
                        continue;
                    }
                    let blocked = match owner {
                        Some(owner) => match is_blocked(state, owner, &published.event).await {
                            Ok(blocked) => blocked,
                            Err(err) => {
                                tracing::error!(%err, "stream could not read consent");
                                return End::Close(1011, "server error; reconnect with your last cursor");
                            }
                        },
                        None => false,
                    };
                    if !blocked {
                        if let Err(end) = send(out, published.frame.clone(), config.send_timeout).await {
                            return end;
                        }
                    }
                    after = StreamCursor(seq);
                }
                Live::Dropped => {
                    // Behind by a whole queue: read the rest from the store.
                    live = state.fanout.subscribe(recipient);
                    if let Err(end) = catch_up(state, recipient, owner, &mut after, out).await {
                        return end;
                    }
                }
                Live::Closed => return End::Close(1001, "server shutting down"),
            },
            _ = heartbeat.tick() => {
                if awaiting_pong {
                    return End::Close(1000, "heartbeat timeout");
                }
                // A session ends at logout or expiry, and so do the rights
                // it opened: consent filtering and presence.
                if let Some(owner) = owner {
                    match state.viewer(session).await {
                        Ok(Some(viewer)) if viewer == owner => {}
                        Ok(_) => return End::Close(SESSION_ENDED, "session ended: sign in again, or reconnect anonymously"),
                        Err(_) => return End::Close(1011, "server error; reconnect with your last cursor"),
                    }
                }
                awaiting_pong = true;
                let beat = json!({"type": "heartbeat", "cursor": after.encode()}).to_string();
                // A full buffer already means the client is behind: skip the beat.
                let _ = out.try_send(WsMessage::Text(beat.into()));
                let _ = out.try_send(WsMessage::Ping(Default::default()));
            }
            frame = incoming.next() => match frame {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return End::ClientGone,
                Some(Ok(WsMessage::Pong(_))) => awaiting_pong = false,
                Some(Ok(WsMessage::Text(text))) => {
                    if let Some(error) = presence(state, owner, &text).await {
                        let _ = out.try_send(WsMessage::Text(error.to_string().into()));
                    }
                }
                Some(Ok(_)) => {}
            }
        }
    }
}

/// Sends everything in the store after `after`, in order, moving `after`.
async fn catch_up(
    state: &ApiState,
    recipient: &str,
    owner: Option<Address>,
    after: &mut StreamCursor,
    out: &mpsc::Sender<WsMessage>,
) -> Result<(), End> {
    let server_error = |err: crate::store::StoreError| {
        tracing::error!(%err, "stream could not read the store");
        End::Close(1011, "server error; reconnect with your last cursor")
    };
    loop {
        let events = state
            .store
            .events_after(recipient, *after, state.stream.batch)
            .await
            .map_err(server_error)?;
        let Some(last) = events.last() else {
            return Ok(());
        };
        let next_after = StreamCursor(last.seq());
        let events = match owner {
            Some(owner) => without_blocked(state, owner, events)
                .await
                .map_err(server_error)?,
            None => events,
        };
        for event in events {
            let frame = serde_json::to_string(&event).expect("events serialise");
            send(out, frame.into(), state.stream.send_timeout).await?;
        }
        *after = next_after;
    }
}

/// Queues one frame for the writer; a buffer full for longer than
/// `timeout` is a slow consumer.
async fn send(
    out: &mpsc::Sender<WsMessage>,
    frame: Utf8Bytes,
    timeout: Duration,
) -> Result<(), End> {
    match out.send_timeout(WsMessage::Text(frame), timeout).await {
        Ok(()) => {
            metrics::counter!("cairn_stream_frames_total").increment(1);
            Ok(())
        }
        Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
            metrics::counter!("cairn_stream_slow_consumers_total").increment(1);
            Err(End::Close(
                1008,
                "slow consumer: send buffer full; reconnect with your last cursor",
            ))
        }
        Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(End::ClientGone),
    }
}

/// Whether `owner` blocked the sender of `event`.
async fn is_blocked(
    state: &ApiState,
    owner: Address,
    event: &StreamEvent,
) -> Result<bool, crate::store::StoreError> {
    let me = query::owner_key(owner);
    if event.message.from == me {
        return Ok(false);
    }
    let said = state.store.consent_for(&me, &event.message.from).await?;
    let blocked = said == Some(ConsentState::Block);
    if blocked {
        metrics::counter!("cairn_stream_blocked_total").increment(1);
    }
    Ok(blocked)
}

/// `events` less those from senders `owner` blocked.
pub(super) async fn without_blocked(
    state: &ApiState,
    owner: Address,
    events: Vec<StreamEvent>,
) -> Result<Vec<StreamEvent>, crate::store::StoreError> {
    let me = query::owner_key(owner);
    if events.iter().all(|e| e.message.from == me) {
        return Ok(events);
    }
    let blocked: std::collections::HashSet<String> = state
        .store
        .consent(&me)
        .await?
        .into_iter()
        .filter(|c| c.state == ConsentState::Block)
        .map(|c| c.peer)
        .collect();
    let before = events.len();
    let kept: Vec<_> = events
        .into_iter()
        .filter(|e| !blocked.contains(&e.message.from))
        .collect();
    metrics::counter!("cairn_stream_blocked_total").increment((before - kept.len()) as u64);
    Ok(kept)
}

/// Relays one presence frame from the connection of `owner` (if signed in);
/// returns the error frame to answer with, if any. A recipient who has not
/// allowed the sender gets nothing, and the sender is not told so.
async fn presence(
    state: &ApiState,
    owner: Option<Address>,
    text: &str,
) -> Option<serde_json::Value> {
    let error = |code: &str, message: &str| {
        Some(json!({"type": "error", "code": code, "message": message}))
    };
    let Some(from) = owner else {
        return error(
            "no_session",
            "presence needs a session signed in as the subscribed address",
        );
    };
    let ClientFrame::Presence { to, state: said } = match serde_json::from_str(text) {
        Ok(frame) => frame,
        Err(e) => return error("invalid_frame", &e.to_string()),
    };
    if !state.presence.take(from, std::time::Instant::now()) {
        metrics::counter!("cairn_presence_frames_total", "outcome" => "rate_limited").increment(1);
        return error("rate_limited", "too many presence frames; slow down");
    }
    let allowed = state
        .store
        .consent_for(&query::owner_key(to), &query::owner_key(from))
        .await;
    let outcome = match allowed {
        Ok(Some(ConsentState::Allow)) if state.presence.deliver(from, to, said) > 0 => "delivered",
        Ok(Some(ConsentState::Allow)) => "nobody_listening",
        Ok(_) => "not_allowed",
        Err(err) => {
            tracing::warn!(%err, "presence could not read consent");
            "error"
        }
    };
    metrics::counter!("cairn_presence_frames_total", "outcome" => outcome).increment(1);
    None
}
