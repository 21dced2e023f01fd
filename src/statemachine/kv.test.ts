import { Packr } from 'msgpackr';
import { beforeEach, describe, expect, it } from 'vitest';
import { RaftkvError } from '../errors.js';
import type { KvCommand, KvDeleteCommand, KvPutCommand } from './commands.js';
import { keyBytes } from './keys.js';
import { kvGet, kvRange, kvService, validateKvCommand } from './kv.js';
import {
  kvKeyBytesMax,
  kvRangeItemsDefault,
  kvRangeItemsMax,
  kvValueBytesMax,
  kvValueDepthMax,
} from './limits.js';
import { type ApplyResult, StateMachine } from './state-machine.js';
import { MemoryStateStore } from './state-store.js';
import { type EntryContent, logEntries } from './test-entries.js';

const putCommand = (key: string, value: unknown, extra: Partial<KvPutCommand> = {}): KvPutCommand => ({
  v: 1,
  kind: 'kv.put',
  key,
  value,
  ...extra,
});
const deleteCommand = (key: string, extra: Partial<KvDeleteCommand> = {}): KvDeleteCommand => ({
  v: 1,
  kind: 'kv.delete',
  key,
  ...extra,
});

/** What validateKvCommand throws for `command` (its code), or undefined when it passes. */
function validationError(command: KvCommand): string | undefined {
  try {
    validateKvCommand(command);
    return undefined;
  } catch (error) {
    if (!(error instanceof RaftkvError)) throw error;
    return error.code;
  }
}

/** A JSON value whose JSON text is exactly `bytes` long: a string of bytes - 2 characters. */
const jsonOfBytes = (bytes: number) => 'x'.repeat(bytes - 2);

/** Arrays nested `depth` deep: depth 1 is []. */
const nested = (depth: number): unknown => (depth === 1 ? [] : [nested(depth - 1)]);

describe('KV service', () => {
  let machine: StateMachine;
  let nextIndex: number;

  beforeEach(() => {
    machine = new StateMachine(new MemoryStateStore());
    nextIndex = 1;
  });

  async function apply(...contents: EntryContent[]): Promise<ApplyResult[]> {
    const entries = logEntries(nextIndex, contents);
    nextIndex += contents.length;
    return machine.applyEntries(entries);
  }
  const state = () => machine.reader(kvService);
  const get = (key: string) => kvGet(state(), key);
  const ok = (value: unknown) => ({ ok: true, value });
  const failed = (code: string, details: Record<string, unknown> = {}) => ({
    ok: false,
    error: expect.objectContaining({ code, details }),
  });

  describe('put and get', () => {
    it('answers a put with its revision, the index of its entry', async () => {
      expect(await apply('noop', putCommand('users/42', { name: 'Ada' }))).toEqual([
        null,
        ok({ revision: 2 }),
      ]);
      expect(await get('users/42')).toEqual({
        key: 'users/42',
        value: { name: 'Ada' },
        createRevision: 2,
        modRevision: 2,
        version: 1,
      });
    });

    it('keeps createRevision and counts versions across puts', async () => {
      await apply(putCommand('k', 1), 'noop', putCommand('other', 0), putCommand('k', 2));
      await apply(putCommand('k', [3]));
      expect(await get('k')).toEqual({ key: 'k', value: [3], createRevision: 1, modRevision: 5, version: 3 });
    });

    it('stores any JSON value', async () => {
      const values = [null, true, 0, -1.5, 'text', [], {}, { nested: { list: [1, 'two', null] } }];
      await apply(...values.map((value, position) => putCommand(`k${position}`, value)));
      for (const [position, value] of values.entries())
        expect((await get(`k${position}`))?.value).toEqual(value);
    });

    it('answers undefined for an absent key', async () => {
      expect(await get('absent')).toBeUndefined();
    });

    it('refuses to read a key no put could write', async () => {
      expect(() => get('')).toThrow(expect.objectContaining({ code: 'INVALID_KEY' }));
      expect(() => get('x'.repeat(kvKeyBytesMax + 1))).toThrow(
        expect.objectContaining({ code: 'INVALID_KEY' }),
      );
    });
  });

  describe('delete', () => {
    it('removes a key, and a later put starts it afresh', async () => {
      expect(await apply(putCommand('k', 1), putCommand('k', 2), deleteCommand('k'))).toEqual([
        ok({ revision: 1 }),
        ok({ revision: 2 }),
        ok({ revision: 3, deleted: true }),
      ]);
      expect(await get('k')).toBeUndefined();
      await apply(putCommand('k', 'again'));
      expect(await get('k')).toMatchObject({ createRevision: 4, modRevision: 4, version: 1 });
    });

    it('succeeds with deleted: false on an absent key', async () => {
      expect(await apply(deleteCommand('absent'))).toEqual([ok({ revision: 1, deleted: false })]);
    });
  });

  describe('compare-and-set', () => {
    it('with ifRevision 0 writes only an absent key', async () => {
      expect(
        await apply(
          putCommand('k', 'first', { ifRevision: 0 }),
          putCommand('k', 'second', { ifRevision: 0 }),
        ),
      ).toEqual([ok({ revision: 1 }), failed('REVISION_MISMATCH', { modRevision: 1 })]);
      expect((await get('k'))?.value).toBe('first');
    });

    it('writes when ifRevision is the current modRevision, and refuses a stale one', async () => {
      await apply(putCommand('k', 1), putCommand('k', 2));
      expect(
        await apply(putCommand('k', 'stale', { ifRevision: 1 }), putCommand('k', 'fresh', { ifRevision: 2 })),
      ).toEqual([failed('REVISION_MISMATCH', { modRevision: 2 }), ok({ revision: 4 })]);
      expect(await get('k')).toMatchObject({ value: 'fresh', modRevision: 4, version: 3 });
    });

    it('reports modRevision 0 for an absent key', async () => {
      expect(await apply(putCommand('k', 1, { ifRevision: 7 }))).toEqual([
        failed('REVISION_MISMATCH', { modRevision: 0 }),
      ]);
      expect(await get('k')).toBeUndefined();
    });

    it('guards deletes too', async () => {
      await apply(putCommand('k', 1));
      expect(
        await apply(deleteCommand('k', { ifRevision: 0 }), deleteCommand('k', { ifRevision: 1 })),
      ).toEqual([failed('REVISION_MISMATCH', { modRevision: 1 }), ok({ revision: 3, deleted: true })]);
      expect(await apply(deleteCommand('k', { ifRevision: 0 }))).toEqual([
        ok({ revision: 4, deleted: false }),
      ]);
    });

    it('sees earlier writes of the same apply step', async () => {
      expect(
        await apply(
          putCommand('k', 1),
          putCommand('k', 2, { ifRevision: 1 }),
          deleteCommand('k', { ifRevision: 2 }),
        ),
      ).toEqual([ok({ revision: 1 }), ok({ revision: 2 }), ok({ revision: 3, deleted: true })]);
    });
  });

  describe('range', () => {
    beforeEach(async () => {
      await apply(
        ...['b/2', 'a', 'b/1', 'b/10', 'c', 'b', 'b/\uffff', 'b/\u{1F600}'].map((key) =>
          putCommand(key, key),
        ),
      );
    });
    const keysOf = async (options: Parameters<typeof kvRange>[1]) => {
      const page = await kvRange(state(), options);
      return { keys: page.items.map((item) => item.key), more: page.more };
    };

    it('lists keys under a prefix in byte order', async () => {
      expect(await keysOf({ prefix: 'b/' })).toEqual({
        keys: ['b/1', 'b/10', 'b/2', 'b/\uffff', 'b/\u{1F600}'],
        more: false,
      });
      expect(await keysOf({})).toEqual({
        keys: ['a', 'b', 'b/1', 'b/10', 'b/2', 'b/\uffff', 'b/\u{1F600}', 'c'],
        more: false,
      });
    });

    it('returns whole items', async () => {
      const page = await kvRange(state(), { prefix: 'c' });
      expect(page.items).toEqual([{ key: 'c', value: 'c', createRevision: 5, modRevision: 5, version: 1 }]);
    });

    it('pages with after and limit', async () => {
      expect(await keysOf({ prefix: 'b', limit: 2 })).toEqual({ keys: ['b', 'b/1'], more: true });
      expect(await keysOf({ prefix: 'b', limit: 2, after: 'b/1' })).toEqual({
        keys: ['b/10', 'b/2'],
        more: true,
      });
      expect(await keysOf({ prefix: 'b', limit: 2, after: 'b/2' })).toEqual({
        keys: ['b/\uffff', 'b/\u{1F600}'],
        more: false,
      });
      expect(await keysOf({ prefix: 'b', limit: 2, after: 'b/\u{1F600}' })).toEqual({
        keys: [],
        more: false,
      });
    });

    it('treats an after key outside the prefix as its edge', async () => {
      expect(await keysOf({ prefix: 'b/', after: 'a' })).toMatchObject({
        keys: ['b/1', 'b/10', 'b/2', 'b/\uffff', 'b/\u{1F600}'],
      });
      expect(await keysOf({ prefix: 'b/', after: 'c' })).toEqual({ keys: [], more: false });
      expect(await keysOf({ after: 'b/2' })).toMatchObject({ keys: ['b/\uffff', 'b/\u{1F600}', 'c'] });
    });

    it('returns kvRangeItemsDefault items unless told', async () => {
      await apply(
        ...Array.from({ length: kvRangeItemsDefault + 1 }, (_, position) =>
          putCommand(`many/${position}`, 0),
        ),
      );
      const page = await kvRange(state(), { prefix: 'many/' });
      expect(page.items).toHaveLength(kvRangeItemsDefault);
      expect(page.more).toBe(true);
    });

    it.each([0, -1, 1.5, kvRangeItemsMax + 1])('refuses limit %s', async (limit) => {
      await expect(kvRange(state(), { limit })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });

    it('refuses a prefix or after key that is not a valid key text', async () => {
      await expect(kvRange(state(), { prefix: '\ud800' })).rejects.toMatchObject({ code: 'INVALID_KEY' });
      await expect(kvRange(state(), { after: 'x'.repeat(kvKeyBytesMax + 1) })).rejects.toMatchObject({
        code: 'INVALID_KEY',
      });
    });
  });

  describe('validation', () => {
    it.each([
      ['a key of kvKeyBytesMax bytes', putCommand('x'.repeat(kvKeyBytesMax), 1), undefined],
      ['a key one byte longer', putCommand('x'.repeat(kvKeyBytesMax + 1), 1), 'INVALID_KEY'],
      ['a key counted in UTF-8 bytes', putCommand('é'.repeat(kvKeyBytesMax / 2 + 1), 1), 'INVALID_KEY'],
      ['an empty key', deleteCommand(''), 'INVALID_KEY'],
      ['a key with a lone surrogate', deleteCommand('a\ud800'), 'INVALID_KEY'],
      ['a value of kvValueBytesMax bytes of JSON', putCommand('k', jsonOfBytes(kvValueBytesMax)), undefined],
      ['a value one byte larger', putCommand('k', jsonOfBytes(kvValueBytesMax + 1)), 'VALUE_TOO_LARGE'],
      // Each control character is 6 bytes of JSON (\u0001): the most a character can cost.
      [
        'escapes that fit',
        putCommand('k', '\u0001'.repeat(Math.floor((kvValueBytesMax - 2) / 6))),
        undefined,
      ],
      [
        'escapes one character over',
        putCommand('k', '\u0001'.repeat(Math.floor((kvValueBytesMax - 2) / 6) + 1)),
        'VALUE_TOO_LARGE',
      ],
      ['a value nested kvValueDepthMax deep', putCommand('k', nested(kvValueDepthMax)), undefined],
      ['a value nested deeper', putCommand('k', { a: nested(kvValueDepthMax) }), 'INVALID_ARGUMENT'],
      ['undefined', putCommand('k', undefined), 'BAD_REQUEST'],
      ['NaN', putCommand('k', [Number.NaN]), 'BAD_REQUEST'],
      ['Infinity', putCommand('k', { a: Number.POSITIVE_INFINITY }), 'BAD_REQUEST'],
      ['a BigInt', putCommand('k', 10n), 'BAD_REQUEST'],
      ['bytes', putCommand('k', new Uint8Array(2)), 'BAD_REQUEST'],
      ['a Date', putCommand('k', new Date(0)), 'BAD_REQUEST'],
      ['a __proto__ key', putCommand('k', JSON.parse('{"a":{"__proto__":1}}')), 'BAD_REQUEST'],
      ['ifRevision -1', deleteCommand('k', { ifRevision: -1 }), 'INVALID_REVISION'],
      ['ifRevision 1.5', putCommand('k', 1, { ifRevision: 1.5 }), 'INVALID_REVISION'],
      ['a long requestId', deleteCommand('k', { requestId: 'r'.repeat(200) }), 'INVALID_ARGUMENT'],
    ])('%s -> %s', (_case, command, code) => {
      expect(validationError(command)).toBe(code);
    });

    it('is the service validation that apply runs again', () => {
      expect(kvService.validate).toBe(validateKvCommand);
    });
  });

  describe('entries that are not valid commands', () => {
    it('records an error for each and applies the rest of the step', async () => {
      const results = await apply(
        new Uint8Array([0xc1, 0xff, 0x00]),
        putCommand('', 1),
        putCommand('k', jsonOfBytes(kvValueBytesMax + 1)),
        deleteCommand('k', { ifRevision: -3 }),
        'config',
        putCommand('k', 'fine'),
      );
      expect(results).toEqual([
        failed('BAD_REQUEST'),
        failed('INVALID_KEY'),
        failed('VALUE_TOO_LARGE'),
        failed('INVALID_REVISION'),
        null,
        ok({ revision: 6 }),
      ]);
      expect((await kvRange(state(), {})).items.map((item) => item.key)).toEqual(['k']);
      expect(machine.appliedIndex()).toBe(6);
    });
  });

  it('names the key a command touches', () => {
    expect(kvService.keysTouched(putCommand('users/1', 1))).toEqual(['users/1']);
    expect(kvService.keysTouched(deleteCommand('users/2'))).toEqual(['users/2']);
  });
});

describe('KV records of the previous format (version 1)', () => {
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const versionOne = (value: unknown, createRevision: number, modRevision: number, version: number) =>
    packr.pack({ v: 1, value, createRevision, modRevision, version });

  /** A machine whose state holds `old` (value 'then', created at 3, written at 4, version 2) as version 1 wrote it. */
  async function machineWithOldRecord(): Promise<StateMachine> {
    const store = new MemoryStateStore();
    await store.writeBatch([{ type: 'put', key: keyBytes('kv/old'), value: versionOne('then', 3, 4, 2) }], 4);
    return new StateMachine(store);
  }

  it('are read, alone and in ranges', async () => {
    const machine = await machineWithOldRecord();
    const expected = { key: 'old', value: 'then', createRevision: 3, modRevision: 4, version: 2 };
    expect(kvGet(machine.reader(kvService), 'old')).toEqual(expected);
    expect((await kvRange(machine.reader(kvService), {})).items).toEqual([expected]);
  });

  it('keep their history through a put, a compare-and-set and a delete', async () => {
    const machine = await machineWithOldRecord();
    const results = await machine.applyEntries(
      logEntries(5, [
        putCommand('old', 'stale', { ifRevision: 3 }),
        putCommand('old', 'now', { ifRevision: 4 }),
      ]),
    );
    expect(results[0]).toMatchObject({
      ok: false,
      error: { code: 'REVISION_MISMATCH', details: { modRevision: 4 } },
    });
    expect(kvGet(machine.reader(kvService), 'old')).toEqual({
      key: 'old',
      value: 'now',
      createRevision: 3,
      modRevision: 6,
      version: 3,
    });
    const deleted = await machine.applyEntries(logEntries(7, [deleteCommand('old', { ifRevision: 6 })]));
    expect(deleted).toEqual([{ ok: true, value: { revision: 7, deleted: true } }]);
  });
});
