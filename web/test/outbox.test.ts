// The outbox survives a reload, sealed at rest, and resumes honestly.

import { describe, expect, it } from 'vitest';
import { deliver, type Kept, type KeptPost, Outbox, resumed, submission, Undeliverable } from '../src/outbox';
import { NodeError, type PostSubmission } from '@cairn/client';
import { recordKey } from '../src/search';
import { memoryStore } from './memory';

const message = (local: string, state: Kept['state'], at: number): Kept => ({
  local,
  to: '0x0000000000000000000000000000000000000002',
  text: `secret plan ${local}`,
  state,
  at,
});

describe('outbox', () => {
  const key = recordKey(new Uint8Array(32).fill(7), '0xAbC', 'outbox');

  it('keeps messages sealed, newest first, and forgets confirmed ones', async () => {
    const store = memoryStore();
    const outbox = new Outbox(key, store);
    await outbox.save(message('a', 'accepted', 1));
    await outbox.save(message('b', 'failed', 2));
    for (const record of store.records.values()) expect(new TextDecoder().decode(record)).not.toContain('secret plan');
    expect((await new Outbox(key, store).load()).map((k) => k.local)).toEqual(['b', 'a']);
    await outbox.save({ ...message('a', 'confirmed', 1) });
    expect((await outbox.load()).map((k) => k.local)).toEqual(['b']);
  });
  it("opens nothing under another wallet's key", async () => {
    const store = memoryStore();
    await new Outbox(key, store).save(message('a', 'accepted', 1));
    const other = recordKey(new Uint8Array(32).fill(7), '0xDef', 'outbox');
    expect(await new Outbox(other, store).load()).toEqual([]);
    expect(other).not.toEqual(recordKey(new Uint8Array(32).fill(7), '0xDef', 'search'));
  });
  it('resumes what the gateway took, and fails what it never got', () => {
    expect(resumed(message('a', 'accepted', 1)).state).toBe('accepted');
    expect(resumed(message('a', 'anchored', 1)).state).toBe('anchored');
    const lost = resumed(message('a', 'signing', 1));
    expect([lost.state, lost.detail]).toEqual(['failed', expect.stringContaining('nothing was sent')]);
    const signed = { ...message('b', 'sending', 1), post: post(2_000_000_000) };
    expect(resumed(signed)).toEqual(signed);
    expect(resumed(message('c', 'sending', 1)).state).toBe('failed');
  });
});

const ID = `0x${'ab'.repeat(32)}` as const;

function post(deadline: number): KeptPost {
  return {
    from: '0x0000000000000000000000000000000000000001',
    to: `0x${'00'.repeat(31)}02`,
    digest: `0x${'11'.repeat(32)}`,
    nonce: '9007199254740991',
    deadline: String(deadline),
    signature: `0x${'22'.repeat(65)}`,
    envelope: '0x0102',
  };
}

/** A gateway that answers each call from a script: a value, or an error to throw. */
function scripted(submits: (Hex[] | Error)[], proofs: ({ status: string } | Error)[]) {
  const sent: PostSubmission[] = [];
  return {
    sent,
    gateway: {
      async submit(posts: PostSubmission[]) {
        sent.push(...posts);
        const next = submits.shift() ?? new NodeError(0, 'unreachable', 'down');
        if (next instanceof Error) throw next;
        return next;
      },
      async proof() {
        const next = proofs.shift() ?? new NodeError(404, 'post_not_found', 'no such post');
        if (next instanceof Error) throw next;
        return next;
      },
    },
  };
}

type Hex = `0x${string}`;
const noSleep = async () => {};
const down = new NodeError(0, 'unreachable', 'the Cairn node does not answer');
const busy = new NodeError(503, 'unavailable', 'the outbox is unavailable');

describe('delivery of a signed post', () => {
  it('asks about a lost answer instead of failing, and sends nothing new', async () => {
    // The gateway took the post, then its answer was lost: the id is known.
    const { gateway, sent } = scripted([down], [{ status: 'sealed' }]);
    await deliver(gateway, post(2_000_000_000), ID, () => {}, noSleep);
    expect(sent).toHaveLength(1);
  });
  it('sends the same signed post again while no gateway answers, saying why it waits', async () => {
    const { gateway, sent } = scripted([down, busy, busy, [ID]], []);
    const waits: number[] = [];
    await deliver(gateway, post(2_000_000_000), ID, (_, ms) => waits.push(ms), noSleep);
    expect(sent).toHaveLength(4);
    for (const s of sent) expect(s).toEqual(submission(post(2_000_000_000)));
    expect(waits).toEqual([250, 500, 1000]);
  });
  it('fails on a refusal only when the gateway does not hold the post', async () => {
    const refused = new NodeError(400, 'invalid_post', 'bad signature');
    await expect(deliver(scripted([refused], []).gateway, post(2_000_000_000), ID, () => {}, noSleep)).rejects.toThrow(Undeliverable);
    // A refused resubmission of a post the gateway already holds is no failure.
    await deliver(scripted([refused], [{ status: 'queued' }]).gateway, post(2_000_000_000), ID, () => {}, noSleep);
  });
  it('fails when the deadline passed or the gateway says the post expired', async () => {
    const now = () => 1_000_000 * 1000;
    const late = deliver(scripted([down], []).gateway, post(1_000_000 - 61), ID, () => {}, noSleep, now);
    await expect(late).rejects.toThrow(/deadline/);
    // Within the minute's grace it keeps trying.
    const { gateway, sent } = scripted([down, [ID]], []);
    await deliver(gateway, post(1_000_000 - 30), ID, () => {}, noSleep, now);
    expect(sent).toHaveLength(2);
    const expired = deliver(scripted([down], [{ status: 'expired' }]).gateway, post(2_000_000_000), ID, () => {}, noSleep);
    await expect(expired).rejects.toThrow(/expired/);
  });
});
