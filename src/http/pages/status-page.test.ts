// The status page shows an example curl line for every route the client app serves (design.md
// §6): the routes are collected as fastify registers them, so a new route without a line fails.
import { describe, expect, it, vi } from 'vitest';
import { MemoryNetwork } from '../../node/memory-transport.js';
import { startTestNode } from '../../node/test-node.js';
import { renderStatusPage } from './status-page.js';

const registered = vi.hoisted(() => [] as { method: string; url: string }[]);

vi.mock('fastify', async (importOriginal) => {
  const actual = await importOriginal<typeof import('fastify')>();
  const withRouteLog = ((options: unknown) => {
    const app = actual.default(options as never);
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) registered.push({ method, url: route.url });
    });
    return app;
  }) as unknown as typeof actual.default;
  return { ...actual, default: withRouteLog };
});

const base = 'http://127.0.0.1:7001';

/** Each curl line as the method it sends and the path it asks for. */
function curlRequests(page: string): { method: string; path: string }[] {
  const lines = [...page.matchAll(/<pre>(.*?)<\/pre>/g)].map((match) =>
    match[1]!.replace(/&#(\d+);/g, (_, code) => String.fromCharCode(Number(code))),
  );
  return lines.map((line) => {
    const url = /'?(http:\/\/[^\s']+)/.exec(line)?.[1] ?? '';
    return { method: /-X (\w+)/.exec(line)?.[1] ?? 'GET', path: new URL(url).pathname };
  });
}

/** `/v1/kv/*` matches `/v1/kv/users/42`; `:name` matches one segment. */
function routePattern(url: string): RegExp {
  const escaped = url.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\*/g, '.+').replace(/:\w+/g, '[^/]+')}$`);
}

describe('the status page', () => {
  it('has an example curl line for every client route', async () => {
    const member = { id: 1, host: '127.0.0.1', clientPort: 7001, peerPort: 7101 };
    const started = await startTestNode(1, [member], new MemoryNetwork());
    await started.stop();
    const page = renderStatusPage(
      {
        id: 1,
        role: 'leader',
        preVote: false,
        term: 1,
        leaderId: 1,
        commitIndex: 1,
        appliedIndex: 1,
        lastIndex: 1,
        logTimeMs: 0,
        pid: 1,
        peers: [],
      },
      [],
      base,
    );
    const requests = curlRequests(page);
    // HEAD is GET's automatic twin; `/` is this page itself.
    const routes = registered.filter((route) => route.method !== 'HEAD' && route.url !== '/');
    expect(routes.length).toBeGreaterThan(5);
    const missing = routes.filter(
      (route) =>
        !requests.some(
          (request) => request.method === route.method && routePattern(route.url).test(request.path),
        ),
    );
    expect(missing, 'routes without a curl line on the status page').toEqual([]);
  });
});
