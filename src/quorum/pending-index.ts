// The pending-write index of quorum reads (design.md §5): for each state key, the highest log
// index this node has appended but not yet applied whose command touches that key. A quorum read
// that sees a pending write above every replica's applied index must wait for it (the Paxos
// Quorum Reads rule), so this index must follow the log exactly: entries in as they are appended,
// out as they are applied, and out again when a new leader overwrites them (truncation).

/** One appended entry as the index sees it: its index and the state keys its command may write. */
export interface AppendedEntry {
  index: number;
  keys: readonly string[];
}

export class PendingWriteIndex {
  /**
   * The keys of each held entry that touches any, in increasing index order (a Map keeps insertion
   * order, and every insertion is above the highest index held: truncation removes the tail first).
   */
  private readonly keysByIndex = new Map<number, readonly string[]>();
  /** Invariant: each key's held indices, strictly increasing, all in keysByIndex; no empty lists. */
  private readonly indicesByKey = new Map<string, number[]>();
  /** Invariant: every held index is in (appliedIndex, lastIndex]. */
  private appliedIndex: number;
  /** The highest index appended (or applied) so far. */
  private lastIndex: number;

  constructor(appliedIndex: number) {
    this.appliedIndex = appliedIndex;
    this.lastIndex = appliedIndex;
  }

  /** The highest pending index of a write to `key`, or 0 when none is pending. */
  pendingIndex(key: string): number {
    return this.indicesByKey.get(key)?.at(-1) ?? 0;
  }

  /** Pending entries that touch at least one key (tests). */
  get heldEntryCount(): number {
    return this.keysByIndex.size;
  }

  /**
   * Entries appended to the log, in increasing index order. An entry at index i replaces every held
   * entry at i or above: a new leader overwrote this node's uncommitted suffix.
   */
  append(entries: readonly AppendedEntry[]): void {
    for (const entry of entries) {
      // Raft never replaces an applied (committed) entry, so one handed out again at or below the
      // applied index is the same entry, already out of the index.
      if (entry.index <= this.appliedIndex) continue;
      if (entry.index <= this.lastIndex) this.dropFrom(entry.index);
      this.lastIndex = entry.index;
      if (entry.keys.length === 0) continue;
      // Most commands touch one key: no set needed to drop duplicates.
      const keys = entry.keys.length === 1 ? entry.keys : [...new Set(entry.keys)];
      this.keysByIndex.set(entry.index, keys);
      for (const key of keys) {
        const indices = this.indicesByKey.get(key);
        if (indices === undefined) this.indicesByKey.set(key, [entry.index]);
        else indices.push(entry.index);
      }
    }
  }

  /** The state machine applied every entry up to `appliedIndex`: they are no longer pending. */
  markApplied(appliedIndex: number): void {
    if (appliedIndex <= this.appliedIndex) return;
    this.appliedIndex = appliedIndex;
    this.lastIndex = Math.max(this.lastIndex, appliedIndex);
    // Count per key first, so a hot key loses its applied head in one splice per apply step.
    const appliedPerKey = new Map<string, number>();
    for (const [index, keys] of this.keysByIndex) {
      if (index > appliedIndex) break;
      this.keysByIndex.delete(index);
      for (const key of keys) appliedPerKey.set(key, (appliedPerKey.get(key) ?? 0) + 1);
    }
    for (const [key, count] of appliedPerKey) {
      const indices = this.indicesByKey.get(key)!;
      if (count === indices.length) this.indicesByKey.delete(key);
      else indices.splice(0, count);
    }
  }

  /** Forgets every held entry at `index` or above, newest first (each key's list loses its tail). */
  private dropFrom(index: number): void {
    for (let held = this.lastIndex; held >= index; held--) {
      const keys = this.keysByIndex.get(held);
      if (keys === undefined) continue;
      this.keysByIndex.delete(held);
      for (const key of keys) {
        const indices = this.indicesByKey.get(key)!;
        indices.pop();
        if (indices.length === 0) this.indicesByKey.delete(key);
      }
    }
    this.lastIndex = index - 1;
  }
}
