// Leader transfer through the real binary: on request (POST /admin/transfer-leader) and on a
// leader's SIGTERM, with every acknowledged write kept.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { KvClient } from '../../jepsen-lite/real/kv-client.js';
import { RealCluster, waitFor } from '../../jepsen-lite/real/real-cluster.js';

describe('leader transfer', () => {
  let cluster: RealCluster | undefined;
  const client = new KvClient();

  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it('moves leadership on request and on SIGTERM, losing no write', async () => {
    cluster = await RealCluster.start(3);
    const running = cluster;
    const first = await running.waitForLeader();
    expect((await client.put(running.url(first), 'before', 1)).status).toBe(200);

    const target = [1, 2, 3].find((id) => id !== first)!;
    const response = await request(`${running.url(first)}/admin/transfer-leader`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: target }),
    });
    expect(response.statusCode).toBe(200);
    expect(await response.body.json()).toMatchObject({ from: first, to: target, transferred: true });
    expect(await running.waitForLeader()).toBe(target);
    expect((await client.put(running.url(target), 'after-transfer', 2)).status).toBe(200);

    expect(await running.terminate(target)).toBe(0);
    const log = await readFile(join(running.dataDir, `n${target}.log`), 'utf8');
    expect(log).toMatch(/"handedOver":true[^\n]*leadership transfer on stop/);
    const third = await running.waitForLeader(20_000, target);
    expect(third).not.toBe(target);
    await waitFor('a write after the graceful stop', 20_000, async () => {
      const answer = await client.put(running.url(third), 'after-stop', 3);
      return answer.status === 200 ? true : undefined;
    });
    for (const key of ['before', 'after-transfer', 'after-stop']) {
      expect((await client.get(running.url(third), key)).status, key).toBe(200);
    }
  });
});
