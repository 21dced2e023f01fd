// Big-endian unsigned integers in byte arrays, written and read byte by byte: a DataView per
// call costs an allocation, and these run several times per log entry on every node.
import { assert } from './assert.js';

const twoTo32 = 2 ** 32;

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

/** Writes a safe non-negative integer as a big-endian unsigned 64-bit one (8 bytes). */
export function writeUint53(bytes: Uint8Array, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, () => `${value} is not a non-negative safe integer`);
  writeUint32(bytes, offset, Math.floor(value / twoTo32));
  writeUint32(bytes, offset + 4, value >>> 0);
}

/**
 * Reads 8 bytes as a big-endian unsigned integer. Above 2^53 - 1 the result is not exact: callers
 * reading untrusted bytes check it with Number.isSafeInteger.
 * Below 2^32 it is the low word itself, not the sum: a sum of doubles is a double (a heap number)
 * to V8 even when it is a small integer, and an object field that once holds one holds every
 * later value boxed. Log entries' index and term come from here: boxed, they cost every entry in
 * memory two more heap objects (32 bytes), on every node, for as long as the log keeps it.
 */
export function readUint53(bytes: Uint8Array, offset: number): number {
  const high = readUint32(bytes, offset);
  const low = readUint32(bytes, offset + 4);
  return high === 0 ? low : high * twoTo32 + low;
}
