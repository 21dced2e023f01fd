// Through the real binary (design.md §9): 5 processes, SIGKILL the leader under writes, restart
// it, and every acknowledged write is still there with its value on every node.
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../jepsen-lite/real/kv-client.js';
import { RealCluster } from '../../jepsen-lite/real/real-cluster.js';

/** Attempts per key: a write refused during a (possibly spurious) election is retried, as a client would. */
const writeAttemptsMax = 10;
/** Failed answers seen, by status and code, for the assertion messages. */
const failures = new Map<string, number>();

/** Writes `count` distinct keys with `concurrency` writers spread over the given nodes. */
async function writeKeys(
  cluster: RealCluster,
  client: KvClient,
  prefix: string,
  count: number,
  nodes: () => number[],
  concurrency = 16,
  keepGoing: () => boolean = () => true,
): Promise<Map<string, string>> {
  const acknowledged = new Map<string, string>();
  let next = 0;
  async function writer(): Promise<void> {
    while (next < count && keepGoing()) {
      const i = next++;
      const key = `${prefix}/${i}`;
      const value = `v-${prefix}-${i}`;
      for (let attempt = 0; attempt < writeAttemptsMax && keepGoing(); attempt++) {
        const targets = nodes();
        const answer = await client.put(cluster.url(targets[(i + attempt) % targets.length]!), key, value);
        if (answer.status === 200) {
          acknowledged.set(key, value);
          break;
        }
        const reason = `${answer.status} ${(answer.body?.error as { code?: string } | undefined)?.code ?? answer.networkError}`;
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)));
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, writer));
  return acknowledged;
}

/** Every acknowledged key has its value on every node (read page by page from local state). */
async function expectAllReadable(
  cluster: RealCluster,
  client: KvClient,
  acknowledged: Map<string, string>,
  ids: number[],
) {
  for (const id of ids) {
    const stored = new Map<string, unknown>();
    let after = '';
    for (;;) {
      const page = await client.range(cluster.url(id), { after, limit: 1000, consistency: 'stale' });
      expect(page.status).toBe(200);
      const items = page.body!.items as { key: string; value: unknown }[];
      for (const item of items) stored.set(item.key, item.value);
      if (!page.body!.more) break;
      after = items.at(-1)!.key;
    }
    const missing = [...acknowledged].filter(([key, value]) => stored.get(key) !== value).map(([key]) => key);
    expect(missing, `node ${id} lost acknowledged writes`).toEqual([]);
  }
}

describe('a real 5-node cluster', () => {
  let cluster: RealCluster | undefined;
  const client = new KvClient();

  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it('survives SIGKILL of the leader and loses no acknowledged write', async () => {
    cluster = await RealCluster.start(5);
    const all = [1, 2, 3, 4, 5];
    const firstLeader = await cluster.waitForLeader();
    const before = await writeKeys(cluster, client, 'before', 1000, () => all);
    expect(before.size, `failed answers: ${JSON.stringify([...failures])}`).toBe(1000);

    await cluster.kill(firstLeader);
    const secondLeader = await cluster.waitForLeader(20_000, firstLeader);
    expect(secondLeader).not.toBe(firstLeader);
    const alive = all.filter((id) => id !== firstLeader);
    const after = await writeKeys(cluster, client, 'after', 300, () => alive);
    expect(after.size).toBeGreaterThan(0);

    cluster.startNode(firstLeader);
    const leaderStatus = await cluster.status(secondLeader);
    await cluster.waitForConvergence(leaderStatus.commitIndex);
    await expectAllReadable(cluster, client, new Map([...before, ...after]), all);
  });

  it('SIGKILL of all five mid-load loses no acknowledged write', async () => {
    cluster = await RealCluster.start(5);
    const all = [1, 2, 3, 4, 5];
    await cluster.waitForLeader();
    const running = cluster;
    let killed = false;
    const load = writeKeys(
      cluster,
      client,
      'load',
      100_000,
      () => all,
      32,
      () => !killed,
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const id of all) await running.kill(id);
    killed = true;
    const acknowledged = await load;
    expect(acknowledged.size).toBeGreaterThan(50);

    for (const id of all) running.startNode(id);
    const leader = await running.waitForLeader(30_000);
    const leaderStatus = await running.status(leader);
    await running.waitForConvergence(leaderStatus.commitIndex);
    await expectAllReadable(running, client, acknowledged, all);
  });
});
