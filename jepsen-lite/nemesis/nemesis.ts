// A nemesis injects one kind of fault into a real cluster from the outside, without the nodes'
// cooperation (signals, link proxies), except the clock, which only the node itself can skew
// (design.md §3: all local nodes share one system clock).
import type { RealCluster } from '../real/real-cluster.js';
import type { Prng } from '../sim/prng.js';

export interface NemesisContext {
  cluster: RealCluster;
  /** Every choice of target and size is drawn from here, so a seed gives the same schedule. */
  random: Prng;
}

/** A fault in force; `heal` undoes it. */
export interface ActiveFault {
  /** What it did, for people: "isolated leader 3 from 1,2,4,5". */
  target: string;
  /** The nodes it hit most (killed, paused, isolated, skewed); empty when it hit every link. */
  nodes: number[];
  /** Why the fault could not be (fully) injected; the run records it and goes on. */
  error?: string;
  /** Resolves to an error text when healing went wrong, else undefined. */
  heal(): Promise<string | undefined>;
}

export interface Nemesis {
  /** The `f` of its history ops: 'kill' | 'pause' | 'partition' | 'slow' | 'clock'. */
  f: string;
  /** 'kill:one|leader', 'partition:leader', ...: which variants it draws from. */
  name: string;
  /** Flags every node must be started with for this nemesis to work. */
  nodeFlags: readonly string[];
  start(context: NemesisContext): Promise<ActiveFault>;
}

/** Which nodes a node-level fault (kill, pause) hits. */
export type NodeTarget = 'one' | 'leader' | 'minority' | 'majority' | 'all';
export const nodeTargets: readonly NodeTarget[] = ['one', 'leader', 'minority', 'majority', 'all'];

export interface ChosenNodes {
  nodes: number[];
  description: string;
}

export async function chooseNodes(target: NodeTarget, context: NemesisContext): Promise<ChosenNodes> {
  const ids = context.cluster.members.map((member) => member.id);
  const majoritySize = Math.floor(ids.length / 2) + 1;
  switch (target) {
    case 'one': {
      const node = context.random.pick(ids);
      return { nodes: [node], description: `node ${node}` };
    }
    case 'leader': {
      const leader = await findLeader(context.cluster);
      const node = leader ?? context.random.pick(ids);
      return { nodes: [node], description: leader ? `leader ${node}` : `node ${node} (no leader known)` };
    }
    case 'minority': {
      // Followers only: the cluster keeps its leader and a quorum, and goes on serving.
      const leader = await findLeader(context.cluster);
      const followers = ids.filter((id) => id !== leader);
      const nodes = context.random.shuffled(followers).slice(0, ids.length - majoritySize);
      return {
        nodes,
        description: `minority ${nodes.join(',')} (followers${leader ? ` of leader ${leader}` : ''})`,
      };
    }
    case 'majority': {
      const leader = await findLeader(context.cluster);
      const first = leader ?? context.random.pick(ids);
      const others = context.random.shuffled(ids.filter((id) => id !== first)).slice(0, majoritySize - 1);
      const nodes = [first, ...others];
      const leaderNote = leader ? ` (leader ${leader} and followers)` : ' (no leader known)';
      return { nodes, description: `majority ${nodes.join(',')}${leaderNote}` };
    }
    case 'all':
      return { nodes: ids, description: `all nodes ${ids.join(',')}` };
  }
}

/** The leader of the highest term that any running node reports being, or undefined. */
export async function findLeader(cluster: RealCluster): Promise<number | undefined> {
  const running = cluster.members.map((member) => member.id).filter((id) => cluster.isRunning(id));
  const answers = await Promise.allSettled(running.map((id) => cluster.status(id)));
  let leader: { id: number; term: number } | undefined;
  for (const answer of answers) {
    if (answer.status !== 'fulfilled' || answer.value.role !== 'leader') continue;
    if (!leader || answer.value.term > leader.term) leader = answer.value;
  }
  return leader?.id;
}

/** Runs `heal` for each node, collecting the failures into one error text. */
export async function healEach(
  nodes: readonly number[],
  heal: (node: number) => Promise<void> | void,
): Promise<string | undefined> {
  const failures: string[] = [];
  for (const node of nodes) {
    try {
      await heal(node);
    } catch (error) {
      failures.push(`node ${node}: ${(error as Error).message}`);
    }
  }
  return failures.length > 0 ? failures.join('; ') : undefined;
}
