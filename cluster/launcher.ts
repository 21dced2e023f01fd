// `raftkv cluster`: a local cluster of node processes, each in its own process group, with its
// log in <data-dir>/n<i>.log, and the dashboard on the base port. Ctrl-C reaches the launcher,
// which stops the nodes in order.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LinkMesh } from '../jepsen-lite/real/link-proxy.js';
import { formatMembers, type Member } from '../src/node/members.js';
import { nodeRuntimeFlags } from '../src/node/runtime-flags.js';
import { type RunningDashboard, startDashboard } from './dashboard/dashboard.js';
import { EventLog, formatClock } from './dashboard/event-log.js';
import { NodeSupervisor } from './node-supervisor.js';

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

/**
 * `members` is the node's own view of the cluster (its --members); `extraArgs` follow the usual
 * flags; `runtimeArgs` are Node's own (before the script, after nodeRuntimeFlags), e.g. --cpu-prof.
 */
export function startNodeProcess(
  member: Member,
  members: readonly Member[],
  dataDir: string,
  extraArgs: readonly string[] = [],
  runtimeArgs: readonly string[] = [],
): ChildProcess {
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
    ...extraArgs,
  ];
  try {
    return spawn(process.execPath, [...nodeRuntimeFlags, ...runtimeArgs, ...args], {
      detached: true,
      stdio: ['ignore', log, log],
    });
  } finally {
    // The child holds its own copy of the descriptor; ours would leak one per (re)start.
    closeSync(log);
  }
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

function printWelcome(members: readonly Member[], dashboardUrl: string, dataDir: string): void {
  console.log(`raftkv: ${members.length} nodes, data and logs in ${dataDir}`);
  console.log(`  dashboard: ${dashboardUrl}/  (kill, pause, isolate nodes; write load; failover times)`);
  for (const member of members) {
    console.log(
      `  node ${member.id}: http://${member.host}:${member.clientPort}/  (peers on ${member.peerPort})`,
    );
  }
  console.log(
    `try: curl -X PUT http://${members[0]!.host}:${members[0]!.clientPort}/v1/kv/hello -H 'content-type: application/json' -d '{"value":"world"}'`,
  );
  console.log('Ctrl-C stops the cluster.');
}

export async function runCluster(options: ClusterOptions): Promise<number> {
  const members = clusterMembers(options);
  const host = options.host ?? '127.0.0.1';
  const dashboardUrl = `http://${host}:${options.basePort}`;
  const events = new EventLog();
  events.subscribe((event) => console.log(`[${formatClock(event.atMs)}] ${event.text}`));
  // Every peer link goes through a proxy of the launcher, so the dashboard can isolate a node.
  const links = await LinkMesh.start(members);
  const supervisor = new NodeSupervisor({
    members,
    links,
    events,
    // Each node's status page links back to the dashboard.
    spawnNode: (member, view) =>
      startNodeProcess(member, view, options.dataDir, ['--dashboard-url', dashboardUrl]),
    stopNode: stopNodeProcess,
  });
  let dashboard: RunningDashboard;
  try {
    dashboard = await startDashboard({ supervisor, events, host, port: options.basePort });
  } catch (error) {
    await links.close();
    throw error;
  }
  for (const member of members) supervisor.start(member.id);
  printWelcome(members, dashboardUrl, options.dataDir);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  console.log('stopping the cluster...');
  await dashboard.close();
  await supervisor.stopAll();
  await links.close();
  return 0;
}
