// What the HTTP transport does beyond the shared contract: refusing malformed peer requests and
// streams, bounding its queues, batching into frames, keeping one stream open, backing off from a
// failing peer, reopening a cut stream, and redialling a moved one.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvariantError } from '../assert.js';
import {
  type AppendMessage,
  decodeMessages,
  encodeMessages,
  type Message,
  messageTypes,
  wireFormatVersion,
} from '../raft/messages.js';
import {
  defaultHttpTransportLimits,
  HttpTransport,
  type HttpTransportLimits,
  peerMessagesContentType,
  peerMessagesPath,
  peerStreamPath,
  peerStreamProtocol,
  registerPeerRoutes,
} from './http-transport.js';
import { clusterIdHeader, PeerAuth } from './peer-auth.js';
import { encodeFrame } from './stream-frames.js';
import { openRawStream, type StreamAnswer } from './test-peer-stream.js';
import { numberedHeartbeats, oneOfEachMessage } from './transport.contract.js';

const receiverId = 2;
const senderId = 1;
const deadlineMs = 10_000;
/** Loopback port 1: nothing listens, connections are refused at once. */
const downAddress = '127.0.0.1:1';

const testClusterId = 'transport-test';
/** No secret here: these tests are about batching and refusals; peer-auth.test.ts covers signing. */
const testAuth = (nodeId: number) => new PeerAuth({ clusterId: testClusterId, nodeId, secret: null });

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A receiving node: transport, peer routes, and every batch its handler was given. */
async function startReceiver(limits: Partial<HttpTransportLimits> = {}): Promise<{
  transport: HttpTransport;
  app: FastifyInstance;
  batches: Message[][];
  address: string;
  /** `METHOD url` of every request received, streams included, and `status` of every answer sent (streams not), in order. */
  requests: string[];
  answers: number[];
  /** The connection of every stream the receiver was asked to open. */
  streams: Duplex[];
}> {
  const transport = new HttpTransport({ nodeId: receiverId, limits, auth: testAuth(receiverId) });
  const batches: Message[][] = [];
  transport.onMessages((messages) => batches.push(messages));
  const app = Fastify();
  const requests: string[] = [];
  const answers: number[] = [];
  app.addHook('onRequest', async (request) => {
    requests.push(`${request.method} ${request.url}`);
  });
  app.addHook('onResponse', async (_request, reply) => {
    answers.push(reply.statusCode);
  });
  const streams: Duplex[] = [];
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
    requests.push(`${request.method} ${request.url}`);
    streams.push(socket);
  });
  registerPeerRoutes(app, transport);
  const address = new URL(await app.listen({ host: '127.0.0.1', port: 0 })).host;
  closers.push(
    () => app.close(),
    () => transport.close(),
  );
  return { transport, app, batches, address, requests, answers, streams };
}

/** Opens a stream to `address` and writes `chunks`, as cut, then ends it; resolves with the answer. */
function streamChunks(address: string, chunks: Uint8Array[]): Promise<StreamAnswer> {
  return openRawStream(address, { [clusterIdHeader]: testClusterId }, chunks);
}

/** The error code of a stream refusal's document. */
function refusalCode(answer: StreamAnswer): string {
  return (JSON.parse(answer.body) as { error: { code: string } }).error.code;
}

/** `bytes` cut at the given offsets (any order, duplicates allowed). */
function cutAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const cuts = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  return [0, ...cuts].map((start, index) => bytes.subarray(start, [...cuts, bytes.length][index]));
}

function startSender(limits: Partial<HttpTransportLimits> = {}): HttpTransport {
  const transport = new HttpTransport({ nodeId: senderId, limits, auth: testAuth(senderId) });
  closers.push(() => transport.close());
  return transport;
}

function postBatch(
  app: FastifyInstance,
  payload: Uint8Array | string,
  contentType = peerMessagesContentType,
) {
  return app.inject({
    method: 'POST',
    url: peerMessagesPath,
    headers: { 'content-type': contentType, [clusterIdHeader]: testClusterId },
    payload: Buffer.from(payload),
  });
}

function decodes(bytes: Uint8Array): boolean {
  try {
    decodeMessages(bytes);
    return true;
  } catch {
    return false;
  }
}

const rawPackr = new Packr({ useRecords: false, moreTypes: false });
const heartbeat = numberedHeartbeats(senderId, receiverId, 0, 1)[0]!;
const sampleAppend = oneOfEachMessage(senderId, receiverId)[0] as AppendMessage;
const sampleEntry = sampleAppend.entries[0]!;

function appendWithData(dataBytes: number): AppendMessage {
  return { ...sampleAppend, entries: [{ ...sampleEntry, data: new Uint8Array(dataBytes) }] };
}

/** `heartbeat` as version 3 puts it: type code, from, to, term, commit, round. */
const heartbeatArray: unknown[] = [messageTypes.indexOf('heartbeat'), senderId, receiverId, 1, 0, 0];

/** heartbeatArray with the value at `position` replaced. */
function heartbeatWith(position: number, value: unknown): unknown[] {
  return heartbeatArray.map((old, at) => (at === position ? value : old));
}
const previousVersion = wireFormatVersion - 1;

/** Batches that are valid msgpack but break the message schema in one place each. */
const wronglyTypedBatches: [string, unknown][] = [
  ['a bare list', [heartbeatArray]],
  ['an unknown version', { v: wireFormatVersion + 1, m: [heartbeatArray] }],
  ['messages not a list', { v: wireFormatVersion, m: heartbeatArray[0] }],
  ['an unknown type', { v: wireFormatVersion, m: [[messageTypes.length, 1, 2, 3]] }],
  ['a string term', { v: wireFormatVersion, m: [heartbeatWith(3, '1')] }],
  ['a negative from', { v: wireFormatVersion, m: [heartbeatWith(1, -1)] }],
  ['a fractional round', { v: wireFormatVersion, m: [heartbeatWith(5, 1.5)] }],
  ['a missing round', { v: wireFormatVersion, m: [heartbeatArray.slice(0, -1)] }],
  ['a message as a map (version 2 form) in version 3', { v: wireFormatVersion, m: [heartbeat] }],
  ['a string term (version 2)', { v: previousVersion, m: [{ ...heartbeat, term: '1' }] }],
  ['a missing commit (version 2)', { v: previousVersion, m: [{ ...heartbeat, commit: undefined }] }],
  ['entries as a list (version 2)', { v: previousVersion, m: [sampleAppend] }],
  [
    'a valid message after a broken one',
    { v: wireFormatVersion, m: [heartbeatWith(2, 'x'), heartbeatArray] },
  ],
];

describe('POST /raft refuses malformed requests', () => {
  it('answers 400 BAD_REQUEST to random bytes, counts each, and never calls the handler', async () => {
    const { transport, app, batches } = await startReceiver();
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
        fc.pre(!decodes(bytes));
        const response = await postBatch(app, bytes);
        expect(response.statusCode).toBe(400);
        expect(response.json().error.code).toBe('BAD_REQUEST');
        refused += 1;
      }),
      { numRuns: 300 },
    );
    expect(transport.stats()).toMatchObject({ malformed: refused, received: 0 });
    expect(batches).toEqual([]);
  });

  it('answers 400 to any msgpack value that is not a message batch', async () => {
    const { transport, app, batches } = await startReceiver();
    await fc.assert(
      fc.asyncProperty(fc.anything(), async (value) => {
        const response = await postBatch(app, rawPackr.pack(value));
        expect(response.statusCode).toBe(400);
      }),
      { numRuns: 200 },
    );
    expect(transport.stats().malformed).toBe(200);
    expect(batches).toEqual([]);
  });

  it.each(wronglyTypedBatches)('answers 400 to a batch with %s, delivering none of it', async (_, batch) => {
    const { transport, app, batches } = await startReceiver();
    const response = await postBatch(app, rawPackr.pack(batch));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'BAD_REQUEST', message: expect.any(String) } });
    expect(transport.stats()).toMatchObject({ malformed: 1, received: 0 });
    expect(batches).toEqual([]);
  });

  it('answers 415 to other content types and 400 to an empty body, counting both', async () => {
    const { transport, app } = await startReceiver();
    const asJson = await postBatch(app, JSON.stringify({ v: wireFormatVersion, m: [] }), 'application/json');
    expect(asJson.statusCode).toBe(415);
    expect(asJson.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const empty = await app.inject({ method: 'POST', url: peerMessagesPath });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error.code).toBe('BAD_REQUEST');
    expect(transport.stats().malformed).toBe(2);
  });

  it('answers 413 to a body over the limit', async () => {
    const { transport, app } = await startReceiver({ requestBodyBytesMax: 1024 });
    const response = await postBatch(app, encodeMessages([appendWithData(2048)]));
    expect(response.statusCode).toBe(413);
    expect(response.json().error.code).toBe('BODY_TOO_LARGE');
    expect(transport.stats().malformed).toBe(1);
  });
});

describe('POST /raft accepts batches', () => {
  it('answers 204, delivers messages for this node and drops (counting) those for another', async () => {
    const { transport, app, batches } = await startReceiver();
    const forUs = numberedHeartbeats(senderId, receiverId, 0, 2);
    const forSomeoneElse = numberedHeartbeats(senderId, receiverId + 1, 2, 3);
    const response = await postBatch(app, encodeMessages([forUs[0]!, ...forSomeoneElse, forUs[1]!]));
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    expect(batches).toEqual([forUs]);
    expect(transport.stats()).toMatchObject({ received: 2, dropped: 3, malformed: 0 });
  });
});

describe('POST /raft/stream', () => {
  it('delivers every frame in order, however the stream is cut into chunks, and closes at its end', async () => {
    const { transport, batches, address } = await startReceiver();
    let delivered = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        async (batchSizes, offsets) => {
          batches.length = 0;
          let round = 0;
          const sent = batchSizes.map((size) => {
            round += size;
            return numberedHeartbeats(senderId, receiverId, round - size, size);
          });
          const body = Buffer.concat(sent.map((batch) => encodeFrame(encodeMessages(batch))));
          expect(await streamChunks(address, cutAt(body, offsets))).toEqual({ status: 101, body: '' });
          expect(batches).toEqual(sent);
          delivered += round;
        },
      ),
      { numRuns: 50 },
    );
    expect(transport.stats()).toMatchObject({ received: delivered, malformed: 0 });
  });

  it('ends the stream at an undecodable frame with BAD_REQUEST, counting it; the frames before it were delivered', async () => {
    const { transport, batches, address } = await startReceiver();
    const good = encodeFrame(encodeMessages(numberedHeartbeats(senderId, receiverId, 0, 1)));
    const garbage = encodeFrame(rawPackr.pack({ v: wireFormatVersion, m: 'not a list' }));
    const after = encodeFrame(encodeMessages(numberedHeartbeats(senderId, receiverId, 1, 1)));
    const answer = await streamChunks(address, [good, garbage, after]);
    expect(answer.status).toBe(101);
    expect(refusalCode(answer)).toBe('BAD_REQUEST');
    expect(batches).toEqual([numberedHeartbeats(senderId, receiverId, 0, 1)]);
    expect(transport.stats()).toMatchObject({ malformed: 1, received: 1 });
  });

  it('refuses a frame longer than requestBodyBytesMax before reading it, and counts a cut-off frame', async () => {
    const { transport, batches, address } = await startReceiver({ requestBodyBytesMax: 1024 });
    const tooLong = encodeFrame(encodeMessages([appendWithData(2048)]));
    expect(refusalCode(await streamChunks(address, [tooLong.subarray(0, 100)]))).toBe('BODY_TOO_LARGE');
    const frame = encodeFrame(encodeMessages(numberedHeartbeats(senderId, receiverId, 0, 1)));
    expect(await streamChunks(address, [frame.subarray(0, frame.length - 1)])).toEqual({
      status: 101,
      body: '',
    });
    expect(batches).toEqual([]);
    expect(transport.stats().malformed).toBe(2);
  });

  it('is ended by its server closing, which does not wait for the sender (nor leaves it hanging)', async () => {
    const { app, batches, address } = await startReceiver();
    const sender = startSender({ retryBackoffMsMin: 1_000, retryBackoffMsMax: 1_000 });
    sender.setPeer(receiverId, address);
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1));
    await vi.waitFor(() => expect(batches).toHaveLength(1), { timeout: deadlineMs });
    const startedAtMs = performance.now();
    await app.close();
    expect(performance.now() - startedAtMs).toBeLessThan(1_000);
    // The sender notices the broken stream: a message sent now is dropped, not counted sent.
    await new Promise((resolve) => setTimeout(resolve, 50));
    sender.send(numberedHeartbeats(senderId, receiverId, 1, 1));
    await vi.waitFor(() => expect(sender.stats()).toMatchObject({ sent: 1, dropped: 1 }), {
      timeout: deadlineMs,
    });
  });

  it('refuses an upgrade to another protocol (400, counted) and one at another path (404)', async () => {
    const { transport, address, batches } = await startReceiver();
    const frame = encodeFrame(encodeMessages(numberedHeartbeats(senderId, receiverId, 0, 1)));
    const headers = { [clusterIdHeader]: testClusterId };
    const otherProtocol = await openRawStream(address, headers, [frame], { protocol: 'websocket' });
    expect(otherProtocol.status).toBe(400);
    expect(refusalCode(otherProtocol)).toBe('BAD_REQUEST');
    const otherPath = await openRawStream(address, headers, [frame], { path: peerMessagesPath });
    expect(otherPath.status).toBe(404);
    expect(batches).toEqual([]);
    expect(transport.stats().malformed).toBe(1);
  });
});

describe('HttpTransport sending', () => {
  it('keeps a down peer queue at its cap while dropping (and counting) the rest', async () => {
    const sender = startSender();
    sender.setPeer(receiverId, downAddress);
    const messageCount = 100_000;
    const cap = defaultHttpTransportLimits.peerQueueMessagesMax;
    const messages = numberedHeartbeats(senderId, receiverId, 0, messageCount);
    for (let start = 0; start < messageCount; start += 1_000)
      sender.send(messages.slice(start, start + 1_000));
    expect(sender.queuedMessages(receiverId)).toBe(cap);
    expect(sender.stats().dropped).toBe(messageCount - cap);
    // Each failed stream drops the queue it was to carry, so it drains into `dropped`, never into `sent`.
    await vi.waitFor(() => expect(sender.stats().dropped).toBeGreaterThan(messageCount - cap), {
      timeout: deadlineMs,
    });
    expect(sender.queuedMessages(receiverId)).toBeLessThanOrEqual(cap);
    await sender.close();
    expect(sender.stats()).toMatchObject({ sent: 0, dropped: messageCount });
  });

  it('sends what was queued in one turn as few batches, each within batchMessagesMax', async () => {
    const receiver = await startReceiver();
    const sender = startSender({ batchMessagesMax: 100 });
    sender.setPeer(receiverId, receiver.address);
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1_000));
    await vi.waitFor(() => expect(sender.stats().sent).toBe(1_000), { timeout: deadlineMs });
    expect(receiver.batches.map((batch) => batch.length)).toEqual(Array(10).fill(100));
    const rounds = receiver.batches
      .flat()
      .map((message) => (message.type === 'heartbeat' ? message.round : -1));
    expect(rounds).toEqual(Array.from({ length: 1_000 }, (_, round) => round));
  });

  it('sends at once with `now`, and otherwise on the next turn with the rest of this one', async () => {
    const receiver = await startReceiver();
    const sender = startSender();
    sender.setPeer(receiverId, receiver.address);
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1));
    await vi.waitFor(() => expect(receiver.batches.flat()).toHaveLength(1), { timeout: deadlineMs });
    // The stream is open: a later turn's message waits in the queue until the next turn...
    sender.send(numberedHeartbeats(senderId, receiverId, 1, 1));
    sender.send(numberedHeartbeats(senderId, receiverId, 2, 1));
    expect(sender.queuedMessages(receiverId)).toBe(2);
    // ...unless it is to go now: then the stream takes everything queued for that peer.
    sender.send(numberedHeartbeats(senderId, receiverId, 3, 1), { now: true });
    expect(sender.queuedMessages(receiverId)).toBe(0);
    await vi.waitFor(() => expect(receiver.batches.flat()).toHaveLength(4), { timeout: deadlineMs });
    expect(receiver.batches.slice(1).map((batch) => batch.length)).toEqual([3]);
    await sender.close();
    expect(sender.stats()).toMatchObject({ sent: 4, dropped: 0 });
  });

  it('cuts batches at batchBytesMax, but always sends a message bigger than that', async () => {
    const receiver = await startReceiver();
    const sender = startSender({ batchBytesMax: 10_000 });
    sender.setPeer(receiverId, receiver.address);
    sender.send([
      appendWithData(4_000),
      appendWithData(4_000),
      appendWithData(4_000),
      appendWithData(50_000),
    ]);
    await vi.waitFor(() => expect(sender.stats().sent).toBe(4), { timeout: deadlineMs });
    expect(receiver.batches.map((batch) => batch.length)).toEqual([2, 1, 1]);
  });

  it('carries many turns of messages on one stream, which close() ends cleanly', async () => {
    const receiver = await startReceiver();
    const sender = startSender();
    sender.setPeer(receiverId, receiver.address);
    const turns = 50;
    for (let round = 0; round < turns; round += 1) {
      sender.send(numberedHeartbeats(senderId, receiverId, round, 1));
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await vi.waitFor(() => expect(receiver.batches.flat()).toHaveLength(turns), { timeout: deadlineMs });
    expect(receiver.requests).toEqual([`POST ${peerStreamPath}`]);
    await sender.close();
    expect(sender.stats()).toMatchObject({ sent: turns, dropped: 0 });
    // The receiver saw the stream end at a frame boundary: nothing malformed, and the connection closed.
    expect(receiver.transport.stats().malformed).toBe(0);
    await vi.waitFor(() => expect(receiver.streams[0]!.destroyed).toBe(true), { timeout: deadlineMs });
  });

  it('notices a cut connection and reopens the stream', async () => {
    const receiver = await startReceiver();
    const sender = startSender({ retryBackoffMsMin: 20, retryBackoffMsMax: 40 });
    sender.setPeer(receiverId, receiver.address);
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1));
    await vi.waitFor(() => expect(receiver.batches).toHaveLength(1), { timeout: deadlineMs });
    for (const stream of receiver.streams) stream.destroy();
    let round = 1;
    await vi.waitFor(
      () => {
        sender.send(numberedHeartbeats(senderId, receiverId, round, 1));
        round += 1;
        expect(receiver.requests).toHaveLength(2);
        expect(receiver.batches.length).toBeGreaterThan(1);
      },
      { timeout: deadlineMs, interval: 50 },
    );
    expect(receiver.requests).toEqual([`POST ${peerStreamPath}`, `POST ${peerStreamPath}`]);
  });

  it('opens the stream as soon as the peer is known, and reopens a cut one, before any message waits', async () => {
    const receiver = await startReceiver();
    const sender = startSender({ retryBackoffMsMin: 20, retryBackoffMsMax: 40 });
    sender.setPeer(receiverId, receiver.address);
    await vi.waitFor(() => expect(receiver.streams).toHaveLength(1), { timeout: deadlineMs });
    receiver.streams[0]!.destroy();
    await vi.waitFor(() => expect(receiver.streams).toHaveLength(2), { timeout: deadlineMs });
    expect(sender.stats()).toMatchObject({ sent: 0, dropped: 0 });
    // The first message goes out on the stream already open: no third one.
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1), { now: true });
    await vi.waitFor(() => expect(receiver.batches).toHaveLength(1), { timeout: deadlineMs });
    expect(receiver.requests).toEqual([`POST ${peerStreamPath}`, `POST ${peerStreamPath}`]);
    expect(sender.queuedMessages(receiverId)).toBe(0);
  });

  it('backs off from a peer that keeps failing instead of retrying in a hot loop', async () => {
    const failingPeer = Fastify();
    let requests = 0;
    // A server that does not take upgrades answers the stream's request like any other.
    failingPeer.post(peerStreamPath, async (request, reply) => {
      expect(request.headers.upgrade).toBe(peerStreamProtocol);
      requests += 1;
      return reply.code(503).header('connection', 'close').send();
    });
    const failingPeerAddress = new URL(await failingPeer.listen({ host: '127.0.0.1', port: 0 })).host;
    closers.push(() => failingPeer.close());
    const sender = startSender({ retryBackoffMsMin: 50, retryBackoffMsMax: 200 });
    sender.setPeer(receiverId, failingPeerAddress);
    const sendingMs = 1_000;
    const startedAtMs = performance.now();
    let round = 0;
    while (performance.now() - startedAtMs < sendingMs) {
      sender.send(numberedHeartbeats(senderId, receiverId, round, 1));
      round += 1;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    // 50 + 100 + 200 + 200 + ... ms: about 7 pauses in a second, each after one refused stream.
    expect(requests).toBeGreaterThanOrEqual(3);
    expect(requests).toBeLessThanOrEqual(12);
    await sender.close();
    // Frames the socket took before the refusal arrived count as sent (a stream has no per-frame
    // answer); every message is still counted exactly once.
    const { sent, dropped } = sender.stats();
    expect(sent + dropped).toBe(round);
  });

  it('redials when a peer moves to another address', async () => {
    const receiver = await startReceiver();
    const sender = startSender();
    sender.setPeer(receiverId, downAddress);
    sender.send(numberedHeartbeats(senderId, receiverId, 0, 1));
    await vi.waitFor(() => expect(sender.stats().dropped).toBe(1), { timeout: deadlineMs });
    sender.setPeer(receiverId, receiver.address);
    await vi.waitFor(
      () => {
        sender.send(numberedHeartbeats(senderId, receiverId, 1, 1));
        expect(receiver.batches.length).toBeGreaterThan(0);
      },
      { timeout: deadlineMs, interval: 100 },
    );
  });

  it('refuses a peer address that is not host:port', () => {
    const sender = startSender();
    for (const address of ['127.0.0.1', 'http://127.0.0.1:7001', '127.0.0.1:7001/raft', '']) {
      expect(() => sender.setPeer(receiverId, address)).toThrow(InvariantError);
    }
    expect(() => sender.setPeer(receiverId, '[::1]:7001')).not.toThrow();
  });
});
