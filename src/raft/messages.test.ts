// The message codec: version 3 is plain msgpack that any msgpack decoder reads as the documented
// arrays, round-trips every message, reads what a general msgpack encoder writes, still reads
// version 2, copies entry data out of the received bytes, and refuses anything malformed with
// MalformedMessageError (never an assertion).
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { encodeEntryBlock } from './entry-block.js';
import {
  type AppendMessage,
  decodeMessages,
  type Entry,
  encodeMessages,
  encodeMessagesV2,
  MalformedMessageError,
  type Message,
  messageTypes,
  wireFormatVersion,
} from './messages.js';

const safeInteger = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 2 ** 32 + 5 }),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);

const entryArbitrary: fc.Arbitrary<Entry> = fc.record({
  index: safeInteger,
  term: safeInteger,
  type: fc.constantFrom('normal', 'noop', 'config'),
  stampMs: safeInteger,
  data: fc.uint8Array({ maxLength: 300 }),
});

const head = { from: safeInteger, to: safeInteger, term: safeInteger };

const messageArbitrary: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant('app' as const),
    ...head,
    index: safeInteger,
    logTerm: safeInteger,
    commit: safeInteger,
    entries: fc.array(entryArbitrary, { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('appResp' as const),
    ...head,
    index: safeInteger,
    reject: fc.boolean(),
    rejectHint: safeInteger,
    logTermHint: safeInteger,
  }),
  fc.record({
    type: fc.constantFrom('vote' as const, 'preVote' as const),
    ...head,
    lastIndex: safeInteger,
    lastTerm: safeInteger,
    transfer: fc.boolean(),
  }),
  fc.record({
    type: fc.constantFrom('voteResp' as const, 'preVoteResp' as const),
    ...head,
    reject: fc.boolean(),
  }),
  fc.record({ type: fc.constant('heartbeat' as const), ...head, commit: safeInteger, round: safeInteger }),
  fc.record({ type: fc.constant('heartbeatResp' as const), ...head, round: safeInteger }),
  fc.record({ type: fc.constant('readIndex' as const), ...head, readId: safeInteger }),
  fc.record({
    type: fc.constant('readIndexResp' as const),
    ...head,
    readId: safeInteger,
    index: fc.oneof(fc.constant(-1), safeInteger),
  }),
  fc.record({ type: fc.constant('timeoutNow' as const), ...head }),
  fc.record({ type: fc.constant('transferLeader' as const), ...head, target: safeInteger }),
);

/**
 * The wire layout of version 3, written out again here: a message as the array any msgpack
 * decoder reads, its type's code, from, to, term, then its fields in this order.
 */
function asArray(message: Message): unknown[] {
  const headValues = [messageTypes.indexOf(message.type), message.from, message.to, message.term];
  switch (message.type) {
    case 'app':
      return [
        ...headValues,
        message.index,
        message.logTerm,
        message.commit,
        encodeEntryBlock(message.entries),
      ];
    case 'appResp':
      return [...headValues, message.index, message.reject, message.rejectHint, message.logTermHint];
    case 'vote':
    case 'preVote':
      return [...headValues, message.lastIndex, message.lastTerm, message.transfer];
    case 'voteResp':
    case 'preVoteResp':
      return [...headValues, message.reject];
    case 'heartbeat':
      return [...headValues, message.commit, message.round];
    case 'heartbeatResp':
      return [...headValues, message.round];
    case 'readIndex':
      return [...headValues, message.readId];
    case 'readIndexResp':
      return [...headValues, message.readId, message.index];
    case 'timeoutNow':
      return headValues;
    case 'transferLeader':
      return [...headValues, message.target];
  }
}

/** Messages as plain data, so toEqual compares bytes rather than Buffer against Uint8Array. */
function plain(messages: readonly Message[]) {
  return messages.map((message) =>
    message.type === 'app'
      ? { ...message, entries: message.entries.map((entry) => ({ ...entry, data: [...entry.data] })) }
      : { ...message },
  );
}

/** Byte strings as plain arrays, for comparing what a general msgpack decoder read. */
function plainValues(values: unknown): unknown {
  if (values instanceof Uint8Array) return [...values];
  if (Array.isArray(values)) return values.map(plainValues);
  return values;
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const batches = fc.array(messageArbitrary, { maxLength: 20 });

function append(entries: Entry[]): AppendMessage {
  return { type: 'app', from: 1, to: 2, term: 7, index: 41, logTerm: 6, commit: 40, entries };
}

/** A version 3 batch of the given message arrays, written by the general encoder. */
function arraysBatch(...messages: unknown[][]): Uint8Array {
  return packr.pack({ v: wireFormatVersion, m: messages });
}

describe('message codec', () => {
  it('writes plain msgpack: a general decoder reads the batch as {v: 3, m: the arrays}', () => {
    fc.assert(
      fc.property(batches, (messages) => {
        const decoded = packr.unpack(encodeMessages(messages)) as { v: number; m: unknown[] };
        expect(Object.keys(decoded)).toEqual(['v', 'm']);
        expect(decoded.v).toBe(3);
        expect(plainValues(decoded.m)).toEqual(plainValues(messages.map(asArray)));
      }),
    );
  });

  it('round-trips every message, and reads the same batch from a general encoder in either key order', () => {
    fc.assert(
      fc.property(batches, (messages) => {
        const expected = plain(messages);
        expect(plain(decodeMessages(encodeMessages(messages)))).toEqual(expected);
        const arrays = messages.map(asArray);
        expect(plain(decodeMessages(arraysBatch(...arrays)))).toEqual(expected);
        expect(plain(decodeMessages(packr.pack({ m: arrays, v: wireFormatVersion })))).toEqual(expected);
      }),
    );
  });

  it('reads integers however msgpack writes them (float 64, signed forms, uint 64), in either map form', () => {
    // {v: 3, m: [heartbeat]}, the map's header as msgpackr writes it (map 16) or as fixmap.
    const mapHeaders = [[0xde, 0x00, 0x02], [0x82]];
    const terms: [number[], number][] = [
      [[0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0], 5],
      [[0xd0, 0x05], 5],
      [[0xd1, 0x01, 0x00], 256],
      [[0xd2, 0x00, 0x01, 0x00, 0x00], 65536],
      [[0xd3, 0, 0, 0, 1, 0, 0, 0, 0], 2 ** 32],
      [[0xcf, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], Number.MAX_SAFE_INTEGER],
    ];
    for (const mapHeader of mapHeaders) {
      for (const [term, value] of terms) {
        const bytes = [...mapHeader, 0xa1, 0x76, 3, 0xa1, 0x6d, 0x91, 0x96, 6, 1, 2, ...term, 0, 9];
        const [message] = decodeMessages(Uint8Array.from(bytes));
        expect(message).toEqual({ type: 'heartbeat', from: 1, to: 2, term: value, commit: 0, round: 9 });
      }
    }
  });

  it('still reads version 2 (each message a map)', () => {
    fc.assert(
      fc.property(batches, (messages) => {
        expect(plain(decodeMessages(encodeMessagesV2(messages)))).toEqual(plain(messages));
      }),
    );
  });

  it('copies entry data out of the received bytes', () => {
    const entries: Entry[] = [
      { index: 42, term: 7, type: 'normal', stampMs: 5, data: new Uint8Array([1, 2, 3]) },
    ];
    for (const received of [encodeMessages([append(entries)]), encodeMessagesV2([append(entries)])]) {
      const [decoded] = decodeMessages(received) as AppendMessage[];
      received.fill(0);
      expect([...decoded!.entries[0]!.data]).toEqual([1, 2, 3]);
    }
  });

  it('refuses every batch cut short', () => {
    fc.assert(
      fc.property(fc.array(messageArbitrary, { minLength: 1, maxLength: 5 }), fc.nat(), (messages, cut) => {
        const bytes = encodeMessages(messages);
        const cutShort = bytes.subarray(0, cut % bytes.byteLength);
        expect(() => decodeMessages(cutShort)).toThrow(MalformedMessageError);
      }),
    );
  });

  const entry: Entry = { index: 42, term: 7, type: 'normal', stampMs: 5, data: new Uint8Array([9, 9]) };
  const block = encodeEntryBlock([entry]);
  const appendWithBlock = (entries: unknown) => [0, 1, 2, 7, 41, 6, 40, entries];
  const malformedBlocks: [string, Uint8Array][] = [
    ['a header cut short', block.subarray(0, 20)],
    ['data running past the block', block.subarray(0, block.byteLength - 1)],
    ['an unknown entry type', Uint8Array.from(block, (byte, position) => (position === 0 ? 9 : byte))],
    ['an index above 2^53 - 1', Uint8Array.from(block, (byte, position) => (position === 1 ? 0xff : byte))],
  ];

  it('accepts the well-formed block these are made from', () => {
    expect(plain(decodeMessages(arraysBatch(appendWithBlock(block))))).toEqual(plain([append([entry])]));
  });

  it.each(malformedBlocks)('refuses an entry block with %s', (_, bytes) => {
    expect(() => decodeMessages(arraysBatch(appendWithBlock(bytes)))).toThrow(MalformedMessageError);
    const inVersion2 = packr.pack({ v: 2, m: [{ ...append([]), entries: bytes }] });
    expect(() => decodeMessages(inVersion2)).toThrow(MalformedMessageError);
  });

  const heartbeat = [6, 1, 2, 7, 3, 9];
  const malformedBatches: [string, Uint8Array][] = [
    ['a message with a field too few', arraysBatch(heartbeat.slice(0, -1))],
    ['a message with a field too many', arraysBatch([...heartbeat, 1])],
    ['an unknown type code', arraysBatch([12, 1, 2, 7])],
    ['a string term', arraysBatch([6, 1, 2, '7', 3, 9])],
    ['a negative from', arraysBatch([6, -1, 2, 7, 3, 9])],
    ['a fractional round', arraysBatch([6, 1, 2, 7, 3, 1.5])],
    ['a term above 2^53 - 1', arraysBatch([6, 1, 2, 2 ** 53, 3, 9])],
    ['a number where a flag goes', arraysBatch([4, 1, 2, 7, 1])],
    ['a flag where a number goes', arraysBatch([7, 1, 2, 7, true])],
    ['a readIndexResp index below -1', arraysBatch([9, 1, 2, 7, 11, -2])],
    ['entries that are not bytes', arraysBatch(appendWithBlock([1, 2]))],
    ['an array inside a message', arraysBatch([6, 1, 2, [7], 3, 9])],
    ['a message that is a map', packr.pack({ v: wireFormatVersion, m: [{ type: 'heartbeat' }] })],
    ['a valid message after a broken one', arraysBatch([6, 1, 2, 'x', 3, 9], heartbeat)],
    ['bytes after the last message', Uint8Array.from([...arraysBatch(heartbeat), 0])],
    ['messages not a list', packr.pack({ v: wireFormatVersion, m: heartbeat[0] })],
    ['an unknown version', packr.pack({ v: wireFormatVersion + 1, m: [heartbeat] })],
    ['version 1', packr.pack({ v: 1, m: [] })],
    [
      'a map message with a string term (version 2)',
      packr.pack({ v: 2, m: [{ type: 'heartbeat', term: '1' }] }),
    ],
    ['entries as a list in version 2', packr.pack({ v: 2, m: [append([entry])] })],
  ];

  it.each(malformedBatches)('refuses a batch with %s', (_, bytes) => {
    expect(() => decodeMessages(bytes)).toThrow(MalformedMessageError);
  });
});
