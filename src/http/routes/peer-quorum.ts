// The peer route of quorum reads (design.md §5, §6 "Peer RPC"), on the peer port:
// `POST /quorum/read` with `{"key"}` (msgpack or JSON) answers what this node's applied state holds
// for the key, with the applied and pending indices the coordinator's wait rule needs. The answer
// is msgpack when the request accepts it, JSON otherwise.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RaftkvError } from '../../errors.js';
import type { ReplicaAnswer } from '../../quorum/quorum-rule.js';
import {
  packQuorumMessage,
  quorumReadContentType,
  quorumReadPath,
  unpackQuorumMessage,
} from '../../quorum/replica-answer.js';
import { sendError } from '../errors.js';

/** A request is one key (at most 1 KiB) and its envelope. */
export const quorumReadBodyBytesMax = 4 * 1024;

function requestedKey(body: unknown): string {
  if (typeof body !== 'object' || body === null || typeof (body as { key?: unknown }).key !== 'string') {
    throw new RaftkvError('BAD_REQUEST', `${quorumReadPath} needs a body {"key": "<key>"}`);
  }
  return (body as { key: string }).key;
}

function acceptsMsgpack(request: FastifyRequest): boolean {
  return request.headers.accept?.includes(quorumReadContentType) ?? false;
}

/** `answer` reads the key from local applied state (and throws INVALID_KEY for a key no put could write). */
export function registerQuorumReadRoute(
  app: FastifyInstance,
  answer: (key: string) => Promise<ReplicaAnswer>,
): void {
  app.register(async (scope) => {
    scope.addContentTypeParser(
      quorumReadContentType,
      { parseAs: 'buffer', bodyLimit: quorumReadBodyBytesMax },
      (_request, body, done) => {
        try {
          done(null, unpackQuorumMessage(body as Buffer));
        } catch {
          done(new RaftkvError('BAD_REQUEST', 'The body is not valid msgpack'), undefined);
        }
      },
    );
    scope.setErrorHandler(sendError);
    scope.post(quorumReadPath, { bodyLimit: quorumReadBodyBytesMax }, async (request, reply) => {
      const replicaAnswer = await answer(requestedKey(request.body));
      if (!acceptsMsgpack(request)) return replicaAnswer;
      return reply.header('content-type', quorumReadContentType).send(packQuorumMessage(replicaAnswer));
    });
  });
}
