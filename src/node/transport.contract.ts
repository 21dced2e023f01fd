// The one contract every Transport keeps (hashicorp raft's way: one suite, run against the
// in-memory and the HTTP transport alike). transport.contract.test.ts runs it for each.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Entry, Message, NodeId } from '../raft/messages.js';
import type { Transport } from './transport.js';

export interface TransportPair {
  a: Transport;
  b: Transport;
  aId: NodeId;
  bId: NodeId;
  /** Closes whatever is still open (transports, servers). */
  cleanup(): Promise<void>;
}

/** A peer id neither transport was told about. */
const unknownPeerId = 98;
/** A peer with an address where nothing listens (port 1 refuses connections on loopback). */
const downPeerId = 99;
const downPeerAddress = '127.0.0.1:1';
/** Generous: these tests wait for behaviour, not speed (design.md §9). */
const arrivalDeadlineMs = 10_000;

function entry(index: number, data: Uint8Array): Entry {
  return { index, term: 2, type: index === 1 ? 'noop' : 'normal', stampMs: 1_000 + index, data };
}

/** One message of every type, from `from` to `to`, with entries whose bytes cover 0..255. */
export function oneOfEachMessage(from: NodeId, to: NodeId): Message[] {
  const everyByte = Uint8Array.from({ length: 256 }, (_, value) => value);
  const entries = [entry(1, new Uint8Array(0)), entry(2, everyByte), entry(3, new TextEncoder().encode('ü'))];
  const base = { from, to, term: 2 };
  return [
    { ...base, type: 'app', index: 0, logTerm: 0, entries, commit: 1 },
    { ...base, type: 'appResp', index: 3, reject: false, rejectHint: 0, logTermHint: 0 },
    { ...base, type: 'vote', lastIndex: 3, lastTerm: 2, transfer: true },
    { ...base, type: 'preVote', lastIndex: 3, lastTerm: 2, transfer: false },
    { ...base, type: 'voteResp', reject: true },
    { ...base, type: 'preVoteResp', reject: false },
    { ...base, type: 'heartbeat', commit: 3, round: 7 },
    { ...base, type: 'heartbeatResp', round: 7 },
    { ...base, type: 'readIndex', readId: 11 },
    { ...base, type: 'readIndexResp', readId: 11, index: -1 },
    { ...base, type: 'timeoutNow' },
    { ...base, type: 'transferLeader', target: from },
  ];
}

/** Heartbeats numbered by `round`, so a test can tell which ones arrived. */
export function numberedHeartbeats(from: NodeId, to: NodeId, firstRound: number, count: number): Message[] {
  return Array.from({ length: count }, (_, offset) => ({
    type: 'heartbeat' as const,
    from,
    to,
    term: 1,
    commit: 0,
    round: firstRound + offset,
  }));
}

/** Entry payloads as plain arrays: the decoder may hand back Buffers, the bytes are what count. */
function withPlainData(messages: readonly Message[]): unknown[] {
  return messages.map((message) =>
    message.type === 'app'
      ? { ...message, entries: message.entries.map((e) => ({ ...e, data: Array.from(e.data) })) }
      : message,
  );
}

export function transportContract(name: string, makePair: () => Promise<TransportPair>): void {
  describe(`${name} keeps the transport contract`, () => {
    let pair: TransportPair;
    let receivedByA: Message[];
    let receivedByB: Message[];

    beforeEach(async () => {
      pair = await makePair();
      receivedByA = [];
      receivedByB = [];
      pair.a.onMessages((messages) => receivedByA.push(...messages));
      pair.b.onMessages((messages) => receivedByB.push(...messages));
    });
    afterEach(async () => {
      await pair.cleanup();
    });

    it('delivers a batch of every message type intact and in order, entry bytes included', async () => {
      const batch = oneOfEachMessage(pair.aId, pair.bId);
      pair.a.send(batch);
      await vi.waitFor(() => expect(receivedByB).toHaveLength(batch.length), { timeout: arrivalDeadlineMs });
      expect(withPlainData(receivedByB)).toEqual(withPlainData(batch));
      expect(pair.b.stats()).toMatchObject({ received: batch.length, malformed: 0 });
      await vi.waitFor(() => expect(pair.a.stats().sent).toBe(batch.length), { timeout: arrivalDeadlineMs });
    });

    it('delivers many sends in both directions, each message once', async () => {
      const sendsPerDirection = 200;
      const messagesPerSend = 10;
      for (let send = 0; send < sendsPerDirection; send += 1) {
        const firstRound = send * messagesPerSend;
        pair.a.send(numberedHeartbeats(pair.aId, pair.bId, firstRound, messagesPerSend));
        pair.b.send(numberedHeartbeats(pair.bId, pair.aId, firstRound, messagesPerSend));
      }
      const total = sendsPerDirection * messagesPerSend;
      await vi.waitFor(
        () => {
          expect(receivedByB).toHaveLength(total);
          expect(receivedByA).toHaveLength(total);
        },
        { timeout: arrivalDeadlineMs },
      );
      const expectedRounds = Array.from({ length: total }, (_, round) => round);
      for (const received of [receivedByA, receivedByB]) {
        const rounds = received.map((message) => (message.type === 'heartbeat' ? message.round : -1));
        expect(rounds.sort((x, y) => x - y)).toEqual(expectedRounds);
      }
      // A message may arrive before its sender hears that the request succeeded.
      await vi.waitFor(
        () => expect(pair.a.stats()).toMatchObject({ sent: total, dropped: 0, received: total }),
        {
          timeout: arrivalDeadlineMs,
        },
      );
    });

    it('drops and counts messages to an unknown peer, without throwing', () => {
      expect(() => pair.a.send(numberedHeartbeats(pair.aId, unknownPeerId, 0, 5))).not.toThrow();
      expect(pair.a.stats()).toMatchObject({ sent: 0, dropped: 5 });
    });

    it('drops and counts messages to a peer that is down, without blocking the sender', async () => {
      pair.a.setPeer(downPeerId, downPeerAddress);
      const messageCount = 100;
      const startedAtMs = performance.now();
      for (let round = 0; round < messageCount; round += 1) {
        pair.a.send(numberedHeartbeats(pair.aId, downPeerId, round, 1));
      }
      expect(performance.now() - startedAtMs).toBeLessThan(1_000);
      await vi.waitFor(() => expect(pair.a.stats().dropped).toBe(messageCount), {
        timeout: arrivalDeadlineMs,
      });
      expect(pair.a.stats().sent).toBe(0);
      // The healthy peer is unaffected by its neighbour being down.
      pair.a.send(numberedHeartbeats(pair.aId, pair.bId, 0, 1));
      await vi.waitFor(() => expect(receivedByB).toHaveLength(1), { timeout: arrivalDeadlineMs });
    });

    it('closes cleanly: twice, and afterwards sends are dropped and nothing more is handled', async () => {
      pair.a.send(numberedHeartbeats(pair.aId, pair.bId, 0, 3));
      await vi.waitFor(() => expect(receivedByB).toHaveLength(3), { timeout: arrivalDeadlineMs });
      await pair.b.close();
      await pair.b.close();
      expect(() => pair.b.send(numberedHeartbeats(pair.bId, pair.aId, 0, 2))).not.toThrow();
      expect(pair.b.stats().dropped).toBe(2);
      pair.a.send(numberedHeartbeats(pair.aId, pair.bId, 3, 4));
      await vi.waitFor(() => expect(pair.a.stats().sent + pair.a.stats().dropped).toBe(7), {
        timeout: arrivalDeadlineMs,
      });
      expect(receivedByB).toHaveLength(3);
      expect(receivedByA).toHaveLength(0);
    });
  });
}
