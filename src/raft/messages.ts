// The messages the consensus core exchanges (etcd style: every message is one-way; an answer
// is another message in the other direction), and the one codec every transport uses.
import { Packr } from 'msgpackr';
import {
  decodeEntryBlock,
  EntryBlockError,
  encodeEntryBlock,
  entryBlockBytes,
  writeEntryBlock,
} from './entry-block.js';
import {
  arrayHeaderBytesMax,
  binHeaderBytes,
  intBytesMax,
  MsgpackReader,
  MsgpackSubsetError,
  MsgpackWriter,
} from './msgpack-subset.js';

export type NodeId = number;
/** Marks "no node" in votes and leader hints; real node ids start at 1. */
export const noNode = 0;

export type EntryType = 'normal' | 'noop' | 'config';

export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  /** Log time (ms) stamped by the leader that appended it; never decreases along the log. */
  stampMs: number;
  data: Uint8Array;
}

/** What must be on disk before this node sends a vote or an append acknowledgement. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

interface MessageBase {
  from: NodeId;
  to: NodeId;
  term: number;
}

export interface AppendMessage extends MessageBase {
  type: 'app';
  /** Index and term of the entry just before `entries`. */
  index: number;
  logTerm: number;
  entries: Entry[];
  commit: number;
}

export interface AppendResponseMessage extends MessageBase {
  type: 'appResp';
  /** On success: the last index now matching the leader. On reject: the index that was probed. */
  index: number;
  reject: boolean;
  /** On reject: the follower's guess of the highest index that may match, and its term there. */
  rejectHint: number;
  logTermHint: number;
}

export interface VoteMessage extends MessageBase {
  type: 'vote' | 'preVote';
  lastIndex: number;
  lastTerm: number;
  /** Set when the campaign follows a leader transfer: voters skip their leader-lease check. */
  transfer: boolean;
}

export interface VoteResponseMessage extends MessageBase {
  type: 'voteResp' | 'preVoteResp';
  reject: boolean;
}

export interface HeartbeatMessage extends MessageBase {
  type: 'heartbeat';
  commit: number;
  /** The leader's heartbeat round; echoed back so the leader can confirm reads and its lease. */
  round: number;
}

export interface HeartbeatResponseMessage extends MessageBase {
  type: 'heartbeatResp';
  round: number;
}

export interface ReadIndexMessage extends MessageBase {
  type: 'readIndex';
  readId: number;
}

export interface ReadIndexResponseMessage extends MessageBase {
  type: 'readIndexResp';
  readId: number;
  /** The index a read may be served at once applied, or -1 when the leader refused. */
  index: number;
}

export interface TimeoutNowMessage extends MessageBase {
  type: 'timeoutNow';
}

export interface TransferLeaderMessage extends MessageBase {
  type: 'transferLeader';
  target: NodeId;
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TimeoutNowMessage
  | TransferLeaderMessage;

export type MessageType = Message['type'];

export const messageTypes: readonly MessageType[] = [
  'app',
  'appResp',
  'vote',
  'preVote',
  'voteResp',
  'preVoteResp',
  'heartbeat',
  'heartbeatResp',
  'readIndex',
  'readIndexResp',
  'timeoutNow',
  'transferLeader',
];

/** What an entry counts against size limits besides its data. */
export const entryOverheadBytes = 24;

/** Bytes an entry takes against size limits (payload plus a fixed overhead). */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength + entryOverheadBytes;
}

// ---- codec -------------------------------------------------------------------------------

/**
 * Version of the on-wire message batch format; a node reads this version and the one before.
 * A batch is msgpack `{v, m}`, m the messages. Version 3 puts each message as an array: its type
 * (its position in messageTypes), from, to, term, then its type's fields in the order
 * writeMessage writes them, an AppendEntries' entries as one byte string (entry-block.ts).
 * Version 2 put each as a map of named fields: every name a string to write, and to read, hash
 * and intern, on every message (a tenth of a follower's CPU at one client went to the codec).
 */
export const wireFormatVersion = 3;
const previousWireFormatVersion = 2;

/** int64AsType: another encoder may write a large integer as a uint 64; read it as a number. */
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

/** The msgpack of `{v: 3, m: ` up to the array of messages: how every batch this node sends starts. */
const batchPrefix = packr.pack({ v: wireFormatVersion, m: [] }).subarray(0, -1);

const typeCodes = new Map(messageTypes.map((type, code) => [type, code]));

/** The fields after type, from, to and term, by type: what the array of a message holds. */
const wireFieldCounts: Record<MessageType, number> = {
  app: 4,
  appResp: 4,
  vote: 3,
  preVote: 3,
  voteResp: 1,
  preVoteResp: 1,
  heartbeat: 2,
  heartbeatResp: 1,
  readIndex: 1,
  readIndexResp: 2,
  timeoutNow: 0,
  transferLeader: 1,
};
const headFields = 4;

export function encodeMessages(messages: readonly Message[]): Uint8Array {
  let sizeMax = batchPrefix.byteLength + arrayHeaderBytesMax;
  for (const message of messages) {
    sizeMax += 1 + (headFields + wireFieldCounts[message.type]) * intBytesMax;
    if (message.type === 'app') sizeMax += binHeaderBytes + entryBlockBytes(message.entries);
  }
  const writer = new MsgpackWriter(new Uint8Array(sizeMax));
  writer.raw(batchPrefix);
  writer.arrayHeader(messages.length);
  for (const message of messages) writeMessage(writer, message);
  return writer.written();
}

function writeMessage(writer: MsgpackWriter, message: Message): void {
  writer.arrayHeader(headFields + wireFieldCounts[message.type]);
  writer.int(typeCodes.get(message.type)!);
  writer.int(message.from);
  writer.int(message.to);
  writer.int(message.term);
  switch (message.type) {
    case 'app': {
      writer.int(message.index);
      writer.int(message.logTerm);
      writer.int(message.commit);
      const blockBytes = entryBlockBytes(message.entries);
      writer.binHeader(blockBytes);
      writeEntryBlock(message.entries, writer.bytes, writer.position);
      writer.skip(blockBytes);
      return;
    }
    case 'appResp':
      writer.int(message.index);
      writer.bool(message.reject);
      writer.int(message.rejectHint);
      writer.int(message.logTermHint);
      return;
    case 'vote':
    case 'preVote':
      writer.int(message.lastIndex);
      writer.int(message.lastTerm);
      writer.bool(message.transfer);
      return;
    case 'voteResp':
    case 'preVoteResp':
      writer.bool(message.reject);
      return;
    case 'heartbeat':
      writer.int(message.commit);
      writer.int(message.round);
      return;
    case 'heartbeatResp':
      writer.int(message.round);
      return;
    case 'readIndex':
      writer.int(message.readId);
      return;
    case 'readIndexResp':
      writer.int(message.readId);
      writer.int(message.index);
      return;
    case 'timeoutNow':
      return;
    case 'transferLeader':
      writer.int(message.target);
      return;
  }
}

/** A batch in the previous version's form (each message a map); tests of reading it use it. */
export function encodeMessagesV2(messages: readonly Message[]): Uint8Array {
  return packr.pack({
    v: previousWireFormatVersion,
    m: messages.map((message) =>
      message.type === 'app' ? { ...message, entries: encodeEntryBlock(message.entries) } : message,
    ),
  });
}

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

/** Decodes a batch; anything malformed throws MalformedMessageError (never an assertion). */
export function decodeMessages(bytes: Uint8Array): Message[] {
  try {
    if (startsWith(bytes, batchPrefix)) return readBatch(new MsgpackReader(bytes, batchPrefix.byteLength));
    return decodeAnyBatch(bytes);
  } catch (error) {
    if (error instanceof MsgpackSubsetError)
      throw new MalformedMessageError(`undecodable message batch: ${error.message}`);
    throw error;
  }
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (bytes.byteLength < prefix.byteLength) return false;
  for (let at = 0; at < prefix.byteLength; at++) if (bytes[at] !== prefix[at]) return false;
  return true;
}

/** The messages of a version 3 batch, read straight from its bytes after the prefix. */
function readBatch(reader: MsgpackReader): Message[] {
  const count = reader.arrayHeader();
  const messages: Message[] = [];
  for (let read = 0; read < count; read++) {
    const length = reader.arrayHeader();
    if (length > headFields + 4) throw new MalformedMessageError(`a message of ${length} fields`);
    const values: unknown[] = [];
    for (let field = 0; field < length; field++) values.push(reader.scalar());
    messages.push(fromWire(values));
  }
  if (!reader.done()) throw new MalformedMessageError('bytes after the last message');
  return messages;
}

/**
 * Any other batch, through the general msgpack decoder: version 3 written by another encoder
 * (its keys in another order, say), or version 2.
 */
function decodeAnyBatch(bytes: Uint8Array): Message[] {
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch (error) {
    throw new MalformedMessageError(`undecodable message batch: ${(error as Error).message}`);
  }
  if (!isRecord(decoded) || !Array.isArray(decoded.m)) {
    throw new MalformedMessageError('not a message batch');
  }
  if (decoded.v === wireFormatVersion) {
    return decoded.m.map((raw) => {
      if (!Array.isArray(raw)) throw new MalformedMessageError('a message is not an array');
      return fromWire(raw);
    });
  }
  if (decoded.v === previousWireFormatVersion) return decoded.m.map(validateMapMessage);
  throw new MalformedMessageError('not a message batch of a known version');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A message of version 3 from its array of values, each checked. */
function fromWire(values: readonly unknown[]): Message {
  const code = values[0];
  const type = isIndex(code) ? messageTypes[code] : undefined;
  if (type === undefined) throw new MalformedMessageError(`unknown message type ${String(code)}`);
  if (values.length !== headFields + wireFieldCounts[type]) {
    throw new MalformedMessageError(`${type}: ${values.length} fields`);
  }
  const from = index(values, 1, type, 'from');
  const to = index(values, 2, type, 'to');
  const term = index(values, 3, type, 'term');
  switch (type) {
    case 'app': {
      const entries = values[7];
      if (!(entries instanceof Uint8Array)) throw new MalformedMessageError('app: entries is not bytes');
      return {
        type,
        from,
        to,
        term,
        index: index(values, 4, type, 'index'),
        logTerm: index(values, 5, type, 'logTerm'),
        commit: index(values, 6, type, 'commit'),
        entries: decodeEntries(entries),
      };
    }
    case 'appResp':
      return {
        type,
        from,
        to,
        term,
        index: index(values, 4, type, 'index'),
        reject: flag(values, 5, type, 'reject'),
        rejectHint: index(values, 6, type, 'rejectHint'),
        logTermHint: index(values, 7, type, 'logTermHint'),
      };
    case 'vote':
    case 'preVote':
      return {
        type,
        from,
        to,
        term,
        lastIndex: index(values, 4, type, 'lastIndex'),
        lastTerm: index(values, 5, type, 'lastTerm'),
        transfer: flag(values, 6, type, 'transfer'),
      };
    case 'voteResp':
    case 'preVoteResp':
      return { type, from, to, term, reject: flag(values, 4, type, 'reject') };
    case 'heartbeat':
      return {
        type,
        from,
        to,
        term,
        commit: index(values, 4, type, 'commit'),
        round: index(values, 5, type, 'round'),
      };
    case 'heartbeatResp':
      return { type, from, to, term, round: index(values, 4, type, 'round') };
    case 'readIndex':
      return { type, from, to, term, readId: index(values, 4, type, 'readId') };
    case 'readIndexResp': {
      const readIndex = values[5];
      if (readIndex !== -1 && !isIndex(readIndex))
        throw new MalformedMessageError('readIndexResp: bad index');
      return { type, from, to, term, readId: index(values, 4, type, 'readId'), index: readIndex };
    }
    case 'timeoutNow':
      return { type, from, to, term };
    case 'transferLeader':
      return { type, from, to, term, target: index(values, 4, type, 'target') };
  }
}

function index(values: readonly unknown[], at: number, type: MessageType, field: string): number {
  const value = values[at];
  if (!isIndex(value)) throw new MalformedMessageError(`${type}: bad ${field}`);
  return value;
}

function flag(values: readonly unknown[], at: number, type: MessageType, field: string): boolean {
  const value = values[at];
  if (typeof value !== 'boolean') throw new MalformedMessageError(`${type}: bad ${field}`);
  return value;
}

// ---- version 2: each message a map -------------------------------------------------------------

const numberFields: Record<MessageType, readonly string[]> = {
  app: ['index', 'logTerm', 'commit'],
  appResp: ['index', 'rejectHint', 'logTermHint'],
  vote: ['lastIndex', 'lastTerm'],
  preVote: ['lastIndex', 'lastTerm'],
  voteResp: [],
  preVoteResp: [],
  heartbeat: ['commit', 'round'],
  heartbeatResp: ['round'],
  readIndex: ['readId'],
  readIndexResp: ['readId'],
  timeoutNow: [],
  transferLeader: ['target'],
};

const booleanFields: Record<MessageType, readonly string[]> = {
  app: [],
  appResp: ['reject'],
  vote: ['transfer'],
  preVote: ['transfer'],
  voteResp: ['reject'],
  preVoteResp: ['reject'],
  heartbeat: [],
  heartbeatResp: [],
  readIndex: [],
  readIndexResp: [],
  timeoutNow: [],
  transferLeader: [],
};

function validateMapMessage(raw: unknown): Message {
  if (!isRecord(raw)) throw new MalformedMessageError('message is not an object');
  const type = raw.type as MessageType;
  if (!messageTypes.includes(type))
    throw new MalformedMessageError(`unknown message type ${String(raw.type)}`);
  if (!isIndex(raw.from) || !isIndex(raw.to) || !isIndex(raw.term)) {
    throw new MalformedMessageError(`${type}: bad from/to/term`);
  }
  for (const field of numberFields[type]) {
    if (!isIndex(raw[field])) throw new MalformedMessageError(`${type}: bad ${field}`);
  }
  if (type === 'readIndexResp' && !(raw.index === -1 || isIndex(raw.index))) {
    throw new MalformedMessageError('readIndexResp: bad index');
  }
  for (const field of booleanFields[type]) {
    if (typeof raw[field] !== 'boolean') throw new MalformedMessageError(`${type}: bad ${field}`);
  }
  if (type === 'app') {
    if (!(raw.entries instanceof Uint8Array)) throw new MalformedMessageError('app: entries is not bytes');
    raw.entries = decodeEntries(raw.entries);
  }
  return raw as unknown as Message;
}

// ---- entries as one binary block (entry-block.ts) -------------------------------------------------

/**
 * The entries of a received block. The block is copied first, once: a log keeps entries for
 * long, and views of the received frame would pin all of it in memory. Each entry's data is a
 * view of the copy.
 */
export function decodeEntries(received: Uint8Array): Entry[] {
  try {
    return decodeEntryBlock(new Uint8Array(received));
  } catch (error) {
    if (error instanceof EntryBlockError)
      throw new MalformedMessageError(`app: malformed entries (${error.message})`);
    throw error;
  }
}

/** For tests and traces: a one-line description of a message. */
export function describeMessage(message: Message): string {
  const { type, from, to, term, ...rest } = message;
  const details = Object.entries(rest)
    .map(([key, value]) =>
      key === 'entries'
        ? `entries=${(value as Entry[]).map((e) => `${e.index}@${e.term}`).join(',')}`
        : `${key}=${value}`,
    )
    .join(' ');
  return `${from}->${to} ${type} t${term} ${details}`;
}
