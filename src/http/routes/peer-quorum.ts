// The peer route of quorum reads (design.md §5, §6 "Peer RPC"), on the peer port:
// `POST /quorum/read` with `{"key"}` (msgpack or JSON) answers what this node's applied state holds
// for the key, with the applied and pending indices the coordinator's wait rule needs. The answer
// is msgpack when the request accepts it, JSON otherwise.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RaftkvError } from '../../errors.js';
import type { PeerAuth } from '../../node/peer-auth.js';
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

function decodeBody(request: FastifyRequest, raw: Uint8Array): unknown {
  if (raw.length === 0) return undefined;
  const isMsgpack = request.headers['content-type']?.startsWith(quorumReadContentType) ?? false;
  try {
    return isMsgpack ? unpackQuorumMessage(raw) : JSON.parse(Buffer.from(raw).toString('utf8'));
  } catch {
    throw new RaftkvError('BAD_REQUEST', `The body is not valid ${isMsgpack ? 'msgpack' : 'JSON'}`);
  }
}

function acceptsMsgpack(request: FastifyRequest): boolean {
  return request.headers.accept?.includes(quorumReadContentType) ?? false;
}

/** `answer` reads the key from local applied state (and throws INVALID_KEY for a key no put could write). */
export function registerQuorumReadRoute(
  app: FastifyInstance,
  answer: (key: string) => Promise<ReplicaAnswer>,
  auth: PeerAuth,
): void {
  app.register(async (scope) => {
    // Bodies stay bytes until the request's credentials are checked over them.
    scope.removeAllContentTypeParsers();
    for (const type of [quorumReadContentType, 'application/json']) {
      scope.addContentTypeParser(
        type,
        { parseAs: 'buffer', bodyLimit: quorumReadBodyBytesMax },
        (_request, body, done) => done(null, body),
      );
    }
    scope.setErrorHandler(sendError);
    scope.post(quorumReadPath, { bodyLimit: quorumReadBodyBytesMax }, async (request, reply) => {
      const raw = request.body instanceof Uint8Array ? request.body : new Uint8Array(0);
      auth.verifyBody(request.headers, 'POST', request.url, raw, request.socket.remoteAddress);
      const replicaAnswer = await answer(requestedKey(decodeBody(request, raw)));
      if (!acceptsMsgpack(request)) return replicaAnswer;
      return reply.header('content-type', quorumReadContentType).send(packQuorumMessage(replicaAnswer));
    });
  });
}
