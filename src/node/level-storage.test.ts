// What only the LevelDB storage does: identity, the data-dir lock, CRC checks at start-up, fatal
// write failures, sharing the DB with the state machine; and a model test against its twin.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { logReadChunkBytes, storageWriteBufferStaggerFraction } from '../config.js';
import type { Entry, HardState } from '../raft/messages.js';
import type { DurableStorage, StorageUpdate } from './durable-storage.js';
import {
  type LevelDb,
  LevelStorage,
  type LevelStorageOptions,
  logDir,
  storedEntryOfFormat1,
  storedGroupOfFormat2,
  storedHardStateOfFormat2,
  writeBufferBytes,
} from './level-storage.js';
import { liveTables } from './leveldb-verify.js';
import { recordHeaderBytes, segmentHeaderBytes } from './log-file.js';
import { MemoryDurableStorage } from './memory-durable-storage.js';
import { contractConfig, testEntries, testEntry } from './storage.contract.js';

const utf8 = new TextEncoder();
const options: LevelStorageOptions = { nodeId: 1, clusterId: 'cluster-a', initialConfig: contractConfig };

const dataDirs: string[] = [];
const openStorages: DurableStorage[] = [];

async function newDataDir(): Promise<string> {
  const dataDir = await mkdtemp(join(tmpdir(), 'raftkv-level-storage-'));
  dataDirs.push(dataDir);
  return dataDir;
}

/** Opens a storage that afterEach closes, whatever the test does with it. */
async function open(dataDir: string, openOptions = options): Promise<LevelStorage> {
  const storage = await LevelStorage.open(dataDir, openOptions);
  openStorages.push(storage);
  return storage;
}

afterEach(async () => {
  for (const storage of openStorages.splice(0)) await storage.close();
  for (const dataDir of dataDirs.splice(0)) await rm(dataDir, { recursive: true, force: true });
});

/** The first (and, without a rotation, only) segment of a data dir's log files. */
function firstSegment(dataDir: string): string {
  return join(logDir(dataDir), '0000000001.log');
}

/** Where each record of a segment starts, and its payload's length. */
async function segmentRecords(path: string): Promise<{ at: number; length: number }[]> {
  const bytes = await readFile(path);
  const records: { at: number; length: number }[] = [];
  for (let at = segmentHeaderBytes; at < bytes.length; ) {
    const length = bytes.readUInt32BE(at);
    records.push({ at, length });
    at += recordHeaderBytes + length;
  }
  return records;
}

/** Writes the identity of storage format `formatVersion` over a data dir's own. */
async function markFormat(db: LevelDb, formatVersion: number): Promise<void> {
  const identity = { formatVersion, clusterId: options.clusterId, nodeId: options.nodeId };
  await db.put(utf8.encode('i'), new Packr().pack(identity));
}

/** A data dir whose log holds entries 1..5, one save (one group) each, left open for a test to damage. */
async function dataDirWithFiveEntries(): Promise<{ dataDir: string; storage: LevelStorage }> {
  const dataDir = await newDataDir();
  const storage = await open(dataDir);
  const terms = [1, 1, 2, 2, 2];
  for (const [offset, term] of terms.entries()) {
    await storage.save({ hardState: null, entries: testEntries(offset + 1, [term]) });
  }
  return { dataDir, storage };
}

describe('LevelStorage identity', () => {
  it('creates a new data dir, and knows it is not new when reopened', async () => {
    const dataDir = await newDataDir();
    const created = await open(dataDir);
    expect(created.isNew).toBe(true);
    await created.close();
    expect((await open(dataDir)).isNew).toBe(false);
  });

  it('refuses another node id, and opens again with the right one', async () => {
    const dataDir = await newDataDir();
    await (await open(dataDir)).close();
    await expect(open(dataDir, { ...options, nodeId: 2 })).rejects.toMatchObject({
      code: 'WRONG_NODE',
      message: expect.stringContaining(`data directory ${dataDir} belongs to node 1, not node 2`),
    });
    expect((await open(dataDir)).lastIndex()).toBe(0);
  });

  it('refuses another cluster id', async () => {
    const dataDir = await newDataDir();
    await (await open(dataDir)).close();
    await expect(open(dataDir, { ...options, clusterId: 'cluster-b' })).rejects.toMatchObject({
      code: 'WRONG_CLUSTER',
      message: expect.stringContaining('belongs to cluster cluster-a, not cluster-b'),
    });
  });

  it('refuses a storage format it does not know', async () => {
    const dataDir = await newDataDir();
    const storage = await open(dataDir);
    const futureIdentity = { formatVersion: 99, clusterId: options.clusterId, nodeId: options.nodeId };
    await storage.db.put(utf8.encode('i'), new Packr().pack(futureIdentity));
    await storage.close();
    await expect(open(dataDir)).rejects.toMatchObject({
      code: 'UNKNOWN_FORMAT',
      message: expect.stringContaining('has storage format 99, but this raftkv reads format 3'),
    });
  });

  it('keeps the configuration it was created with when reopened with another', async () => {
    const dataDir = await newDataDir();
    await (await open(dataDir)).close();
    const reopened = await open(dataDir, { ...options, initialConfig: { voters: [7], learners: [] } });
    expect(reopened.snapshotMeta().config).toEqual(contractConfig);
  });
});

describe('LevelStorage data-dir lock', () => {
  const inUse = (dataDir: string) => ({
    code: 'DATA_DIR_IN_USE',
    message: expect.stringContaining(`data directory ${dataDir} is in use by another raftkv process`),
  });

  it('refuses a second open in the same process', async () => {
    const dataDir = await newDataDir();
    await open(dataDir);
    await expect(open(dataDir)).rejects.toMatchObject(inUse(dataDir));
  });

  it('refuses a data dir another process holds', async () => {
    const dataDir = await newDataDir();
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { ClassicLevel } from 'classic-level';
         await new ClassicLevel(${JSON.stringify(join(dataDir, 'db'))}).open();
         console.log('locked');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      await expect(open(dataDir)).rejects.toMatchObject(inUse(dataDir));
    } finally {
      holder.kill();
    }
  });
});

describe('LevelStorage start-up checks', () => {
  it('ignores a partial table that a compaction cut short left behind, and checks the live ones', async () => {
    const dataDir = await newDataDir();
    // A 1 MiB write buffer: enough data below for LevelDB to write tables of its own.
    const small = { ...options, writeBufferMib: 1 };
    const storage = await open(dataDir, small);
    const value = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    for (let batch = 0; batch < 8; batch++) {
      await storage.db.batch(
        Array.from({ length: 400 }, (_, i) => ({
          type: 'put' as const,
          key: utf8.encode(`s/d/filler-${batch}-${i}`),
          value,
        })),
      );
    }
    await storage.close();
    const dbDir = join(dataDir, 'db');
    const tables = (await readdir(dbDir)).filter((name) => name.endsWith('.ldb'));
    expect(tables.length).toBeGreaterThan(0);
    // What a SIGKILL during a compaction leaves: a table with no footer, in no version.
    await writeFile(join(dbDir, '999999.ldb'), value.subarray(0, 1000));
    const reopened = await open(dataDir, small);
    const live = [...liveTables(reopened.db.getProperty('leveldb.sstables')).keys()];
    await reopened.close();
    expect(live.length).toBeGreaterThan(0);
    // A live table cut short is damage.
    const livePath = join(dbDir, `${String(live.at(-1)).padStart(6, '0')}.ldb`);
    const bytes = await readFile(livePath);
    await writeFile(livePath, bytes.subarray(0, bytes.length - 10));
    await expect(open(dataDir, small)).rejects.toThrow(
      /LevelDB table .* is damaged .*restore this node from a peer/,
    );
  });

  it('refuses a save in the middle whose bytes changed, naming the segment and byte', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.close();
    const path = firstSegment(dataDir);
    const third = (await segmentRecords(path))[2]!;
    const bytes = await readFile(path);
    bytes[third.at + recordHeaderBytes + third.length - 1]! ^= 0x01;
    await writeFile(path, bytes);
    const refusal = open(dataDir);
    await expect(refusal).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await expect(refusal).rejects.toThrow(
      new RegExp(
        `^log segment ${path} is damaged at byte ${third.at} \\(a record fails its CRC\\): restore this node from a peer`,
      ),
    );
  });

  it('refuses a finished last save whose bytes changed too, saying it may be torn', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.close();
    const path = firstSegment(dataDir);
    const bytes = await readFile(path);
    bytes[bytes.length - 1]! ^= 0x01;
    await writeFile(path, bytes);
    await expect(open(dataDir)).rejects.toThrow(
      /a record fails its CRC; it is the last one and may be a torn write/,
    );
  });

  it('refuses a record whose length changed, rather than take the rest for a torn tail', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.close();
    const path = firstSegment(dataDir);
    const second = (await segmentRecords(path))[1]!;
    const bytes = await readFile(path);
    bytes[second.at]! ^= 0x40; // the length's high byte: it would point past the end of the file
    await writeFile(path, bytes);
    await expect(open(dataDir)).rejects.toThrow(
      new RegExp(`damaged at byte ${second.at} \\(a record header fails its CRC\\)`),
    );
  });

  it('cuts an unfinished last save and reports it, keeping every save before it', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.close();
    const path = firstSegment(dataDir);
    const last = (await segmentRecords(path)).at(-1)!;
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 3));
    const reopened = await open(dataDir);
    expect(reopened.tornTail).toEqual({
      segment: path,
      atByte: last.at,
      bytesCut: recordHeaderBytes + last.length - 3,
    });
    expect(reopened.lastIndex()).toBe(4);
    expect((await readFile(path)).length).toBe(last.at);
    await reopened.save({ hardState: null, entries: testEntries(5, [3]) });
    await reopened.close();
    const again = await open(dataDir);
    expect(again.tornTail).toBeNull();
    expect(again.entries(1, 6, Number.POSITIVE_INFINITY).map((entry) => entry.term)).toEqual([1, 1, 2, 2, 3]);
  });

  it('loads a log of more bytes than one read, with records across the reads', async () => {
    const dataDir = await newDataDir();
    const storage = await open(dataDir);
    const saves = Math.ceil((2.5 * logReadChunkBytes) / 200_000);
    const written = Array.from({ length: saves }, (_, i) => testEntry(i + 1, 1, 'normal', 200_000 + i));
    for (const entry of written) await storage.save({ hardState: null, entries: [entry], sync: false });
    // One save larger than a read.
    const large = testEntry(saves + 1, 1, 'normal', logReadChunkBytes + 10);
    await storage.save({ hardState: null, entries: [large] });
    await storage.close();
    const reopened = await open(dataDir);
    const read = reopened.entries(1, saves + 2, Number.POSITIVE_INFINITY);
    // Compared as bytes: a deep equal walks megabytes of data one element at a time.
    const digest = (entries: readonly Entry[]) =>
      entries.map(({ data, ...rest }) => ({ ...rest, data: Buffer.from(data).toString('base64') }));
    expect(digest(read)).toEqual(digest([...written, large]));
  });

  it('refuses a log with a gap', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.close();
    const path = firstSegment(dataDir);
    const [, second, third] = await segmentRecords(path);
    const bytes = await readFile(path);
    await writeFile(path, Buffer.concat([bytes.subarray(0, second!.at), bytes.subarray(third!.at)]));
    await expect(open(dataDir)).rejects.toThrow(/has a gap: a save of entries from 3 on follows entry 1/);
  });

  it('refuses a data dir that holds data but no identity', async () => {
    const { dataDir, storage } = await dataDirWithFiveEntries();
    await storage.db.del(utf8.encode('i'));
    await storage.close();
    await expect(open(dataDir)).rejects.toMatchObject({
      code: 'DATA_CORRUPT',
      message: expect.stringContaining('holds data but no raftkv identity'),
    });
  });
});

describe('LevelStorage log files', () => {
  it('keeps each save as one record, and replays a new leader overwriting the tail', async () => {
    const dataDir = await newDataDir();
    const storage = await open(dataDir);
    await storage.save({
      hardState: { term: 1, vote: 1, commit: 0 },
      entries: testEntries(1, [1, 1, 1, 1, 1]),
    });
    await storage.save({ hardState: null, entries: testEntries(6, [1, 1]) });
    const overwriting = testEntries(3, [2, 2]);
    await storage.save({ hardState: { term: 2, vote: 3, commit: 2 }, entries: overwriting });
    expect(await segmentRecords(firstSegment(dataDir))).toHaveLength(3);
    await storage.close();
    const reopened = await open(dataDir);
    expect(reopened.entries(1, reopened.lastIndex() + 1, Number.POSITIVE_INFINITY)).toEqual([
      ...testEntries(1, [1, 1]),
      ...overwriting,
    ]);
    expect(reopened.hardState()).toEqual({ term: 2, vote: 3, commit: 2 });
  });

  it('moves the log of a data dir of storage format 1 or 2 out of LevelDB, with its hard state', async () => {
    for (const formatVersion of [1, 2]) {
      const dataDir = await newDataDir();
      const created = await open(dataDir);
      const old = testEntries(1, [1, 1, 1, 2, 2]);
      const hardState = { term: 2, vote: 2, commit: 4 };
      await markFormat(created.db, formatVersion);
      const records =
        formatVersion === 1
          ? old.map(storedEntryOfFormat1)
          : [storedGroupOfFormat2(old.slice(0, 3)), storedGroupOfFormat2(old.slice(3))];
      for (const [key, value] of [...records, storedHardStateOfFormat2(hardState)])
        await created.db.put(key, value);
      await created.close();

      const moved = await open(dataDir);
      expect(moved.entries(1, 6, Number.POSITIVE_INFINITY)).toEqual(old);
      expect(moved.hardState()).toEqual(hardState);
      const stored = new Packr({ mapsAsObjects: true }).unpack((await moved.db.get(utf8.encode('i')))!);
      expect(stored).toMatchObject({ formatVersion: 3, nodeId: options.nodeId });
      const keys = (await moved.db.keys().all()).map((key) => Buffer.from(key).toString('latin1'));
      expect(keys.sort()).toEqual(['i', 'm']);
      await moved.save({ hardState: null, entries: testEntries(6, [2]) });
      await moved.close();
      const reopened = await open(dataDir);
      expect(reopened.lastIndex()).toBe(6);
      expect(reopened.hardState()).toEqual(hardState);
    }
  });

  it('starts a move over when a crash stopped it before the directory was marked', async () => {
    const dataDir = await newDataDir();
    const created = await open(dataDir);
    const old = testEntries(1, [1, 1, 1]);
    await markFormat(created.db, 2);
    await created.db.put(...storedGroupOfFormat2(old));
    await created.db.put(...storedHardStateOfFormat2({ term: 1, vote: 1, commit: 3 }));
    await created.close();
    // Log files of an unfinished move: one save of other entries, the segment cut mid-record.
    const stale = await open(await newDataDir());
    await stale.save({ hardState: null, entries: testEntries(1, [7, 7, 7, 7]) });
    await stale.close();
    await rm(logDir(dataDir), { recursive: true });
    await mkdir(logDir(dataDir));
    const staleBytes = await readFile(firstSegment(stale.dataDir));
    await writeFile(firstSegment(dataDir), staleBytes.subarray(0, staleBytes.length - 5));

    const moved = await open(dataDir);
    expect(moved.entries(1, 4, Number.POSITIVE_INFINITY)).toEqual(old);
    expect(moved.lastIndex()).toBe(3);
    expect(moved.tornTail).toBeNull();
  });

  it('makes the log files again when a creation a crash stopped left them empty', async () => {
    const dataDir = await newDataDir();
    const created = await open(dataDir);
    await created.db.batch([
      { type: 'del', key: utf8.encode('i') },
      { type: 'del', key: utf8.encode('m') },
    ]);
    await created.close();
    const again = await open(dataDir);
    expect(again.isNew).toBe(true);
    expect(again.lastIndex()).toBe(0);
  });
});

describe('LevelStorage write buffer', () => {
  it('gives the nodes of a cluster write buffers of different sizes, within the flag', () => {
    const mib = 32;
    const sizes = [1, 2, 3, 4, 5, 6, 7].map((id) => writeBufferBytes(mib, id));
    for (const size of sizes) {
      expect(size).toBeLessThanOrEqual(mib * 1024 * 1024);
      expect(size).toBeGreaterThanOrEqual((1 - storageWriteBufferStaggerFraction) * mib * 1024 * 1024);
    }
    // Far enough apart that one node's memtable is written out well before the next one's.
    const sorted = [...sizes].sort((a, b) => a - b);
    const closest = Math.min(...sorted.slice(1).map((size, at) => size - sorted[at]!));
    expect(closest).toBeGreaterThan(0.02 * mib * 1024 * 1024);
    // The same id always gets the same size: a restart does not move it.
    expect(writeBufferBytes(mib, 3)).toBe(sizes[2]);
  });
});

describe('LevelStorage at run time', () => {
  it('fails for good when a write fails, without retrying', async () => {
    const storage = await open(await newDataDir());
    // The log file's descriptor swapped for one open for reading only: the next write fails (EBADF).
    const logFile = (storage as unknown as { logFile: { fd: number } }).logFile;
    closeSync(logFile.fd);
    logFile.fd = openSync('/dev/null', 'r');
    await expect(storage.save({ hardState: null, entries: [testEntry(1, 1)] })).rejects.toMatchObject({
      code: 'STORAGE_FAILED',
      message: expect.stringContaining('a failed write is never retried'),
    });
    expect(() => storage.lastIndex()).toThrow(expect.objectContaining({ code: 'STORAGE_FAILED' }));
  });

  it('shares the DB with the state machine under its own prefix', async () => {
    const dataDir = await newDataDir();
    const storage = await open(dataDir);
    const stateMachineKey = utf8.encode(`${storage.stateMachinePrefix}applied`);
    await storage.db.put(stateMachineKey, utf8.encode('7'));
    await storage.save({ hardState: null, entries: testEntries(1, [1, 1]) });
    await storage.close();
    const reopened = await open(dataDir);
    expect(reopened.lastIndex()).toBe(2);
    expect(await reopened.db.get(stateMachineKey)).toEqual(Buffer.from('7'));
  });
});

// ---- model test --------------------------------------------------------------------------

/** One random step, read against the state before it (so every update obeys Raft's rules). */
interface Step {
  /** Picks where the append starts, anywhere after the commit index up to the end of the log. */
  startChoice: number;
  entryCount: number;
  termRise: number;
  dataBytes: number;
  withHardState: boolean;
  vote: number;
  commitAdvance: number;
  /** Close and reopen the LevelStorage after this step (one step in five). */
  reopen: boolean;
}

const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  startChoice: fc.nat(),
  entryCount: fc.integer({ min: 0, max: 4 }),
  termRise: fc.integer({ min: 0, max: 2 }),
  dataBytes: fc.integer({ min: 0, max: 300 }),
  withHardState: fc.boolean(),
  vote: fc.integer({ min: 0, max: 3 }),
  commitAdvance: fc.integer({ min: 0, max: 3 }),
  reopen: fc.integer({ min: 0, max: 9 }).map((tenth) => tenth < 2),
});

function updateFor(step: Step, model: DurableStorage): StorageUpdate {
  const held = model.hardState();
  const lastIndex = model.lastIndex();
  const firstIndex = held.commit + 1 + (step.startChoice % (lastIndex - held.commit + 1));
  const term = model.term(firstIndex - 1) + step.termRise;
  const entries = Array.from({ length: step.entryCount }, (_, offset) =>
    testEntry(firstIndex + offset, term, 'normal', step.dataBytes),
  );
  const newLastIndex = entries.at(-1)?.index ?? lastIndex;
  const newTerm = Math.max(held.term, term);
  const hardState: HardState = {
    term: newTerm,
    vote: newTerm > held.term ? step.vote : held.vote,
    commit: Math.min(newLastIndex, held.commit + step.commitAdvance),
  };
  return { hardState: step.withHardState ? hardState : null, entries };
}

function expectSameReads(actual: DurableStorage, model: DurableStorage, bytesMax: number): void {
  expect(actual.hardState()).toEqual(model.hardState());
  expect(actual.snapshotMeta()).toEqual(model.snapshotMeta());
  expect(actual.firstIndex()).toBe(model.firstIndex());
  expect(actual.lastIndex()).toBe(model.lastIndex());
  for (let index = 0; index <= model.lastIndex(); index++) expect(actual.term(index)).toBe(model.term(index));
  const end = model.lastIndex() + 1;
  for (let lo = model.firstIndex(); lo < end; lo++) {
    expect(actual.entries(lo, end, bytesMax)).toEqual(model.entries(lo, end, bytesMax));
  }
}

describe('LevelStorage against MemoryDurableStorage', () => {
  it('gives the same reads after any sequence of appends, truncations and reopens', async () => {
    const runsCount = 30;
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArbitrary, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 2_000 }),
        async (steps, bytesMax) => {
          const dataDir = await newDataDir();
          const model = new MemoryDurableStorage(contractConfig);
          let actual = await open(dataDir);
          for (const step of steps) {
            const update = updateFor(step, model);
            await Promise.all([model.save(update), actual.save(update)]);
            if (step.reopen) {
              await actual.close();
              actual = await open(dataDir);
            }
            expectSameReads(actual, model, bytesMax);
          }
          await actual.close();
          expectSameReads(await open(dataDir), model, bytesMax);
        },
      ),
      { numRuns: runsCount },
    );
  });
});
