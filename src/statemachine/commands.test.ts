import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { type Command, decodeCommand, encodeCommand, MalformedCommandError } from './commands.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

describe('command codec', () => {
  it('round-trips every kind', () => {
    const commands: Command[] = [
      { v: 1, kind: 'kv.put', key: 'users/42', value: { name: 'Ada', tags: ['a', 1, null, true, 2.5] } },
      { v: 1, kind: 'kv.put', key: 'k', value: null, ifRevision: 0, requestId: 'node-2/17' },
      { v: 1, kind: 'kv.delete', key: 'k' },
      { v: 1, kind: 'kv.delete', key: 'k', ifRevision: 12 },
    ];
    for (const command of commands) expect(decodeCommand(encodeCommand(command))).toEqual(command);
  });

  it('leaves the decoded bytes as they were: no property added (they stay in the log)', () => {
    const bytes = encodeCommand({ v: 1, kind: 'kv.put', key: 'k', value: 'v' });
    const ownNames = () => Object.getOwnPropertyNames(bytes).filter((name) => !/^\d+$/.test(name));
    expect(ownNames()).toEqual([]);
    decodeCommand(bytes);
    decodeCommand(bytes);
    expect(ownNames()).toEqual([]);
  });

  it.each([
    ['not msgpack', Buffer.from([0x93, 0x01])],
    ['trailing bytes', Buffer.from([0x01, 0x02])],
    ['not a map', packr.pack(['kv.put', 'k'])],
    ['no version', packr.pack({ kind: 'kv.put', key: 'k', value: 1 })],
    ['an unknown version', packr.pack({ v: 2, kind: 'kv.put', key: 'k', value: 1 })],
    ['an unknown kind', packr.pack({ v: 1, kind: 'kv.explode', key: 'k' })],
    ['a missing key', packr.pack({ v: 1, kind: 'kv.put', value: 1 })],
    ['a missing value', packr.pack({ v: 1, kind: 'kv.put', key: 'k' })],
    ['a key that is not a string', packr.pack({ v: 1, kind: 'kv.delete', key: 7 })],
    [
      'an ifRevision that is not a number',
      packr.pack({ v: 1, kind: 'kv.delete', key: 'k', ifRevision: '3' }),
    ],
    ['a requestId that is not a string', packr.pack({ v: 1, kind: 'kv.delete', key: 'k', requestId: 3 })],
    ['an unexpected field', packr.pack({ v: 1, kind: 'kv.delete', key: 'k', value: 1 })],
  ])('refuses %s with MalformedCommandError', (_case, bytes) => {
    expect(() => decodeCommand(bytes)).toThrow(MalformedCommandError);
  });

  it('throws nothing but MalformedCommandError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeCommand(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedCommandError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
