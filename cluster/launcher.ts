// `raftkv cluster`: a local cluster of node processes, each in its own process group, with its
// log in <data-dir>/n<i>.log. Ctrl-C reaches the launcher, which stops the nodes in order.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatMembers, type Member } from '../src/node/members.js';

export interface ClusterOptions {
  nodes: number;
  basePort: number;
  dataDir: string;
  host?: string;
}

/** How long a node gets to stop after SIGTERM before SIGKILL. */
const stopWaitMs = 10_000;
// The built binary: beside this file under dist/, or in dist/ when this runs from source (tests).
const cliPath = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../dist/src/cli.js' : '../src/cli.js', import.meta.url),
);

export function clusterMembers(options: ClusterOptions): Member[] {
  const host = options.host ?? '127.0.0.1';
  return Array.from({ length: options.nodes }, (_, i) => ({
    id: i + 1,
    host,
    clientPort: options.basePort + i + 1,
    peerPort: options.basePort + 100 + i + 1,
  }));
}

export function startNodeProcess(member: Member, members: readonly Member[], dataDir: string): ChildProcess {
  mkdirSync(dataDir, { recursive: true });
  const log = openSync(join(dataDir, `n${member.id}.log`), 'a');
  const args = [
    cliPath,
    'node',
    '--id',
    String(member.id),
    '--members',
    formatMembers(members),
    '--data-dir',
    join(dataDir, `n${member.id}`),
  ];
  return spawn(process.execPath, args, { detached: true, stdio: ['ignore', log, log] });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function stopNodeProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitForExit(child, stopWaitMs))) {
    child.kill('SIGKILL');
    await waitForExit(child, stopWaitMs);
  }
}

export async function runCluster(options: ClusterOptions): Promise<number> {
  const members = clusterMembers(options);
  const children = members.map((member) => startNodeProcess(member, members, options.dataDir));
  console.log(`raftkv: ${members.length} nodes, data and logs in ${options.dataDir}`);
  for (const member of members) {
    console.log(
      `  node ${member.id}: http://${member.host}:${member.clientPort}/  (peers on ${member.peerPort})`,
    );
  }
  console.log(
    `try: curl -X PUT http://${members[0]!.host}:${members[0]!.clientPort}/v1/kv/hello -H 'content-type: application/json' -d '{"value":"world"}'`,
  );
  console.log('Ctrl-C stops the cluster.');
  for (const [i, child] of children.entries()) {
    child.on('exit', (code, signal) => console.log(`node ${members[i]!.id} exited (${signal ?? code})`));
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('stopping the cluster...');
  for (const child of children) await stopNodeProcess(child);
  return 0;
}
