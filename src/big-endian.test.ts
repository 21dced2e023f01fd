// The big-endian helpers against DataView, the reference they must agree with.
import { setFlagsFromString } from 'node:v8';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readUint32, readUint53, writeUint32, writeUint53 } from './big-endian.js';

describe('big-endian integers', () => {
  it('write the same bytes as DataView and read back what was written', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.nat(3), (value, offset) => {
        const ours = new Uint8Array(12);
        writeUint53(ours, offset, value);
        const theirs = new Uint8Array(12);
        const view = new DataView(theirs.buffer);
        view.setBigUint64(offset, BigInt(value));
        expect(ours).toEqual(theirs);
        expect(readUint53(ours, offset)).toBe(value);
        expect(readUint32(ours, offset + 4)).toBe(view.getUint32(offset + 4));
      }),
    );
  });

  it('round-trip 32-bit values, the high bit included', () => {
    const bytes = new Uint8Array(4);
    for (const value of [0, 1, 0x7fffffff, 0x80000000, 0xdeadbeef, 0xffffffff]) {
      writeUint32(bytes, 0, value);
      expect(new DataView(bytes.buffer).getUint32(0)).toBe(value);
      expect(readUint32(bytes, 0)).toBe(value);
    }
  });

  it('refuse to write what is not a safe non-negative integer', () => {
    for (const value of [-1, 1.5, 2 ** 53, Number.NaN]) {
      expect(() => writeUint53(new Uint8Array(8), 0, value)).toThrow(/not a non-negative safe integer/);
    }
  });

  it('read a small value as a small integer, not a heap number (entry fields stay unboxed)', () => {
    // V8's own predicate, from a function compiled after natives syntax is allowed.
    setFlagsFromString('--allow-natives-syntax');
    const isSmi = new Function('value', 'return %IsSmi(value)') as (value: number) => boolean;
    expect(isSmi(7), 'the predicate itself').toBe(true);
    expect(isSmi(2 ** 40), 'the predicate itself').toBe(false);
    const bytes = new Uint8Array(8);
    for (const value of [0, 5, 123_456_789]) {
      writeUint53(bytes, 0, value);
      expect(isSmi(readUint53(bytes, 0)), String(value)).toBe(true);
    }
  });

  it('read bytes above 2^53 - 1 as a number that is not a safe integer', () => {
    const bytes = new Uint8Array(8).fill(0xff);
    expect(Number.isSafeInteger(readUint53(bytes, 0))).toBe(false);
  });
});
