// The one contract every DurableStorage keeps (hashicorp raft's way: one suite, run against the
// in-memory and the LevelDB store alike). storage.contract.test.ts runs it for each.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Entry, type EntryType, entryBytes, type HardState } from '../raft/messages.js';
import { type ConfigState, emptyHardState } from '../raft/storage.js';
import type { DurableStorage, StorageErrorCode } from './durable-storage.js';

/** The configuration every storage under this contract is created with. */
export const contractConfig: ConfigState = { voters: [1, 2, 3], learners: [4] };

export interface StorageUnderTest {
  storage: DurableStorage;
  /** Opens the same medium again once the storage is closed; absent when nothing outlives close. */
  reopen?: () => Promise<DurableStorage>;
  /** Closes whatever storage is still open and removes the medium. */
  cleanup: () => Promise<void>;
}

const noBytesMax = Number.POSITIVE_INFINITY;

/** An entry whose payload names it, so a wrong entry read back shows in a test failure. */
export function testEntry(
  index: number,
  term: number,
  type: EntryType = 'normal',
  dataBytes?: number,
): Entry {
  const name = new TextEncoder().encode(`entry ${index} of term ${term}`);
  const data = dataBytes === undefined ? name : new Uint8Array(dataBytes).fill(index & 0xff);
  return { index, term, type, stampMs: 1_000 * index, data };
}

/** Entries from `firstIndex` on, one per term given. */
export function testEntries(firstIndex: number, terms: number[]): Entry[] {
  return terms.map((term, offset) => testEntry(firstIndex + offset, term));
}

function expectStorageError(call: () => unknown, code: StorageErrorCode): void {
  expect(call).toThrow(expect.objectContaining({ code }));
}

/** `durable`: the medium outlives close(), so the reopen tests apply (and `reopen` must be given). */
export function storageContract(
  name: string,
  durable: boolean,
  makeStorage: () => Promise<StorageUnderTest>,
): void {
  describe(`${name} keeps the storage contract`, () => {
    let subject: StorageUnderTest;
    let storage: DurableStorage;

    beforeEach(async () => {
      subject = await makeStorage();
      storage = subject.storage;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('starts empty, with the initial configuration', () => {
      expect(storage.firstIndex()).toBe(1);
      expect(storage.lastIndex()).toBe(0);
      expect(storage.term(0)).toBe(0);
      expect(storage.hardState()).toEqual(emptyHardState);
      expect(storage.snapshotMeta()).toEqual({ index: 0, term: 0, config: contractConfig });
      expect(storage.entries(1, 1, noBytesMax)).toEqual([]);
    });

    it('reads back appended entries of every type', async () => {
      const appended = [testEntry(1, 1, 'noop'), testEntry(2, 1, 'config'), testEntry(3, 2, 'normal', 0)];
      await storage.save({ hardState: null, entries: appended });
      expect(storage.firstIndex()).toBe(1);
      expect(storage.lastIndex()).toBe(3);
      expect(storage.entries(1, 4, noBytesMax)).toEqual(appended);
      expect(storage.entries(2, 3, noBytesMax)).toEqual([appended[1]]);
      expect(storage.entries(3, 3, noBytesMax)).toEqual([]);
    });

    it('answers term() from the snapshot index to the last index, and refuses beyond', async () => {
      await storage.save({ hardState: null, entries: testEntries(1, [1, 1, 3, 4]) });
      expect([0, 1, 2, 3, 4].map((index) => storage.term(index))).toEqual([0, 1, 1, 3, 4]);
      expect(() => storage.term(5)).toThrow(/outside the log/);
    });

    it('stops entries() at bytesMax, but always returns at least one entry', async () => {
      const appended = [1, 2, 3].map((index) => testEntry(index, 1, 'normal', 100));
      await storage.save({ hardState: null, entries: appended });
      const oneEntryBytes = entryBytes(appended[0]!);
      expect(storage.entries(1, 4, 1)).toEqual([appended[0]]);
      expect(storage.entries(1, 4, 2 * oneEntryBytes - 1)).toEqual(appended.slice(0, 1));
      expect(storage.entries(1, 4, 2 * oneEntryBytes)).toEqual(appended.slice(0, 2));
      expect(storage.entries(2, 4, noBytesMax)).toEqual(appended.slice(1));
    });

    it('drops the held suffix when an append starts inside it', async () => {
      await storage.save({ hardState: null, entries: testEntries(1, [1, 1, 1, 1, 1]) });
      await storage.save({ hardState: null, entries: [testEntry(3, 2)] });
      expect(storage.lastIndex()).toBe(3);
      expect(storage.entries(1, 4, noBytesMax)).toEqual([...testEntries(1, [1, 1]), testEntry(3, 2)]);
      await storage.save({ hardState: null, entries: testEntries(4, [2, 3]) });
      expect([3, 4, 5].map((index) => storage.term(index))).toEqual([2, 2, 3]);
    });

    it('round-trips the hard state, and keeps it when an update carries none', async () => {
      const hardState: HardState = { term: 3, vote: 2, commit: 1 };
      await storage.save({ hardState, entries: [testEntry(1, 3)] });
      expect(storage.hardState()).toEqual(hardState);
      storage.hardState().term = 99;
      expect(storage.hardState()).toEqual(hardState);
      await storage.save({ hardState: null, entries: [testEntry(2, 3)] });
      expect(storage.hardState()).toEqual(hardState);
    });

    it('shows a save only once it has resolved, hard state and entries together', async () => {
      const hardState: HardState = { term: 2, vote: 1, commit: 2 };
      let resolved = false;
      const saving = storage.save({ hardState, entries: testEntries(1, [1, 2]) }).then(() => {
        resolved = true;
      });
      // Look between every turn of the event loop while the medium works on the save.
      do {
        expect(storage.lastIndex()).toBe(resolved ? 2 : 0);
        expect(storage.hardState()).toEqual(resolved ? hardState : emptyHardState);
        await new Promise((resolve) => setImmediate(resolve));
      } while (!resolved);
      await saving;
      expect(storage.entries(1, 3, noBytesMax)).toEqual(testEntries(1, [1, 2]));
    });

    it('applies saves called back to back in call order', async () => {
      const saves = [
        storage.save({ hardState: null, entries: testEntries(1, [1, 1, 1]) }),
        storage.save({ hardState: { term: 2, vote: 3, commit: 1 }, entries: [testEntry(2, 2)] }),
        storage.save({ hardState: { term: 2, vote: 3, commit: 2 }, entries: [] }),
      ];
      await Promise.all(saves);
      expect(storage.lastIndex()).toBe(2);
      expect(storage.entries(1, 3, noBytesMax)).toEqual([testEntry(1, 1), testEntry(2, 2)]);
      expect(storage.hardState()).toEqual({ term: 2, vote: 3, commit: 2 });
    });

    it('refuses a save that breaks the log, and every call after it', async () => {
      await storage.save({ hardState: null, entries: testEntries(1, [1]) });
      await expect(storage.save({ hardState: null, entries: [testEntry(3, 1)] })).rejects.toThrow(/gap/);
      expectStorageError(() => storage.lastIndex(), 'STORAGE_FAILED');
      await expect(storage.save({ hardState: null, entries: [testEntry(2, 1)] })).rejects.toMatchObject({
        code: 'STORAGE_FAILED',
      });
    });

    it('refuses a hard state that goes back or changes a vote within a term', async () => {
      await storage.save({ hardState: { term: 2, vote: 1, commit: 0 }, entries: [] });
      await expect(storage.save({ hardState: { term: 2, vote: 3, commit: 0 }, entries: [] })).rejects.toThrow(
        /vote in term 2/,
      );
    });

    it('refuses every call once closed, and closes twice quietly', async () => {
      await storage.close();
      await storage.close();
      expectStorageError(() => storage.lastIndex(), 'STORAGE_CLOSED');
      await expect(storage.save({ hardState: null, entries: [] })).rejects.toMatchObject({
        code: 'STORAGE_CLOSED',
      });
    });

    // Defined only for storages whose medium outlives close (a memory storage keeps nothing).
    if (durable)
      describe('when the medium outlives close', () => {
        async function reopen(): Promise<DurableStorage> {
          await storage.close();
          storage = await subject.reopen!();
          return storage;
        }

        it('keeps entries, terms, hard state and configuration across close and reopen', async () => {
          const appended = [
            testEntry(1, 1, 'noop'),
            testEntry(2, 1, 'config'),
            testEntry(3, 2, 'normal', 3000),
          ];
          const hardState: HardState = { term: 2, vote: 3, commit: 2 };
          await storage.save({ hardState, entries: appended });
          const reopened = await reopen();
          expect(reopened.lastIndex()).toBe(3);
          expect(reopened.entries(1, 4, noBytesMax)).toEqual(appended);
          expect(reopened.hardState()).toEqual(hardState);
          expect(reopened.snapshotMeta()).toEqual({ index: 0, term: 0, config: contractConfig });
        });

        it('keeps a truncation across close and reopen', async () => {
          await storage.save({ hardState: null, entries: testEntries(1, [1, 1, 1, 1, 1]) });
          await storage.save({ hardState: null, entries: [testEntry(3, 2)] });
          const reopened = await reopen();
          expect(reopened.lastIndex()).toBe(3);
          expect(reopened.term(3)).toBe(2);
          await reopened.save({ hardState: null, entries: [testEntry(4, 2)] });
          expect(reopened.lastIndex()).toBe(4);
        });

        it('finishes a save in flight before closing', async () => {
          const saving = storage.save({ hardState: null, entries: testEntries(1, [1, 1]) });
          const reopened = await reopen();
          await saving;
          expect(reopened.lastIndex()).toBe(2);
        });

        it('finishes saves that queued behind the one in flight before closing', async () => {
          const first = storage.save({ hardState: null, entries: testEntries(1, [1, 1]) });
          const queued = [
            storage.save({ hardState: null, entries: testEntries(3, [1]) }),
            storage.save({ hardState: { term: 1, vote: 2, commit: 1 }, entries: testEntries(4, [1]) }),
          ];
          const reopened = await reopen();
          await Promise.all([first, ...queued]);
          expect(reopened.lastIndex()).toBe(4);
          expect(reopened.hardState()).toEqual({ term: 1, vote: 2, commit: 1 });
        });
      });
  });
}
