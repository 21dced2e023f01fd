// A block of log entries in one buffer: how an AppendEntries carries its entries on the wire
// (message formats 2 and 3) and how the log keeps each save's entries on disk (group format 1). Both
// formats are this layout: change it only together with a new version of each.
//
// Each entry, one after the other: its type (its position in entryTypes, 1 byte), index, term and
// stampMs (each a big-endian unsigned 64-bit integer, at most 2^53 - 1), the length of its data
// (big-endian unsigned 32-bit) and the data.
import { readUint32, readUint53, writeUint32, writeUint53 } from '../big-endian.js';
import type { Entry, EntryType } from './messages.js';

const entryHeaderBytes = 1 + 3 * 8 + 4;
const entryTypes: readonly EntryType[] = ['normal', 'noop', 'config'];

/** Why a block does not decode; each reader turns it into its own error (malformed message, corrupt log). */
export class EntryBlockError extends Error {
  override name = 'EntryBlockError';
}

export function entryBlockBytes(entries: readonly Entry[]): number {
  let totalBytes = 0;
  for (const entry of entries) totalBytes += entryHeaderBytes + entry.data.byteLength;
  return totalBytes;
}

/** Writes the block of `entries` into `target` at `offset`; returns the offset after it. */
export function writeEntryBlock(entries: readonly Entry[], target: Uint8Array, offset: number): number {
  let position = offset;
  for (const entry of entries) {
    const typeCode = entryTypes.indexOf(entry.type);
    if (typeCode < 0) throw new EntryBlockError(`entry ${entry.index} has unknown type ${entry.type}`);
    target[position] = typeCode;
    writeUint53(target, position + 1, entry.index);
    writeUint53(target, position + 9, entry.term);
    writeUint53(target, position + 17, entry.stampMs);
    writeUint32(target, position + 25, entry.data.byteLength);
    target.set(entry.data, position + entryHeaderBytes);
    position += entryHeaderBytes + entry.data.byteLength;
  }
  return position;
}

export function encodeEntryBlock(entries: readonly Entry[]): Uint8Array {
  const block = new Uint8Array(entryBlockBytes(entries));
  writeEntryBlock(entries, block, 0);
  return block;
}

/**
 * The entries of a block, each entry's data a view of it (no copy: a caller that keeps the entries
 * and not the block's buffer copies the block first). Throws EntryBlockError for a block that is
 * cut short, or has an unknown type or a number above 2^53 - 1.
 */
export function decodeEntryBlock(block: Uint8Array): Entry[] {
  const entries: Entry[] = [];
  let offset = 0;
  while (offset < block.byteLength) {
    if (block.byteLength - offset < entryHeaderBytes) throw new EntryBlockError('an entry is cut short');
    const type = entryTypes[block[offset]!];
    if (type === undefined) throw new EntryBlockError(`unknown entry type ${block[offset]}`);
    const dataStart = offset + entryHeaderBytes;
    const dataEnd = dataStart + readUint32(block, offset + 25);
    if (dataEnd > block.byteLength) throw new EntryBlockError('an entry is cut short');
    entries.push({
      index: readEntryNumber(block, offset + 1),
      term: readEntryNumber(block, offset + 9),
      type,
      stampMs: readEntryNumber(block, offset + 17),
      data: block.subarray(dataStart, dataEnd),
    });
    offset = dataEnd;
  }
  return entries;
}

function readEntryNumber(block: Uint8Array, offset: number): number {
  const value = readUint53(block, offset);
  if (!Number.isSafeInteger(value)) throw new EntryBlockError('an entry number is above 2^53 - 1');
  return value;
}
