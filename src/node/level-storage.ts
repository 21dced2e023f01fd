// The durable log of a real node (design.md §2, §8). Entries and the hard state are in the log's
// write-ahead files (<dataDir>/log/, log-file.ts): each save is one record, appended and
// fdatasync'd on the node's own thread. The node's identity and the snapshot meta are in the
// LevelDB (classic-level) at <dataDir>/db, which the state machine shares: its keys start with
// stateMachinePrefix and it writes its own batches. Reads are served from memory
// (MirroredDurableStorage), so the whole log is held in memory and grows with it until snapshots
// compact it (a later issue).
//
// Storage formats 1 and 2 kept the log in LevelDB too (one record per entry, then one per save);
// a data directory of either is moved to log files when it is opened (migrateLog).
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { assert } from '../assert.js';
import { readUint32, readUint53, writeUint32, writeUint53 } from '../big-endian.js';
import { ByteArena } from '../byte-arena.js';
import {
  defaultStorageWriteBufferMib,
  logMigrationRecordBytesMax,
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
import { LogFile, LogFileError, segmentHeaderBytes, syncDirectory, type TornTail } from './log-file.js';

/**
 * The layout of the whole data directory, kept in its identity record. Format 3 keeps the log in
 * log files; formats 2 (one LevelDB record per save, 'g/' keys) and 1 (one per entry, 'l/' keys)
 * kept it in LevelDB, with the hard state under 'h'. Both are read, and moved, when opened.
 */
export const storageFormatVersion = 3;
const levelDbLogFormatVersions = [1, 2];
/** The layout of one stored entry of storage format 1, kept in the entry's own bytes. */
export const entryFormatVersion = 1;
/** The layout of one group record of storage format 2, kept in its own bytes. */
export const groupFormatVersion = 1;
/** The layout of one save record in the log files, kept in its first byte. */
export const saveRecordFormatVersion = 1;
/** Every key the state machine writes starts with these bytes (UTF-8); no key of LevelStorage does. */
export const stateMachinePrefix = 's/';
/** Stored records (entries or groups) read from LevelDB at once while moving a format 1 or 2 log. */
export const logLoadBatchEntries = 1024;

/** 1/φ: the multiples of it, modulo 1, spread evenly over [0, 1) whatever how many are taken. */
const goldenRatioConjugate = (Math.sqrt(5) - 1) / 2;

/**
 * One node's LevelDB write buffer, in bytes: between (1 - storageWriteBufferStaggerFraction) and
 * all of `writeBufferMib`, spread by node id. Replicas apply the same entries in the same order:
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

/** The log files of a data directory. */
export function logDir(dataDir: string): string {
  return join(dataDir, 'log');
}

export class LevelStorage extends MirroredDurableStorage {
  readonly stateMachinePrefix = stateMachinePrefix;
  /**
   * Test-only (--test-lazy-storage, and the diskDelayMs fault): each write waits this long in
   * process memory before it reaches the disk, like data that is written but not yet fsync'd.
   * SIGKILL in that window loses it, as a power cut would (the idea of Jepsen's LazyFS).
   */
  unsyncedHoldMs = 0;

  private constructor(
    /** Shared with the state machine; closed by close(), so close the state machine first. */
    readonly db: LevelDb,
    readonly dataDir: string,
    /** True when this open created the data directory: the node is bootstrapping (design.md §8). */
    readonly isNew: boolean,
    /** The unfinished append a crash left at the end of the log, which this open cut; null if none. */
    readonly tornTail: TornTail | null,
    mirror: MemoryStorage,
    private readonly logFile: LogFile,
  ) {
    super(mirror);
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
      const { isNew, formatVersion } = await checkIdentity(db, dataDir, options);
      const snapshotMeta = decodeSnapshotMeta(await db.get(snapshotMetaKey), dataDir);
      // Until snapshots arrive (a later issue) nothing is compacted, and the log starts at 1.
      assert(
        snapshotMeta.index === 0,
        () => `snapshot at ${snapshotMeta.index}: this build cannot load snapshots`,
      );
      if (formatVersion !== storageFormatVersion) await migrateLog(db, dataDir, snapshotMeta);
      // What a move that stopped after marking the directory format 3 left in LevelDB.
      else await clearLevelDbLog(db);
      const loaded = loadLog(dataDir, snapshotMeta);
      return new LevelStorage(db, dataDir, isNew, loaded.tornTail, loaded.mirror, loaded.file);
    } catch (error) {
      await db.close();
      throw explainCorruption(error, dataDir);
    }
  }

  protected async persist(update: StorageUpdate): Promise<void> {
    const record = encodeSaveRecord(update);
    if (record === null) return;
    if (this.unsyncedHoldMs > 0) await new Promise((resolve) => setTimeout(resolve, this.unsyncedHoldMs));
    try {
      this.logFile.append([record], update.sync !== false);
    } catch (error) {
      throw new StorageError(
        'STORAGE_FAILED',
        `writing the log in ${this.dataDir} failed, and a failed write is never retried: stop the node (${describeError(error)})`,
        { cause: error },
      );
    }
  }

  protected release(): Promise<void> {
    this.logFile.close();
    return this.db.close();
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

/**
 * Checks the data directory is this node's of this cluster, creating it when empty. Answers
 * whether it was created, and the storage format it has.
 */
async function checkIdentity(
  db: LevelDb,
  dataDir: string,
  options: LevelStorageOptions,
): Promise<{ isNew: boolean; formatVersion: number }> {
  const stored = await db.get(identityKey);
  if (stored === undefined) {
    await createDataDir(db, dataDir, options);
    return { isNew: true, formatVersion: storageFormatVersion };
  }
  const identity = decodeRecord(stored, 'identity', dataDir);
  const formatVersion = identity.formatVersion;
  if (
    typeof formatVersion !== 'number' ||
    (formatVersion !== storageFormatVersion && !levelDbLogFormatVersions.includes(formatVersion))
  ) {
    throw new StorageError(
      'UNKNOWN_FORMAT',
      `data directory ${dataDir} has storage format ${String(formatVersion)}, but this raftkv reads ` +
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
  return { isNew: false, formatVersion };
}

/**
 * Writes a new data directory: the log files first, the identity last, so that a directory with
 * an identity always has its log. Log files without an identity are from a creation a crash
 * stopped if they hold no record (they are made again), and refused otherwise.
 */
async function createDataDir(db: LevelDb, dataDir: string, options: LevelStorageOptions): Promise<void> {
  const anyKey = await db.keys({ limit: 1 }).all();
  if (anyKey.length > 0 || (await holdsLogRecords(logDir(dataDir)))) {
    throw new StorageError(
      'DATA_CORRUPT',
      `data directory ${dataDir} holds data but no raftkv identity: use another --data-dir, or ${restoreAdvice(dataDir)}`,
    );
  }
  await rm(logDir(dataDir), { recursive: true, force: true });
  await createLogDir(dataDir, []);
  const identity = {
    formatVersion: storageFormatVersion,
    clusterId: options.clusterId,
    nodeId: options.nodeId,
  };
  const snapshotMeta: SnapshotMeta = { index: 0, term: 0, config: options.initialConfig };
  const writes: LevelWrite[] = [
    { type: 'put', key: identityKey, value: recordPackr.pack(identity) },
    { type: 'put', key: snapshotMetaKey, value: encodeSnapshotMeta(snapshotMeta) },
  ];
  await writeLevelBatch(db, writes, true);
}

/** True when `dir` has a log segment longer than its header. */
async function holdsLogRecords(dir: string): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return false;
  }
  for (const name of names) {
    if ((await stat(join(dir, name))).size > segmentHeaderBytes) return true;
  }
  return false;
}

/**
 * Makes <dataDir>/log holding `records`, synced, through a staging directory renamed into place:
 * the log directory is there whole or not at all.
 */
async function createLogDir(dataDir: string, records: readonly Uint8Array[]): Promise<void> {
  const staging = join(dataDir, 'log.new');
  await rm(staging, { recursive: true, force: true });
  const file = LogFile.create(staging);
  try {
    if (records.length > 0) file.append(records, true);
  } finally {
    file.close();
  }
  await rename(staging, logDir(dataDir));
  syncDirectory(dataDir);
}

/**
 * Moves a log kept in LevelDB (storage formats 1 and 2) to log files: reads and checks it, writes
 * it and the hard state as log files, marks the directory format 3, and only then deletes the old
 * records. A crash before the mark leaves the old log in place, and the move starts over.
 */
async function migrateLog(db: LevelDb, dataDir: string, snapshotMeta: SnapshotMeta): Promise<void> {
  const hardState = decodeHardState(await db.get(hardStateKey), dataDir);
  const entries = await loadLevelDbLog(db, dataDir, snapshotMeta);
  const records: Uint8Array[] = [];
  let group: Entry[] = [];
  let groupBytes = 0;
  for (const entry of entries) {
    const bytes = entryBlockBytes([entry]);
    if (group.length > 0 && groupBytes + bytes > logMigrationRecordBytesMax) {
      records.push(encodeSaveRecord({ hardState: null, entries: group })!);
      group = [];
      groupBytes = 0;
    }
    group.push(entry);
    groupBytes += bytes;
  }
  if (group.length > 0) records.push(encodeSaveRecord({ hardState: null, entries: group })!);
  records.push(encodeSaveRecord({ hardState, entries: [] })!);
  await rm(logDir(dataDir), { recursive: true, force: true });
  await createLogDir(dataDir, records);
  const identity = decodeRecord(await db.get(identityKey), 'identity', dataDir);
  const marked = { ...identity, formatVersion: storageFormatVersion };
  await writeLevelBatch(db, [{ type: 'put', key: identityKey, value: recordPackr.pack(marked) }], true);
  await clearLevelDbLog(db);
}

/** Deletes the log records and hard state of storage formats 1 and 2, if any are left. */
async function clearLevelDbLog(db: LevelDb): Promise<void> {
  await db.clear({ gte: logKey(0), lte: logKey(Number.MAX_SAFE_INTEGER) });
  await db.clear({ gte: groupKey(0), lte: groupKey(Number.MAX_SAFE_INTEGER) });
  if ((await db.get(hardStateKey)) !== undefined) await db.del(hardStateKey);
}

/** The log and hard state in the log files, checked, as a new mirror; and the open log file. */
function loadLog(
  dataDir: string,
  snapshotMeta: SnapshotMeta,
): { mirror: MemoryStorage; file: LogFile; tornTail: TornTail | null } {
  let hardState = emptyHardState;
  // Entries go straight into the mirror, which keeps its own packed copy of their data: the
  // payload is a view of the reader's buffer, read over by the next chunk.
  const mirror = new MemoryStorage(snapshotMeta.config);
  let opened: { file: LogFile; cut: TornTail | null };
  try {
    opened = LogFile.open(logDir(dataDir), (payload) => {
      const save = decodeSaveRecord(payload, dataDir);
      if (save.hardState) hardState = save.hardState;
      const first = save.entries[0];
      if (first === undefined) return;
      const lastIndex = mirror.lastIndex();
      if (first.index <= snapshotMeta.index || first.index > lastIndex + 1) {
        throw new StorageError(
          'DATA_CORRUPT',
          `the log in ${dataDir} has a gap: a save of entries from ${first.index} on follows entry ${lastIndex}: ` +
            restoreAdvice(dataDir),
        );
      }
      // A save from inside the log is a new leader's: it replaces what followed (append cuts it).
      let previous = { index: first.index - 1, term: mirror.term(first.index - 1) };
      for (const entry of save.entries) {
        checkFollows(previous, entry, dataDir);
        previous = entry;
      }
      mirror.append(save.entries);
    });
  } catch (error) {
    if (!(error instanceof LogFileError)) throw error;
    if (error.kind === 'unknown-format') {
      throw new StorageError('UNKNOWN_FORMAT', `${error.message}: run a raftkv that reads it`);
    }
    throw new StorageError('DATA_CORRUPT', `${error.message}: ${restoreAdvice(dataDir)}`);
  }
  const lastIndex = mirror.lastIndex();
  if (hardState.commit > lastIndex) {
    opened.file.close();
    throw new StorageError(
      'DATA_CORRUPT',
      `the log in ${dataDir} ends at ${lastIndex} but index ${hardState.commit} was committed: ` +
        `committed entries are missing: ${restoreAdvice(dataDir)}`,
    );
  }
  mirror.setHardState(hardState);
  return { mirror, file: opened.file, tornTail: opened.cut };
}

/**
 * Reads a log of storage format 1 or 2 from LevelDB in order, checking every entry: CRC and
 * format, indices contiguous after the snapshot, terms never falling. Per-entry records (format
 * 1) come first, then groups. Records are read a batch at a time, and each entry's data is copied
 * into an arena, so no LevelDB value stays alive behind it.
 */
async function loadLevelDbLog(db: LevelDb, dataDir: string, snapshotMeta: SnapshotMeta): Promise<Entry[]> {
  const entries: Entry[] = [];
  const arena = new ByteArena();
  let previous = { index: snapshotMeta.index, term: snapshotMeta.term };
  const accept = (entry: Entry) => {
    checkFollows(previous, entry, dataDir);
    entry.data = arena.copy(entry.data);
    entries.push(entry);
    previous = entry;
  };
  await forEachRecord(db, logKey(0), logKey(Number.MAX_SAFE_INTEGER), ([key, bytes], isLast) => {
    accept(decodeStoredEntry(bytes, keyIndex(logKeyPrefix, key), isLast, dataDir));
  });
  await forEachRecord(db, groupKey(0), groupKey(Number.MAX_SAFE_INTEGER), ([key, bytes], isLast) => {
    for (const entry of decodeGroup(bytes, keyIndex(groupKeyPrefix, key), isLast, dataDir)) accept(entry);
  });
  return entries;
}

/** Refuses `entry` unless it is the one after `previous`, with a term no lower. */
function checkFollows(previous: { index: number; term: number }, entry: Entry, dataDir: string): void {
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

/** The state machine of `dataDir` applied entries its log no longer holds. */
export function missingAppliedEntriesError(
  dataDir: string,
  applied: number,
  lastIndex: number,
): StorageError {
  return new StorageError(
    'DATA_CORRUPT',
    `the state in ${dataDir} has applied entry ${applied}, but its log ends at ${lastIndex}: ` +
      `log entries are missing: ${restoreAdvice(dataDir)}`,
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

// ---- save records (storage format 3) -----------------------------------------------------

/**
 * A save record: its format (1 byte), its flags (1 byte: saveRecordHardStateFlag when a hard
 * state follows), the hard state's term, vote and commit (big-endian 64-bit each) if flagged, then
 * the save's entries as a block (raft/entry-block.ts). Its CRC is the log file's, around it.
 */
const saveRecordHeaderBytes = 2;
const saveRecordHardStateFlag = 1;
const hardStateBytes = 3 * uint53Bytes;

/** The record of one save, or null for a save that writes nothing. */
function encodeSaveRecord(update: StorageUpdate): Uint8Array | null {
  const { hardState, entries } = update;
  if (entries.length === 0 && hardState === null) return null;
  const entriesAt = saveRecordHeaderBytes + (hardState ? hardStateBytes : 0);
  const bytes = new Uint8Array(entriesAt + entryBlockBytes(entries));
  bytes[0] = saveRecordFormatVersion;
  if (hardState) {
    bytes[1] = saveRecordHardStateFlag;
    writeUint53(bytes, saveRecordHeaderBytes, hardState.term);
    writeUint53(bytes, saveRecordHeaderBytes + uint53Bytes, hardState.vote);
    writeUint53(bytes, saveRecordHeaderBytes + 2 * uint53Bytes, hardState.commit);
  }
  writeEntryBlock(entries, bytes, entriesAt);
  return bytes;
}

/** A save record's hard state and entries (each entry's data a view of `bytes`), checked. */
function decodeSaveRecord(
  bytes: Uint8Array,
  dataDir: string,
): { hardState: HardState | null; entries: Entry[] } {
  const corrupt = (reason: string) =>
    new StorageError(
      'DATA_CORRUPT',
      `a save in the log of ${dataDir} is corrupt (${reason}): ${restoreAdvice(dataDir)}`,
    );
  if (bytes[0] !== saveRecordFormatVersion) {
    throw new StorageError(
      'UNKNOWN_FORMAT',
      `a save in the log of ${dataDir} has format ${bytes[0]}, but this raftkv reads format ` +
        `${saveRecordFormatVersion}: run a raftkv that reads it`,
    );
  }
  const flags = bytes[1];
  if (flags !== 0 && flags !== saveRecordHardStateFlag) throw corrupt(`unknown flags ${flags}`);
  let hardState: HardState | null = null;
  let entriesAt = saveRecordHeaderBytes;
  if (flags === saveRecordHardStateFlag) {
    if (bytes.byteLength < saveRecordHeaderBytes + hardStateBytes)
      throw corrupt('its hard state is cut short');
    const [term, vote, commit] = [0, 1, 2].map((field) =>
      readUint53(bytes, saveRecordHeaderBytes + field * uint53Bytes),
    ) as [number, number, number];
    if (![term, vote, commit].every(Number.isSafeInteger)) throw corrupt('a hard state number above 2^53');
    hardState = { term, vote, commit };
    entriesAt += hardStateBytes;
  }
  try {
    return { hardState, entries: decodeEntryBlock(bytes.subarray(entriesAt)) };
  } catch (error) {
    if (error instanceof EntryBlockError) throw corrupt(error.message);
    throw error;
  }
}

// ---- groups ------------------------------------------------------------------------------

/**
 * A group record: its CRC (4 bytes, big-endian, over every byte after itself), its format (1
 * byte), then its entries as a block (raft/entry-block.ts).
 */
const groupHeaderBytes = 5;

/**
 * The key and value storage format 2 kept a save's entries under. Nothing writes them any more:
 * tests of moving a format 2 directory do.
 */
export function storedGroupOfFormat2(entries: readonly Entry[]): [Uint8Array, Uint8Array] {
  return [groupKey(entries[0]!.index), encodeGroup(entries)];
}

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

/** The key and value storage formats 1 and 2 kept the hard state under (for tests, as above). */
export function storedHardStateOfFormat2(hardState: HardState): [Uint8Array, Uint8Array] {
  return [
    hardStateKey,
    recordPackr.pack({ term: hardState.term, vote: hardState.vote, commit: hardState.commit }),
  ];
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
