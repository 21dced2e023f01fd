// Result rows as the bench writes them, made up for the report tests: load points, restarts and
// failovers with the numbers a test needs and plausible values for the rest.
import type { FailoverRow, LatencyPoint, LoadRow, RestartRow } from '../../bench/result-row.js';

function latencies(scale: number): LatencyPoint[] {
  return [0, 50, 90, 99, 99.9, 99.99, 100].map((p): LatencyPoint => [p, scale * (1 + p / 10)]);
}

export function loadRow(
  system: 'raftkv' | 'etcd',
  scenario: LoadRow['scenario'],
  concurrency: number,
  ops: number,
  conflicts?: number,
): LoadRow {
  return {
    system,
    scenario,
    params: { concurrency, pattern: 'closed', durationSec: 10, keyCount: 1000, valueBytes: 100 },
    ops,
    opsPerSec: ops / 10,
    p50Ms: 2,
    p99Ms: 9,
    p999Ms: 12,
    errors: 0,
    cpuSec: 5,
    extra: {
      client: system === 'raftkv' ? 'http' : 'grpc',
      targets: 'all',
      variants: [],
      errorKinds: {},
      meanMs: 3,
      maxMs: 20,
      latencyPercentilesMs: latencies(system === 'raftkv' ? 1 : 2),
      ...(conflicts === undefined ? {} : { conflicts }),
      loadgenCpuSec: 1,
      serverCpuSecByProcess: {},
      otherSystemCpuSec: 0,
      outsideCpuSec: 0,
    },
  };
}

export function restartRow(system: 'raftkv' | 'etcd', trialsMs: number[], fillOps: number): RestartRow {
  const sorted = [...trialsMs].sort((a, b) => a - b);
  return {
    system,
    scenario: 'restart',
    params: { entries: 1000, trials: 3 },
    ops: trialsMs.length,
    p50Ms: sorted[Math.ceil(sorted.length / 2) - 1] ?? 0,
    p99Ms: sorted.at(-1) ?? 0,
    p999Ms: sorted.at(-1) ?? 0,
    errors: 3 - trialsMs.length,
    extra: {
      label: system === 'raftkv' ? 'raftkv' : 'etcd defaults',
      member: system === 'raftkv' ? 'n2' : 'e2',
      readyProbe: 'probe',
      appliedIndex: 1234,
      dataBytes: 5 * 1024 ** 2,
      fillOps,
      fillSec: 2,
      trialsMs,
      ...(trialsMs.length < 3 ? { failure: 'stopped after 2 of 3 trials: no ready answer' } : {}),
    },
  };
}

/** A failover series with the given median; `trials` 0 stands for a series with no successful trial. */
export function failoverRow(
  system: 'raftkv' | 'etcd',
  label: string,
  p50Ms: number,
  trials = 5,
): FailoverRow {
  return {
    system,
    scenario: 'failover',
    params: { trials: 5, heartbeatMs: 100, electionTimeoutMs: 500 },
    ops: trials,
    p50Ms: trials > 0 ? p50Ms : 0,
    p99Ms: trials > 0 ? p50Ms * 1.5 : 0,
    p999Ms: trials > 0 ? p50Ms * 1.5 : 0,
    errors: 5 - trials,
    extra: {
      label,
      client: 'http',
      loadClients: 8,
      trialsMs: Array.from({ length: trials }, () => p50Ms),
      newLeaderMs: Array.from({ length: trials }, () => p50Ms / 2),
      spuriousElections: 0,
      steadySec: 10,
    },
  };
}
