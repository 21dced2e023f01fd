// Network partitions through the link proxies: a plan says which node can talk to which, and
// every directed link between two nodes that cannot is cut (open connections die with it).
import type { Link } from '../real/link-proxy.js';
import type { Prng } from '../sim/prng.js';
import { type ActiveFault, findLeader, type Nemesis } from './nemesis.js';

export type PartitionKind = 'one' | 'leader' | 'halves' | 'ring' | 'bridge';
export const partitionKinds: readonly PartitionKind[] = ['one', 'leader', 'halves', 'ring', 'bridge'];

export interface PartitionPlan {
  description: string;
  /** The nodes cut off most: the isolated node, the minority, the bridge. */
  nodes: number[];
  /** Directed links to cut. */
  links: Link[];
}

/** Every directed link between two nodes that `canTalk` says cannot reach each other. */
function linksCutUnless(nodes: readonly number[], canTalk: (a: number, b: number) => boolean): Link[] {
  return nodes.flatMap((from) =>
    nodes.filter((to) => to !== from && !canTalk(from, to)).map((to) => [from, to] as const),
  );
}

function isolate(nodes: readonly number[], isolated: number, description: string): PartitionPlan {
  return {
    description,
    nodes: [isolated],
    links: linksCutUnless(nodes, (a, b) => a !== isolated && b !== isolated),
  };
}

/** `leader` is the current leader if known: a plan for 'leader' falls back to a random node. */
export function planPartition(
  kind: PartitionKind,
  nodes: readonly number[],
  leader: number | undefined,
  random: Prng,
): PartitionPlan {
  const others = (isolated: number) => nodes.filter((id) => id !== isolated).join(',');
  switch (kind) {
    case 'one': {
      const node = random.pick(nodes);
      return isolate(nodes, node, `node ${node} isolated from ${others(node)}`);
    }
    case 'leader': {
      const node = leader ?? random.pick(nodes);
      const who = leader === undefined ? `node ${node} (no leader known)` : `leader ${node}`;
      return isolate(nodes, node, `${who} isolated from ${others(node)}`);
    }
    case 'halves': {
      const shuffled = random.shuffled(nodes);
      const minority = shuffled.slice(0, Math.floor(nodes.length / 2));
      const side = (id: number) => minority.includes(id);
      return {
        description: `halves: minority ${minority.join(',')} | majority ${shuffled.slice(minority.length).join(',')}`,
        nodes: minority,
        links: linksCutUnless(nodes, (a, b) => side(a) === side(b)),
      };
    }
    case 'ring':
      return planMajoritiesRing(nodes, random);
    case 'bridge': {
      // Two halves that cannot talk, and one node that talks to both.
      const shuffled = random.shuffled(nodes);
      const half = Math.floor((nodes.length - 1) / 2);
      const left = shuffled.slice(0, half);
      const bridge = shuffled[half]!;
      const right = shuffled.slice(half + 1);
      const side = (id: number) => (left.includes(id) ? 'left' : right.includes(id) ? 'right' : 'bridge');
      return {
        description: `bridge ${bridge} between ${left.join(',')} and ${right.join(',')}`,
        nodes: [bridge],
        links: linksCutUnless(
          nodes,
          (a, b) => side(a) === side(b) || side(a) === 'bridge' || side(b) === 'bridge',
        ),
      };
    }
  }
}

/**
 * Jepsen's majorities ring: the nodes stand in a random ring and each talks only to its
 * nearest neighbours, so every node sees a majority, and no two see the same one.
 */
function planMajoritiesRing(nodes: readonly number[], random: Prng): PartitionPlan {
  const ring = random.shuffled(nodes);
  const majoritySize = Math.floor(nodes.length / 2) + 1;
  const reach = Math.ceil((majoritySize - 1) / 2);
  const position = new Map(ring.map((id, index) => [id, index]));
  const distance = (a: number, b: number) => {
    const apart = Math.abs(position.get(a)! - position.get(b)!);
    return Math.min(apart, ring.length - apart);
  };
  return {
    description: `majorities ring ${ring.join('-')} (each node talks to its ${reach} nearest on each side)`,
    nodes: [],
    links: linksCutUnless(nodes, (a, b) => distance(a, b) <= reach),
  };
}

export function partitionNemesis(kinds: readonly PartitionKind[]): Nemesis {
  return {
    f: 'partition',
    name: `partition:${kinds.join('|')}`,
    nodeFlags: [],
    async start(context): Promise<ActiveFault> {
      const { cluster, random } = context;
      const links = cluster.links;
      if (!links) throw new Error('the partition nemesis needs a cluster started with link proxies');
      const kind = random.pick(kinds);
      const leader = kind === 'leader' ? await findLeader(cluster) : undefined;
      const nodes = cluster.members.map((member) => member.id);
      const plan = planPartition(kind, nodes, leader, random);
      links.set(plan.links, { kind: 'cut' });
      return {
        target: plan.description,
        nodes: plan.nodes,
        heal: async () => {
          links.set(plan.links, { kind: 'pass' });
          return undefined;
        },
      };
    },
  };
}
