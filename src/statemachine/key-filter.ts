// A Bloom filter of the keys a state store holds, so that a read of a key the store never held
// (the first write of every key reads it first) skips LevelDB: its lookup of an absent key walks
// the memtable and asks each level's table, at several microseconds. A filter answers "maybe" for
// every key added to it (no false negatives) and for about 1% of the others; a "maybe" is asked of
// LevelDB. A deleted key stays in the filter: it costs a lookup, never a wrong answer.
//
// The filter grows with the keys (a scalable Bloom filter: when a layer is full, a layer twice its
// size starts), about 1.3 bytes per key, so it needs no limit of its own beyond the store's size.
import { assert } from '../assert.js';

/** Bits per key of each layer, and hash functions per key: about 1% false positives per layer. */
const bitsPerKey = 10;
const hashesPerKey = 7;
const firstLayerKeys = 1 << 16;

interface Layer {
  bits: Uint32Array;
  /** bits.length * 32 - 1: the bit count is a power of two. */
  mask: number;
  capacity: number;
  count: number;
}

export class KeyFilter {
  private readonly layers: Layer[] = [];

  constructor(private readonly layerKeysMin = firstLayerKeys) {
    assert(Number.isInteger(layerKeysMin) && layerKeysMin >= 1, 'a filter layer holds at least one key');
  }

  /** Keys the filter took in (a key it may already hold is not taken again). */
  get addedCount(): number {
    return this.layers.reduce((sum, layer) => sum + layer.count, 0);
  }

  /**
   * Makes mayContain(binaryKey) true from now on; `binaryKey` is the key as a binary string (one
   * char per byte, keys.ts). A key the filter may already hold is not added again, so rewriting a
   * key does not grow the filter.
   */
  add(binaryKey: string): void {
    const [first, second] = hashes(binaryKey);
    if (this.holds(first, second)) return;
    let layer = this.layers.at(-1);
    if (layer === undefined || layer.count >= layer.capacity) {
      layer = newLayer(layer === undefined ? this.layerKeysMin : layer.capacity * 2);
      this.layers.push(layer);
    }
    for (let i = 0; i < hashesPerKey; i++) {
      const bit = (first + i * second) & layer.mask;
      layer.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    layer.count++;
  }

  /** False only for a key never added; true for every added key and about 1% of the others. */
  mayContain(binaryKey: string): boolean {
    const [first, second] = hashes(binaryKey);
    return this.holds(first, second);
  }

  /** Whether some layer has every bit of the key whose hashes these are. */
  private holds(first: number, second: number): boolean {
    for (const layer of this.layers) {
      let present = true;
      for (let i = 0; i < hashesPerKey && present; i++) {
        const bit = (first + i * second) & layer.mask;
        present = (layer.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
      }
      if (present) return true;
    }
    return false;
  }
}

function newLayer(capacity: number): Layer {
  let bitCount = 32;
  while (bitCount < capacity * bitsPerKey) bitCount *= 2;
  return { bits: new Uint32Array(bitCount / 32), mask: bitCount - 1, capacity, count: 0 };
}

/** Reused by every call (no allocation per lookup): read it before the next call. */
const hashPair: [number, number] = [0, 0];

/** Two 32-bit hashes of the key (FNV-1a, and a second pass with another basis); the second is odd. */
function hashes(binaryKey: string): [number, number] {
  let first = 0x811c9dc5;
  let second = 0x01000193;
  for (let position = 0; position < binaryKey.length; position++) {
    const code = binaryKey.charCodeAt(position);
    first = Math.imul(first ^ code, 0x01000193);
    second = Math.imul(second ^ code, 0x5bd1e995);
  }
  second ^= second >>> 15;
  hashPair[0] = first >>> 0;
  hashPair[1] = (second | 1) >>> 0;
  return hashPair;
}
