// Measures, in the browser, the web client's own code: envelopes opened per
// second, and search over 10,000 messages. web/e2e/bench.mjs runs it in
// headless Chromium and prints the figures (docs/BENCHMARKS.md).

import { x25519 } from '@noble/curves/ed25519.js';
import { textBody } from '../src/crypto/body';
import { open, seal } from '../src/crypto/envelope';
import { SearchIndex } from '../src/search';

const WORDS = 'dao vote treasury proposal grant budget quorum delegate multisig snapshot forum signal ' +
  'audit bridge token stake reward epoch council charter roadmap sprint review merge deploy';

function measure() {
  const me = x25519.utils.randomSecretKey();
  const them = x25519.utils.randomSecretKey();
  const header = {
    sender: new Uint8Array(20).fill(0xa1),
    recipient: new Uint8Array(32).fill(0xb0),
    timestamp: 1_800_000_000n,
    replyTo: new Uint8Array(32),
  };
  const vocabulary = WORDS.split(' ');
  const text = (i: number) =>
    Array.from({ length: 24 }, (_, j) => vocabulary[(i * 7 + j * 13) % vocabulary.length]).join(' ') + ` #${i}`;

  const envelopes = Array.from({ length: 2000 }, (_, i) =>
    seal(header, textBody(text(i)), [x25519.getPublicKey(me), x25519.getPublicKey(them)]),
  );
  let started = performance.now();
  for (const e of envelopes) open(e, [me]);
  const openMs = performance.now() - started;

  const index = new SearchIndex();
  started = performance.now();
  for (let i = 0; i < 10_000; i++) index.add({ id: `m${i}`, from: '0x1', text: text(i), at: i });
  const indexMs = performance.now() - started;
  const queries = ['treasury', 'quorum dele', '#9999', 'grant budget', 'nothing-here', 'aud'];
  const times = queries.map((q) => {
    const t = performance.now();
    index.search(q);
    return performance.now() - t;
  });
  const hits = index.search('#9999').length;
  return {
    opened: envelopes.length,
    openMs,
    opensPerSecond: Math.round((envelopes.length / openMs) * 1000),
    indexed: index.size,
    indexMs,
    searchMsMax: Math.max(...times),
    searchMsEach: times,
    uniqueHit: hits,
  };
}

(window as unknown as { cairnBench: () => unknown }).cairnBench = measure;
document.title = 'ready';
