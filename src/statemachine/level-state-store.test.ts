// What only the LevelDB twin can get wrong: sharing the node's database with other key families.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StorageError } from '../node/durable-storage.js';
import { bytesLevelOptions } from '../node/level-batch.js';
import { LevelStateStore } from './level-state-store.js';
import { collect, del, levelStoreHarness, put } from './state-store.contract.js';

describe('LevelStateStore in a shared database', () => {
  let harness: ReturnType<typeof levelStoreHarness>;
  let store: LevelStateStore;

  beforeEach(async () => {
    harness = levelStoreHarness('s/');
    store = (await harness.open()) as LevelStateStore;
  });
  afterEach(() => harness.close());

  it('neither sees nor changes keys outside its prefix', async () => {
    const db = harness.database();
    const text = { keyEncoding: 'utf8', valueEncoding: 'utf8' } as const;
    // Neighbours in byte order: 'r~' sorts just before 's/', 's0' just after 's/...'.
    await db.batch(
      [
        { type: 'put', key: 'r~', value: 'log' },
        { type: 'put', key: 's0', value: 'other' },
        { type: 'put', key: 's', value: 'other' },
      ],
      text,
    );
    await store.writeBatch([put('a', '1'), put('', 'empty key'), del('s0')], 1);
    expect(await collect(store)).toEqual([
      ['', 'empty key'],
      ['a', '1'],
    ]);
    expect(await collect(store, { reverse: true, limit: 1 })).toEqual([['a', '1']]);
    expect(await db.get('r~', text)).toBe('log');
    expect(await db.get('s0', text)).toBe('other');
    expect(await db.get('s', text)).toBe('other');
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

  it('reports a record whose bytes changed on disk, on read and in the sweep after the next open, never serving it', async () => {
    await store.writeBatch([put('a', 'apple'), put('b', 'banana')], 4);
    await store.flush();
    const db = harness.database();
    // A store that has not cached what it wrote reads every record from disk.
    store = await LevelStateStore.open(db, 's/');
    const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
    const raw = (await db.get('s/d/b', bytes)) as Uint8Array;
    for (const position of [0, 2, raw.length - 1]) {
      const flipped = Uint8Array.from(raw);
      flipped[position]! ^= 0x04;
      await db.put('s/d/b', flipped, bytes);
      expect(() => store.get('b')).toThrow(/fails its checksum/);
      await expect(collect(store)).rejects.toThrow(StorageError);
    }
    expect(await store.get('a')).toEqual(new TextEncoder().encode('apple'));
    const swept = (await harness.reopen()) as LevelStateStore;
    await expect(swept.whenChecked()).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    // Once the sweep found it, the store refuses every call, even for intact records.
    expect(() => swept.get('a')).toThrow(/fails its checksum/);
    await expect(swept.writeBatch([put('a', 'x')], 5)).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    // The same intact bytes under another key are caught too: the checksum covers the key.
    const reopened = harness.database();
    await reopened.put('s/d/c', raw, bytes);
    await reopened.put('s/d/b', raw, bytes);
    const again = (await harness.reopen()) as LevelStateStore;
    await expect(again.whenChecked()).rejects.toThrow('(key "s/d/c") fails its checksum');
  });

  it('sweeps every record after open and then knows every key, past its first read batch', async () => {
    // Many more records than the sweep reads from LevelDB per call (sweepBatchRecords).
    const count = 10_000;
    const ops = Array.from({ length: count }, (_, i) => put(`k${i}`, `v${i}`));
    await store.writeBatch(ops, 5);
    await store.flush();
    const restarted = (await harness.reopen()) as LevelStateStore;
    await restarted.whenChecked();
    // A key missing from the key filter would read as absent without asking LevelDB.
    for (const i of [0, 4095, 4096, 8191, 8192, count - 1]) {
      expect(restarted.get(`k${i}`), `k${i}`).toEqual(new TextEncoder().encode(`v${i}`));
    }
    const db = harness.database();
    const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
    // Keys sort as strings: 'k9999' is among the last records read, well past the first batch.
    const raw = Uint8Array.from((await db.get('s/d/k9999', bytes)) as Uint8Array);
    raw[raw.length - 1]! ^= 0x01;
    await db.put('s/d/k9999', raw, bytes);
    const damaged = (await harness.reopen()) as LevelStateStore;
    await expect(damaged.whenChecked()).rejects.toThrow('(key "s/d/k9999") fails its checksum');
  });

  it('reports a damaged applied-index record at open', async () => {
    await store.writeBatch([put('a', '1')], 300);
    await store.flush();
    const db = harness.database();
    const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
    const raw = Uint8Array.from((await db.get('s/m/applied', bytes)) as Uint8Array);
    raw[raw.length - 1]! ^= 0x01;
    await db.put('s/m/applied', raw, bytes);
    await expect(harness.reopen()).rejects.toThrow(/applied-index record .* fails its checksum/);
  });
});

describe('LevelStateStore on a database of its own: batched writes and the read cache', () => {
  let directory: string;
  let db: ClassicLevel;
  const bytes = { keyEncoding: 'utf8', valueEncoding: 'view' } as const;
  /** No flush until the test asks for one, and a read cache of this many bytes. */
  const noFlushWithCache = (readCacheBytesMax: number) => ({
    flushIntervalMs: 60_000,
    flushOpsMin: 1_000,
    pendingOpsMax: 2_000,
    readCacheBytesMax,
  });
  /** No timer flush during a test unless it asks for one. */
  const slow = { flushIntervalMs: 60_000, flushOpsMin: 4, pendingOpsMax: 8, readCacheBytesMax: 1 << 20 };
  const stored = async (key: string) => {
    const value = (await db.get(key, bytes)) as Uint8Array | undefined;
    return value === undefined ? undefined : Buffer.from(value.subarray(4)).toString();
  };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'raftkv-state-flush-'));
    db = new ClassicLevel(directory, bytesLevelOptions);
    await db.open();
  });
  afterEach(async () => {
    await db.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('serves a step at once and writes it with its applied index on flush', async () => {
    const store = await LevelStateStore.open(db, 's/', slow);
    await store.writeBatch([put('a', '1'), put('b', '2')], 1);
    await store.writeBatch([del('a'), put('b', '3')], 2);
    expect(store.appliedIndex()).toBe(2);
    expect(await store.get('a')).toBeUndefined();
    expect(Buffer.from((await store.get('b'))!).toString()).toBe('3');
    expect(await stored('s/d/b')).toBeUndefined();
    expect(store.durableAppliedIndex()).toBe(0);
    await store.flush();
    expect(await stored('s/d/b')).toBe('3');
    expect(await stored('s/d/a')).toBeUndefined();
    expect(store.durableAppliedIndex()).toBe(2);
  });

  it('writes a flush of values of every size, deletes among them, each under its own key and checksum', async () => {
    const store = await LevelStateStore.open(db, 's/', noFlushWithCache(1 << 20));
    // Small ones, enough of 70 kB to fill more than one of the flush's 1 MiB buffers, and one larger.
    const sizes = [0, 1, 3, 4, 5, 63, 64, 65, 1000, ...Array(20).fill(70_000), 1_500_000, 2];
    const value = (i: number) => `${i}:`.padEnd(sizes[i]! + 2, String.fromCharCode(97 + i));
    await store.writeBatch([put('gone', 'x')], 1);
    await store.flush();
    await store.writeBatch(
      sizes.flatMap((_, i) => (i === 4 ? [put(`k${i}`, value(i)), del('gone')] : [put(`k${i}`, value(i))])),
      2,
    );
    await store.flush();
    // Reopening checks every record's checksum against its key and value.
    const restarted = await LevelStateStore.open(db, 's/', slow);
    expect(restarted.appliedIndex()).toBe(2);
    expect(await collect(restarted)).toEqual(
      sizes.map((_, i) => [`k${i}`, value(i)]).sort(([a], [b]) => (a! < b! ? -1 : 1)),
    );
    for (const i of sizes.keys()) expect(await stored(`s/d/k${i}`)).toBe(value(i));
  });

  it('loses unflushed steps together with their applied index in a crash, never one without the other', async () => {
    const store = await LevelStateStore.open(db, 's/', slow);
    await store.writeBatch([put('a', '1')], 5);
    await store.flush();
    await store.writeBatch([put('a', '2'), put('b', '2')], 6);
    // A crash: the database goes away with the step still in process memory.
    await db.close();
    db = new ClassicLevel(directory, bytesLevelOptions);
    await db.open();
    const restarted = await LevelStateStore.open(db, 's/', slow);
    expect(restarted.appliedIndex()).toBe(5);
    expect(await collect(restarted)).toEqual([['a', '1']]);
  });

  it('flushes once enough writes wait, and makes a step wait when too many do', async () => {
    const store = await LevelStateStore.open(db, 's/', slow);
    await store.writeBatch([put('a', '1'), put('b', '1'), put('c', '1')], 1);
    expect(await stored('s/d/a')).toBeUndefined();
    await store.writeBatch([put('d', '1')], 2);
    // flushOpsMin reached: a flush started without waiting for the timer.
    await expect.poll(() => stored('s/d/d')).toBe('1');
    const keys = ['e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
    await store.writeBatch(
      keys.map((key) => put(key, '2')),
      3,
    );
    // pendingOpsMax reached: the step resolved only once its writes were in the database.
    expect(await stored('s/d/l')).toBe('2');
    expect(store.durableAppliedIndex()).toBe(3);
  });

  it('flushes on its timer', async () => {
    const store = await LevelStateStore.open(db, 's/', { ...slow, flushIntervalMs: 5 });
    await store.writeBatch([put('a', '1')], 1);
    await expect.poll(() => store.durableAppliedIndex()).toBe(1);
    expect(await stored('s/d/a')).toBe('1');
  });

  it('writes what waits on close, and refuses calls after', async () => {
    const store = await LevelStateStore.open(db, 's/', slow);
    await store.writeBatch([put('a', '1')], 7);
    await store.close();
    expect(await stored('s/d/a')).toBe('1');
    expect(() => store.get('a')).toThrow(expect.objectContaining({ code: 'STORAGE_CLOSED' }));
    await expect(store.writeBatch([put('a', '2')], 8)).rejects.toMatchObject({ code: 'STORAGE_CLOSED' });
  });

  it('stops for good after a failed flush', async () => {
    const store = await LevelStateStore.open(db, 's/', slow);
    await store.writeBatch([put('a', '1')], 1);
    await db.close();
    await expect(store.flush()).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(() => store.get('a')).toThrow(expect.objectContaining({ code: 'STORAGE_FAILED' }));
    await expect(store.writeBatch([put('b', '1')], 2)).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await db.open();
  });

  /** Flips one byte of a record on disk, under the store. */
  const damage = async (key: string) => {
    const raw = Uint8Array.from((await db.get(key, bytes)) as Uint8Array);
    raw[raw.length - 1]! ^= 0x01;
    await db.put(key, raw, bytes);
  };

  it('serves recent records from memory and the oldest from disk once over its budget', async () => {
    // Room for about three one-byte records with one-byte keys.
    const limits = noFlushWithCache(400);
    const store = await LevelStateStore.open(db, 's/', limits);
    await store.writeBatch([put('a', '1'), put('b', '2'), put('c', '3'), put('d', '4')], 1);
    await store.flush();
    await damage('s/d/a');
    await damage('s/d/d');
    // 'd' was written last: still cached, served as written. 'a' was dropped: read from disk, refused.
    expect(Buffer.from((await store.get('d'))!).toString()).toBe('4');
    expect(() => store.get('a')).toThrow(/fails its checksum/);
  });

  it('knows a deleted key is absent and caches what a read found, absence too', async () => {
    const limits = noFlushWithCache(1 << 20);
    const first = await LevelStateStore.open(db, 's/', limits);
    await first.writeBatch([put('a', '1'), put('b', '2')], 1);
    await first.writeBatch([del('a')], 2);
    await first.close();
    const store = await LevelStateStore.open(db, 's/', limits);
    expect(await store.get('a')).toBeUndefined();
    expect(Buffer.from((await store.get('b'))!).toString()).toBe('2');
    await damage('s/d/b');
    // Read once from disk, intact: later reads come from memory.
    expect(Buffer.from((await store.get('b'))!).toString()).toBe('2');
    await store.writeBatch([del('b')], 3);
    await store.flush();
    expect(await store.get('b')).toBeUndefined();
    // Known absent: a record that appears on disk under the store is not read.
    expect(await store.get('z')).toBeUndefined();
    await db.put('s/d/z', 'not a record', { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    expect(await store.get('z')).toBeUndefined();
  });

  it('asks LevelDB only for keys it may hold: every key it held at open or wrote since, never others', async () => {
    const limits = noFlushWithCache(0);
    const first = await LevelStateStore.open(db, 's/', limits);
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
    await first.writeBatch(
      keys.map((key) => put(key, key)),
      1,
    );
    await first.close();
    // Before its sweep is done a new store finds every key on disk, asking LevelDB for each...
    const store = await LevelStateStore.open(db, 's/', limits);
    expect(Buffer.from(store.get('key-7')!).toString()).toBe('key-7');
    expect(store.get('absent')).toBeUndefined();
    // ...and after it, knows them; a write adds one.
    await store.whenChecked();
    await store.writeBatch([put('later', 'later')], 2);
    await store.flush();
    const getSync = vi.spyOn(db, 'getSync');
    for (const key of [...keys, 'later']) expect(Buffer.from(store.get(key)!).toString()).toBe(key);
    expect(getSync).toHaveBeenCalledTimes(keys.length + 1);
    getSync.mockClear();
    let absentLookups = 0;
    for (let i = 0; i < 200; i++) {
      expect(store.get(`absent-${i}`)).toBeUndefined();
      absentLookups = getSync.mock.calls.length;
    }
    // About 1% of absent keys look present to the filter; without it, all 200 go to LevelDB.
    expect(absentLookups).toBeLessThan(20);
  });
});
