// The durable log of a real node: entries, hard state, snapshot meta and the node's identity in
// one LevelDB (classic-level) at <dataDir>/db, each save one fsync'd batch (design.md §2, §8).
// The entries of each save are one record (a group, keyed by its first index): one LevelDB key
// per save rather than per entry, which halves the keys LevelDB inserts and compacts per write.
// The state machine shares the DB: its keys start with stateMachinePrefix and it writes its own
// batches. Reads are served from memory (MirroredDurableStorage), so the whole log is held in
// memory and grows with it until snapshots compact it (a later issue).
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { assert } from '../assert.js';
import { readUint32, readUint53, writeUint32, writeUint53 } from '../big-endian.js';
import { ByteArena } from '../byte-arena.js';
import {
  defaultStorageWriteBufferMib,
  storageWriteBufferMibMax,
  storageWriteBufferStaggerFraction,
} from '../config.js';
import { decodeEntryBlock, EntryBlockError, entryBlockBytes, writeEntryBlock } from '../raft/entry-block.js';
import type { Entry, EntryType, HardState, NodeId } from '../raft/messages.js';
import { type ConfigState, emptyHardState, MemoryStorage, type SnapshotMeta } from '../raft/storage.js';
import { crc32 } from './crc32.js';
import { MirroredDurableStorage, StorageError, type StorageUpdate } from './durable-storage.js';
import {
  type BytesLevel,
  bytesLevelOptions,
  type LevelWrite,
  readBatches,
  writeLevelBatch,
} from './level-batch.js';
import { liveTables, verifyLevelDbTables } from './leveldb-verify.js';

/**
 * The layout of the whole data directory, kept in its identity record. Format 2 keeps the log in
 * groups ('g/' keys); format 1 kept one record per entry ('l/' keys). A format 1 directory is
 * read, marked format 2 when opened, and its per-entry records stay until a save overwrites them.
 */
export const storageFormatVersion = 2;
const previousStorageFormatVersion = 1;
/** The layout of one stored entry of storage format 1, kept in the entry's own bytes. */
export const entryFormatVersion = 1;
/** The layout of one group record, kept in its own bytes. */
export const groupFormatVersion = 1;
/** Every key the state machine writes starts with these bytes (UTF-8); no key of LevelStorage does. */
export const stateMachinePrefix = 's/';
/** Stored records (entries or groups) read from LevelDB at once while loading the log at start. */
export const logLoadBatchEntries = 1024;

/** 1/φ: the multiples of it, modulo 1, spread evenly over [0, 1) whatever how many are taken. */
const goldenRatioConjugate = (Math.sqrt(5) - 1) / 2;

/**
 * One node's LevelDB write buffer, in bytes: between (1 - storageWriteBufferStaggerFraction) and
 * all of `writeBufferMib`, spread by node id. Replicas write the same entries in the same order:
 * with one size for all, every replica would fill its memtable, write it out as a table and then
 * compact at the same moment, so the whole quorum would be slow at once (on one machine, as in a
 * local cluster, five such bursts land together: at 64 clients, the writes that met one took 50 to
 * 100 ms, against a p99 of 25 to 30 ms).
 * Consecutive ids get sizes far apart: the fractional parts of multiples of 1/φ.
 */
export function writeBufferBytes(writeBufferMib: number, nodeId: NodeId): number {
  const spread = (nodeId * goldenRatioConjugate) % 1;
  return Math.round(writeBufferMib * 1024 * 1024 * (1 - storageWriteBufferStaggerFraction * spread));
}

/** Opened with 'view' (bytes) as its default key and value encodings. */
export type LevelDb = BytesLevel;

export interface LevelStorageOptions {
  nodeId: NodeId;
  /** A hash of the cluster token and the member ids (design.md §6). */
  clusterId: string;
  /** The configuration written into a new data directory; an existing one keeps its own. */
  initialConfig: ConfigState;
  /** LevelDB's write buffer in MiB; defaultStorageWriteBufferMib when absent. */
  writeBufferMib?: number;
}

export class LevelStorage extends MirroredDurableStorage {
  readonly stateMachinePrefix = stateMachinePrefix;
  /**
   * Test-only (--test-lazy-storage, and the diskDelayMs fault): each write waits this long in
   * process memory before it reaches LevelDB, like data that is written but not yet fsync'd.
   * SIGKILL in that window loses it, as a power cut would (the idea of Jepsen's LazyFS).
   */
  unsyncedHoldMs = 0;

  /** The first index of each group record, ascending; a group runs to the next one's first index. */
  private readonly groupFirstIndexes: number[];
  /** The last index held in a per-entry record of storage format 1 (below every group); 0 if none. */
  private perEntryLastIndex: number;

  private constructor(
    /** Shared with the state machine; closed by close(), so close the state machine first. */
    readonly db: LevelDb,
    readonly dataDir: string,
    /** True when this open created the data directory: the node is bootstrapping (design.md §8). */
    readonly isNew: boolean,
    mirror: MemoryStorage,
    layout: LogLayout,
  ) {
    super(mirror);
    this.groupFirstIndexes = layout.groupFirstIndexes;
    this.perEntryLastIndex = layout.perEntryLastIndex;
  }

  /** Opens (or creates) the data directory, refusing one that is not this node's or fails a check. */
  static async open(dataDir: string, options: LevelStorageOptions): Promise<LevelStorage> {
    const writeBufferMib = options.writeBufferMib ?? defaultStorageWriteBufferMib;
    assert(
      Number.isInteger(writeBufferMib) && writeBufferMib >= 1 && writeBufferMib <= storageWriteBufferMibMax,
      () => `the write buffer must be 1 to ${storageWriteBufferMibMax} MiB, not ${writeBufferMib}`,
    );
    const db = await openDb(dataDir, writeBufferBytes(writeBufferMib, options.nodeId));
    try {
      const isNew = await checkIdentity(db, dataDir, options);
      const { mirror, layout } = await loadMirror(db, dataDir);
      return new LevelStorage(db, dataDir, isNew, mirror, layout);
    } catch (error) {
      await db.close();
      throw explainCorruption(error, dataDir);
    }
  }

  protected async persist(update: StorageUpdate): Promise<void> {
    const { writes, groupsKept } = this.logWritesFor(update);
    if (writes.length === 0) return;
    if (this.unsyncedHoldMs > 0) await new Promise((resolve) => setTimeout(resolve, this.unsyncedHoldMs));
    try {
      await writeLevelBatch(this.db, writes, update.sync !== false);
    } catch (error) {
      throw new StorageError(
        'STORAGE_FAILED',
        `writing the log in ${this.dataDir} failed, and a failed write is never retried: stop the node (${describeError(error)})`,
        { cause: error },
      );
    }
    const first = update.entries[0]?.index;
    if (first === undefined) return;
    this.groupFirstIndexes.length = groupsKept;
    this.groupFirstIndexes.push(first);
    this.perEntryLastIndex = Math.min(this.perEntryLastIndex, first - 1);
  }

  protected release(): Promise<void> {
    return this.db.close();
  }

  /**
   * The writes of one save, and how many of the held groups stay. The update's entries become one
   * group; held entries from its first index on are overwritten (a new leader's suffix): their
   * groups and per-entry records are deleted, and a group that runs into them is written again
   * without them, all in the same batch.
   */
  private logWritesFor(update: StorageUpdate): { writes: LevelWrite[]; groupsKept: number } {
    const writes: LevelWrite[] = [];
    const groups = this.groupFirstIndexes;
    let groupsKept = groups.length;
    const first = update.entries[0]?.index;
    if (first !== undefined) {
      const heldLastIndex = this.mirror.lastIndex();
      if (first <= heldLastIndex) {
        for (let index = first; index <= this.perEntryLastIndex; index++) {
          writes.push({ type: 'del', key: logKey(index) });
        }
        while (groupsKept > 0 && groups[groupsKept - 1]! >= first) {
          groupsKept -= 1;
          writes.push({ type: 'del', key: groupKey(groups[groupsKept]!) });
        }
        const cut = groups[groupsKept - 1];
        const cutEnd = groupsKept < groups.length ? groups[groupsKept]! : heldLastIndex + 1;
        if (cut !== undefined && cutEnd > first) {
          const kept = this.mirror.entries(cut, first, Number.POSITIVE_INFINITY);
          writes.push({ type: 'put', key: groupKey(cut), value: encodeGroup(kept) });
        }
      }
      writes.push({ type: 'put', key: groupKey(first), value: encodeGroup(update.entries) });
    }
    if (update.hardState) {
      writes.push({ type: 'put', key: hardStateKey, value: encodeHardState(update.hardState) });
    }
    return { writes, groupsKept };
  }
}

// ---- opening -----------------------------------------------------------------------------

/**
 * Opens the database and checks it: LevelDB recovers its write-ahead log (and says in LOG what
 * it had to skip), and every table its current version uses is checked block by block against
 * its checksums and its size (LevelDB checks them on reads only when asked, and classic-level
 * cannot ask). Partial tables that a compaction cut short by a crash left behind are not in
 * the version: LevelDB never reads them and deletes them.
 */
async function openDb(dataDir: string, writeBufferSize: number): Promise<LevelDb> {
  await mkdir(dataDir, { recursive: true });
  const db = await openDbOnce(dataDir, writeBufferSize);
  try {
    const dropped = await droppedOnRecovery(join(dataDir, 'db'));
    if (dropped !== null) {
      throw new StorageError(
        'DATA_CORRUPT',
        `LevelDB's write-ahead log in ${dataDir} is damaged: on recovery it skipped a damaged part (${dropped}), ` +
          `so writes after it may be missing: ${restoreAdvice(dataDir)}`,
      );
    }
    const live = liveTables(db.getProperty('leveldb.sstables'));
    const damage = await verifyLevelDbTables(join(dataDir, 'db'), live);
    if (damage !== null) {
      throw new StorageError(
        'DATA_CORRUPT',
        `LevelDB table ${damage.file} in ${dataDir} is damaged (${damage.reason}): ${restoreAdvice(dataDir)}`,
      );
    }
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

async function openDbOnce(dataDir: string, writeBufferSize: number): Promise<LevelDb> {
  const db: LevelDb = new ClassicLevel(join(dataDir, 'db'), {
    ...bytesLevelOptions,
    writeBufferSize,
  });
  try {
    await db.open();
  } catch (error) {
    // LevelDB's LOCK file: held by another process, or by another open storage in this one.
    if (error instanceof Error && errorCode(error.cause) === 'LEVEL_LOCKED') {
      throw new StorageError(
        'DATA_DIR_IN_USE',
        `data directory ${dataDir} is in use by another raftkv process: stop it, or give this node its own --data-dir`,
        { cause: error },
      );
    }
    const explained = explainCorruption(error, dataDir);
    if (explained !== error) throw explained;
    const reason = describeError(error);
    throw new StorageError('STORAGE_FAILED', `cannot open the database in ${dataDir}: ${reason}`, {
      cause: error,
    });
  }
  return db;
}

/**
 * LevelDB recovers its write-ahead log past a damaged block by skipping it and saying so only in
 * its LOG file (classic-level cannot turn on paranoid_checks). A torn tail from a crash is not
 * reported there; damage in the middle is, and it may have taken writes that later ones build on
 * (a state record whose applied index survived). LOG is rewritten at each open, so what it holds
 * is this open's recovery.
 */
async function droppedOnRecovery(dbDir: string): Promise<string | null> {
  let log: string;
  try {
    log = await readFile(join(dbDir, 'LOG'), 'utf8');
  } catch {
    return null;
  }
  const match = /dropping \d+ bytes;[^\n]*/.exec(log);
  return match ? match[0] : null;
}

/** Checks the data directory is this node's of this cluster, creating it when empty; true if created. */
async function checkIdentity(db: LevelDb, dataDir: string, options: LevelStorageOptions): Promise<boolean> {
  const stored = await db.get(identityKey);
  if (stored === undefined) {
    await createDataDir(db, dataDir, options);
    return true;
  }
  const identity = decodeRecord(stored, 'identity', dataDir);
  if (
    identity.formatVersion !== storageFormatVersion &&
    identity.formatVersion !== previousStorageFormatVersion
  ) {
    throw new StorageError(
      'UNKNOWN_FORMAT',
      `data directory ${dataDir} has storage format ${String(identity.formatVersion)}, but this raftkv reads ` +
        `format ${storageFormatVersion}: run a raftkv that reads it, or restore this node from a peer`,
    );
  }
  if (identity.clusterId !== options.clusterId) {
    throw new StorageError(
      'WRONG_CLUSTER',
      `data directory ${dataDir} belongs to cluster ${String(identity.clusterId)}, not ${options.clusterId}: ` +
        'check --cluster-token and --members, or use another --data-dir',
    );
  }
  if (identity.nodeId !== options.nodeId) {
    throw new StorageError(
      'WRONG_NODE',
      `data directory ${dataDir} belongs to node ${String(identity.nodeId)}, not node ${options.nodeId}: ` +
        'start with the --id it was created with, or use another --data-dir',
    );
  }
  if (identity.formatVersion === previousStorageFormatVersion) {
    // Format 2 reads format 1's records; from now on groups are written, which format 1 cannot read.
    const upgraded = { ...identity, formatVersion: storageFormatVersion };
    await writeLevelBatch(db, [{ type: 'put', key: identityKey, value: recordPackr.pack(upgraded) }], true);
  }
  return false;
}

async function createDataDir(db: LevelDb, dataDir: string, options: LevelStorageOptions): Promise<void> {
  const anyKey = await db.keys({ limit: 1 }).all();
  if (anyKey.length > 0) {
    throw new StorageError(
      'DATA_CORRUPT',
      `data directory ${dataDir} holds data but no raftkv identity: use another --data-dir, or ${restoreAdvice(dataDir)}`,
    );
  }
  const identity = {
    formatVersion: storageFormatVersion,
    clusterId: options.clusterId,
    nodeId: options.nodeId,
  };
  const snapshotMeta: SnapshotMeta = { index: 0, term: 0, config: options.initialConfig };
  const writes: LevelWrite[] = [
    { type: 'put', key: identityKey, value: recordPackr.pack(identity) },
    { type: 'put', key: hardStateKey, value: encodeHardState(emptyHardState) },
    { type: 'put', key: snapshotMetaKey, value: encodeSnapshotMeta(snapshotMeta) },
  ];
  await writeLevelBatch(db, writes, true);
}

/** Where the log's records are: what LevelStorage needs to know to overwrite a suffix. */
interface LogLayout {
  groupFirstIndexes: number[];
  perEntryLastIndex: number;
}

/** Reads everything the Storage reads serve, checking every entry, into a new mirror. */
async function loadMirror(
  db: LevelDb,
  dataDir: string,
): Promise<{ mirror: MemoryStorage; layout: LogLayout }> {
  const hardState = decodeHardState(await db.get(hardStateKey), dataDir);
  const snapshotMeta = decodeSnapshotMeta(await db.get(snapshotMetaKey), dataDir);
  // Until snapshots arrive (a later issue) nothing is compacted, and the mirror starts at 0.
  assert(
    snapshotMeta.index === 0,
    () => `snapshot at ${snapshotMeta.index}: this build cannot load snapshots`,
  );
  const { entries, layout } = await loadLog(db, dataDir, snapshotMeta);
  const lastIndex = entries.at(-1)?.index ?? snapshotMeta.index;
  if (hardState.commit > lastIndex) {
    throw new StorageError(
      'DATA_CORRUPT',
      `the log in ${dataDir} ends at ${lastIndex} but index ${hardState.commit} was committed: ` +
        `committed entries are missing: ${restoreAdvice(dataDir)}`,
    );
  }
  const mirror = new MemoryStorage(snapshotMeta.config);
  mirror.setHardState(hardState);
  mirror.append(entries);
  return { mirror, layout };
}

/**
 * Reads the log in order, checking every entry: CRC and format, indices contiguous after the
 * snapshot, terms never falling. Per-entry records (storage format 1) come first, then groups.
 * Records are read a batch at a time (not all at once: at a million entries the stored form alone
 * would double the memory the log needs), and each entry's data is copied into an arena, so no
 * LevelDB value stays alive behind it.
 */
async function loadLog(
  db: LevelDb,
  dataDir: string,
  snapshotMeta: SnapshotMeta,
): Promise<{ entries: Entry[]; layout: LogLayout }> {
  const entries: Entry[] = [];
  const arena = new ByteArena();
  let previous = { index: snapshotMeta.index, term: snapshotMeta.term };
  const accept = (entry: Entry) => {
    if (entry.index !== previous.index + 1) {
      throw new StorageError(
        'DATA_CORRUPT',
        `the log in ${dataDir} has a gap: entry ${entry.index} follows entry ${previous.index}: ${restoreAdvice(dataDir)}`,
      );
    }
    if (entry.term < previous.term) {
      throw new StorageError(
        'DATA_CORRUPT',
        `log entry ${entry.index} has term ${entry.term}, below term ${previous.term} of the entry before it: ` +
          restoreAdvice(dataDir),
      );
    }
    entry.data = arena.copy(entry.data);
    entries.push(entry);
    previous = entry;
  };
  await forEachRecord(db, logKey(0), logKey(Number.MAX_SAFE_INTEGER), ([key, bytes], isLast) => {
    accept(decodeStoredEntry(bytes, keyIndex(logKeyPrefix, key), isLast, dataDir));
  });
  const perEntryLastIndex = entries.at(-1)?.index ?? 0;
  const groupFirstIndexes: number[] = [];
  await forEachRecord(db, groupKey(0), groupKey(Number.MAX_SAFE_INTEGER), ([key, bytes], isLast) => {
    const firstIndex = keyIndex(groupKeyPrefix, key);
    for (const entry of decodeGroup(bytes, firstIndex, isLast, dataDir)) accept(entry);
    groupFirstIndexes.push(firstIndex);
  });
  return { entries, layout: { groupFirstIndexes, perEntryLastIndex } };
}

/**
 * Calls `visit` with each record in [gte, lte], in key order, telling it whether the record is the
 * last: each is visited once the next is read.
 */
async function forEachRecord(
  db: LevelDb,
  gte: Uint8Array,
  lte: Uint8Array,
  visit: (record: [Uint8Array, Uint8Array], isLast: boolean) => void,
): Promise<void> {
  let unvisited: [Uint8Array, Uint8Array] | undefined;
  for await (const batch of readBatches(db, { gte, lte }, logLoadBatchEntries)) {
    for (const record of batch) {
      if (unvisited) visit(unvisited, false);
      unvisited = record;
    }
  }
  if (unvisited) visit(unvisited, true);
}

function decodeStoredEntry(bytes: Uint8Array, index: number, isLast: boolean, dataDir: string): Entry {
  const corrupt = (reason: string, note = '') =>
    new StorageError(
      'DATA_CORRUPT',
      `log entry ${index} is corrupt (${reason})${note}: ${restoreAdvice(dataDir)}`,
    );
  const defect = entryDefect(bytes);
  if (defect !== null) {
    // A torn write and a damaged entry that a quorum acknowledged look the same here, so even
    // the last entry is reported rather than cut.
    throw corrupt(
      defect,
      isLast ? ' and is the last entry: it may be a torn write, which cannot be told apart' : '',
    );
  }
  const formatVersion = bytes[entryOffset.version];
  if (formatVersion !== entryFormatVersion) {
    throw new StorageError(
      'UNKNOWN_FORMAT',
      `log entry ${index} in ${dataDir} has entry format ${formatVersion}, but this raftkv reads ` +
        `format ${entryFormatVersion}: run a raftkv that reads it`,
    );
  }
  const typeCode = bytes[entryOffset.type]!;
  if (entryTypeCodes[typeCode] === undefined) throw corrupt(`unknown entry type ${typeCode}`);
  const entry = decodeEntry(bytes);
  if (entry.index !== index) throw corrupt(`it holds entry ${entry.index}`);
  return entry;
}

/**
 * LevelDB's own checks (a damaged block, a bad table) surface as bare "Corruption: ..." errors:
 * they get the same advice as ours.
 */
export function explainCorruption(error: unknown, dataDir: string): unknown {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const fromLevelDb =
    code === 'LEVEL_CORRUPTION' || (typeof message === 'string' && message.startsWith('Corruption'));
  if (error instanceof StorageError || !fromLevelDb) return error;
  return new StorageError(
    'DATA_CORRUPT',
    `LevelDB in ${dataDir} reports damage (${String(message)}): ${restoreAdvice(dataDir)}`,
    {
      cause: error,
    },
  );
}

function restoreAdvice(dataDir: string): string {
  return `restore this node from a peer: stop it, move ${dataDir} aside, and add it back as a new member (learner first)`;
}

// ---- keys --------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const identityKey = utf8.encode('i');
const hardStateKey = utf8.encode('h');
const snapshotMetaKey = utf8.encode('m');
const logKeyPrefix = utf8.encode('l/');
const uint53Bytes = 8;

const groupKeyPrefix = utf8.encode('g/');

/** `prefix` + an index as a big-endian 64-bit integer, so byte order is index order. */
function indexKey(prefix: Uint8Array, index: number): Uint8Array {
  const key = new Uint8Array(prefix.byteLength + uint53Bytes);
  key.set(prefix);
  writeUint53(key, prefix.byteLength, index);
  return key;
}

function keyIndex(prefix: Uint8Array, key: Uint8Array): number {
  return readUint53(key, prefix.byteLength);
}

/** Where storage format 1 kept an entry: 'l/' + its index. */
function logKey(index: number): Uint8Array {
  return indexKey(logKeyPrefix, index);
}

/** Where a group is kept: 'g/' + its first index. */
function groupKey(firstIndex: number): Uint8Array {
  return indexKey(groupKeyPrefix, firstIndex);
}

// ---- groups ------------------------------------------------------------------------------

/**
 * A group record: its CRC (4 bytes, big-endian, over every byte after itself), its format (1
 * byte), then its entries as a block (raft/entry-block.ts).
 */
const groupHeaderBytes = 5;

function encodeGroup(entries: readonly Entry[]): Uint8Array {
  const bytes = new Uint8Array(groupHeaderBytes + entryBlockBytes(entries));
  bytes[4] = groupFormatVersion;
  writeEntryBlock(entries, bytes, groupHeaderBytes);
  writeUint32(bytes, 0, crc32(bytes.subarray(4)));
  return bytes;
}

/** The entries of a stored group, checked: CRC, format, and a first entry at its key's index. */
function decodeGroup(bytes: Uint8Array, firstIndex: number, isLast: boolean, dataDir: string): Entry[] {
  const corrupt = (reason: string) =>
    new StorageError(
      'DATA_CORRUPT',
      `the log entries saved together from entry ${firstIndex} on are corrupt (${reason})` +
        // A torn write and damage to a group that a quorum acknowledged look the same here, so
        // even the last group is reported rather than cut.
        (isLast ? ' and are the last ones: it may be a torn write, which cannot be told apart' : '') +
        `: ${restoreAdvice(dataDir)}`,
    );
  if (bytes.byteLength <= groupHeaderBytes) throw corrupt(`${bytes.byteLength} bytes, no entries`);
  if (readUint32(bytes, 0) !== crc32(bytes.subarray(4))) throw corrupt('CRC mismatch');
  if (bytes[4] !== groupFormatVersion) {
    throw new StorageError(
      'UNKNOWN_FORMAT',
      `the log entries saved together from entry ${firstIndex} in ${dataDir} have group format ${bytes[4]}, ` +
        `but this raftkv reads format ${groupFormatVersion}: run a raftkv that reads it`,
    );
  }
  let entries: Entry[];
  try {
    entries = decodeEntryBlock(bytes.subarray(groupHeaderBytes));
  } catch (error) {
    if (error instanceof EntryBlockError) throw corrupt(error.message);
    throw error;
  }
  if (entries[0]!.index !== firstIndex) throw corrupt(`its first entry is ${entries[0]!.index}`);
  return entries;
}

// ---- stored entries ----------------------------------------------------------------------

/**
 * Where each field of a stored entry starts (big-endian integers), data running to the end.
 * The CRC covers every byte after itself, so a damaged header or payload is caught alike.
 */
const entryOffset = {
  crc: 0,
  version: 4,
  type: 5,
  index: 6,
  term: 6 + uint53Bytes,
  stampMs: 6 + 2 * uint53Bytes,
  data: 6 + 3 * uint53Bytes,
} as const;

/** An entry's type is stored as its position in this list. */
const entryTypeCodes: readonly EntryType[] = ['normal', 'noop', 'config'];

function encodedEntryBytes(entry: Entry): number {
  return entryOffset.data + entry.data.byteLength;
}

/**
 * The key and value storage format 1 kept an entry under. Nothing writes them any more: tests of
 * reading a format 1 directory do.
 */
export function storedEntryOfFormat1(entry: Entry): [Uint8Array, Uint8Array] {
  const value = new Uint8Array(encodedEntryBytes(entry));
  encodeEntryInto(entry, value);
  return [logKey(entry.index), value];
}

/** Writes the stored form of `entry` into `bytes`, which is exactly encodedEntryBytes(entry) long. */
function encodeEntryInto(entry: Entry, bytes: Uint8Array): void {
  const typeCode = entryTypeCodes.indexOf(entry.type);
  assert(typeCode >= 0, () => `entry ${entry.index} has unknown type ${entry.type}`);
  assert(bytes.byteLength === encodedEntryBytes(entry), 'an entry is encoded into exactly its size');
  bytes[entryOffset.version] = entryFormatVersion;
  bytes[entryOffset.type] = typeCode;
  writeUint53(bytes, entryOffset.index, entry.index);
  writeUint53(bytes, entryOffset.term, entry.term);
  writeUint53(bytes, entryOffset.stampMs, entry.stampMs);
  bytes.set(entry.data, entryOffset.data);
  writeUint32(bytes, entryOffset.crc, crc32(bytes.subarray(entryOffset.version)));
}

/** Why stored entry bytes cannot be trusted (torn or damaged), or null when they are intact. */
function entryDefect(bytes: Uint8Array): string | null {
  if (bytes.byteLength < entryOffset.data) return `${bytes.byteLength} bytes, shorter than an entry header`;
  if (readUint32(bytes, entryOffset.crc) !== crc32(bytes.subarray(entryOffset.version))) {
    return 'CRC mismatch';
  }
  return null;
}

/** Decodes intact bytes of a known format and type; data is a view of them, not a copy. */
function decodeEntry(bytes: Uint8Array): Entry {
  return {
    index: readUint53(bytes, entryOffset.index),
    term: readUint53(bytes, entryOffset.term),
    type: entryTypeCodes[bytes[entryOffset.type]!]!,
    stampMs: readUint53(bytes, entryOffset.stampMs),
    data: new Uint8Array(
      bytes.buffer,
      bytes.byteOffset + entryOffset.data,
      bytes.byteLength - entryOffset.data,
    ),
  };
}

// ---- records (identity, hard state, snapshot meta) ---------------------------------------

const recordPackr = new Packr({ useRecords: false, moreTypes: false });

function encodeHardState(hardState: HardState): Uint8Array {
  return recordPackr.pack({ term: hardState.term, vote: hardState.vote, commit: hardState.commit });
}

function decodeHardState(bytes: Uint8Array | undefined, dataDir: string): HardState {
  const record = decodeRecord(bytes, 'hard state', dataDir);
  return {
    term: recordCount(record, 'term', 'hard state', dataDir),
    vote: recordCount(record, 'vote', 'hard state', dataDir),
    commit: recordCount(record, 'commit', 'hard state', dataDir),
  };
}

function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  const { voters, learners } = meta.config;
  return recordPackr.pack({ index: meta.index, term: meta.term, voters, learners });
}

function decodeSnapshotMeta(bytes: Uint8Array | undefined, dataDir: string): SnapshotMeta {
  const what = 'snapshot meta';
  const record = decodeRecord(bytes, what, dataDir);
  const voters = record.voters;
  const learners = record.learners;
  if (!isCountList(voters) || !isCountList(learners)) throw corruptRecordError(what, dataDir);
  return {
    index: recordCount(record, 'index', what, dataDir),
    term: recordCount(record, 'term', what, dataDir),
    config: { voters, learners },
  };
}

function decodeRecord(bytes: Uint8Array | undefined, what: string, dataDir: string): Record<string, unknown> {
  let record: unknown;
  try {
    record = bytes === undefined ? undefined : recordPackr.unpack(bytes);
  } catch {
    throw corruptRecordError(what, dataDir);
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw corruptRecordError(what, dataDir);
  }
  return record as Record<string, unknown>;
}

function recordCount(record: Record<string, unknown>, field: string, what: string, dataDir: string): number {
  const value = record[field];
  if (!isCount(value)) throw corruptRecordError(what, dataDir);
  return value;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCountList(value: unknown): value is number[] {
  return Array.isArray(value) && value.every(isCount);
}

function corruptRecordError(what: string, dataDir: string): StorageError {
  return new StorageError(
    'DATA_CORRUPT',
    `the ${what} in ${dataDir} is missing or unreadable: ${restoreAdvice(dataDir)}`,
  );
}

// ---- errors ------------------------------------------------------------------------------

function errorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}
