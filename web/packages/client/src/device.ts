// This device's signer (docs/SIGNERS.md): a secp256k1 key the wallet
// authorizes once, with one signature that can also publish the messaging
// key. It then signs posts, consent entries and sign-ins, so none of them
// asks the wallet.
//
// With "remember this device", the signer key and the messaging key are
// kept in IndexedDB, encrypted (AES-GCM) under a WebCrypto key that is
// generated non-extractable and stored beside them: a copy of the browser's
// files, or a script that reads storage, gets ciphertext and a key handle
// whose bits it cannot export. Script running in this origin could still
// use the handle; the page's CSP and its no-HTML rendering are the guard
// there (docs/SECURITY.md).

import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { x25519 } from '@noble/curves/ed25519.js';
import type { MessagingKey } from './crypto/walletKey.js';

/** How long a device key signs for the wallet: a year. */
export const DEVICE_DAYS = 365;

/** A device signer and the messaging key it unlocks. */
export interface Device {
  account: PrivateKeyAccount;
  key: MessagingKey;
  /** Unix seconds until which the chain lets it sign. */
  expiry: bigint;
}

/** A fresh device key and its private key (kept only to remember it). */
export function newDeviceKey(): { account: PrivateKeyAccount; privateKey: Hex } {
  const privateKey = generatePrivateKey();
  return { account: privateKeyToAccount(privateKey), privateKey };
}

/** Where remembered devices are kept: a keyed record store (IndexedDB in the page). */
export interface DeviceRecords {
  get(id: string): Promise<unknown>;
  put(id: string, record: unknown): Promise<void>;
  delete(id: string): Promise<void>;
}

interface Wrapped {
  wrap: CryptoKey;
  iv: Uint8Array<ArrayBuffer>;
  data: ArrayBuffer;
}

/** The record's id: one device per wallet, chain and contract. */
export const deviceId = (chainId: number, contract: Address, owner: Address) =>
  `${chainId}-${contract.toLowerCase()}-${owner.toLowerCase()}`;

/** Keeps the device, encrypted under a new non-extractable key stored with it. */
export async function rememberDevice(records: DeviceRecords, id: string, privateKey: Hex, device: Device) {
  const wrap = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(
    JSON.stringify({ signer: privateKey, messaging: bytesToHex(device.key.secret), expiry: device.expiry.toString() }),
  );
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, wrap, plain);
  await records.put(id, { wrap, iv, data } satisfies Wrapped);
}

/** The remembered device, or undefined when none is (or it cannot be opened). */
export async function recallDevice(records: DeviceRecords, id: string): Promise<Device | undefined> {
  const found = (await records.get(id).catch(() => undefined)) as Wrapped | undefined;
  if (!found?.wrap || !found.iv || !found.data) return undefined;
  try {
    const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: found.iv }, found.wrap, found.data);
    const { signer, messaging, expiry } = JSON.parse(new TextDecoder().decode(plain)) as { signer: Hex; messaging: Hex; expiry: string };
    const secret = hexToBytes(messaging);
    return { account: privateKeyToAccount(signer), key: { secret, public: x25519.getPublicKey(secret) }, expiry: BigInt(expiry) };
  } catch {
    return undefined;
  }
}

/** Wipes the remembered device. */
export const forgetDevice = (records: DeviceRecords, id: string) => records.delete(id);
