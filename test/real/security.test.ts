// Security through the real binary (docs/security.md): signed peer RPC keeps a node with the
// wrong secret out of the cluster, strangers and replays are refused, the admin token guards
// admin routes, and a cluster runs entirely over TLS.
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KvClient } from '../../jepsen-lite/real/kv-client.js';
import { RealCluster, waitFor } from '../../jepsen-lite/real/real-cluster.js';
import { peerMessagesContentType, peerMessagesPath } from '../../src/node/http-transport.js';
import { PeerAuth } from '../../src/node/peer-auth.js';
import { clusterIdOf } from '../../src/node/server.js';
import { encodeMessages } from '../../src/raft/messages.js';
import { runNodeToExit } from '../support/cli.js';

const goodSecret = 'the-cluster-secret-0123456789abcdef';
const badSecret = 'not-the-cluster-secret-0123456789ab';
const adminToken = 'admin-token-0123456789abcdef';

let dir: string;
const files = { good: '', bad: '', token: '', short: '', cert: '', key: '' };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-security-'));
  files.good = join(dir, 'good-secret');
  files.bad = join(dir, 'bad-secret');
  files.token = join(dir, 'admin-token');
  files.short = join(dir, 'short-secret');
  files.cert = join(dir, 'cert.pem');
  files.key = join(dir, 'key.pem');
  await writeFile(files.good, `${goodSecret}\n`);
  await writeFile(files.bad, `${badSecret}\n`);
  await writeFile(files.token, `${adminToken}\n`);
  await writeFile(files.short, 'short\n');
  // A self-signed certificate for 127.0.0.1, shared by every node (it is its own CA).
  execFileSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    files.key,
    '-out',
    files.cert,
    '-days',
    '2',
    '-subj',
    '/CN=raftkv-test',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('cluster credentials and admin token', () => {
  let cluster: RealCluster | undefined;
  const client = new KvClient();

  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it('keeps a node with the wrong secret out, refuses strangers and replays, and lets it in with the right one', async () => {
    const secretOf = new Map([
      [1, files.good],
      [2, files.good],
      [3, files.bad],
    ]);
    cluster = await RealCluster.start(3, {
      nodeFlagsFor: (id) => ['--cluster-secret-file', secretOf.get(id)!, '--admin-token-file', files.token],
    });
    const running = cluster;
    const leader = await running.waitForLeader();
    expect(leader).not.toBe(3);
    expect((await client.put(running.url(leader), 'k', 'v1')).status).toBe(200);

    // Node 3 hears nothing it can trust: after several election timeouts it knows no leader.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const outsider = await running.status(3);
    expect(outsider.leaderId ?? 0).toBe(0);
    expect(outsider.appliedIndex).toBe(0);
    const leaderLog = await readFile(join(running.dataDir, `n${leader}.log`), 'utf8');
    expect(leaderLog).toContain('peer request refused: bad cluster credentials');

    // Raw requests to the leader's peer port.
    const peer = running.members.find((m) => m.id === leader)!;
    const peerUrl = `http://127.0.0.1:${peer.peerPort}${peerMessagesPath}`;
    const body = Buffer.from(
      encodeMessages([{ type: 'heartbeat', from: 2, to: 99, term: 1, commit: 0, round: 1 }]),
    );
    const post = async (headers: Record<string, string>) => {
      const response = await request(peerUrl, {
        method: 'POST',
        headers: { 'content-type': peerMessagesContentType, ...headers },
        body,
      });
      const text = await response.body.text();
      return { status: response.statusCode, code: text ? JSON.parse(text).error?.code : undefined };
    };
    const clusterId = clusterIdOf('raftkv', running.members);
    expect(await post({})).toEqual({ status: 401, code: 'UNAUTHORIZED' });
    const forger = new PeerAuth({ clusterId, nodeId: 2, secret: Buffer.from(badSecret) });
    expect(await post(forger.headers('POST', peerMessagesPath, body))).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    const foreign = new PeerAuth({
      clusterId: 'another-cluster',
      nodeId: 2,
      secret: Buffer.from(goodSecret),
    });
    expect(await post(foreign.headers('POST', peerMessagesPath, body))).toEqual({
      status: 403,
      code: 'CLUSTER_MISMATCH',
    });
    const insider = new PeerAuth({ clusterId, nodeId: 2, secret: Buffer.from(goodSecret) });
    const signed = insider.headers('POST', peerMessagesPath, body);
    expect((await post(signed)).status).toBe(204);
    expect(await post(signed)).toEqual({ status: 401, code: 'UNAUTHORIZED' });

    // Admin: loopback without a token works, a wrong token does not.
    const transfer = (authorization?: string) =>
      request(`${running.url(leader)}/admin/members`, {
        headers: authorization ? { authorization } : {},
      }).then(async (response) => {
        await response.body.dump();
        return response.statusCode;
      });
    expect(await transfer()).toBe(200);
    expect(await transfer(`Bearer ${adminToken}`)).toBe(200);
    expect(await transfer('Bearer wrong-token-0123456789')).toBe(401);

    // With the right secret, node 3 joins and catches up.
    await running.kill(3);
    secretOf.set(3, files.good);
    running.startNode(3);
    await waitFor('node 3 to catch up', 30_000, async () => {
      const answer = await client.get(running.url(3), 'k', 'stale');
      return answer.status === 200 && answer.body?.value === 'v1' ? true : undefined;
    });
    await client.close();
  });

  it('refuses to start with a short secret, a missing file or half of the TLS flags, saying why', () => {
    const run = (flags: string[]) => runNodeToExit(join(dir, 'never'), flags);
    const short = run(['--cluster-secret-file', files.short]);
    expect(short.status).toBe(2);
    expect(short.stderr).toMatch(/at least 16/);
    const missing = run(['--admin-token-file', join(dir, 'nope')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/--admin-token-file .*ENOENT/);
    const half = run(['--tls-cert', files.cert]);
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/--tls-cert and --tls-key go together/);
    const mismatched = run(['--tls-cert', files.cert, '--tls-key', files.good]);
    expect(mismatched.status).toBe(2);
  });
});

describe('TLS on both ports', () => {
  let cluster: RealCluster | undefined;

  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  it('replicates, forwards and serves quorum reads over TLS, and refuses plain http', async () => {
    const ca = await readFile(files.cert);
    cluster = await RealCluster.start(3, {
      nodeFlags: ['--tls-cert', files.cert, '--tls-key', files.key, '--cluster-secret-file', files.good],
      tlsCa: ca,
    });
    const running = cluster;
    const client = new KvClient(10_000, ca);
    try {
      const leader = await running.waitForLeader();
      const follower = [1, 2, 3].find((id) => id !== leader)!;
      expect(running.url(follower)).toMatch(/^https:/);
      // Written on a follower: forwarded to the leader over https, replicated over TLS peer links.
      expect((await client.put(running.url(follower), 'secure', 42)).status).toBe(200);
      const quorum = await client.get(running.url(follower), 'secure', 'quorum');
      expect(quorum.status).toBe(200);
      expect(quorum.body?.value).toBe(42);
      expect((await client.get(running.url(follower), 'secure', 'linearizable')).body?.value).toBe(42);

      const member = running.members.find((m) => m.id === follower)!;
      await expect(request(`http://127.0.0.1:${member.clientPort}/healthz`)).rejects.toThrow();
      // A client that does not trust the certificate is refused by TLS itself.
      await expect(request(`${running.url(follower)}/healthz`)).rejects.toThrow(/certificate/);
    } finally {
      await client.close();
    }
  });
});
