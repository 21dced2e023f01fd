// Quorum reads on one node: this node as a replica (a local call), its peers as replicas (over
// their peer ports, at the addresses of its own --members), and the coordinator that asks them.
import type { QuorumReadConfig } from '../config.js';
import { type Member, peerAddress } from '../node/members.js';
import type { NodeMetrics } from '../node/metrics.js';
import type { RaftNode } from '../node/node.js';
import type { PeerAuth } from '../node/peer-auth.js';
import type { NodeId } from '../raft/messages.js';
import type { StateReader } from '../statemachine/state-store.js';
import { PeerReplicas } from './peer-replicas.js';
import { QuorumReads, type Replica } from './quorum-read.js';
import type { ReplicaAnswer } from './quorum-rule.js';
import { answerFromLocalState } from './replica-answer.js';

export interface NodeQuorumReadsOptions {
  node: RaftNode;
  /** The KV service's applied state. */
  kvState: StateReader;
  members: readonly Member[];
  config: QuorumReadConfig;
  readTimeoutMs: number;
  metrics: NodeMetrics;
  /** Signs the reads sent to peers. */
  auth: PeerAuth;
  /** Peers' peer ports speak TLS with certificates signed by `ca`. */
  tls?: { ca: string | Buffer };
}

export interface NodeQuorumReads {
  reads: QuorumReads;
  /** This node's answer as a replica, for its own reads and for the peer route. */
  answerLocally(key: string): Promise<ReplicaAnswer>;
  close(): Promise<void>;
}

export function createNodeQuorumReads(options: NodeQuorumReadsOptions): NodeQuorumReads {
  const { node, metrics } = options;
  const answerLocally = (key: string) => {
    metrics.quorumReplicaAnswers.inc();
    return answerFromLocalState(node, options.kvState, key);
  };
  const peers = new PeerReplicas(options.auth, options.tls);
  const replicas = new Map<NodeId, Replica>();
  for (const member of options.members) {
    const replica =
      member.id === node.id
        ? { id: node.id, ask: answerLocally }
        : peers.replica(member.id, peerAddress(member));
    replicas.set(member.id, replica);
  }
  const reads = new QuorumReads({
    ...options.config,
    selfId: node.id,
    voters: () => node.members().voters,
    replica: (id) => replicas.get(id),
    readTimeoutMs: options.readTimeoutMs,
    onHedge: () => metrics.quorumHedges.inc(),
    onPendingWait: () => metrics.quorumPendingWaits.inc(),
  });
  return { reads, answerLocally, close: () => peers.close() };
}
