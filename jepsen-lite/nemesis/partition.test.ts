import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { linkName } from '../real/link-proxy.js';
import { Prng } from '../sim/prng.js';
import { type PartitionKind, partitionKinds, planPartition } from './partition.js';

const nodes = [1, 2, 3, 4, 5];

/** For each node, the nodes it can still send to (itself included). */
function reachable(kind: PartitionKind, seed: number, leader?: number): Map<number, Set<number>> {
  const plan = planPartition(kind, nodes, leader, new Prng(seed));
  const cut = new Set(plan.links.map(linkName));
  return new Map(
    nodes.map((from) => [from, new Set(nodes.filter((to) => to === from || !cut.has(linkName([from, to]))))]),
  );
}

describe('planPartition', () => {
  it('cuts links in both directions, never a link a node has to itself', () => {
    fc.assert(
      fc.property(fc.constantFrom(...partitionKinds), fc.integer(), (kind, seed) => {
        const { links } = planPartition(kind, nodes, 3, new Prng(seed));
        const cut = new Set(links.map(linkName));
        for (const [from, to] of links) {
          expect(from).not.toBe(to);
          expect(cut.has(linkName([to, from]))).toBe(true);
        }
      }),
    );
  });

  it('isolating the leader cuts it off from everyone, and only it', () => {
    const view = reachable('leader', 7, 3);
    expect([...view.get(3)!]).toEqual([3]);
    for (const id of [1, 2, 4, 5]) expect([...view.get(id)!].sort()).toEqual([1, 2, 4, 5]);
    expect(planPartition('leader', nodes, 3, new Prng(7)).description).toBe('leader 3 isolated from 1,2,4,5');
  });

  it('halves split the nodes into a minority of 2 and a majority of 3', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const sizes = [...reachable('halves', seed).values()].map((group) => group.size).sort();
        expect(sizes).toEqual([2, 2, 3, 3, 3]);
      }),
    );
  });

  it('in a majorities ring every node sees a majority, and no two see the same one', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const groups = [...reachable('ring', seed).values()];
        for (const group of groups) expect(group.size).toBe(3);
        const distinct = new Set(groups.map((group) => [...group].sort().join(',')));
        expect(distinct.size).toBe(nodes.length);
      }),
    );
  });

  it('a bridge talks to both halves, which cannot talk to each other', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const plan = planPartition('bridge', nodes, undefined, new Prng(seed));
        const view = reachable('bridge', seed);
        const bridge = plan.nodes[0]!;
        expect(view.get(bridge)!.size).toBe(5);
        for (const id of nodes.filter((id) => id !== bridge)) expect(view.get(id)!.size).toBe(3);
      }),
    );
  });
});
