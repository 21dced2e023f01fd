import { describe, expect, it } from 'vitest';
import { mergeUpdates } from './durable-storage.js';
import { testEntries, testEntry } from './storage.contract.js';

describe('mergeUpdates (group commit of saves called while a write is in flight)', () => {
  it('keeps the last hard state, syncs if any update must, and appends in order', () => {
    const merged = mergeUpdates([
      { hardState: { term: 1, vote: 1, commit: 0 }, entries: testEntries(1, [1, 1]), sync: true },
      { hardState: { term: 1, vote: 1, commit: 2 }, entries: [], sync: false },
      { hardState: null, entries: testEntries(3, [1]), sync: false },
    ]);
    expect(merged).toEqual({
      hardState: { term: 1, vote: 1, commit: 2 },
      entries: testEntries(1, [1, 1, 1]),
      sync: true,
    });
  });

  it('a later update that truncates inside the merged entries overwrites their suffix', () => {
    const merged = mergeUpdates([
      { hardState: null, entries: testEntries(5, [2, 2, 2]) },
      { hardState: null, entries: [testEntry(6, 3)] },
    ]);
    expect(merged.entries).toEqual([testEntry(5, 2), testEntry(6, 3)]);
  });

  it('a later update that starts before the merged entries replaces them all', () => {
    const merged = mergeUpdates([
      { hardState: null, entries: testEntries(5, [2, 2]) },
      { hardState: null, entries: testEntries(3, [3]) },
    ]);
    expect(merged.entries).toEqual([testEntry(3, 3)]);
  });

  it('commit-only updates need no fsync', () => {
    expect(
      mergeUpdates([
        { hardState: { term: 1, vote: 0, commit: 1 }, entries: [], sync: false },
        { hardState: { term: 1, vote: 0, commit: 2 }, entries: [], sync: false },
      ]).sync,
    ).toBe(false);
  });
});
