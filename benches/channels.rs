//! Channel benchmark, for channels of 500 and 5,000 members (CAIRN_BENCH_MEMBERS,
//! comma-separated), on a real Anvil: the rotation bundle's size and the time
//! to build it, gas per membership change and per rotation, and the time for
//! a member to open a post (find and unwrap the epoch key, then open).
//! Run with `make bench-channels`; figures go in docs/BENCHMARKS.md.
//!
//! Members are random addresses with random x25519 keys: the bundle is built
//! from them directly, as `cairn channel rotate` does after reading their
//! registered keys. Members are added in chunks of 250 (a block's gas
//! limit), and gas is read from each receipt.

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/it/harness.rs"]
mod harness;

use std::time::Instant;

use alloy::primitives::{Address, B256};
use cairn::{
    chain::{CairnClient, Gate},
    channel::bundle,
    crypto::SecretKey,
    envelope::{self, Body, Header},
    store::cid,
};
use harness::{signer, Anvil, DEPLOYER_KEY};

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}

async fn run() {
    let sizes: Vec<usize> = std::env::var("CAIRN_BENCH_MEMBERS")
        .unwrap_or_else(|_| "500,5000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("a member count"))
        .collect();
    let anvil = Anvil::start().await;
    let (contract, deployed) = CairnClient::deploy(&anvil.url, signer(DEPLOYER_KEY))
        .await
        .unwrap();
    let admin = CairnClient::connect(&anvil.url, contract, Some(signer(DEPLOYER_KEY)))
        .await
        .unwrap();
    // A post to a wallet, in steady state (the second one: the first pays
    // for the sequence counter's first write).
    let wallet = random_address().into_word();
    admin.post(wallet, B256::repeat_byte(1)).await.unwrap();
    let direct = admin.post(wallet, B256::repeat_byte(2)).await.unwrap();
    println!(
        "deploy: {} gas; post to a wallet: {} gas",
        deployed.gas_used, direct.inclusion.gas_used
    );
    println!("| members | bundle (root + parts) | build | add 1 member (gas) | remove 1 (gas) | rotation (gas) | post (gas) | open a post | create + add all (gas) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let people: Vec<(Address, SecretKey)> = (0..n)
            .map(|_| {
                (
                    random_address(),
                    SecretKey::generate(&mut rand::rngs::OsRng),
                )
            })
            .collect();
        let (channel, created) = admin
            .create_channel("bench", &[admin_address()], &[], Gate::MembersOnly)
            .await
            .unwrap();
        let mut setup_gas = created.gas_used;
        for chunk in people.chunks(250) {
            let added: Vec<Address> = chunk.iter().map(|(a, _)| *a).collect();
            setup_gas += admin
                .change_members(channel, &added, &[])
                .await
                .unwrap()
                .1
                .gas_used;
        }
        let extra = random_address();
        let add_one = admin
            .change_members(channel, &[extra], &[])
            .await
            .unwrap()
            .1
            .gas_used;
        let remove_one = admin
            .change_members(channel, &[], &[extra])
            .await
            .unwrap()
            .1
            .gas_used;
        let epoch = admin.channel(channel).await.unwrap().unwrap().epoch;
        if n == people.len() && n > 0 {
            // The admin joins to post once, for the gas of a channel post.
            admin
                .change_members(channel, &[admin_address()], &[])
                .await
                .unwrap();
        }
        let epoch = epoch + 1;
        let channel_post = admin
            .post(channel, B256::repeat_byte(3))
            .await
            .unwrap()
            .inclusion
            .gas_used;
        println!("post to the channel of {n}: {channel_post} gas");

        let public: Vec<_> = people.iter().map(|(a, s)| (*a, s.public_key())).collect();
        let mut epoch_key = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut epoch_key);
        let started = Instant::now();
        let built = bundle::build(channel, epoch, &epoch_key, &public).unwrap();
        let build = started.elapsed();
        let size = built.root.len() + built.parts.iter().map(Vec::len).sum::<usize>();
        let rotation = admin
            .publish_epoch_key(channel, epoch, cid::block_digest(&built.root))
            .await
            .unwrap()
            .gas_used;

        // A member opens a post: parse the root, pick the part, unwrap, open.
        let (member, secret) = &people[n / 2];
        let post = envelope::seal_channel(
            &Header {
                sender: *member,
                recipient: channel,
                timestamp: 0,
                reply_to: None,
            },
            epoch,
            &epoch_key,
            &Body::text("gm"),
        )
        .unwrap();
        let started = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            let root = bundle::parse_root(&built.root, channel, epoch).unwrap();
            let wanted: B256 = root.part_for(*member).unwrap();
            let part = built
                .parts
                .iter()
                .find(|p| cid::block_digest(p) == wanted)
                .unwrap();
            let key = bundle::open_part(part, channel, epoch, *member, secret).unwrap();
            envelope::open_channel(&post, &key).unwrap();
        }
        let open = started.elapsed() / rounds;
        println!(
            "| {n} | {} bytes in {} block(s) | {:.1} ms | {add_one} | {remove_one} | {rotation} | {channel_post} | {:.2} ms | {setup_gas} |",
            size,
            1 + built.parts.len(),
            build.as_secs_f64() * 1e3,
            open.as_secs_f64() * 1e3,
        );
    }
}

fn admin_address() -> Address {
    signer(DEPLOYER_KEY).address()
}

fn random_address() -> Address {
    let mut bytes = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    Address::from(bytes)
}
