// The measurements: for each scenario, level and concurrency, each system in turn under the same
// load from a fresh load-generator process, every way of reaching it, keeping the fastest. Reads
// first load the whole keyspace so every read finds its key; cas runs every client on one key.
// Failover (failover.ts) kills leaders of raftkv, of an extra etcd with raftkv's timeouts, and of
// the etcd with its defaults. Restart (restart.ts) loads a long log, then restarts a follower.
import { join } from 'node:path';

import { assert } from '../src/assert.js';
import { roundCpuSec } from './cpu.js';
import { runFailover } from './failover.js';
import type { LoadgenParams, LoadgenResult, LoadPattern, ReadConsistency } from './loadgen-protocol.js';
import type { BenchOptions } from './options.js';
import { runRestart } from './restart.js';
import type {
  FailoverRow,
  LoadRow,
  RestartRow,
  ResultRow,
  RoundResult,
  VariantResult,
} from './result-row.js';
import { LoadgenAborted, runLoadgen } from './run-loadgen.js';
import { type BenchSystem, type RunningSystems, raftkvTiming, type Variant } from './systems.js';

/** Size of every written value (design: ~100 bytes). */
export const valueBytes = 100;
const keyPrefix = 'bench/k';
/** The restart scenario's writes: keys of their own, so its log holds that many more entries. */
const restartKeyPrefix = 'bench/restart/k';
/** Clients of the restart scenario's fill: enough to load a million entries in minutes. */
const restartFillConcurrency = 256;
/** A request unanswered after this long counts as a timeout error. */
const requestTimeoutMs = 10_000;
/** Warm-up before each window: this share of the window, at most warmupMsMax. */
const warmupShare = 0.2;
const warmupMsMax = 2_000;
/** Clients of the fill that writes every key once before the read scenarios. */
const fillConcurrency = 64;
/**
 * Before the first measured point, each system gets this long under writes at this many clients,
 * unmeasured: a fresh Node process runs its hot paths unoptimized until V8 has compiled them
 * (seconds under load), and a first point measured then would report the JIT, not the system.
 * etcd gets the same warm-up.
 */
const warmUpConcurrency = 64;
const readConsistencies: readonly ReadConsistency[] = ['linearizable', 'lease', 'stale'];

interface Point {
  scenario: LoadRow['scenario'];
  consistency: ReadConsistency | undefined;
  concurrency: number;
}

interface Measured {
  variant: Variant;
  result: LoadgenResult;
  /** Why this way could not be measured (no leader found, the load generator failed). */
  failure?: string;
}

/** What a way that could not be measured counts as: nothing done, nothing hidden (see `failure`). */
const noResult: LoadgenResult = {
  ops: 0,
  errors: 0,
  errorKinds: {},
  windowSec: 1,
  p50Ms: 0,
  p99Ms: 0,
  p999Ms: 0,
  meanMs: 0,
  maxMs: 0,
  latencyPercentilesMs: [],
  conflicts: 0,
  loadgenCpuSec: 0,
  cpuSecByPid: {},
  machineCpuSec: 0,
};

function pointLabel(system: BenchSystem, variant: Variant, point: Point): string {
  const level = point.consistency ? `/${point.consistency}` : '';
  return `${point.scenario}${level} c=${point.concurrency} ${system.name} ${variant.client}->${variant.targets}`;
}

function describeResult(result: LoadgenResult): string {
  const errors = result.errors > 0 ? ` ${JSON.stringify(result.errorKinds)}` : '';
  return `${(result.ops / result.windowSec).toFixed(0)} ops/s, p99 ${result.p99Ms.toFixed(2)} ms, ${result.errors} errors${errors}`;
}

export class ScenarioRunner {
  private readonly systems: readonly BenchSystem[];
  private readonly watchPids: number[];

  constructor(
    private readonly options: BenchOptions,
    private readonly running: RunningSystems,
    private readonly signal: AbortSignal,
    /** Where a cluster started for one scenario leaves its servers' logs. */
    private readonly logDir: string,
  ) {
    this.systems = running.systems;
    this.watchPids = this.systems.flatMap((system) => system.processes.map((p) => p.pid));
  }

  async runAll(): Promise<ResultRow[]> {
    const rows: ResultRow[] = [];
    if (this.options.scenarios.some((scenario) => scenario !== 'failover')) {
      for (const system of this.systems) await this.warmUp(system);
    }
    for (const scenario of this.options.scenarios) {
      if (scenario === 'failover') {
        rows.push(...(await this.failover()));
        continue;
      }
      if (scenario === 'restart') {
        for (const system of this.systems) rows.push(await this.restart(system));
        continue;
      }
      if (scenario === 'get') for (const system of this.systems) await this.fill(system);
      const levels = scenario === 'get' ? readConsistencies : [undefined];
      for (const consistency of levels) {
        for (const concurrency of this.options.concurrencies) {
          rows.push(...(await this.measurePoint({ scenario, consistency, concurrency })));
        }
      }
    }
    return rows;
  }

  /** raftkv, then etcd with raftkv's timeouts (a cluster of its own), then etcd with its defaults. */
  private async failover(): Promise<FailoverRow[]> {
    const rows: FailoverRow[] = [];
    const trials = this.options.failoverTrials;
    for (const system of this.systems) {
      if (system.name === 'etcd' && this.running.startEtcd) {
        const sameTimeouts = await this.running.startEtcd(raftkvTiming, "etcd, raftkv's timeouts");
        try {
          rows.push(await runFailover(sameTimeouts.subject, trials, this.signal));
        } finally {
          await sameTimeouts.stop(join(this.logDir, 'etcd-raftkv-timeouts'));
        }
      }
      rows.push(await runFailover(system.failover, trials, this.signal));
    }
    return rows;
  }

  /** Loads `restartEntries` writes of keys of their own, then restarts one follower `restartTrials` times. */
  private async restart(system: BenchSystem): Promise<RestartRow> {
    const entries = this.options.restartEntries;
    const point: Point = { scenario: 'put', consistency: undefined, concurrency: restartFillConcurrency };
    const { result, failure } = await this.measure(system, system.variants[0]!, point, 'fill', {
      keyCount: entries,
      keyPrefix: restartKeyPrefix,
    });
    console.error(
      `restart fill ${system.name}: ${failure ?? `${result.ops} of ${entries} writes in ${result.windowSec.toFixed(1)} s, ${describeResult(result)}`}`,
    );
    const fill = { ops: result.ops, sec: result.windowSec };
    return runRestart(system.failover, fill, { entries, trials: this.options.restartTrials }, this.signal);
  }

  /** Unmeasured writes before the first point (see warmUpConcurrency); a failure is logged. */
  private async warmUp(system: BenchSystem): Promise<void> {
    if (this.options.warmUpSec === 0) return;
    const point: Point = { scenario: 'put', consistency: undefined, concurrency: warmUpConcurrency };
    const { result, failure } = await this.measure(system, system.variants[0]!, point, 'closed', {
      warmupMs: 0,
      durationMs: this.options.warmUpSec * 1000,
    });
    console.error(`warm-up ${system.name}: ${failure ?? describeResult(result)}`);
  }

  /** Writes every key once; a failure is logged, and shows later as reads of missing keys. */
  private async fill(system: BenchSystem): Promise<void> {
    const point: Point = { scenario: 'put', consistency: undefined, concurrency: fillConcurrency };
    const { result, failure } = await this.measure(system, system.variants[0]!, point, 'fill');
    console.error(
      `fill ${system.name}: ${failure ?? `${result.ops} of ${this.options.keyCount} keys in ${result.windowSec.toFixed(1)} s, ${describeResult(result)}`}`,
    );
  }

  /**
   * One point, every system: a first round measures every way of reaching each system (one after
   * the other), then each further round measures each system's best way once, the systems taking
   * turns to go first, so that a slow spell of a shared machine falls on both. Each row is its
   * system's median window (see medianWindow).
   */
  private async measurePoint(point: Point): Promise<ResultRow[]> {
    const everyWay = new Map<BenchSystem, Measured[]>();
    const windows = new Map<BenchSystem, Measured[]>();
    for (const system of this.systems) {
      const measured: Measured[] = [];
      for (const variant of system.variants) measured.push(await this.measureOnce(system, variant, point));
      everyWay.set(system, measured);
      windows.set(system, [measured.reduce((a, b) => (this.isBetter(b.result, a.result) ? b : a))]);
    }
    for (let round = 2; round <= this.options.rounds; round++) {
      const order = round % 2 === 0 ? [...this.systems].reverse() : this.systems;
      for (const system of order) {
        const taken = windows.get(system)!;
        taken.push(await this.measureOnce(system, taken[0]!.variant, point));
      }
    }
    return this.systems.map((system) =>
      this.toRow(system, point, everyWay.get(system)!, windows.get(system)!),
    );
  }

  private async measureOnce(system: BenchSystem, variant: Variant, point: Point): Promise<Measured> {
    const pattern = this.options.rateOpsPerSec ? 'open' : 'closed';
    const outcome = await this.measure(system, variant, point, pattern);
    console.error(
      `${pointLabel(system, variant, point)}: ${outcome.failure ?? describeResult(outcome.result)}`,
    );
    return outcome;
  }

  /** Closed loop: more done is better. Open loop: the rate is set, so a lower p99 is better. */
  private isBetter(candidate: LoadgenResult, best: LoadgenResult): boolean {
    if (this.options.rateOpsPerSec === undefined || candidate.ops === 0) return candidate.ops > best.ops;
    return best.ops === 0 || candidate.p99Ms < best.p99Ms;
  }

  private async measure(
    system: BenchSystem,
    variant: Variant,
    point: Point,
    pattern: LoadPattern,
    overrides?: Partial<Pick<LoadgenParams, 'warmupMs' | 'durationMs' | 'keyCount' | 'keyPrefix'>>,
  ): Promise<Measured> {
    try {
      const params = { ...(await this.loadgenParams(system, variant, point, pattern)), ...overrides };
      return { variant, result: await runLoadgen(params, this.signal) };
    } catch (error) {
      if (error instanceof LoadgenAborted) throw error;
      return { variant, result: noResult, failure: `could not measure: ${(error as Error).message}` };
    }
  }

  private async loadgenParams(
    system: BenchSystem,
    variant: Variant,
    point: Point,
    pattern: LoadPattern,
  ): Promise<LoadgenParams> {
    const durationMs = this.options.durationSec * 1000;
    const rate = this.options.rateOpsPerSec;
    return {
      system: system.name,
      client: variant.client,
      op: point.scenario,
      consistency: point.consistency ?? 'linearizable',
      endpoints: variant.targets === 'leader' ? [await system.leaderEndpoint()] : system.endpoints,
      pattern,
      concurrency: point.concurrency,
      ...(pattern === 'open' ? { rateOpsPerSec: rate } : {}),
      warmupMs: pattern === 'fill' ? 0 : Math.min(warmupMsMax, durationMs * warmupShare),
      durationMs,
      keyCount: this.options.keyCount,
      keyPrefix,
      valueBytes,
      requestTimeoutMs,
      watchPids: this.watchPids,
    };
  }

  private toRow(system: BenchSystem, point: Point, everyWay: Measured[], windows: Measured[]): LoadRow {
    const best = medianWindow(windows, (a, b) => this.isBetter(a.result, b.result));
    const { result } = best;
    const cpuOf = (pid: number) => result.cpuSecByPid[pid] ?? 0;
    const own = new Set(system.processes.map((p) => p.pid));
    const otherPids = this.watchPids.filter((pid) => !own.has(pid));
    const rate = this.options.rateOpsPerSec;
    const cpuSec = roundCpuSec(system.processes.reduce((sum, p) => sum + cpuOf(p.pid), 0));
    const otherSystemCpuSec = roundCpuSec(otherPids.reduce((sum, pid) => sum + cpuOf(pid), 0));
    const benchCpuSec = cpuSec + otherSystemCpuSec + result.loadgenCpuSec;
    return {
      system: system.name,
      scenario: point.scenario,
      params: {
        concurrency: point.concurrency,
        ...(point.consistency ? { consistency: point.consistency } : {}),
        pattern: rate === undefined ? 'closed' : 'open',
        ...(rate === undefined ? {} : { rateOpsPerSec: rate }),
        durationSec: this.options.durationSec,
        keyCount: this.options.keyCount,
        valueBytes,
      },
      ops: result.ops,
      opsPerSec: result.ops / result.windowSec,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      p999Ms: result.p999Ms,
      errors: result.errors,
      cpuSec,
      extra: {
        ...best.variant,
        variants: everyWay.map(variantResult),
        ...(windows.length > 1 ? { rounds: windows.map(roundResult) } : {}),
        errorKinds: result.errorKinds,
        meanMs: result.meanMs,
        maxMs: result.maxMs,
        latencyPercentilesMs: result.latencyPercentilesMs,
        ...(point.scenario === 'cas' ? { conflicts: result.conflicts } : {}),
        loadgenCpuSec: result.loadgenCpuSec,
        serverCpuSecByProcess: Object.fromEntries(system.processes.map((p) => [p.name, cpuOf(p.pid)])),
        otherSystemCpuSec,
        outsideCpuSec: roundCpuSec(Math.max(0, result.machineCpuSec - benchCpuSec)),
        ...servedAs(system, point),
        ...(best.failure ? { failure: failuresOf([...everyWay, ...windows.slice(1)]) } : {}),
      },
    };
  }
}

function variantResult(measured: Measured): VariantResult {
  return { ...measured.variant, ...roundResult(measured) };
}

/**
 * The middle window when ranked best first (of an even count, the worse of the two middle ones).
 * The first window of a point is the best of every way, so it is the likeliest to be a lucky one.
 */
export function medianWindow<T>(windows: readonly T[], isBetter: (candidate: T, other: T) => boolean): T {
  assert(windows.length > 0, 'a point has at least one window');
  const ranked = [...windows].sort((a, b) => (isBetter(a, b) ? -1 : isBetter(b, a) ? 1 : 0));
  return ranked[Math.floor(ranked.length / 2)]!;
}

/** Each distinct reason a window could not be measured, once. */
function failuresOf(measured: readonly Measured[]): string {
  return [...new Set(measured.flatMap((m) => (m.failure ? [m.failure] : [])))].join('; ');
}

function roundResult({ result, failure }: Measured): RoundResult {
  const measured = { opsPerSec: result.ops / result.windowSec, p99Ms: result.p99Ms, errors: result.errors };
  return { ...measured, ...(failure ? { failure } : {}) };
}

/** etcd's nearest equivalent of a read level it does not have under raftkv's name. */
function servedAs(system: BenchSystem, point: Point): { servedAs?: string } {
  if (system.name !== 'etcd') return {};
  if (point.consistency === 'lease') return { servedAs: 'linearizable (etcd offers clients no lease read)' };
  if (point.consistency === 'stale') return { servedAs: 'serializable (member-local read)' };
  return {};
}
