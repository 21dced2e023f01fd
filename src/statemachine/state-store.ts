// Where the state machine's state lives: a sorted map of byte keys to byte values, plus the index
// of the last log entry applied to it. Two twins pass one contract (state-store.contract.ts):
// MemoryStateStore here, LevelStateStore (level-state-store.ts) on the node's LevelDB.
import { assert } from '../assert.js';
import { binaryToBytes, type KeyRange, keyBinary, plainBytes, type StateKey } from './keys.js';

export interface StateRecord {
  key: Uint8Array;
  value: Uint8Array;
}

export type StateOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };

/** Reads: what reads outside apply and every view inside apply have in common. */
export interface StateReader {
  /**
   * The value at `key`; callers must not modify it. Synchronous: apply reads state for nearly
   * every command, and a promise per read cost more than the read (a store serves it from memory
   * or from LevelDB's caches).
   */
  get(key: StateKey): Uint8Array | undefined;
  /** The records in `range`, as the state was at the iteration's first step (a snapshot). */
  iterate(range: KeyRange): AsyncIterable<StateRecord>;
}

/** A reader that also stages writes: what a command sees while it is applied. */
export interface StateView extends StateReader {
  put(key: StateKey, value: Uint8Array): void;
  delete(key: StateKey): void;
}

export interface StateStore extends StateReader {
  /** The index of the last log entry whose effects are in the store (0 before the first). */
  appliedIndex(): number;
  /**
   * Writes `ops` and the new applied index atomically (design.md §8: one batch per apply step),
   * so a crash never leaves state from entries the applied index does not count, or the reverse.
   * The store keeps each put's value buffer as it is, without a copy: the caller hands it over and
   * must not change it afterwards (apply encodes every value into a buffer of its own).
   */
  writeBatch(ops: readonly StateOp[], appliedIndex: number): Promise<void>;
  /** Writes what may still wait in memory; call it before closing what the store is kept on. */
  close(): Promise<void>;
}

/** The applied index only moves forward: each batch covers at least one entry. */
export function assertAppliedIndexAdvances(current: number, next: number): void {
  assert(
    Number.isSafeInteger(next) && next > current,
    () => `applied index must advance: ${current} -> ${next}`,
  );
}

export function assertValidLimit(range: KeyRange): void {
  assert(
    range.limit === undefined || (Number.isSafeInteger(range.limit) && range.limit >= 0),
    () => `range limit must be a non-negative integer, got ${range.limit}`,
  );
}

export class MemoryStateStore implements StateStore {
  /** Values by binary key. */
  private readonly values = new Map<string, Uint8Array>();
  /** The keys of `values` in byte order: sortedKeys[i] < sortedKeys[i + 1]. */
  private readonly sortedKeys: string[] = [];
  private applied = 0;

  appliedIndex(): number {
    return this.applied;
  }

  /** Nothing waits: every batch is in the map once writeBatch resolves. */
  async close(): Promise<void> {}

  get(key: StateKey): Uint8Array | undefined {
    return this.values.get(keyBinary(key));
  }

  async *iterate(range: KeyRange): AsyncGenerator<StateRecord> {
    yield* this.recordsIn(range);
  }

  async writeBatch(ops: readonly StateOp[], appliedIndex: number): Promise<void> {
    assertAppliedIndexAdvances(this.applied, appliedIndex);
    for (const op of ops) {
      const key = keyBinary(op.key);
      if (op.type === 'put') {
        if (!this.values.has(key)) this.sortedKeys.splice(this.firstPositionNotBelow(key), 0, key);
        this.values.set(key, plainBytes(op.value));
      } else if (this.values.delete(key)) {
        this.sortedKeys.splice(this.firstPositionNotBelow(key), 1);
      }
    }
    this.applied = appliedIndex;
  }

  /** Copies the records out, so writes during a slow iteration do not change what it sees. */
  private recordsIn(range: KeyRange): StateRecord[] {
    assertValidLimit(range);
    const low = range.gte === undefined ? 0 : this.firstPositionNotBelow(keyBinary(range.gte));
    const high =
      range.lt === undefined ? this.sortedKeys.length : this.firstPositionNotBelow(keyBinary(range.lt));
    const count = Math.max(0, Math.min(high - low, range.limit ?? Number.POSITIVE_INFINITY));
    const records: StateRecord[] = [];
    for (let offset = 0; offset < count; offset++) {
      const key = this.sortedKeys[range.reverse ? high - 1 - offset : low + offset]!;
      records.push({ key: binaryToBytes(key), value: this.values.get(key)! });
    }
    return records;
  }

  /** Binary search: the first position in sortedKeys whose key is not below `key`. */
  private firstPositionNotBelow(key: string): number {
    let low = 0;
    let high = this.sortedKeys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.sortedKeys[middle]! < key) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
