// What only the LevelDB twin can get wrong: sharing the node's database with other key families.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StorageError } from '../node/durable-storage.js';
import { LevelStateStore } from './level-state-store.js';
import { collect, del, levelStoreHarness, put } from './state-store.contract.js';
import type { StateStore } from './state-store.js';

describe('LevelStateStore in a shared database', () => {
  let harness: ReturnType<typeof levelStoreHarness>;
  let store: StateStore;

  beforeEach(async () => {
    harness = levelStoreHarness('s/');
    store = await harness.open();
  });
  afterEach(() => harness.close());

  it('neither sees nor changes keys outside its prefix', async () => {
    const db = harness.database();
    // Neighbours in byte order: 'r~' sorts just before 's/', 's0' just after 's/...'.
    await db.batch([
      { type: 'put', key: 'r~', value: 'log' },
      { type: 'put', key: 's0', value: 'other' },
      { type: 'put', key: 's', value: 'other' },
    ]);
    await store.writeBatch([put('a', '1'), put('', 'empty key'), del('s0')], 1);
    expect(await collect(store)).toEqual([
      ['', 'empty key'],
      ['a', '1'],
    ]);
    expect(await collect(store, { reverse: true, limit: 1 })).toEqual([['a', '1']]);
    expect(await db.get('r~')).toBe('log');
    expect(await db.get('s0')).toBe('other');
    expect(await db.get('s')).toBe('other');
  });

  it('keeps its applied index apart from state keys', async () => {
    await store.writeBatch([put('m/applied', 'a state key')], 3);
    const restarted = await harness.reopen();
    expect(restarted.appliedIndex()).toBe(3);
    expect(await collect(restarted)).toEqual([['m/applied', 'a state key']]);
  });

  it('lives beside another store with another prefix', async () => {
    const other = await LevelStateStore.open(harness.database(), 't/');
    await store.writeBatch([put('k', 'from s')], 1);
    await other.writeBatch([put('k', 'from t')], 8);
    expect(await collect(store)).toEqual([['k', 'from s']]);
    expect(await collect(other)).toEqual([['k', 'from t']]);
    expect(store.appliedIndex()).toBe(1);
  });

  it('reports a record whose bytes changed on disk, on read and at the next open, never serving it', async () => {
    await store.writeBatch([put('a', 'apple'), put('b', 'banana')], 4);
    const db = harness.database();
    const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
    const raw = (await db.get('s/d/b', bytes)) as Uint8Array;
    for (const position of [0, 2, raw.length - 1]) {
      const flipped = Uint8Array.from(raw);
      flipped[position]! ^= 0x04;
      await db.put('s/d/b', flipped, bytes);
      await expect(store.get('b')).rejects.toThrow(/fails its checksum/);
      await expect(collect(store)).rejects.toThrow(StorageError);
    }
    expect(await store.get('a')).toEqual(new TextEncoder().encode('apple'));
    await expect(harness.reopen()).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    // The same intact bytes under another key are caught too: the checksum covers the key.
    const reopened = harness.database();
    await reopened.put('s/d/c', raw, bytes);
    await reopened.put('s/d/b', raw, bytes);
    await expect(harness.reopen()).rejects.toThrow('(key "s/d/c") fails its checksum');
  });

  it('reports a damaged applied-index record at open', async () => {
    await store.writeBatch([put('a', '1')], 300);
    const db = harness.database();
    const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
    const raw = Uint8Array.from((await db.get('s/m/applied', bytes)) as Uint8Array);
    raw[raw.length - 1]! ^= 0x01;
    await db.put('s/m/applied', raw, bytes);
    await expect(harness.reopen()).rejects.toThrow(/applied-index record .* fails its checksum/);
  });
});
