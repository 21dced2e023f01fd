// Read levels through the real binary (design.md §5): a deposed leader answers no stale
// linearizable or quorum read; a quorum read waits out a write committed but not yet applied on
// the replicas it asks; quorum reads spread over the nodes. Each check comes with its canary, a
// cluster with a known weakness (a weak read quorum, the planted --test-skip-pqr-wait) on which
// the same scenario does return the stale value, proving that the test can see staleness.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type KvAnswer, KvClient } from '../../jepsen-lite/real/kv-client.js';
import { RealCluster, waitFor } from '../../jepsen-lite/real/real-cluster.js';
import { formatMembers } from '../../src/node/members.js';
import { PeerAuth } from '../../src/node/peer-auth.js';
import { clusterIdOf } from '../../src/node/server.js';
import { packQuorumMessage, quorumReadPath, unpackQuorumMessage } from '../../src/quorum/replica-answer.js';
import { cliPath } from '../support/cli.js';

const client = new KvClient();
const all = [1, 2, 3, 4, 5];
/**
 * The delay of the lagging links in the pending-write scenario: the window in which the read runs.
 * The followers behind them see one gap of this plus a heartbeat interval when it starts, which
 * must stay below the election timeout (500 ms at least), or they would elect a new leader.
 */
const laggingLinkDelayMs = 250;

/** Writes until a node takes it (a new leader may need a moment); returns the revision. */
async function put(cluster: RealCluster, id: number, key: string, value: unknown): Promise<number> {
  return waitFor(`a write of ${key} on node ${id}`, 20_000, async () => {
    const answer = await client.put(cluster.url(id), key, value);
    return answer.status === 200 ? (answer.body!.revision as number) : undefined;
  });
}

/** A read answer is either the value wanted or an error with a code, never another value. */
function expectNotStale(answer: KvAnswer, wanted: unknown): void {
  if (answer.status === 200) expect(answer.body!.value).toBe(wanted);
  else expect(answer.body?.error, JSON.stringify(answer)).toMatchObject({ code: expect.any(String) });
}

/**
 * The old leader is paused (SIGSTOP) while the others elect a new leader and overwrite the key;
 * reads sent to the old leader wait in its socket and are the first thing it sees on SIGCONT,
 * before it hears of the new term.
 */
async function readFromDeposedLeader(cluster: RealCluster, levels: readonly string[]): Promise<KvAnswer[]> {
  const oldLeader = await cluster.waitForLeader();
  await cluster.waitForConvergence(await put(cluster, oldLeader, 'k', 'old'));
  cluster.pause(oldLeader);
  const newLeader = await cluster.waitForLeader(20_000, oldLeader);
  await put(cluster, newLeader, 'k', 'new');
  const reads = levels.map((level) => client.get(cluster.url(oldLeader), 'k', level));
  await new Promise((resolve) => setTimeout(resolve, 200));
  cluster.resume(oldLeader);
  return Promise.all(reads);
}

/** A counter of a node's /metrics. */
async function counter(cluster: RealCluster, id: number, name: string): Promise<number> {
  const response = await request(`${cluster.url(id)}/metrics`);
  const text = await response.body.text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** Asks a node's peer route directly what it holds for a key. */
async function replicaState(cluster: RealCluster, id: number, key: string) {
  const member = cluster.members.find((m) => m.id === id)!;
  // As a peer of this cluster would ask (peer routes refuse requests without its cluster id).
  const auth = new PeerAuth({ clusterId: clusterIdOf('raftkv', cluster.members), nodeId: id, secret: null });
  const body = packQuorumMessage({ key });
  const response = await request(`http://${member.host}:${member.peerPort}${quorumReadPath}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/msgpack',
      accept: 'application/msgpack',
      ...auth.headers('POST', quorumReadPath, body),
    },
    body,
  });
  expect(response.statusCode, `node ${id} answers the quorum-read route`).toBe(200);
  return unpackQuorumMessage(new Uint8Array(await response.body.arrayBuffer())) as {
    value: unknown;
    appliedIndex: number;
    pendingIndex: number;
  };
}

/**
 * The leader's links to three followers carry every byte `laggingLinkDelayMs` late: a write
 * reaches them late and its commit later still, so for that long they hold it appended (two of
 * them acknowledged it: it is committed, and acknowledged to the client) but not applied. The
 * reading follower is one of the three; its links to the leader and the fourth follower are cut,
 * so the replicas it can ask are exactly the three that have not applied the write.
 */
async function readPendingWrite(cluster: RealCluster): Promise<{ answer: KvAnswer; reader: number }> {
  const leader = await cluster.waitForLeader();
  const [reader, second, third, prompt] = all.filter((id) => id !== leader) as [
    number,
    number,
    number,
    number,
  ];
  const lagging = [reader, second, third];
  await cluster.waitForConvergence(await put(cluster, leader, 'p', 'old'));
  const links = cluster.links!;
  links.set(
    lagging.map((to) => [leader, to] as const),
    { kind: 'delay', delayMs: laggingLinkDelayMs },
  );
  links.set(
    [
      [reader, leader],
      [reader, prompt],
    ],
    { kind: 'cut' },
  );
  const revision = await put(cluster, leader, 'p', 'new');
  // The precondition: the write is acknowledged, yet pending and unapplied on the three.
  await waitFor('the write to be pending on the lagging followers', laggingLinkDelayMs / 2, async () => {
    const states = await Promise.all(lagging.map((id) => replicaState(cluster, id, 'p')));
    return states.every((state) => state.pendingIndex >= revision && state.appliedIndex < revision)
      ? true
      : undefined;
  });
  return { answer: await client.get(cluster.url(reader), 'p', 'quorum'), reader };
}

describe('read levels on a real 5-node cluster', () => {
  let cluster: RealCluster | undefined;

  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });
  afterAll(() => client.close());

  it('a deposed leader answers no stale linearizable or quorum read', async () => {
    cluster = await RealCluster.start(5);
    const answers = await readFromDeposedLeader(cluster, ['linearizable', 'quorum', 'quorum']);
    for (const answer of answers) expectNotStale(answer, 'new');
    expect(answers.some((answer) => answer.status === 200)).toBe(true);
  });

  it('canary: with --unsafe-allow-weak-quorum --read-quorum 1 the same quorum read IS stale', async () => {
    cluster = await RealCluster.start(5, { nodeFlags: ['--unsafe-allow-weak-quorum', '--read-quorum', '1'] });
    const answers = await readFromDeposedLeader(cluster, ['quorum', 'quorum', 'quorum']);
    expect(answers.map((answer) => answer.body?.value)).toContain('old');
  });

  it('a quorum read waits out a write committed but not yet applied on the replicas it asks', async () => {
    cluster = await RealCluster.start(5, { proxies: true });
    const { answer, reader } = await readPendingWrite(cluster);
    expect(answer.status).toBe(200);
    expect(answer.body!.value).toBe('new');
    expect(await counter(cluster, reader, 'raftkv_quorum_pending_waits_total')).toBe(1);
  });

  it('planted bug: with --test-skip-pqr-wait the same read answers the stale value', async () => {
    cluster = await RealCluster.start(5, { proxies: true, nodeFlags: ['--test-skip-pqr-wait'] });
    const { answer } = await readPendingWrite(cluster);
    expect(answer.status).toBe(200);
    expect(answer.body!.value).toBe('old');
  });

  it('quorum reads spread over the nodes; the leader serves about its share', async () => {
    cluster = await RealCluster.start(5);
    const running = cluster;
    const leader = await running.waitForLeader();
    await running.waitForConvergence(await put(running, leader, 's', 1));
    const before = await Promise.all(
      all.map((id) => counter(running, id, 'raftkv_quorum_replica_answers_total')),
    );
    const reads = 200;
    for (let i = 0; i < reads; i += all.length) {
      const answers = await Promise.all(all.map((id) => client.get(running.url(id), 's', 'quorum')));
      for (const answer of answers) expect(answer.status).toBe(200);
    }
    const after = await Promise.all(
      all.map((id) => counter(running, id, 'raftkv_quorum_replica_answers_total')),
    );
    const served = after.map((count, i) => count - before[i]!);
    const total = served.reduce((sum, count) => sum + count, 0);
    // R = 3 of 5: three answers per read (a hedge adds one); each node gives about a fifth.
    expect(total).toBeGreaterThanOrEqual(3 * reads);
    for (const count of served) expect(count / total).toBeGreaterThan(0.1);
    expect(served[leader - 1]! / total).toBeLessThan(0.35);
  });
});

describe('the read quorum at start', () => {
  it('refuses R + W <= N with a clear error, before touching the data directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'raftkv-weak-'));
    try {
      const members = all.map((id) => ({ id, host: '127.0.0.1', clientPort: 1, peerPort: 2 }));
      const args = [cliPath, 'node', '--id', '1', '--members', formatMembers(members)];
      const child = spawn(process.execPath, [
        ...args,
        '--data-dir',
        join(dataDir, 'n1'),
        '--read-quorum',
        '2',
      ]);
      let stderr = '';
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toMatch(/R \+ W = 2 \+ 3 <= N = 5.*--unsafe-allow-weak-quorum/);
      expect(existsSync(join(dataDir, 'n1'))).toBe(false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
