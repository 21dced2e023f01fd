// A small msgpack writer and reader for the one shape the peer messages take on the wire (format
// 3, messages.ts): arrays of integers, booleans and byte strings. What it writes is plain msgpack
// (any msgpack library reads it back as the same arrays); what it reads is the part of msgpack
// that shape needs, so that a message costs a few hundred instructions to write and to read
// rather than a general codec's map of named fields, each name a string to write, hash and intern.
//
// Read: integers (fixint, negative fixint, uint 8-64, int 8-64), float 64, true and false, bin
// 8/16/32, and arrays (fix, 16, 32) of those. Anything else, a value cut short, or an array
// nested in a message throws MsgpackSubsetError.
import { assert } from '../assert.js';
import { readUint32, writeUint32 } from '../big-endian.js';

const twoTo32 = 2 ** 32;
const float64ScratchBytes = new Uint8Array(8);
/** Big-endian, as msgpack wants, whatever the machine's order. */
const float64Scratch = new DataView(float64ScratchBytes.buffer);

export class MsgpackSubsetError extends Error {
  override name = 'MsgpackSubsetError';
}

/** The most bytes int() takes for any safe integer (a float 64: its type byte and 8 bytes). */
export const intBytesMax = 9;
/** The bytes binHeader takes. */
export const binHeaderBytes = 5;
/** The most bytes arrayHeader takes. */
export const arrayHeaderBytesMax = 5;

/** Writes msgpack into a buffer sized by the caller beforehand (each call asserts it fits). */
export class MsgpackWriter {
  position = 0;

  constructor(readonly bytes: Uint8Array) {}

  /** A safe integer of at least -32: the shortest msgpack form of it (a float 64 from 2^32 on). */
  int(value: number): void {
    assert(
      Number.isSafeInteger(value) && value >= -32,
      () => `${value} is not a safe integer of at least -32`,
    );
    this.room(intBytesMax);
    if (value < 0) this.head(value & 0xff, 0, 0);
    else if (value < 0x80) this.head(value, 0, 0);
    else if (value < 0x100) this.head(0xcc, value, 1);
    else if (value < 0x10000) this.head(0xcd, value, 2);
    else if (value < twoTo32) this.head(0xce, value, 4);
    else {
      // As msgpackr writes it: any decoder then reads a number, where a uint 64 is a BigInt to some.
      this.bytes[this.position] = 0xcb;
      float64Scratch.setFloat64(0, value);
      this.bytes.set(float64ScratchBytes, this.position + 1);
      this.position += 9;
    }
  }

  bool(value: boolean): void {
    this.room(1);
    this.bytes[this.position++] = value ? 0xc3 : 0xc2;
  }

  arrayHeader(length: number): void {
    this.room(arrayHeaderBytesMax);
    if (length < 16) this.head(0x90 | length, 0, 0);
    else if (length < 0x10000) this.head(0xdc, length, 2);
    else this.head(0xdd, length, 4);
  }

  /** The header of a byte string of `length` bytes; the caller writes them next (see skip). */
  binHeader(length: number): void {
    this.room(binHeaderBytes + length);
    this.head(0xc6, length, 4);
  }

  /** Bytes written as they are: a header of the caller's, or what follows a binHeader. */
  raw(bytes: Uint8Array): void {
    this.room(bytes.byteLength);
    this.bytes.set(bytes, this.position);
    this.position += bytes.byteLength;
  }

  /** Moves past `length` bytes the caller wrote into `bytes` itself (after a binHeader). */
  skip(length: number): void {
    this.room(length);
    this.position += length;
  }

  /** What was written. */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.position);
  }

  /**
   * A type byte, then `value` as a big-endian unsigned integer of `width` bytes (none for 0): the
   * form of every header and integer here but the float 64. The caller checked the room.
   */
  private head(type: number, value: number, width: 0 | 1 | 2 | 4): void {
    const bytes = this.bytes;
    const at = this.position;
    bytes[at] = type;
    if (width === 1) bytes[at + 1] = value;
    else if (width === 2) {
      bytes[at + 1] = value >>> 8;
      bytes[at + 2] = value & 0xff;
    } else if (width === 4) writeUint32(bytes, at + 1, value);
    this.position = at + 1 + width;
  }

  private room(length: number): void {
    assert(this.position + length <= this.bytes.byteLength, 'the msgpack writer was sized too small');
  }
}

/** A value of a message: an integer (or a float 64 as sent), a boolean, or a byte string (a view). */
export type SubsetScalar = number | boolean | Uint8Array;

/** Reads msgpack from `bytes`, front to back. */
export class MsgpackReader {
  position: number;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.position = start;
  }

  done(): boolean {
    return this.position === this.bytes.byteLength;
  }

  /** The length of the array that starts here. */
  arrayHeader(): number {
    const type = this.byte();
    if ((type & 0xf0) === 0x90) return type & 0x0f;
    if (type === 0xdc) return this.uint(2);
    if (type === 0xdd) return this.uint(4);
    throw new MsgpackSubsetError(`expected an array, found type byte 0x${type.toString(16)}`);
  }

  /** An integer, float 64, boolean or byte string (a view of the read bytes, not a copy). */
  scalar(): SubsetScalar {
    const type = this.byte();
    if (type < 0x80) return type;
    if (type >= 0xe0) return type - 0x100;
    switch (type) {
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xcc:
        return this.uint(1);
      case 0xcd:
        return this.uint(2);
      case 0xce:
        return this.uint(4);
      case 0xcf:
        return this.uint64();
      case 0xd0:
        return signed(this.uint(1), 8);
      case 0xd1:
        return signed(this.uint(2), 16);
      case 0xd2:
        return this.uint(4) | 0;
      case 0xd3:
        return this.int64();
      case 0xcb:
        return this.float64();
      case 0xc4:
        return this.view(this.uint(1));
      case 0xc5:
        return this.view(this.uint(2));
      case 0xc6:
        return this.view(this.uint(4));
      default:
        throw new MsgpackSubsetError(`type byte 0x${type.toString(16)} is not an integer, boolean or bytes`);
    }
  }

  private need(length: number): void {
    if (this.position + length > this.bytes.byteLength) throw new MsgpackSubsetError('a value is cut short');
  }

  private byte(): number {
    this.need(1);
    return this.bytes[this.position++]!;
  }

  /** A big-endian unsigned integer of 1, 2 or 4 bytes. */
  private uint(length: 1 | 2 | 4): number {
    this.need(length);
    const bytes = this.bytes;
    const at = this.position;
    this.position += length;
    if (length === 1) return bytes[at]!;
    if (length === 2) return (bytes[at]! << 8) | bytes[at + 1]!;
    return readUint32(bytes, at);
  }

  /** Not exact above 2^53 - 1: the caller checks with Number.isSafeInteger. */
  private uint64(): number {
    const high = this.uint(4);
    const low = this.uint(4);
    return high === 0 ? low : high * twoTo32 + low;
  }

  private int64(): number {
    const high = this.uint(4) | 0;
    const low = this.uint(4);
    return high * twoTo32 + low;
  }

  private float64(): number {
    this.need(8);
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.position, 8).getFloat64(0);
    this.position += 8;
    return value;
  }

  private view(length: number): Uint8Array {
    this.need(length);
    const start = this.position;
    this.position += length;
    return this.bytes.subarray(start, start + length);
  }
}

function signed(value: number, bits: 8 | 16): number {
  const range = 2 ** bits;
  return value >= range / 2 ? value - range : value;
}
