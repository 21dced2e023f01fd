// Prometheus metrics of one node (prom-client), each in its own registry so that several nodes
// can live in one process (tests).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Role } from '../raft/raft.js';
import { emptyTransportStats } from './inbox.js';
import type { TransportStats } from './transport.js';

const roles: readonly Role[] = ['follower', 'preCandidate', 'candidate', 'leader'];

export class NodeMetrics {
  readonly registry = new Registry();
  readonly term = new Gauge({ name: 'raftkv_term', help: 'Current Raft term', registers: [this.registry] });
  readonly role = new Gauge({
    name: 'raftkv_role',
    help: 'Current role (1 for the role this node has)',
    labelNames: ['role'],
    registers: [this.registry],
  });
  readonly commitIndex = new Gauge({
    name: 'raftkv_commit_index',
    help: 'Commit index',
    registers: [this.registry],
  });
  readonly appliedIndex = new Gauge({
    name: 'raftkv_applied_index',
    help: 'Applied index',
    registers: [this.registry],
  });
  readonly elections = new Counter({
    name: 'raftkv_leader_changes_total',
    help: 'Times this node saw a new leader (or none) in a new term',
    registers: [this.registry],
  });
  readonly proposalSeconds = new Histogram({
    name: 'raftkv_proposal_seconds',
    help: 'Time from proposing a write to its apply on this node',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly fsyncSeconds = new Histogram({
    name: 'raftkv_fsync_seconds',
    help: 'Time to persist one Ready (one fsync)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly saveBatchEntries = new Histogram({
    name: 'raftkv_save_batch_entries',
    help: 'Entries persisted per fsync (group commit)',
    buckets: [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly quorumReplicaAnswers = new Counter({
    name: 'raftkv_quorum_replica_answers_total',
    help: "Quorum-read answers this node gave as a replica (its own reads and its peers')",
    registers: [this.registry],
  });
  readonly quorumHedges = new Counter({
    name: 'raftkv_quorum_hedged_requests_total',
    help: 'Quorum reads of this node that asked one more replica because a reply was slow',
    registers: [this.registry],
  });
  readonly quorumPendingWaits = new Counter({
    name: 'raftkv_quorum_pending_waits_total',
    help: 'Quorum reads of this node that waited for a pending write to apply',
    registers: [this.registry],
  });

  readonly requestsRefused = new Counter({
    name: 'raftkv_requests_refused_total',
    help: 'Client requests refused by admission control, by code (OVERLOADED: per client, BUSY: node-wide)',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly requestsInFlight = new Gauge({
    name: 'raftkv_client_requests_in_flight',
    help: 'Client requests admitted and not yet answered (health, status, metrics and admin routes not counted)',
    registers: [this.registry],
  });

  /**
   * @param peerMessages the transport's counters (TransportStats), read at each scrape: messages
   * sent, dropped, received, and refused batches (malformed).
   */
  constructor(peerMessages: () => TransportStats = emptyTransportStats) {
    collectDefaultMetrics({ register: this.registry });
    new Counter({
      name: 'raftkv_peer_messages_total',
      help: 'Raft messages by outcome: sent (a peer took it), dropped (queue full, link down, not for this node), received; malformed counts refused batches',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        const stats = peerMessages();
        this.reset();
        for (const outcome of ['sent', 'dropped', 'received', 'malformed'] as const) {
          this.inc({ outcome }, stats[outcome]);
        }
      },
    });
  }

  setRole(current: Role): void {
    for (const role of roles) this.role.set({ role }, role === current ? 1 : 0);
  }
}
