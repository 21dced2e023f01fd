// What a workload is to the runner: client steps against real nodes, recorded in the history;
// the reads it needs once the cluster has healed; and the checkers that judge the history.
import type { CheckerResult } from '../checkers/verdict.js';
import type { HistoryOp, HistoryRecorder, OpType, PendingOp } from '../history.js';
import { failureOf, type KvAnswer, type KvClient } from '../real/kv-client.js';
import type { RealCluster } from '../real/real-cluster.js';
import type { Prng } from '../sim/prng.js';

export type ReadConsistency = 'linearizable' | 'lease' | 'stale';
export const readConsistencies: readonly ReadConsistency[] = ['linearizable', 'lease', 'stale'];

export interface WorkloadContext {
  cluster: RealCluster;
  client: KvClient;
  recorder: HistoryRecorder;
  random: Prng;
}

export interface Workload {
  name: string;
  /** Invokes one op as `process` against `node`, records its completion and returns its type. */
  step(process: number, node: number): Promise<OpType>;
  /**
   * After the cluster healed: the reads of the final state the checkers need, as processes
   * numbered from `firstProcess` up.
   */
  finalReads(firstProcess: number): Promise<void>;
  /** `timeLimitMs` bounds the whole check; what is not decided by then is 'unknown'. */
  check(history: readonly HistoryOp[], timeLimitMs: number): CheckerResult[];
}

/** Network errors that happen before a byte of the request left: it certainly had no effect. */
const notSentErrorCodes: ReadonlySet<string> = new Set(['ECONNREFUSED']);

/**
 * A write's completion (design.md §6): the change was applied (200), or certainly not (any
 * other 4xx/5xx, or a connection that was never opened), or its fate is unknown:
 * `504 OUTCOME_UNKNOWN`, a timeout or any other network error (the request may have reached
 * the node, and may still be applied later).
 */
export function completeWrite(pending: PendingOp, answer: KvAnswer): OpType {
  if (answer.status === 200) return pending.ok().type;
  const notSent = answer.networkErrorCode !== undefined && notSentErrorCodes.has(answer.networkErrorCode);
  if ((answer.networkError !== undefined && !notSent) || answer.status === 504)
    return pending.info(failureOf(answer)).type;
  return pending.fail(failureOf(answer)).type;
}

/** A read changes nothing, so whatever stops it, it simply did not happen: `fail`. */
export function completeRead(pending: PendingOp, answer: KvAnswer, value: () => unknown): OpType {
  if (answer.status === 200) return pending.ok(value()).type;
  return pending.fail(failureOf(answer)).type;
}
