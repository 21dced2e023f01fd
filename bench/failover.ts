// The failover scenario: under a steady closed-loop write load spread over every member, SIGKILL
// the leader, time the first successful write sent after the kill, restart the member, wait until
// the cluster is whole and caught up, repeat. One logic for both systems; each adapts to
// `FailoverSubject` (systems.ts). The load runs inside the bench process: what is measured here is
// the servers' recovery, not throughput, and the kills must be timed on the same clock as the writes.
import { performance } from 'node:perf_hooks';
import type { RaftTiming } from './etcd-cluster.js';
import { createKvDriver, type KvDriver } from './kv-drivers.js';
import type { ClientKind, SystemName } from './loadgen-protocol.js';
import type { FailoverRow, TrialSeriesRow } from './result-row.js';

/** Closed-loop writers kept running through every trial (design: a modest load). */
export const failoverLoadClients = 16;
/**
 * After a kill, a fresh write is also sent this often (round-robin over the members): a load
 * client stuck on a write the dead leader swallowed (etcd holds those until its own request
 * timeout) would otherwise hide when the cluster could take writes again.
 */
const probeIntervalMs = 10;
/** A write unanswered after this long is given up; it could only be a late first success. */
const writeTimeoutMs = 3_000;
/** Connections per member: load clients plus the probes that may be in flight at once. */
const connectionsPerEndpoint = failoverLoadClients + Math.ceil(writeTimeoutMs / probeIntervalMs);
/** A load client's pause after a failed write, so a cluster without a leader is not flooded. */
const retryPauseMs = 5;
/** A trial without a successful write this long after the kill counts as failed. */
const trialDeadlineMs = 20_000;
/** Finding the leader before a kill, and seeing the new one after it. */
const leaderDeadlineMs = 20_000;
/** From the restart until every member is up, follows one leader and has caught up. */
const healthyDeadlineMs = 60_000;
/** Steady load (no kill) before each kill: lets the restarted member settle, and spurious elections show. */
const steadyMs = 2_000;
/** Between polls of the members' states. */
const pollMs = 20;
const failoverKeyCount = 1_000;
const failoverValueBytes = 100;

/** One member's view: its term, the leader it follows (as an index into `endpoints`), what it applied. */
export interface MemberState {
  term: number;
  leaderIndex: number | undefined;
  appliedIndex: number;
}

/** A running cluster the failover scenario can kill members of. Members are indexes into `endpoints`. */
export interface FailoverSubject {
  system: SystemName;
  /** Which configuration this is, e.g. "etcd, raftkv's timeouts". */
  label: string;
  timing: RaftTiming;
  /** How the load reaches the system: raftkv's HTTP API, etcd's JSON gateway (the same HTTP client). */
  client: ClientKind;
  endpoints: string[];
  /** One entry per member, undefined for a member that did not answer. */
  memberStates(): Promise<(MemberState | undefined)[]>;
  kill(index: number): Promise<void>;
  restart(index: number): void;
  /** Whether the member says it can serve (raftkv `GET /readyz`, etcd `GET /health`); false if it does not answer. */
  isReady(index: number): Promise<boolean>;
  /** The readiness probe, as the report names it. */
  readyProbe: string;
  /** The member's name (n1.., e1..) and the bytes its data directory holds. */
  memberName(index: number): string;
  dataBytes(index: number): Promise<number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The leader a majority of all members follows in its term, and that term. */
function agreedLeader(
  states: readonly (MemberState | undefined)[],
  except?: number,
): { index: number; term: number } | undefined {
  for (const [index, state] of states.entries()) {
    if (!state || state.leaderIndex !== index || index === except) continue;
    const followers = states.filter((s) => s?.leaderIndex === index && s.term === state.term).length;
    if (followers > states.length / 2) return { index, term: state.term };
  }
  return undefined;
}

export async function pollUntil<T>(
  what: string | (() => string),
  deadlineMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = performance.now() + deadlineMs;
  while (performance.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await sleep(pollMs);
  }
  throw new Error(`no ${typeof what === 'string' ? what : what()} within ${deadlineMs} ms`);
}

export function waitForLeader(subject: FailoverSubject, except?: number) {
  return pollUntil('leader', leaderDeadlineMs, async () =>
    agreedLeader(await subject.memberStates(), except),
  );
}

/** Every member answers and follows one leader, and has applied what that leader had applied once all were up. */
export async function waitUntilHealthy(subject: FailoverSubject): Promise<void> {
  let caughtUpIndex: number | undefined;
  let silent = 'none';
  const what = () => `healthy cluster (members not answering at the last look: ${silent})`;
  await pollUntil(what, healthyDeadlineMs, async () => {
    const states = await subject.memberStates();
    silent = states.flatMap((s, index) => (s ? [] : [subject.endpoints[index]])).join(', ') || 'none';
    const leader = agreedLeader(states);
    if (!leader || states.some((s) => s?.leaderIndex !== leader.index)) return undefined;
    caughtUpIndex ??= states[leader.index]!.appliedIndex;
    return states.every((s) => s!.appliedIndex >= caughtUpIndex!) ? true : undefined;
  });
}

/** Resolves with when the first write sent at or after `armedAtMs` succeeded. */
class FirstSuccess {
  private armedAtMs = Number.POSITIVE_INFINITY;
  private resolve: ((answeredMs: number) => void) | undefined;

  arm(afterMs: number): Promise<number> {
    this.armedAtMs = afterMs;
    return new Promise((resolve) => {
      this.resolve = resolve;
    });
  }

  disarm(): void {
    this.armedAtMs = Number.POSITIVE_INFINITY;
    this.resolve = undefined;
  }

  record(sentMs: number, answeredMs: number, failed: boolean): void {
    if (failed || sentMs < this.armedAtMs || !this.resolve) return;
    this.resolve(answeredMs);
    this.disarm();
  }
}

/** The steady load and the post-kill probes, all through one driver. */
class WriteLoad {
  private readonly driver: KvDriver;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly clients: Promise<void>[];
  private running = true;
  private probeTimer: NodeJS.Timeout | undefined;
  readonly firstSuccess = new FirstSuccess();

  constructor(subject: FailoverSubject) {
    this.driver = createKvDriver({
      system: subject.system,
      client: subject.client,
      op: 'put',
      consistency: 'linearizable',
      endpoints: subject.endpoints,
      pattern: 'closed',
      concurrency: connectionsPerEndpoint,
      warmupMs: 0,
      durationMs: 0,
      keyCount: failoverKeyCount,
      keyPrefix: 'bench/failover/k',
      valueBytes: failoverValueBytes,
      requestTimeoutMs: writeTimeoutMs,
      watchPids: [],
    });
    this.clients = Array.from({ length: failoverLoadClients }, () => this.client());
  }

  private async write(): Promise<boolean> {
    const sentMs = performance.now();
    const key = `bench/failover/k${Math.floor(Math.random() * failoverKeyCount)}`;
    const failed = (await this.driver.put(key)) !== undefined;
    this.firstSuccess.record(sentMs, performance.now(), failed);
    return !failed;
  }

  private async client(): Promise<void> {
    while (this.running) if (!(await this.write())) await sleep(retryPauseMs);
  }

  startProbes(): void {
    this.probeTimer = setInterval(() => {
      const probe = this.write().then(() => undefined);
      this.inFlight.add(probe);
      void probe.finally(() => this.inFlight.delete(probe));
    }, probeIntervalMs);
  }

  stopProbes(): void {
    clearInterval(this.probeTimer);
  }

  /** Every write ends within writeTimeoutMs, so this is bounded. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopProbes();
    await Promise.all([...this.clients, ...this.inFlight]);
    await this.driver.close();
  }
}

interface Trial {
  failoverMs: number | undefined;
  newLeaderMs: number | undefined;
  spuriousElections: number;
}

/** Settles with undefined when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, ms, undefined);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function runTrial(subject: FailoverSubject, load: WriteLoad): Promise<Trial> {
  const steadyStart = await waitForLeader(subject);
  await sleep(steadyMs);
  const leader = await waitForLeader(subject);
  const killStartMs = performance.now();
  await subject.kill(leader.index);
  const firstWrite = load.firstSuccess.arm(performance.now());
  load.startProbes();
  const newLeader = waitForLeader(subject, leader.index).then(
    () => performance.now() - killStartMs,
    () => undefined,
  );
  const answeredMs = await within(firstWrite, trialDeadlineMs);
  load.stopProbes();
  load.firstSuccess.disarm();
  const newLeaderMs = await newLeader;
  subject.restart(leader.index);
  await waitUntilHealthy(subject);
  return {
    failoverMs: answeredMs === undefined ? undefined : answeredMs - killStartMs,
    newLeaderMs,
    spuriousElections: leader.term - steadyStart.term,
  };
}

/** Nearest-rank percentile of a non-empty list. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A series of timed trials as a row reports it: p50, p99 and the slowest (0s when none succeeded). */
export function trialPercentiles(
  trialsMs: readonly number[],
): Pick<TrialSeriesRow, 'p50Ms' | 'p99Ms' | 'p999Ms'> {
  const sorted = [...trialsMs].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length > 0 ? percentile(sorted, p) : 0);
  return { p50Ms: at(50), p99Ms: at(99), p999Ms: at(100) };
}

function describeTrial(subject: FailoverSubject, n: number, trial: Trial): string {
  const ms = (value: number | undefined) => (value === undefined ? 'none' : `${value.toFixed(0)} ms`);
  return `failover ${subject.label} trial ${n}: first write ${ms(trial.failoverMs)}, new leader seen ${ms(trial.newLeaderMs)}`;
}

/** `trials` leader kills on `subject` under load; a cluster that does not recover ends the series early. */
export async function runFailover(
  subject: FailoverSubject,
  trials: number,
  signal: AbortSignal,
): Promise<FailoverRow> {
  const load = new WriteLoad(subject);
  const done: Trial[] = [];
  let failure: string | undefined;
  try {
    while (done.length < trials && !signal.aborted) {
      const trial = await runTrial(subject, load);
      done.push(trial);
      console.error(describeTrial(subject, done.length, trial));
    }
  } catch (error) {
    failure = `stopped after ${done.length} of ${trials} trials: ${(error as Error).message}`;
    console.error(`failover ${subject.label}: ${failure}`);
  } finally {
    await load.stop();
  }
  const trialsMs = done.flatMap((t) => (t.failoverMs === undefined ? [] : [t.failoverMs]));
  return {
    system: subject.system,
    scenario: 'failover',
    params: { trials, ...subject.timing },
    ops: trialsMs.length,
    ...trialPercentiles(trialsMs),
    errors: trials - trialsMs.length,
    extra: {
      label: subject.label,
      client: subject.client,
      loadClients: failoverLoadClients,
      trialsMs,
      newLeaderMs: done.flatMap((t) => (t.newLeaderMs === undefined ? [] : [t.newLeaderMs])),
      spuriousElections: done.reduce((sum, t) => sum + t.spuriousElections, 0),
      steadySec: (done.length * steadyMs) / 1000,
      ...(failure ? { failure } : {}),
    },
  };
}
