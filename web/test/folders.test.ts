// Where the page files a message: by its own consent list, session or not.

import { describe, expect, it } from 'vitest';
import { App, announcement } from '../src/app';

describe('folderOf', () => {
  it('keeps a blocked sender hidden when the session is gone', () => {
    const app = new App(() => {});
    const [me, blocked, allowed, stranger] = [
      '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
      '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
      '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65',
    ] as const;
    app.address = me;
    app.consent.set(blocked.toLowerCase(), 'block');
    app.consent.set(allowed.toLowerCase(), 'allow');
    // Signed in: the three folders.
    app.session = { address: me, until: new Date(Date.now() + 3600_000) };
    expect([blocked, allowed, stranger, me].map((a) => app.folderOf(a))).toEqual([null, 'inbox', 'requests', 'inbox']);
    // The session ended (a node restart, an expiry): blocked stays hidden.
    app.session = undefined;
    expect([blocked, allowed, stranger, me].map((a) => app.folderOf(a))).toEqual([null, 'inbox', 'inbox', 'inbox']);
  });
});

describe('announcement', () => {
  const from = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
  it('names a sender only once the chain proved it, and never the text', () => {
    expect(announcement({ from, verdict: { state: 'verified' } } as never, 'inbox')).toBe('New message in your inbox from 0x70997970…17dc79C8.');
    const unproven = announcement({ from, verdict: { state: 'pending', reason: 'checking' } } as never, 'requests');
    expect(unproven).toBe('New message in your requests, not verified yet.');
    expect(unproven).not.toContain('0x7099');
  });
});
