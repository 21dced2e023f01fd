// CRC-32: zlib's and the table's agree with each other and with the standard check value.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Parts, tableCrc32Parts } from './crc32.js';

describe('crc32', () => {
  it('gives the check value of CRC-32/ISO-HDLC, both ways', () => {
    const digits = new TextEncoder().encode('123456789');
    expect(crc32(digits)).toBe(0xcbf43926);
    expect(tableCrc32Parts([digits])).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('of parts is the CRC of their concatenation, and the table agrees with zlib', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 4 }), (parts) => {
        const joined = Buffer.concat(parts);
        expect(crc32Parts(parts)).toBe(crc32(joined));
        expect(tableCrc32Parts(parts)).toBe(crc32(joined));
      }),
    );
  });

  it('skips an empty part, even a view of an empty ArrayBuffer', () => {
    const key = new TextEncoder().encode('s/d/k');
    // zlib reads such a view as "no buffer" and would answer 0 (a Buffer of '' is such a buffer).
    const emptyView = new Uint8Array(Buffer.from('').buffer, 0, 0);
    expect(crc32Parts([key, emptyView])).toBe(crc32(key));
    expect(crc32Parts([emptyView, key])).toBe(crc32(key));
  });
});
