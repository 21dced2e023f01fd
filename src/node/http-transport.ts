// The real nodes' transport (design.md §6 "Peer RPC"). Each peer link keeps one long-lived
// `POST /raft/stream` open, etcd rafthttp style: its body is a sequence of frames, each a
// msgpack batch of one-way messages, so a message costs a few bytes on an open connection
// instead of a request and an answer. Each peer has a bounded queue drained by its stream; a slow
// or dead peer costs dropped messages (Raft resends), never a blocked core or unbounded memory.
//
// The stream is authenticated once, when it opens (peer-auth.ts signs its headers with an empty
// body). Its frames are not signed one by one: their integrity then rests on the connection, as
// with etcd's streams, so a cluster that must resist an attacker on the network runs TLS on the
// peer port. `POST /raft` (one signed batch per request) is still served, for older senders.
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
import { encodeFrame, FrameReader, FrameTooLargeError } from './stream-frames.js';
import type { MessageHandler, Transport, TransportStats } from './transport.js';

export { defaultHttpTransportLimits, type HttpTransportLimits };

export const peerMessagesPath = '/raft';
export const peerMessagesContentType = 'application/msgpack';
export const peerStreamPath = '/raft/stream';
export const peerStreamContentType = 'application/x-raftkv-stream';

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
  /** Told when a peer stops answering and when it answers again (not on every failed stream). */
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

  /** Messages waiting in the queue for `peer` (not yet in a frame); 0 for an unknown peer. */
  queuedMessages(peer: NodeId): number {
    return this.links.get(peer)?.queuedMessages() ?? 0;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Ends every stream, drops what is still queued, and waits for the streams to finish. */
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

/** The stream is signed once, when it opens: the signature covers its headers, not its frames. */
const emptyBody = new Uint8Array(0);

/**
 * One peer: its bounded queue, its connection, and the stream that drains one into the other.
 * The stream is opened when there is something to send and reopened after a backoff when it fails.
 */
class PeerLink {
  private queue: Message[] = [];
  private queuedBytes = 0;
  private origin: string;
  private client: Client;
  /** The open stream; null before the first message, while backing off, and after close. At most one. */
  private stream: PeerStream | null = null;
  private wakeScheduled = false;
  /** 0 while the peer takes streams; otherwise the pause taken after the last failure. */
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
    this.scheduleWake();
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
    // The old stream dies with its connection (its frame in flight is counted dropped); the next
    // one opens on the new address at once, whatever the old address's backoff was.
    this.stream?.finish();
    this.stream = null;
    previous.destroy().catch(() => {});
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.backoffMs = 0;
    this.scheduleWake();
  }

  /** Ends the stream after the frame it is writing (the peer answers 204) and drops the queue. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.dropQueue();
    this.stream?.end();
    await this.client.close();
  }

  /** The next batch for the stream, within batchMessagesMax and batchBytesMax; null when there is none. */
  takeBatch(): Message[] | null {
    if (this.closed || this.queue.length === 0) return null;
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

  /**
   * Told each time the stream's connection took a frame. A stream that has carried frames for
   * retryBackoffMsMax counts as working: the next failure starts the backoff afresh. (A peer that
   * accepts connections but refuses the stream, e.g. 401, fails sooner, so its backoff grows.)
   */
  streamFlowing(openedAtMs: number): void {
    if (this.backoffMs === 0 || performance.now() - openedAtMs < this.limits.retryBackoffMsMax) return;
    this.logger?.info({ peer: this.peer }, 'peer answers again');
    this.backoffMs = 0;
  }

  private dropQueue(): void {
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
  }

  private dial(origin: string): Client {
    // One connection per peer keeps batches in order (Raft copes with reordering, but an append
    // overtaking the one before it costs a reject and a resend). headersTimeoutMs also bounds how
    // long a frame may wait for a peer that stopped reading (undici's timer while a write waits to drain).
    return new Client(origin, {
      connectTimeout: this.limits.connectTimeoutMs,
      headersTimeout: this.limits.headersTimeoutMs,
      bodyTimeout: this.limits.bodyTimeoutMs,
      ...(this.sending.tls ? { connect: { ca: this.sending.tls.ca } } : {}),
    });
  }

  /** Messages queued in the same event loop turn go out as one frame. */
  private scheduleWake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => {
      this.wakeScheduled = false;
      this.wake();
    });
  }

  /** Opens the stream when there is work, none is open and no backoff runs; or wakes the open one. */
  private wake(): void {
    if (this.closed || this.queue.length === 0 || this.backoffTimer !== undefined) return;
    if (this.stream !== null) {
      this.stream.wake();
      return;
    }
    const stream = new PeerStream(this, this.counters);
    this.stream = stream;
    void this.run(stream);
  }

  /** Runs one stream to its end; never throws: a failure drops what was unsent (counted) and backs off. */
  private async run(stream: PeerStream): Promise<void> {
    let failure: string | null;
    try {
      const response = await this.client.request({
        path: peerStreamPath,
        method: 'POST',
        headers: {
          'content-type': peerStreamContentType,
          ...this.sending.auth.headers('POST', peerStreamPath, emptyBody),
        },
        // undici takes an AsyncIterable body (docs/api/Dispatcher.md) though its types list only
        // Readable; a Readable would read frames ahead of the socket and hold them in its buffer.
        body: stream.frames() as AsyncIterable<Buffer> as unknown as Readable,
      });
      await response.body.dump();
      // The peer answers only once the stream ended; an answer to a stream this side did not end is a refusal.
      failure = response.statusCode === 204 && stream.ended() ? null : `HTTP ${response.statusCode}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    stream.finish();
    if (this.stream !== stream) return; // redialled meanwhile: the new stream is not this one's business
    this.stream = null;
    if (failure !== null) this.failed(failure);
  }

  private failed(failure: string): void {
    if (this.closed) return;
    if (this.backoffMs === 0) this.logger?.warn({ peer: this.peer, failure }, 'peer does not answer');
    // What waited for this stream is stale by the time the next one opens: Raft resends.
    this.dropQueue();
    this.backoffMs = Math.min(
      this.limits.retryBackoffMsMax,
      Math.max(this.limits.retryBackoffMsMin, this.backoffMs * 2),
    );
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = undefined;
      this.wake();
    }, this.backoffMs);
    this.backoffTimer.unref();
  }
}

/**
 * One `POST /raft/stream`: a body of frames that undici pulls from the link's queue, one batch per
 * frame. undici asks for the next frame only once the socket took the last one without going over
 * its write buffer's high-water mark (else it waits for 'drain'), so while the peer or the network
 * is slow, messages stay in the bounded queue, where they are batched, capped and dropped.
 */
class PeerStream {
  private readonly openedAtMs = performance.now();
  /** Set by end() or finish(): no more frames, the body ends. */
  private ending = false;
  /** Resolves the body's wait for a message. */
  private waiting: (() => void) | null = null;
  /**
   * Messages in the frame last handed to undici. They count as sent when undici asks for the next
   * frame (the socket took this one), as dropped if the stream fails first.
   */
  private unconfirmedMessages = 0;

  constructor(
    private readonly link: PeerLink,
    private readonly counters: TransportStats,
  ) {}

  async *frames(): AsyncGenerator<Buffer> {
    for (;;) {
      this.confirm();
      let batch = this.ending ? null : this.link.takeBatch();
      while (batch === null && !this.ending) {
        await new Promise<void>((resolve) => {
          this.waiting = resolve;
        });
        batch = this.ending ? null : this.link.takeBatch();
      }
      if (batch === null) return;
      this.unconfirmedMessages = batch.length;
      yield encodeFrame(encodeMessages(batch));
    }
  }

  /** There may be a batch to take. */
  wake(): void {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }

  /** No more frames: the body ends after the frame being written, and the peer answers. */
  end(): void {
    this.ending = true;
    this.wake();
  }

  ended(): boolean {
    return this.ending;
  }

  /** The request is over, one way or the other: an unconfirmed frame is dropped. */
  finish(): void {
    this.end();
    this.counters.dropped += this.unconfirmedMessages;
    this.unconfirmedMessages = 0;
  }

  private confirm(): void {
    if (this.unconfirmedMessages === 0) return;
    this.counters.sent += this.unconfirmedMessages;
    this.unconfirmedMessages = 0;
    this.link.streamFlowing(this.openedAtMs);
  }
}

/**
 * Adds `POST /raft/stream` and `POST /raft` to the node's peer-port server, in their own scope so
 * that their body parsers and error answers do not leak into the node's other peer routes. Every
 * refused request or stream is counted as malformed and answered with a coded error; nothing
 * malformed reaches the core.
 */
export function registerPeerRoutes(app: FastifyInstance, transport: HttpTransport): void {
  const refuse = (reply: FastifyReply, refusal: RaftkvError) => {
    transport.inbox.countMalformed();
    return reply.code(refusal.status).send(refusal.toJSON());
  };
  /** Streams being read: a closing server ends them rather than wait for their senders. */
  const openStreams = new Set<FastifyRequest>();
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      peerMessagesContentType,
      { parseAs: 'buffer', bodyLimit: transport.limits.requestBodyBytesMax },
      (_request, body, done) => done(null, body),
    );
    // The stream's body is read frame by frame by its route, never buffered whole.
    scope.addContentTypeParser(peerStreamContentType, (_request, payload, done) => done(null, payload));
    // Refusals fastify raises while reading a body; any other error is a fault for the node's handler.
    scope.setErrorHandler((error: FastifyError, _request, reply) => {
      // Bad credentials are not malformed messages: answered, not counted as such.
      if (error instanceof RaftkvError) return reply.code(error.status).send(error.toJSON());
      const refusal = bodyRefusal(error);
      if (refusal === null) throw error;
      return refuse(reply, refusal);
    });
    scope.addHook('preClose', async () => {
      for (const request of openStreams) request.raw.destroy();
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
    scope.post(peerStreamPath, async (request, reply) => {
      // Whatever the answer, the connection closes after it: the rest of a refused stream is not read.
      reply.header('connection', 'close');
      const payload = request.body as Readable | undefined;
      if (payload === undefined || typeof payload.read !== 'function') {
        return refuse(
          reply,
          new RaftkvError('BAD_REQUEST', `${peerStreamPath} needs a ${peerStreamContentType} body`),
        );
      }
      // Before any frame is read: the stream's credentials sign its headers with an empty body.
      transport.auth.verifyBody(
        request.headers,
        'POST',
        request.url,
        new Uint8Array(0),
        request.socket.remoteAddress,
      );
      openStreams.add(request);
      let outcome: StreamOutcome;
      try {
        outcome = await receiveFrames(payload, transport);
      } finally {
        openStreams.delete(request);
      }
      if (outcome === 'broken') return reply.hijack(); // no one is left to answer
      if (outcome !== 'ended') return refuse(reply, outcome);
      reply.removeHeader('connection');
      return reply.code(204).send();
    });
  });
}

/** How a stream finished: the sender ended it, its connection broke, or a frame was refused. */
type StreamOutcome = 'ended' | 'broken' | RaftkvError;

/** Hands each frame's batch to the inbox as it arrives, until the stream ends or a frame is refused. */
async function receiveFrames(payload: Readable, transport: HttpTransport): Promise<StreamOutcome> {
  const reader = new FrameReader(transport.limits.requestBodyBytesMax);
  const chunks: AsyncIterator<Buffer> = payload[Symbol.asyncIterator]();
  for (;;) {
    let chunk: IteratorResult<Buffer>;
    try {
      chunk = await chunks.next();
    } catch {
      return 'broken'; // a cut link, a stopped sender, a closing server
    }
    if (chunk.done) break;
    let frames: Buffer[];
    try {
      frames = reader.push(chunk.value);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      return new RaftkvError('BODY_TOO_LARGE', error.message);
    }
    for (const frame of frames) {
      try {
        transport.inbox.receiveBatch(frame);
      } catch (error) {
        if (!(error instanceof MalformedMessageError)) throw error;
        return new RaftkvError('BAD_REQUEST', error.message);
      }
    }
  }
  if (!reader.atFrameBoundary()) return new RaftkvError('BAD_REQUEST', 'The stream ended inside a frame');
  return 'ended';
}

function bodyRefusal(error: FastifyError): RaftkvError | null {
  if (error.statusCode === 413) return new RaftkvError('BODY_TOO_LARGE');
  if (error.statusCode === 415) return new RaftkvError('UNSUPPORTED_MEDIA_TYPE');
  const status = error.statusCode ?? 500;
  return status >= 400 && status < 500 ? new RaftkvError('BAD_REQUEST', error.message) : null;
}
