// LevelDB in batches: a key range read many records at a time (readBatches), and one write batch
// through the chained-batch API (writeLevelBatch). abstract-level's array form, db.batch(ops),
// clones each operation with the call's options and re-encodes it: measured here at about 17 µs
// of CPU per operation, more than LevelDB's own work. The chained form with the database's
// default encodings (view: bytes in, bytes out) skips that, at about a third of the cost.
import type { ClassicLevel } from 'classic-level';
import { assert } from '../assert.js';

export type LevelWrite =
  | { type: 'put'; key: Uint8Array; value: Uint8Array }
  | { type: 'del'; key: Uint8Array };

/** Options that open a database as this module's calls expect it. */
export const bytesLevelOptions = { keyEncoding: 'view', valueEncoding: 'view' } as const;

/** A database whose default key and value encodings are both 'view' (Uint8Array). */
export type BytesLevel = ClassicLevel<Uint8Array, Uint8Array>;

/** Asserts that `db` reads and writes bytes by default, as every call without options relies on. */
export function assertBytesLevel<K, V>(db: ClassicLevel<K, V>): BytesLevel {
  assert(
    db.keyEncoding().name === 'view' && db.valueEncoding().name === 'view',
    "the database must be opened with keyEncoding and valueEncoding 'view'",
  );
  return db as unknown as BytesLevel;
}

/** Writes `writes` atomically, in order; with `sync`, resolves once they are on disk. */
export async function writeLevelBatch(
  db: BytesLevel,
  writes: readonly LevelWrite[],
  sync: boolean,
): Promise<void> {
  const batch = db.batch();
  try {
    for (const write of writes) {
      if (write.type === 'put') batch.put(write.key, write.value);
      else batch.del(write.key);
    }
  } catch (error) {
    await batch.close();
    throw error;
  }
  await batch.write({ sync });
}

/**
 * What one read of readBatches asks LevelDB for at most: classic-level's own default stops each
 * read at 16 KiB, a few dozen records, and start-up reads millions.
 */
export const readBatchBytesMax = 4 * 1024 * 1024;

/**
 * The records of a key range, in key order, `records` at a time (fewer at the end, or when they
 * pass readBatchBytesMax): a loop over whole batches, not a promise per record.
 */
export async function* readBatches(
  db: BytesLevel,
  range: { gte: Uint8Array; lt?: Uint8Array; lte?: Uint8Array },
  records: number,
): AsyncGenerator<[Uint8Array, Uint8Array][]> {
  const iterator = db.iterator({ ...range, highWaterMarkBytes: readBatchBytesMax });
  try {
    for (let batch = await iterator.nextv(records); batch.length > 0; batch = await iterator.nextv(records)) {
      yield batch;
    }
  } finally {
    await iterator.close();
  }
}
