// `raftkv jepsen` flags, parsed into one typed, validated options object (every default here).
import { fileURLToPath } from 'node:url';
import { integerFlag, parseFlags, stringFlag, UsageError } from '../src/cli-args.js';
import { parseNemesisSpec } from './nemesis/registry.js';
import { registerKeysCountDefault } from './workloads/register.js';
import { type ReadConsistency, readConsistencies } from './workloads/workload.js';

export const workloadNames = ['register', 'set'] as const;
export type WorkloadName = (typeof workloadNames)[number];

export interface JepsenOptions {
  workload: WorkloadName;
  /** `--nemesis` as given: `kill,partition:leader`, `all` or `none`. */
  nemesis: string;
  /** Length of the fault phase (clients and faults), before healing and final reads. */
  timeS: number;
  /** Each quiet spell before a fault lasts 0.5 to 1.5 times this. */
  nemesisIntervalS: number;
  /** Each fault lasts 0.5 to 1.5 times this. */
  faultDurationS: number;
  /** Ops started per second by all clients together. */
  opsPerSecond: number;
  concurrency: number;
  /** A client op that takes longer is recorded as timed out (`info` for writes, `fail` for reads). */
  opTimeoutMs: number;
  consistency: ReadConsistency;
  /** Registers (keys) the register workload spreads over: fewer keys, more contention. */
  keys: number;
  /** Extra flags for every node (planted bugs). */
  nodeFlags: string[];
  seed: number;
  /** Budget of the checkers; a check that runs out is inconclusive. */
  checkerTimeS: number;
  /** Each run writes its own directory under this one. */
  runsDir: string;
}

export const jepsenUsage = `raftkv jepsen [--workload register|set] [--nemesis kill,pause,partition,slow,clock|all|none]
              [--nemesis-interval S] [--fault-duration S] [--time S] [--rate OPS_PER_S] [--concurrency N] [--op-timeout MS]
              [--consistency linearizable|lease|stale] [--keys N] [--node-flags "FLAGS"] [--seed N]
              [--checker-time S] [--runs-dir DIR]
  a nemesis may be narrowed to one variant: kill:one|leader|minority|majority|all, pause:(same),
  partition:one|leader|halves|ring|bridge, slow:delay|loss
  exit: 0 pass, 1 violation, 2 the run failed, 3 inconclusive`;

/** Beside the sources: jepsen-lite/runs, also when this runs from dist/. */
const defaultRunsDir = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './runs/' : '../../jepsen-lite/runs/', import.meta.url),
);

const limits = {
  timeSMax: 24 * 3600,
  opsPerSecondMax: 100_000,
  concurrencyMax: 1_000,
  opTimeoutMsMax: 600_000,
  keysMax: 1_000,
  checkerTimeSMax: 24 * 3600,
};

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function atMost(flag: string, value: number, max: number): number {
  if (value > max) throw new UsageError(`--${flag} must be at most ${max}`);
  return value;
}

export function parseJepsenOptions(argv: readonly string[]): JepsenOptions {
  const flags = parseFlags(argv, {
    values: [
      'workload',
      'nemesis',
      'nemesis-interval',
      'fault-duration',
      'time',
      'rate',
      'concurrency',
      'op-timeout',
      'consistency',
      'keys',
      'node-flags',
      'seed',
      'checker-time',
      'runs-dir',
    ],
  });
  const nemesis = stringFlag(flags, 'nemesis', 'all');
  parseNemesisSpec(nemesis);
  return {
    workload: oneOf('workload', stringFlag(flags, 'workload', 'register'), workloadNames),
    nemesis,
    timeS: atMost('time', integerFlag(flags, 'time', 60, 1), limits.timeSMax),
    nemesisIntervalS: atMost(
      'nemesis-interval',
      integerFlag(flags, 'nemesis-interval', 3, 1),
      limits.timeSMax,
    ),
    faultDurationS: atMost('fault-duration', integerFlag(flags, 'fault-duration', 3, 1), limits.timeSMax),
    opsPerSecond: atMost('rate', integerFlag(flags, 'rate', 50, 1), limits.opsPerSecondMax),
    concurrency: atMost('concurrency', integerFlag(flags, 'concurrency', 10, 1), limits.concurrencyMax),
    opTimeoutMs: atMost('op-timeout', integerFlag(flags, 'op-timeout', 5_000, 1), limits.opTimeoutMsMax),
    consistency: oneOf('consistency', stringFlag(flags, 'consistency', 'linearizable'), readConsistencies),
    keys: atMost('keys', integerFlag(flags, 'keys', registerKeysCountDefault, 1), limits.keysMax),
    nodeFlags: stringFlag(flags, 'node-flags', '')
      .split(/\s+/)
      .filter((flag) => flag !== ''),
    seed: integerFlag(flags, 'seed', Date.now() % 2 ** 31),
    checkerTimeS: atMost('checker-time', integerFlag(flags, 'checker-time', 60, 1), limits.checkerTimeSMax),
    runsDir: stringFlag(flags, 'runs-dir', defaultRunsDir),
  };
}
