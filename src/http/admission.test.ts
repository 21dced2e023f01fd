// Admission control (design.md §6 "Overload"): the per-client and node-wide limits refuse with
// 429 OVERLOADED / 503 BUSY and Retry-After before the body is read, exempt routes always answer,
// and the counts return to zero however a request ends: answered, failed, aborted by its client,
// or stranded in a pipeline on a connection that died.
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { clientConnectionsMax, clientKeepAliveTimeoutMs, clientRequestTimeoutMs } from '../config.js';
import { RaftkvError } from '../errors.js';
import { MemoryNetwork } from '../node/memory-transport.js';
import { NodeMetrics } from '../node/metrics.js';
import { startTestNode } from '../node/test-node.js';
import { type Admission, type AdmissionLimits, installAdmission } from './admission.js';
import { installErrorHandlers } from './errors.js';

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const exemptRequests = [
  { method: 'GET', url: '/healthz' },
  { method: 'GET', url: '/readyz' },
  { method: 'GET', url: '/metrics' },
  { method: 'GET', url: '/v1/status' },
  { method: 'GET', url: '/' },
  { method: 'GET', url: '/admin/members' },
  { method: 'POST', url: '/admin/transfer-leader' },
] as const;

/** A minimal client app: every write waits at a gate the test opens. */
async function gatedApp(limits: Partial<AdmissionLimits>, metrics?: NodeMetrics) {
  const app = Fastify();
  installErrorHandlers(app);
  const admission = installAdmission(app, limits, metrics);
  const waiting: (() => void)[] = [];
  let bodiesParsed = 0;
  app.addContentTypeParser('application/x-counted', { parseAs: 'string' }, (_request, body, done) => {
    bodiesParsed++;
    done(null, body);
  });
  app.put('/v1/kv/*', async () => {
    await new Promise<void>((resolve) => waiting.push(resolve));
    return { revision: 1 };
  });
  app.get('/fail/coded', async () => {
    throw new RaftkvError('NO_QUORUM');
  });
  app.get('/fail/bug', async () => {
    throw new Error('a bug');
  });
  for (const { method, url } of exemptRequests)
    app.route({ method, url, handler: async () => ({ ok: true }) });
  await app.ready();
  return {
    app,
    admission,
    bodiesParsed: () => bodiesParsed,
    waitingCount: () => waiting.length,
    openGate() {
      for (const resolve of waiting.splice(0)) resolve();
    },
  };
}

type Gated = Awaited<ReturnType<typeof gatedApp>>;

function putFrom(gated: Gated, remoteAddress: string, key = 'k') {
  return gated.app.inject({
    method: 'PUT',
    url: `/v1/kv/${key}`,
    remoteAddress,
    headers: { 'content-type': 'application/x-counted' },
    payload: 'v',
  });
}

/** Starts `count` writes from one address and waits until all are admitted and parked. */
async function parkWrites(gated: Gated, remoteAddress: string, count: number) {
  const before = gated.waitingCount();
  const answers = Array.from({ length: count }, () => putFrom(gated, remoteAddress));
  await waitUntil(() => gated.waitingCount() === before + count, `${count} parked writes`);
  return answers;
}

function expectZero(admission: Admission) {
  expect(admission.requestsInFlight).toBe(0);
  expect(admission.clientsInFlight).toBe(0);
}

describe('admission control', () => {
  let gated: Gated | undefined;
  afterEach(async () => {
    gated?.openGate();
    await gated?.app.close();
    gated = undefined;
  });

  it('refuses a client past its limit with 429 OVERLOADED and Retry-After, before parsing the body', async () => {
    gated = await gatedApp({ requestsInFlightPerClientMax: 2, requestsInFlightMax: 10 });
    const parked = await parkWrites(gated, '10.0.0.1', 2);
    const parsedBefore = gated.bodiesParsed();

    const refused = await putFrom(gated, '10.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().error.code).toBe('OVERLOADED');
    expect(gated.bodiesParsed()).toBe(parsedBefore);

    const otherClient = putFrom(gated, '10.0.0.2');
    await waitUntil(() => gated!.waitingCount() === 3, 'another client admitted');
    expect(gated.admission.requestsInFlight).toBe(3);
    expect(gated.admission.clientsInFlight).toBe(2);

    gated.openGate();
    for (const answer of await Promise.all([...parked, otherClient])) expect(answer.statusCode).toBe(200);
    expectZero(gated.admission);
  });

  it('refuses anyone once the node is full with 503 BUSY and Retry-After', async () => {
    const metrics = new NodeMetrics();
    gated = await gatedApp({ requestsInFlightPerClientMax: 2, requestsInFlightMax: 3 }, metrics);
    const parked = [...(await parkWrites(gated, '10.0.0.1', 2)), ...(await parkWrites(gated, '10.0.0.2', 1))];

    const refused = await putFrom(gated, '10.0.0.3');
    expect(refused.statusCode).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.json().error.code).toBe('BUSY');
    // The per-client limit is checked first: this client is over both.
    expect((await putFrom(gated, '10.0.0.1')).json().error.code).toBe('OVERLOADED');

    const exposition = await metrics.registry.metrics();
    expect(exposition).toContain('raftkv_requests_refused_total{code="BUSY"} 1');
    expect(exposition).toContain('raftkv_requests_refused_total{code="OVERLOADED"} 1');
    expect(exposition).toContain('raftkv_client_requests_in_flight 3');

    gated.openGate();
    await Promise.all(parked);
    expectZero(gated.admission);
    expect(await metrics.registry.metrics()).toContain('raftkv_client_requests_in_flight 0');
  });

  it('answers health, status, metrics and admin routes while saturated, and counts none of them', async () => {
    gated = await gatedApp({ requestsInFlightPerClientMax: 1, requestsInFlightMax: 1 });
    const parked = await parkWrites(gated, '127.0.0.1', 1);
    for (const { method, url } of exemptRequests) {
      const answer = await gated.app.inject({ method, url, remoteAddress: '127.0.0.1' });
      expect(answer.statusCode, `${method} ${url}`).toBe(200);
    }
    expect(gated.admission.requestsInFlight).toBe(1);
    // Exemption is by route, not by a path that merely looks like one.
    expect((await putFrom(gated, '127.0.0.2', 'healthz')).statusCode).toBe(503);
    expect((await gated.app.inject({ method: 'PUT', url: '/healthz' })).statusCode).toBe(429);
    gated.openGate();
    await Promise.all(parked);
    expectZero(gated.admission);
  });

  it('releases requests that fail: coded errors, bugs, bad input and unknown routes', async () => {
    gated = await gatedApp({ requestsInFlightPerClientMax: 1, requestsInFlightMax: 1 });
    const answers = [
      await gated.app.inject({ url: '/fail/coded' }),
      await gated.app.inject({ url: '/fail/bug' }),
      await gated.app.inject({ url: '/nowhere' }),
      await gated.app.inject({
        method: 'PUT',
        url: '/v1/kv/k',
        headers: { 'content-type': 'application/json' },
        payload: '{not json',
      }),
    ];
    expect(answers.map((answer) => answer.statusCode)).toEqual([503, 500, 404, 400]);
    expectZero(gated.admission);
    // With a limit of 1, a leaked count would refuse this one.
    const next = putFrom(gated, '127.0.0.1');
    await waitUntil(() => gated!.waitingCount() === 1, 'the next write admitted');
    gated.openGate();
    expect((await next).statusCode).toBe(200);
  });

  describe('on a listening server', () => {
    async function listen(limits: Partial<AdmissionLimits>): Promise<string> {
      gated = await gatedApp(limits);
      return gated.app.listen({ host: '127.0.0.1', port: 0 });
    }

    it('releases a request whose client aborts it mid-flight, once', async () => {
      const url = await listen({ requestsInFlightPerClientMax: 1, requestsInFlightMax: 1 });
      const abort = new AbortController();
      const answer = request(`${url}/v1/kv/k`, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-counted' },
        body: 'v',
        signal: abort.signal,
      });
      await waitUntil(() => gated!.waitingCount() === 1, 'the write parked');
      expect(gated!.admission.requestsInFlight).toBe(1);
      abort.abort();
      await expect(answer).rejects.toThrow();
      await waitUntil(() => gated!.admission.requestsInFlight === 0, 'the aborted write released');
      // Its handler finishes later, into a closed connection: no second release.
      gated!.openGate();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expectZero(gated!.admission);
    });

    it('releases pipelined requests stranded on a connection that dies, once each', async () => {
      const url = new URL(await listen({ requestsInFlightPerClientMax: 8, requestsInFlightMax: 8 }));
      const socket = connect(Number(url.port), url.hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      // One answered request first, so the connection's 'close' listener precedes the responses'.
      const answered = new Promise((resolve) => socket.once('data', resolve));
      socket.write('GET /fail/coded HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(String(await answered)).toMatch(/^HTTP\/1.1 503/);
      const put = (key: string) =>
        `PUT /v1/kv/${key} HTTP/1.1\r\nHost: x\r\ncontent-type: application/x-counted\r\ncontent-length: 1\r\n\r\nv`;
      socket.write(put('a') + put('b') + put('c'));
      await waitUntil(() => gated!.waitingCount() === 3, 'three pipelined writes parked');
      expect(gated!.admission.requestsInFlight).toBe(3);
      socket.destroy();
      await waitUntil(() => gated!.admission.requestsInFlight === 0, 'the stranded writes released');
      gated!.openGate();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expectZero(gated!.admission);
    });

    it('counts completed requests on a keep-alive connection back to zero', async () => {
      const url = await listen({ requestsInFlightPerClientMax: 4, requestsInFlightMax: 4 });
      for (let i = 0; i < 20; i++) {
        const answer = request(`${url}/v1/kv/k${i}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/x-counted' },
          body: 'v',
        });
        await waitUntil(() => gated!.waitingCount() === 1, 'the write parked');
        gated!.openGate();
        const response = await answer;
        expect(response.statusCode).toBe(200);
        await response.body.dump();
      }
      await waitUntil(() => gated!.admission.requestsInFlight === 0, 'all released');
      expectZero(gated!.admission);
    });
  });
});

describe('buildApp', () => {
  it('installs admission, its metrics and the connection guards', async () => {
    const node = await startTestNode(
      1,
      [{ id: 1, host: '127.0.0.1', clientPort: 9001, peerPort: 9101 }],
      new MemoryNetwork(),
    );
    try {
      const app: FastifyInstance = node.app;
      expect(app.server.maxConnections).toBe(clientConnectionsMax);
      expect(app.server.keepAliveTimeout).toBe(clientKeepAliveTimeoutMs);
      expect(app.server.requestTimeout).toBe(clientRequestTimeoutMs);
      const metrics = await app.inject({ url: '/metrics' });
      expect(metrics.body).toContain('raftkv_client_requests_in_flight 0');
      expect(metrics.body).toContain('# TYPE raftkv_requests_refused_total counter');
    } finally {
      await node.stop();
    }
  });
});
