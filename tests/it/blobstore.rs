//! Both `BlobStore` backends against a real Kubo daemon: same bytes, same CID.

use bytes::Bytes;
use cairn::store::{cid, BlobStore, EmbeddedStore, KuboStore, StoreError, MAX_BLOCK_SIZE};

use crate::harness::Kubo;

#[tokio::test]
async fn kubo_and_embedded_agree_on_every_cid() {
    let kubo_daemon = Kubo::start().await;
    let kubo = KuboStore::new(&kubo_daemon.api_url);
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path()).unwrap();

    let blocks: Vec<Vec<u8>> = vec![
        b"x".to_vec(),
        b"hello world".to_vec(),
        (0..=255u8).cycle().take(64 * 1024).collect(),
        vec![0xab; MAX_BLOCK_SIZE],
    ];
    for block in blocks {
        let bytes = Bytes::from(block);
        let from_kubo = kubo.put(bytes.clone()).await.unwrap();
        let from_embedded = embedded.put(bytes.clone()).await.unwrap();
        assert_eq!(
            from_kubo,
            from_embedded,
            "CIDs differ for a {}-byte block",
            bytes.len()
        );
        assert_eq!(from_kubo, cid::cid_for_block(&bytes));
        // Each backend serves the other's CID, verified.
        assert_eq!(kubo.get(&from_embedded).await.unwrap(), bytes);
        assert_eq!(embedded.get(&from_kubo).await.unwrap(), bytes);
        assert!(kubo.has(&from_kubo).await.unwrap());
    }
}

#[tokio::test]
async fn kubo_refuses_oversize_and_reports_missing() {
    let kubo_daemon = Kubo::start().await;
    let kubo = KuboStore::new(&kubo_daemon.api_url);
    let before = kubo_daemon.local_block_count().await;
    let big = Bytes::from(vec![1u8; MAX_BLOCK_SIZE + 1]);
    assert!(matches!(
        kubo.put(big).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(
        kubo_daemon.local_block_count().await,
        before,
        "nothing stored for the refused block"
    );

    let absent = cid::cid_for_block(b"never stored");
    assert!(!kubo.has(&absent).await.unwrap());
    assert!(matches!(kubo.get(&absent).await, Err(StoreError::NotFound(c)) if *c == absent));
}

#[tokio::test]
async fn unreachable_kubo_is_a_transient_error() {
    let port = crate::harness::free_port();
    let kubo = KuboStore::new(&format!("http://127.0.0.1:{port}"));
    let err = kubo.put(Bytes::from_static(b"x")).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn kubo_stores_many_blocks_in_one_call() {
    let kubo_daemon = Kubo::start().await;
    let kubo = KuboStore::new(&kubo_daemon.api_url);
    let blocks: Vec<Bytes> = (0..300u32)
        .map(|i| Bytes::from(format!("block number {i}").into_bytes()))
        .collect();
    let cids = kubo.put_many(blocks.clone()).await.unwrap();
    assert_eq!(cids.len(), blocks.len());
    // Pinned (under one recursive pin), so garbage collection keeps them.
    let gc = reqwest::Client::new()
        .post(format!("{}/api/v0/repo/gc", kubo_daemon.api_url))
        .send()
        .await
        .unwrap();
    assert!(gc.status().is_success());
    gc.text().await.unwrap();
    for (block, cid) in blocks.iter().zip(&cids) {
        assert_eq!(*cid, cid::cid_for_block(block));
        assert_eq!(kubo.get(cid).await.unwrap(), *block);
    }
    // One oversize block refuses the whole call before anything is sent.
    let fresh = Bytes::from_static(b"never stored");
    let err = kubo
        .put_many(vec![
            fresh.clone(),
            Bytes::from(vec![0u8; MAX_BLOCK_SIZE + 1]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::TooLarge { .. }), "{err}");
    assert!(!kubo.has(&cid::cid_for_block(&fresh)).await.unwrap());
}

#[tokio::test]
async fn kubo_reads_many_blocks_in_one_export_and_reports_the_missing() {
    let kubo_daemon = Kubo::start().await;
    let kubo = KuboStore::new(&kubo_daemon.api_url);
    let blocks: Vec<Bytes> = (0..50u32)
        .map(|i| Bytes::from(format!("stored block {i}").into_bytes()))
        .collect();
    let mut cids = kubo.put_many(blocks.clone()).await.unwrap();
    // Blocks nobody stored: one alone, and a run of three. An export stops
    // at each; the blocks after them still come by export.
    let absent: Vec<_> = (0..4)
        .map(|i| cid::cid_for_block(format!("never stored {i}").as_bytes()))
        .collect();
    cids.insert(20, absent[0]);
    for (i, cid) in absent[1..].iter().enumerate() {
        cids.insert(36 + i, *cid);
    }
    let missing = [20, 36, 37, 38];
    let calls_before = kubo_daemon.api_calls().await;
    let found = kubo.fetch_many_unverified(&cids).await.unwrap();
    let calls = kubo_daemon.api_calls().await - calls_before;
    assert_eq!(found.len(), 54);
    for i in missing {
        assert_eq!(found[i], None, "block {i} was never stored");
    }
    let present: Vec<Bytes> = found
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !missing.contains(i))
        .map(|(_, b)| b.expect("stored blocks are found"))
        .collect();
    assert_eq!(present, blocks);
    // Three exports (a list stored and exported: two calls each), the four
    // missing blocks and the block after each gap alone: 12 calls. Reading
    // every block after the first gap alone made 36. Kubo counts a call
    // just after it answers, so either reading may lag by a call or two.
    assert!(calls <= 18, "{calls} Kubo calls for 54 blocks");
    // A round may name one block twice (two messages, one envelope).
    let twice = kubo
        .fetch_many_unverified(&[cids[0], cids[1], cids[0]])
        .await
        .unwrap();
    assert_eq!(
        twice,
        vec![
            Some(blocks[0].clone()),
            Some(blocks[1].clone()),
            Some(blocks[0].clone())
        ]
    );
}

/// Over several nodes, a round goes to the preferred node by export, and
/// only what it lacks goes to the others, one block at a time. The
/// preferred node has just said which blocks it lacks, so it is not asked
/// for them again: it answers as many calls as it does alone.
#[tokio::test]
async fn over_two_nodes_a_round_asks_the_preferred_node_once_for_each_block() {
    let (a, b) = (Kubo::start().await, Kubo::start().await);
    let block = |node: &str, i: u32| Bytes::from(format!("on {node} only, {i}").into_bytes());
    let on_a: Vec<Bytes> = (0..10).map(|i| block("a", i)).collect();
    let on_b: Vec<Bytes> = (0..10).map(|i| block("b", i)).collect();
    let mut cids = KuboStore::new(&a.api_url)
        .put_many(on_a.clone())
        .await
        .unwrap();
    cids.extend(
        KuboStore::new(&b.api_url)
            .put_many(on_b.clone())
            .await
            .unwrap(),
    );
    let nowhere: Vec<_> = (0..10)
        .map(|i| cid::cid_for_block(format!("stored nowhere {i}").as_bytes()))
        .collect();
    cids.extend(&nowhere);

    // What the preferred node costs when it is asked alone.
    let before = a.api_calls().await;
    let alone = KuboStore::new(&a.api_url)
        .fetch_many_unverified(&cids)
        .await
        .unwrap();
    let a_alone = a.api_calls().await - before;
    assert_eq!(alone.iter().filter(|b| b.is_some()).count(), 10);

    let both = KuboStore::new(&format!("{},{}", a.api_url, b.api_url));
    let (a_before, b_before) = (a.api_calls().await, b.api_calls().await);
    let found = both.fetch_many_unverified(&cids).await.unwrap();
    let (a_calls, b_calls) = (
        a.api_calls().await - a_before,
        b.api_calls().await - b_before,
    );
    let expected: Vec<Option<Bytes>> = on_a
        .into_iter()
        .chain(on_b)
        .map(Some)
        .chain(nowhere.iter().map(|_| None))
        .collect();
    assert_eq!(found, expected);
    // Kubo counts a call just after it answers (the reading of the count
    // is a call too), so a reading may lag by a call or two, and the margin
    // is twice that. Asking the preferred node again for what it lacks made
    // 11 more: the first block only on the other node (which is then
    // preferred) and the 10 stored nowhere.
    assert!(
        a_calls <= a_alone + 4,
        "the preferred node answered {a_calls} calls, {a_alone} alone"
    );
    let lacking = (10 + nowhere.len()) as u64;
    assert!(
        b_calls <= lacking + 4,
        "the other node answered {b_calls} calls for the {lacking} blocks the first lacks"
    );
}

/// The kubo store over two IPFS Cluster peers: a write is on both Kubo
/// nodes, pinned; when one dies, writes go on to the other and every block
/// is still read, from the survivor.
#[tokio::test]
async fn a_block_cluster_keeps_every_block_when_a_kubo_node_dies() {
    let mut cluster = crate::harness::BlockCluster::start(2).await;
    let store = KuboStore::new(&cluster.store_url());
    let block = |i: usize| Bytes::from(format!("cluster block {i}").into_bytes());
    let mut cids = vec![store.put(block(0)).await.unwrap()];
    cids.extend(store.put_many((1..10).map(block).collect()).await.unwrap());

    // Each Kubo alone has them all.
    let kubo = |i: usize| KuboStore::new(&cluster.kubos[i].api_url);
    let (first, second) = (kubo(0), kubo(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for cid in &cids {
        while !(first.has(cid).await.unwrap() && second.has(cid).await.unwrap()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{cid} was not replicated"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    cluster.kubos[0].kill();
    // Writes go on through the other peer; reads find every block.
    cids.extend(store.put_many((10..15).map(block).collect()).await.unwrap());
    cids.push(store.put(block(15)).await.unwrap());
    for (i, cid) in cids.iter().enumerate() {
        assert_eq!(store.get(cid).await.unwrap(), block(i), "block {i}");
    }
    let many = store.fetch_many_unverified(&cids).await.unwrap();
    assert!(many.iter().all(Option::is_some));
    // Only the survivor could be asked, and it says so for a block that
    // exists nowhere: not found would be a lie while a node is down.
    let nowhere = cid::cid_for_block(b"stored nowhere");
    assert!(store.get(&nowhere).await.unwrap_err().is_transient());
    assert!(matches!(
        second.get(&nowhere).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A TCP relay to `upstream` that passes what the client sends in pieces
/// of 256 bytes, 2 ms apart, as a loaded machine does now and then; the
/// answers pass at once. Returns the relay's URL.
async fn slow_uploads_to(upstream: &str) -> String {
    let upstream = upstream.trim_start_matches("http://").to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let up = async move {
                    let mut buf = [0u8; 256];
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                    let _ = server_write.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    url
}

/// IPFS Cluster's proxy stops reading a request once Kubo starts to
/// answer it. A `block/put` of several blocks whose body arrived over time
/// lost every block after the first answer ("error decoding response
/// body", or an answer for 1 of 20); the store now sends them as one CAR,
/// which Kubo reads whole before it answers.
#[tokio::test]
async fn a_cluster_proxy_stores_every_block_of_a_slow_upload() {
    let cluster = crate::harness::BlockCluster::start(1).await;
    let slow = slow_uploads_to(&cluster.proxy_urls[0]).await;
    let store = KuboStore::new(&slow);
    let direct = KuboStore::new(&cluster.kubos[0].api_url);
    for round in 0..3 {
        let blocks: Vec<Bytes> = (0..20)
            .map(|i| Bytes::from(format!("slow block {round}.{i} {}", "x".repeat(200))))
            .collect();
        let cids = store.put_many(blocks.clone()).await.unwrap();
        for (cid, block) in cids.iter().zip(&blocks) {
            assert_eq!(direct.get(cid).await.unwrap(), *block, "round {round}");
        }
        // One block alone, through the proxy's own block/put handling.
        let single = Bytes::from(format!("slow single {round}"));
        let cid = store.put(single.clone()).await.unwrap();
        assert_eq!(direct.get(&cid).await.unwrap(), single);
    }
}
