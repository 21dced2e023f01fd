// A run of log entries held for long (MemoryStorage: the whole log until compaction), packed into
// typed columns with their data bytes copied into shared chunks: no JavaScript object per entry.
// An object per entry that lives as long as the log survives two young-generation GCs, is copied
// by both, and is marked by every full GC afterwards: on a follower under 256 clients, each
// scavenge copied 1.4 MB and promoted 1.3-2.4 MB more, 12-25 ms of the cores every 0.75 s
// (2026-11-28, --trace-gc-nvp), most of it log entries; and the objects, about 185 bytes of V8's
// heap per entry, ran a node into the heap limit after ~20 million entries. Here an entry costs
// 29 bytes of columns and its data, outside V8's heap. An entry is materialized as an object
// when it is read (to send, to apply), and that object dies young.
//
// The columns come in blocks of a fixed number of slots, so the log grows without ever copying
// what it holds (a doubling array would stall the node for a copy of the whole log). The first
// block and the data chunks start small and double up to their full size: a simulator runs
// thousands of short-lived nodes.
import { assert } from '../assert.js';
import { type Entry, type EntryType, entryOverheadBytes } from './messages.js';

const entryTypes: readonly EntryType[] = ['normal', 'noop', 'config'];
const entryTypeCodes: Readonly<Record<EntryType, number>> = { normal: 0, noop: 1, config: 2 };

/** Slots per block of columns: 2^16 entries, 1.9 MB. */
const blockSlotsLog2 = 16;
export const packedBlockSlots = 1 << blockSlotsLog2;
const slotMask = packedBlockSlots - 1;
/** Slots of the first block when it is made; it doubles up to packedBlockSlots. */
const firstBlockSlots = 256;
/** Bytes per data chunk once the log holds that much; data longer gets a chunk of its own. */
export const packedChunkBytes = 1024 * 1024;
/** The first data chunk's size; each next one doubles the bytes held, up to packedChunkBytes. */
const firstChunkBytes = 4096;

/** The columns of up to packedBlockSlots consecutive entries. */
class Block {
  readonly terms: Float64Array;
  readonly stamps: Float64Array;
  readonly types: Uint8Array;
  /** The chunk (position in `chunks`) that holds the entry's data, its offset there and length. */
  readonly chunkOf: Uint32Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;

  constructor(readonly slots: number) {
    this.terms = new Float64Array(slots);
    this.stamps = new Float64Array(slots);
    this.types = new Uint8Array(slots);
    this.chunkOf = new Uint32Array(slots);
    this.offsets = new Uint32Array(slots);
    this.lengths = new Uint32Array(slots);
  }

  /** A copy with twice the slots (at most packedBlockSlots). */
  grown(): Block {
    const next = new Block(Math.min(this.slots * 2, packedBlockSlots));
    next.terms.set(this.terms);
    next.stamps.set(this.stamps);
    next.types.set(this.types);
    next.chunkOf.set(this.chunkOf);
    next.offsets.set(this.offsets);
    next.lengths.set(this.lengths);
    return next;
  }
}

export class PackedEntries {
  private count = 0;
  private readonly blocks: Block[] = [];
  /** Data of every entry pushed since the log began (a truncated entry's bytes stay with it). */
  private readonly chunks: Uint8Array[] = [];
  private chunkUsed = 0;
  private chunkBytesHeld = 0;

  get length(): number {
    return this.count;
  }

  term(slot: number): number {
    return this.blockOf(slot).terms[slot & slotMask]!;
  }

  /** The entry's size as entryBytes() counts it, without materializing it. */
  entryBytes(slot: number): number {
    return this.blockOf(slot).lengths[slot & slotMask]! + entryOverheadBytes;
  }

  /** A new Entry object for the slot; its data is a view of this store's copy. */
  entry(slot: number, index: number): Entry {
    const block = this.blockOf(slot);
    const at = slot & slotMask;
    const offset = block.offsets[at]!;
    return {
      index,
      term: block.terms[at]!,
      type: entryTypes[block.types[at]!]!,
      stampMs: block.stamps[at]!,
      data: this.chunks[block.chunkOf[at]!]!.subarray(offset, offset + block.lengths[at]!),
    };
  }

  /** Appends a copy of the entry (its index is the caller's business: slots are positions). */
  push(entry: Entry): void {
    const slot = this.count;
    const blockIndex = slot >>> blockSlotsLog2;
    const at = slot & slotMask;
    if (blockIndex === this.blocks.length) {
      this.blocks.push(new Block(blockIndex === 0 ? firstBlockSlots : packedBlockSlots));
    } else if (at === this.blocks[blockIndex]!.slots) {
      this.blocks[blockIndex] = this.blocks[blockIndex]!.grown();
    }
    const block = this.blocks[blockIndex]!;
    const length = entry.data.byteLength;
    const chunk = this.chunkFor(length);
    chunk.set(entry.data, this.chunkUsed);
    block.terms[at] = entry.term;
    block.stamps[at] = entry.stampMs;
    block.types[at] = entryTypeCodes[entry.type];
    block.chunkOf[at] = this.chunks.length - 1;
    block.offsets[at] = this.chunkUsed;
    block.lengths[at] = length;
    this.chunkUsed += length;
    this.count++;
  }

  /** Keeps the first `count` entries and drops the rest (their blocks stay, for the next pushes). */
  truncate(count: number): void {
    assert(count >= 0 && count <= this.count, () => `truncate to ${count} of ${this.count}`);
    this.count = count;
  }

  private blockOf(slot: number): Block {
    assert(slot >= 0 && slot < this.count, () => `slot ${slot} outside 0..${this.count - 1}`);
    return this.blocks[slot >>> blockSlotsLog2]!;
  }

  /** The last chunk, with room for `length` bytes at chunkUsed: a new one when it has none. */
  private chunkFor(length: number): Uint8Array {
    const last = this.chunks.at(-1);
    if (last !== undefined && this.chunkUsed + length <= last.byteLength) return last;
    const size = Math.min(packedChunkBytes, Math.max(firstChunkBytes, this.chunkBytesHeld));
    const chunk = new Uint8Array(Math.max(size, length));
    this.chunks.push(chunk);
    this.chunkBytesHeld += chunk.byteLength;
    this.chunkUsed = 0;
    return chunk;
  }
}
