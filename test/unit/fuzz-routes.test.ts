// Hostile input (design.md §6 "Errors"): arbitrary methods, paths, queries, bodies and content
// types against every route. Never a 500, never a crash, and rejected input changes nothing.
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryNetwork } from '../../src/node/memory-transport.js';
import { startTestNode } from '../../src/node/test-node.js';

const routes = [
  '/v1/kv/',
  '/v1/kv',
  '/v1/status',
  '/healthz',
  '/readyz',
  '/admin/faults',
  '/admin/transfer-leader',
  '/admin/members',
  '/',
];
const hostileStrings = fc.oneof(
  fc.string(),
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    '../../etc/passwd',
    '%00',
    '%ff%fe',
    '%',
    '..%2F..%2F',
    '\u0000',
    '\ud800',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
);
const hostileJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.record({ value: fc.jsonValue({ maxDepth: 3 }) }),
  fc.record({ __proto__: fc.jsonValue(), value: fc.constant(1) }, { noNullPrototype: false }),
  fc.constantFrom({ value: 1e308 }, { value: -0 }, { value: '\ud800' }, { to: 99 }, { clockRate: 1e9 }),
);

/** Percent-encodes the UTF-8 bytes (a lone surrogate becomes U+FFFD, as a client would send). */
function percentEncode(text: string): string {
  return [...new TextEncoder().encode(text)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
}

/** Path suffixes sent as they are: malformed percent escapes and invalid UTF-8. */
const rawSuffixes = fc.constantFrom('%ff%fe', '%ED%A0%80', '%', '%zz', 'a%2Fb', '%C0%AF');

describe('every route under hostile input', () => {
  let app: FastifyInstance;
  let stop: () => Promise<void>;
  let status: () => { commitIndex: number };

  beforeAll(async () => {
    const started = await startTestNode(
      1,
      [{ id: 1, host: '127.0.0.1', clientPort: 9001, peerPort: 9101 }],
      new MemoryNetwork(),
    );
    app = started.app;
    stop = started.stop;
    status = () => started.node.status();
    // Ready, not only leading: /readyz is 503 until the leader has applied its first entry.
    const deadline = Date.now() + 10_000;
    while ((await app.inject({ url: '/readyz' })).statusCode !== 200) {
      if (Date.now() > deadline) throw new Error('the test node never became ready');
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  afterAll(() => stop());

  it('answers 2xx or 4xx with a coded error, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'PATCH'),
        fc.constantFrom(...routes),
        fc.oneof(hostileStrings.map(percentEncode), rawSuffixes),
        fc.dictionary(
          fc.constantFrom('ifRevision', 'consistency', 'limit', 'after', 'prefix', 'x'),
          hostileStrings,
        ),
        fc.option(hostileJson),
        fc.constantFrom(
          'application/json',
          'application/msgpack',
          'text/plain',
          'application/x-www-form-urlencoded',
          '',
        ),
        async (method, route, suffix, query, body, contentType) => {
          const path = route.endsWith('/') && route !== '/' ? `${route}${suffix}` : route;
          const search = new URLSearchParams(query).toString();
          const response = await app.inject({
            method: method as 'GET',
            url: search ? `${path}?${search}` : path,
            headers: contentType ? { 'content-type': contentType } : {},
            payload: body === null ? undefined : JSON.stringify(body),
          });
          expect(response.statusCode, `${method} ${path} -> ${response.body}`).toBeLessThan(500);
          if (response.statusCode >= 400) expect(typeof response.json().error.code).toBe('string');
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a rejected write leaves the log untouched', async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileStrings,
        fc.oneof(fc.string(), fc.integer(), fc.constant('{"value":')),
        async (key, raw) => {
          const before = status().commitIndex;
          const response = await app.inject({
            method: 'PUT',
            url: `/v1/kv/${percentEncode(key)}?ifRevision=-5`,
            headers: { 'content-type': 'application/json' },
            payload: typeof raw === 'string' ? raw : String(raw),
          });
          expect(response.statusCode).toBeGreaterThanOrEqual(400);
          expect(response.statusCode).toBeLessThan(500);
          expect(status().commitIndex).toBe(before);
        },
      ),
      { numRuns: 200 },
    );
  });
});
