// The restart scenario: after a long log has been written (one entry per write, distinct keys),
// SIGKILL one follower, start it again on its data directory and time from the spawn to its first
// "ready" answer (raftkv `/readyz`: it knows a leader and has applied up to its commit index; etcd
// `/health`: it has a leader and a quorum read through it succeeds). Repeat after the cluster is
// whole again. The same logic for both systems, through `FailoverSubject`.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  type FailoverSubject,
  pollUntil,
  trialPercentiles,
  waitForLeader,
  waitUntilHealthy,
} from './failover.js';
import type { RestartRow } from './result-row.js';

/** A member not ready this long after its spawn fails the trial: a long log may replay slowly, not forever. */
const readyDeadlineMs = 600_000;

/** How the log was loaded before the restarts. */
export interface FillSummary {
  ops: number;
  sec: number;
}

/** Bytes of every file under `dir` (0 for a directory that is gone). */
export async function directoryBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((entry) => entry.isFile())
      .map((entry) =>
        stat(join(entry.parentPath ?? entry.path, entry.name)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

async function timeToReady(subject: FailoverSubject, member: number): Promise<number> {
  await subject.kill(member);
  const spawnedAt = performance.now();
  subject.restart(member);
  await pollUntil(`ready answer from ${subject.memberName(member)}`, readyDeadlineMs, async () =>
    (await subject.isReady(member)) ? true : undefined,
  );
  return performance.now() - spawnedAt;
}

/** `trials` restarts of one follower of `subject`, whose log `fill` has loaded. */
export async function runRestart(
  subject: FailoverSubject,
  fill: FillSummary,
  params: RestartRow['params'],
  signal: AbortSignal,
): Promise<RestartRow> {
  const trialsMs: number[] = [];
  let failure: string | undefined;
  let member = 0;
  let appliedIndex = 0;
  let dataBytes = 0;
  try {
    await waitUntilHealthy(subject);
    member = ((await waitForLeader(subject)).index + 1) % subject.endpoints.length;
    appliedIndex = (await subject.memberStates())[member]?.appliedIndex ?? 0;
    dataBytes = await subject.dataBytes(member);
    while (trialsMs.length < params.trials && !signal.aborted) {
      const ms = await timeToReady(subject, member);
      trialsMs.push(ms);
      console.error(`restart ${subject.label} trial ${trialsMs.length}: ready in ${ms.toFixed(0)} ms`);
      await waitUntilHealthy(subject);
    }
  } catch (error) {
    failure = `stopped after ${trialsMs.length} of ${params.trials} trials: ${(error as Error).message}`;
    console.error(`restart ${subject.label}: ${failure}`);
  }
  return {
    system: subject.system,
    scenario: 'restart',
    params,
    ops: trialsMs.length,
    ...trialPercentiles(trialsMs),
    errors: params.trials - trialsMs.length,
    extra: {
      label: subject.label,
      member: subject.memberName(member),
      readyProbe: subject.readyProbe,
      appliedIndex,
      dataBytes,
      fillOps: fill.ops,
      fillSec: fill.sec,
      trialsMs,
      ...(failure ? { failure } : {}),
    },
  };
}
