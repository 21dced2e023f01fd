// Keys of the state store are bytes, ordered byte by byte (LevelDB's order); a string key stands
// for its UTF-8 bytes. In memory, keys are held as "binary strings" (latin1: one char per byte):
// comparing two of them with < is byte order (UTF-16 order of the strings themselves is not), and
// they work as Map keys.

export type StateKey = Uint8Array | string;

/** Records in [gte, lt) of key, ascending (descending with reverse), at most limit of them. */
export interface KeyRange {
  gte?: StateKey;
  lt?: StateKey;
  limit?: number;
  reverse?: boolean;
}

const utf8Encoder = new TextEncoder();
const emptyBytes = new Uint8Array(0);

/**
 * Keys this short or shorter take the fast paths below: TextEncoder and Buffer cost about a
 * microsecond per call on a 16-byte key, and apply converts each command's key several times.
 */
const shortKeyLengthMax = 64;

export function keyBytes(key: StateKey): Uint8Array {
  if (typeof key !== 'string') return key;
  return (key.length <= shortKeyLengthMax && asciiBytes(key)) || utf8Encoder.encode(key);
}

/** The bytes of an ASCII string (its UTF-8 encoding too), or null when it is not ASCII. */
function asciiBytes(text: string): Uint8Array | null {
  const bytes = new Uint8Array(text.length);
  for (let position = 0; position < text.length; position++) {
    const code = text.charCodeAt(position);
    if (code >= 0x80) return null;
    bytes[position] = code;
  }
  return bytes;
}

/**
 * The bytes as a plain Uint8Array over the same memory (themselves if they are one), so both
 * stores hand out the same type (not Buffer).
 */
export function plainBytes(bytes: Uint8Array): Uint8Array {
  if (Object.getPrototypeOf(bytes) === Uint8Array.prototype) return bytes;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function bytesToBinary(bytes: Uint8Array): string {
  if (bytes.byteLength <= shortKeyLengthMax) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export function binaryToBytes(binary: string): Uint8Array {
  return plainBytes(Buffer.from(binary, 'latin1'));
}

/** A key as a binary string. An ASCII string is its own binary string: it comes back as it is. */
export function keyBinary(key: StateKey): string {
  if (typeof key === 'string' && isAscii(key)) return key;
  return bytesToBinary(keyBytes(key));
}

function isAscii(text: string): boolean {
  for (let position = 0; position < text.length; position++) {
    if (text.charCodeAt(position) >= 0x80) return false;
  }
  return true;
}

export function concatBytes(first: Uint8Array, second: Uint8Array): Uint8Array {
  const joined = new Uint8Array(first.byteLength + second.byteLength);
  joined.set(first, 0);
  joined.set(second, first.byteLength);
  return joined;
}

export function compareBytes(first: Uint8Array, second: Uint8Array): number {
  return Buffer.compare(first, second);
}

/** The smallest key above `key`: the key itself followed by a zero byte. */
export function keySuccessor(key: Uint8Array): Uint8Array {
  return concatBytes(key, new Uint8Array(1));
}

/**
 * The smallest key above every key that starts with `prefix`, or undefined when there is none
 * (an empty prefix, or one made only of 0xff bytes).
 */
export function prefixUpperBound(prefix: Uint8Array): Uint8Array | undefined {
  for (let position = prefix.byteLength - 1; position >= 0; position--) {
    if (prefix[position]! < 0xff) {
      const bound = prefix.slice(0, position + 1);
      bound[position] = prefix[position]! + 1;
      return bound;
    }
  }
  return undefined;
}

/** The store keys that `range` names among the keys under `prefix` (range keys omit the prefix). */
export function rangeWithin(
  prefix: Uint8Array,
  range: KeyRange,
): { gte: Uint8Array; lt: Uint8Array | undefined } {
  return {
    gte: concatBytes(prefix, range.gte === undefined ? emptyBytes : keyBytes(range.gte)),
    lt: range.lt === undefined ? prefixUpperBound(prefix) : concatBytes(prefix, keyBytes(range.lt)),
  };
}
