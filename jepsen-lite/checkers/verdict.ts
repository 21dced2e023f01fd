// What every checker of a run reports, and the run's verdict built from them (design.md §6:
// exit 0 pass, 1 violation found, 3 inconclusive; 2, the run itself failed, is the runner's).
import type { HistoryOp } from '../history.js';
import type { Verdict } from './linearizability.js';

export type { Verdict } from './linearizability.js';

export interface Counterexample {
  /** One or two sentences a person can act on. */
  description: string;
  /** The ops that show it, in history order. */
  ops: HistoryOp[];
}

export interface CheckerResult {
  /** 'linearizability', 'set', 'recovery', ... */
  checker: string;
  valid: Verdict;
  /** One line: what was checked and what was found. */
  summary: string;
  counterexample?: Counterexample;
  /** Checker-specific numbers and lists, kept in results.json. */
  details?: unknown;
}

export type RunVerdict = 'pass' | 'violation' | 'inconclusive';

export const exitCodes = { pass: 0, violation: 1, runFailed: 2, inconclusive: 3 } as const;

/** A single violation decides the run; otherwise one undecided checker leaves it inconclusive. */
export function runVerdict(results: readonly CheckerResult[]): RunVerdict {
  if (results.some((result) => result.valid === false)) return 'violation';
  if (results.length === 0 || results.some((result) => result.valid === 'unknown')) return 'inconclusive';
  return 'pass';
}

export function exitCodeOf(verdict: RunVerdict): number {
  return exitCodes[verdict];
}
