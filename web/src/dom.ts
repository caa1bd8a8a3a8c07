import { createIcon } from '@download/blockies';
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
 * drawn from the whole address), `label` (by default `short`), and the
 * whole address as the title.
 */
export function person(address: string, label: string = short(address)): HTMLElement {
  const checksummed = getAddress(address);
  const icon = createIcon({ seed: checksummed.toLowerCase(), size: 8, scale: 2 });
  icon.setAttribute('aria-hidden', 'true');
  icon.className = 'blockie';
  // The user's own label for this wallet goes beside the address, never in its place.
  const named = labelOf(checksummed);
  return h('span', { class: 'person', title: checksummed }, icon, named ? h('strong', { class: 'label' }, named) : null, named ? ' ' : null, label);
}

let labelOf: (address: string) => string | undefined = () => undefined;

/** Where `person` finds the labels the user gave wallets (none until the mail is unlocked). */
export function useLabels(lookup: (address: string) => string | undefined) {
  labelOf = lookup;
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
