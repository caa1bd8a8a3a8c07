//! The governance bot (`examples/governance-bot`), the example that proves
//! `cairn-client`: an OpenZeppelin Governor with an ERC20Votes token on
//! Anvil, a proposal created, voted on and executed, and every member of
//! the DAO's channel reading the bot's three posts with the CLI. The bot is
//! stopped between events and once loses its cursor, as after a crash
//! between a post and the save: it posts nothing twice.

use std::{path::Path, time::Duration};

use alloy::{
    primitives::{keccak256, Address, Bytes, U256},
    providers::Provider,
};

use crate::{
    channels::wallet_provider,
    gateway_stack::{outbox_db, Chain},
    harness::{mine, repo_root, signer, Anvil, ALICE_KEY, BOB_KEY, CAROL_KEY},
};

/// The DAO's contracts (`contracts/test/Governance.sol`); their permit
/// and proposal calls take many arguments.
#[allow(clippy::too_many_arguments)]
mod dao {
    alloy::sol!(
        #[sol(rpc)]
        TestVotes,
        "contracts/artifacts/TestVotes.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        TestGovernor,
        "contracts/artifacts/TestGovernor.json"
    );
}
use dao::{TestGovernor, TestVotes};

/// The bot's wallet: Carol, a member of the channel.
const BOT_KEY: &str = CAROL_KEY;

/// Builds the bot (cheap once `cargo test --workspace` has built its
/// dependencies) and returns its path.
fn bot_binary() -> std::path::PathBuf {
    let build = std::process::Command::new(env!("CARGO"))
        .args(["build", "--locked", "-p", "cairn-governance-bot"])
        .current_dir(repo_root())
        .output()
        .expect("cargo runs");
    assert!(
        build.status.success(),
        "building the bot: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("debug/cairn-governance-bot")
}

/// Runs the bot once up to the head; its stderr.
async fn run_bot(bot: &Path, args: &[String]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(bot)
            .args(args)
            .args(["--once", "--confirmations", "1"])
            .env("CAIRN_BOT_KEY", BOT_KEY)
            .output(),
    )
    .await
    .expect("the bot ends within two minutes")
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the bot failed: {stderr}");
    println!("{stderr}");
    stderr
}

#[tokio::test]
async fn the_governance_bot_posts_each_proposal_event_to_the_channel_once() {
    let bot = bot_binary();
    let chain = Chain::start(0, Anvil::start().await, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let (_outbox, outbox_url) = outbox_db(false).await;
    let node = chain.reader_node(dir.path(), false, Some(outbox_url)).await;
    let api = format!("http://{}", node.addr);
    let cli = chain.cli(&api, dir.path());

    // Alice holds the votes; Bob reads; Carol is the bot. All three are in the channel.
    let members = [ALICE_KEY, BOB_KEY, BOT_KEY];
    for key in members {
        let out = cli.run(key, &["register"]).await;
        assert!(out.success, "cairn register: {}", out.stderr);
    }
    let mut create = vec![
        "channel".to_string(),
        "create".into(),
        "--name".into(),
        "dao".into(),
    ];
    for key in members {
        create.extend(["--member".into(), signer(key).address().to_string()]);
    }
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let out = cli.run(ALICE_KEY, &create).await;
    assert!(out.success, "cairn channel create: {}", out.stderr);
    let channel = out.json()["channel"].as_str().unwrap().to_string();

    // The DAO: a votes token and a Governor over it, Alice's votes delegated to herself.
    let alices = wallet_provider(&chain.url, ALICE_KEY).await;
    let alice = signer(ALICE_KEY).address();
    let token = TestVotes::deploy(&alices).await.unwrap();
    let governor = TestGovernor::deploy(&alices, *token.address())
        .await
        .unwrap();
    let send = |call: alloy::rpc::types::TransactionRequest| {
        let alices = alices.clone();
        async move {
            let receipt = alices
                .send_transaction(call)
                .await
                .unwrap()
                .get_receipt()
                .await
                .unwrap();
            assert!(receipt.status(), "{receipt:?}");
        }
    };
    send(
        token
            .mint(alice, U256::from(100u64))
            .into_transaction_request(),
    )
    .await;
    send(token.delegate(alice).into_transaction_request()).await;
    let from_block = alices.get_block_number().await.unwrap();
    let bot_args: Vec<String> = [
        "--rpc",
        &chain.url,
        "--contract",
        &chain.contract.to_string(),
        "--governor",
        &governor.address().to_string(),
        "--channel",
        &channel,
        "--gateway",
        &api,
        "--kubo",
        &chain.kubo.api_url,
        "--state",
        &dir.path().join("bot.json").display().to_string(),
        "--from-block",
        &from_block.to_string(),
    ]
    .map(str::to_string)
    .to_vec();

    // A proposal opens; the bot posts it and stops.
    let description = "Fund the grants round\n\nSend nothing to Bob, as a test.";
    let (targets, values, calldatas) = (
        vec![signer(BOB_KEY).address()],
        vec![U256::ZERO],
        vec![Bytes::new()],
    );
    send(
        governor
            .propose(
                targets.clone(),
                values.clone(),
                calldatas.clone(),
                description.into(),
            )
            .into_transaction_request(),
    )
    .await;
    mine(&chain.url, 2).await;
    let first = run_bot(&bot, &bot_args).await;
    assert_eq!(lines(&first, "posted "), 1, "{first}");

    // Alice votes for it, and once voting is over executes it.
    send(
        governor
            .castVoteWithReason(
                proposal_id(&targets, &values, &calldatas, description),
                1,
                "good use of funds".into(),
            )
            .into_transaction_request(),
    )
    .await;
    mine(&chain.url, 6).await;
    send(
        governor
            .execute(targets, values, calldatas, keccak256(description))
            .into_transaction_request(),
    )
    .await;
    mine(&chain.url, 2).await;

    // The bot lost its cursor, as if it crashed after posting and before
    // saving: it goes over the proposal again and must not post it twice.
    std::fs::remove_file(dir.path().join("bot.json")).unwrap();
    let second = run_bot(&bot, &bot_args).await;
    assert_eq!(lines(&second, "already posted"), 1, "{second}");
    assert_eq!(lines(&second, "posted "), 2, "{second}");
    let third = run_bot(&bot, &bot_args).await;
    assert_eq!(
        lines(&third, "posted ") + lines(&third, "already posted"),
        0,
        "nothing new: {third}"
    );

    // Every member reads the three posts, in order, once each, from the bot.
    let bot_address = signer(BOT_KEY).address().to_string().to_lowercase();
    let expected = ["opened by", "voted For", "was executed"];
    for key in members {
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let out = cli.run(key, &["channel", "read", &channel]).await;
                assert!(out.success, "cairn channel read: {}", out.stderr);
                let page = out.json();
                if page["messages"].as_array().unwrap().len() >= 3 {
                    return page;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
        .expect("the three posts are anchored within a minute");
        let messages = read["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3, "no post twice: {read}");
        for (m, part) in messages.iter().zip(expected) {
            assert_eq!(
                m["from"].as_str().unwrap().to_lowercase(),
                bot_address,
                "{m}"
            );
            assert!(m["text"].as_str().unwrap().contains(part), "{m}");
        }
        assert!(messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Fund the grants round"));
        assert!(messages[1]["text"]
            .as_str()
            .unwrap()
            .contains("good use of funds"));
    }
    node.shutdown().await.unwrap();
}

/// How many of the bot's lines start with `start`.
fn lines(stderr: &str, start: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with(start)).count()
}

/// OpenZeppelin's `hashProposal`: keccak256(abi.encode(targets, values, calldatas, descriptionHash)).
fn proposal_id(
    targets: &[Address],
    values: &[U256],
    calldatas: &[Bytes],
    description: &str,
) -> U256 {
    use alloy::sol_types::SolValue;
    let encoded = (
        targets.to_vec(),
        values.to_vec(),
        calldatas.to_vec(),
        keccak256(description),
    )
        .abi_encode_params();
    U256::from_be_bytes(keccak256(encoded).0)
}
