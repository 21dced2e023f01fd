// The raft log's write-ahead files (design.md §2, §8): <dataDir>/log/ holds numbered segments,
// each a header and then records appended one after another. A save is one record, written and
// fdatasync'd on the calling thread: where this was measured (2026-11-27), an append and its
// fdatasync took tens of microseconds, less than handing the write to libuv's thread pool and
// being woken when it is done, which cost a follower about a fifth of its CPU per write
// (docs/benchmarks.md; not measured again on a later machine whose sync takes ~240 µs).
//
// A segment: the magic bytes and its format version (segmentHeaderBytes), then records.
// A record: its payload's length (big-endian u32), the payload's CRC-32, the CRC-32 of those first
// eight bytes, then the payload. The header's own CRC tells a damaged length (refused) from an
// append a crash cut short (cut); what a record means is the caller's (LevelStorage).
import {
  closeSync,
  fdatasyncSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  writevSync,
} from 'node:fs';
import { join } from 'node:path';
import { assert } from '../assert.js';
import { readUint32, writeUint32 } from '../big-endian.js';
import { logReadChunkBytes, logRecordBytesMax, logSegmentBytesMax } from '../config.js';
import { crc32 } from './crc32.js';

export const logSegmentFormatVersion = 1;
const segmentMagic = new TextEncoder().encode('raftkv log\n');
export const segmentHeaderBytes = segmentMagic.byteLength + 1;
export const recordHeaderBytes = 12;
const segmentNamePattern = /^(\d{10})\.log$/;

/** Why a log cannot be read: damage (restore from a peer) or a format this build does not read. */
export class LogFileError extends Error {
  override name = 'LogFileError';

  constructor(
    readonly kind: 'damaged' | 'unknown-format',
    message: string,
  ) {
    super(message);
  }
}

/** What opening cut: the end of the newest segment, an append a crash left unfinished. */
export interface TornTail {
  segment: string;
  /** Where the segment now ends. */
  atByte: number;
  bytesCut: number;
}

function segmentName(sequence: number): string {
  return `${String(sequence).padStart(10, '0')}.log`;
}

function segmentHeader(): Uint8Array {
  const header = new Uint8Array(segmentHeaderBytes);
  header.set(segmentMagic);
  header[segmentMagic.byteLength] = logSegmentFormatVersion;
  return header;
}

/** fsync of a directory: a file created or renamed in it survives a crash only after this. */
export function syncDirectory(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The segments in `dir`, oldest first; anything else there is refused as not ours. */
function listSegments(dir: string): { name: string; sequence: number }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new LogFileError('damaged', `the log directory ${dir} is missing`);
  }
  const segments = names.map((name) => {
    const match = segmentNamePattern.exec(name);
    if (!match) throw new LogFileError('damaged', `${join(dir, name)} is not a log segment`);
    return { name, sequence: Number(match[1]) };
  });
  segments.sort((a, b) => a.sequence - b.sequence);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i]!.sequence !== segments[i - 1]!.sequence + 1) {
      throw new LogFileError(
        'damaged',
        `log segment ${segments[i - 1]!.name} is followed by ${segments[i]!.name} in ${dir}: one is missing`,
      );
    }
  }
  return segments;
}

export class LogFile {
  private closed = false;

  private constructor(
    private readonly dir: string,
    private sequence: number,
    private fd: number,
    /** Bytes in the newest segment: where the next record goes. */
    private segmentBytes: number,
    private readonly segmentBytesMax: number,
  ) {}

  /** Makes `dir` (which must not hold segments) with one empty segment, all of it synced. */
  static create(dir: string, segmentBytesMax = logSegmentBytesMax): LogFile {
    mkdirSync(dir, { recursive: true });
    if (readdirSync(dir).length > 0) throw new LogFileError('damaged', `${dir} already holds files`);
    const fd = LogFile.createSegment(dir, 1);
    syncDirectory(join(dir, '..'));
    return new LogFile(dir, 1, fd, segmentHeaderBytes, segmentBytesMax);
  }

  /**
   * Reads every record in order, handing each payload to `visit` (a view that the next read may
   * reuse: copy what you keep). An unfinished record at the very end of the newest segment is cut
   * and reported; any other damage, or a finished record that fails its CRC, is refused.
   */
  static open(
    dir: string,
    visit: (payload: Uint8Array) => void,
    segmentBytesMax = logSegmentBytesMax,
  ): { file: LogFile; cut: TornTail | null } {
    const segments = listSegments(dir);
    if (segments.length === 0) throw new LogFileError('damaged', `${dir} holds no log segment`);
    let cut: TornTail | null = null;
    let last = { fd: -1, bytes: 0 };
    for (const [position, segment] of segments.entries()) {
      const newest = position === segments.length - 1;
      const path = join(dir, segment.name);
      const fd = openSync(path, newest ? 'r+' : 'r');
      try {
        const read = readSegment(fd, path, newest, visit);
        if (read.tornAt !== null) {
          ftruncateSync(fd, read.tornAt);
          fdatasyncSync(fd);
          cut = { segment: path, atByte: read.tornAt, bytesCut: read.fileBytes - read.tornAt };
        }
        if (!newest) closeSync(fd);
        else last = { fd, bytes: read.tornAt ?? read.fileBytes };
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
    const file = new LogFile(dir, segments.at(-1)!.sequence, last.fd, last.bytes, segmentBytesMax);
    return { file, cut };
  }

  /**
   * Appends one record per payload, in order, in one write, and fdatasyncs it when `sync`. Starts
   * a new segment first when these records would take the newest one past segmentBytesMax
   * (logSegmentBytesMax unless a test asks for less).
   * A failed write leaves this LogFile unusable: the caller stops the node (a crash's leftovers
   * are cut at the next open, as a torn tail).
   */
  append(payloads: readonly Uint8Array[], sync: boolean): void {
    assert(!this.closed, 'append to a closed log');
    const buffers: Uint8Array[] = [];
    let total = 0;
    for (const payload of payloads) {
      assert(
        payload.byteLength > 0 && payload.byteLength <= logRecordBytesMax,
        () => `a log record is 1 to ${logRecordBytesMax} bytes, not ${payload.byteLength}`,
      );
      const header = new Uint8Array(recordHeaderBytes);
      writeUint32(header, 0, payload.byteLength);
      writeUint32(header, 4, crc32(payload));
      writeUint32(header, 8, crc32(header.subarray(0, 8)));
      buffers.push(header, payload);
      total += recordHeaderBytes + payload.byteLength;
    }
    if (this.segmentBytes > segmentHeaderBytes && this.segmentBytes + total > this.segmentBytesMax) {
      this.nextSegment();
    }
    let written = 0;
    while (written < total) {
      const count = writevSync(this.fd, remaining(buffers, written), this.segmentBytes + written);
      assert(count > 0, 'writev wrote nothing');
      written += count;
    }
    this.segmentBytes += total;
    if (sync) fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  private nextSegment(): void {
    // Unsynced records (saves with sync false) must not be lost while later ones, synced in the
    // next segment, survive: saves reach the disk in order.
    fdatasyncSync(this.fd);
    const fd = LogFile.createSegment(this.dir, this.sequence + 1);
    closeSync(this.fd);
    this.fd = fd;
    this.sequence += 1;
    this.segmentBytes = segmentHeaderBytes;
  }

  private static createSegment(dir: string, sequence: number): number {
    const fd = openSync(join(dir, segmentName(sequence)), 'wx+');
    try {
      writevSync(fd, [segmentHeader()], 0);
      fdatasyncSync(fd);
      // The new file's name survives a crash only once its directory is synced.
      syncDirectory(dir);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return fd;
  }
}

/** `buffers` without their first `skip` bytes (what a short write left to write). */
function remaining(buffers: readonly Uint8Array[], skip: number): Uint8Array[] {
  if (skip === 0) return buffers as Uint8Array[];
  const rest: Uint8Array[] = [];
  let left = skip;
  for (const buffer of buffers) {
    if (left >= buffer.byteLength) {
      left -= buffer.byteLength;
      continue;
    }
    rest.push(left > 0 ? buffer.subarray(left) : buffer);
    left = 0;
  }
  return rest;
}

/**
 * Reads one segment's records. `tornAt` is where an unfinished last record starts (newest segment
 * only: in an older one it is damage, since a newer segment was started after it).
 */
function readSegment(
  fd: number,
  path: string,
  newest: boolean,
  visit: (payload: Uint8Array) => void,
): { fileBytes: number; tornAt: number | null } {
  const fileBytes = fstatSync(fd).size;
  const damaged = (at: number, reason: string) =>
    new LogFileError('damaged', `log segment ${path} is damaged at byte ${at} (${reason})`);
  const unfinished = (at: number) => {
    if (!newest) throw damaged(at, 'a record is cut short, and a newer segment follows');
    return { fileBytes, tornAt: at };
  };
  const header = new Uint8Array(segmentHeaderBytes);
  const headerRead = readSync(fd, header, 0, segmentHeaderBytes, 0);
  // A segment is created with its header synced before any record goes in.
  if (headerRead < segmentHeaderBytes) throw damaged(0, 'shorter than a segment header');
  for (let i = 0; i < segmentMagic.byteLength; i++) {
    if (header[i] !== segmentMagic[i]) throw damaged(0, 'not a raftkv log segment header');
  }
  const version = header[segmentMagic.byteLength];
  if (version !== logSegmentFormatVersion) {
    throw new LogFileError(
      'unknown-format',
      `log segment ${path} has format ${version}, but this raftkv reads format ${logSegmentFormatVersion}`,
    );
  }
  let chunk = new Uint8Array(0);
  /** Where chunk[0] is in the file. */
  let chunkAt = segmentHeaderBytes;
  let at = segmentHeaderBytes;
  /** Makes chunk hold [at, at + bytes) if the file has them; false at the end of the file. */
  const have = (bytes: number): boolean => {
    if (at + bytes > fileBytes) return false;
    if (at + bytes <= chunkAt + chunk.byteLength) return true;
    const size = Math.max(bytes, Math.min(logReadChunkBytes, fileBytes - at));
    const next = new Uint8Array(size);
    const read = readSync(fd, next, 0, size, at);
    assert(read === size, () => `read ${read} of ${size} bytes of ${path}`);
    chunk = next;
    chunkAt = at;
    return true;
  };
  while (at < fileBytes) {
    if (!have(recordHeaderBytes)) return unfinished(at);
    const offset = at - chunkAt;
    const head = chunk.subarray(offset, offset + recordHeaderBytes);
    if (readUint32(head, 8) !== crc32(head.subarray(0, 8))) {
      // A crash may leave zeros past the last finished record; anything else is damage.
      if (newest && isZeroTail(fd, at, fileBytes)) return unfinished(at);
      throw damaged(at, 'a record header fails its CRC');
    }
    const length = readUint32(head, 0);
    if (length === 0 || length > logRecordBytesMax) throw damaged(at, `a record of ${length} bytes`);
    if (!have(recordHeaderBytes + length)) return unfinished(at);
    const start = at - chunkAt + recordHeaderBytes;
    const payload = chunk.subarray(start, start + length);
    if (readUint32(head, 4) !== crc32(payload)) {
      // A torn write and a damaged record that a quorum acknowledged look the same here, so even
      // the last record is refused rather than cut.
      const last = at + recordHeaderBytes + length === fileBytes;
      throw damaged(
        at,
        `a record fails its CRC${last ? '; it is the last one and may be a torn write' : ''}`,
      );
    }
    visit(payload);
    at += recordHeaderBytes + length;
  }
  return { fileBytes, tornAt: null };
}

/** True when every byte of the file from `from` on is zero. */
function isZeroTail(fd: number, from: number, fileBytes: number): boolean {
  const buffer = new Uint8Array(Math.min(logReadChunkBytes, fileBytes - from));
  for (let at = from; at < fileBytes; at += buffer.byteLength) {
    const read = readSync(fd, buffer, 0, Math.min(buffer.byteLength, fileBytes - at), at);
    for (let i = 0; i < read; i++) if (buffer[i] !== 0) return false;
  }
  return true;
}
