// The messages the consensus core exchanges (etcd style: every message is one-way; an answer
// is another message in the other direction), and the one codec every transport uses.
import { Packr } from 'msgpackr';
import { decodeEntryBlock, EntryBlockError, encodeEntryBlock } from './entry-block.js';

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
 * Version 2 carries an AppendEntries' entries as one binary block (entry-block.ts); version 1
 * carried each entry as a msgpack map, which cost the leader an encoding per entry and peer, and
 * each follower a map, its keys and two buffers per entry to decode.
 */
export const wireFormatVersion = 2;
const previousWireFormatVersion = 1;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeMessages(messages: readonly Message[]): Uint8Array {
  return packr.pack({ v: wireFormatVersion, m: messages.map(toWire) });
}

/** A message as version 1 put it on the wire (entries as a list of maps); tests of that version use it. */
export function encodeMessagesV1(messages: readonly Message[]): Uint8Array {
  return packr.pack({ v: previousWireFormatVersion, m: messages });
}

function toWire(message: Message): unknown {
  return message.type === 'app' ? { ...message, entries: encodeEntryBlock(message.entries) } : message;
}

export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

/** Decodes a batch; anything malformed throws MalformedMessageError (never an assertion). */
export function decodeMessages(bytes: Uint8Array): Message[] {
  let decoded: unknown;
  try {
    decoded = packr.unpack(bytes);
  } catch (error) {
    throw new MalformedMessageError(`undecodable message batch: ${(error as Error).message}`);
  }
  if (
    !isRecord(decoded) ||
    (decoded.v !== wireFormatVersion && decoded.v !== previousWireFormatVersion) ||
    !Array.isArray(decoded.m)
  ) {
    throw new MalformedMessageError('not a message batch of a known version');
  }
  const version = decoded.v;
  return decoded.m.map((raw) => validateMessage(raw, version));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isId(value: unknown): value is number {
  return isIndex(value);
}

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

function validateMessage(raw: unknown, version: number): Message {
  if (!isRecord(raw)) throw new MalformedMessageError('message is not an object');
  const type = raw.type as MessageType;
  if (!messageTypes.includes(type))
    throw new MalformedMessageError(`unknown message type ${String(raw.type)}`);
  if (!isId(raw.from) || !isId(raw.to) || !isIndex(raw.term)) {
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
    if (version === previousWireFormatVersion) {
      if (!Array.isArray(raw.entries)) throw new MalformedMessageError('app: entries is not a list');
      raw.entries.forEach(validateEntry);
      copyPayloads(raw.entries as Entry[]);
    } else {
      if (!(raw.entries instanceof Uint8Array)) throw new MalformedMessageError('app: entries is not bytes');
      raw.entries = decodeEntries(raw.entries);
    }
  }
  return raw as unknown as Message;
}

/**
 * Copies the entries' payloads out of the received buffer, all into one new buffer: a log keeps
 * entries for long, and views of the received one would pin the whole frame in memory. One
 * buffer per message rather than one per entry: a buffer of its own costs an allocation outside
 * the heap and work for the garbage collector.
 */
function copyPayloads(entries: Entry[]): void {
  let totalBytes = 0;
  for (const entry of entries) totalBytes += entry.data.byteLength;
  const payloads = new Uint8Array(totalBytes);
  let offset = 0;
  for (const entry of entries) {
    payloads.set(entry.data, offset);
    entry.data = payloads.subarray(offset, offset + entry.data.byteLength);
    offset += entry.data.byteLength;
  }
}

const entryTypes: readonly EntryType[] = ['normal', 'noop', 'config'];

function validateEntry(raw: unknown): void {
  if (
    !isRecord(raw) ||
    !isIndex(raw.index) ||
    !isIndex(raw.term) ||
    !isIndex(raw.stampMs) ||
    !entryTypes.includes(raw.type as EntryType) ||
    !(raw.data instanceof Uint8Array)
  ) {
    throw new MalformedMessageError('app: malformed entry');
  }
}

// ---- entries as one binary block (wire version 2, see entry-block.ts) ---------------------------

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
