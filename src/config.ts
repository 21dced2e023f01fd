// One place for every default and limit, each named with its unit (TIGER_STYLE).
import { assert } from './assert.js';

/** Faults planted on purpose so tests can prove the checkers catch them. Never set in production. */
export interface TestFaults {
  /** Grant votes without Raft's "candidate's log is at least as up to date" check. */
  grantVoteWithoutLogCheck?: boolean;
  /** Commit entries of older terms by counting replicas (the Figure 8 bug, Raft §5.4.2). */
  commitOlderTermsByCount?: boolean;
  /** A follower acknowledges appended entries before they are persisted. */
  ackBeforePersist?: boolean;
  /** A leader answers lease reads without checking that its lease is still valid. */
  leaseReadsWithoutLease?: boolean;
}

export interface RaftConfig {
  /** Ticks between heartbeats sent by a leader. */
  heartbeatTicks: number;
  /** Minimum election timeout; each node draws its timeout in [min, 2*min). */
  electionTimeoutTicksMin: number;
  preVote: boolean;
  checkQuorum: boolean;
  /**
   * The bound on clock drift between nodes, in ticks: a lease lasts
   * electionTimeoutTicksMin - leaseDriftTicks after the heartbeat that a quorum acknowledged was sent.
   */
  leaseDriftTicks: number;
  /** Most entries carried by one AppendEntries message. */
  appendEntriesCountMax: number;
  /** Most entry bytes carried by one AppendEntries message (at least one entry is always sent). */
  appendBytesMax: number;
  /** AppendEntries messages in flight to one follower before the leader waits for acks. */
  inflightMessagesMax: number;
  /** Committed entries handed to the application in one Ready. */
  applyEntriesCountMax: number;
  /** Proposed but not yet committed entries the leader accepts before refusing new proposals. */
  uncommittedEntriesMax: number;
  /** ReadIndex requests waiting at the leader before new ones are refused. */
  pendingReadsMax: number;
  testFaults?: TestFaults;
}

export const defaultRaftConfig: RaftConfig = {
  heartbeatTicks: 2,
  electionTimeoutTicksMin: 10,
  preVote: true,
  checkQuorum: true,
  leaseDriftTicks: 2,
  appendEntriesCountMax: 512,
  appendBytesMax: 1024 * 1024,
  inflightMessagesMax: 256,
  applyEntriesCountMax: 1024,
  uncommittedEntriesMax: 16_384,
  pendingReadsMax: 16_384,
};

export function validateRaftConfig(config: RaftConfig): RaftConfig {
  assert(Number.isInteger(config.heartbeatTicks) && config.heartbeatTicks >= 1, 'heartbeatTicks >= 1');
  assert(
    Number.isInteger(config.electionTimeoutTicksMin) &&
      config.electionTimeoutTicksMin > config.heartbeatTicks,
    'electionTimeoutTicksMin must be an integer above heartbeatTicks',
  );
  assert(
    Number.isInteger(config.leaseDriftTicks) &&
      config.leaseDriftTicks >= 0 &&
      config.leaseDriftTicks < config.electionTimeoutTicksMin,
    'leaseDriftTicks must be in [0, electionTimeoutTicksMin)',
  );
  assert(config.appendEntriesCountMax >= 1, 'appendEntriesCountMax >= 1');
  assert(config.appendBytesMax >= 1, 'appendBytesMax >= 1');
  assert(config.inflightMessagesMax >= 1, 'inflightMessagesMax >= 1');
  assert(config.applyEntriesCountMax >= 1, 'applyEntriesCountMax >= 1');
  assert(config.uncommittedEntriesMax >= 1, 'uncommittedEntriesMax >= 1');
  assert(config.pendingReadsMax >= 1, 'pendingReadsMax >= 1');
  return config;
}

/** How long one tick lasts on a real node. */
export const tickMs = 50;

/** Quorum reads (design.md §5): R replicas per read, hedged, waiting out pending writes. */
export interface QuorumReadConfig {
  /** --read-quorum: replicas per read; absent: N - W + 1 of the voters at each read. */
  readQuorum?: number;
  /** --unsafe-allow-weak-quorum: accept R + W <= N, with reads that may miss acknowledged writes. */
  allowWeakQuorum: boolean;
  /** --quorum-hedge-ms: when R replies are not all in after this long, one more replica is asked. */
  hedgeDelayMs: number;
  /** While a read waits for a pending write to apply, its replicas are asked again this often. */
  pendingPollMs: number;
  /** --test-skip-pqr-wait, a planted bug: reads ignore pending writes (docs/testing.md). */
  testSkipPendingWait: boolean;
}

export const defaultQuorumReadConfig: QuorumReadConfig = {
  allowWeakQuorum: false,
  hedgeDelayMs: 100,
  pendingPollMs: 5,
  testSkipPendingWait: false,
};
