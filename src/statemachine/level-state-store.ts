// The state store on LevelDB. It shares the node's database with the log storage
// (node/level-storage.ts), under its own key prefix, and never opens or closes the database.
// Layout under the prefix:
//   <prefix>d/<key>       the state records
//   <prefix>m/applied     { v, appliedIndex }: the index of the last entry whose effects are stored
import type { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { assert } from '../assert.js';
import { concatBytes, type KeyRange, keyBytes, plainBytes, rangeWithin, type StateKey } from './keys.js';
import {
  assertAppliedIndexAdvances,
  assertValidLimit,
  type StateOp,
  type StateRecord,
  type StateStore,
} from './state-store.js';

/** Version of the applied-index record; a node reads this version and the one before. */
const appliedRecordFormatVersion = 1;

const packr = new Packr({ useRecords: false, moreTypes: false });

/** Keys and values as bytes, whatever encodings the database was opened with. */
const bytesEncoding = { keyEncoding: 'view', valueEncoding: 'view' } as const;

/** The database as this store uses it: every call passes bytesEncoding, so its defaults do not matter. */
type BytesDatabase = ClassicLevel<Uint8Array, Uint8Array>;

export class LevelStateStore implements StateStore {
  private constructor(
    private readonly db: BytesDatabase,
    private readonly dataPrefix: Uint8Array,
    private readonly appliedKey: Uint8Array,
    private applied: number,
  ) {}

  /**
   * A store over the keys under `prefix` in an open database. The prefix must not start, or be
   * the start of, any other key family in the database (the log's, for one).
   */
  static async open<K, V>(db: ClassicLevel<K, V>, prefix: string): Promise<LevelStateStore> {
    assert(prefix.length > 0, 'the state store needs a key prefix');
    const bytesDb = db as unknown as BytesDatabase;
    const appliedKey = keyBytes(`${prefix}m/applied`);
    const stored = await bytesDb.get(appliedKey, bytesEncoding);
    const applied = stored === undefined ? 0 : decodeAppliedIndex(stored);
    return new LevelStateStore(bytesDb, keyBytes(`${prefix}d/`), appliedKey, applied);
  }

  appliedIndex(): number {
    return this.applied;
  }

  async get(key: StateKey): Promise<Uint8Array | undefined> {
    // Synchronous on purpose: a point lookup is served from LevelDB's caches in microseconds, while
    // an asynchronous one costs a thread-pool round trip, and apply makes one per command in turn.
    const value = this.db.getSync(this.storeKey(key), bytesEncoding);
    return value === undefined ? undefined : plainBytes(value);
  }

  async *iterate(range: KeyRange): AsyncGenerator<StateRecord> {
    assertValidLimit(range);
    const { gte, lt } = rangeWithin(this.dataPrefix, range);
    const iterator = this.db.iterator({
      ...bytesEncoding,
      gte,
      ...(lt !== undefined && { lt }),
      limit: range.limit ?? -1,
      reverse: range.reverse ?? false,
    });
    // LevelDB iterators read from an implicit snapshot taken when they are created.
    for await (const [key, value] of iterator) {
      yield { key: plainBytes(key.subarray(this.dataPrefix.byteLength)), value: plainBytes(value) };
    }
  }

  async writeBatch(ops: readonly StateOp[], appliedIndex: number): Promise<void> {
    assertAppliedIndexAdvances(this.applied, appliedIndex);
    const batch: StateOp[] = ops.map((op) =>
      op.type === 'put'
        ? { type: 'put', key: this.storeKey(op.key), value: op.value }
        : { type: 'del', key: this.storeKey(op.key) },
    );
    batch.push({ type: 'put', key: this.appliedKey, value: encodeAppliedIndex(appliedIndex) });
    // No fsync: the log is the durable source of truth, and its own synced writes (same database,
    // same write-ahead log, in order) carry this batch to disk soon after. If a crash loses this
    // batch, it loses the applied index with the state, so the node re-applies exactly those
    // entries from its log. (Log compaction must therefore only drop entries up to an applied
    // index that has been synced.)
    await this.db.batch(batch, { ...bytesEncoding, sync: false });
    this.applied = appliedIndex;
  }

  private storeKey(key: StateKey): Uint8Array {
    return concatBytes(this.dataPrefix, keyBytes(key));
  }
}

function encodeAppliedIndex(appliedIndex: number): Uint8Array {
  return packr.pack({ v: appliedRecordFormatVersion, appliedIndex });
}

function decodeAppliedIndex(bytes: Uint8Array): number {
  const record = packr.unpack(bytes) as { v?: unknown; appliedIndex?: unknown };
  assert(
    record.v === appliedRecordFormatVersion &&
      Number.isSafeInteger(record.appliedIndex) &&
      (record.appliedIndex as number) >= 0,
    () => `unreadable applied-index record ${JSON.stringify(record)}`,
  );
  return record.appliedIndex as number;
}
