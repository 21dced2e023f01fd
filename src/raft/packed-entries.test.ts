import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry, EntryType } from './messages.js';
import { PackedEntries, packedBlockSlots, packedChunkBytes } from './packed-entries.js';

function entry(index: number, term: number, type: EntryType, data: Uint8Array, stampMs = index * 10): Entry {
  return { index, term, type, stampMs, data };
}

/** The entry's fields, its data as hex: vitest's deep equality walks typed arrays an element at a time. */
function shown(entry: Entry): object {
  return {
    ...entry,
    data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength).toString('hex'),
  };
}

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, position) => (position * 31 + seed) & 0xff);
}

describe('PackedEntries', () => {
  it('gives back each entry as pushed, across column growth and data chunks', () => {
    const packed = new PackedEntries();
    const types: EntryType[] = ['normal', 'noop', 'config'];
    const pushed: Entry[] = [];
    // Enough entries to double the columns several times and to fill more than two chunks.
    const entryDataBytes = 700;
    const count = Math.ceil((2.5 * packedChunkBytes) / entryDataBytes);
    for (let slot = 0; slot < count; slot++) {
      const next = entry(
        slot + 1,
        1 + Math.floor(slot / 1000),
        types[slot % 3]!,
        bytes(slot % 7 === 0 ? 0 : entryDataBytes, slot),
      );
      pushed.push(next);
      packed.push(next);
    }
    expect(packed.length).toBe(count);
    for (let slot = 0; slot < count; slot++) {
      expect(shown(packed.entry(slot, slot + 1))).toEqual(shown(pushed[slot]!));
      expect(packed.term(slot)).toBe(pushed[slot]!.term);
      expect(packed.entryBytes(slot)).toBe(pushed[slot]!.data.byteLength + 24);
    }
  });

  it('crosses from one block of columns to the next, and truncates back across it', () => {
    const packed = new PackedEntries();
    const count = packedBlockSlots + 10;
    for (let slot = 0; slot < count; slot++)
      packed.push(entry(slot + 1, slot, 'normal', bytes(slot % 5, slot)));
    for (const slot of [0, 255, 256, packedBlockSlots - 1, packedBlockSlots, count - 1]) {
      expect(shown(packed.entry(slot, slot + 1))).toEqual(
        shown(entry(slot + 1, slot, 'normal', bytes(slot % 5, slot))),
      );
    }
    packed.truncate(packedBlockSlots - 2);
    packed.push(entry(packedBlockSlots - 1, 7, 'noop', new Uint8Array(0)));
    packed.push(entry(packedBlockSlots, 8, 'normal', bytes(3, 9)));
    packed.push(entry(packedBlockSlots + 1, 9, 'normal', bytes(4, 10)));
    expect(packed.length).toBe(packedBlockSlots + 1);
    expect(packed.term(packedBlockSlots - 3)).toBe(packedBlockSlots - 3);
    expect(packed.term(packedBlockSlots - 2)).toBe(7);
    expect(shown(packed.entry(packedBlockSlots, packedBlockSlots + 1))).toEqual(
      shown(entry(packedBlockSlots + 1, 9, 'normal', bytes(4, 10))),
    );
  });

  it('keeps a copy: the pushed bytes may be reused by their owner', () => {
    const packed = new PackedEntries();
    const data = bytes(100, 1);
    packed.push(entry(1, 1, 'normal', data));
    data.fill(0);
    expect(packed.entry(0, 1).data).toEqual(bytes(100, 1));
  });

  it('holds data longer than a chunk in a chunk of its own, and goes on after it', () => {
    const packed = new PackedEntries();
    const small = bytes(10, 2);
    const large = bytes(packedChunkBytes + 5, 3);
    packed.push(entry(1, 1, 'normal', small));
    packed.push(entry(2, 1, 'normal', large));
    packed.push(entry(3, 1, 'normal', small));
    expect(packed.entry(0, 1).data).toEqual(small);
    expect(shown(packed.entry(1, 2))).toEqual(shown(entry(2, 1, 'normal', large)));
    expect(packed.entry(2, 3).data).toEqual(small);
  });

  it('truncates, and what is pushed after takes the dropped slots', () => {
    const packed = new PackedEntries();
    for (let index = 1; index <= 5; index++) packed.push(entry(index, 1, 'normal', bytes(20, index)));
    packed.truncate(2);
    expect(packed.length).toBe(2);
    expect(() => packed.entry(2, 3)).toThrow(/slot 2 outside/);
    packed.push(entry(3, 2, 'noop', new Uint8Array(0)));
    expect(packed.entry(2, 3)).toEqual(entry(3, 2, 'noop', new Uint8Array(0)));
    expect(packed.entry(1, 2).data).toEqual(bytes(20, 2));
    expect(() => packed.truncate(4)).toThrow(/truncate to 4 of 3/);
  });

  it('matches an array of entries under random pushes and truncations', () => {
    const operation = fc.oneof(
      fc.record({ push: fc.nat({ max: 3000 }), term: fc.integer({ min: 1, max: 9 }) }),
      fc.record({ truncateTo: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 200 }), (operations) => {
        const packed = new PackedEntries();
        const model: Entry[] = [];
        for (const step of operations) {
          if ('push' in step) {
            const next = entry(model.length + 1, step.term, 'normal', bytes(step.push, model.length));
            model.push(next);
            packed.push(next);
          } else {
            const count = model.length === 0 ? 0 : step.truncateTo % (model.length + 1);
            model.length = count;
            packed.truncate(count);
          }
        }
        expect(packed.length).toBe(model.length);
        for (const [slot, expected] of model.entries())
          expect(packed.entry(slot, slot + 1)).toEqual(expected);
      }),
    );
  });
});
