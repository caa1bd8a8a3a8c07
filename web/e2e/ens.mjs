// ENS on a local Anvil chain, so that names work in `make dev` and in the
// browser test exactly as on mainnet: the registry sits at ENS's canonical
// address (the page reads it there, on any chain, through the wallet's own
// RPC), with a public resolver and a reverse registrar beside it.
//
//   node web/e2e/ens.mjs <rpc-url> [label=address[=avatar] ...]
//
// deploys ENS once (again is a no-op) and names each address
// `<label>.eth`, forward and reverse. As a module: `deployEns(rpcUrl)` and
// `nameAccount(rpcUrl, label, address, avatar?)`.
//
// The registry is compiled from ENS's own source (contracts/test/ens,
// contracts/artifacts/ENSRegistry.json); the resolver and the reverse
// registrar are ENS's compiled builds from npm `@ensdomains/resolver`. No
// universal resolver is deployed: the page resolves names the classic way
// (registry, resolver, then the record), which needs none.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createTestClient, createWalletClient, http, keccak256, labelhash, namehash, publicActions, encodeAbiParameters, pad, getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';

/** ENS's registry address on mainnet, Sepolia and Holesky; the page looks nowhere else. */
export const ENS_REGISTRY = '0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e';
/** Anvil's account 9: it owns `eth` and `reverse` on the local chain, nothing else. */
const ENS_OWNER_KEY = '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6';

const require = createRequire(import.meta.url);
const registryArtifact = JSON.parse(readFileSync(new URL('../../contracts/artifacts/ENSRegistry.json', import.meta.url)));
const resolverBuild = require('@ensdomains/resolver/build/contracts/PublicResolver.json');
const reverseBuild = require('@ensdomains/resolver/build/contracts/ReverseRegistrar.json');

function clients(rpcUrl) {
  const account = privateKeyToAccount(ENS_OWNER_KEY);
  const wallet = createWalletClient({ account, chain: foundry, transport: http(rpcUrl) }).extend(publicActions);
  const test = createTestClient({ mode: 'anvil', chain: foundry, transport: http(rpcUrl) });
  return { account, wallet, test };
}

async function mined(wallet, hash) {
  const receipt = await wallet.waitForTransactionReceipt({ hash, pollingInterval: 100 });
  if (receipt.status !== 'success') throw new Error(`ENS setup transaction ${hash} reverted`);
  return receipt;
}

async function write(wallet, address, abi, functionName, args, account) {
  return mined(wallet, await wallet.writeContract({ address, abi, functionName, args, ...(account ? { account } : {}) }));
}

/** Where the local resolver and reverse registrar are: the `eth` node's resolver, and `addr.reverse`'s owner. */
async function located(wallet) {
  const abi = registryArtifact.abi;
  const resolver = await wallet.readContract({ address: ENS_REGISTRY, abi, functionName: 'resolver', args: [namehash('eth')] });
  const reverse = await wallet.readContract({ address: ENS_REGISTRY, abi, functionName: 'owner', args: [namehash('addr.reverse')] });
  return { resolver, reverse };
}

/**
 * Puts ENS on the chain at `rpcUrl` (an Anvil): the registry's code at the
 * canonical address with Anvil's account 9 as the root's owner, then a
 * resolver for `eth` and a reverse registrar for `addr.reverse`. Returns
 * their addresses; a chain that has them already is left as it is.
 */
export async function deployEns(rpcUrl) {
  const { account, wallet, test } = clients(rpcUrl);
  if ((await wallet.getCode({ address: ENS_REGISTRY })) === undefined) {
    await test.setCode({ address: ENS_REGISTRY, bytecode: registryArtifact.deployedBytecode.object });
    // The constructor's one write, `records[0x0].owner = msg.sender`: the
    // records mapping is slot 0, and owner the first word of a record.
    const slot = keccak256(encodeAbiParameters([{ type: 'bytes32' }, { type: 'uint256' }], [pad('0x00'), 0n]));
    await test.setStorageAt({ address: ENS_REGISTRY, index: slot, value: pad(account.address) });
  } else {
    const found = await located(wallet);
    if (BigInt(found.resolver) !== 0n) return found;
  }
  const abi = registryArtifact.abi;
  const deploy = async (build, args) => {
    const receipt = await mined(wallet, await wallet.deployContract({ abi: build.abi, bytecode: build.bytecode, args }));
    return getAddress(receipt.contractAddress);
  };
  const resolver = await deploy(resolverBuild, [ENS_REGISTRY]);
  const reverse = await deploy(reverseBuild, [ENS_REGISTRY, resolver]);
  await write(wallet, ENS_REGISTRY, abi, 'setSubnodeRecord', [pad('0x00'), labelhash('eth'), account.address, resolver, 0n]);
  await write(wallet, ENS_REGISTRY, abi, 'setSubnodeOwner', [pad('0x00'), labelhash('reverse'), account.address]);
  await write(wallet, ENS_REGISTRY, abi, 'setSubnodeOwner', [namehash('reverse'), labelhash('addr'), reverse]);
  return { resolver, reverse };
}

/**
 * Names `address` `<label>.eth`: the forward record (and the `avatar` text
 * record, when given) by the `eth` owner, and the reverse record by the
 * address itself, as a wallet would set its primary name. Anvil lends it
 * the gas and takes it back, so a zero-ETH wallet stays at zero.
 */
export async function nameAccount(rpcUrl, label, address, avatar) {
  const { account, wallet, test } = clients(rpcUrl);
  const { resolver, reverse } = await located(wallet);
  if (BigInt(resolver) === 0n) throw new Error('ENS is not deployed on this chain: call deployEns first');
  const name = `${label}.eth`;
  const node = namehash(name);
  await write(wallet, ENS_REGISTRY, registryArtifact.abi, 'setSubnodeRecord', [namehash('eth'), labelhash(label), account.address, resolver, 0n]);
  await write(wallet, resolver, resolverBuild.abi, 'setAddr', [node, getAddress(address)]);
  if (avatar) await write(wallet, resolver, resolverBuild.abi, 'setText', [node, 'avatar', avatar]);
  const balance = await wallet.getBalance({ address });
  await test.setBalance({ address, value: 10n ** 18n });
  await test.impersonateAccount({ address });
  try {
    await write(wallet, reverse, reverseBuild.abi, 'setName', [name], getAddress(address));
  } finally {
    await test.stopImpersonatingAccount({ address });
    await test.setBalance({ address, value: balance });
  }
  return name;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [rpcUrl, ...names] = process.argv.slice(2);
  if (!rpcUrl) {
    console.error('usage: node web/e2e/ens.mjs <rpc-url> [label=address[=avatar] ...]');
    process.exit(2);
  }
  await deployEns(rpcUrl);
  for (const entry of names) {
    const [label, address, ...avatar] = entry.split('=');
    console.log(`${await nameAccount(rpcUrl, label, address, avatar.join('=') || undefined)} -> ${getAddress(address)}`);
  }
}
