import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/raft/messages.js';
import { type Link, partitionKinds, partitionLinks, SimNetwork } from './network.js';
import { Prng } from './prng.js';

const five = [1, 2, 3, 4, 5];

function heartbeat(from: number, to: number): Message {
  return { type: 'heartbeat', from, to, term: 1, commit: 0, round: 1 };
}

/** The nodes each node can reach (itself included) under a partition. */
function reachable(links: readonly Link[], nodes: readonly number[]): Map<number, number[]> {
  const cut = new Set(links.map(({ from, to }) => `${from}>${to}`));
  return new Map(nodes.map((from) => [from, nodes.filter((to) => to === from || !cut.has(`${from}>${to}`))]));
}

describe('SimNetwork', () => {
  it('drops, duplicates and delays at the configured rates', () => {
    const profile = { latencyMsMin: 1, latencyMsMax: 3, dropRate: 0.2, duplicateRate: 0.1, reorder: true };
    const network = new SimNetwork(profile, new Prng(1));
    let copies = 0;
    for (let i = 0; i < 10_000; i++) {
      for (const atMs of network.deliveryTimesMs(heartbeat(1, 2), 100)) {
        expect(atMs).toBeGreaterThanOrEqual(101);
        expect(atMs).toBeLessThan(103);
        copies++;
      }
    }
    expect(network.messagesDropped / 10_000).toBeCloseTo(0.2, 1);
    expect(network.messagesDuplicated / 10_000).toBeCloseTo(0.08, 1);
    expect(copies).toBe(10_000 - network.messagesDropped + network.messagesDuplicated);
  });

  it('keeps each link in send order when reordering is off', () => {
    const profile = { latencyMsMin: 1, latencyMsMax: 50, dropRate: 0, duplicateRate: 0, reorder: false };
    const network = new SimNetwork(profile, new Prng(2));
    const arrivals = Array.from({ length: 100 }, (_, i) => network.deliveryTimesMs(heartbeat(1, 2), i)[0]!);
    expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
  });

  it('cuts exactly the links of the partition in force, until healed', () => {
    const network = new SimNetwork(
      { latencyMsMin: 1, latencyMsMax: 1, dropRate: 0, duplicateRate: 0, reorder: true },
      new Prng(3),
    );
    network.partition([{ from: 1, to: 2 }]);
    expect(network.isBlocked(1, 2)).toBe(true);
    expect(network.isBlocked(2, 1)).toBe(false);
    network.partition([{ from: 3, to: 4 }]);
    expect(network.isBlocked(1, 2)).toBe(false);
    network.heal();
    expect(network.isBlocked(3, 4)).toBe(false);
  });
});

describe('partition shapes', () => {
  it('halves: two sides cut both ways, one of them a majority', () => {
    const sides = reachable(partitionLinks('halves', five, 1, new Prng(4)), five);
    const sizes = [...new Set([...sides.values()].map((side) => side.join()))].map(
      (side) => side.split(',').length,
    );
    expect(sizes.sort()).toEqual([2, 3]);
  });

  it('isolateNode: the target reaches no one and no one reaches it', () => {
    const sides = reachable(partitionLinks('isolateNode', five, 3, new Prng(5)), five);
    expect(sides.get(3)).toEqual([3]);
    expect(sides.get(1)).toEqual([1, 2, 4, 5]);
  });

  it('majoritiesRing: every node sees a majority, no two see the same one', () => {
    const sides = reachable(partitionLinks('majoritiesRing', five, 1, new Prng(6)), five);
    for (const side of sides.values()) expect(side).toHaveLength(3);
    expect(new Set([...sides.values()].map((side) => side.join())).size).toBe(5);
  });

  it('bridge: one node reaches everyone, the others only their own half and it', () => {
    const sides = reachable(partitionLinks('bridge', five, 1, new Prng(7)), five);
    const bridges = [...sides].filter(([, side]) => side.length === 5);
    expect(bridges).toHaveLength(1);
    for (const [node, side] of sides) if (node !== bridges[0]![0]) expect(side).toHaveLength(3);
  });

  it('every shape is symmetric except oneWay, which cuts only one direction', () => {
    for (const kind of partitionKinds) {
      const links = partitionLinks(kind, five, 2, new Prng(8));
      const symmetric = links.every(({ from, to }) =>
        links.some((link) => link.from === to && link.to === from),
      );
      expect(symmetric, kind).toBe(kind !== 'oneWay' || links.length === 0);
    }
  });
});
