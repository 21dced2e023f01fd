// The read side of a node's durable state, as the consensus core sees it. The driver writes
// (append, hard state) and only then tells the core, via advance(), that they are stable.
// MemoryStorage is the in-memory twin of node/level-storage.ts; both pass storage.contract.ts.
import { assert } from '../assert.js';
import type { Entry, HardState, NodeId } from './messages.js';
import { noNode } from './messages.js';
import { PackedEntries } from './packed-entries.js';

/** The cluster configuration: who votes and who only learns. */
export interface ConfigState {
  voters: NodeId[];
  learners: NodeId[];
}

/** What the last snapshot covers; entries up to `index` are compacted away. */
export interface SnapshotMeta {
  index: number;
  term: number;
  config: ConfigState;
}

export interface Storage {
  hardState(): HardState;
  snapshotMeta(): SnapshotMeta;
  /** The first index still held as an entry (snapshotMeta().index + 1). */
  firstIndex(): number;
  /** The last index held (snapshotMeta().index when the log is empty). */
  lastIndex(): number;
  /** The term of the entry at `index`, for index in [snapshotMeta().index, lastIndex()]. */
  term(index: number): number;
  /**
   * Entries in [lo, hi), stopping early once their total size passes bytesMax (at least one
   * entry is always returned when lo < hi).
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[];
}

export const emptyHardState: HardState = { term: 0, vote: noNode, commit: 0 };

export class MemoryStorage implements Storage {
  private hard: HardState = { ...emptyHardState };
  private snapshot: SnapshotMeta;
  /** Slot i holds the entry at index snapshot.index + 1 + i (packed: no object per entry). */
  private readonly log = new PackedEntries();

  constructor(config: ConfigState) {
    this.snapshot = {
      index: 0,
      term: 0,
      config: { voters: [...config.voters], learners: [...config.learners] },
    };
  }

  hardState(): HardState {
    return { ...this.hard };
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): number {
    return this.snapshot.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.index + this.log.length;
  }

  term(index: number): number {
    if (index === this.snapshot.index) return this.snapshot.term;
    assert(index > this.snapshot.index && index <= this.lastIndex(), () => `term(${index}) outside the log`);
    return this.log.term(index - this.snapshot.index - 1);
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi,
      () => `entries(${lo}, ${hi}) outside`,
    );
    const result: Entry[] = [];
    let bytes = 0;
    for (let index = lo; index < hi; index++) {
      const slot = index - this.snapshot.index - 1;
      bytes += this.log.entryBytes(slot);
      if (result.length > 0 && bytes > bytesMax) break;
      result.push(this.log.entry(slot, index));
    }
    return result;
  }

  // ---- write side (the driver's) -----------------------------------------------------------

  setHardState(hardState: HardState): void {
    this.hard = { ...hardState };
  }

  /** Appends entries, first dropping any held entries at or after the first new index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.snapshot.index, () => `append at ${first} is inside the snapshot`);
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    this.log.truncate(first - this.snapshot.index - 1);
    for (const entry of entries) {
      assert(entry.index === this.lastIndex() + 1, 'appended entries must be contiguous');
      this.log.push(entry);
    }
  }
}
