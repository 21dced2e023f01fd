// The message codec: version 2 round-trips every message, still reads version 1, copies entry
// data out of the received bytes, and refuses a malformed entry block without an assertion.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeEntryBlock } from './entry-block.js';
import {
  type AppendMessage,
  decodeMessages,
  type Entry,
  encodeMessages,
  encodeMessagesV1,
  MalformedMessageError,
  wireFormatVersion,
} from './messages.js';

const entryArbitrary: fc.Arbitrary<Entry> = fc.record({
  index: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  type: fc.constantFrom('normal', 'noop', 'config'),
  stampMs: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  data: fc.uint8Array({ maxLength: 300 }),
});

function append(entries: Entry[]): AppendMessage {
  return { type: 'app', from: 1, to: 2, term: 7, index: 41, logTerm: 6, commit: 40, entries };
}

/** Entries as plain data, so toEqual compares bytes rather than Buffer against Uint8Array. */
function plain(messages: readonly AppendMessage[]) {
  return messages.map((message) => ({
    ...message,
    entries: message.entries.map((entry) => ({ ...entry, data: [...entry.data] })),
  }));
}

const packr = new Packr({ useRecords: false, moreTypes: false });

function withBlock(block: Uint8Array): Uint8Array {
  return packr.pack({ v: wireFormatVersion, m: [{ ...append([]), entries: block }] });
}

describe('message codec', () => {
  it('round-trips AppendEntries of any entries, in this version and from the one before', () => {
    fc.assert(
      fc.property(fc.array(entryArbitrary, { maxLength: 20 }), (entries) => {
        const message = append(entries);
        expect(plain(decodeMessages(encodeMessages([message])) as AppendMessage[])).toEqual(plain([message]));
        expect(plain(decodeMessages(encodeMessagesV1([message])) as AppendMessage[])).toEqual(
          plain([message]),
        );
      }),
    );
  });

  it('copies entry data out of the received bytes', () => {
    const entries: Entry[] = [
      { index: 42, term: 7, type: 'normal', stampMs: 5, data: new Uint8Array([1, 2, 3]) },
    ];
    const received = encodeMessages([append(entries)]);
    const [decoded] = decodeMessages(received) as AppendMessage[];
    received.fill(0);
    expect([...decoded!.entries[0]!.data]).toEqual([1, 2, 3]);
  });

  const entry: Entry = { index: 42, term: 7, type: 'normal', stampMs: 5, data: new Uint8Array([9, 9]) };
  const block = encodeEntryBlock([entry]);
  const malformedBlocks: [string, Uint8Array][] = [
    ['a header cut short', block.subarray(0, 20)],
    ['data running past the block', block.subarray(0, block.byteLength - 1)],
    ['an unknown entry type', Uint8Array.from(block, (byte, position) => (position === 0 ? 9 : byte))],
    ['an index above 2^53 - 1', Uint8Array.from(block, (byte, position) => (position === 1 ? 0xff : byte))],
  ];

  it('accepts the well-formed block these are made from', () => {
    expect(plain(decodeMessages(withBlock(block)) as AppendMessage[])).toEqual(plain([append([entry])]));
  });

  it.each(malformedBlocks)('refuses an entry block with %s', (_, bytes) => {
    expect(() => decodeMessages(withBlock(bytes))).toThrow(MalformedMessageError);
  });

  it('refuses entries that are neither a block (version 2) nor a list (version 1)', () => {
    const listInVersion2 = packr.pack({ v: wireFormatVersion, m: [append([entry])] });
    expect(() => decodeMessages(listInVersion2)).toThrow(/entries is not bytes/);
    const blockInVersion1 = packr.pack({ v: 1, m: [{ ...append([]), entries: block }] });
    expect(() => decodeMessages(blockInVersion1)).toThrow(/entries is not a list/);
  });
});
