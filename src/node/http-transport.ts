// The real nodes' transport: `POST /raft` carries a msgpack batch of one-way messages (design.md
// §6 "Peer RPC"). Each peer has a bounded queue drained by one sender loop; a slow or dead peer
// costs dropped messages (Raft resends), never a blocked core or unbounded memory.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Client } from 'undici';
import { assert } from '../assert.js';
import { defaultHttpTransportLimits, type HttpTransportLimits } from '../config.js';
import { RaftkvError } from '../errors.js';
import {
  encodeMessages,
  entryBytes,
  MalformedMessageError,
  type Message,
  type NodeId,
} from '../raft/messages.js';
import { emptyTransportStats, Inbox } from './inbox.js';
import type { PeerAuth } from './peer-auth.js';
import type { MessageHandler, Transport, TransportStats } from './transport.js';

export { defaultHttpTransportLimits, type HttpTransportLimits };

export const peerMessagesPath = '/raft';
export const peerMessagesContentType = 'application/msgpack';

/** What a message costs against the byte limits, without encoding it twice. */
const messageOverheadBytes = 64;

function estimatedMessageBytes(message: Message): number {
  if (message.type !== 'app') return messageOverheadBytes;
  return message.entries.reduce((bytes, entry) => bytes + entryBytes(entry), messageOverheadBytes);
}

export interface HttpTransportOptions {
  nodeId: NodeId;
  /** Signs every request this node sends and checks every one it receives (peer-auth.ts). */
  auth: PeerAuth;
  /** With TLS on the peer ports, peers are dialled over https and their certificates checked against `ca`. */
  tls?: { ca: string | Buffer };
  limits?: Partial<HttpTransportLimits>;
  /** Told when a peer stops answering and when it answers again (not on every failed POST). */
  logger?: Logger;
}

export class HttpTransport implements Transport {
  readonly nodeId: NodeId;
  readonly limits: HttpTransportLimits;
  readonly inbox: Inbox;
  readonly auth: PeerAuth;
  private readonly tls: { ca: string | Buffer } | undefined;
  private readonly counters = emptyTransportStats();
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly logger: Logger | undefined;
  /** Set once close() starts; a second close() waits for the same one. */
  private closing: Promise<void> | null = null;

  constructor(options: HttpTransportOptions) {
    this.nodeId = options.nodeId;
    this.limits = { ...defaultHttpTransportLimits, ...options.limits };
    assert(this.limits.peerRequestsInFlightMax >= 1, 'peerRequestsInFlightMax >= 1');
    assert(
      this.limits.retryBackoffMsMin >= 1 && this.limits.retryBackoffMsMin <= this.limits.retryBackoffMsMax,
      'retry backoff must satisfy 1 <= min <= max',
    );
    this.logger = options.logger;
    this.auth = options.auth;
    this.tls = options.tls;
    this.inbox = new Inbox(this.nodeId, this.counters);
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const link = this.closing === null ? this.links.get(message.to) : undefined;
      if (link === undefined || !link.enqueue(message)) this.counters.dropped += 1;
    }
  }

  onMessages(handler: MessageHandler): void {
    this.inbox.setHandler(handler);
  }

  /** `address` is `host:port` of the peer's peer port; a changed address redials at once. */
  setPeer(id: NodeId, address: string): void {
    assert(this.closing === null, 'setPeer on a closed transport');
    const origin = originOf(address, this.tls === undefined ? 'http' : 'https');
    const link = this.links.get(id);
    if (link === undefined) {
      const sending = { limits: this.limits, counters: this.counters, auth: this.auth, tls: this.tls };
      this.links.set(id, new PeerLink(id, origin, sending, this.logger));
    } else {
      link.redial(origin);
    }
  }

  /** Messages waiting in the queue for `peer` (not yet in a request); 0 for an unknown peer. */
  queuedMessages(peer: NodeId): number {
    return this.links.get(peer)?.queuedMessages() ?? 0;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Stops every sender loop, drops what is still queued, and waits for requests in flight. */
  close(): Promise<void> {
    if (this.closing === null) {
      this.inbox.close();
      this.closing = Promise.all([...this.links.values()].map((link) => link.close())).then(() => {});
    }
    return this.closing;
  }
}

function originOf(address: string, scheme: 'http' | 'https'): string {
  let url: URL | undefined;
  try {
    url = new URL(`${scheme}://${address}`);
  } catch {
    url = undefined;
  }
  assert(
    url !== undefined && url.port !== '' && url.pathname === '/' && url.host === address,
    () => `peer address "${address}" is not host:port`,
  );
  return url.origin;
}

/** What every link of one transport shares. */
interface Sending {
  limits: HttpTransportLimits;
  counters: TransportStats;
  auth: PeerAuth;
  tls: { ca: string | Buffer } | undefined;
}

/** One peer: its bounded queue, its connection, and the sender loop that drains one into the other. */
class PeerLink {
  private queue: Message[] = [];
  private queuedBytes = 0;
  private origin: string;
  private client: Client;
  private requestsInFlight = 0;
  private pumpScheduled = false;
  /** 0 while the peer answers; otherwise the pause taken after the last failure. */
  private backoffMs = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  private closed = false;

  private readonly limits: HttpTransportLimits;
  private readonly counters: TransportStats;

  constructor(
    private readonly peer: NodeId,
    origin: string,
    private readonly sending: Sending,
    private readonly logger: Logger | undefined,
  ) {
    this.limits = sending.limits;
    this.counters = sending.counters;
    this.origin = origin;
    this.client = this.dial(origin);
  }

  /** Queues a message unless the queue is full; false means the caller counts it dropped. */
  enqueue(message: Message): boolean {
    const bytes = estimatedMessageBytes(message);
    const full =
      this.queue.length >= this.limits.peerQueueMessagesMax ||
      (this.queue.length > 0 && this.queuedBytes + bytes > this.limits.peerQueueBytesMax);
    if (this.closed || full) return false;
    this.queue.push(message);
    this.queuedBytes += bytes;
    this.schedulePump();
    return true;
  }

  queuedMessages(): number {
    return this.queue.length;
  }

  redial(origin: string): void {
    if (origin === this.origin) return;
    const previous = this.client;
    this.origin = origin;
    this.client = this.dial(origin);
    // Requests already on the old connection finish (or time out) on their own.
    previous.close().catch(() => {});
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    await this.client.close();
  }

  private dial(origin: string): Client {
    // One connection per peer keeps batches in order (Raft copes with reordering, but an append
    // overtaking the one before it costs a reject and a resend); pipelining keeps it busy.
    return new Client(origin, {
      pipelining: this.limits.peerRequestsInFlightMax,
      connectTimeout: this.limits.connectTimeoutMs,
      headersTimeout: this.limits.headersTimeoutMs,
      bodyTimeout: this.limits.bodyTimeoutMs,
      ...(this.sending.tls ? { connect: { ca: this.sending.tls.ca } } : {}),
    });
  }

  /** Batches messages queued in the same event loop turn into one request. */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** The sender loop's step: starts requests while there is work, room in flight and no backoff. */
  private pump(): void {
    // A peer that failed last is probed with one request at a time until it answers again.
    const requestsInFlightMax = this.backoffMs > 0 ? 1 : this.limits.peerRequestsInFlightMax;
    while (
      !this.closed &&
      this.queue.length > 0 &&
      this.requestsInFlight < requestsInFlightMax &&
      this.backoffTimer === undefined
    ) {
      const batch = this.takeBatch();
      this.requestsInFlight += 1;
      void this.post(batch).finally(() => {
        this.requestsInFlight -= 1;
        this.pump();
      });
    }
  }

  private takeBatch(): Message[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && count < this.limits.batchMessagesMax) {
      const messageBytes = estimatedMessageBytes(this.queue[count]!);
      if (count > 0 && bytes + messageBytes > this.limits.batchBytesMax) break;
      bytes += messageBytes;
      count += 1;
    }
    this.queuedBytes -= bytes;
    return this.queue.splice(0, count);
  }

  /** Sends one batch; never throws: a failure drops the batch (counted) and backs off. */
  private async post(batch: Message[]): Promise<void> {
    let failure: string | null;
    try {
      const body = encodeMessages(batch);
      const response = await this.client.request({
        path: peerMessagesPath,
        method: 'POST',
        headers: {
          'content-type': peerMessagesContentType,
          ...this.sending.auth.headers('POST', peerMessagesPath, body),
        },
        body,
        // Raft messages are safe to duplicate; both flags let undici pipeline POSTs.
        idempotent: true,
        blocking: false,
      });
      await response.body.dump();
      failure = response.statusCode === 204 ? null : `HTTP ${response.statusCode}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    if (failure === null) this.succeeded(batch.length);
    else this.failed(batch.length, failure);
  }

  private succeeded(messageCount: number): void {
    this.counters.sent += messageCount;
    if (this.backoffMs > 0) this.logger?.info({ peer: this.peer }, 'peer answers again');
    this.backoffMs = 0;
  }

  private failed(messageCount: number, failure: string): void {
    this.counters.dropped += messageCount;
    // Requests that were in flight together fail together: one backoff serves them all.
    if (this.closed || this.backoffTimer !== undefined) return;
    if (this.backoffMs === 0) this.logger?.warn({ peer: this.peer, failure }, 'peer does not answer');
    this.backoffMs = Math.min(
      this.limits.retryBackoffMsMax,
      Math.max(this.limits.retryBackoffMsMin, this.backoffMs * 2),
    );
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.pump();
    }, this.backoffMs);
    this.backoffTimer.unref();
  }
}

/**
 * Adds `POST /raft` to the node's peer-port server, in its own scope so that its msgpack body
 * parser and error answers do not leak into the node's other peer routes. Every refused request
 * is counted as malformed and answered with a coded error; nothing malformed reaches the core.
 */
export function registerPeerRoutes(app: FastifyInstance, transport: HttpTransport): void {
  const refuse = (reply: FastifyReply, refusal: RaftkvError) => {
    transport.inbox.countMalformed();
    return reply.code(refusal.status).send(refusal.toJSON());
  };
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      peerMessagesContentType,
      { parseAs: 'buffer', bodyLimit: transport.limits.requestBodyBytesMax },
      (_request, body, done) => done(null, body),
    );
    // Refusals fastify raises while reading a body; any other error is a fault for the node's handler.
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      // Bad credentials are not malformed messages: answered, not counted as such.
      if (error instanceof RaftkvError) return reply.code(error.status).send(error.toJSON());
      const refusal = bodyRefusal(error);
      if (refusal === null) throw error;
      return refuse(reply, refusal);
    });
    scope.post(peerMessagesPath, async (request, reply) => {
      if (!(request.body instanceof Uint8Array)) {
        return refuse(
          reply,
          new RaftkvError('BAD_REQUEST', `${peerMessagesPath} needs a ${peerMessagesContentType} body`),
        );
      }
      const remote = request.socket.remoteAddress;
      transport.auth.verifyBody(request.headers, 'POST', request.url, request.body, remote);
      try {
        transport.inbox.receiveBatch(request.body);
      } catch (error) {
        if (!(error instanceof MalformedMessageError)) throw error;
        return refuse(reply, new RaftkvError('BAD_REQUEST', error.message));
      }
      // The messages are one-way: the answer says only that the batch was taken.
      return reply.code(204).send();
    });
  });
}

function bodyRefusal(error: FastifyError): RaftkvError | null {
  if (error.statusCode === 413) return new RaftkvError('BODY_TOO_LARGE');
  if (error.statusCode === 415) return new RaftkvError('UNSUPPORTED_MEDIA_TYPE');
  const status = error.statusCode ?? 500;
  return status >= 400 && status < 500 ? new RaftkvError('BAD_REQUEST', error.message) : null;
}
