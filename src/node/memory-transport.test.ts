// What the memory network does beyond the shared contract: directed cuts, heals, restarts and
// its in-flight bound.
import { describe, expect, it, vi } from 'vitest';
import { InvariantError } from '../assert.js';
import type { Message } from '../raft/messages.js';
import { linkInFlightMessagesMax, MemoryNetwork, type MemoryTransport } from './memory-transport.js';
import { numberedHeartbeats } from './transport.contract.js';

/** Two nodes that know each other, and what each received. */
function connectedPair(network: MemoryNetwork) {
  const received = new Map<number, Message[]>([
    [1, []],
    [2, []],
  ]);
  const transports = [1, 2].map((id) => {
    const transport = network.transport(id);
    transport.setPeer(3 - id, `node-${3 - id}`);
    transport.onMessages((messages) => received.get(id)!.push(...messages));
    return transport;
  }) as [MemoryTransport, MemoryTransport];
  return { one: transports[0], two: transports[1], received };
}

/** Lets every delivery already scheduled with setImmediate run. */
function deliveriesDone(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('MemoryNetwork', () => {
  it('cuts one direction of a link while the other still delivers, until healed', async () => {
    const network = new MemoryNetwork();
    const { one, two, received } = connectedPair(network);
    network.cut(1, 2);
    one.send(numberedHeartbeats(1, 2, 0, 3));
    two.send(numberedHeartbeats(2, 1, 0, 2));
    await deliveriesDone();
    expect(received.get(2)).toEqual([]);
    expect(received.get(1)).toHaveLength(2);
    expect(one.stats()).toMatchObject({ sent: 0, dropped: 3 });
    network.heal(1, 2);
    one.send(numberedHeartbeats(1, 2, 3, 1));
    await deliveriesDone();
    expect(received.get(2)).toHaveLength(1);
  });

  it('drops a batch already in flight when its link is cut before it lands', async () => {
    const network = new MemoryNetwork();
    const { one, received } = connectedPair(network);
    one.send(numberedHeartbeats(1, 2, 0, 1));
    network.cut(1, 2);
    await deliveriesDone();
    expect(received.get(2)).toEqual([]);
    expect(one.stats().dropped).toBe(1);
  });

  it('heals every link at once when heal() is given no link', async () => {
    const network = new MemoryNetwork();
    const { one, two, received } = connectedPair(network);
    network.cut(1, 2);
    network.cut(2, 1);
    network.heal();
    one.send(numberedHeartbeats(1, 2, 0, 1));
    two.send(numberedHeartbeats(2, 1, 0, 1));
    await deliveriesDone();
    expect(received.get(1)).toHaveLength(1);
    expect(received.get(2)).toHaveLength(1);
  });

  it('gives a restarted node a new transport once the old one is closed, never two at once', async () => {
    const network = new MemoryNetwork();
    const { one, two } = connectedPair(network);
    expect(() => network.transport(2)).toThrow(InvariantError);
    await two.close();
    const restarted = network.transport(2);
    const receivedByRestarted: Message[] = [];
    restarted.onMessages((messages) => receivedByRestarted.push(...messages));
    one.send(numberedHeartbeats(1, 2, 0, 1));
    await vi.waitFor(() => expect(receivedByRestarted).toHaveLength(1));
  });

  it('holds at most linkInFlightMessagesMax messages in flight per link, dropping the newest', async () => {
    const network = new MemoryNetwork();
    const { one, received } = connectedPair(network);
    const overflow = 10;
    one.send(numberedHeartbeats(1, 2, 0, linkInFlightMessagesMax + overflow));
    expect(one.stats().dropped).toBe(overflow);
    await deliveriesDone();
    const rounds = received.get(2)!.map((message) => (message.type === 'heartbeat' ? message.round : -1));
    expect(rounds).toEqual(Array.from({ length: linkInFlightMessagesMax }, (_, round) => round));
    expect(one.stats()).toMatchObject({ sent: linkInFlightMessagesMax, dropped: overflow });
  });
});
