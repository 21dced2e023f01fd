// The log as the core sees it: the stable part (in Storage, written by the driver) followed by
// the unstable part (appended here, not yet persisted). etcd's raftLog + unstable, merged.
import { assert } from '../assert.js';
import { type Entry, entryBytes } from './messages.js';
import type { Storage } from './storage.js';

export class RaftLog {
  /** Entries not yet persisted; unstable[0] has index `unstableOffset`. */
  private unstable: Entry[] = [];
  /**
   * Index of the first unstable entry. Storage may still hold older entries at or after it
   * (a follower's log was overwritten); for those indices the unstable entries win.
   */
  private unstableOffset: number;
  /**
   * How many unstable entries (from the front) a Ready has already handed to the driver to
   * persist; the next Ready carries only the ones after them. Several saves may be in flight.
   */
  private unstableInProgress = 0;
  /** Invariant: committed never decreases and never passes lastIndex(). */
  committed: number;
  /** Invariant: applied <= applying <= committed. */
  applied: number;
  /** The last index handed to the driver to apply (applied once its Ready is advanced). */
  private applying: number;

  constructor(
    private readonly storage: Storage,
    applied: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    this.committed = storage.hardState().commit;
    const snapshotIndex = storage.snapshotMeta().index;
    this.applied = Math.max(applied, snapshotIndex);
    assert(this.committed <= storage.lastIndex(), 'persisted commit index is past the persisted log');
    // Only committed entries are applied, so the applied index is a commit index too. It may be
    // ahead of the persisted one: entries already on disk apply while the Ready that raises the
    // commit index is still being saved, and a crash can fall between the two writes.
    assert(
      this.applied <= storage.lastIndex(),
      () => `the state machine applied ${this.applied}, past the last log entry ${storage.lastIndex()}`,
    );
    this.committed = Math.max(this.committed, this.applied);
    this.applying = this.applied;
  }

  firstIndex(): number {
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.length > 0 ? this.unstableOffset + this.unstable.length - 1 : this.lastStableIndex();
  }

  /** The last index whose entry is on disk and belongs to this log. */
  lastStableIndex(): number {
    return Math.min(this.unstableOffset - 1, this.storage.lastIndex());
  }

  lastTerm(): number {
    return this.term(this.lastIndex())!;
  }

  /** The term at `index`, or undefined when the index is compacted away or past the end. */
  term(index: number): number | undefined {
    if (index >= this.unstableOffset) {
      return this.unstable[index - this.unstableOffset]?.term;
    }
    const snapshotIndex = this.storage.snapshotMeta().index;
    if (index < snapshotIndex || index > this.storage.lastIndex()) return undefined;
    return this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourLastTerm = this.lastTerm();
    return lastTerm > ourLastTerm || (lastTerm === ourLastTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at most bytesMax bytes (always at least one when lo < hi). */
  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    assert(
      lo >= this.firstIndex() && hi <= this.lastIndex() + 1,
      () => `entries(${lo}, ${hi}) outside the log`,
    );
    if (lo >= hi) return [];
    const stableHi = Math.min(hi, this.unstableOffset);
    const result = lo < stableHi ? this.storage.entries(lo, stableHi, bytesMax) : [];
    if (hi > this.unstableOffset && (result.length === 0 || lo + result.length === this.unstableOffset)) {
      let bytes = result.reduce((sum, entry) => sum + entryBytes(entry), 0);
      for (let index = Math.max(lo, this.unstableOffset); index < hi; index++) {
        const entry = this.unstable[index - this.unstableOffset]!;
        bytes += entryBytes(entry);
        if (result.length > 0 && bytes > bytesMax) break;
        result.push(entry);
      }
    }
    return result;
  }

  /**
   * The follower's side of AppendEntries: if our log matches at (prevIndex, prevTerm), append
   * what is new (truncating a conflicting suffix) and return the last index the leader's
   * message covers; otherwise null.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    leaderCommit: number,
    entries: readonly Entry[],
  ): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNewIndex = prevIndex + entries.length;
    const conflictIndex = this.findConflict(entries);
    if (conflictIndex !== 0) {
      assert(conflictIndex > this.committed, () => `entry ${conflictIndex} conflicts with the committed log`);
      this.append(entries.slice(conflictIndex - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNewIndex));
    return lastNewIndex;
  }

  /** The first index of `entries` that is new or conflicts with ours; 0 when all are present. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (etcd's fast backtracking): every
   * entry above it has a larger term and so cannot match the other log.
   */
  findConflictByTerm(index: number, term: number): number {
    let candidate = Math.min(index, this.lastIndex());
    while (candidate > 0) {
      const candidateTerm = this.term(candidate);
      if (candidateTerm === undefined || candidateTerm <= term) break;
      candidate--;
    }
    return candidate;
  }

  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first > this.committed, () => `append at ${first} would overwrite committed entries`);
    assert(first <= this.lastIndex() + 1, () => `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.unstableOffset + this.unstable.length) {
      this.unstable.push(...entries);
    } else if (first <= this.unstableOffset) {
      this.unstableOffset = first;
      this.unstable = [...entries];
      this.unstableInProgress = 0;
    } else {
      const kept = first - this.unstableOffset;
      this.unstable = this.unstable.slice(0, kept).concat(entries);
      // A save in flight may still write the replaced entries; the new ones are saved after it.
      this.unstableInProgress = Math.min(this.unstableInProgress, kept);
    }
  }

  /** Unstable entries not yet handed to a Ready. */
  hasEntriesToPersist(): boolean {
    return this.unstable.length > this.unstableInProgress;
  }

  /** Hands the unstable entries not yet in a Ready to the driver. */
  takeEntriesToPersist(): Entry[] {
    const entries = this.unstable.slice(this.unstableInProgress);
    this.unstableInProgress = this.unstable.length;
    return entries;
  }

  /** The driver persisted entries up to (index, term): they leave the unstable part. */
  stableTo(index: number, term: number): void {
    if (index < this.unstableOffset || this.term(index) !== term) return;
    const persisted = index + 1 - this.unstableOffset;
    this.unstable = this.unstable.slice(persisted);
    this.unstableOffset = index + 1;
    this.unstableInProgress = Math.max(0, this.unstableInProgress - persisted);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} is past the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  hasEntriesToApply(): boolean {
    return this.committed > this.applying;
  }

  /** Hands the next committed entries to the driver to apply. */
  takeEntriesToApply(countMax: number, bytesMax: number): Entry[] {
    const hi = Math.min(this.committed + 1, this.applying + 1 + countMax);
    const entries = this.entries(this.applying + 1, hi, bytesMax);
    this.applying += entries.length;
    return entries;
  }

  appliedTo(index: number): void {
    assert(
      index <= this.applying && index >= this.applied,
      () => `applied ${index} outside [${this.applied}, ${this.applying}]`,
    );
    this.applied = index;
  }
}
