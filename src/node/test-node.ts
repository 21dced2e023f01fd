// An in-process node built from the in-memory twins (storage, state store, network): the same
// RaftNode and state machine a real node runs, for inject() tests and in-process clusters.
import { defaultQuorumReadConfig, defaultRaftConfig } from '../config.js';
import { type AppDeps, buildApp } from '../http/app.js';
import { createNodeQuorumReads } from '../quorum/node-quorum-reads.js';
import { kvService } from '../statemachine/kv.js';
import { StateMachine } from '../statemachine/state-machine.js';
import { MemoryStateStore } from '../statemachine/state-store.js';
import { systemClock } from './clock.js';
import type { Member } from './members.js';
import { MemoryDurableStorage } from './memory-durable-storage.js';
import type { MemoryNetwork } from './memory-transport.js';
import { NodeMetrics } from './metrics.js';
import { defaultNodeLimits, RaftNode } from './node.js';
import { PeerAuth } from './peer-auth.js';

/** A short tick so in-process tests elect within tens of milliseconds. */
export const testTickMs = 5;

/** A repeatable PRNG for a node's election timeouts (Park–Miller), seeded by the node id. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 16807) % 2147483647;
    return state / 2147483647;
  };
}

export async function startTestNode(
  id: number,
  members: Member[],
  network: MemoryNetwork,
  injectFaults?: AppDeps['injectFaults'],
  appDeps: Partial<AppDeps> = {},
) {
  const voters = members.map((member) => member.id);
  const storage = new MemoryDurableStorage({ voters, learners: [] });
  const stateMachine = new StateMachine(new MemoryStateStore());
  const transport = network.transport(id);
  for (const member of members)
    if (member.id !== id) transport.setPeer(member.id, `${member.host}:${member.peerPort}`);
  const node = new RaftNode({
    id,
    raftConfig: defaultRaftConfig,
    storage,
    transport,
    applier: stateMachine,
    clock: systemClock,
    random: seededRandom(id),
    tickMs: testTickMs,
  });
  const metrics = new NodeMetrics();
  // Peers are reached over HTTP: in-process, only a single-node cluster serves quorum reads.
  const quorum = createNodeQuorumReads({
    node,
    kvState: stateMachine.reader(kvService),
    members,
    config: defaultQuorumReadConfig,
    readTimeoutMs: defaultNodeLimits.readTimeoutMs,
    metrics,
    auth: new PeerAuth({ clusterId: 'test-cluster', nodeId: id, secret: null }),
  });
  const app = await buildApp({
    node,
    stateMachine,
    members,
    quorumReads: quorum.reads,
    metrics,
    roleChanges: () => [],
    injectFaults,
    ...appDeps,
  });
  node.start();
  return {
    node,
    app,
    async stop() {
      await app.close();
      await node.stop();
      await quorum.close();
      await transport.close();
    },
  };
}
