// The remembered device: its keys come back whole, are kept only as
// ciphertext beside a key that cannot be exported, and are gone once
// forgotten.

import { bytesToHex } from 'viem';
import { describe, expect, it } from 'vitest';
import { type DeviceRecords, deviceId, forgetDevice, newDeviceKey, recallDevice, rememberDevice } from '../src/index.js';

function memoryRecords(): DeviceRecords & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>();
  return {
    map,
    get: async (id) => map.get(id),
    put: async (id, record) => void map.set(id, record),
    delete: async (id) => void map.delete(id),
  };
}

describe('device', () => {
  const id = deviceId(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3', '0x70997970C51812dc3A010C7d01b50e0d17dc79C8');

  it('a remembered device comes back with the same signer and messaging key', async () => {
    const records = memoryRecords();
    const { account, privateKey } = newDeviceKey();
    const secret = crypto.getRandomValues(new Uint8Array(32));
    await rememberDevice(records, id, privateKey, { account, key: { secret, public: new Uint8Array(32) }, expiry: 123n });
    const back = await recallDevice(records, id);
    expect(back?.account.address).toBe(account.address);
    expect(bytesToHex(back!.key.secret)).toBe(bytesToHex(secret));
    expect(back?.expiry).toBe(123n);
    expect(await recallDevice(records, `${id}-other`)).toBeUndefined();
  });

  it('keeps only ciphertext, under a key that cannot be exported', async () => {
    const records = memoryRecords();
    const { account, privateKey } = newDeviceKey();
    await rememberDevice(records, id, privateKey, { account, key: { secret: new Uint8Array(32).fill(7), public: new Uint8Array(32) }, expiry: 1n });
    const stored = records.map.get(id) as { wrap: CryptoKey; data: ArrayBuffer };
    expect(stored.wrap.extractable).toBe(false);
    await expect(crypto.subtle.exportKey('raw', stored.wrap)).rejects.toThrow();
    const bytes = bytesToHex(new Uint8Array(stored.data));
    expect(bytes).not.toContain(privateKey.slice(2));
    expect(new TextDecoder().decode(stored.data)).not.toContain(privateKey);
  });

  it('a forgotten device, or a damaged record, gives nothing back', async () => {
    const records = memoryRecords();
    const { account, privateKey } = newDeviceKey();
    await rememberDevice(records, id, privateKey, { account, key: { secret: new Uint8Array(32), public: new Uint8Array(32) }, expiry: 1n });
    const stored = records.map.get(id) as { data: ArrayBuffer };
    new Uint8Array(stored.data)[0] ^= 1;
    expect(await recallDevice(records, id)).toBeUndefined();
    await forgetDevice(records, id);
    expect(records.map.has(id)).toBe(false);
  });
});
