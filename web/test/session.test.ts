// The page learns that its sign-in is gone from the first request or stream
// that says so, not from its next periodic session check.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { Node, NodeError, SESSION_ENDED } from '@cairn/client';

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

afterEach(() => vi.unstubAllGlobals());

describe('a lost session', () => {
  it('is reported by a request the node refuses with 401 no_session', async () => {
    const node = new Node('http://node');
    const lost = vi.fn();
    node.onSessionLost = lost;
    vi.stubGlobal('fetch', async () => json(401, { code: 'no_session', message: 'sign in as this address' }));
    await expect(node.consent()).rejects.toBeInstanceOf(NodeError);
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it('is not reported for other refusals, a failed sign-in among them', async () => {
    const node = new Node('http://node');
    const lost = vi.fn();
    node.onSessionLost = lost;
    vi.stubGlobal('fetch', async () => json(401, { code: 'bad_signature', message: 'the signature does not match' }));
    await expect(node.signIn('message', '0x')).rejects.toBeInstanceOf(NodeError);
    vi.stubGlobal('fetch', async () => json(403, { code: 'no_session', message: 'forbidden' }));
    await expect(node.consent()).rejects.toBeInstanceOf(NodeError);
    expect(lost).not.toHaveBeenCalled();
  });

  it('is reported when a stream closes with 4401, and not on other closes', () => {
    const sockets: FakeSocket[] = [];
    class FakeSocket {
      static OPEN = 1;
      readyState = 0;
      onopen?: () => void;
      onclose?: (e: { code: number }) => void;
      onmessage?: (e: { data: string }) => void;
      constructor(readonly url: string) {
        sockets.push(this);
      }
      close() {}
    }
    vi.stubGlobal('WebSocket', FakeSocket);
    vi.stubGlobal('document', { visibilityState: 'visible', addEventListener() {}, removeEventListener() {} });
    vi.stubGlobal('addEventListener', () => {});
    vi.stubGlobal('removeEventListener', () => {});
    vi.useFakeTimers();
    try {
      const node = new Node('http://node');
      const lost = vi.fn();
      node.onSessionLost = lost;
      const stream = node.stream('0x0000000000000000000000000000000000000001', null, () => {}, () => {});
      sockets[0].onclose!({ code: 1006 });
      expect(lost).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1_000);
      expect(sockets).toHaveLength(2);
      sockets[1].onclose!({ code: SESSION_ENDED });
      expect(lost).toHaveBeenCalledTimes(1);
      stream.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
