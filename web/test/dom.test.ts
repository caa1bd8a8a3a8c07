// How the page writes an address.

import { describe, expect, it } from 'vitest';
import { movedTab, short } from '../src/dom';

describe('short', () => {
  it('shows 8 hex digits at each end, in EIP-55 casing, whatever casing it is given', () => {
    const alice = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
    expect(short(alice.toLowerCase())).toBe('0x70997970…17dc79C8');
    expect(short(alice)).toBe(short(alice.toLowerCase()));
    // A vanity address that matches Alice's old 4 + 4 digits no longer looks like hers.
    const vanity = '0x7099000000000000000000000000000000f879C8';
    expect(short(vanity).slice(0, 6)).toBe(short(alice).slice(0, 6));
    expect(short(vanity)).not.toBe(short(alice));
  });
});

describe('movedTab', () => {
  it('moves along the tabs with the arrow keys, wrapping, and to the ends with Home and End', () => {
    expect(movedTab(6, 0, 'ArrowRight')).toBe(1);
    expect(movedTab(6, 5, 'ArrowRight')).toBe(0);
    expect(movedTab(6, 0, 'ArrowLeft')).toBe(5);
    expect(movedTab(6, 3, 'Home')).toBe(0);
    expect(movedTab(6, 3, 'End')).toBe(5);
    expect(movedTab(6, 3, 'Enter')).toBeUndefined();
  });
});
