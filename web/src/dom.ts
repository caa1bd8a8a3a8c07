import { createIcon } from '@download/blockies';
import type { Named } from './names';
import { getAddress } from 'viem';

// A small element builder. Text always goes in as text nodes, never as
// HTML: message text is written by strangers.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | boolean | number | ((event: Event) => void) | undefined>;

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/**
 * `0x12345678…9aBcDeF0`: an address in EIP-55 casing with 8 hex digits at
 * each end. Four at each end, as before, is a vanity address away from
 * anyone's (a few hours of a GPU); sixteen, with the case of each letter,
 * is far out of reach, and `person` adds a mark drawn from all of it.
 */
export const short = (address: string) => {
  const checksummed = getAddress(address);
  return `${checksummed.slice(0, 10)}…${checksummed.slice(-8)}`;
};

/** `text` cut to at most `max` characters, an ellipsis marking the cut. */
export const shorten = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * Someone's address as the page shows it: a blockie (MetaMask's identicon,
 * drawn from the whole address), the user's own label, the ENS primary
 * name when both its records agree (`names.ts`), and `label` (by default
 * `short`), with the whole address as the title. A name or a picture never
 * replaces the blockie and the address: they are what a look-alike cannot
 * copy.
 */
export function person(address: string, label: string = short(address)): HTMLElement {
  const checksummed = getAddress(address);
  const icon = createIcon({ seed: checksummed.toLowerCase(), size: 8, scale: 2 });
  icon.setAttribute('aria-hidden', 'true');
  icon.className = 'blockie';
  // The user's own label for this wallet goes beside the address, never in its place.
  const labelled = labelOf(checksummed);
  const named = nameOf(checksummed);
  const picture = named?.avatar && (named.avatar.startsWith('data:') || picturesShown())
    ? h('img', { class: 'avatar', src: named.avatar, alt: '', referrerpolicy: 'no-referrer', loading: 'lazy' })
    : null;
  return h(
    'span',
    { class: 'person', title: checksummed },
    picture,
    icon,
    labelled ? h('strong', { class: 'label' }, labelled) : null,
    labelled ? ' ' : null,
    named ? h('span', { class: 'ens' }, named.name) : null,
    named ? ' ' : null,
    named ? h('span', { class: 'address' }, label) : label,
  );
}

let labelOf: (address: string) => string | undefined = () => undefined;
let nameOf: (address: string) => Named | undefined = () => undefined;
let picturesShown: () => boolean = () => false;

/** Where `person` finds the labels the user gave wallets (none until the mail is unlocked). */
export function useLabels(lookup: (address: string) => string | undefined) {
  labelOf = lookup;
}

/**
 * Where `person` finds ENS names (`Names.of`), and whether it may load an
 * avatar from another site (the user's choice: that site learns the
 * reader's IP address and when they read). `data:` avatars need no site.
 */
export function useNames(lookup: (address: string) => Named | undefined, pictures: () => boolean) {
  nameOf = lookup;
  picturesShown = pictures;
}

/**
 * Where the arrow keys move in a row of `count` tabs from `index` (the
 * WAI-ARIA tabs pattern: left and right wrap around, Home and End go to
 * the ends); undefined for any other key.
 */
export function movedTab(count: number, index: number, key: string): number | undefined {
  switch (key) {
    case 'ArrowRight':
      return (index + 1) % count;
    case 'ArrowLeft':
      return (index - 1 + count) % count;
    case 'Home':
      return 0;
    case 'End':
      return count - 1;
    default:
      return undefined;
  }
}
