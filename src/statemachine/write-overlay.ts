// Writes staged in memory over a reader. The state machine stages one apply step's writes in an
// overlay over the store, so a batch of hundreds of entries reads its own writes and reaches the
// store in one writeBatch (design.md §8). Each command runs between begin() and commit(): a
// rejected one is rolled back, so it leaves nothing behind, however far it got. (An undo log
// rather than an overlay per command: apply makes no allocation per command for it.)
import { bytesToBinary, type KeyRange, keyBinary, keyBytes, type StateKey } from './keys.js';
import {
  assertValidLimit,
  type StateOp,
  type StateReader,
  type StateRecord,
  type StateView,
} from './state-store.js';

/** A key in range order: its record, or undefined where a staged delete hides it. */
interface MergedKey {
  binaryKey: string;
  record: StateRecord | undefined;
}

/** A write of the running command and what its key held in the overlay before it. */
interface UndoRecord {
  binaryKey: string;
  previous: StateOp | undefined;
}

export class WriteOverlay implements StateView {
  /** The last staged write of each key, by binary key. Map order (first write of each key) is the same on every node. */
  private readonly staged = new Map<string, StateOp>();
  /** Between begin() and commit() or rollback(): the writes since begin(), oldest first. */
  private undoLog: UndoRecord[] = [];
  private recording = false;

  constructor(private readonly base: StateReader) {}

  /** Starts a command: its writes can be undone, until commit(), by rollback(). */
  begin(): void {
    this.undoLog.length = 0;
    this.recording = true;
  }

  /** Keeps the writes since begin(). */
  commit(): void {
    this.undoLog.length = 0;
    this.recording = false;
  }

  /** Undoes every write since begin(): the overlay is as it was then, Map order included. */
  rollback(): void {
    for (let position = this.undoLog.length - 1; position >= 0; position--) {
      const { binaryKey, previous } = this.undoLog[position]!;
      if (previous === undefined) this.staged.delete(binaryKey);
      else this.staged.set(binaryKey, previous);
    }
    this.commit();
  }

  get(key: StateKey): Uint8Array | undefined {
    const op = this.staged.get(keyBinary(key));
    if (op === undefined) return this.base.get(key);
    return op.type === 'put' ? op.value : undefined;
  }

  put(key: StateKey, value: Uint8Array): void {
    this.stage(keyBinary(key), { type: 'put', key: keyBytes(key), value });
  }

  delete(key: StateKey): void {
    this.stage(keyBinary(key), { type: 'del', key: keyBytes(key) });
  }

  private stage(binaryKey: string, op: StateOp): void {
    if (this.recording) this.undoLog.push({ binaryKey, previous: this.staged.get(binaryKey) });
    this.staged.set(binaryKey, op);
  }

  /** The staged writes, as operations for StateStore.writeBatch. */
  ops(): StateOp[] {
    return [...this.staged.values()];
  }

  async *iterate(range: KeyRange): AsyncGenerator<StateRecord> {
    assertValidLimit(range);
    let remaining = range.limit ?? Number.POSITIVE_INFINITY;
    if (remaining === 0) return;
    for await (const { record } of this.mergeWithBase(range)) {
      if (record === undefined) continue;
      yield record;
      remaining -= 1;
      if (remaining === 0) return;
    }
  }

  /** Staged keys (deletes included) and the base records they do not shadow, in range order. */
  private async *mergeWithBase(range: KeyRange): AsyncGenerator<MergedKey> {
    const staged = this.stagedIn(range);
    // Each staged key hides at most one base record, so this many base records always suffice.
    const baseRange = range.limit === undefined ? range : { ...range, limit: range.limit + staged.length };
    const comesBefore = range.reverse
      ? (first: string, second: string) => first > second
      : (first: string, second: string) => first < second;
    let next = 0;
    for await (const record of this.base.iterate(baseRange)) {
      const baseKey = bytesToBinary(record.key);
      while (next < staged.length && comesBefore(staged[next]!.binaryKey, baseKey)) yield staged[next++]!;
      if (next < staged.length && staged[next]!.binaryKey === baseKey) yield staged[next++]!;
      else yield { binaryKey: baseKey, record };
    }
    yield* staged.slice(next);
  }

  /** The staged keys in range, in range order. */
  private stagedIn(range: KeyRange): MergedKey[] {
    const low = range.gte === undefined ? undefined : keyBinary(range.gte);
    const high = range.lt === undefined ? undefined : keyBinary(range.lt);
    const inRange: MergedKey[] = [];
    for (const [binaryKey, op] of this.staged) {
      if ((low === undefined || binaryKey >= low) && (high === undefined || binaryKey < high)) {
        inRange.push({ binaryKey, record: op.type === 'put' ? op : undefined });
      }
    }
    inRange.sort((first, second) => (first.binaryKey < second.binaryKey ? -1 : 1));
    return range.reverse ? inRange.reverse() : inRange;
  }
}
