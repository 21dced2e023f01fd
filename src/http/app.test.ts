// inject() tests of every client route and error (fastify's way), on a single-node cluster
// built from the in-memory twins: the real RaftNode and state machine, no sockets.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../node/memory-transport.js';
import { startTestNode } from '../node/test-node.js';

const member = (id: number) => ({ id, host: '127.0.0.1', clientPort: 9000 + id, peerPort: 9100 + id });

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('client routes on a single-node cluster', () => {
  let app: FastifyInstance;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    const started = await startTestNode(1, [member(1)], new MemoryNetwork());
    app = started.app;
    stop = started.stop;
    await waitUntil(
      () => started.node.status().role === 'leader' && started.node.status().appliedIndex >= 1,
      'leader',
    );
  });
  afterAll(() => stop());

  const put = (key: string, body: unknown, query = '') =>
    app.inject({ method: 'PUT', url: `/v1/kv/${key}${query}`, payload: body as object });

  it('PUT then GET returns the value with revisions and version', async () => {
    const first = await put('users/42', { value: { name: 'Ada' } });
    expect(first.statusCode).toBe(200);
    const { revision } = first.json();
    expect(revision).toBeGreaterThan(0);
    const second = await put('users/42', { value: { name: 'Grace' } });
    const got = await app.inject({ url: '/v1/kv/users/42' });
    expect(got.statusCode).toBe(200);
    expect(got.headers['x-consistency']).toBe('linearizable');
    expect(Number(got.headers['x-raft-index'])).toBeGreaterThanOrEqual(second.json().revision);
    expect(got.json()).toEqual({
      key: 'users/42',
      value: { name: 'Grace' },
      createRevision: revision,
      modRevision: second.json().revision,
      version: 2,
    });
  });

  it('every consistency level serves the read and says which it was', async () => {
    await put('levels', { value: 1 });
    for (const level of ['linearizable', 'lease', 'quorum', 'stale']) {
      const got = await app.inject({ url: `/v1/kv/levels?consistency=${level}` });
      expect(got.statusCode).toBe(200);
      expect(got.headers['x-consistency']).toBe(level);
    }
    const bad = await app.inject({ url: '/v1/kv/levels?consistency=eventual' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INVALID_ARGUMENT');
  });

  it('a quorum read answers like the others and says which replica served it at which index', async () => {
    const { revision } = (await put('quorum/k', { value: [1, 2] })).json();
    const got = await app.inject({ url: '/v1/kv/quorum/k?consistency=quorum' });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toEqual({
      key: 'quorum/k',
      value: [1, 2],
      createRevision: revision,
      modRevision: revision,
      version: 1,
    });
    expect(Number(got.headers['x-raft-index'])).toBeGreaterThanOrEqual(revision);
    expect(got.headers['x-quorum-replica']).toBe('1');
    const absent = await app.inject({ url: '/v1/kv/quorum/absent?consistency=quorum' });
    expect(absent.statusCode).toBe(404);
    expect(absent.json().error.code).toBe('KEY_NOT_FOUND');
  });

  it('a stale read says how far behind it may be: the commit index this node last heard', async () => {
    const { revision } = (await put('stale/k', { value: 1 })).json();
    const got = await app.inject({ url: '/v1/kv/stale/k?consistency=stale' });
    expect(Number(got.headers['x-raft-commit-index'])).toBeGreaterThanOrEqual(revision);
    expect(Number(got.headers['x-raft-index'])).toBeLessThanOrEqual(
      Number(got.headers['x-raft-commit-index']),
    );
  });

  it('percent-decoded keys may contain slashes and unicode', async () => {
    const key = encodeURIComponent('a/b c/ünï');
    expect((await put(key, { value: 'x' })).statusCode).toBe(200);
    expect((await app.inject({ url: `/v1/kv/${key}` })).json().key).toBe('a/b c/ünï');
  });

  it('compare-and-set on revision: match, mismatch with the current modRevision, only-if-absent', async () => {
    const { revision } = (await put('cas', { value: 1 })).json();
    const ok = await put('cas', { value: 2 }, `?ifRevision=${revision}`);
    expect(ok.statusCode).toBe(200);
    const stale = await put('cas', { value: 3 }, `?ifRevision=${revision}`);
    expect(stale.statusCode).toBe(409);
    expect(stale.json().error).toMatchObject({ code: 'REVISION_MISMATCH', modRevision: ok.json().revision });
    expect((await put('cas', { value: 4 }, '?ifRevision=0')).statusCode).toBe(409);
    expect((await put('cas-new', { value: 4 }, '?ifRevision=0')).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/kv/cas' })).json().value).toBe(2);
  });

  it('DELETE removes the key; GET then answers 404 KEY_NOT_FOUND', async () => {
    await put('gone', { value: 1 });
    const deleted = await app.inject({ method: 'DELETE', url: '/v1/kv/gone' });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json().revision).toBeGreaterThan(0);
    const got = await app.inject({ url: '/v1/kv/gone' });
    expect(got.statusCode).toBe(404);
    expect(got.json().error.code).toBe('KEY_NOT_FOUND');
  });

  it('prefix range pages by key', async () => {
    for (const n of [1, 2, 3, 4, 5]) await put(`page/${n}`, { value: n });
    const first = await app.inject({ url: '/v1/kv?prefix=page/&limit=2' });
    expect(first.json().items.map((item: { key: string }) => item.key)).toEqual(['page/1', 'page/2']);
    expect(first.json().more).toBe(true);
    const rest = await app.inject({ url: '/v1/kv?prefix=page/&limit=10&after=page/2' });
    expect(rest.json().items.map((item: { value: number }) => item.value)).toEqual([3, 4, 5]);
    expect(rest.json().more).toBe(false);
  });

  it('msgpack bodies are accepted', async () => {
    const { pack } = await import('msgpackr');
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/kv/packed',
      headers: { 'content-type': 'application/msgpack' },
      payload: pack({ value: [1, 'two'] }),
    });
    expect(response.statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/kv/packed' })).json().value).toEqual([1, 'two']);
  });

  const badInputs: {
    name: string;
    request: InjectOptions;
    status: number;
    code: string;
  }[] = [
    {
      name: 'bad JSON',
      request: {
        method: 'PUT',
        url: '/v1/kv/k',
        headers: { 'content-type': 'application/json' },
        payload: '{"value":',
      },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'no value field',
      request: { method: 'PUT', url: '/v1/kv/k', payload: { val: 1 } },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'body not an object',
      request: { method: 'PUT', url: '/v1/kv/k', payload: [1] as never },
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'key too long',
      request: { method: 'PUT', url: `/v1/kv/${'k'.repeat(1025)}`, payload: { value: 1 } },
      status: 400,
      code: 'INVALID_KEY',
    },
    {
      name: 'value too large',
      request: { method: 'PUT', url: '/v1/kv/big', payload: { value: 'x'.repeat(300 * 1024) } },
      status: 413,
      code: 'VALUE_TOO_LARGE',
    },
    {
      name: 'body too large',
      request: { method: 'PUT', url: '/v1/kv/huge', payload: { value: 'x'.repeat(1100 * 1024) } },
      status: 413,
      code: 'BODY_TOO_LARGE',
    },
    {
      name: 'negative revision',
      request: { method: 'PUT', url: '/v1/kv/k?ifRevision=-1', payload: { value: 1 } },
      status: 400,
      code: 'INVALID_REVISION',
    },
    {
      name: 'revision not a number',
      request: { method: 'DELETE', url: '/v1/kv/k?ifRevision=abc' },
      status: 400,
      code: 'INVALID_REVISION',
    },
    { name: 'bad range limit', request: { url: '/v1/kv?limit=0' }, status: 400, code: 'INVALID_ARGUMENT' },
    {
      name: 'quorum reads are per key, not ranges',
      request: { url: '/v1/kv?consistency=quorum' },
      status: 400,
      code: 'INVALID_ARGUMENT',
    },
    {
      name: 'unsupported media type',
      request: { method: 'PUT', url: '/v1/kv/k', headers: { 'content-type': 'text/plain' }, payload: 'hi' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'bad msgpack',
      request: {
        method: 'PUT',
        url: '/v1/kv/k',
        headers: { 'content-type': 'application/msgpack' },
        payload: Buffer.from([0xc1]),
      },
      status: 400,
      code: 'BAD_REQUEST',
    },
    { name: 'unknown route', request: { url: '/v2/nothing' }, status: 404, code: 'NOT_FOUND' },
    {
      name: 'empty key',
      request: { method: 'PUT', url: '/v1/kv/', payload: { value: 1 } },
      status: 400,
      code: 'INVALID_KEY',
    },
  ];

  for (const bad of badInputs) {
    it(`bad input: ${bad.name} -> ${bad.status} ${bad.code}, nothing written`, async () => {
      const before = (await app.inject({ url: '/v1/status' })).json().commitIndex;
      const response = await app.inject(bad.request);
      expect(response.statusCode).toBe(bad.status);
      expect(response.json().error.code).toBe(bad.code);
      expect((await app.inject({ url: '/v1/status' })).json().commitIndex).toBe(before);
    });
  }

  it('status, health, readiness, metrics and the status page', async () => {
    const status = (await app.inject({ url: '/v1/status' })).json();
    expect(status).toMatchObject({
      id: 1,
      role: 'leader',
      preVote: false,
      leaderId: 1,
      pid: process.pid,
      peers: [],
    });
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('raftkv_term 1');
    expect(metrics.body).toContain('raftkv_fsync_seconds');
    const page = await app.inject({ url: '/' });
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('raftkv node 1');
    expect(page.body).toContain('curl -X PUT');
  });
});

describe('a follower with no leader', () => {
  it('refuses writes with 503 NO_LEADER and Retry-After, or 421 NOT_LEADER when asked not to forward', async () => {
    const network = new MemoryNetwork();
    const members = [member(1), member(2), member(3)];
    const started = await startTestNode(1, members, network);
    try {
      const write = await started.app.inject({ method: 'PUT', url: '/v1/kv/x', payload: { value: 1 } });
      expect(write.statusCode).toBe(503);
      expect(write.headers['retry-after']).toBeDefined();
      expect(write.json().error.code).toBe('NO_LEADER');
      const noForward = await started.app.inject({
        method: 'PUT',
        url: '/v1/kv/x',
        headers: { 'raftkv-no-forward': '1' },
        payload: { value: 1 },
      });
      expect(noForward.statusCode).toBe(421);
      expect(noForward.json().error.code).toBe('NOT_LEADER');
      const read = await started.app.inject({ url: '/v1/kv/x' });
      expect(read.statusCode).toBe(503);
      expect((await started.app.inject({ url: '/readyz' })).statusCode).toBe(503);
      expect((await started.app.inject({ url: '/v1/kv/x?consistency=stale' })).statusCode).toBe(404);
    } finally {
      await started.stop();
    }
  });
});

describe('admin routes', () => {
  it('answer loopback clients only; faults only with fault injection on', async () => {
    const applied: unknown[] = [];
    const withFaults = await startTestNode(1, [member(1)], new MemoryNetwork(), (faults) =>
      applied.push(faults),
    );
    const without = await startTestNode(1, [member(1)], new MemoryNetwork());
    try {
      await waitUntil(() => withFaults.node.status().role === 'leader', 'leader');
      const members = await withFaults.app.inject({ url: '/admin/members' });
      expect(members.json()).toEqual({
        voters: [{ id: 1, url: 'http://127.0.0.1:9001', peer: '127.0.0.1:9101' }],
        learners: [],
      });
      const remote = await withFaults.app.inject({ url: '/admin/members', remoteAddress: '10.1.2.3' });
      expect(remote.statusCode).toBe(403);
      expect(remote.json().error.code).toBe('FORBIDDEN');

      const fault = { clockOffsetMs: 3_600_000, clockRate: 1.05, diskDelayMs: 20 };
      const ok = await withFaults.app.inject({ method: 'POST', url: '/admin/faults', payload: fault });
      expect(ok.statusCode).toBe(200);
      expect(applied).toEqual([fault]);
      for (const bad of [
        { clockRate: 0 },
        { diskDelayMs: -1 },
        { clockOffsetMs: 'soon' },
        { reboot: true },
      ]) {
        const refused = await withFaults.app.inject({ method: 'POST', url: '/admin/faults', payload: bad });
        expect(refused.statusCode, JSON.stringify(bad)).toBeGreaterThanOrEqual(400);
        expect(refused.statusCode).toBeLessThan(500);
      }
      expect(applied).toHaveLength(1);

      const disabled = await without.app.inject({ method: 'POST', url: '/admin/faults', payload: fault });
      expect(disabled.statusCode).toBe(403);
      expect(disabled.json().error.code).toBe('FAULT_INJECTION_DISABLED');

      // A token header on a node without one is refused, even from loopback.
      const tokenless = await withFaults.app.inject({
        url: '/admin/members',
        headers: { authorization: 'Bearer 0123456789abcdef0123' },
      });
      expect(tokenless.statusCode).toBe(401);

      const single = await withFaults.app.inject({
        method: 'POST',
        url: '/admin/transfer-leader',
        payload: {},
      });
      expect(single.statusCode).toBe(400);
      expect(single.json().error.code).toBe('INVALID_ARGUMENT');
    } finally {
      await withFaults.stop();
      await without.stop();
    }
  });
});

describe('admin routes with --admin-token-file', () => {
  it('answer any address that brings the token; a wrong or malformed token is 401 even from loopback', async () => {
    const token = 'admin-token-0123456789abcdef';
    const started = await startTestNode(1, [member(1)], new MemoryNetwork(), undefined, {
      adminToken: token,
    });
    try {
      const ask = (remoteAddress: string, authorization?: string) =>
        started.app.inject({
          url: '/admin/members',
          remoteAddress,
          headers: authorization === undefined ? {} : { authorization },
        });
      expect((await ask('10.1.2.3', `Bearer ${token}`)).statusCode).toBe(200);
      expect((await ask('127.0.0.1')).statusCode).toBe(200);
      expect((await ask('10.1.2.3')).json().error.code).toBe('FORBIDDEN');
      for (const bad of [`Bearer ${token}x`, `Bearer ${token.slice(1)}`, token, 'Bearer', `Basic ${token}`]) {
        for (const address of ['10.1.2.3', '127.0.0.1']) {
          const refused = await ask(address, bad);
          expect(refused.statusCode, `${address} ${bad}`).toBe(401);
          expect(refused.json().error.code).toBe('UNAUTHORIZED');
        }
      }
    } finally {
      await started.stop();
    }
  });
});
