// Node's own flags a raftkv node runs with (src/node/runtime-flags.ts), through the real binary:
// the built bin passes them through its shebang, the cluster launcher passes them, and a node
// started without them runs but says so in its log.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../jepsen-lite/real/ports.js';
import { RealCluster } from '../../jepsen-lite/real/real-cluster.js';
import { nodeRuntimeFlags } from '../../src/node/runtime-flags.js';
import { cliPath } from '../support/cli.js';

/** Generous: a node on a busy 2-core machine. */
const startedDeadlineMs = 30_000;

interface LogLine {
  msg: string;
  nodeFlags?: string[];
  missing?: string[];
}

const parseLines = (text: string): LogLine[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-runtime-flags-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Starts a one-member node with `command args... <cli> node ...`, waits for its `node started`
 * line and stops it; answers every log line it wrote until then.
 */
async function startedLog(name: string, command: string, args: readonly string[]): Promise<LogLine[]> {
  const [clientPort, peerPort] = await freePorts(2);
  const members = `1=127.0.0.1:${clientPort}:${peerPort}`;
  const child = spawn(
    command,
    [...args, cliPath, 'node', '--id', '1', '--members', members, '--data-dir', join(dir, name)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "node started" line in ${startedDeadlineMs} ms:\n${output}`)),
        startedDeadlineMs,
      );
      child.once('exit', (code) => reject(new Error(`the node exited (${code}):\n${output}`)));
      child.stdout!.on('data', () => {
        if (parseLines(output).some((line) => line.msg === 'node started')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    child.kill('SIGKILL');
  }
  return parseLines(output);
}

function expectRunsWithTheFlags(lines: LogLine[]): void {
  const started = lines.find((line) => line.msg === 'node started');
  expect(started?.nodeFlags).toEqual(expect.arrayContaining([...nodeRuntimeFlags]));
  expect(lines.filter((line) => line.missing !== undefined)).toEqual([]);
}

describe("a node's Node flags", () => {
  it('come with the built bin, run as the kernel runs it: through its shebang', async () => {
    const shebang = (await readFile(cliPath, 'utf8')).split('\n')[0]!;
    expect(shebang.startsWith('#!')).toBe(true);
    // Linux hands the interpreter what follows it on the line as one argument.
    const [interpreter, ...rest] = shebang.slice(2).trim().split(' ');
    const args = rest.length > 0 ? [rest.join(' ')] : [];
    expectRunsWithTheFlags(await startedLog('shebang', interpreter!, args));
  });

  it('come with the cluster launcher (raftkv cluster, the tests, the bench)', async () => {
    const cluster = await RealCluster.start(1);
    try {
      await cluster.waitForLeader(startedDeadlineMs);
      expectRunsWithTheFlags(parseLines(await readFile(join(cluster.dataDir, 'n1.log'), 'utf8')));
    } finally {
      await cluster.destroy();
    }
  });

  it('missing, make the node say which, and how to start it with them', async () => {
    const lines = await startedLog('bare', process.execPath, []);
    const warning = lines.find((line) => line.missing !== undefined);
    expect(warning?.missing).toEqual([...nodeRuntimeFlags]);
    for (const flag of nodeRuntimeFlags) expect(warning?.msg).toContain(`node ${flag}`);
    expect(lines.find((line) => line.msg === 'node started')?.nodeFlags).toEqual([]);
  });
});
