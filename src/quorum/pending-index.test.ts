// The pending-write index against its definition: for each key, the highest index in the log
// held by this node, above the applied index, whose entry touches the key.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingWriteIndex } from './pending-index.js';

interface KeyedEntry {
  index: number;
  keys: readonly string[];
}

const entry = (index: number, ...keys: string[]): KeyedEntry => ({ index, keys });
const indexFrom = (appliedIndex: number) =>
  new PendingWriteIndex<KeyedEntry>(appliedIndex, (appended) => appended.keys);

describe('PendingWriteIndex', () => {
  it('holds the highest appended, unapplied index per key', () => {
    const pending = indexFrom(0);
    pending.append([entry(1, 'a'), entry(2, 'b'), entry(3, 'a'), entry(4)]);
    expect(pending.pendingIndex('a')).toBe(3);
    expect(pending.pendingIndex('b')).toBe(2);
    expect(pending.pendingIndex('c')).toBe(0);
  });

  it('drops applied indices, keeping later ones of the same key', () => {
    const pending = indexFrom(0);
    pending.append([entry(1, 'a'), entry(2, 'b'), entry(3, 'a')]);
    pending.markApplied(2);
    expect(pending.pendingIndex('a')).toBe(3);
    expect(pending.pendingIndex('b')).toBe(0);
    pending.markApplied(3);
    expect(pending.pendingIndex('a')).toBe(0);
    expect(pending.heldEntryCount).toBe(0);
  });

  it('an entry at index i replaces every held entry at i or above (truncation by a new leader)', () => {
    const pending = indexFrom(0);
    pending.append([entry(1, 'a'), entry(2, 'b'), entry(3, 'a'), entry(4, 'b')]);
    pending.append([entry(3, 'c')]);
    expect(pending.pendingIndex('a')).toBe(1);
    expect(pending.pendingIndex('b')).toBe(2);
    expect(pending.pendingIndex('c')).toBe(3);
    // A garbage or noop entry touches nothing, yet still truncates what it replaces.
    pending.append([entry(2)]);
    expect(pending.pendingIndex('b')).toBe(0);
    expect(pending.pendingIndex('c')).toBe(0);
    expect(pending.pendingIndex('a')).toBe(1);
  });

  it('ignores entries handed out again at or below the applied index', () => {
    const pending = indexFrom(5);
    pending.append([entry(5, 'a'), entry(6, 'a')]);
    expect(pending.pendingIndex('a')).toBe(6);
  });

  it('an entry touching one key twice counts once', () => {
    const pending = indexFrom(0);
    pending.append([entry(1, 'a', 'a')]);
    pending.markApplied(1);
    expect(pending.pendingIndex('a')).toBe(0);
    expect(pending.heldEntryCount).toBe(0);
  });

  it('looks at no entry until a read asks, and never at one applied before that', () => {
    const looked: number[] = [];
    const pending = new PendingWriteIndex<KeyedEntry>(0, (appended) => {
      looked.push(appended.index);
      return appended.keys;
    });
    pending.append([entry(1, 'a'), entry(2, 'b')]);
    pending.append([entry(3, 'a'), entry(4, 'c')]);
    pending.markApplied(3);
    expect(looked.length).toBe(0);
    expect(pending.pendingIndex('a')).toBe(0);
    expect(pending.pendingIndex('c')).toBe(4);
    expect(looked.length).toBe(1);
    pending.append([entry(5, 'a')]);
    expect(looked.length).toBe(1);
    expect(pending.pendingIndex('a')).toBe(5);
    expect(looked.length).toBe(2);
  });

  it('an overwrite reaches entries not indexed yet', () => {
    const pending = indexFrom(0);
    pending.append([entry(1, 'a'), entry(2, 'b')]);
    pending.append([entry(3, 'b')]);
    pending.append([entry(2, 'c')]);
    expect(pending.pendingIndex('b')).toBe(0);
    expect(pending.pendingIndex('c')).toBe(2);
    expect(pending.pendingIndex('a')).toBe(1);
  });

  it('matches its definition under random appends, truncations and applies', () => {
    const keys = ['a', 'b', 'c'];
    const step = fc.oneof(
      fc.record({
        kind: fc.constant('append' as const),
        /** Where the batch starts, relative to the end of the log: 0 appends, below 0 truncates. */
        back: fc.integer({ min: -4, max: 0 }),
        keySets: fc.array(fc.subarray(keys), { minLength: 1, maxLength: 4 }),
      }),
      fc.record({ kind: fc.constant('apply' as const), upTo: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('read' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const log: KeyedEntry[] = [];
        let applied = 0;
        const pending = indexFrom(0);
        for (const s of steps) {
          if (s.kind === 'append') {
            const first = Math.max(applied + 1, log.length + 1 + s.back);
            const batch = s.keySets.map((keySet, offset) => entry(first + offset, ...keySet));
            log.splice(first - 1, log.length, ...batch);
            pending.append(batch);
          } else if (s.kind === 'apply') {
            applied = Math.min(log.length, applied + s.upTo);
            pending.markApplied(applied);
          }
          // Reads only now and then: entries wait unindexed in between.
          if (s.kind !== 'read') continue;
          for (const key of keys) {
            const expected = log.filter((e) => e.index > applied && e.keys.includes(key)).at(-1)?.index ?? 0;
            expect(pending.pendingIndex(key)).toBe(expected);
          }
        }
      }),
    );
  });
});
