// Faults on node processes: SIGKILL (the node gets no warning and loses what it never synced;
// healed by a restart) and SIGSTOP (the node freezes mid-whatever, timers and sockets and all;
// healed by SIGCONT, after which it acts on a world that moved on without it).
import { type ActiveFault, chooseNodes, healEach, type Nemesis, type NodeTarget } from './nemesis.js';

export function killNemesis(targets: readonly NodeTarget[]): Nemesis {
  return {
    f: 'kill',
    name: `kill:${targets.join('|')}`,
    nodeFlags: [],
    async start(context): Promise<ActiveFault> {
      const { nodes, description } = await chooseNodes(context.random.pick(targets), context);
      const { cluster } = context;
      // All at once: killing a majority one by one would let it elect and sync in between.
      await Promise.all(nodes.map((node) => cluster.kill(node)));
      return {
        target: `SIGKILL ${description}`,
        nodes,
        heal: () =>
          healEach(nodes, (node) => {
            if (!cluster.isRunning(node)) cluster.startNode(node);
          }),
      };
    },
  };
}

export function pauseNemesis(targets: readonly NodeTarget[]): Nemesis {
  return {
    f: 'pause',
    name: `pause:${targets.join('|')}`,
    nodeFlags: [],
    async start(context): Promise<ActiveFault> {
      const { nodes, description } = await chooseNodes(context.random.pick(targets), context);
      const { cluster } = context;
      for (const node of nodes) cluster.pause(node);
      return {
        target: `SIGSTOP ${description}`,
        nodes,
        heal: () => healEach(nodes, (node) => cluster.resume(node)),
      };
    },
  };
}
