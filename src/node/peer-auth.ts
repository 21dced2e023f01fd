// Cluster credentials on every peer RPC (design.md §6 "Peer RPC", docs/security.md).
//
// Every request between nodes names its cluster id; a node of another cluster is refused (403
// CLUSTER_MISMATCH). With a shared secret (--cluster-secret-file) it also carries
//   raftkv-auth: v1.<unix ms>.<nonce>.<HMAC-SHA256(secret, v1\nclusterId\nfrom\nMETHOD\npath\nms\nnonce\n + body)>
// and a request without a valid one is 401 UNAUTHORIZED. The timestamp must be within
// peerAuthClockSkewMsMax of the receiver's wall clock and a nonce is accepted once, so a
// captured request cannot be replayed later (Raft tolerates duplicates anyway, but a stranger
// should not be able to feed the core at all).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { assert } from '../assert.js';
import { clusterSecretBytesMin, peerAuthClockSkewMsMax, peerAuthNoncesMax } from '../config.js';
import { RaftkvError } from '../errors.js';
import type { NodeId } from '../raft/messages.js';

export const clusterIdHeader = 'raftkv-cluster-id';
export const fromNodeHeader = 'raftkv-from';
export const authHeader = 'raftkv-auth';

const authVersion = 'v1';

export { clusterSecretBytesMin, peerAuthClockSkewMsMax, peerAuthNoncesMax };

/** Refusals are logged at most once per reason per this interval (with the count since the last line). */
const refusalLogIntervalMs = 10_000;
const nonceBytes = 16;
/** How often spent nonces whose timestamps went stale are swept out (see sweepNonces). */
const nonceSweepIntervalMs = 1_000;
/** A sweep at peerAuthNoncesMax forgets the oldest down to this share of it. */
const nonceSweepKeepFraction = 7 / 8;

export type RefusalReason =
  | 'missing'
  | 'malformed'
  | 'clusterMismatch'
  | 'stale'
  | 'badSignature'
  | 'replayed';

export interface PeerAuthOptions {
  clusterId: string;
  nodeId: NodeId;
  /** The shared cluster secret; null means peers are checked for the cluster id only. */
  secret: Buffer | null;
  logger?: Logger;
  /** Wall clock in ms (tests pass their own). */
  nowMs?: () => number;
}

export class PeerAuth {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  private readonly secret: Buffer | null;
  private readonly logger: Logger | undefined;
  private readonly nowMs: () => number;
  /** nonce -> the wall time after which its timestamp is stale anyway; oldest first. */
  private readonly nonces = new Map<string, number>();
  private nextNonceSweepAtMs = 0;
  private readonly refusals: Record<RefusalReason, number> = {
    missing: 0,
    malformed: 0,
    clusterMismatch: 0,
    stale: 0,
    badSignature: 0,
    replayed: 0,
  };
  private readonly lastLogged = new Map<RefusalReason, { atMs: number; count: number }>();

  constructor(options: PeerAuthOptions) {
    assert(options.clusterId.length > 0, 'a cluster id');
    assert(options.secret === null || options.secret.length >= clusterSecretBytesMin, 'secret too short');
    this.clusterId = options.clusterId;
    this.nodeId = options.nodeId;
    this.secret = options.secret;
    this.logger = options.logger;
    this.nowMs = options.nowMs ?? Date.now;
  }

  get signs(): boolean {
    return this.secret !== null;
  }

  /** The headers a request from this node carries. `path` is the request's path with its query. */
  headers(method: string, path: string, body: Uint8Array): Record<string, string> {
    const headers: Record<string, string> = {
      [clusterIdHeader]: this.clusterId,
      [fromNodeHeader]: String(this.nodeId),
    };
    if (this.secret === null) return headers;
    const timestamp = String(this.nowMs());
    const nonce = randomBytes(nonceBytes).toString('base64url');
    const signature = this.sign(String(this.nodeId), method, path, timestamp, nonce, body);
    headers[authHeader] = `${authVersion}.${timestamp}.${nonce}.${signature}`;
    return headers;
  }

  /**
   * The cheap part, before the body is read: the cluster id, and the shape and age of the
   * credentials. Throws the refusal (401 / 403); the body is checked by verifyBody.
   */
  checkHeaders(headers: IncomingHttpHeaders, remote: string | undefined): void {
    this.admit(headers, remote);
  }

  /** Checks everything: the headers again, the signature over the whole request; spends the nonce. */
  verifyBody(
    headers: IncomingHttpHeaders,
    method: string,
    path: string,
    body: Uint8Array,
    remote: string | undefined,
  ): void {
    const parsed = this.admit(headers, remote);
    if (parsed === null) return;
    // The texts are compared, not their decoded bytes: the last base64url character of a
    // 32-byte MAC carries two unused bits, and a changed header must never pass.
    const expected = Buffer.from(this.sign(parsed.from, method, path, parsed.timestamp, parsed.nonce, body));
    const given = Buffer.from(parsed.signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw this.refuse('badSignature', remote);
    }
    this.spendNonce(parsed.nonce, parsed.timestampMs, remote);
  }

  refusalCounts(): Readonly<Record<RefusalReason, number>> {
    return { ...this.refusals };
  }

  private sign(
    from: string,
    method: string,
    path: string,
    timestamp: string,
    nonce: string,
    body: Uint8Array,
  ): string {
    assert(this.secret !== null, 'signing needs a secret');
    return createHmac('sha256', this.secret)
      .update(`${authVersion}\n${this.clusterId}\n${from}\n${method}\n${path}\n${timestamp}\n${nonce}\n`)
      .update(body)
      .digest('base64url');
  }

  /** The checks of checkHeaders; the parsed credentials, or null when there is no secret to sign with. */
  private admit(headers: IncomingHttpHeaders, remote: string | undefined) {
    const clusterId = headers[clusterIdHeader];
    if (typeof clusterId !== 'string') throw this.refuse('missing', remote);
    if (clusterId !== this.clusterId) throw this.refuse('clusterMismatch', remote);
    if (this.secret === null) return null;
    const parsed = this.parse(headers, remote);
    const ageMs = Math.abs(this.nowMs() - parsed.timestampMs);
    if (ageMs > peerAuthClockSkewMsMax) throw this.refuse('stale', remote);
    return parsed;
  }

  private parse(headers: IncomingHttpHeaders, remote: string | undefined) {
    const value = headers[authHeader];
    const from = headers[fromNodeHeader];
    if (typeof value !== 'string' || typeof from !== 'string') throw this.refuse('missing', remote);
    const parts = value.split('.');
    const [version, timestamp, nonce, signature] = parts;
    if (
      parts.length !== 4 ||
      version !== authVersion ||
      !/^\d{1,15}$/.test(timestamp!) ||
      !/^[\w-]{1,64}$/.test(nonce!) ||
      !/^[\w-]{43}$/.test(signature!) ||
      !/^\d{1,15}$/.test(from)
    ) {
      throw this.refuse('malformed', remote);
    }
    return {
      from,
      timestamp: timestamp!,
      timestampMs: Number(timestamp),
      nonce: nonce!,
      signature: signature!,
    };
  }

  private spendNonce(nonce: string, timestampMs: number, remote: string | undefined): void {
    const now = this.nowMs();
    if (now >= this.nextNonceSweepAtMs || this.nonces.size >= peerAuthNoncesMax) this.sweepNonces(now);
    if (this.nonces.has(nonce)) throw this.refuse('replayed', remote);
    this.nonces.set(nonce, timestampMs + peerAuthClockSkewMsMax);
  }

  /**
   * Forgets the spent nonces whose timestamps are stale anyway (a replay of one is refused for
   * its timestamp), and at peerAuthNoncesMax the oldest, down to a share of it. Once a second,
   * not per request: a sweep walks the Map from its front, where each deleted entry leaves a
   * dead slot until the Map rehashes, so a walk per request would cross tens of thousands of them
   * under a steady stream of quorum reads.
   */
  private sweepNonces(now: number): void {
    this.nextNonceSweepAtMs = now + nonceSweepIntervalMs;
    const full = this.nonces.size >= peerAuthNoncesMax;
    const keepMax = full ? Math.floor(peerAuthNoncesMax * nonceSweepKeepFraction) : peerAuthNoncesMax;
    for (const [oldest, staleAtMs] of this.nonces) {
      if (staleAtMs > now && this.nonces.size < keepMax) break;
      this.nonces.delete(oldest);
    }
  }

  private refuse(reason: RefusalReason, remote: string | undefined): RaftkvError {
    this.refusals[reason] += 1;
    const now = this.nowMs();
    const last = this.lastLogged.get(reason);
    if (last === undefined || now - last.atMs >= refusalLogIntervalMs) {
      this.logger?.warn(
        { reason, remote, refusedSinceLastLine: (last?.count ?? 0) + 1 },
        'peer request refused: bad cluster credentials',
      );
      this.lastLogged.set(reason, { atMs: now, count: 0 });
    } else {
      last.count += 1;
    }
    if (reason === 'clusterMismatch') return new RaftkvError('CLUSTER_MISMATCH');
    return new RaftkvError('UNAUTHORIZED', unauthorizedMessages[reason]);
  }
}

const unauthorizedMessages: Record<Exclude<RefusalReason, 'clusterMismatch'>, string> = {
  missing: 'Peer requests need cluster credentials (raftkv-cluster-id, raftkv-from, raftkv-auth)',
  malformed: 'The raftkv-auth header is malformed',
  stale: `The request's timestamp is more than ${peerAuthClockSkewMsMax} ms from this node's clock`,
  badSignature: "The request is not signed with this cluster's secret",
  replayed: 'The request was already received once (replay)',
};

/**
 * Refuses peer requests with missing or foreign credentials before their bodies are read (a
 * stranger cannot make the node buffer megabytes). Each route still calls verifyBody.
 */
export function guardPeerApp(app: FastifyInstance, auth: PeerAuth): void {
  app.addHook('onRequest', async (request, reply) => {
    try {
      auth.checkHeaders(request.headers, request.socket.remoteAddress);
    } catch (error) {
      if (!(error instanceof RaftkvError)) throw error;
      return reply.code(error.status).send(error.toJSON());
    }
  });
}
