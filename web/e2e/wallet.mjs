// A test wallet for headless Chromium: an EIP-6963 announcement plus an
// EIP-1193 provider whose calls run in Node, against Anvil's unlocked
// development accounts, so personal_sign, eth_signTypedData_v4 and
// eth_sendTransaction answer as a wallet would. The page's
// Content-Security-Policy applies to the page alone, as with a real
// extension.

let id = 0;
async function anvil(url, method, params) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
  });
  const reply = await response.json();
  if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
  return reply.result;
}

/** Runs in the page: announces the wallet and forwards requests to Node. */
function injectWallet({ name }) {
  const listeners = {};
  // The test says when the user switches accounts or chains in the wallet.
  window.__walletEmit = (event, data) => (listeners[event] ?? []).forEach((fn) => fn(data));
  const provider = {
    // Errors cross from Node as plain Errors: give back the EIP-1193 code,
    // which Node puts in front of the message as `[code] `.
    request: ({ method, params }) =>
      window.__wallet(method, params ?? []).catch((e) => {
        const coded = /^\[(-?\d+)\] /.exec(e.message);
        const code = coded ? Number(coded[1]) : /rejected/i.test(e.message) ? 4001 : -32603;
        throw Object.assign(new Error(coded ? e.message.slice(coded[0].length) : e.message), { code });
      }),
    on(event, fn) {
      (listeners[event] ??= []).push(fn);
    },
    removeListener(event, fn) {
      listeners[event] = (listeners[event] ?? []).filter((f) => f !== fn);
    },
  };
  const info = {
    uuid: '350670db-19fa-4704-a166-e52e178b59d2',
    name,
    icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/%3E',
    rdns: 'test.cairn.wallet',
  };
  const detail = Object.freeze({ info, provider });
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
}

/**
 * A wallet that holds `privateKey` itself, as a real one does: it signs in
 * Node (viem), never through Anvil's unlocked accounts, and sends a
 * transaction only as a signed raw one (a wallet with no ETH cannot).
 */
async function localSigner(privateKey, anvilUrl) {
  const { privateKeyToAccount } = await import('viem/accounts');
  const account = privateKeyToAccount(privateKey);
  return {
    address: account.address,
    personal_sign: ([message]) => account.signMessage({ message: { raw: message } }),
    eth_signTypedData_v4: ([, json]) => {
      const { domain, types, primaryType, message } = JSON.parse(json);
      delete types.EIP712Domain;
      return account.signTypedData({ domain, types, primaryType, message });
    },
    eth_sendTransaction: async ([tx]) => {
      const chainId = Number(await anvil(anvilUrl, 'eth_chainId', []));
      const nonce = Number(await anvil(anvilUrl, 'eth_getTransactionCount', [account.address, 'pending']));
      const gas = BigInt(await anvil(anvilUrl, 'eth_estimateGas', [{ ...tx, from: account.address }]));
      const gasPrice = BigInt(await anvil(anvilUrl, 'eth_gasPrice', []));
      const raw = await account.signTransaction({ chainId, nonce, gas, gasPrice, to: tx.to, data: tx.data, value: BigInt(tx.value ?? 0) });
      return anvil(anvilUrl, 'eth_sendRawTransaction', [raw]);
    },
  };
}

/**
 * Gives every page of `context` a wallet holding `account`, on the chain at
 * `anvilUrl`: one of Anvil's unlocked accounts (an address), or a key the
 * wallet holds itself (`{ privateKey }`). `prompts` counts every request
 * a real wallet would ask its user about: signatures and transactions. The returned controls make it behave as users do: decline the
 * next signature, sit on another chain until asked to switch, hold another
 * account (then say so with `page.evaluate(() => __walletEmit(...))`), or
 * lag behind the node's chain.
 */
export async function withWallet(context, anvilUrl, account, name) {
  const local = typeof account === 'object' ? await localSigner(account.privateKey, anvilUrl) : null;
  if (local) account = local.address;
  // `lagging`: the wallet's RPC has not seen the blocks the node names yet
  // (its log and block-by-hash lookups fail), as an RPC behind the node's does.
  // `knowsChain: false`: the wallet has never heard of Anvil's chain, and
  // answers a switch with 4902 until it is added (`added` keeps what was).
  const controls = { declineNext: false, chainId: null, account, lagging: false, knowsChain: true, added: [], prompts: 0 };
  const signing = new Set(['personal_sign', 'eth_signTypedData_v4', 'eth_sendTransaction']);
  await context.exposeFunction('__wallet', (method, params) => {
    if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [controls.account];
    if (method === 'eth_chainId' && controls.chainId) return controls.chainId;
    if (method === 'wallet_switchEthereumChain') {
      if (!controls.knowsChain) throw new Error(`[4902] Unrecognized chain ID "${params[0].chainId}".`);
      controls.chainId = null; // back on Anvil's chain
      return null;
    }
    if (method === 'wallet_addEthereumChain') {
      controls.added.push(params[0]);
      controls.knowsChain = true;
      return null;
    }
    if (controls.lagging && (method === 'eth_getLogs' || method === 'eth_getBlockByHash')) {
      throw new Error('block not found');
    }
    if (signing.has(method)) controls.prompts += 1;
    if (signing.has(method) && controls.declineNext) {
      controls.declineNext = false;
      throw Object.assign(new Error('User rejected the request.'), { code: 4001 });
    }
    if (local && signing.has(method)) return local[method](params);
    return anvil(anvilUrl, method, params);
  });
  await context.addInitScript(injectWallet, { name });
  return controls;
}
