// A write that reaches a follower goes to the leader in one hop (design.md §6). Whether the
// forward failed before or after the leader could have appended it decides the answer:
// NO_LEADER (nothing appended) or OUTCOME_UNKNOWN (it may apply).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent, request as undiciRequest } from 'undici';
import { RaftkvError } from '../errors.js';

/** Marks a forwarded request so that it is never forwarded a second time. */
export const forwardedHeader = 'raftkv-forwarded';
export const noForwardHeader = 'raftkv-no-forward';

/** Errors that mean the request never reached the leader. */
const notSentCodes = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EHOSTUNREACH']);

export interface Forwarder {
  forward(request: FastifyRequest, reply: FastifyReply, leaderUrl: string): Promise<FastifyReply>;
  close(): Promise<void>;
}

const forwardedHeaders = ['content-type', 'idempotency-key', 'accept'] as const;

/** `ca`: with TLS, the leader's certificate is checked against it. */
export function createForwarder(timeoutMs: number, ca?: Buffer): Forwarder {
  const agent = new Agent({
    connections: 128,
    pipelining: 1,
    connectTimeout: 1_000,
    keepAliveTimeout: 30_000,
    ...(ca ? { connect: { ca } } : {}),
  });
  return {
    async forward(request, reply, leaderUrl) {
      const headers: Record<string, string> = { [forwardedHeader]: '1' };
      for (const name of forwardedHeaders) {
        const value = request.headers[name];
        if (typeof value === 'string') headers[name] = value;
      }
      const body = request.body === undefined ? undefined : JSON.stringify(request.body);
      if (body !== undefined) headers['content-type'] = 'application/json';
      let response: Awaited<ReturnType<typeof undiciRequest>>;
      try {
        response = await undiciRequest(`${leaderUrl}${request.url}`, {
          method: request.method as 'PUT',
          headers,
          body,
          dispatcher: agent,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (notSentCodes.has(code))
          throw new RaftkvError('NO_LEADER', 'The leader could not be reached', { leaderUrl });
        throw new RaftkvError(
          'OUTCOME_UNKNOWN',
          'The forwarded write lost its answer; it may or may not apply',
        );
      }
      const text = await response.body.text();
      reply.status(response.statusCode);
      for (const name of ['content-type', 'retry-after', 'x-raft-index', 'idempotent-replayed']) {
        const value = response.headers[name];
        if (typeof value === 'string') reply.header(name, value);
      }
      return reply.send(text);
    },
    close: () => agent.close(),
  };
}
