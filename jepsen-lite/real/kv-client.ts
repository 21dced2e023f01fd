// A small KV client for tests and workloads: one undici Agent, answers as data (never throws
// for an HTTP error status), so callers can classify ok / fail / unknown.
import { Agent, request } from 'undici';

export interface KvAnswer {
  status: number;
  body: Record<string, unknown> | null;
  /** A network error or timeout: the request may or may not have had an effect. */
  networkError?: string;
}

export class KvClient {
  private readonly agent = new Agent({ connections: 64, keepAliveTimeout: 10_000, connectTimeout: 2_000 });

  constructor(private readonly timeoutMs = 10_000) {}

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
      return { status: 0, body: null, networkError: (error as Error).message };
    }
  }

  put(baseUrl: string, key: string, value: unknown): Promise<KvAnswer> {
    return this.call('PUT', `${baseUrl}/v1/kv/${encodeURIComponent(key)}`, { value });
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
