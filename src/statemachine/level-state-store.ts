// The state store on LevelDB. It shares the node's database with the log storage
// (node/level-storage.ts), under its own key prefix, and never opens or closes the database.
// Layout under the prefix:
//   <prefix>d/<key>       crc32(key, value) (4 bytes, big-endian) + value: the state records
//   <prefix>m/applied     crc32 + { v, appliedIndex }: the index of the last entry whose effects are stored
// LevelDB does not check its block checksums on reads (classic-level cannot ask it to), so every
// record carries its own: a flipped bit is reported (DATA_CORRUPT), never served. A damaged disk
// stops the node at start: before the database opens, every table block's and write-ahead log
// record's own checksum is checked (node/leveldb-verify.ts, node/level-storage.ts), and they cover
// every stored byte. Besides, open() starts a sweep that checks every record's checksum once and
// learns every key (whenChecked()); it runs while the node already serves, as reading a million
// records costs seconds, and a record that fails it makes every later call throw.
import type { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { assert } from '../assert.js';
import { readUint32, writeUint32 } from '../big-endian.js';
import { defaultStateFlushLimits, type StateFlushLimits } from '../config.js';
import { crc32Parts } from '../node/crc32.js';
import { StorageError } from '../node/durable-storage.js';
import {
  assertBytesLevel,
  type BytesLevel,
  type LevelWrite,
  readBatches,
  writeLevelBatch,
} from '../node/level-batch.js';
import { KeyFilter } from './key-filter.js';
import {
  bytesToBinary,
  concatBytes,
  type KeyRange,
  keyBinary,
  keyBytes,
  plainBytes,
  rangeWithin,
  type StateKey,
} from './keys.js';
import {
  assertAppliedIndexAdvances,
  assertValidLimit,
  type StateOp,
  type StateRecord,
  type StateStore,
} from './state-store.js';

/** Version of the applied-index record; a node reads this version and the one before. */
const appliedRecordFormatVersion = 1;
const crcBytes = 4;
/** What one cached record costs beyond its key and value: a map entry and a typed-array view. */
const cacheRecordOverheadBytes = 128;
/** The share of the read cache's budget one eviction pass frees (see evictOldest). */
const cacheEvictionSliceFraction = 1 / 8;
const appliedRecordName = 'the applied-index record';
/**
 * The most a flush puts into one of the buffers its records go out of (a larger record gets one of
 * its own): a flush may carry thousands of values of up to kvValueBytesMax each.
 */
const flushChunkBytesMax = 1024 * 1024;
/**
 * Records read from LevelDB at once by the sweep: few enough that each batch holds the event loop
 * for milliseconds (the node serves meanwhile), many enough to spare a promise per record.
 */
const sweepBatchRecords = 1024;

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * A write waiting for its flush: the value (the writer's own buffer, kept as is) and its record's
 * checksum, or a null value for a delete. The stored record, checksum then value, is put together
 * only in the flush's one buffer: a record of its own per write would cost an allocation and a
 * copy of every value on every node.
 */
interface PendingWrite {
  storeKey: Uint8Array;
  value: Uint8Array | null;
  crc: number;
}

export class LevelStateStore implements StateStore {
  /** Writes of applied steps not yet handed to LevelDB, by binary state key (the newest wins). */
  private pending = new Map<string, PendingWrite>();
  /** The writes of the flush in flight: older than `pending`, newer than the database. */
  private flushing = new Map<string, PendingWrite>();
  /**
   * What the database holds, by binary state key, for keys written or read lately: the value, or
   * null for a key known to be absent; within limits.readCacheBytesMax, oldest first. Each was
   * checked when it was read (or written): damage to its disk copy shows when it is next read
   * from disk, or at open.
   */
  private readonly cache = new Map<string, Uint8Array | null>();
  private cacheBytes = 0;
  /**
   * Every key the database holds or held since open, by binary state key, once the sweep is done:
   * absent keys then skip LevelDB. Until then every key may be there.
   */
  private readonly keyFilter = new KeyFilter();
  private keyFilterComplete = false;
  /** The sweep of every record started by open(); settles once it is over (or stopped by close()). */
  private sweep: Promise<void> = Promise.resolve();
  /** The applied index the database holds (with the state up to it). */
  private flushedApplied: number;
  /** Flushes run one at a time, in order. */
  private flushChain: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  /** The first failed flush; once set, every call throws (a failed write is never retried). */
  private failure: Error | null = null;
  private closed = false;

  private constructor(
    private readonly db: BytesLevel,
    private readonly dataPrefix: Uint8Array,
    private readonly appliedKey: Uint8Array,
    private applied: number,
    private readonly limits: StateFlushLimits,
  ) {
    this.flushedApplied = applied;
  }

  /**
   * A store over the keys under `prefix` in an open database. The prefix must not start, or be
   * the start of, any other key family in the database (the log's, for one). Close the store
   * before the database: close() writes what is still waiting.
   */
  static async open<K, V>(
    db: ClassicLevel<K, V>,
    prefix: string,
    limits: StateFlushLimits = defaultStateFlushLimits,
  ): Promise<LevelStateStore> {
    assert(prefix.length > 0, 'the state store needs a key prefix');
    const bytesDb = assertBytesLevel(db);
    const appliedKey = keyBytes(`${prefix}m/applied`);
    const stored = await bytesDb.get(appliedKey);
    const applied =
      stored === undefined ? 0 : decodeAppliedIndex(checked(appliedKey, stored, appliedRecordName));
    const store = new LevelStateStore(bytesDb, keyBytes(`${prefix}d/`), appliedKey, applied, limits);
    store.sweep = store.checkEveryRecord();
    // Kept in store.failure; whenChecked() and every later call report it.
    store.sweep.catch(() => undefined);
    return store;
  }

  /**
   * Resolves once every record the database held at open has had its checksum checked and its key
   * learned, or once close() stopped the sweep early; rejects with DATA_CORRUPT (and the store
   * refuses every later call) if a record failed.
   */
  whenChecked(): Promise<void> {
    return this.sweep;
  }

  /**
   * Reads every record once, checking its checksum, and adds every key to the key filter; stops
   * early when the store closes. In batches, not iterate()'s record at a time (a promise and a
   * generator step each): on 1.1 million records, 7.6-8.6 s that way, 5.2-5.7 s in batches.
   */
  private async checkEveryRecord(): Promise<void> {
    const prefixBytes = this.dataPrefix.byteLength;
    const { gte, lt } = rangeWithin(this.dataPrefix, {});
    const range = { gte, ...(lt !== undefined && { lt }) };
    try {
      for await (const batch of readBatches(this.db, range, sweepBatchRecords)) {
        if (this.closed) return;
        for (const [key, value] of batch) {
          checked(key, value, 'a state record');
          this.keyFilter.add(bytesToBinary(key.subarray(prefixBytes)));
        }
      }
    } catch (error) {
      this.failure ??= error as Error;
      throw error;
    }
    this.keyFilterComplete = true;
  }

  appliedIndex(): number {
    return this.applied;
  }

  /**
   * The applied index written to the database: what a crash of this process now would leave. Not
   * synced: a crash of the machine may leave less (the log holds every entry since).
   */
  durableAppliedIndex(): number {
    return this.flushedApplied;
  }

  get(key: StateKey): Uint8Array | undefined {
    this.throwIfUnusable();
    const binaryKey = keyBinary(key);
    const waiting = this.pending.get(binaryKey) ?? this.flushing.get(binaryKey);
    if (waiting !== undefined) return waiting.value ?? undefined;
    const cached = this.cache.get(binaryKey);
    if (cached !== undefined) return cached ?? undefined;
    if (this.keyFilterComplete && !this.keyFilter.mayContain(binaryKey)) return undefined;
    // Synchronous on purpose: a point lookup is served from LevelDB's caches in microseconds, while
    // an asynchronous one costs a thread-pool round trip, and apply makes one per command in turn.
    const storeKey = this.storeKey(key);
    // No options: abstract-level's fast path for the database's own (bytes) encodings.
    const stored = this.db.getSync(storeKey);
    const value = stored === undefined ? null : plainBytes(checked(storeKey, stored, 'a state record'));
    this.remember(binaryKey, value);
    return value ?? undefined;
  }

  async *iterate(range: KeyRange): AsyncGenerator<StateRecord> {
    assertValidLimit(range);
    // Waiting writes go to the database first, so the iterator's snapshot holds every applied step.
    await this.flush();
    const { gte, lt } = rangeWithin(this.dataPrefix, range);
    const iterator = this.db.iterator({
      gte,
      ...(lt !== undefined && { lt }),
      limit: range.limit ?? -1,
      reverse: range.reverse ?? false,
    });
    // LevelDB iterators read from an implicit snapshot taken when they are created.
    for await (const [key, value] of iterator) {
      yield {
        key: plainBytes(key.subarray(this.dataPrefix.byteLength)),
        value: plainBytes(checked(key, value, 'a state record')),
      };
    }
  }

  /**
   * Stages the step's writes and applied index; reads see them at once. They reach the database
   * together with later steps' in one batch (see StateFlushLimits): all of a step or none of it.
   * The store keeps each value's buffer (StateStore.writeBatch).
   */
  async writeBatch(ops: readonly StateOp[], appliedIndex: number): Promise<void> {
    this.throwIfUnusable();
    assertAppliedIndexAdvances(this.applied, appliedIndex);
    for (const op of ops) {
      const storeKey = this.storeKey(op.key);
      const binaryKey = keyBinary(op.key);
      if (op.type === 'put') {
        this.keyFilter.add(binaryKey);
        const value = plainBytes(op.value);
        this.pending.set(binaryKey, { storeKey, value, crc: crc32Parts([storeKey, value]) });
      } else {
        this.pending.set(binaryKey, { storeKey, value: null, crc: 0 });
      }
    }
    this.applied = appliedIndex;
    if (this.pending.size >= this.limits.pendingOpsMax) {
      await this.flush();
    } else if (this.pending.size >= this.limits.flushOpsMin) {
      this.flushInBackground();
    } else {
      this.flushTimer ??= setTimeout(() => this.flushInBackground(), this.limits.flushIntervalMs).unref();
    }
  }

  /** Writes every applied step staged so far to the database; resolves once LevelDB has them. */
  flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.flushChain = this.flushChain.then(() => this.flushPending());
    return this.flushChain;
  }

  /** Flushes what waits, then refuses every later call. Closing twice is a no-op. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    // The sweep's iterator must be closed before the database is.
    await this.sweep.catch(() => undefined);
  }

  private flushInBackground(): void {
    // A failure is kept in this.failure: the next apply step or read throws it and stops the node.
    this.flush().catch(() => undefined);
  }

  private async flushPending(): Promise<void> {
    this.throwIfUnusable();
    if (this.pending.size === 0 && this.applied === this.flushedApplied) return;
    const writes = this.pending;
    const applied = this.applied;
    this.pending = new Map();
    this.flushing = writes;
    const batch: LevelWrite[] = [];
    // The records go out of a few large buffers, not one each: LevelDB copies each into its batch.
    let unwritten = recordsBytes(writes);
    let chunk = new Uint8Array(0);
    let offset = 0;
    for (const { storeKey, value, crc } of writes.values()) {
      if (value === null) {
        batch.push({ type: 'del', key: storeKey });
        continue;
      }
      const recordBytes = crcBytes + value.byteLength;
      if (offset + recordBytes > chunk.byteLength) {
        chunk = new Uint8Array(Math.max(recordBytes, Math.min(unwritten, flushChunkBytesMax)));
        offset = 0;
      }
      writeUint32(chunk, offset, crc);
      chunk.set(value, offset + crcBytes);
      batch.push({ type: 'put', key: storeKey, value: chunk.subarray(offset, offset + recordBytes) });
      offset += recordBytes;
      unwritten -= recordBytes;
    }
    batch.push({
      type: 'put',
      key: this.appliedKey,
      value: withCrc(this.appliedKey, encodeAppliedIndex(applied)),
    });
    try {
      // No fsync: the log is the durable source of truth. Every entry applied here was fdatasync'd
      // to the log files before it applied, so if a crash loses this batch, it loses the applied
      // index with the state, and the node re-applies exactly those entries from its log. Nothing
      // syncs LevelDB's own write-ahead log after it (the log lives in files of its own), so log
      // compaction must drop entries only up to an applied index that a synced write has carried.
      await writeLevelBatch(this.db, batch, false);
    } catch (error) {
      this.failure = new StorageError(
        'STORAGE_FAILED',
        `writing applied state failed, and a failed write is never retried: stop the node (${(error as Error).message})`,
        { cause: error },
      );
      throw this.failure;
    }
    this.flushing = new Map();
    this.flushedApplied = applied;
    for (const [binaryKey, { value }] of writes) this.remember(binaryKey, value);
  }

  /** Keeps what the database holds for a key in the read cache, dropping the oldest beyond its budget. */
  private remember(binaryKey: string, value: Uint8Array | null): void {
    this.forget(binaryKey);
    this.cache.set(binaryKey, value);
    this.cacheBytes += cachedBytes(binaryKey, value);
    if (this.cacheBytes > this.limits.readCacheBytesMax) this.evictOldest();
  }

  /**
   * Drops the oldest records until the cache is a slice below its budget, so that one pass serves
   * many later records. A pass starts at the front of the Map, and a Map keeps the slots of deleted
   * entries (every rewrite of a key deletes its old entry) until it rehashes: a pass per record
   * would walk those thousands of dead slots every time (a fifth of a follower's main thread at 64
   * clients went there).
   */
  private evictOldest(): void {
    const target = this.limits.readCacheBytesMax * (1 - cacheEvictionSliceFraction);
    for (const [oldKey, oldValue] of this.cache) {
      if (this.cacheBytes <= target) break;
      this.cache.delete(oldKey);
      this.cacheBytes -= cachedBytes(oldKey, oldValue);
    }
  }

  private forget(binaryKey: string): void {
    const value = this.cache.get(binaryKey);
    if (value === undefined) return;
    this.cache.delete(binaryKey);
    this.cacheBytes -= cachedBytes(binaryKey, value);
  }

  private throwIfUnusable(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'the state store is closed');
  }

  private storeKey(key: StateKey): Uint8Array {
    return concatBytes(this.dataPrefix, keyBytes(key));
  }
}

/** A cached record's share of the cache budget: key, value and the maps' own cost, estimated. */
function cachedBytes(binaryKey: string, value: Uint8Array | null): number {
  return binaryKey.length + (value?.byteLength ?? 0) + cacheRecordOverheadBytes;
}

/** The bytes of the stored records of `writes` (deletes store none). */
function recordsBytes(writes: ReadonlyMap<string, PendingWrite>): number {
  let bytes = 0;
  for (const { value } of writes.values()) if (value !== null) bytes += crcBytes + value.byteLength;
  return bytes;
}

/** The checksum covers the key too, so a record that lands under another key is caught as well. */
function withCrc(storeKey: Uint8Array, value: Uint8Array): Uint8Array {
  const record = new Uint8Array(crcBytes + value.length);
  writeUint32(record, 0, crc32Parts([storeKey, value]));
  record.set(value, crcBytes);
  return record;
}

/** The value of a stored record whose checksum holds; DATA_CORRUPT otherwise. */
function checked(storeKey: Uint8Array, record: Uint8Array, what: string): Uint8Array {
  const value = record.subarray(crcBytes);
  const intact = record.length >= crcBytes && readUint32(record, 0) === crc32Parts([storeKey, value]);
  if (!intact) {
    throw new StorageError(
      'DATA_CORRUPT',
      `${what} (key ${JSON.stringify(Buffer.from(storeKey).toString('utf8'))}) fails its checksum: the disk ` +
        'is damaged: restore this node from a peer: stop it, move its data directory aside, and add it ' +
        'back as a new member (learner first)',
    );
  }
  return value;
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
