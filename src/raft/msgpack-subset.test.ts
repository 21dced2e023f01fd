// The msgpack subset of the message codec: it writes each integer in the same (shortest) form as
// msgpackr, and reads back what msgpackr writes for every integer, boolean and byte string.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { intBytesMax, MsgpackReader, MsgpackSubsetError, MsgpackWriter } from './msgpack-subset.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

function written(write: (writer: MsgpackWriter) => void): number[] {
  const writer = new MsgpackWriter(new Uint8Array(64));
  write(writer);
  return [...writer.written()];
}

const integers = fc.oneof(
  fc.integer({ min: -32, max: 300 }),
  fc.integer({ min: -32, max: 70_000 }),
  fc.integer({ min: -32, max: 2 ** 32 + 5 }),
  fc.integer({ min: -32, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(-32, -1, 0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32),
);

describe('MsgpackWriter', () => {
  it('writes integers, booleans and arrays byte for byte as msgpackr does', () => {
    fc.assert(
      fc.property(integers, (value) => {
        expect(written((writer) => writer.int(value))).toEqual([...packr.pack(value)]);
      }),
    );
    expect(written((writer) => writer.bool(true))).toEqual([...packr.pack(true)]);
    expect(written((writer) => writer.bool(false))).toEqual([...packr.pack(false)]);
    for (const length of [0, 15, 16, 65_535, 65_536]) {
      const header = written((writer) => writer.arrayHeader(length));
      expect(header).toEqual([...packr.pack(new Array(length).fill(0)).subarray(0, header.length)]);
      expect(new MsgpackReader(Uint8Array.from(header)).arrayHeader()).toBe(length);
    }
  });

  it('takes at most intBytesMax for an integer, and refuses one it has no room for', () => {
    expect(written((writer) => writer.int(Number.MAX_SAFE_INTEGER))).toHaveLength(intBytesMax);
    const writer = new MsgpackWriter(new Uint8Array(intBytesMax - 1));
    expect(() => writer.int(1)).toThrow(/sized too small/);
    expect(() => new MsgpackWriter(new Uint8Array(16)).int(-33)).toThrow(/at least -32/);
  });
});

describe('MsgpackReader', () => {
  it('reads every integer, boolean and byte string msgpackr writes', () => {
    const scalars = fc.oneof(
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.integer({ min: -70_000, max: 70_000 }),
      fc.boolean(),
      fc.uint8Array({ maxLength: 300 }),
    );
    fc.assert(
      fc.property(scalars, (value) => {
        const reader = new MsgpackReader(packr.pack(value));
        const read = reader.scalar();
        expect(read instanceof Uint8Array ? new Uint8Array(read) : read).toEqual(value);
        expect(reader.done()).toBe(true);
      }),
    );
  });

  it('reads array headers of each form', () => {
    for (const length of [0, 15, 16, 70_000]) {
      expect(new MsgpackReader(packr.pack(new Array(length).fill(0))).arrayHeader()).toBe(length);
    }
  });

  it('refuses what the subset does not hold, and values cut short', () => {
    const refused = [
      packr.pack('text'),
      packr.pack(null),
      packr.pack({ a: 1 }),
      packr.pack([1]),
      packr.pack(1.5).subarray(0, 5),
      packr.pack(new Uint8Array(10)).subarray(0, 8),
    ];
    for (const bytes of refused) expect(() => new MsgpackReader(bytes).scalar()).toThrow(MsgpackSubsetError);
    expect(() => new MsgpackReader(packr.pack(7)).arrayHeader()).toThrow(MsgpackSubsetError);
    expect(() => new MsgpackReader(new Uint8Array(0)).arrayHeader()).toThrow(/cut short/);
  });
});
