// The KV service (design.md §4, §6): put, get, delete, compare-and-set on revision, and prefix
// ranges paginated by key. A revision is the log index of the entry that wrote it.
//
// Deleting an absent key succeeds with `deleted: false` (etcd answers deleted: 0): a delete asks
// for the key to be gone, and it is. Its revision is still the entry's index, the point in the
// log where the delete was ordered, though no key has that modRevision.

import { Packr } from 'msgpackr';
import { assert } from '../assert.js';
import { readUint53, writeUint53 } from '../big-endian.js';
import { RaftkvError } from '../errors.js';
import { unpackThroughView } from '../unpack-view.js';
import { type KvCommand, type KvDeleteCommand, type KvPutCommand, validateEnvelope } from './commands.js';
import { compareBytes, keyBytes, keySuccessor, prefixUpperBound } from './keys.js';
import {
  kvKeyBytesMax,
  kvRangeItemsDefault,
  kvRangeItemsMax,
  kvValueBytesMax,
  kvValueDepthMax,
} from './limits.js';
import type { ApplyContext, Service } from './service.js';
import type { StateReader } from './state-store.js';

/** What a KV record says of its key's history. */
export interface KvRevisions {
  /** The revision that created the key (since it was last absent). */
  createRevision: number;
  /** The revision of the last write: createRevision <= modRevision. */
  modRevision: number;
  /** Writes since the key was created: 1 after the first put. */
  version: number;
}

export interface KvRecord extends KvRevisions {
  value: unknown;
}

export interface KvItem extends KvRecord {
  key: string;
}

export interface KvPutResult {
  revision: number;
}

export interface KvDeleteResult {
  revision: number;
  deleted: boolean;
}

export interface KvRangeOptions {
  /** Only keys that start with this (all keys when empty or absent). */
  prefix?: string;
  /** Only keys after this one: the last key of the previous page. */
  after?: string;
  limit?: number;
}

export interface KvRangePage {
  items: KvItem[];
  /** True when keys beyond this page match: ask again with `after` = the last item's key. */
  more: boolean;
}

/**
 * Version of the stored record format; a node reads this version and the one before.
 * Version 2: the format byte (2), then createRevision, modRevision and version, each a big-endian
 * unsigned 64-bit integer (at most 2^53 - 1), then the value as msgpack. A put or delete reads
 * only the header of the record it replaces, never its value.
 * Version 1 was a msgpack map { v: 1, value, createRevision, modRevision, version }: its first
 * byte is a msgpack map's, never 2.
 */
const kvRecordFormatVersion = 2;
const previousKvRecordFormatVersion = 1;
const recordHeaderBytes = 1 + 3 * 8;
const packr = new Packr({ useRecords: false, moreTypes: false });
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export const kvService: Service<KvCommand> = {
  name: 'kv',
  version: kvRecordFormatVersion,
  namespace: 'kv/',
  commandKinds: ['kv.put', 'kv.delete'],
  validate: validateKvCommand,
  apply: (command, context) =>
    command.kind === 'kv.put' ? applyPut(command, context) : applyDelete(command, context),
  keysTouched: (command) => [command.key],
};

export function validateKvCommand(command: KvCommand): void {
  validateEnvelope(command);
  validateKvKey(command.key);
  if (
    command.ifRevision !== undefined &&
    !(Number.isSafeInteger(command.ifRevision) && command.ifRevision >= 0)
  ) {
    throw new RaftkvError('INVALID_REVISION');
  }
  if (command.kind === 'kv.put') validateKvValue(command.value);
}

function validateKvKey(key: string): void {
  if (key.length === 0) throw new RaftkvError('INVALID_KEY', 'The key is empty');
  validateKeyText(key, 'key');
}

/** Keys must be valid UTF-8 (no lone surrogates) so that they survive the trip through bytes. */
function validateKeyText(text: string, what: string): void {
  if (/\p{Surrogate}/u.test(text)) throw new RaftkvError('INVALID_KEY', `The ${what} is not valid UTF-8`);
  if (Buffer.byteLength(text) > kvKeyBytesMax) {
    throw new RaftkvError('INVALID_KEY', `The ${what} is longer than ${kvKeyBytesMax} bytes`);
  }
}

/** JSON writes a UTF-16 code unit as at most 6 bytes (\uXXXX), plus 2 for the quotes. */
const jsonBytesPerCharMax = 6;

function validateKvValue(value: unknown): void {
  // A short string (the common value) is within the limit whatever its characters: no walk and
  // no JSON text to measure, on the request path and again in every node's apply.
  if (typeof value === 'string' && value.length * jsonBytesPerCharMax + 2 <= kvValueBytesMax) return;
  checkIsJson(value);
  if (Buffer.byteLength(JSON.stringify(value)) > kvValueBytesMax) {
    throw new RaftkvError('VALUE_TOO_LARGE', `The value is larger than ${kvValueBytesMax} bytes of JSON`);
  }
}

/** Walks the value without recursion (a value from the log may nest arbitrarily deep). */
function checkIsJson(value: unknown): void {
  const pending: { item: unknown; depth: number }[] = [{ item: value, depth: 0 }];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { item, depth } = next;
    if (item === null || typeof item === 'boolean' || typeof item === 'string') continue;
    if (typeof item === 'number' && Number.isFinite(item)) continue;
    if (!Array.isArray(item) && !isPlainObject(item))
      throw new RaftkvError('BAD_REQUEST', 'The value is not JSON');
    if (depth >= kvValueDepthMax) {
      throw new RaftkvError('INVALID_ARGUMENT', `The value nests deeper than ${kvValueDepthMax} levels`);
    }
    // msgpack cannot carry an own "__proto__" key faithfully: refuse it rather than alter the value.
    if (Object.hasOwn(item, '__proto__'))
      throw new RaftkvError('BAD_REQUEST', 'The value has a __proto__ key');
    for (const child of Object.values(item)) pending.push({ item: child, depth: depth + 1 });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function applyPut(command: KvPutCommand, { index, state }: ApplyContext): KvPutResult {
  const current = readRevisions(state, command.key);
  checkRevision(command, current);
  assert(current === undefined || current.modRevision < index, 'revisions increase along the log');
  const revisions: KvRevisions = {
    createRevision: current?.createRevision ?? index,
    modRevision: index,
    version: (current?.version ?? 0) + 1,
  };
  state.put(command.key, encodeRecord(revisions, command.value));
  return { revision: index };
}

function applyDelete(command: KvDeleteCommand, { index, state }: ApplyContext): KvDeleteResult {
  const current = readRevisions(state, command.key);
  checkRevision(command, current);
  if (current !== undefined) state.delete(command.key);
  return { revision: index, deleted: current !== undefined };
}

function checkRevision(command: KvCommand, current: KvRevisions | undefined): void {
  if (command.ifRevision === undefined) return;
  // An absent key has modRevision 0, which is why ifRevision 0 means "only if absent".
  const modRevision = current?.modRevision ?? 0;
  if (command.ifRevision !== modRevision)
    throw new RaftkvError('REVISION_MISMATCH', undefined, { modRevision });
}

function readRecord(state: StateReader, key: string): KvRecord | undefined {
  const bytes = state.get(key);
  return bytes === undefined ? undefined : decodeRecord(bytes);
}

function readRevisions(state: StateReader, key: string): KvRevisions | undefined {
  const bytes = state.get(key);
  return bytes === undefined ? undefined : decodeRevisions(bytes);
}

function encodeRecord(revisions: KvRevisions, value: unknown): Uint8Array {
  const packedValue = packr.pack(value);
  const record = new Uint8Array(recordHeaderBytes + packedValue.byteLength);
  record[0] = kvRecordFormatVersion;
  writeUint53(record, 1, revisions.createRevision);
  writeUint53(record, 9, revisions.modRevision);
  writeUint53(record, 17, revisions.version);
  record.set(packedValue, recordHeaderBytes);
  return record;
}

/** A record's revisions; of a version 2 record, from its header alone. */
function decodeRevisions(bytes: Uint8Array): KvRevisions {
  if (bytes[0] !== kvRecordFormatVersion) return decodeRecord(bytes);
  assert(bytes.byteLength > recordHeaderBytes, 'a KV record is longer than its header');
  return {
    createRevision: readUint53(bytes, 1),
    modRevision: readUint53(bytes, 9),
    version: readUint53(bytes, 17),
  };
}

function decodeRecord(bytes: Uint8Array): KvRecord {
  if (bytes[0] === kvRecordFormatVersion) {
    return { value: packr.unpack(bytes.subarray(recordHeaderBytes)), ...decodeRevisions(bytes) };
  }
  const { v, value, createRevision, modRevision, version } = unpackThroughView(packr, bytes) as KvRecord & {
    v: unknown;
  };
  assert(v === previousKvRecordFormatVersion, () => `unknown KV record format ${String(v)}`);
  return { value, createRevision, modRevision, version };
}

/** Reads one key of `state` (the KV namespace); throws INVALID_KEY for a key no put could write. */
export function kvGet(state: StateReader, key: string): KvItem | undefined {
  validateKvKey(key);
  const record = readRecord(state, key);
  return record === undefined ? undefined : { key, ...record };
}

/** One page of the keys of `state` (the KV namespace) under a prefix, in byte order of key. */
export async function kvRange(state: StateReader, options: KvRangeOptions): Promise<KvRangePage> {
  const { prefix = '', after, limit = kvRangeItemsDefault } = options;
  validateKeyText(prefix, 'prefix');
  if (after !== undefined) validateKeyText(after, 'after key');
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > kvRangeItemsMax) {
    throw new RaftkvError('INVALID_ARGUMENT', `limit must be an integer from 1 to ${kvRangeItemsMax}`);
  }
  const prefixBytes = keyBytes(prefix);
  const afterSuccessor = after === undefined ? prefixBytes : keySuccessor(keyBytes(after));
  const start = compareBytes(afterSuccessor, prefixBytes) > 0 ? afterSuccessor : prefixBytes;
  const items: KvItem[] = [];
  // One record beyond the page tells whether there are more.
  for await (const { key, value } of state.iterate({
    gte: start,
    lt: prefixUpperBound(prefixBytes),
    limit: limit + 1,
  })) {
    items.push({ key: utf8Decoder.decode(key), ...decodeRecord(value) });
  }
  const more = items.length > limit;
  if (more) items.pop();
  return { items, more };
}
