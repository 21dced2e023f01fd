// The write side of a node's durable state, next to the read side (raft/storage.ts) the pure
// core uses. The driver hands each Ready's hard state and entries to save(); once it resolves
// they are on disk, and only then may the node send the votes and acks that depend on them.
// LevelStorage (level-storage.ts) and MemoryDurableStorage (memory-durable-storage.ts) are the
// two implementations; both pass storage.contract.ts.
import { assert } from '../assert.js';
import { type Entry, type HardState, noNode } from '../raft/messages.js';
import type { MemoryStorage, SnapshotMeta, Storage } from '../raft/storage.js';

export interface StorageUpdate {
  /** The new hard state, or null to keep the one held. */
  hardState: HardState | null;
  /** Contiguous entries; any held entries at or after the first one's index are dropped. */
  entries: Entry[];
  /**
   * Default true: fsync before resolving. False only for an update that changes nothing a vote
   * or an ack depends on (a commit index alone): it becomes durable with the next synced save,
   * since saves reach the disk in order.
   */
  sync?: boolean;
}

export interface DurableStorage extends Storage {
  /**
   * Makes the update durable, all of it or none of it. Saves take effect one at a time in call
   * order, and reads show a save only once its promise has resolved. A rejected save is fatal:
   * the storage refuses every later call, and a failed write is never retried.
   */
  save(update: StorageUpdate): Promise<void>;
  /** Lets the saves already called finish, then releases the medium. Closing twice is a no-op. */
  close(): Promise<void>;
}

/**
 * Why a storage refused to open or to go on. Every code is a reason to stop the node:
 * - DATA_DIR_IN_USE: another process (or another open storage) holds the data directory.
 * - WRONG_NODE / WRONG_CLUSTER: the data directory belongs to another node id or cluster.
 * - UNKNOWN_FORMAT: the data was written in a storage format this build cannot read.
 * - DATA_CORRUPT: a stored entry or record fails its checks (CRC, order, shape).
 * - STORAGE_FAILED: a write or fsync failed, or an earlier save did.
 * - STORAGE_CLOSED: the storage was used after close().
 */
export type StorageErrorCode =
  | 'DATA_DIR_IN_USE'
  | 'WRONG_NODE'
  | 'WRONG_CLUSTER'
  | 'UNKNOWN_FORMAT'
  | 'DATA_CORRUPT'
  | 'STORAGE_FAILED'
  | 'STORAGE_CLOSED';

export class StorageError extends Error {
  override name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A DurableStorage that serves reads from an in-memory mirror of what its medium holds.
 * Subclasses only write the medium (persist) and release it; ordering, checks, the mirror's
 * updates and the failed state live here, so both implementations behave alike.
 */
export abstract class MirroredDurableStorage implements DurableStorage {
  /** The last write started (settled or not); the next one starts only after it settles. */
  private lastSave: Promise<void> = Promise.resolve();
  /**
   * Saves called while a write is in flight: they go to the medium together, as one write (one
   * fsync), when it settles — group commit across Readies.
   */
  private nextGroup: { updates: StorageUpdate[]; written: Promise<void> } | null = null;
  /** The error of the first save that failed; once set, every call throws. */
  private failure: Error | null = null;
  private closed = false;

  /**
   * @param mirror what every completed save left on the medium, and nothing more: it changes
   * only after the medium confirms a save, so a read between save() and its resolution sees
   * the state before it.
   */
  protected constructor(protected readonly mirror: MemoryStorage) {}

  /**
   * Writes the update to the medium, resolving once it is durable. Called one at a time, after
   * the update passed its checks; `this.mirror` still holds the state before the update.
   */
  protected abstract persist(update: StorageUpdate): Promise<void>;

  /** Releases the medium; called once, after every save has settled. */
  protected abstract release(): Promise<void>;

  hardState(): HardState {
    this.throwIfUnusable();
    return this.mirror.hardState();
  }

  snapshotMeta(): SnapshotMeta {
    this.throwIfUnusable();
    return this.mirror.snapshotMeta();
  }

  firstIndex(): number {
    this.throwIfUnusable();
    return this.mirror.firstIndex();
  }

  lastIndex(): number {
    this.throwIfUnusable();
    return this.mirror.lastIndex();
  }

  term(index: number): number {
    this.throwIfUnusable();
    return this.mirror.term(index);
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] {
    this.throwIfUnusable();
    return this.mirror.entries(lo, hi, bytesMax);
  }

  save(update: StorageUpdate): Promise<void> {
    try {
      this.throwIfUnusable();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!this.nextGroup) {
      const group: { updates: StorageUpdate[]; written: Promise<void> } = {
        updates: [],
        written: Promise.resolve(),
      };
      group.written = this.lastSave.then(() => {
        this.nextGroup = null;
        return this.saveInTurn(mergeUpdates(group.updates));
      });
      this.nextGroup = group;
      this.lastSave = group.written.catch(() => undefined);
    }
    this.nextGroup.updates.push(update);
    return this.nextGroup.written;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lastSave;
    await this.release();
  }

  private async saveInTurn(update: StorageUpdate): Promise<void> {
    if (this.failure) throw this.failedError();
    try {
      checkUpdate(this.mirror, update);
      await this.persist(update);
    } catch (error) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      throw error;
    }
    if (update.hardState) this.mirror.setHardState(update.hardState);
    this.mirror.append(update.entries);
  }

  private throwIfUnusable(): void {
    if (this.failure) throw this.failedError();
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'storage is closed');
  }

  private failedError(): StorageError {
    return new StorageError(
      'STORAGE_FAILED',
      `storage failed earlier and refuses every call; stop the node (${this.failure?.message})`,
      { cause: this.failure },
    );
  }
}

/** Several updates, in call order, as the one update that leaves the medium in the same state. */
export function mergeUpdates(updates: readonly StorageUpdate[]): StorageUpdate {
  if (updates.length === 1) return updates[0]!;
  let entries: Entry[] = [];
  let hardState: HardState | null = null;
  let sync = false;
  for (const update of updates) {
    const first = update.entries[0];
    if (first) {
      const kept = entries.length === 0 ? 0 : Math.max(0, first.index - entries[0]!.index);
      entries = entries.slice(0, kept).concat(update.entries);
    }
    hardState = update.hardState ?? hardState;
    sync ||= update.sync !== false;
  }
  return { hardState, entries, sync };
}

/**
 * Raft's invariants on what may be saved over `stored`, checked before anything is written so a
 * bug in the core stops the node instead of leaving a log that would refuse to load.
 */
function checkUpdate(stored: Storage, update: StorageUpdate): void {
  const { entries } = update;
  let lastIndex = stored.lastIndex();
  if (entries.length > 0) {
    const firstIndex = entries[0]!.index;
    assert(firstIndex > stored.snapshotMeta().index, () => `save at ${firstIndex} is inside the snapshot`);
    assert(firstIndex <= lastIndex + 1, () => `save at ${firstIndex} leaves a gap after ${lastIndex}`);
    let previousTerm = stored.term(firstIndex - 1);
    entries.forEach((entry, offset) => {
      assert(entry.index === firstIndex + offset, 'saved entries must be contiguous');
      assert(entry.term >= previousTerm, () => `entry ${entry.index} has a term below its predecessor's`);
      previousTerm = entry.term;
    });
    lastIndex = entries[entries.length - 1]!.index;
  }
  checkHardStateAdvance(stored.hardState(), update.hardState ?? stored.hardState(), lastIndex);
}

function checkHardStateAdvance(before: HardState, after: HardState, lastIndex: number): void {
  assert(after.term >= before.term, () => `term would go back from ${before.term} to ${after.term}`);
  assert(
    after.term > before.term || before.vote === noNode || after.vote === before.vote,
    () => `vote in term ${after.term} would change from ${before.vote} to ${after.vote}`,
  );
  assert(
    after.commit >= before.commit,
    () => `commit would go back from ${before.commit} to ${after.commit}`,
  );
  assert(after.commit <= lastIndex, () => `commit ${after.commit} would be past the last entry ${lastIndex}`);
}
