// One row of results.json (design.md §6 "Bench output"): one system, one scenario, one point
// (a load row), one system's series of leader kills (a failover row) or of member restarts on a
// long log (a restart row).
import type {
  ClientKind,
  LoadPattern,
  ReadConsistency,
  SystemName,
  TargetNodes,
} from './loadgen-protocol.js';

/** One measured window of a load point: what it did, or why it could not be measured. */
export interface RoundResult {
  opsPerSec: number;
  p99Ms: number;
  errors: number;
  failure?: string;
}

/** The window of one way of reaching the system (the first round measures every way). */
export interface VariantResult extends RoundResult {
  client: ClientKind;
  targets: TargetNodes;
}

/** Latency at a percentile of the window's successful requests: [percentile, ms]. */
export type LatencyPoint = [number, number];

export interface LoadRow {
  system: SystemName;
  /** cas: compare-and-set attempts on one key; each answer, a swap or a refusal, is an op. */
  scenario: 'put' | 'get' | 'cas';
  params: {
    concurrency: number;
    consistency?: ReadConsistency;
    pattern: LoadPattern;
    rateOpsPerSec?: number;
    durationSec: number;
    keyCount: number;
    valueBytes: number;
  };
  ops: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
  /** CPU seconds of this system's server processes during the measurement window. */
  cpuSec: number;
  extra: {
    /** How the reported numbers were reached (the best of `variants`). */
    client: ClientKind;
    targets: TargetNodes;
    /** The first round: every way of reaching the system, one window each. */
    variants: VariantResult[];
    /**
     * With --rounds N > 1: the best way's N windows in the order taken (the first is its window
     * in `variants`); the row's numbers are the median one's.
     */
    rounds?: RoundResult[];
    errorKinds: Record<string, number>;
    meanMs: number;
    maxMs: number;
    /** The latency distribution (for the CDF charts), percentiles from 0 to 100. */
    latencyPercentilesMs: LatencyPoint[];
    /** cas only: the attempts refused because another client's swap came first. */
    conflicts?: number;
    loadgenCpuSec: number;
    serverCpuSecByProcess: Record<string, number>;
    /** CPU of the other system's (idle) cluster in the same window: background noise on a shared machine. */
    otherSystemCpuSec: number;
    /** CPU that processes outside the bench used in the window: other work on a shared machine. */
    outsideCpuSec: number;
    /** What the system actually served when it has no exact equivalent of the level asked. */
    servedAs?: string;
    /** Set when the window the row shows could not be measured (the numbers are zeros): every reason seen. */
    failure?: string;
  };
}

/** A system's series of timed trials (failover, restart): too few for a real 99.9th percentile. */
export interface TrialSeriesRow {
  system: SystemName;
  /** Trials that ended in success; `errors` are the ones that did not. */
  ops: number;
  /** Over the successful trials' times. */
  p50Ms: number;
  p99Ms: number;
  /** The slowest trial. */
  p999Ms: number;
  errors: number;
}

/** Trial times: ms from the SIGKILL of the leader to the first successful write sent after it. */
export interface FailoverRow extends TrialSeriesRow {
  scenario: 'failover';
  params: { trials: number; heartbeatMs: number; electionTimeoutMs: number };
  extra: {
    /** Which configuration of the system this is, e.g. "etcd defaults". */
    label: string;
    client: ClientKind;
    /** Closed-loop writers kept running through every trial, spread over all members. */
    loadClients: number;
    /** Each successful trial's failover time, in order. */
    trialsMs: number[];
    /** Per trial, ms from the kill until the bench saw a new leader that a majority follows. */
    newLeaderMs: number[];
    /** Term increments during the steady load before each kill: elections no kill caused. */
    spuriousElections: number;
    /** Total steady load (no kill in it) over which spurious elections were counted. */
    steadySec: number;
    /** Why the trials stopped early (a cluster that did not recover). */
    failure?: string;
  };
}

/** Trial times: ms from spawning the killed member's process to its first ready answer. */
export interface RestartRow extends TrialSeriesRow {
  scenario: 'restart';
  params: { entries: number; trials: number };
  extra: {
    label: string;
    /** The restarted member (a follower), e.g. n2 or e2. */
    member: string;
    /** How the system tells it is ready: raftkv `/readyz`, etcd `/health`. */
    readyProbe: string;
    /** The member's applied index before the first kill: the log it restarts on. */
    appliedIndex: number;
    /** Its data directory's size then. */
    dataBytes: number;
    /** The writes that loaded the log: distinct keys, closed loop over all members. */
    fillOps: number;
    fillSec: number;
    /** Each trial's time to ready, in order. */
    trialsMs: number[];
    failure?: string;
  };
}

export type ResultRow = LoadRow | FailoverRow | RestartRow;

export function isLoadRow(row: ResultRow): row is LoadRow {
  return row.scenario !== 'failover' && row.scenario !== 'restart';
}
