// Notifications of new messages, shown by a service worker
// (public/assets/sw.js) while the page is open or in the background. The
// browser asks for permission only when the user turns them on, never on
// load, and a notification shows no message text unless the user opts in:
// a lock screen is not a private place.

import { short, shorten } from './dom';

/** Where the worker lives; its scope is its folder, which is enough to notify. */
export const WORKER = '/assets/sw.js';
const SETTINGS = 'cairn-notify';

/** The user's choices, kept in this browser. */
export interface NotifySettings {
  on: boolean;
  /** Show the message's text in the notification. */
  showText: boolean;
}

export function settings(memory: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): NotifySettings {
  try {
    return { on: false, showText: false, ...JSON.parse(memory?.getItem(SETTINGS) ?? '{}') };
  } catch {
    return { on: false, showText: false };
  }
}

export function saveSettings(value: NotifySettings, memory: Pick<Storage, 'setItem'> = localStorage) {
  memory.setItem(SETTINGS, JSON.stringify(value));
}

/** Whether this browser can show them at all. */
export const supported = () => 'Notification' in globalThis && 'serviceWorker' in navigator;

/** What a notification of a proven message says: its sender, and its text only if the user asked for it. */
export function notificationOf(from: string, text: string, where: 'inbox' | 'requests', showText: boolean) {
  const title = where === 'inbox' ? `New message from ${short(from)}` : `New request from ${short(from)}`;
  const body = showText ? shorten(text, 140) : 'Open Cairn to read it.';
  return { title, body };
}

/** Asks for permission (the user clicked for it) and starts the worker; returns the browser's answer. */
export async function enable(): Promise<NotificationPermission> {
  const permission = await Notification.requestPermission();
  if (permission === 'granted') await navigator.serviceWorker.register(WORKER, { type: 'classic' });
  return permission;
}

/** Shows a notification through the worker; a browser without one shows nothing. */
export async function show(note: { title: string; body: string }, peer: string) {
  const worker = await navigator.serviceWorker.getRegistration(WORKER);
  await worker?.showNotification(note.title, { body: note.body, tag: `cairn-${peer.toLowerCase()}`, data: { peer } });
}
