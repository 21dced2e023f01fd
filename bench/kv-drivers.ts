// One small driver per way of reaching a system: raftkv over HTTP (undici pools), etcd over gRPC
// (the `etcd3` client, its fastest path from Node) and etcd over its JSON gateway (undici).
// A driver never throws for a failed request: it answers the kind of failure, so errors are
// counted by kind instead of hidden.
import { randomBytes } from 'node:crypto';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { Pool } from 'undici';
import type { LoadgenParams } from './loadgen-protocol.js';

/** undefined when the request succeeded; otherwise what went wrong, e.g. `http-503`, `timeout`. */
export type Outcome = string | undefined;

export interface KvDriver {
  put(key: string): Promise<Outcome>;
  get(key: string): Promise<Outcome>;
  close(): Promise<void>;
}

/** Distinct random values, so neither store gets an unfairly compressible workload (LevelDB compresses). */
const valuePoolSize = 1024;
/** How long an idle keep-alive connection stays open; longer than any pause inside one run. */
const keepAliveMs = 60_000;

function randomValues(valueBytes: number): string[] {
  // base64 of n bytes has 4n/3 characters: draw enough bytes, then cut to the exact size.
  const bytesNeeded = Math.ceil((valueBytes * 3) / 4);
  return Array.from({ length: valuePoolSize }, () =>
    randomBytes(bytesNeeded).toString('base64').slice(0, valueBytes),
  );
}

function networkErrorKind(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return typeof code === 'string' ? code : (error as Error).name;
}

/** Spreads requests round-robin over one undici pool per endpoint. */
class HttpPools {
  private readonly pools: Pool[];
  private nextPool = 0;

  constructor(
    endpoints: readonly string[],
    connectionsPerEndpoint: number,
    private readonly timeoutMs: number,
  ) {
    this.pools = endpoints.map(
      (url) => new Pool(url, { connections: connectionsPerEndpoint, keepAliveTimeout: keepAliveMs }),
    );
  }

  /** Sends one request; `found` checks a 2xx body when a missing key is not an HTTP error. */
  async send(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    body: string | undefined,
    found?: (text: string) => boolean,
  ): Promise<Outcome> {
    const pool = this.pools[this.nextPool++ % this.pools.length]!;
    try {
      const response = await pool.request({
        method,
        path,
        body,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const text = await response.body.text();
      if (response.statusCode < 200 || response.statusCode > 299) return `http-${response.statusCode}`;
      return found && !found(text) ? 'not-found' : undefined;
    } catch (error) {
      return networkErrorKind(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool.close()));
  }
}

function raftkvHttpDriver(params: LoadgenParams): KvDriver {
  // Every client may land on the same node (leader only), so each pool can hold them all.
  const pools = new HttpPools(params.endpoints, params.concurrency, params.requestTimeoutMs);
  const values = randomValues(params.valueBytes).map((value) => JSON.stringify({ value }));
  let nextValue = 0;
  return {
    put: (key) => pools.send('PUT', `/v1/kv/${key}`, values[nextValue++ % values.length]),
    get: (key) => pools.send('GET', `/v1/kv/${key}?consistency=${params.consistency}`, undefined),
    close: () => pools.close(),
  };
}

/** etcd has no lease read for clients: lease and linearizable both map to its linearizable read. */
function etcdSerializable(params: LoadgenParams): boolean {
  return params.consistency === 'stale';
}

function etcdGatewayDriver(params: LoadgenParams): KvDriver {
  const pools = new HttpPools(params.endpoints, params.concurrency, params.requestTimeoutMs);
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const values = randomValues(params.valueBytes).map(base64);
  const serializable = etcdSerializable(params);
  let nextValue = 0;
  return {
    put: (key) =>
      pools.send(
        'POST',
        '/v3/kv/put',
        JSON.stringify({ key: base64(key), value: values[nextValue++ % values.length] }),
      ),
    get: (key) =>
      pools.send('POST', '/v3/kv/range', JSON.stringify({ key: base64(key), serializable }), (text) =>
        text.includes('"kvs"'),
      ),
    close: () => pools.close(),
  };
}

function grpcErrorKind(error: unknown): string {
  const name = (error as Error).name;
  return name === 'GRPCDeadlineExceededError' ? 'timeout' : name;
}

function etcdGrpcDriver(params: LoadgenParams): KvDriver {
  // No retries and no circuit breaker: a failed call is counted, as it is for raftkv.
  const client = new Etcd3({ hosts: params.endpoints, faultHandling: { host: () => noop, global: noop } });
  const values = randomValues(params.valueBytes).map((value) => Buffer.from(value));
  const serializable = etcdSerializable(params);
  const deadline = () => ({ deadline: Date.now() + params.requestTimeoutMs });
  let nextValue = 0;
  return {
    async put(key) {
      try {
        await client.kv.put(
          { key: Buffer.from(key), value: values[nextValue++ % values.length] },
          deadline(),
        );
        return undefined;
      } catch (error) {
        return grpcErrorKind(error);
      }
    },
    async get(key) {
      try {
        const answer = await client.kv.range({ key: Buffer.from(key), serializable }, deadline());
        return answer.kvs.length === 1 ? undefined : 'not-found';
      } catch (error) {
        return grpcErrorKind(error);
      }
    },
    close: async () => client.close(),
  };
}

export function createKvDriver(params: LoadgenParams): KvDriver {
  if (params.client === 'http') return raftkvHttpDriver(params);
  return params.client === 'grpc' ? etcdGrpcDriver(params) : etcdGatewayDriver(params);
}
