// The plaintext inside an envelope (docs/ENVELOPE.md, "Body").

/** 0 message, 1 edit, 2 delete, 3 reaction. */
export type BodyKind = 0 | 1 | 2 | 3;

export interface Attachment {
  name: string;
  data: Uint8Array;
}

export interface Body {
  kind: BodyKind;
  text: string;
  attachments: Attachment[];
}

export class BodyError extends Error {}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function textBody(text: string): Body {
  return { kind: 0, text, attachments: [] };
}

export function encodeBody(body: Body): Uint8Array {
  const text = utf8.encode(body.text);
  if (body.attachments.length > 255) throw new BodyError('at most 255 attachments');
  const parts: Uint8Array[] = [];
  const head = new Uint8Array(5);
  head[0] = body.kind;
  new DataView(head.buffer).setUint32(1, text.length);
  parts.push(head, text, Uint8Array.of(body.attachments.length));
  for (const a of body.attachments) {
    const name = utf8.encode(a.name);
    if (name.length > 0xffff) throw new BodyError('attachment name too long');
    const lengths = new Uint8Array(2);
    new DataView(lengths.buffer).setUint16(0, name.length);
    const size = new Uint8Array(4);
    new DataView(size.buffer).setUint32(0, a.data.length);
    parts.push(lengths, name, size, a.data);
  }
  return concat(parts);
}

/** The length of `encodeBody` of a body with this text and these attachments (name, size), without encoding it. */
export function bodySize(text: string, attachments: { name: string; size: number }[]): number {
  const bytes = (s: string) => utf8.encode(s).length;
  return 5 + bytes(text) + 1 + attachments.reduce((n, a) => n + 2 + bytes(a.name) + 4 + a.size, 0);
}

/** Decodes strictly: trailing bytes, truncation, bad UTF-8 and unknown kinds fail. */
export function decodeBody(bytes: Uint8Array): Body {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const take = (n: number): Uint8Array => {
    if (at + n > bytes.length) throw new BodyError('truncated body');
    at += n;
    return bytes.subarray(at - n, at);
  };
  const u8 = () => take(1)[0];
  const u16 = () => (take(2), view.getUint16(at - 2));
  const u32 = () => (take(4), view.getUint32(at - 4));
  const kind = u8();
  if (kind > 3) throw new BodyError(`unknown body kind ${kind}`);
  const text = utf8Decode(take(u32()));
  const count = u8();
  const attachments: Attachment[] = [];
  for (let i = 0; i < count; i++) {
    const name = utf8Decode(take(u16()));
    attachments.push({ name, data: take(u32()).slice() });
  }
  if (at !== bytes.length) throw new BodyError('trailing bytes after the body');
  return { kind: kind as BodyKind, text, attachments };
}

function utf8Decode(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new BodyError('invalid UTF-8 in the body');
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
