// Writes staged in memory over a reader. The state machine stages one apply step's writes in an
// overlay over the store, so a batch of hundreds of entries reads its own writes and reaches the
// store in one writeBatch (design.md §8). Overlays nest: each command's writes are staged over the
// step's overlay and merged into it only when the command succeeds, so a rejected command leaves
// nothing behind, however far it got.
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

export class WriteOverlay implements StateView {
  /** The last staged write of each key, by binary key. Map order (first write of each key) is the same on every node. */
  private readonly staged = new Map<string, StateOp>();

  constructor(private readonly base: StateReader) {}

  async get(key: StateKey): Promise<Uint8Array | undefined> {
    const op = this.staged.get(keyBinary(key));
    if (op === undefined) return this.base.get(key);
    return op.type === 'put' ? op.value : undefined;
  }

  put(key: StateKey, value: Uint8Array): void {
    const bytes = keyBytes(key);
    this.staged.set(bytesToBinary(bytes), { type: 'put', key: bytes, value });
  }

  delete(key: StateKey): void {
    const bytes = keyBytes(key);
    this.staged.set(bytesToBinary(bytes), { type: 'del', key: bytes });
  }

  /** The staged writes, as operations for StateStore.writeBatch. */
  ops(): StateOp[] {
    return [...this.staged.values()];
  }

  /** Stages these writes in the overlay this one was staged over. */
  mergeInto(target: WriteOverlay): void {
    for (const [binaryKey, op] of this.staged) target.staged.set(binaryKey, op);
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
