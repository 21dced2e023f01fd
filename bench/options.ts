// `raftkv bench` flags -> validated options, with the defaults of a full run and of --quick.
import { join } from 'node:path';
import { integerFlag, parseFlags, stringFlag, UsageError } from '../src/cli-args.js';

/**
 * put, get and cas measure throughput and latency under load (cas: compare-and-set on one key);
 * failover measures leader kills; restart, a member's time to ready on a long log.
 */
export type ScenarioName = 'put' | 'get' | 'cas' | 'failover' | 'restart';
const scenarioNames: readonly ScenarioName[] = ['put', 'get', 'cas', 'failover', 'restart'];

export interface BenchOptions {
  compareEtcd: boolean;
  scenarios: ScenarioName[];
  durationSec: number;
  /** Unmeasured writes per system before the first load point (JIT warm-up); 0 for none. */
  warmUpSec: number;
  /**
   * Windows per load point and system: the first measures every way of reaching the system, the
   * rest only the best way, systems alternating; the row is the median window.
   */
  rounds: number;
  concurrencies: number[];
  /** Open loop at this total rate when set; closed loop otherwise. */
  rateOpsPerSec: number | undefined;
  keyCount: number;
  /** Leader kills per system in the failover scenario. */
  failoverTrials: number;
  /** Writes (one log entry each, distinct keys) before the restart scenario's first restart. */
  restartEntries: number;
  /** Restarts of one member per system in the restart scenario. */
  restartTrials: number;
  /** Run every raftkv node under V8's profiler and sum the profiles up in the report. */
  profile: boolean;
  outDir: string;
}

const fullRun = {
  durationSec: 10,
  // A node's V8 background threads spend about a fifth of its CPU compiling for its first 15 s
  // under load and about 4% by 30 s; after 4 s of warm-up, JIT work was still 14% of a 64-client
  // write point's CPU (measured with perf, 2026-11-27).
  warmUpSec: 30,
  // On this shared 2-core machine one 10 s window's ops/s swings by 20-30% from run to run (etcd's
  // more than raftkv's): a median of three windows, taken turn about, keeps the ratios steadier.
  rounds: 3,
  concurrencies: [1, 16, 64, 256],
  keyCount: 100_000,
  failoverTrials: 20,
  restartEntries: 1_000_000,
  restartTrials: 3,
};
const quickRun = {
  durationSec: 2,
  warmUpSec: 1,
  rounds: 1,
  concurrencies: [16, 64],
  keyCount: 1_000,
  failoverTrials: 3,
  restartEntries: 5_000,
  restartTrials: 1,
};
/** Windows per point beyond which a run only gets longer, not surer. */
const roundsMax = 15;
/** More clients than this would only measure the load generator's own limits. */
const concurrencyMax = 4_096;

export const benchUsage = `usage:
  raftkv bench [--compare etcd | --no-etcd] [--scenario ${scenarioNames.join('|')}|all[,...]]
               [--duration SECONDS] [--warm-up SECONDS (${fullRun.warmUpSec}; unmeasured writes per system first)]
               [--rounds N (${fullRun.rounds}; windows per point and system, the row is their median)]
               [--concurrency 1,16,64,256] [--rate OPS_PER_SEC] [--keys ${fullRun.keyCount}]
               [--failover-trials ${fullRun.failoverTrials}] [--restart-entries ${fullRun.restartEntries}]
               [--restart-trials ${fullRun.restartTrials}] [--quick] [--profile] [--out DIR]
  --quick: ${quickRun.durationSec} s per point at concurrency ${quickRun.concurrencies.join(' and ')} over ${quickRun.keyCount} keys,
           ${quickRun.failoverTrials} failover trials, ${quickRun.restartTrials} restart on ${quickRun.restartEntries} entries (a smoke test);
           flags given explicitly win.
  --profile: every raftkv node runs under V8's profiler (a few % slower); report.md sums up where
             its time went, the .cpuprofile files (flame graphs) are in <out>/profiles/.`;

function parseConcurrencies(text: string): number[] {
  const values = text.split(',').map((part) => part.trim());
  if (values.some((value) => !/^\d+$/.test(value) || Number(value) < 1 || Number(value) > concurrencyMax)) {
    throw new UsageError(
      `--concurrency must be a comma-separated list of integers in [1, ${concurrencyMax}]`,
    );
  }
  return [...new Set(values.map(Number))].sort((a, b) => a - b);
}

/**
 * A comma-separated list, run in the order of scenarioNames whatever the order given: failover and
 * restart restart server processes, whose new pids the load scenarios would not watch.
 */
function parseScenarios(text: string): ScenarioName[] {
  const asked = text.split(',').map((part) => part.trim());
  const known = (name: string): name is ScenarioName => (scenarioNames as readonly string[]).includes(name);
  if (asked.some((name) => name !== 'all' && !known(name))) {
    throw new UsageError(
      `--scenario must be ${scenarioNames.join(', ')} or all, or a comma-separated list of them`,
    );
  }
  return asked.includes('all') ? [...scenarioNames] : scenarioNames.filter((name) => asked.includes(name));
}

/** `bench/results/<ISO time>`, with the colons a file name on some systems cannot hold replaced. */
function defaultOutDir(now: Date): string {
  return join('bench', 'results', now.toISOString().replace(/:/g, '-'));
}

export function parseBenchOptions(argv: readonly string[], now = new Date()): BenchOptions {
  const flags = parseFlags(argv, {
    booleans: ['quick', 'no-etcd', 'profile'],
    values: [
      'compare',
      'scenario',
      'duration',
      'warm-up',
      'rounds',
      'concurrency',
      'rate',
      'keys',
      'failover-trials',
      'restart-entries',
      'restart-trials',
      'out',
    ],
  });
  const compare = flags.get('compare');
  if (compare !== undefined && compare !== 'etcd') throw new UsageError('--compare only knows etcd');
  if (compare !== undefined && flags.has('no-etcd'))
    throw new UsageError('--compare etcd and --no-etcd clash');
  const defaults = flags.has('quick') ? quickRun : fullRun;
  return {
    compareEtcd: !flags.has('no-etcd'),
    scenarios: parseScenarios(stringFlag(flags, 'scenario', 'all')),
    durationSec: integerFlag(flags, 'duration', defaults.durationSec, 1),
    warmUpSec: integerFlag(flags, 'warm-up', defaults.warmUpSec, 0),
    rounds: integerFlag(flags, 'rounds', defaults.rounds, 1, roundsMax),
    concurrencies: flags.has('concurrency')
      ? parseConcurrencies(stringFlag(flags, 'concurrency'))
      : defaults.concurrencies,
    rateOpsPerSec: flags.has('rate') ? integerFlag(flags, 'rate', 0, 1) : undefined,
    keyCount: integerFlag(flags, 'keys', defaults.keyCount, 1),
    failoverTrials: integerFlag(flags, 'failover-trials', defaults.failoverTrials, 1),
    restartEntries: integerFlag(flags, 'restart-entries', defaults.restartEntries, 1),
    restartTrials: integerFlag(flags, 'restart-trials', defaults.restartTrials, 1),
    profile: flags.has('profile'),
    outDir: stringFlag(flags, 'out', defaultOutDir(now)),
  };
}
