// Notifications say who wrote, and what only when the user asked.

import { describe, expect, it } from 'vitest';
import { notificationOf, saveSettings, settings } from '../src/notify';
import { memoryStorage } from './memory';

const alice = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('notifications', () => {
  it('show no text unless the user opted in', () => {
    expect(notificationOf(alice, 'the vote is rigged', 'inbox', false)).toEqual({
      title: 'New message from 0x70997970…17dc79C8',
      body: 'Open Cairn to read it.',
    });
    expect(notificationOf(alice, 'the vote is rigged', 'requests', true)).toEqual({
      title: 'New request from 0x70997970…17dc79C8',
      body: 'the vote is rigged',
    });
    expect(notificationOf(alice, 'x'.repeat(500), 'inbox', true).body.length).toBe(140);
  });
  it('are off until turned on, and remember the choice', () => {
    const memory = memoryStorage();
    expect(settings(memory)).toEqual({ on: false, showText: false });
    saveSettings({ on: true, showText: false }, memory);
    expect(settings(memory)).toEqual({ on: true, showText: false });
    memory.setItem('cairn-notify', '{broken');
    expect(settings(memory).on).toBe(false);
  });
});
