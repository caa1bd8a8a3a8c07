// @cairn/client: Cairn's client library for the browser and Node.
//
// Seal and open envelopes, sign posts for the gateway, talk to a node's
// read API, and check everything a node lists against the chain through the
// reader's own RPC. The web client is built on this package alone.

export * from './abi.js';
export * from './crypto/body.js';
export * from './crypto/channel.js';
export * from './crypto/cid.js';
export * from './crypto/envelope.js';
export * from './crypto/keystore.js';
export * from './crypto/walletKey.js';
export * from './device.js';
export * from './messages.js';
export * from './node.js';
export * from './verify.js';
