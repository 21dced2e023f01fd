// A small KV client for tests and workloads: one undici Agent, answers as data (never throws
// for an HTTP error status), so callers can classify ok / fail / unknown.
import { Agent, request } from 'undici';

export interface KvAnswer {
  status: number;
  body: Record<string, unknown> | null;
  /** A network error or timeout: the request may or may not have had an effect. */
  networkError?: string;
  /** Its code (`ECONNREFUSED`, `UND_ERR_HEADERS_TIMEOUT`, ...) when it has one. */
  networkErrorCode?: string;
}

export class KvClient {
  private readonly agent: Agent;

  /** `tlsCa`: the nodes serve https with certificates signed by it. */
  constructor(
    private readonly timeoutMs = 10_000,
    tlsCa?: Buffer,
  ) {
    this.agent = new Agent({
      connections: 64,
      keepAliveTimeout: 10_000,
      connectTimeout: 2_000,
      ...(tlsCa ? { connect: { ca: tlsCa } } : {}),
    });
  }

  private async call(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<KvAnswer> {
    try {
      const response = await request(url, {
        method,
        dispatcher: this.agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const text = await response.body.text();
      return {
        status: response.statusCode,
        body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
      };
    } catch (error) {
      const { message, code } = error as NodeJS.ErrnoException;
      return {
        status: 0,
        body: null,
        networkError: message,
        ...(code === undefined ? {} : { networkErrorCode: code }),
      };
    }
  }

  /** With `ifRevision`, a compare-and-set: only if the key's modRevision is that (0: only if absent). */
  put(baseUrl: string, key: string, value: unknown, ifRevision?: number): Promise<KvAnswer> {
    const condition = ifRevision === undefined ? '' : `?ifRevision=${ifRevision}`;
    return this.call('PUT', `${baseUrl}/v1/kv/${encodeURIComponent(key)}${condition}`, { value });
  }

  get(baseUrl: string, key: string, consistency = 'linearizable'): Promise<KvAnswer> {
    return this.call('GET', `${baseUrl}/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`);
  }

  range(baseUrl: string, options: { prefix?: string; after?: string; limit?: number; consistency?: string }) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(options))
      if (value !== undefined) query.set(name, String(value));
    return this.call('GET', `${baseUrl}/v1/kv?${query}`);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Why a request did not succeed, for the history: the error code, else the HTTP status or network error. */
export function failureOf(answer: KvAnswer): string {
  if (answer.networkError !== undefined) return answer.networkError;
  const error = answer.body?.error as { code?: unknown } | undefined;
  return typeof error?.code === 'string' ? error.code : `HTTP ${answer.status}`;
}
