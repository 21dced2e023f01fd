// Compact copies of small byte strings: an encoded command until the log has saved its own copy,
// an entry read from a format 1 or 2 log while it is moved. A slice of a shared encoder buffer,
// or a value LevelDB returned on its own, keeps its whole backing buffer alive (and msgpackr
// packs every message into one shared buffer that the next pack writes over); copies go into
// chunks that hold only such copies, so what stays alive is what is used.
import { assert } from './assert.js';

/** Bytes per chunk: one allocation for a few hundred typical entries. */
export const arenaChunkBytes = 64 * 1024;
/** Copies longer than this get a buffer of their own: a large value would waste a chunk's tail. */
export const arenaSharedCopyBytesMax = 4 * 1024;

export class ByteArena {
  private chunk = new Uint8Array(0);
  private used = 0;

  constructor(
    private readonly chunkBytes = arenaChunkBytes,
    private readonly sharedCopyBytesMax = arenaSharedCopyBytesMax,
  ) {
    assert(
      sharedCopyBytesMax >= 0 && sharedCopyBytesMax <= chunkBytes,
      'a shared copy must fit in one chunk',
    );
  }

  /** A copy of `bytes` that keeps nothing else alive but other copies of this arena. */
  copy(bytes: Uint8Array): Uint8Array {
    const length = bytes.byteLength;
    // Not bytes.slice(): on a Buffer that is a view of the same memory, not a copy.
    if (length > this.sharedCopyBytesMax) return new Uint8Array(bytes);
    if (this.used + length > this.chunk.byteLength) {
      this.chunk = new Uint8Array(this.chunkBytes);
      this.used = 0;
    }
    const copy = this.chunk.subarray(this.used, this.used + length);
    copy.set(bytes);
    this.used += length;
    return copy;
  }
}
