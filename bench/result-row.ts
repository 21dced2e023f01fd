// One row of results.json (design.md §6 "Bench output"): one system, one scenario, one point.
import type {
  ClientKind,
  LoadPattern,
  ReadConsistency,
  SystemName,
  TargetNodes,
} from './loadgen-protocol.js';
import type { ScenarioName } from './options.js';

export interface VariantResult {
  client: ClientKind;
  targets: TargetNodes;
  opsPerSec: number;
  p99Ms: number;
  errors: number;
  failure?: string;
}

export interface ResultRow {
  system: SystemName;
  scenario: ScenarioName;
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
    /** How the reported numbers were reached (the fastest of `variants` for writes). */
    client: ClientKind;
    targets: TargetNodes;
    variants: VariantResult[];
    errorKinds: Record<string, number>;
    meanMs: number;
    maxMs: number;
    loadgenCpuSec: number;
    serverCpuSecByProcess: Record<string, number>;
    /** CPU of the other system's (idle) cluster in the same window: background noise on a shared machine. */
    otherSystemCpuSec: number;
    /** CPU that processes outside the bench used in the window: other work on a shared machine. */
    outsideCpuSec: number;
    /** What the system actually served when it has no exact equivalent of the level asked. */
    servedAs?: string;
    /** Set when no way of reaching the system could be measured at this point (the numbers are zeros). */
    failure?: string;
  };
}
