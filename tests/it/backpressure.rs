//! Slow consumers: a stream client that stops reading is disconnected with
//! a reason once its bounded buffer stays full, and never holds others back.

use std::time::Duration;

use alloy::primitives::Address;
use cairn_indexer::api::StreamConfig;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::{protocol::frame::coding::CloseCode, Message as WsMessage};

use crate::{
    harness::{mine, post_many},
    read_path::{Stack, StoreChoice, StreamClient},
};

/// More frames (about 700 bytes each) than the 4 MiB a loopback socket can buffer.
const EVENTS: usize = 12_000;

#[tokio::test]
async fn slow_consumer_is_disconnected_and_others_are_not_blocked() {
    let stream = StreamConfig {
        buffer: 8,
        send_timeout: Duration::from_secs(1),
        heartbeat: Duration::from_secs(60),
        batch: 256,
        // The slow client reads again only once the fast one has everything,
        // which under a loaded machine takes a while.
        close_grace: Duration::from_secs(120),
        ..StreamConfig::default()
    };
    let stack = Stack::start_with(false, StoreChoice::Embedded, 1, stream).await;
    let recipient = Address::with_last_byte(0x10);

    // The slow client stops reading: its socket buffers fill, then its
    // 8-frame queue, and after the 1 s send timeout the server gives up.
    let url = format!(
        "{}/v1/stream?address={recipient}",
        stack.api.replacen("http", "ws", 1)
    );
    // A fixed 32 KiB receive buffer turns off the kernel's autotuning, which
    // on loopback would otherwise absorb megabytes before the server notices.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    let tcp = socket
        .connect(stack.node.as_ref().unwrap().addr)
        .await
        .unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    // The fast client reads all along, in its own task.
    let mut fast = StreamClient::connect(&stack.api, recipient, None).await;
    let fast = tokio::spawn(async move { fast.take(EVENTS).await });

    post_many(&stack.anvil.url, stack.contract, EVENTS, 250, 1).await;
    mine(&stack.anvil.url, 1).await;

    // The fast client gets every event, in order, while the slow one is stalled.
    let events = fast.await.unwrap();
    assert!(events
        .windows(2)
        .all(|w| w[0].message.sequence < w[1].message.sequence));

    // The slow client, reading again, finds what was buffered, then the reason.
    let mut delivered = 0;
    let close = loop {
        let next = tokio::time::timeout(Duration::from_secs(30), slow.next()).await;
        let next = next.unwrap_or_else(|_| panic!("no close after {delivered} frames"));
        match next {
            Some(Ok(WsMessage::Text(_))) => delivered += 1,
            Some(Ok(WsMessage::Close(frame))) => break frame.expect("a close frame with a reason"),
            Some(Ok(_)) => {}
            other => panic!("stream ended without a close frame after {delivered}: {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Policy);
    assert!(close.reason.contains("slow consumer"), "{}", close.reason);
    assert!(
        delivered < EVENTS,
        "disconnected before everything was sent ({delivered})"
    );
    eprintln!("slow consumer received {delivered} of {EVENTS} frames before its close frame");
}
