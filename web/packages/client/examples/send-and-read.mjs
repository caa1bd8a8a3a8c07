// Sends a message and reads a mailbox with a private key, in Node, with no
// browser and no gas: the node's gateway anchors the post and pays.
//
//   CAIRN_NODE=http://127.0.0.1:8080 CAIRN_RPC=http://127.0.0.1:8545 \
//   CAIRN_PRIVATE_KEY=0x... node send-and-read.mjs 0xRecipient "gm"
//
// With no recipient it only reads the inbox. Every message is checked
// against the chain through CAIRN_RPC, never the node's word: a message the
// chain does not prove is printed without its text.

import { createPublicClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import {
  cairnAbi,
  domain,
  keyFromSignature,
  keyMessage,
  Node,
  readMessage,
  registerKeyTypes,
  sealDirect,
  signPost,
} from '@cairn/client';

const node = new Node(process.env.CAIRN_NODE);
const account = privateKeyToAccount(process.env.CAIRN_PRIVATE_KEY);
const rpc = createPublicClient({ transport: http(process.env.CAIRN_RPC) });
const config = await node.config();
const anchor = { chainId: await rpc.getChainId(), contract: config.contract };
const [to, text] = process.argv.slice(2);

const log = (line) => console.error(`[cairn] ${line}`);
const keyOf = (address) => rpc.readContract({ address: anchor.contract, abi: cairnAbi, functionName: 'keyOf', args: [address] });

// The messaging key comes from a signature, as in the page and the CLI: the
// same wallet derives the same key anywhere.
const key = await keyFromSignature(account.address, await account.signMessage({ message: keyMessage(account.address) }));
const [published] = await keyOf(account.address);
if (published.toLowerCase() !== `0x${Buffer.from(key.public).toString('hex')}`) {
  log('registering the messaging key through the gateway');
  const nonce = await rpc.readContract({ address: anchor.contract, abi: cairnAbi, functionName: 'registrationNonces', args: [account.address] });
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 600);
  const pubkey = `0x${Buffer.from(key.public).toString('hex')}`;
  const signature = await account.signTypedData({
    domain: domain(anchor.chainId, anchor.contract),
    types: registerKeyTypes,
    primaryType: 'RegisterKey',
    message: { owner: account.address, pubkey, nonce, deadline },
  });
  await node.register(account.address, pubkey, deadline, signature);
}

// Reads check the chain through our own RPC, and fetch blocks re-hashed.
const chain = { client: rpc, contract: anchor.contract, chainId: anchor.chainId, fetchBlock: (digest) => node.block(digest) };

if (to) {
  const [recipientKey, version] = await keyOf(to);
  if (version === 0n) throw new Error(`${to} has registered no Cairn key`);
  const { envelope, digest } = sealDirect({ from: account.address, to, recipientKey, senderKey: key, text });
  const { id, post } = await signPost(account, anchor, { from: account.address, to, envelope });
  await node.submit([post]);
  log(`sent ${id}; waiting until the chain proves it`);
  for (let tries = 0; ; tries++) {
    const page = await node.page('sent', account.address);
    const listed = page.messages.find((m) => m.digest === digest);
    const read = listed && (await readMessage(chain, listed, key.secret));
    if (read?.verdict.state === 'verified') {
      console.log(JSON.stringify({ sent: listed.id, to, text: read.text }));
      break;
    }
    if (tries === 120) throw new Error(`not proven after 60 s: ${JSON.stringify(read?.verdict ?? 'not listed')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

for (const m of (await node.page('inbox', account.address)).messages) {
  const read = await readMessage(chain, m, key.secret);
  console.log(JSON.stringify({ id: m.id, from: read.from, verdict: read.verdict.state, reason: read.verdict.reason, text: read.text }));
}
