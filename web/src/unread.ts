// Unread counts: what arrived in a mailbox since its owner last looked at
// it, on this device. A mark per mailbox is the chain position of the
// newest message seen there, kept in localStorage, so a reload keeps it.

/** A message's place in chain order: block, log index, item of a batch. */
export interface Position {
  block: number;
  logIndex: number;
  item: number;
}

/** What the count needs to know of a message. */
export interface Countable {
  position: Position;
  /** Only proven messages from others count: a pending one shows nothing yet. */
  counts: boolean;
}

/** Chain order: negative when `a` comes first. */
export const compare = (a: Position, b: Position) => a.block - b.block || a.logIndex - b.logIndex || a.item - b.item;

const after = (a: Position, b: Position) => compare(a, b) > 0;

/** The mark of a box seen empty: everything after it counts. */
const BEFORE_ALL: Position = { block: -1, logIndex: -1, item: -1 };

/** The newest of `positions`, or undefined for none. */
function newest(positions: Position[]): Position | undefined {
  return positions.reduce<Position | undefined>((best, p) => (!best || after(p, best) ? p : best), undefined);
}

/** The read marks of one wallet's mailboxes, on chain and contract `key`. */
export class ReadMarks {
  constructor(
    private readonly memory: Pick<Storage, 'getItem' | 'setItem'>,
    private readonly key: string,
  ) {}

  private all(): Record<string, Position> {
    try {
      return JSON.parse(this.memory.getItem(this.key) ?? '{}');
    } catch {
      return {};
    }
  }

  /**
   * Marks `box` read up to its newest message. `firstLoad`: only when the
   * box has no mark yet (a new device counts history as read, not as 500
   * unread messages).
   */
  mark(box: string, messages: Countable[], firstLoad = false) {
    const all = this.all();
    if (firstLoad && all[box]) return;
    const top = newest(messages.map((m) => m.position)) ?? BEFORE_ALL;
    if (all[box] && !after(top, all[box])) return;
    this.memory.setItem(this.key, JSON.stringify({ ...all, [box]: top }));
  }

  /**
   * How many counting messages of `box` came after its mark, or after the
   * mark of `fallback` when `box` has none (a conversation this device has
   * not opened yet counts from the device's first look).
   */
  unread(box: string, messages: Countable[], fallback?: string): number {
    const all = this.all();
    const mark = all[box] ?? (fallback ? all[fallback] : undefined);
    if (!mark) return 0;
    return messages.filter((m) => m.counts && after(m.position, mark)).length;
  }
}

/** The page title with the total unread, as chat apps show it. */
export const titled = (total: number) => (total > 0 ? `(${total > 99 ? '99+' : total}) Cairn` : 'Cairn');

/** A favicon (SVG, as a data URL) with the unread total on a badge, or none without. */
export function favicon(total: number): string {
  const badge =
    total > 0
      ? `<circle cx="22" cy="10" r="10" fill="#c5221f"/><text x="22" y="14.5" font-size="${total > 9 ? 10 : 13}" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="#fff">${total > 99 ? '99+' : total}</text>`
      : '';
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path d="M4 28h24L16 6z" fill="#1f2d3d"/>${badge}</svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}
