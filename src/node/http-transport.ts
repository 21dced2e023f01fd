// The real nodes' transport (design.md §6 "Peer RPC"). Each peer link keeps one long-lived
// stream open, etcd rafthttp style: an HTTP request `POST /raft/stream` that upgrades the
// connection (101, `Upgrade: raftkv-stream`), after which the connection carries frames, each a
// msgpack batch of one-way messages. A message then costs a few bytes and one socket write on an
// open connection, with no HTTP chunking or body stream machinery on either side. Each peer has a
// bounded queue drained by its stream; a slow or dead peer costs dropped messages (Raft resends),
// never a blocked core or unbounded memory.
//
// The stream is authenticated once, when it opens (peer-auth.ts signs its headers with an empty
// body). Its frames are not signed one by one: their integrity then rests on the connection, as
// with etcd's streams, so a cluster that must resist an attacker on the network runs TLS on the
// peer port. `POST /raft` (one signed batch per request) is still served, for older senders.
import { type ClientRequest, request as httpRequest, type IncomingMessage, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
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
import type { MessageHandler, SendOptions, Transport, TransportStats } from './transport.js';

export { defaultHttpTransportLimits, type HttpTransportLimits };

export const peerMessagesPath = '/raft';
export const peerMessagesContentType = 'application/msgpack';
export const peerStreamPath = '/raft/stream';
/** The protocol a peer stream's request upgrades its connection to. */
export const peerStreamProtocol = 'raftkv-stream';
/** The most a sender keeps of what a receiver wrote back on a stream (only ever a refusal). */
const refusalBytesMax = 4096;

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

  /**
   * Messages queued in one event-loop turn go out together, one frame per peer, on the next turn;
   * with `now`, each peer's stream takes what waits for it at once.
   */
  send(messages: readonly Message[], options?: SendOptions): void {
    const woken = options?.now ? new Set<PeerLink>() : undefined;
    for (const message of messages) {
      const link = this.closing === null ? this.links.get(message.to) : undefined;
      if (link === undefined || !link.enqueue(message)) this.counters.dropped += 1;
      else woken?.add(link);
    }
    if (woken) for (const link of woken) link.wake();
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
 * One peer: its bounded queue and the stream that drains it. The stream is opened as soon as the
 * peer is known and reopened after a backoff whenever it fails, whether or not anything waits for
 * it (etcd's peer streams redial the same way): a message, a vote request above all, never waits
 * for a connection and its authenticated upgrade. An election's messages go between followers
 * that had nothing to say to each other until then.
 */
class PeerLink {
  private queue: Message[] = [];
  private queuedBytes = 0;
  private origin: string;
  /** The open stream; null while backing off and after close. At most one. */
  private stream: PeerStream | null = null;
  private wakeScheduled = false;
  /** 0 while the peer takes streams; otherwise the pause taken after the last failure. */
  private backoffMs = 0;
  private backoffTimer: NodeJS.Timeout | undefined;
  /** Set when a failure was logged; cleared (and logged) when a stream opens again. */
  private unanswered = false;
  private closed = false;

  private readonly limits: HttpTransportLimits;
  private readonly counters: TransportStats;

  constructor(
    private readonly peer: NodeId,
    origin: string,
    readonly sending: Sending,
    private readonly logger: Logger | undefined,
  ) {
    this.limits = sending.limits;
    this.counters = sending.counters;
    this.origin = origin;
    this.scheduleWake();
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
    this.origin = origin;
    // The old stream dies with its connection (its frames in flight are counted dropped); the next
    // one opens on the new address at once, whatever the old address's backoff was.
    this.stream?.destroy();
    this.stream = null;
    clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.backoffMs = 0;
    this.scheduleWake();
  }

  /** Ends the stream after the frames it took (the peer then closes it) and drops the queue. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.backoffTimer);
    this.dropQueue();
    await this.stream?.end();
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

  /** Told when a stream's upgrade succeeded: the peer takes streams (again). */
  streamOpened(): void {
    if (!this.unanswered) return;
    this.unanswered = false;
    this.logger?.info({ peer: this.peer }, 'peer answers again');
  }

  private dropQueue(): void {
    this.counters.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
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

  /** Opens the stream when none is open and no backoff runs; or has the open one take the queue. */
  wake(): void {
    if (this.closed || this.backoffTimer !== undefined) return;
    if (this.stream !== null) {
      if (this.queue.length > 0) this.stream.pump();
      return;
    }
    const stream = new PeerStream(this, this.origin);
    this.stream = stream;
    void this.run(stream);
  }

  /** Runs one stream to its end; never throws: a failure drops what was unsent (counted) and backs off. */
  private async run(stream: PeerStream): Promise<void> {
    const failure = await stream.finished;
    if (this.stream !== stream) return; // redialled meanwhile: the new stream is not this one's business
    this.stream = null;
    if (failure === null) return;
    // A stream that stayed open for retryBackoffMsMax, carrying frames or idle, counted as working:
    // its failure starts the backoff afresh. (A peer that accepts connections but refuses the
    // stream, e.g. 401, fails before it opens, so its backoff grows.)
    if (stream.openForMs() >= this.limits.retryBackoffMsMax) this.backoffMs = 0;
    this.failed(failure);
  }

  private failed(failure: string): void {
    if (this.closed) return;
    if (!this.unanswered) this.logger?.warn({ peer: this.peer, failure }, 'peer does not answer');
    this.unanswered = true;
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
 * One stream: `POST /raft/stream` upgraded to a connection of frames, one batch of the link's
 * queue per frame. Frames are written while the socket's buffer is under its high-water mark;
 * past it the stream waits for 'drain', so while the peer or the network is slow, messages stay
 * in the bounded queue, where they are batched, capped and dropped. A peer that stops reading
 * for headersTimeoutMs loses the stream. Each frame's messages count as sent once the socket has
 * taken it, as dropped if the stream dies first.
 */
class PeerStream {
  /** When the upgrade succeeded; null before. */
  private upgradedAtMs: number | null = null;
  private readonly request: ClientRequest;
  private socket: Duplex | null = null;
  /** Set by end(): no more frames; the connection closes once the peer has read them. */
  private ending = false;
  private drainTimer: NodeJS.Timeout | undefined;
  /** What the receiver wrote back (a refusal; it writes nothing else), at most refusalBytesMax. */
  private refusal = '';
  private failure: string | null = null;
  private settle: (failure: string | null) => void = () => {};
  /** Resolves when the stream is over: null if it ended as asked, else why it failed. */
  readonly finished: Promise<string | null>;

  constructor(
    private readonly link: PeerLink,
    origin: string,
  ) {
    this.finished = new Promise((resolve) => {
      this.settle = resolve;
    });
    const { auth, limits, tls } = link.sending;
    const open = tls === undefined ? httpRequest : httpsRequest;
    this.request = open(new URL(peerStreamPath, origin), {
      method: 'POST',
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: peerStreamProtocol,
        ...auth.headers('POST', peerStreamPath, emptyBody),
      },
      // Until the upgrade: connecting and the peer's answer. The upgraded socket has no idle timeout.
      timeout: limits.connectTimeoutMs,
      ...(tls === undefined ? {} : { ca: tls.ca }),
    });
    this.request.on('timeout', () => this.request.destroy(new Error('the peer did not answer in time')));
    this.request.on('error', (error) => this.done(error.message));
    this.request.on('response', (response) => this.refused(response));
    this.request.on('upgrade', (response, socket, head) => this.opened(response, socket, head));
    this.request.end();
  }

  /** Writes frames while there are batches and the socket takes them without going over its buffer. */
  pump(): void {
    const socket = this.socket;
    if (socket === null || this.ending || socket.destroyed) return;
    const counters = this.link.sending.counters;
    socket.cork();
    while (!socket.writableNeedDrain) {
      const batch = this.link.takeBatch();
      if (batch === null) break;
      const count = batch.length;
      socket.write(encodeFrame(encodeMessages(batch)), (error) => {
        if (error) {
          counters.dropped += count;
          return;
        }
        counters.sent += count;
      });
    }
    socket.uncork();
    if (socket.writableNeedDrain && this.drainTimer === undefined) {
      this.drainTimer = setTimeout(
        () => socket.destroy(new Error('the peer stopped reading')),
        this.link.sending.limits.headersTimeoutMs,
      );
    }
  }

  /** No more frames: the peer reads what was written, then closes. Resolves once the stream is over. */
  end(): Promise<string | null> {
    this.ending = true;
    if (this.socket === null) this.request.destroy(new Error('the stream was ended before it opened'));
    else if (!this.socket.writableEnded) this.socket.end();
    // A peer that does not close its side in time loses the connection.
    const timer = setTimeout(() => this.destroy(), this.link.sending.limits.headersTimeoutMs);
    return this.finished.finally(() => clearTimeout(timer));
  }

  /** How long the stream has been upgraded (0 if it never was). */
  openForMs(): number {
    return this.upgradedAtMs === null ? 0 : performance.now() - this.upgradedAtMs;
  }

  /** Closes the connection at once: frames not yet taken by the socket are dropped (counted). */
  destroy(): void {
    this.ending = true;
    this.request.destroy();
    this.socket?.destroy();
  }

  private opened(response: IncomingMessage, socket: Duplex, head: Buffer): void {
    (socket as Socket).setTimeout?.(0);
    this.socket = socket;
    if (String(response.headers.upgrade).toLowerCase() !== peerStreamProtocol) {
      socket.destroy();
      this.done(`the peer upgraded to ${String(response.headers.upgrade)}, not ${peerStreamProtocol}`);
      return;
    }
    (socket as Socket).setNoDelay?.(true);
    this.upgradedAtMs = performance.now();
    this.link.streamOpened();
    socket.on('data', (chunk: Buffer) => this.keepRefusal(chunk));
    socket.on('drain', () => {
      clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
      this.pump();
    });
    socket.on('error', (error) => {
      this.failure ??= error.message;
    });
    // The peer ends its side only after ours, or to refuse a frame: anything else is a failure.
    socket.on('end', () => socket.end());
    socket.on('close', () => {
      clearTimeout(this.drainTimer);
      if (this.refusal !== '') this.done(`refused: ${this.refusal}`);
      else if (this.failure !== null) this.done(this.failure);
      else this.done(this.ending ? null : 'the peer closed the stream');
    });
    this.keepRefusal(head);
    if (this.ending) socket.end();
    else this.pump();
  }

  /** The peer answered without upgrading: a refusal, whose status and error code are the failure. */
  private refused(response: IncomingMessage): void {
    response.on('data', (chunk: Buffer) => this.keepRefusal(chunk));
    response.on('error', () => {});
    response.on('close', () => this.done(`HTTP ${response.statusCode} ${this.refusal}`.trim()));
  }

  private keepRefusal(chunk: Buffer): void {
    if (this.refusal.length < refusalBytesMax) this.refusal += chunk.toString('utf8', 0, refusalBytesMax);
  }

  private done(failure: string | null): void {
    this.ending = true;
    clearTimeout(this.drainTimer);
    this.settle(failure);
  }
}

/**
 * Serves `POST /raft` on the node's peer-port server, in its own scope so that its body parser and
 * error answers do not leak into the node's other peer routes, and takes peer streams: requests
 * to `POST /raft/stream` that upgrade their connection. Every refused request or stream is
 * answered with a coded error, and counted as malformed unless its credentials were the problem;
 * nothing malformed reaches the core.
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
  /** Streams being read: a closing server ends them rather than wait for their senders. */
  const openStreams = new Set<Duplex>();
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
    acceptStream(transport, openStreams, request, socket, head),
  );
  app.addHook('preClose', async () => {
    for (const socket of openStreams) socket.destroy();
  });
}

/** Answers an upgrade request with an HTTP refusal and closes the connection. */
function refuseUpgrade(socket: Duplex, refusal: RaftkvError): void {
  const body = JSON.stringify(refusal.toJSON());
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\n` +
      `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`,
  );
}

/**
 * Checks a stream's request, credentials included, before any frame is read; then answers 101
 * and hands each frame's batch to the inbox as it arrives. A frame that is too long or does not
 * decode ends the stream: the refusal (the error document) is written back, and the connection
 * closed. A sender that ends the stream inside a frame has the part frame counted as malformed.
 */
function acceptStream(
  transport: HttpTransport,
  openStreams: Set<Duplex>,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  socket.on('error', () => {}); // a cut link, a stopped sender: the stream is simply over
  const malformed = (refusal: RaftkvError) => {
    transport.inbox.countMalformed();
    refuseUpgrade(socket, refusal);
  };
  if (request.method !== 'POST' || request.url !== peerStreamPath) {
    refuseUpgrade(socket, new RaftkvError('NOT_FOUND', `Only ${peerStreamPath} takes an upgrade`));
    return;
  }
  if (String(request.headers.upgrade).toLowerCase() !== peerStreamProtocol) {
    malformed(new RaftkvError('BAD_REQUEST', `${peerStreamPath} upgrades to ${peerStreamProtocol}`));
    return;
  }
  try {
    // The stream's credentials sign its headers with an empty body.
    transport.auth.verifyBody(
      request.headers,
      'POST',
      peerStreamPath,
      emptyBody,
      request.socket.remoteAddress,
    );
  } catch (error) {
    // Bad credentials are not malformed messages: answered, not counted as such.
    refuseUpgrade(socket, error instanceof RaftkvError ? error : new RaftkvError('INTERNAL'));
    return;
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${peerStreamProtocol}\r\n\r\n`,
  );
  (socket as Socket).setNoDelay?.(true);
  openStreams.add(socket);
  socket.on('close', () => openStreams.delete(socket));
  const reader = new FrameReader(transport.limits.requestBodyBytesMax);
  /** Ends the stream with a refusal; the frames before the refused one were delivered. */
  const refuseFrame = (refusal: RaftkvError) => {
    socket.removeListener('data', onChunk);
    transport.inbox.countMalformed();
    socket.end(JSON.stringify(refusal.toJSON()));
  };
  const onChunk = (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (error) {
      if (!(error instanceof FrameTooLargeError)) throw error;
      return refuseFrame(new RaftkvError('BODY_TOO_LARGE', error.message));
    }
    for (const frame of frames) {
      try {
        transport.inbox.receiveBatch(frame);
      } catch (error) {
        if (!(error instanceof MalformedMessageError)) throw error;
        return refuseFrame(new RaftkvError('BAD_REQUEST', error.message));
      }
    }
  };
  socket.on('data', onChunk);
  socket.on('end', () => {
    if (socket.listenerCount('data') > 0 && !reader.atFrameBoundary()) {
      transport.inbox.countMalformed(); // the sender stopped inside a frame
    }
    socket.end();
  });
  if (head.length > 0) onChunk(head);
}

function bodyRefusal(error: FastifyError): RaftkvError | null {
  if (error.statusCode === 413) return new RaftkvError('BODY_TOO_LARGE');
  if (error.statusCode === 415) return new RaftkvError('UNSUPPORTED_MEDIA_TYPE');
  const status = error.statusCode ?? 500;
  return status >= 400 && status < 500 ? new RaftkvError('BAD_REQUEST', error.message) : null;
}
