// One small driver per way of reaching a system: raftkv over HTTP (undici pools), etcd over gRPC
// (the `etcd3` client, its fastest path from Node) and etcd over its JSON gateway (undici).
// A driver never throws for a failed request: it answers the kind of failure, so errors are
// counted by kind instead of hidden.
//
// Compare-and-set is the same on both: replace the key's value if its last write is the one the
// driver last saw (raftkv `PUT ?ifRevision=R`; etcd a txn comparing mod_revision, with a read of
// the key on failure). Every answer, a swap or a refusal, tells the driver the key's current
// revision, which the next attempt uses. Each attempt is one consensus round on both systems.
import { randomBytes } from 'node:crypto';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { Pool } from 'undici';
import type { LoadgenParams } from './loadgen-protocol.js';

/** undefined when the request succeeded; otherwise what went wrong, e.g. `http-503`, `timeout`. */
export type Outcome = string | undefined;

/** A compare-and-set the store refused because the key had changed: an answer, not an error. */
export const casConflict = 'cas-conflict';

export interface KvDriver {
  put(key: string): Promise<Outcome>;
  get(key: string): Promise<Outcome>;
  /** One compare-and-set attempt: undefined (swapped), `casConflict`, or an error. */
  cas(key: string): Promise<Outcome>;
  close(): Promise<void>;
}

/** Reads a 2xx answer: undefined when it is what was asked for, or what it is instead. */
type Judge = (statusCode: number, text: string) => Outcome;

/** The longest text of an answer's error kept in its kind (etcd's gateway sends a sentence). */
const errorTextMax = 60;

/**
 * What a failed answer is, for the report's error counts: the status, then the error's own name
 * where the body gives one, e.g. `http-503 NO_LEADER` (raftkv's stable code) or `http-503 etcdserver:
 * request timed out` (etcd's gateway), since one status covers several causes on both systems.
 */
export function failedAnswerKind(statusCode: number, text: string): string {
  let name: unknown;
  try {
    const body = JSON.parse(text) as { error?: unknown };
    const error = body?.error;
    name = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : error;
  } catch {
    name = undefined;
  }
  if (typeof name !== 'string' || name.length === 0) return `http-${statusCode}`;
  return `http-${statusCode} ${name.slice(0, errorTextMax)}`;
}

const judgeStatus: Judge = (statusCode, text) =>
  statusCode >= 200 && statusCode <= 299 ? undefined : failedAnswerKind(statusCode, text);

/** The revision each key was last seen at by this driver's compare-and-sets (0: absent). */
class SeenRevisions {
  private readonly revisions = new Map<string, number>();

  get(key: string): number {
    return this.revisions.get(key) ?? 0;
  }

  /** Keeps the newest: answers to attempts sent at once arrive in any order. */
  saw(key: string, revision: number): void {
    if (revision > this.get(key)) this.revisions.set(key, revision);
  }
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

  /** Sends one request; `judge` reads the answer (a missing key may be a 2xx, a conflict a 409). */
  async send(
    method: 'GET' | 'PUT' | 'POST',
    path: string,
    body: string | undefined,
    judge: Judge = judgeStatus,
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
      return judge(response.statusCode, await response.body.text());
    } catch (error) {
      return networkErrorKind(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.pools.map((pool) => pool.close()));
  }
}

/** raftkv's answer to `PUT ?ifRevision`: `{revision}`, or 409 REVISION_MISMATCH with the key's `modRevision`. */
function raftkvCasJudge(key: string, seen: SeenRevisions): Judge {
  return (statusCode, text) => {
    if (statusCode === 200) {
      seen.saw(key, (JSON.parse(text) as { revision: number }).revision);
      return undefined;
    }
    if (statusCode !== 409) return failedAnswerKind(statusCode, text);
    // No modRevision: the key is absent, and the next attempt creates it (ifRevision=0).
    const { modRevision } = (JSON.parse(text) as { error: { modRevision?: number } }).error;
    if (modRevision !== undefined) seen.saw(key, modRevision);
    return casConflict;
  };
}

function raftkvHttpDriver(params: LoadgenParams): KvDriver {
  // Every client may land on the same node (leader only), so each pool can hold them all.
  const pools = new HttpPools(params.endpoints, params.concurrency, params.requestTimeoutMs);
  const values = randomValues(params.valueBytes).map((value) => JSON.stringify({ value }));
  const seen = new SeenRevisions();
  let nextValue = 0;
  const nextBody = () => values[nextValue++ % values.length];
  return {
    put: (key) => pools.send('PUT', `/v1/kv/${key}`, nextBody()),
    get: (key) => pools.send('GET', `/v1/kv/${key}?consistency=${params.consistency}`, undefined),
    cas: (key) =>
      pools.send('PUT', `/v1/kv/${key}?ifRevision=${seen.get(key)}`, nextBody(), raftkvCasJudge(key, seen)),
    close: () => pools.close(),
  };
}

/** etcd has no lease read for clients: lease and linearizable both map to its linearizable read. */
function etcdSerializable(params: LoadgenParams): boolean {
  return params.consistency === 'stale';
}

/** The txn of one etcd compare-and-set: put if the key's mod_revision is `revision`, else read it. */
function etcdCasTxn<K, V>(key: K, value: V, revision: number) {
  return {
    compare: [{ key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: revision }],
    success: [{ request_put: { key, value } }],
    failure: [{ request_range: { key } }],
  };
}

/** The JSON gateway's txn answer: 64-bit numbers as strings, false and empty fields left out. */
interface GatewayTxnAnswer {
  header: { revision: string };
  succeeded?: boolean;
  responses?: { response_range?: { kvs?: { mod_revision: string }[] } }[];
}

function gatewayCasJudge(key: string, seen: SeenRevisions): Judge {
  return (statusCode, text) => {
    if (statusCode !== 200) return failedAnswerKind(statusCode, text);
    const answer = JSON.parse(text) as GatewayTxnAnswer;
    if (answer.succeeded) {
      seen.saw(key, Number(answer.header.revision));
      return undefined;
    }
    const current = answer.responses?.[0]?.response_range?.kvs?.[0];
    if (current) seen.saw(key, Number(current.mod_revision));
    return casConflict;
  };
}

function etcdGatewayDriver(params: LoadgenParams): KvDriver {
  const pools = new HttpPools(params.endpoints, params.concurrency, params.requestTimeoutMs);
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const values = randomValues(params.valueBytes).map(base64);
  const serializable = etcdSerializable(params);
  const seen = new SeenRevisions();
  let nextValue = 0;
  const nextValueText = () => values[nextValue++ % values.length];
  const foundJudge: Judge = (statusCode, text) =>
    judgeStatus(statusCode, text) ?? (text.includes('"kvs"') ? undefined : 'not-found');
  return {
    put: (key) =>
      pools.send('POST', '/v3/kv/put', JSON.stringify({ key: base64(key), value: nextValueText() })),
    get: (key) =>
      pools.send('POST', '/v3/kv/range', JSON.stringify({ key: base64(key), serializable }), foundJudge),
    cas: (key) => {
      const txn = etcdCasTxn(base64(key), nextValueText(), seen.get(key));
      // The gateway spells enum values in capitals.
      const body = { ...txn, compare: [{ ...txn.compare[0], target: 'MOD', result: 'EQUAL' }] };
      return pools.send('POST', '/v3/kv/txn', JSON.stringify(body), gatewayCasJudge(key, seen));
    },
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
  const seen = new SeenRevisions();
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
    async cas(key) {
      const keyBytes = Buffer.from(key);
      const txn = etcdCasTxn(keyBytes, values[nextValue++ % values.length]!, seen.get(key));
      try {
        const answer = await client.kv.txn(txn, deadline());
        if (answer.succeeded) {
          seen.saw(key, Number(answer.header.revision));
          return undefined;
        }
        const current = answer.responses[0]?.response_range.kvs[0];
        if (current) seen.saw(key, Number(current.mod_revision));
        return casConflict;
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
