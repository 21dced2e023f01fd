// Decoding long-lived bytes with msgpackr without changing them. msgpackr caches a DataView on
// whatever it decodes (a `dataView` property): on bytes that stay in memory, a log entry's or a
// cached record's, each would keep one for good (with the property's storage, about 120 bytes)
// and get a shape of its own, which makes every typed-array access that meets them polymorphic.
import type { Packr } from 'msgpackr';

/** packr.unpack(bytes) through a throwaway view of the same memory, so `bytes` is left as it was. */
export function unpackThroughView(packr: Packr, bytes: Uint8Array): unknown {
  return packr.unpack(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
