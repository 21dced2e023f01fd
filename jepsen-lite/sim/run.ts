// Runs seeds: each one a whole simulated life of a cluster (faults, then healing, then the
// liveness and linearizability checks). A failing seed is replayed with tracing on, which
// (the run being deterministic) reproduces it and gives the last trace lines before it broke.
import { InvariantError } from '../../src/assert.js';
import type { TestFaults } from '../../src/config.js';
import { checkRegisterLinearizability } from '../checkers/linearizability.js';
import type { HistoryOp } from '../history.js';
import type { FaultProfile } from './faults.js';
import { SafetyViolation } from './invariants.js';
import { RecoveryProbe } from './liveness.js';
import { TraceRing, violationTraceLinesMax } from './trace.js';
import { World } from './world.js';

export interface SimOptions {
  /** Voters in the cluster (default 5). */
  nodeCount?: number;
  testFaults?: TestFaults;
  /** Replaces parts of the fault mix each seed draws, e.g. `{ faults: ['partition'] }`. */
  faultMix?: Partial<FaultProfile>;
  /** Keep every trace line in the result (and pass each to onTraceLine as it happens). */
  verbose?: boolean;
  onTraceLine?: (line: string) => void;
  /** Virtual ms of faults and client load before everything heals (default 10 s). */
  faultPhaseMs?: number;
  /** Virtual ms after healing within which the cluster must recover (default 10 s). */
  livenessDeadlineMs?: number;
  /** Wall-clock budget of the linearizability check per seed (default 5 s). */
  linearizabilityTimeLimitMs?: number;
}

export interface Violation {
  invariant: string;
  message: string;
  /** The last trace lines up to the violation. */
  trace: string[];
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  violation?: Violation;
  /** The simulator or the core threw something that is no invariant: the run itself failed. */
  error?: Violation;
  /** The linearizability check ran out of time (not a failure, not a pass of that check). */
  inconclusive: boolean;
  virtualMs: number;
  messages: number;
  events: number;
  /** Virtual ms from healing to recovery; null when the run failed first. */
  recoveryMs: number | null;
  history: readonly HistoryOp[];
  /** Every trace line, when verbose. */
  trace?: string[];
}

const defaults = {
  nodeCount: 5,
  faultPhaseMs: 10_000,
  livenessDeadlineMs: 10_000,
  linearizabilityTimeLimitMs: 5_000,
};

export function runSeed(seed: number, options: SimOptions = {}): SeedResult {
  const verbose = options.verbose ?? false;
  const trace = verbose ? new TraceRing(Number.POSITIVE_INFINITY, options.onTraceLine) : null;
  const result = runOnce(seed, options, trace);
  if (verbose) return { ...result, trace: trace!.lines() };
  const failure = result.violation ?? result.error;
  if (failure === undefined) return result;
  // Deterministic replay, this time keeping the last trace lines.
  const replayTrace = new TraceRing(violationTraceLinesMax);
  runOnce(seed, options, replayTrace);
  failure.trace = replayTrace.lines();
  return result;
}

function runOnce(seed: number, options: SimOptions, trace: TraceRing | null): SeedResult {
  const settings = { ...defaults, ...options };
  const world = new World({
    seed,
    nodeCount: settings.nodeCount,
    testFaults: options.testFaults,
    faultMix: options.faultMix,
    trace,
  });
  const result: SeedResult = {
    seed,
    ok: false,
    inconclusive: false,
    virtualMs: 0,
    messages: 0,
    events: 0,
    recoveryMs: null,
    history: world.history.ops,
  };
  try {
    result.recoveryMs = simulate(world, settings);
    const linearizability = checkRegisterLinearizability(world.history.ops, {
      timeLimitMs: settings.linearizabilityTimeLimitMs,
    });
    if (linearizability.valid === false) {
      const bad = linearizability.keys.filter((key) => key.valid === false);
      const ops = bad.flatMap((key) => key.counterexample ?? []).map((op) => JSON.stringify(op));
      throw new SafetyViolation('Linearizability', `keys ${bad.map((key) => key.key)}:\n${ops.join('\n')}`);
    }
    result.inconclusive = linearizability.valid === 'unknown';
    result.ok = true;
  } catch (thrown) {
    recordFailure(result, thrown);
  }
  result.virtualMs = world.nowMs();
  result.messages = world.network.messagesSent;
  result.events = world.eventCount;
  return result;
}

/** The simulated life of the cluster; returns the recovery time after healing. */
function simulate(world: World, settings: typeof defaults): number {
  for (const node of world.nodes) world.start(node);
  world.clients.start();
  world.nemesis.start();
  world.runUntil(settings.faultPhaseMs);
  world.healEverything();
  const healedAtMs = world.nowMs();
  const probe = new RecoveryProbe(world);
  probe.start();
  world.runUntil(healedAtMs + settings.livenessDeadlineMs, () => probe.recoveredAtMs !== null);
  if (probe.recoveredAtMs === null) {
    throw new SafetyViolation(
      'Liveness',
      `no recovery ${settings.livenessDeadlineMs} ms after healing: ${probe.describe()}`,
    );
  }
  world.runUntil(world.nowMs() + world.opTimeoutMs, () => world.clients.idle);
  world.invariants.checkAcknowledgedWritesKept(world.nodes);
  return probe.recoveredAtMs - healedAtMs;
}

function recordFailure(result: SeedResult, thrown: unknown): void {
  if (thrown instanceof SafetyViolation) {
    result.violation = { invariant: thrown.invariant, message: thrown.message, trace: [] };
  } else if (thrown instanceof InvariantError) {
    // An assertion in the core or the driver: a broken invariant all the same.
    result.violation = { invariant: 'Assertion', message: thrown.message, trace: [] };
  } else {
    const error = thrown instanceof Error ? thrown : new Error(String(thrown));
    result.error = { invariant: error.name, message: error.stack ?? error.message, trace: [] };
  }
}

// ---- many seeds ------------------------------------------------------------------------------

export interface RunSeedsOptions extends SimOptions {
  seeds: number;
  seedStart?: number;
  /** Stop at the first failing seed (the planted-bug tests want the first one). */
  stopOnFailure?: boolean;
  onSeedDone?: (result: SeedResult) => void;
}

export interface RunSummary {
  passed: number;
  failed: number;
  inconclusive: number;
  /** The results of failing seeds (passing ones are dropped to keep memory flat). */
  failures: SeedResult[];
  virtualMs: number;
  messages: number;
  events: number;
  wallMs: number;
  seedsPerSecond: number;
  longestRecovery: { seed: number; recoveryMs: number } | null;
}

export function runSeeds(options: RunSeedsOptions): RunSummary {
  const seedStart = options.seedStart ?? 1;
  const summary: RunSummary = {
    passed: 0,
    failed: 0,
    inconclusive: 0,
    failures: [],
    virtualMs: 0,
    messages: 0,
    events: 0,
    wallMs: 0,
    seedsPerSecond: 0,
    longestRecovery: null,
  };
  const startedMs = performance.now();
  for (let seed = seedStart; seed < seedStart + options.seeds; seed++) {
    const result = runSeed(seed, options);
    tally(summary, result);
    options.onSeedDone?.(result);
    if (!result.ok && options.stopOnFailure) break;
  }
  summary.wallMs = performance.now() - startedMs;
  summary.seedsPerSecond = ((summary.passed + summary.failed) / summary.wallMs) * 1000;
  return summary;
}

function tally(summary: RunSummary, result: SeedResult): void {
  if (result.ok) summary.passed++;
  else {
    summary.failed++;
    summary.failures.push(result);
  }
  if (result.inconclusive) summary.inconclusive++;
  summary.virtualMs += result.virtualMs;
  summary.messages += result.messages;
  summary.events += result.events;
  const recoveryMs = result.recoveryMs;
  if (recoveryMs !== null && recoveryMs > (summary.longestRecovery?.recoveryMs ?? -1)) {
    summary.longestRecovery = { seed: result.seed, recoveryMs };
  }
}
