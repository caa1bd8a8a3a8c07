// Conversations: the proven messages of the inbox, the requests and the
// sent box, grouped by the other party, as a chat app lists them. Only
// what the chain proved is here: a message whose sender is not proven has
// no conversation to be in.

import { shorten } from './dom';
import { compare, type Position } from './unread';

/** One message of a conversation. */
export interface Line {
  id: string;
  /** The other party (EIP-55), whoever wrote it. */
  peer: string;
  /** Written by this wallet. */
  mine: boolean;
  position: Position;
  text: string;
  sentAt?: Date;
}

/** One row of the conversation list. */
export interface Conversation<T extends Line> {
  peer: string;
  /** The newest message, either way. */
  last: T;
  unread: number;
}

/** The messages with `peer`, oldest first, each once (a message can be listed in two boxes). */
export function thread<T extends Line>(lines: T[], peer: string): T[] {
  const seen = new Set<string>();
  return lines
    .filter((l) => l.peer === peer && !seen.has(l.id) && seen.add(l.id))
    .sort((a, b) => compare(a.position, b.position));
}

/** One row per other party, the most recent activity first. */
export function conversations<T extends Line>(lines: T[], unread: (peer: string) => number): Conversation<T>[] {
  const last = new Map<string, T>();
  for (const line of lines) {
    const known = last.get(line.peer);
    if (!known || compare(line.position, known.position) > 0) last.set(line.peer, line);
  }
  return [...last.values()]
    .sort((a, b) => compare(b.position, a.position))
    .map((line) => ({ peer: line.peer, last: line, unread: unread(line.peer) }));
}

/** A message's first line, shortened, for the conversation list. */
export const preview = (text: string, max = 80): string => shorten(text.trim().split('\n')[0], max);
