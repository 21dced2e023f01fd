// What only the LevelDB twin can get wrong: sharing the node's database with other key families.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});
