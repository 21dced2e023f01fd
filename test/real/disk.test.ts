// A damaged disk through the real binary: a byte flipped anywhere in the log files, in LevelDB's
// tables or in its write-ahead log, or a table or the log cut short, is reported at start with
// advice (restore from a peer). LevelDB's write-ahead log cut short is a torn tail, as after a
// crash: the node starts with a prefix of its state. It never serves a wrong value.
import { spawn } from 'node:child_process';
import { cp, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealCluster } from '../../jepsen-lite/real/real-cluster.js';
import { liveTables } from '../../src/node/leveldb-verify.js';
import { formatMembers } from '../../src/node/members.js';
import { cliPath, runNodeToExit } from '../support/cli.js';

/**
 * The node's LevelDB write buffer here: small, so that the data below fills several tables (the
 * default, 32 MiB, would hold it all in the write-ahead log).
 */
const writeBufferFlags = ['--storage-write-buffer-mib', '4'];
/** Enough data for LevelDB to have written several tables with a 4 MiB write buffer. */
const keyCount = 3_000;
const valueBytes = 2_000;
const writers = 16;
/** How long a damaged node gets to either refuse or answer. */
const startDeadlineMs = 20_000;

/** Incompressible, so a flipped byte lands in stored values rather than in compressed runs. */
function writtenValue(i: number): string {
  let text = `value-${i}-`;
  let seed = i * 7919 + 1;
  while (text.length < valueBytes) {
    seed = (seed * 48271) % 2147483647;
    text += String.fromCharCode(97 + (seed % 26));
  }
  return text;
}

type Outcome = { kind: 'refused'; stderr: string } | { kind: 'served'; wrong: number; missing: number };

describe('a damaged data directory', () => {
  let cluster: RealCluster;
  let pristine: string;

  beforeAll(async () => {
    cluster = await RealCluster.start(1, { nodeFlags: writeBufferFlags });
    const leader = await cluster.waitForLeader();
    const url = cluster.url(leader);
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = w; i < keyCount; i += writers) {
          const response = await fetch(`${url}/v1/kv/k${i}`, {
            method: 'PUT',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ value: writtenValue(i) }),
          });
          expect(response.status).toBe(200);
          await response.arrayBuffer();
        }
      }),
    );
    expect(await cluster.terminate(leader)).toBe(0);
    pristine = join(cluster.dataDir, 'n1');
  });

  afterAll(async () => {
    await cluster?.destroy();
  });

  /** A copy of the pristine data dir, without the lock file of the node that wrote it. */
  async function copyPristine(name: string): Promise<string> {
    const dataDir = join(cluster.dataDir, `damaged-${name}`);
    await cp(pristine, dataDir, { recursive: true });
    await rm(join(dataDir, 'db', 'LOCK'), { force: true });
    return dataDir;
  }

  /** Starts node 1 of the one-node cluster on `dataDir`; its stderr is piped, its stdout as asked. */
  function spawnNode(dataDir: string, stdout: 'ignore' | 'pipe') {
    const members = formatMembers([cluster.members[0]!]);
    return spawn(
      process.execPath,
      [cliPath, 'node', '--id', '1', '--members', members, '--data-dir', dataDir, ...writeBufferFlags],
      { stdio: ['ignore', stdout, 'pipe'] },
    );
  }

  /** Copies the pristine data dir, damages the copy, starts a node on it and reports what it did. */
  async function startDamaged(name: string, damage: (db: string) => Promise<void>): Promise<Outcome> {
    const dataDir = await copyPristine(name);
    await damage(join(dataDir, 'db'));
    const child = spawnNode(dataDir, 'ignore');
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await Promise.race([
        exited.then(() => false),
        waitReady(cluster.url(1)).then(() => true),
      ]);
      if (!ready) return { kind: 'refused', stderr };
      let wrong = 0;
      let missing = 0;
      for (let i = 0; i < keyCount; i++) {
        const response = await fetch(`${cluster.url(1)}/v1/kv/k${i}?consistency=stale`);
        if (response.status !== 200) {
          missing += 1;
          await response.arrayBuffer();
          continue;
        }
        const body = (await response.json()) as { value: unknown };
        if (body.value !== writtenValue(i)) wrong += 1;
      }
      return { kind: 'served', wrong, missing };
    } finally {
      child.kill('SIGKILL');
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  /**
   * The table files of the pristine data dir that LevelDB's current version uses. A table that a
   * compaction left behind when the node stopped is never read (LevelDB deletes it at its next
   * open, or overwrites it when it replays the log into a table of the same number), so damage
   * to it is no damage. Read from a scratch copy without the write-ahead log, so that opening it
   * replays nothing and lists exactly the tables of the manifest.
   */
  async function pristineLiveTables(files: string[]): Promise<string[]> {
    const scratch = join(cluster.dataDir, 'scratch-live-tables');
    await cp(join(pristine, 'db'), scratch, { recursive: true });
    for (const file of files.filter((name) => name.endsWith('.log') || name === 'LOCK')) {
      await rm(join(scratch, file), { force: true });
    }
    const db = new ClassicLevel(scratch);
    await db.open();
    const live = liveTables(db.getProperty('leveldb.sstables'));
    await db.close();
    await rm(scratch, { recursive: true, force: true });
    return files.filter((file) => file.endsWith('.ldb') && live.has(Number.parseInt(file, 10)));
  }

  it('refuses at start with advice, or serves exactly what was written; never a wrong value', async () => {
    const files = await readdir(join(pristine, 'db'));
    const tables = await pristineLiveTables(files);
    const logs = files.filter((file) => file.endsWith('.log'));
    expect(tables.length, 'LevelDB wrote tables').toBeGreaterThan(0);
    const damages: [string, (db: string) => Promise<void>][] = [];
    for (const file of [...tables.slice(0, 2), ...tables.slice(-1), ...logs]) {
      for (const fraction of [0.2, 0.6, 0.999]) {
        damages.push([`flip-${file}-${fraction}`, (db) => flipByte(join(db, file), fraction)]);
      }
    }
    for (const file of tables.slice(0, 1))
      damages.push([`truncate-${file}`, (db) => truncateHalf(join(db, file))]);
    // The log files: a flip anywhere fails a record's CRC; the log cut short loses entries the
    // state machine applied (or the commit index names), which the node must not start without.
    const segments = await readdir(join(pristine, 'log'));
    expect(segments.length, 'the log has its segment').toBeGreaterThan(0);
    const segmentPath = (db: string, file: string) => join(db, '..', 'log', file);
    for (const file of segments) {
      for (const fraction of [0.2, 0.6, 0.999]) {
        damages.push([`flip-log-${file}-${fraction}`, (db) => flipByte(segmentPath(db, file), fraction)]);
      }
      damages.push([`truncate-log-${file}`, (db) => truncateHalf(segmentPath(db, file))]);
    }
    // A write-ahead log cut short looks exactly like a crash in the middle of a write (LevelDB
    // reads it as a torn tail): the node starts with a prefix of its writes, which a cluster
    // then brings up to date. Nothing it serves may be wrong; the lost tail is missing.
    const walCuts: [string, (db: string) => Promise<void>][] = logs.map((file) => [
      `truncate-${file}`,
      (db) => truncateHalf(join(db, file)),
    ]);

    let refusals = 0;
    for (const [name, damage] of damages) {
      const outcome = await startDamaged(name, damage);
      console.log(name, outcome.kind === 'refused' ? `refused: ${outcome.stderr.trim()}` : outcome);
      if (outcome.kind === 'refused') {
        refusals += 1;
        expect(outcome.stderr, name).toMatch(/restore this node from a peer/);
      } else {
        expect(outcome, name).toEqual({ kind: 'served', wrong: 0, missing: 0 });
      }
    }
    // Every flip and every cut table is caught: a build that checked nothing would start.
    expect(refusals).toBe(damages.length);
    // The last log cut short is a torn tail and is served; an older log cut short (there are two
    // when a stop cut a memtable flush short) is damage LevelDB reports, and is refused.
    for (const [name, damage] of walCuts) {
      const outcome = await startDamaged(name, damage);
      console.log(name, outcome.kind === 'refused' ? `refused: ${outcome.stderr.trim()}` : outcome);
      if (outcome.kind === 'refused') expect(outcome.stderr, name).toMatch(/restore this node from a peer/);
      else expect(outcome.wrong, `${name}: nothing wrong is served`).toBe(0);
    }
  });

  it('stops soon after start on a state record whose own checksum fails, never serving it', async () => {
    // LevelDB's own checksums hold here (the record was rewritten through LevelDB): only the
    // record's checksum, checked by the sweep that runs while the node serves, and on each read,
    // can tell. The node serves meanwhile, but never this record.
    const dataDir = await copyPristine('record');
    const db = new ClassicLevel<string, Uint8Array>(join(dataDir, 'db'), {
      keyEncoding: 'utf8',
      valueEncoding: 'view',
    });
    await db.open();
    const damagedKey = 'k2999';
    const raw = Uint8Array.from((await db.get(`s/d/kv/${damagedKey}`))!);
    raw[raw.length - 1]! ^= 0x01;
    await db.put(`s/d/kv/${damagedKey}`, raw);
    await db.close();
    const child = spawnNode(dataDir, 'pipe');
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exitCode = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let exited = false;
    void exitCode.then(() => (exited = true));
    const served: number[] = [];
    try {
      const deadline = Date.now() + startDeadlineMs;
      while (!exited && Date.now() < deadline) {
        const response = await fetch(`${cluster.url(1)}/v1/kv/${damagedKey}?consistency=stale`).catch(
          () => null,
        );
        if (response !== null) {
          served.push(response.status);
          await response.arrayBuffer();
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(exited, 'the node stopped within the deadline').toBe(true);
      expect(await exitCode).toBe(70);
    } finally {
      child.kill('SIGKILL');
      await exitCode;
      await rm(dataDir, { recursive: true, force: true });
    }
    expect(output).toMatch(/fails its checksum/);
    expect(output).toMatch(/restore this node from a peer/);
    expect(served.filter((status) => status === 200)).toEqual([]);
  });
});

describe('--storage-write-buffer-mib', () => {
  it('refuses a write buffer outside 1 to 1024 MiB', () => {
    for (const mib of ['0', '1025', 'lots']) {
      const run = runNodeToExit('/nonexistent/raftkv', ['--storage-write-buffer-mib', mib]);
      expect(run.status, mib).toBe(2);
      expect(run.stderr, mib).toMatch(/--storage-write-buffer-mib/);
    }
  });
});

async function waitReady(url: string): Promise<void> {
  const deadline = Date.now() + startDeadlineMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the damaged node neither refused nor became ready within ${startDeadlineMs} ms`);
}

async function flipByte(path: string, fraction: number): Promise<void> {
  const { size } = await stat(path);
  const position = Math.min(size - 1, Math.floor(size * fraction));
  const file = await open(path, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, position);
    byte[0]! ^= 0x10;
    await file.write(byte, 0, 1, position);
  } finally {
    await file.close();
  }
}

async function truncateHalf(path: string): Promise<void> {
  const { size } = await stat(path);
  const file = await open(path, 'r+');
  try {
    await file.truncate(Math.floor(size / 2));
  } finally {
    await file.close();
  }
}
