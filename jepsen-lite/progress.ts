// What a person watching `raftkv jepsen` sees: a progress line every few seconds while the run
// goes (time, ops by outcome, the fault in force), and a one-screen summary at the end.
import type { CheckerResult } from './checkers/verdict.js';
import type { HistoryOp, HistoryRecorder } from './history.js';
import type { ReportVerdict } from './report/report.js';

export const progressIntervalMs = 2_000;

export class ProgressPrinter {
  private timer: NodeJS.Timeout | undefined;
  /** The first op not counted yet: each line counts only what happened since the last. */
  private cursor = 0;
  private readonly counts = { ok: 0, fail: 0, info: 0 };
  private readonly startMs = performance.now();
  /** The fault in force, described, or undefined. */
  fault: string | undefined;

  constructor(
    private readonly recorder: HistoryRecorder,
    private readonly totalS: number,
    private readonly write: (line: string) => void = console.log,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.print(), progressIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.print();
  }

  private print(): void {
    const ops = this.recorder.ops;
    for (; this.cursor < ops.length; this.cursor++) {
      const op = ops[this.cursor]!;
      if (op.process !== 'nemesis' && op.type !== 'invoke') this.counts[op.type] += 1;
    }
    const elapsedS = (performance.now() - this.startMs) / 1000;
    const { ok, fail, info } = this.counts;
    const state =
      elapsedS > this.totalS
        ? 'finishing the ops in flight'
        : this.fault === undefined
          ? 'no fault'
          : `fault: ${this.fault}`;
    this.write(
      `  ${elapsedS.toFixed(0).padStart(5)}s/${this.totalS}s  ops ${ok + fail + info} (ok ${ok}, fail ${fail}, info ${info})  ${state}`,
    );
  }
}

export interface RunSummary {
  title: string;
  verdict: ReportVerdict;
  history: readonly HistoryOp[];
  results: readonly CheckerResult[];
  faultCount: number;
  notes: readonly string[];
  reportPath: string;
}

const verdictLabel = (valid: CheckerResult['valid']) =>
  valid === true ? 'valid' : valid === false ? 'INVALID' : 'unknown';

export function formatSummary(summary: RunSummary): string {
  const clientOps = summary.history.filter((op) => op.process !== 'nemesis' && op.type !== 'invoke');
  const count = (type: string) => clientOps.filter((op) => op.type === type).length;
  const width = Math.max(8, ...summary.results.map((result) => result.checker.length));
  return [
    '',
    `jepsen-lite: ${summary.title}`,
    `  history   ${clientOps.length} completed client ops (ok ${count('ok')}, fail ${count('fail')}, info ${count('info')}), ${summary.faultCount} faults`,
    ...summary.results.map(
      (result) =>
        `  ${result.checker.padEnd(width)}  ${verdictLabel(result.valid).padEnd(7)}  ${result.summary}`,
    ),
    ...summary.results.flatMap((result) =>
      result.counterexample
        ? [`  counterexample (${result.checker}): ${result.counterexample.description}`]
        : [],
    ),
    ...summary.notes.map((note) => `  note: ${note}`),
    `  verdict   ${summary.verdict.toUpperCase()}`,
    `  report    ${summary.reportPath}`,
    '',
  ].join('\n');
}
