import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bytesToBinary, keyBytes } from './keys.js';
import {
  arbitraryKeyBytes,
  arbitraryRange,
  collect,
  del,
  modelRange,
  put,
  type StateStoreHarness,
  storeHarnesses,
} from './state-store.contract.js';
import type { StateStore } from './state-store.js';
import { WriteOverlay } from './write-overlay.js';

const text = (value: Uint8Array | undefined) =>
  value === undefined ? undefined : Buffer.from(value).toString();

for (const { name, harness: makeHarness } of storeHarnesses) {
  describe(`WriteOverlay over ${name}`, () => {
    let harness: StateStoreHarness;
    let store: StateStore;

    beforeEach(async () => {
      harness = makeHarness();
      store = await harness.open();
      await store.writeBatch([put('a', 'base a'), put('b', 'base b'), put('c', 'base c')], 1);
    });
    afterEach(() => harness.close());

    it('reads its own writes and leaves the store alone until written', async () => {
      const overlay = new WriteOverlay(store);
      overlay.put('b', Buffer.from('staged b'));
      overlay.delete('c');
      overlay.put('d', Buffer.from('staged d'));
      expect(
        [await overlay.get('a'), await overlay.get('b'), await overlay.get('c'), await overlay.get('d')].map(
          text,
        ),
      ).toEqual(['base a', 'staged b', undefined, 'staged d']);
      expect(await collect(overlay)).toEqual([
        ['a', 'base a'],
        ['b', 'staged b'],
        ['d', 'staged d'],
      ]);
      expect(text(await store.get('c'))).toBe('base c');

      await store.writeBatch(overlay.ops(), 2);
      expect(await collect(store)).toEqual(await collect(overlay));
    });

    it('keeps a committed command and undoes a rolled-back one, order of first writes included', async () => {
      const step = new WriteOverlay(store);
      step.put('z', Buffer.from('before'));
      step.begin();
      step.put('a', Buffer.from('never'));
      step.put('z', Buffer.from('never'));
      step.delete('b');
      step.put('a', Buffer.from('never again'));
      step.rollback();
      step.begin();
      step.delete('a');
      step.put('e', Buffer.from('kept e'));
      step.commit();
      step.put('f', Buffer.from('after'));
      expect(await collect(step)).toEqual([
        ['b', 'base b'],
        ['c', 'base c'],
        ['e', 'kept e'],
        ['f', 'after'],
        ['z', 'before'],
      ]);
      expect(step.ops().map((op) => Buffer.from(op.key).toString())).toEqual(['z', 'a', 'e', 'f']);
    });

    it('iterates like the store would after the write', async () => {
      const write = fc.record({ key: arbitraryKeyBytes, value: fc.option(fc.string({ maxLength: 2 })) });
      let appliedIndex = store.appliedIndex();
      await fc.assert(
        fc.asyncProperty(
          fc.array(write, { maxLength: 8 }),
          fc.array(write, { maxLength: 8 }),
          fc.array(arbitraryRange),
          async (storeWrites, stagedWrites, ranges) => {
            appliedIndex += 1;
            await store.writeBatch(
              storeWrites.map(({ key, value }) => (value === null ? del(key) : put(key, value))),
              appliedIndex,
            );
            const model = new Map(await collect(store));
            const overlay = new WriteOverlay(store);
            for (const { key, value } of stagedWrites) {
              if (value === null) overlay.delete(key);
              else overlay.put(key, Buffer.from(value));
              if (value === null) model.delete(bytesToBinary(key));
              else model.set(bytesToBinary(key), value);
            }
            for (const range of ranges)
              expect(await collect(overlay, range)).toEqual(modelRange(model, range));
          },
        ),
        { numRuns: 150 },
      );
    });

    it('stages a delete of a key the store never had', async () => {
      const overlay = new WriteOverlay(store);
      overlay.delete('zz');
      expect(overlay.ops()).toEqual([del('zz')]);
      expect(await overlay.get(keyBytes('zz'))).toBeUndefined();
    });
  });
}
