// The contract both state stores keep (hashicorp/raft's way: one suite, every implementation),
// and the harnesses that open each store fresh and "restart" it, shared by the state machine tests.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvariantError } from '../assert.js';
import { bytesLevelOptions } from '../node/level-batch.js';
import { bytesToBinary, compareBytes, type KeyRange, keyBytes, type StateKey } from './keys.js';
import { LevelStateStore } from './level-state-store.js';
import { MemoryStateStore, type StateOp, type StateReader, type StateStore } from './state-store.js';

export interface StateStoreHarness {
  open(): Promise<StateStore>;
  /** The same state after a process restart: a new store object over what was written. */
  reopen(): Promise<StateStore>;
  close(): Promise<void>;
}

export function memoryStoreHarness(): StateStoreHarness {
  // Memory does not survive a process; "restart" here means a new state machine over the same store.
  const store = new MemoryStateStore();
  return { open: async () => store, reopen: async () => store, close: async () => {} };
}

export function levelStoreHarness(prefix = 's/'): StateStoreHarness & { database(): ClassicLevel } {
  let directory: string | undefined;
  let db: ClassicLevel | undefined;
  let store: LevelStateStore | undefined;
  const openAt = async (location: string) => {
    db = new ClassicLevel(location, bytesLevelOptions);
    await db.open();
    store = await LevelStateStore.open(db, prefix);
    return store;
  };
  return {
    database: () => db!,
    async open() {
      directory = await mkdtemp(join(tmpdir(), 'raftkv-state-'));
      return openAt(directory);
    },
    async reopen() {
      // A store that failed (e.g. its sweep found a damaged record) cannot close cleanly.
      await store!.close().catch(() => undefined);
      await db!.close();
      return openAt(directory!);
    },
    async close() {
      await store?.close().catch(() => undefined);
      await db?.close();
      if (directory !== undefined) await rm(directory, { recursive: true, force: true });
    },
  };
}

export const storeHarnesses = [
  { name: 'MemoryStateStore', harness: memoryStoreHarness },
  { name: 'LevelStateStore', harness: levelStoreHarness },
] as const;

export async function collect(reader: StateReader, range: KeyRange = {}): Promise<[string, string][]> {
  const records: [string, string][] = [];
  for await (const { key, value } of reader.iterate(range)) {
    records.push([bytesToBinary(key), Buffer.from(value).toString()]);
  }
  return records;
}

export function put(key: StateKey, value: string): StateOp {
  return { type: 'put', key: keyBytes(key), value: Buffer.from(value) };
}

export function del(key: StateKey): StateOp {
  return { type: 'del', key: keyBytes(key) };
}

/** Key bytes from a small alphabet with the edges of byte order (0x00, 0xff), so ranges collide. */
export const arbitraryKeyBytes = fc
  .array(fc.constantFrom(0x00, 0x01, 0x61, 0x62, 0x7f, 0x80, 0xfe, 0xff), { maxLength: 3 })
  .map((bytes) => new Uint8Array(bytes));

export const arbitraryRange: fc.Arbitrary<KeyRange> = fc.record(
  {
    gte: arbitraryKeyBytes,
    lt: arbitraryKeyBytes,
    limit: fc.nat({ max: 6 }),
    reverse: fc.boolean(),
  },
  { requiredKeys: [] },
);

/** What a range of a sorted key -> value model holds, the way a store must answer it. */
export function modelRange(model: Map<string, string>, range: KeyRange): [string, string][] {
  const low = range.gte === undefined ? undefined : bytesToBinary(keyBytes(range.gte));
  const high = range.lt === undefined ? undefined : bytesToBinary(keyBytes(range.lt));
  const inRange = [...model]
    .filter(([key]) => (low === undefined || key >= low) && (high === undefined || key < high))
    .sort(([first], [second]) => compareBytes(Buffer.from(first, 'latin1'), Buffer.from(second, 'latin1')));
  if (range.reverse) inRange.reverse();
  return inRange.slice(0, range.limit ?? inRange.length);
}

export function defineStateStoreContract(name: string, makeHarness: () => StateStoreHarness): void {
  describe(`StateStore contract: ${name}`, () => {
    let harness: StateStoreHarness;
    let store: StateStore;

    beforeEach(async () => {
      harness = makeHarness();
      store = await harness.open();
    });
    afterEach(() => harness.close());

    it('starts empty at applied index 0', async () => {
      expect(store.appliedIndex()).toBe(0);
      expect(await store.get('missing')).toBeUndefined();
      expect(await collect(store)).toEqual([]);
    });

    it('writes puts and deletes with the applied index', async () => {
      await store.writeBatch([put('a', '1'), put('b', '2'), put('c', '3')], 5);
      await store.writeBatch([del('b'), put('c', '33'), del('never-there')], 7);
      expect(store.appliedIndex()).toBe(7);
      expect(Buffer.from((await store.get('a'))!).toString()).toBe('1');
      expect(await store.get('b')).toBeUndefined();
      expect(await collect(store)).toEqual([
        ['a', '1'],
        ['c', '33'],
      ]);
    });

    it('treats a string key as its UTF-8 bytes', async () => {
      await store.writeBatch([put('clé', 'v')], 1);
      expect(await store.get(Buffer.from('clé', 'utf8'))).toEqual(new Uint8Array(Buffer.from('v')));
      const [record] = await collect(store);
      expect(record![0]).toBe(Buffer.from('clé', 'utf8').toString('latin1'));
    });

    it('returns plain Uint8Arrays', async () => {
      await store.writeBatch([put('k', 'v')], 1);
      const value = await store.get('k');
      expect(Object.getPrototypeOf(value)).toBe(Uint8Array.prototype);
      for await (const record of store.iterate({})) {
        expect(Object.getPrototypeOf(record.key)).toBe(Uint8Array.prototype);
        expect(Object.getPrototypeOf(record.value)).toBe(Uint8Array.prototype);
      }
    });

    it('advances the applied index with an empty batch', async () => {
      await store.writeBatch([], 3);
      expect(store.appliedIndex()).toBe(3);
    });

    it('refuses an applied index that does not advance, and writes nothing', async () => {
      await store.writeBatch([put('a', '1')], 4);
      await expect(store.writeBatch([put('b', '2')], 4)).rejects.toThrow(InvariantError);
      await expect(store.writeBatch([put('b', '2')], 3)).rejects.toThrow(InvariantError);
      expect(store.appliedIndex()).toBe(4);
      expect(await store.get('b')).toBeUndefined();
    });

    it('iterates in byte order, not in UTF-16 order', async () => {
      // U+FFFF is EF BF BF in UTF-8 and sorts before the emoji (F0 ...); in UTF-16 it sorts after.
      const keys: StateKey[] = [
        'b',
        'a',
        'ab',
        '',
        'é',
        '\u{1F600}',
        '\uffff',
        new Uint8Array([0xff]),
        new Uint8Array([0]),
      ];
      await store.writeBatch(
        keys.map((key, position) => put(key, String(position))),
        1,
      );
      const expected = keys.map((key) => keyBytes(key)).sort(compareBytes);
      expect((await collect(store)).map(([key]) => key)).toEqual(expected.map(bytesToBinary));
    });

    it('answers every range like a sorted map', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(arbitraryKeyBytes, { maxLength: 12 }),
          fc.array(arbitraryRange),
          async (keys, ranges) => {
            const fresh = makeHarness();
            const rangeStore = await fresh.open();
            try {
              const model = new Map(keys.map((key, position) => [bytesToBinary(key), String(position)]));
              await rangeStore.writeBatch(
                keys.map((key, position) => put(key, String(position))),
                1,
              );
              for (const range of ranges)
                expect(await collect(rangeStore, range)).toEqual(modelRange(model, range));
            } finally {
              await fresh.close();
            }
          },
        ),
        { numRuns: 40 },
      );
    });

    it('lets an iteration see the state as of its first step', async () => {
      await store.writeBatch([put('a', '1'), put('b', '2'), put('c', '3')], 1);
      const seen: string[] = [];
      for await (const { key } of store.iterate({})) {
        seen.push(bytesToBinary(key));
        if (seen.length === 1) await store.writeBatch([del('b'), put('bb', 'new'), put('c', 'changed')], 2);
      }
      expect(seen).toEqual(['a', 'b', 'c']);
      expect(await collect(store)).toEqual([
        ['a', '1'],
        ['bb', 'new'],
        ['c', 'changed'],
      ]);
    });

    it('stops cleanly when the reader leaves an iteration early', async () => {
      await store.writeBatch([put('a', '1'), put('b', '2')], 1);
      for await (const _record of store.iterate({})) break;
      await store.writeBatch([put('c', '3')], 2);
      expect(await collect(store, { limit: 1, reverse: true })).toEqual([['c', '3']]);
    });

    it('keeps state and applied index across a restart', async () => {
      await store.writeBatch([put('a', '1'), put('b', '2')], 9);
      await store.writeBatch([del('a')], 10);
      const restarted = await harness.reopen();
      expect(restarted.appliedIndex()).toBe(10);
      expect(await collect(restarted)).toEqual([['b', '2']]);
    });
  });
}
