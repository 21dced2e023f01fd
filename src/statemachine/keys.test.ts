import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binaryToBytes, bytesToBinary, keyBinary, keyBytes } from './keys.js';

describe('key conversions', () => {
  it('encodes any string as TextEncoder does, short ASCII ones by the fast path included', () => {
    const encoder = new TextEncoder();
    const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }));
    fc.assert(
      fc.property(text, (key) => {
        expect(keyBytes(key)).toEqual(encoder.encode(key));
      }),
      { numRuns: 500 },
    );
  });

  it('turns any bytes into the binary string of latin1, short and long, and back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const binary = bytesToBinary(bytes);
        expect(binary).toBe(Buffer.from(bytes).toString('latin1'));
        expect(binaryToBytes(binary)).toEqual(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('gives a string key the binary string of its UTF-8 bytes, an ASCII one as it is', () => {
    const encoder = new TextEncoder();
    const text = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 80 }));
    fc.assert(
      fc.property(text, (key) => {
        const utf8 = encoder.encode(key);
        expect(keyBinary(key)).toBe(Buffer.from(utf8).toString('latin1'));
        expect(keyBinary(utf8)).toBe(keyBinary(key));
      }),
      { numRuns: 500 },
    );
    expect(keyBinary('é')).toBe('\xc3\xa9');
  });

  it('reads a view at its own offset, not its buffer', () => {
    const buffer = new Uint8Array([0x41, 0xff, 0x42, 0x00, 0x43]);
    expect(bytesToBinary(buffer.subarray(1, 4))).toBe('\xff\x42\x00');
  });
});
