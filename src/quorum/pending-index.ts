// The pending-write index of quorum reads (design.md §5): for each state key, the highest log
// index this node has appended but not yet applied whose command touches that key. A quorum read
// that sees a pending write above every replica's applied index must wait for it (the Paxos
// Quorum Reads rule), so this index must follow the log exactly: entries in as they are appended,
// out as they are applied, and out again when a new leader overwrites them (truncation).
//
// It is built lazily: appended entries wait, unread, until a quorum read asks for a key, and those
// applied before any read asks are never looked at. Finding an entry's keys means decoding its
// command, and keeping two maps up to date on every node for every write cost the cluster a few
// per cent of its CPU per write (3-7% in A/B runs at 64 and 256 clients); a node that serves no
// quorum read now pays none of it, and one that does pays it once per entry, as before.

/** What the index needs of a log entry: its index (the keys its command may write come from keysOf). */
export interface IndexedEntry {
  index: number;
}

export class PendingWriteIndex<E extends IndexedEntry> {
  /**
   * The keys of each held entry that touches any, in increasing index order (a Map keeps insertion
   * order, and every insertion is above the highest index held: truncation removes the tail first).
   */
  private readonly keysByIndex = new Map<number, readonly string[]>();
  /** Invariant: each key's held indices, strictly increasing, all in keysByIndex; no empty lists. */
  private readonly indicesByKey = new Map<string, number[]>();
  /** Invariant: every held index is in (appliedIndex, lastIndex]. */
  private appliedIndex: number;
  /** The highest index indexed (or applied) so far. */
  private lastIndex: number;
  /**
   * Batches appended and not indexed yet, in increasing index order, each starting past the one
   * before and past lastIndex. Applied entries leave from the front unread.
   */
  private unindexed: (readonly E[])[] = [];

  constructor(
    appliedIndex: number,
    /** The state keys an entry's command may write (decodes the command). */
    private readonly keysOf: (entry: E) => readonly string[],
  ) {
    this.appliedIndex = appliedIndex;
    this.lastIndex = appliedIndex;
  }

  /** The highest pending index of a write to `key`, or 0 when none is pending. */
  pendingIndex(key: string): number {
    this.indexAppended();
    return this.indicesByKey.get(key)?.at(-1) ?? 0;
  }

  /** Pending entries that touch at least one key (tests). */
  get heldEntryCount(): number {
    this.indexAppended();
    return this.keysByIndex.size;
  }

  /**
   * Entries appended to the log, in increasing index order. An entry at index i replaces every held
   * entry at i or above: a new leader overwrote this node's uncommitted suffix. `entries` is kept
   * as it is until indexed or applied: the caller must not change it.
   */
  append(entries: readonly E[]): void {
    if (entries.length === 0) return;
    if (entries[0]!.index > this.lastAppendedIndex()) {
      this.unindexed.push(entries);
      return;
    }
    // An overwrite (or entries handed out again): rare, so everything waiting is indexed first
    // and the new entries go in at once.
    this.indexAppended();
    this.index(entries);
  }

  /** The highest index appended (or applied) so far: the end of `unindexed`, else lastIndex. */
  private lastAppendedIndex(): number {
    return this.unindexed.at(-1)?.at(-1)?.index ?? this.lastIndex;
  }

  /** Indexes what waits, in order. */
  private indexAppended(): void {
    if (this.unindexed.length === 0) return;
    for (const batch of this.unindexed) this.index(batch);
    this.unindexed = [];
  }

  private index(entries: readonly E[]): void {
    for (const entry of entries) {
      // Raft never replaces an applied (committed) entry, so one handed out again at or below the
      // applied index is the same entry, already out of the index.
      if (entry.index <= this.appliedIndex) continue;
      if (entry.index <= this.lastIndex) this.dropFrom(entry.index);
      this.lastIndex = entry.index;
      const touched = this.keysOf(entry);
      if (touched.length === 0) continue;
      // Most commands touch one key: no set needed to drop duplicates.
      const keys = touched.length === 1 ? touched : [...new Set(touched)];
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
    // Applied before anyone asked: never indexed. A batch applied in part is indexed from its
    // first unapplied entry (index() skips the rest).
    while (this.unindexed.length > 0 && this.unindexed[0]!.at(-1)!.index <= appliedIndex) {
      this.unindexed.shift();
    }
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
