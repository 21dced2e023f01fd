// What the bench hands the load generator (as JSON on its command line) and what the load
// generator prints back (one JSON object on stdout). Types only: both processes share them.

export type SystemName = 'raftkv' | 'etcd';
export type ReadConsistency = 'linearizable' | 'lease' | 'stale';
/** How requests reach a system: raftkv's HTTP API, etcd's gRPC (the `etcd3` client) or its JSON gateway. */
export type ClientKind = 'http' | 'grpc' | 'gateway';
/** Every node of the cluster, or the leader only. */
export type TargetNodes = 'all' | 'leader';

/**
 * closed: `concurrency` clients, each sends its next request when the last one is answered.
 * open: requests are due at a fixed rate; latency counts from the due time, so a slow answer
 *   that delays later requests shows up in their latency (no coordinated omission).
 * fill: writes keys 0..keys-1 once each (to load the keyspace before reads), then stops.
 */
export type LoadPattern = 'closed' | 'open' | 'fill';

export interface LoadgenParams {
  system: SystemName;
  client: ClientKind;
  /** cas: compare-and-set attempts, every client on key 0 (contention on one key). */
  op: 'put' | 'get' | 'cas';
  consistency: ReadConsistency;
  /** Base URLs (`http://host:port`) the requests are spread over. */
  endpoints: string[];
  pattern: LoadPattern;
  /** Clients in flight at once (closed and fill), or the most requests in flight (open). */
  concurrency: number;
  /** Open loop only: the rate at which requests are due. */
  rateOpsPerSec?: number;
  /** Load before the measurement window, not recorded (warms connections and JITs). */
  warmupMs: number;
  durationMs: number;
  keyCount: number;
  keyPrefix: string;
  valueBytes: number;
  requestTimeoutMs: number;
  /** Server processes whose CPU time is read at the edges of the measurement window. */
  watchPids: number[];
}

/** Where the latency distribution is sampled for the report's CDF charts (0 = min, 100 = max). */
export const latencyPercentiles = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100] as const;

export interface LoadgenResult {
  /** Successful requests completed in the window. */
  ops: number;
  /** Failed requests in the window: non-2xx answers, timeouts, connection errors, missing keys. */
  errors: number;
  /** Of `ops`, the compare-and-sets refused because the key had changed (cas only; 0 otherwise). */
  conflicts: number;
  errorKinds: Record<string, number>;
  windowSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  meanMs: number;
  maxMs: number;
  /** [percentile, ms] at each of latencyPercentiles; empty when nothing succeeded. */
  latencyPercentilesMs: [number, number][];
  /** The load generator's own CPU (user + system) during the window. */
  loadgenCpuSec: number;
  /** CPU seconds each watched process used during the window (pid -> seconds). */
  cpuSecByPid: Record<string, number>;
  /** CPU seconds every process on the machine used during the window. */
  machineCpuSec: number;
}
