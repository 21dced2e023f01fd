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
  /** Minimum election timeout; each node's is in [min, 2*min) (raft.ts electionTimeoutFor). */
  electionTimeoutTicksMin: number;
  preVote: boolean;
  /**
   * With preVote: a follower that has heard no leader asks for pre-votes this many ticks before
   * its election timeout, staying a follower, so that voters in a lease answer at the tick it ends
   * (raft.ts askForPreVotesEarly). 0: only at the timeout.
   */
  preVoteLeadTicks: number;
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
  preVoteLeadTicks: 2,
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
  assert(
    Number.isInteger(config.preVoteLeadTicks) &&
      config.preVoteLeadTicks >= 0 &&
      config.preVoteLeadTicks < config.electionTimeoutTicksMin,
    'preVoteLeadTicks must be in [0, electionTimeoutTicksMin)',
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

// ---- client input (design.md §7) ----------------------------------------------------------------

/** Longest KV key, in UTF-8 bytes. */
export const kvKeyBytesMax = 1024;

/** Largest KV value, in UTF-8 bytes of its JSON text (what a client sends and receives). */
export const kvValueBytesMax = 256 * 1024;

/**
 * Deepest nesting of arrays and objects in a KV value. Bounds the stack that encoding and
 * decoding need, so a value every node accepts never overflows one node's stack.
 */
export const kvValueDepthMax = 64;

/** Items one page of a KV range returns when the client does not say. */
export const kvRangeItemsDefault = 100;

/** Most items one page of a KV range returns. */
export const kvRangeItemsMax = 1000;

/** Longest request id a command may carry, in UTF-8 bytes (a forwarding node's internal id). */
export const requestIdBytesMax = 128;

/** The largest request body a client may send. */
export const bodyBytesMax = 1024 * 1024;
/** Open client connections; the server closes a new one past this at once (before any request). */
export const clientConnectionsMax = 8192;
/** The whole request (headers and body) must arrive within this (slowloris). */
export const clientRequestTimeoutMs = 30_000;
/** An idle keep-alive connection is closed after this; load generators reuse theirs well within it. */
export const clientKeepAliveTimeoutMs = 30_000;
/**
 * A connection with no traffic either way for this long is closed (a client that stops reading
 * its answers, say). Every route answers well within it; a streaming route must write more often.
 */
export const clientConnectionIdleTimeoutMs = 60_000;

/** Client requests in flight (src/http/admission.ts). */
export interface AdmissionLimits {
  /** Requests one client address may have in flight; the next one is answered 429 OVERLOADED. */
  requestsInFlightPerClientMax: number;
  /** Requests the node may have in flight over all clients; the next one is answered 503 BUSY. */
  requestsInFlightMax: number;
}

export const defaultAdmissionLimits: AdmissionLimits = {
  requestsInFlightPerClientMax: 1024,
  requestsInFlightMax: 4096,
};

// ---- the node driver (src/node/node.ts) ----------------------------------------------------------

export interface NodeLimits {
  /** Proposals waiting for their entry to apply before new ones get BUSY. */
  pendingProposalsMax: number;
  /** Reads waiting for a read index before new ones get BUSY. */
  pendingReadsMax: number;
  /** How long a proposal waits to be applied before its outcome is reported unknown. */
  proposalTimeoutMs: number;
  /** How long a read waits for confirmation and apply. */
  readTimeoutMs: number;
  /** Ticks replayed at most after a stall (e.g. SIGSTOP) before the rest are dropped. */
  tickCatchUpMax: number;
  /** Committed entries handed to the state machine but not yet applied before the Ready loop waits. */
  applyLagEntriesMax: number;
  /** Readies taken whose saves are not yet done. */
  readiesInFlightMax: number;
  /**
   * How long a new commit index waits for an AppendEntries with entries to ride on before it is
   * sent alone (Raft.broadcastCommit). Followers apply this much later at worst; under load, no
   * follower handles an extra message round per write.
   */
  commitLingerMs: number;
  /**
   * Proposal batches a leader keeps uncommitted before it holds new proposals back (group commit):
   * requests that arrive meanwhile wait for a commit and go out as one larger batch. Each
   * AppendEntries costs every follower a disk sync and a round of its Ready loop whatever its size,
   * so under load fewer, larger batches leave more CPU for the writes themselves; with little load
   * no batch is in flight and a request goes out at once.
   */
  proposalBatchesInFlightMax: number;
  /** Proposals held back at most: this many go out as one batch whatever is in flight. */
  proposalBatchEntriesMax: number;
  /**
   * A proposal batch of at most this many entries has its AppendEntries leave at once, not with
   * the rest of the event-loop turn's messages on the next turn (Transport.send's `now`). Small
   * batches mean little load, where that turn is a tenth of a write's latency at one client;
   * under load, batches are larger and frames carry more for waiting.
   */
  sendAtOnceEntriesMax: number;
}

export const defaultNodeLimits: NodeLimits = {
  pendingProposalsMax: 50_000,
  pendingReadsMax: 50_000,
  proposalTimeoutMs: 5_000,
  readTimeoutMs: 5_000,
  tickCatchUpMax: 1_000,
  applyLagEntriesMax: 8_192,
  readiesInFlightMax: 64,
  commitLingerMs: 2,
  proposalBatchesInFlightMax: 1,
  proposalBatchEntriesMax: 512,
  sendAtOnceEntriesMax: 4,
};

// ---- the state store on LevelDB (src/statemachine/level-state-store.ts) -------------------------

/**
 * Applied state is written to LevelDB in batches, like etcd's backend batch interval: each apply
 * step's writes wait in memory (reads see them) and reach the database together, at most
 * flushIntervalMs later or as soon as flushOpsMin writes wait. The log is the durable record; a
 * crash loses only state that the applied index, written in the same batch, does not count.
 */
export interface StateFlushLimits {
  flushIntervalMs: number;
  /** Waiting writes that start a flush at once. */
  flushOpsMin: number;
  /** Waiting writes past which an apply step waits for the flush in flight (bounds memory). */
  pendingOpsMax: number;
  /**
   * Records kept in memory after they were written or read (values and keys, plus an estimated
   * overhead per record), so that apply and reads of a warm key skip LevelDB. Oldest out first.
   */
  readCacheBytesMax: number;
}

export const defaultStateFlushLimits: StateFlushLimits = {
  flushIntervalMs: 50,
  flushOpsMin: 8_192,
  pendingOpsMax: 65_536,
  readCacheBytesMax: 32 * 1024 * 1024,
};

/**
 * LevelDB's write buffer (its memtable), --storage-write-buffer-mib. Writes fill it in memory
 * before LevelDB sorts them into a table; a larger one means fewer tables and compactions, so less
 * CPU per write (a follower's CPU per entry fell by about a fifth from 4 to 32 MiB, measured),
 * for more memory (up to twice this while one is written out) and a longer replay of the
 * write-ahead log at start (up to this much).
 */
export const defaultStorageWriteBufferMib = 32;
export const storageWriteBufferMibMax = 1024;
/**
 * Each node's write buffer is between (1 - this) and all of --storage-write-buffer-mib, spread by
 * node id (level-storage.ts writeBufferBytes): replicas write the same entries, so with one size
 * they would all write out a memtable, and compact, at the same moment.
 */
export const storageWriteBufferStaggerFraction = 1 / 3;

/**
 * The log's write-ahead files (src/node/log-file.ts): a new segment starts once the newest would
 * pass this many bytes (a record larger than that gets a segment of its own).
 */
export const logSegmentBytesMax = 64 * 1024 * 1024;
/**
 * One log record (one save) at most. A save is a leader's proposal batch (at most
 * proposalBatchEntriesMax requests of bodyBytesMax each) or the appends a follower took at once,
 * far below this; a record header claiming more is damage.
 */
export const logRecordBytesMax = 1024 * 1024 * 1024;
/** How much of a log segment one read takes while the log is loaded at start. */
export const logReadChunkBytes = 4 * 1024 * 1024;
/** Bytes of entries at most per record when a log kept in LevelDB (formats 1 and 2) moves to log files. */
export const logMigrationRecordBytesMax = 4 * 1024 * 1024;

// ---- peers ---------------------------------------------------------------------------------------

export interface HttpTransportLimits {
  /** Messages queued for one peer; when full the newest are dropped (and counted). */
  peerQueueMessagesMax: number;
  /** Estimated bytes queued for one peer (big appends would otherwise hold gigabytes). */
  peerQueueBytesMax: number;
  /** Messages in one frame of a peer stream (one batch). */
  batchMessagesMax: number;
  /** Estimated bytes in one frame; a batch always takes at least one message. */
  batchBytesMax: number;
  connectTimeoutMs: number;
  /**
   * From a request's last byte to the response headers; on a peer stream, also how long a frame
   * may wait for a peer that stopped reading (the write buffer over its high-water mark).
   */
  headersTimeoutMs: number;
  /** Between two chunks of a response body. */
  bodyTimeoutMs: number;
  /** Pause after the first failed stream to a peer; doubles on each further failure. */
  retryBackoffMsMin: number;
  /**
   * The longest pause between attempts: a restarted peer hears from this node at most this long
   * after it listens (etcd's peer streams redial every 100 ms). An attempt at a dead loopback port
   * costs one refused connect.
   */
  retryBackoffMsMax: number;
  /**
   * Largest batch the receiving side accepts, as a `POST /raft` body or as one frame of a stream.
   * A batch stops growing past batchBytesMax, so it is at most batchBytesMax plus one message (an
   * append of appendBytesMax plus one entry).
   */
  requestBodyBytesMax: number;
}

export const defaultHttpTransportLimits: HttpTransportLimits = {
  peerQueueMessagesMax: 4096,
  peerQueueBytesMax: 64 * 1024 * 1024,
  batchMessagesMax: 512,
  batchBytesMax: 2 * 1024 * 1024,
  connectTimeoutMs: 1_000,
  headersTimeoutMs: 2_000,
  bodyTimeoutMs: 2_000,
  retryBackoffMsMin: 50,
  retryBackoffMsMax: 100,
  requestBodyBytesMax: 16 * 1024 * 1024,
};

/** How far a request's timestamp may be from the receiver's wall clock. */
export const peerAuthClockSkewMsMax = 30_000;
/** Nonces remembered for replay detection; past this the oldest are forgotten (their timestamps still expire). */
export const peerAuthNoncesMax = 200_000;
/** A shorter secret is refused at start-up. */
export const clusterSecretBytesMin = 16;
