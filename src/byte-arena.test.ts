// ByteArena: copies that do not alias their source or each other, in chunks of their own.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteArena } from './byte-arena.js';

describe('ByteArena', () => {
  it('copies: later changes to the source do not show, and copies do not overlap', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 60 }), (sources) => {
        const arena = new ByteArena(64, 16);
        const copies = sources.map((bytes) => arena.copy(bytes));
        for (const source of sources) source.fill(0xee);
        const fresh = sources.map((bytes) => bytes.map(() => 0));
        copies.forEach((copy, i) => {
          expect(copy.byteLength).toBe(sources[i]!.byteLength);
          copy.fill(i % 256);
          fresh[i]!.fill(i % 256);
        });
        // Writing every copy in turn left each one as written: no two share a byte.
        for (const [i, copy] of copies.entries()) expect([...copy]).toEqual([...fresh[i]!]);
      }),
    );
  });

  it('keeps small copies in shared chunks, and gives a large one a buffer of its own', () => {
    const arena = new ByteArena(64, 16);
    const a = arena.copy(new Uint8Array(10).fill(1));
    const b = arena.copy(new Uint8Array(10).fill(2));
    expect(b.buffer).toBe(a.buffer);
    expect(a.buffer.byteLength).toBe(64);
    const large = arena.copy(new Uint8Array(17).fill(3));
    expect(large.buffer).not.toBe(a.buffer);
    expect(large.buffer.byteLength).toBe(17);
    // A copy that does not fit in the chunk's tail starts a new chunk.
    const fills = Array.from({ length: 5 }, () => arena.copy(new Uint8Array(10)));
    expect(new Set(fills.map((copy) => copy.buffer)).size).toBe(2);
  });

  it('copies a Buffer view out of its backing buffer', () => {
    const backing = Buffer.alloc(8192, 7);
    const view = backing.subarray(100, 250);
    const arena = new ByteArena();
    expect(arena.copy(view).buffer).not.toBe(backing.buffer);
    const large = new ByteArena(64, 16).copy(view);
    expect(large.buffer).not.toBe(backing.buffer);
    expect([...large]).toEqual([...view]);
  });
});
